//! Sessions: every page needs one; signing in takes a live key and gives an HttpOnly,
//! SameSite=Strict cookie holding no key; sessions end at expiry, at sign-out and when
//! their key is revoked.

use std::time::Duration;

use test_support::eventually;

use super::{Options, setup, setup_with};

const PAGES: [&str; 6] = [
    "/dashboard/webhooks",
    "/dashboard/webhooks/new",
    "/dashboard/api-keys",
    "/dashboard/event-types",
    "/dashboard/webhooks/wh_01J00000000000000000000000",
    "/dashboard/deliveries/dlv_01J00000000000000000000000",
];

#[tokio::test]
async fn every_page_needs_a_session() {
    let app = setup().await;
    let root = app.get("/", None).await;
    assert_eq!(root.status, 303);
    assert_eq!(root.location(), "/dashboard");
    let home = app.get("/dashboard", None).await;
    assert_eq!(home.status, 303);
    assert_eq!(home.location(), "/dashboard/sign-in");
    for page in PAGES {
        let answer = app.get(&format!("{page}?status=failed"), None).await;
        assert_eq!(answer.status, 303, "{page}");
        let next = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &format!("{page}?status=failed"))
            .finish();
        assert_eq!(
            answer.location(),
            format!("/dashboard/sign-in?{next}"),
            "{page}"
        );
    }
    // The live log's background request gets a 401 it can show, not a redirect.
    let fragment = app
        .get_with(
            "/dashboard/webhooks/wh_01J00000000000000000000000/activity",
            None,
            &[("x-requested-with", "fetch")],
        )
        .await;
    assert_eq!(fragment.status, 401);
    // A POST without a session changes nothing and leads to the sign-in form.
    let post = app
        .post_form(
            "/dashboard/webhooks",
            None,
            "url=http%3A%2F%2F127.0.0.1%3A9%2F&events=*",
        )
        .await;
    assert_eq!(post.status, 303);
    assert_eq!(post.location(), "/dashboard/sign-in");
    // A made-up session id is no session; the browser is told to drop it.
    let forged = app.get("/dashboard/webhooks", Some("not-a-session")).await;
    assert_eq!(forged.status, 303);
    assert!(
        forged.location().contains("ended=1"),
        "{}",
        forged.location()
    );
    let cleared = forged
        .set_cookie("aw_session")
        .expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The assets need no session (the sign-in page uses them).
    let css = app.get("/dashboard/assets/dashboard.css", None).await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
    assert_eq!(
        app.get("/dashboard/assets/other.js", None).await.status,
        404
    );
}

#[tokio::test]
async fn a_bad_key_does_not_sign_in() {
    let app = setup().await;
    for key in ["awk_not_a_key_at_all", "", "   "] {
        let answer = app.try_sign_in(key, &[]).await;
        assert_eq!(answer.status, 401, "{key:?}");
        assert!(answer.set_cookie("aw_session").is_none(), "{key:?}");
        assert!(answer.text.contains("id=\"api_key\""), "the form again");
        assert!(answer.text.contains("role=\"alert\""), "with the reason");
    }
    // A revoked key is a bad key.
    let (id, key) = app.new_key("soon revoked").await;
    let res = app
        .client
        .delete(app.url(&format!("/v1/api-keys/{id}")))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.try_sign_in(&key, &[]).await.status, 401);
}

#[tokio::test]
async fn the_sign_in_form_is_csrf_protected_too() {
    let app = setup().await;
    let body = format!("csrf=abc&api_key={}", app.key);
    // No sign-in cookie: a post from another site's form.
    let answer = app.post_form("/dashboard/sign-in", None, &body).await;
    assert_eq!(answer.status, 403);
    assert!(answer.set_cookie("aw_session").is_none());
    // A cookie that does not match the field.
    let answer = app
        .post_form("/dashboard/sign-in", Some("aw_sign_in=xyz"), &body)
        .await;
    assert_eq!(answer.status, 403);
    assert!(answer.set_cookie("aw_session").is_none());
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_holds_no_key() {
    let app = setup().await;
    let answer = app.try_sign_in(&app.key, &[]).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/dashboard/webhooks");
    let cookie = answer.set_cookie("aw_session").unwrap();
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("; Path=/dashboard"), "{cookie}");
    assert!(cookie.contains("; Max-Age=43200"), "12 h: {cookie}");
    assert!(
        !cookie.contains("Secure"),
        "--dev over plain http: {cookie}"
    );
    let session = answer.cookie_value("aw_session").unwrap();
    assert!(
        !session.contains(&app.key) && session.len() == 43,
        "{session}"
    );
    // The spent sign-in token is cleared.
    assert!(
        answer
            .set_cookie("aw_sign_in")
            .unwrap()
            .contains("Max-Age=0")
    );

    let page = app.get("/dashboard/webhooks", Some(&session)).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("aria-label=\"Breadcrumb\""));
    assert!(
        page.text
            .contains("<a href=\"/dashboard/integrations\">Integrations</a>")
    );
    assert!(!page.text.contains(&app.key), "the key never comes back");
    assert_eq!(page.header("cache-control"), "no-store");
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert!(
        page.header("content-security-policy")
            .contains("script-src 'self'")
    );

    // Behind a TLS proxy, or outside --dev, the cookie is Secure.
    let proxied = app
        .try_sign_in(&app.key, &[("x-forwarded-proto", "https")])
        .await;
    assert!(
        proxied
            .set_cookie("aw_session")
            .unwrap()
            .contains("; Secure")
    );
    let strict = setup_with(Options {
        secure_cookies: true,
        ..Options::default()
    })
    .await;
    let answer = strict.try_sign_in(&strict.key, &[]).await;
    assert!(
        answer
            .set_cookie("aw_session")
            .unwrap()
            .contains("; Secure")
    );
}

