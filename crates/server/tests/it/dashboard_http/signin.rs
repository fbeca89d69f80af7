//! Hardening of the sign-in form: its CSRF token is signed by the server (a cookie and
//! field an attacker chose are refused), its cookie is `__Host-` prefixed where Secure,
//! and failed sign-ins share the API's limit per client address.

use std::sync::Arc;

use dashboard::{DashboardConfig, router};
use reqwest::header::RETRY_AFTER;
use store::sqlite::SqliteStore;
use usecases::FailureLimit;

use super::{Answer, App, Options, setup, setup_with};

fn sign_in_body(token: &str, key: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", token)
        .append_pair("api_key", key)
        .append_pair("next", "/dashboard/webhooks")
        .finish()
}

#[tokio::test]
async fn a_cookie_and_field_chosen_by_an_attacker_do_not_sign_anyone_in() {
    let app = setup().await;
    for token in [
        "x",
        "attacker.chosen",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let answer = app
            .post_form(
                "/dashboard/sign-in",
                Some(&format!("aw_sign_in={token}")),
                &sign_in_body(token, &app.key),
            )
            .await;
        assert_eq!(answer.status, 403, "{token}: {}", answer.text);
        assert!(answer.set_cookie("aw_session").is_none(), "{token}");
    }
    // A token the server issued, with its MAC moved onto another nonce, is refused too.
    let form = app.get("/dashboard/sign-in", None).await;
    let issued = form.cookie_value("aw_sign_in").expect("a sign-in cookie");
    let (nonce, mac) = issued.split_once('.').expect("nonce.mac");
    assert_eq!(nonce.len(), 43);
    let forged = format!("{}A.{mac}", &nonce[..42]);
    let forged = if forged == issued {
        format!("{}B.{mac}", &nonce[..42])
    } else {
        forged
    };
    let answer = app
        .post_form(
            "/dashboard/sign-in",
            Some(&format!("aw_sign_in={forged}")),
            &sign_in_body(&forged, &app.key),
        )
        .await;
    assert_eq!(answer.status, 403);
    // The issued pair itself signs in.
    let answer = app
        .post_form(
            "/dashboard/sign-in",
            Some(&format!("aw_sign_in={issued}")),
            &sign_in_body(&issued, &app.key),
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.text);
}

#[tokio::test]
async fn a_token_issued_by_one_process_is_accepted_by_another_on_the_same_store() {
    let app = setup().await;
    let token = app
        .get("/dashboard/sign-in", None)
        .await
        .cookie_value("aw_sign_in")
        .unwrap();
    // Another dashboard on the same store: a second process behind a load balancer,
    // with nothing in memory in common with the first.
    let other = second_dashboard(app.store.clone()).await;
    let answer = app
        .client
        .post(format!("{other}/dashboard/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", format!("aw_sign_in={token}"))
        .body(sign_in_body(&token, &app.key))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
}

/// A dashboard of its own over `store`; its base URL.
async fn second_dashboard(store: Arc<SqliteStore>) -> String {
    let settings = usecases::Settings {
        dev: true,
        ..usecases::Settings::default()
    };
    let application = usecases::Application::new(store, settings);
    let dashboard = router(application, DashboardConfig::for_service(true));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, dashboard).await.unwrap() });
    base
}

#[tokio::test]
async fn where_cookies_are_secure_the_sign_in_cookie_is_host_prefixed() {
    let app = setup_with(Options {
        secure_cookies: true,
        ..Options::default()
    })
    .await;
    let form = app.get("/dashboard/sign-in", None).await;
    assert!(form.set_cookie("aw_sign_in").is_none());
    let cookie = form
        .set_cookie("__Host-aw_sign_in")
        .expect("a __Host- cookie");
    assert!(cookie.contains("; Path=/;"), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(!cookie.contains("Domain"), "{cookie}");
    let token = form.cookie_value("__Host-aw_sign_in").unwrap();
    // The unprefixed name (which a sibling subdomain could plant) is not read.
    let answer = app
        .post_form(
            "/dashboard/sign-in",
            Some(&format!("aw_sign_in={token}")),
            &sign_in_body(&token, &app.key),
        )
        .await;
    assert_eq!(answer.status, 403);
    let answer = app.try_sign_in(&app.key, &[]).await;
    assert_eq!(answer.status, 303, "{}", answer.text);
    assert!(
        answer
            .set_cookie("__Host-aw_sign_in")
            .unwrap()
            .contains("Max-Age=0"),
        "the spent token is cleared"
    );
}

const WRONG: &str = "awk_not_a_key_of_anyone_0000000000000000000000";

async fn wrong_sign_in(app: &App) -> Answer {
    app.try_sign_in(WRONG, &[]).await
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_address_and_a_valid_key_still_signs_in() {
    let app = setup_with(Options {
        auth_failures: Some(FailureLimit {
            per_second: 1.0 / 3600.0,
            burst: 3,
        }),
        ..Options::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(wrong_sign_in(&app).await.status, 401);
    }
    let answer = wrong_sign_in(&app).await;
    assert_eq!(answer.status, 429, "{}", answer.text);
    assert!(answer.text.contains("Too many failed"), "{}", answer.text);
    let retry_after: u64 = answer.header(RETRY_AFTER.as_str()).parse().unwrap();
    assert!(retry_after >= 3000, "{retry_after}");
    assert!(answer.set_cookie("aw_session").is_none());

    // A valid key from the same address signs in all the same.
    app.sign_in(&app.key).await;
    // One budget with the API: its wrong keys from this address are limited too.
    let res = app
        .client
        .get(app.url("/v1/webhooks"))
        .bearer_auth(WRONG)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key(RETRY_AFTER));
    // An empty key guesses nothing: it is still a plain 401.
    assert_eq!(app.try_sign_in("", &[]).await.status, 401);
}
