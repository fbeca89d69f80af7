//! Issue 14's form hygiene and navigation over plain HTTP: Post/Redirect/Get with a
//! one-time notice for a new API key, errors beside their fields, the HTML 404, the
//! favicon, the Settings pages, and the Edit and Replay forms answering with the API's
//! rules and words.

use reqwest::Method;
use serde_json::{Value, json};

use super::{App, setup};

async fn api(app: &App, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let res = request.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn key_count(app: &App) -> usize {
    let (status, keys) = api(app, Method::GET, "/v1/api-keys", None).await;
    assert_eq!(status, 200);
    keys["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_new_key_is_shown_once_after_a_redirect_and_a_reload_creates_nothing() {
    let app = setup().await;
    let session = app.sign_in(&app.key).await;
    assert_eq!(key_count(&app).await, 1);

    let created = app
        .post_as("/dashboard/api-keys", &session, "name=billing+service")
        .await;
    assert_eq!(created.status, 303, "{}", created.text);
    assert_eq!(created.location(), "/dashboard/api-keys?done=created");
    assert!(
        !created.text.contains("awk_"),
        "the POST's answer holds no key"
    );
    let flash = created.set_cookie("aw_flash").expect("a one-time notice");
    assert!(
        flash.contains("HttpOnly") && flash.contains("SameSite=Strict"),
        "{flash}"
    );
    assert!(flash.contains("Path=/dashboard/api-keys"), "{flash}");
    let sealed = created.cookie_value("aw_flash").unwrap();
    assert!(!sealed.contains("awk_"), "sealed, not the key itself");
    assert_eq!(key_count(&app).await, 2);

    // The page it redirects to shows the key once and clears the notice.
    let cookies = format!("aw_session={session}; aw_flash={sealed}");
    let shown = app
        .get_with(created.location(), None, &[("cookie", &cookies)])
        .await;
    assert_eq!(shown.status, 200);
    let value = shown
        .text
        .split("id=\"new-key\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the new key on the page")
        .to_owned();
    assert!(value.starts_with("awk_"), "{value}");
    let cleared = shown.set_cookie("aw_flash").expect("the notice is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let res = app
        .client
        .get(app.url("/v1/webhooks"))
        .bearer_auth(&value)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the key shown is the key made");

    // A reload (the browser no longer has the notice) shows no key and creates none.
    let again = app.get(created.location(), Some(&session)).await;
    assert_eq!(again.status, 200);
    assert!(!again.text.contains(&value));
    assert!(again.text.contains("shown once"), "{}", again.text);
    assert_eq!(key_count(&app).await, 2);

    // Another session cannot open this session's notice.
    let other = app.sign_in(&app.key).await;
    let cookies = format!("aw_session={other}; aw_flash={sealed}");
    let foreign = app
        .get_with(created.location(), None, &[("cookie", &cookies)])
        .await;
    assert!(!foreign.text.contains(&value));
}

#[tokio::test]
async fn a_refused_name_is_shown_beside_its_field_in_plain_text() {
    let app = setup().await;
    let session = app.sign_in(&app.key).await;
    let answer = app
        .post_as("/dashboard/api-keys", &session, "name=+++")
        .await;
    assert_eq!(answer.status, 422);
    let (_, problem) = api(
        &app,
        Method::POST,
        "/v1/api-keys",
        Some(json!({"name": "   "})),
    )
    .await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains('`'),
        "the API's words carry code marks: {detail}"
    );
    let error = answer
        .text
        .split("id=\"key-name-error\" class=\"field-error\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the error beside the field");
    assert!(!error.contains('`'), "{error}");
    assert_eq!(
        error.replace("&#8220;", "“").replace("&#8221;", "”"),
        dashboard::plain_text(detail)
    );
    let field = answer
        .text
        .split("<input id=\"key-name\"")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .unwrap();
    assert!(field.contains("aria-invalid=\"true\""), "{field}");
    assert!(
        field.contains("aria-describedby=\"key-name-error key-name-help\""),
        "{field}"
    );
    assert_eq!(key_count(&app).await, 1);
}

#[tokio::test]
async fn unknown_dashboard_paths_are_an_html_404_and_the_favicon_is_served() {
    let app = setup().await;
    let session = app.sign_in(&app.key).await;
    for path in [
        "/dashboard/nope",
        "/dashboard/webhooks/wh_01J00000000000000000000000/nope/deeper",
        "/dashboard/settings/x",
    ] {
        let answer = app.get(path, Some(&session)).await;
        assert_eq!(answer.status, 404, "{path}");
        assert!(
            answer.header("content-type").starts_with("text/html"),
            "{path}"
        );
        assert!(
            answer.text.contains("/dashboard/assets/dashboard.css"),
            "styled"
        );
        assert!(
            answer.text.contains("There is no such page"),
            "{}",
            answer.text
        );
    }
    // The API's own 404 stays JSON.
    let api = app.get("/v1/nope", None).await;
    assert_eq!(api.status, 404);
    assert!(api.header("content-type").contains("json"));

    let icon = app.get("/dashboard/assets/favicon.svg", None).await;
    assert_eq!(icon.status, 200);
    assert_eq!(icon.header("content-type"), "image/svg+xml");
    assert!(icon.text.starts_with("<svg"));
    let ico = app.get("/favicon.ico", None).await;
    assert_eq!(ico.status, 308);
    assert_eq!(ico.location(), "/dashboard/assets/favicon.svg");
    let page = app.get("/dashboard/webhooks", Some(&session)).await;
    assert!(
        page.text
            .contains("rel=\"icon\" href=\"/dashboard/assets/favicon.svg\"")
    );
}

#[tokio::test]
async fn settings_and_integrations_are_pages_the_breadcrumbs_link_to() {
    let app = setup().await;
    let session = app.sign_in(&app.key).await;
    let settings = app.get("/dashboard/settings", Some(&session)).await;
    assert_eq!(settings.status, 200);
    for link in [
        "/dashboard/integrations",
        "/dashboard/api-keys",
        "/dashboard/webhooks",
    ] {
        assert!(
            settings.text.contains(&format!("href=\"{link}\"")),
            "{link}"
        );
    }
    let integrations = app.get("/dashboard/integrations", Some(&session)).await;
    assert_eq!(integrations.status, 200);
    assert!(
        integrations
            .text
            .contains("href=\"/dashboard/event-types\"")
    );
    let list = app.get("/dashboard/webhooks", Some(&session)).await;
    let crumbs = list
        .text
        .split("aria-label=\"Breadcrumb\"")
        .nth(1)
        .and_then(|rest| rest.split("</nav>").next())
        .expect("breadcrumbs");
    for link in [
        "/dashboard/settings",
        "/dashboard/integrations",
        "/dashboard/webhooks",
    ] {
        assert!(
            crumbs.contains(&format!("href=\"{link}\"")),
            "{link}: {crumbs}"
        );
    }
    let keys = app.get("/dashboard/api-keys", Some(&session)).await;
    assert!(
        keys.text
            .contains("<a href=\"/dashboard/settings\">Settings</a>")
    );
}

#[tokio::test]
async fn edit_and_replay_answer_with_the_apis_rules() {
    let app = setup().await;
    let session = app.sign_in(&app.key).await;
    let (status, hook) = api(
        &app,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["user.*"], "description": "d"})),
    )
    .await;
    assert_eq!(status, 201);
    let id = hook["id"].as_str().unwrap().to_owned();
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let edit = format!("/dashboard/webhooks/{id}/edit");
    let form = app.get(&edit, Some(&session)).await;
    assert_eq!(form.status, 200);
    assert!(form.text.contains("value=\"http://127.0.0.1:9/hook\""));

    // No events: refused with the API's words, beside the events.
    let (status, detail) = app
        .api_problem(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            json!({"events": []}),
        )
        .await;
    assert_eq!(status, 422);
    let refused = app
        .post_as(
            &edit,
            &session,
            "url=http%3A%2F%2F127.0.0.1%3A9%2Fhook&description=d&enabled=true",
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.text.contains("id=\"events-error\""),
        "{}",
        refused.text
    );
    assert!(
        refused.text.contains(
            &dashboard::plain_text(&detail)
                .replace('“', "&#8220;")
                .replace('”', "&#8221;")
        ) || refused.text.contains(&dashboard::plain_text(&detail)),
        "{detail}: {}",
        refused.text
    );

    // A change of subscriptions and description keeps the id and the secret.
    let saved = app
        .post_as(
            &edit,
            &session,
            "url=http%3A%2F%2F127.0.0.1%3A9%2Fhook&events=order.completed&events=user.created&description=new&enabled=true",
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.text);
    assert_eq!(
        saved.location(),
        format!("/dashboard/webhooks/{id}?done=edited")
    );
    let (_, after) = api(&app, Method::GET, &format!("/v1/webhooks/{id}"), None).await;
    assert_eq!(after["events"], json!(["order.completed", "user.created"]));
    assert_eq!(after["description"], "new");
    assert_eq!(after["secret"], secret.as_str());
    assert_eq!(after["enabled"], true);

    // Replay: a bad time is refused beside its field with the API's words.
    let replay = format!("/dashboard/webhooks/{id}/replay");
    assert_eq!(app.get(&replay, Some(&session)).await.status, 200);
    let (status, detail) = app
        .api_problem(
            Method::POST,
            &format!("/v1/webhooks/{id}/replay"),
            json!({"since": "yesterday"}),
        )
        .await;
    assert_eq!(status, 422);
    let refused = app
        .post_as(&replay, &session, "since=yesterday&status=failed")
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.text.contains("id=\"since-error\""),
        "{}",
        refused.text
    );
    assert!(refused.text.contains("aria-invalid=\"true\""));
    assert!(detail.contains("yesterday"), "{detail}");
    assert!(
        refused.text.contains("value=\"yesterday\""),
        "kept as typed"
    );
    let done = app
        .post_as(
            &replay,
            &session,
            "since=2020-01-01T00%3A00%3A00Z&until=&status=failed",
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.text);
    assert_eq!(
        done.location(),
        format!("/dashboard/webhooks/{id}?done=replayed-0#activity")
    );

    // Disabled: the API's conflict, as a notice.
    let disabled = app
        .post_as(
            &edit,
            &session,
            "url=http%3A%2F%2F127.0.0.1%3A9%2Fhook&events=user.created&description=new",
        )
        .await;
    assert_eq!(disabled.status, 303);
    let (_, after) = api(&app, Method::GET, &format!("/v1/webhooks/{id}"), None).await;
    assert_eq!(after["enabled"], false);
    let refused = app
        .post_as(
            &replay,
            &session,
            "since=2020-01-01T00%3A00%3A00Z&status=failed",
        )
        .await;
    assert_eq!(refused.status, 409);
    assert!(refused.text.contains("is disabled"), "{}", refused.text);
    assert!(!refused.text.contains('`'));
}
