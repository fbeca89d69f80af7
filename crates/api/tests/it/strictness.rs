//! The API refuses what its OpenAPI document does not allow, with a status that says
//! why: a cursor no page gave is a 400 (never a first or an empty page), and a body sent
//! as anything but JSON is a 415 (before the body is even read).

use reqwest::Method;
use serde_json::json;

use crate::support::{Answer, App, OPERATOR_KEY, setup, str_of};

/// A request with `body` sent under `content_type` (`None`: no `Content-Type` at all).
async fn send_typed(
    app: &App,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Answer {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(&app.key)
        .body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("request");
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        text: response.text().await.expect("body"),
    }
}

#[tokio::test]
async fn cursors_that_no_page_gave_are_400_on_every_list() {
    let app = setup().await;
    let webhook = app.webhook(&["*"]).await;
    let webhook_id = str_of(&webhook, "id").to_owned();
    let event = app.publish("user.created").await;
    let event_id = str_of(&event, "id").to_owned();
    let lists = [
        "/v1/webhooks".to_owned(),
        "/v1/api-keys".to_owned(),
        "/v1/event-types".to_owned(),
        "/v1/events".to_owned(),
        format!("/v1/webhooks/{webhook_id}/deliveries"),
    ];
    // Made up, mangled, or an id of another kind of object than the list holds.
    for path in &lists {
        for cursor in ["abc", "zzzz", "0", &event_id[..event_id.len() - 1]] {
            let detail = app
                .get(&format!("{path}?cursor={cursor}"))
                .await
                .problem(400);
            assert!(
                detail.contains("`cursor` is not one this API gave"),
                "{path} {cursor}: {detail}"
            );
        }
    }
    for (path, foreign) in [
        ("/v1/webhooks", &event_id),
        ("/v1/events", &webhook_id),
        ("/v1/api-keys", &webhook_id),
    ] {
        let answer = app.get(&format!("{path}?cursor={foreign}")).await;
        assert_eq!(
            answer.json()["type"],
            "/problems/invalid-cursor",
            "{path}: {}",
            answer.text
        );
        answer.problem(400);
    }
    let workspaces = app
        .get_as(OPERATOR_KEY, "/v1/workspaces?cursor=wh_not_a_workspace")
        .await;
    workspaces.problem(400);
}

#[tokio::test]
async fn cursors_that_pages_gave_still_page() {
    let app = setup().await;
    for _ in 0..3 {
        app.webhook(&["*"]).await;
    }
    let first = app.get("/v1/webhooks?limit=2").await.expect(200);
    let cursor = str_of(&first, "next_cursor").to_owned();
    let rest = app
        .get(&format!("/v1/webhooks?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);

    // The catalog pages by name, so a well-formed name past the end is an empty page.
    let first = app.get("/v1/event-types?limit=2").await.expect(200);
    let names: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| str_of(t, "name"))
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "the catalog is listed by name");
    let past = app
        .get("/v1/event-types?cursor=zzz.after_every_type")
        .await
        .expect(200);
    assert_eq!(past, json!({"data": [], "next_cursor": null}));
}

#[tokio::test]
async fn bodies_not_sent_as_json_are_415() {
    let app = setup().await;
    let body = r#"{"name": "ci"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
        None,
    ] {
        let answer = send_typed(&app, Method::POST, "/v1/api-keys", content_type, body).await;
        let detail = answer.problem(415);
        assert!(
            detail.contains("Content-Type: application/json"),
            "{detail}"
        );
        assert_eq!(answer.json()["type"], "/problems/unsupported-media-type");
    }
    // The media type decides, not how its letters or parameters are written.
    for content_type in [
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/merge-patch+json",
    ] {
        send_typed(&app, Method::POST, "/v1/api-keys", Some(content_type), body)
            .await
            .expect(201);
    }
    // Every JSON body is checked the same way, PATCH included.
    let webhook = app.webhook(&["*"]).await;
    let path = format!("/v1/webhooks/{}", str_of(&webhook, "id"));
    send_typed(
        &app,
        Method::PATCH,
        &path,
        Some("text/plain"),
        r#"{"enabled": false}"#,
    )
    .await
    .problem(415);
    // A route without a body does not care.
    let test = format!("{path}/test");
    send_typed(&app, Method::POST, &test, Some("text/plain"), "")
        .await
        .expect(202);
}

#[tokio::test]
async fn whole_numbers_written_as_floats_are_integers() {
    let app = setup().await;
    let (workspace, _) = app.second_workspace("floats").await;
    let path = format!("/v1/workspaces/{workspace}");
    let updated = app
        .patch_as(OPERATOR_KEY, &path, json!({"max_enabled_webhooks": 3141.0}))
        .await
        .expect(200);
    assert_eq!(updated["max_enabled_webhooks"], 3141);
    app.patch_as(OPERATOR_KEY, &path, json!({"max_enabled_webhooks": 31.5}))
        .await
        .problem(422);
}

#[tokio::test]
async fn an_empty_until_in_a_replay_body_is_not_a_time() {
    let app = setup().await;
    let webhook = app.webhook(&["*"]).await;
    let path = format!("/v1/webhooks/{}/replay", str_of(&webhook, "id"));
    let detail = app
        .post(&path, json!({"since": "2025-01-15T00:00:00Z", "until": ""}))
        .await
        .problem(422);
    assert!(detail.contains("`until`"), "{detail}");
    app.post(
        &path,
        json!({"since": "2025-01-15T00:00:00Z", "until": null}),
    )
    .await
    .expect(202);
}