#[tokio::test]
async fn a_session_expires() {
    let app = setup_with(Options {
        session_ttl: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let answer = app.try_sign_in(&app.key, &[]).await;
    assert!(
        answer
            .set_cookie("aw_session")
            .unwrap()
            .contains("Max-Age=1")
    );
    let session = answer.cookie_value("aw_session").unwrap();
    assert_eq!(
        app.get("/dashboard/webhooks", Some(&session)).await.status,
        200
    );
    // The browser would drop the cookie; the server refuses it anyway once expired.
    let ended = eventually(Duration::from_secs(10), "the session to expire", || async {
        let page = app.get("/dashboard/webhooks", Some(&session)).await;
        (page.status == 303).then_some(page)
    })
    .await;
    assert!(ended.location().starts_with("/dashboard/sign-in?ended=1"));
    let form = app.get(ended.location(), None).await;
    assert!(form.text.contains("Your session has ended"));
}

#[tokio::test]
async fn revoking_a_key_ends_its_sessions_and_only_those() {
    let app = setup().await;
    let (id, key) = app.new_key("laptop").await;
    let doomed = app.sign_in(&key).await;
    let other = app.sign_in(&app.key).await;
    assert_eq!(
        app.get("/dashboard/api-keys", Some(&doomed)).await.status,
        200
    );
    let res = app
        .client
        .delete(app.url(&format!("/v1/api-keys/{id}")))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let page = app.get("/dashboard/api-keys", Some(&doomed)).await;
    assert_eq!(page.status, 303);
    assert!(page.location().contains("ended=1"));
    assert_eq!(
        app.get("/dashboard/api-keys", Some(&other)).await.status,
        200
    );
}

#[tokio::test]
async fn revoking_this_sessions_key_from_the_dashboard_signs_out() {
    let app = setup().await;
    let (id, key) = app.new_key("mine").await;
    let session = app.sign_in(&key).await;
    let page = app.get("/dashboard/api-keys", Some(&session)).await;
    assert!(page.text.contains("this session"));
    let answer = app
        .post_as(&format!("/dashboard/api-keys/{id}/revoke"), &session, "")
        .await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/dashboard/sign-in?ended=1");
    assert_eq!(
        app.get("/dashboard/webhooks", Some(&session)).await.status,
        303
    );
}

#[tokio::test]
async fn signing_out_ends_the_session_for_every_copy_of_the_cookie() {
    let app = setup().await;
    let session = app.sign_in(&app.key).await;
    let answer = app.post_as("/dashboard/sign-out", &session, "").await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/dashboard/sign-in?signed_out=1");
    assert!(
        answer
            .set_cookie("aw_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    // A copy of the cookie (another tab, a thief) is worthless now.
    assert_eq!(
        app.get("/dashboard/webhooks", Some(&session)).await.status,
        303
    );
}

#[tokio::test]
async fn next_leads_back_to_the_page_asked_for_but_never_off_site() {
    let app = setup().await;
    let page = "/dashboard/event-types";
    let form = app
        .get(
            &format!("/dashboard/sign-in?next={}", "%2Fdashboard%2Fevent-types"),
            None,
        )
        .await;
    assert!(
        form.text
            .contains(&format!("name=\"next\" value=\"{page}\""))
    );
    let evil = app
        .get(
            "/dashboard/sign-in?next=https%3A%2F%2Fevil.example%2F",
            None,
        )
        .await;
    assert!(
        evil.text
            .contains("name=\"next\" value=\"/dashboard/webhooks\"")
    );
}
