//! Forms: every POST needs its session's CSRF token (403 without, nothing changed); the
//! webhook and catalog forms refuse with the API's own messages; changes wake the lanes
//! as the API's do.

use reqwest::Method;
use serde_json::json;
use store::{PageRequest, TenancyStore};

use super::{App, Options, setup, setup_with};

async fn webhook_count(app: &App) -> usize {
    let ws = app
        .store
        .list_workspaces(PageRequest::default())
        .await
        .unwrap()
        .data[0]
        .id
        .clone();
    app.store
        .list_webhooks(&ws, PageRequest::default())
        .await
        .unwrap()
        .data
        .len()
}

/// Text as askama escapes it into HTML.
fn html(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

const CREATE: &str = "url=http%3A%2F%2F127.0.0.1%3A9%2Fhook&events=user.*&description=d";

#[tokio::test]
async fn a_post_without_its_csrf_token_is_refused_and_changes_nothing() {
    let app = setup().await;
    let session = app.sign_in(&app.key).await;
    let cookie = format!("aw_session={session}");
    let other = app.sign_in(&app.key).await;
    let foreign_token = app.csrf(&other).await;

    for body in [
        CREATE.to_owned(),
        format!("{CREATE}&csrf="),
        format!("{CREATE}&csrf={foreign_token}"),
        format!("{CREATE}&csrf={session}"),
    ] {
        let answer = app
            .post_form("/dashboard/webhooks", Some(&cookie), &body)
            .await;
        assert_eq!(answer.status, 403, "{body}");
        assert!(answer.text.contains("security token"), "{}", answer.text);
        assert!(answer.header("content-type").starts_with("text/html"));
    }
    assert_eq!(webhook_count(&app).await, 0);

    // Every other form too: keys, catalog, sign-out.
    for path in [
        "/dashboard/api-keys",
        "/dashboard/event-types",
        "/dashboard/sign-out",
    ] {
        let answer = app
            .post_form(path, Some(&cookie), "name=x&type=a.b&category=C")
            .await;
        assert_eq!(answer.status, 403, "{path}");
    }
    assert_eq!(
        app.get("/dashboard/webhooks", Some(&session)).await.status,
        200
    );

    // The same post with the session's own token goes through.
    let answer = app.post_as("/dashboard/webhooks", &session, CREATE).await;
    assert_eq!(answer.status, 303, "{}", answer.text);
    assert!(answer.location().contains("done=created"));
    assert_eq!(webhook_count(&app).await, 1);
}

#[tokio::test]
async fn create_webhook_refuses_with_the_apis_messages() {
    let app = setup_with(Options {
        dev: false,
        ..Options::default()
    })
    .await;
    let session = app.sign_in(&app.key).await;
    let cases = [
        ("http://example.com/hook", vec!["user.*"]),
        ("https://127.0.0.1/hook", vec!["user.*"]),
        ("https://example.com/hook", vec![]),
        ("https://example.com/hook", vec!["nope.never"]),
        ("https://example.com/hook", vec!["Not A Type"]),
    ];
    for (url, events) in cases {
        let (status, detail) = app
            .api_problem(
                Method::POST,
                "/v1/webhooks",
                json!({"url": url, "events": events}),
            )
            .await;
        assert_eq!(status, 422, "{url} {events:?}: {detail}");
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        body.append_pair("url", url);
        for event in &events {
            body.append_pair("events", event);
        }
        let answer = app
            .post_as("/dashboard/webhooks", &session, &body.finish())
            .await;
        assert_eq!(answer.status, 422, "{url} {events:?}");
        // The API's words, in plain text (code marks as quotes), beside the field.
        let escaped = html(&dashboard::plain_text(&detail));
        assert!(
            answer.text.contains(&escaped),
            "the dashboard says {detail:?} like the API:\n{}",
            answer.text
        );
        assert!(
            answer.text.contains("class=\"field-error\""),
            "{}",
            answer.text
        );
        if events.len() == 1 && events[0] == "user.*" {
            // A URL's error: the field is marked and points to it.
            assert!(
                answer.text.contains("aria-invalid=\"true\""),
                "{}",
                answer.text
            );
            assert!(
                answer
                    .text
                    .contains("aria-describedby=\"url-error url_help\"")
            );
        } else {
            assert!(answer.text.contains("aria-describedby=\"events-error\""));
        }
        assert!(answer.text.contains(&format!("value=\"{url}\"")), "kept");
    }
    assert_eq!(webhook_count(&app).await, 0);
}

#[tokio::test]
async fn the_catalog_form_refuses_with_the_apis_messages() {
    let app = setup().await;
    let session = app.sign_in(&app.key).await;
    for (name, category) in [
        ("Bad Name", "X"),
        ("user.created", "Users"),
        ("webhook.test", "X"),
        ("invoice.paid", ""),
    ] {
        let (status, detail) = app
            .api_problem(
                Method::POST,
                "/v1/event-types",
                json!({"type": name, "category": category}),
            )
            .await;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("type", name)
            .append_pair("category", category)
            .finish();
        let answer = app.post_as("/dashboard/event-types", &session, &body).await;
        assert_eq!(answer.status.as_u16(), status, "{name}");
        assert!(
            answer.text.contains(&html(&dashboard::plain_text(&detail))),
            "{detail:?}:\n{}",
            answer.text
        );
    }
    let answer = app
        .post_as(
            "/dashboard/event-types",
            &session,
            "type=invoice.paid&category=Billing&description=Paid",
        )
        .await;
    assert_eq!(answer.status, 303);
    let page = app.get(answer.location(), Some(&session)).await;
    assert!(page.text.contains("Added `invoice.paid`"));
    assert!(page.text.contains("Billing"));
    // The notice names only a type that exists.
    let spoof = app
        .get(
            "/dashboard/event-types?added=your.account.is.locked",
            Some(&session),
        )
        .await;
    assert!(!spoof.text.contains("your.account.is.locked"));
}

#[tokio::test]
async fn changes_wake_the_lanes_like_the_api() {
    let app = setup().await;
    let session = app.sign_in(&app.key).await;
    let answer = app.post_as("/dashboard/webhooks", &session, CREATE).await;
    let page = answer.location().split('?').next().unwrap().to_owned();
    let id = page.rsplit('/').next().unwrap().to_owned();
    let woken = |app: &App| app.woken.lock().unwrap().len();
    let before = woken(&app);

    let test = app.post_as(&format!("{page}/test"), &session, "").await;
    assert_eq!(test.status, 303);
    assert!(
        test.location().contains("?test=evt_"),
        "{}",
        test.location()
    );
    assert_eq!(woken(&app), before + 1, "the test event's lane");
    let shown = app.get(test.location(), Some(&session)).await;
    assert!(shown.text.contains("id=\"test-result\""));
    assert!(shown.text.contains("webhook.test"));

    for (path, body) in [
        (format!("{page}/rotate"), ""),
        (format!("{page}/enabled"), "enabled=false"),
        (format!("{page}/enabled"), "enabled=true"),
    ] {
        let count = woken(&app);
        let answer = app.post_as(&path, &session, body).await;
        assert_eq!(answer.status, 303, "{path}: {}", answer.text);
        assert_eq!(woken(&app), count + 1, "{path} {body}");
    }
    let last = app.woken.lock().unwrap().last().unwrap()[0].to_string();
    assert_eq!(last, id);

    // A retry resyncs the lane (the test state routes resyncs to the same recorder).
    let log = app.get(&page, Some(&session)).await;
    let delivery = log
        .text
        .split("/dashboard/deliveries/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a delivery in the log")
        .to_owned();
    let count = woken(&app);
    let answer = app
        .post_as(
            &format!("/dashboard/deliveries/{delivery}/retry"),
            &session,
            "",
        )
        .await;
    assert_eq!(answer.status, 303);
    assert_eq!(woken(&app), count + 1);

    // Disabled: the test event and the retry are refused with the API's message.
    app.post_as(&format!("{page}/enabled"), &session, "enabled=false")
        .await;
    let refused = app.post_as(&format!("{page}/test"), &session, "").await;
    assert_eq!(refused.status, 409);
    assert!(refused.text.contains("is disabled"));
    let (status, detail) = app
        .api_problem(
            Method::POST,
            &format!("/v1/deliveries/{delivery}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409);
    let refused = app
        .post_as(
            &format!("/dashboard/deliveries/{delivery}/retry"),
            &session,
            "",
        )
        .await;
    assert_eq!(refused.status, 409);
    assert!(
        refused
            .text
            .contains(&html(&dashboard::plain_text(&detail))),
        "{detail}"
    );
}
