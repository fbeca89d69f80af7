//! What every route shares: probes, problem+json errors, 404/405, JSON 400 vs 422,
//! malformed ids, pagination parameters.

use domain::{ApiKeyId, DeliveryId, EventId, WebhookId};
use reqwest::Method;
use serde_json::json;

use crate::support::{Options, setup, setup_with};

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let app = setup().await;
    let health = app.send(Method::GET, "/healthz", None, None, &[]).await;
    assert_eq!(health.expect(200), json!({"status": "ok"}));
    let ready = app
        .send(Method::GET, "/readyz", None, None, &[])
        .await
        .expect(200);
    assert_eq!(ready["status"], "ok");
    assert_eq!(
        ready["schema_version"],
        json!(app.store.schema_version().await.unwrap()),
        "every migration applied"
    );
}

#[tokio::test]
async fn readyz_is_503_when_the_store_is_closed() {
    let app = setup().await;
    app.store.close().await;
    let ready = app.send(Method::GET, "/readyz", None, None, &[]).await;
    let detail = ready.problem(503);
    assert!(detail.contains("store"), "{detail}");
    assert!(
        !detail.contains("shutting down"),
        "the cause stays in the log: {detail}"
    );
    // Workspace routes answer 503 too (the key lookup needs the store), not 401.
    app.get("/v1/webhooks").await.problem(503);
    // /healthz only says the process is up.
    app.send(Method::GET, "/healthz", None, None, &[])
        .await
        .expect(200);
}

#[tokio::test]
async fn readyz_is_503_naming_a_dispatcher_that_stopped_sweeping() {
    let app = setup_with(Options {
        dispatcher_alive: Some(std::sync::Arc::new(|| {
            Err("the dispatcher has not swept the store for 95 s".to_owned())
        })),
        ..Options::default()
    })
    .await;
    let ready = app.send(Method::GET, "/readyz", None, None, &[]).await;
    let detail = ready.problem(503);
    assert!(detail.contains("dispatcher has not swept"), "{detail}");
    assert_eq!(ready.json()["type"], "/problems/not-ready");
    let alive = setup_with(Options {
        dispatcher_alive: Some(std::sync::Arc::new(|| Ok(()))),
        ..Options::default()
    })
    .await;
    alive
        .send(Method::GET, "/readyz", None, None, &[])
        .await
        .expect(200);
}

#[tokio::test]
async fn unknown_paths_are_404_problems() {
    let app = setup().await;
    let detail = app.get("/v1/nothing-here").await.problem(404);
    assert!(detail.contains("/v1/nothing-here"), "{detail}");
    app.send(Method::GET, "/", None, None, &[])
        .await
        .problem(404);
}

#[tokio::test]
async fn wrong_methods_are_405_problems_with_allow() {
    let app = setup().await;
    let answer = app
        .send(Method::PUT, "/v1/webhooks", Some(&app.key), None, &[])
        .await;
    let detail = answer.problem(405);
    assert!(detail.contains("PUT"), "{detail}");
    let allow = answer.header("allow").expect("Allow header");
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    app.send(Method::DELETE, "/v1/events", Some(&app.key), None, &[])
        .await
        .problem(405);
    app.send(Method::POST, "/healthz", None, None, &[])
        .await
        .problem(405);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400() {
    let app = setup().await;
    for body in ["", "{", "url=https://example.com", "{\"url\": }"] {
        let answer = app
            .send(
                Method::POST,
                "/v1/webhooks",
                Some(&app.key),
                Some(body.into()),
                &[],
            )
            .await;
        let detail = answer.problem(400);
        assert!(detail.contains("not valid JSON"), "{detail}");
    }
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_422() {
    let app = setup().await;
    let missing = app
        .post("/v1/webhooks", json!({"url": "https://93.184.215.14/"}))
        .await
        .problem(422);
    assert!(missing.contains("missing field `events`"), "{missing}");
    let wrong_type = app
        .post("/v1/webhooks", json!({"url": 5, "events": ["*"]}))
        .await
        .problem(422);
    assert!(wrong_type.contains("invalid type"), "{wrong_type}");
    let typo = app
        .post(
            "/v1/webhooks",
            json!({"url": "https://93.184.215.14/", "event": ["*"]}),
        )
        .await
        .problem(422);
    assert!(typo.contains("unknown field `event`"), "{typo}");
    app.post("/v1/api-keys", json!(["name"])).await.problem(422);
}

#[tokio::test]
async fn malformed_ids_in_paths_are_404() {
    let app = setup().await;
    app.get("/v1/webhooks/wh_nonsense").await.problem(404);
    app.patch("/v1/webhooks/wh_nonsense", json!({"enabled": false}))
        .await
        .problem(404);
    app.delete("/v1/webhooks/wh_nonsense").await.problem(404);
    app.get(&format!("/v1/webhooks/{}/deliveries", EventId::generate()))
        .await
        .problem(404);
    app.get("/v1/events/evt_x").await.problem(404);
    app.get("/v1/deliveries/dlv_").await.problem(404);
    let detail = app.delete("/v1/api-keys/nonsense").await.problem(404);
    assert!(detail.contains("API key"), "{detail}");
    // Well-formed but unknown ids are 404 too.
    app.get(&format!("/v1/webhooks/{}", WebhookId::generate()))
        .await
        .problem(404);
    app.get(&format!("/v1/events/{}", EventId::generate()))
        .await
        .problem(404);
    app.get(&format!("/v1/deliveries/{}", DeliveryId::generate()))
        .await
        .problem(404);
    app.delete(&format!("/v1/api-keys/{}", ApiKeyId::generate()))
        .await
        .problem(404);
}

#[tokio::test]
async fn list_parameters_are_checked() {
    let app = setup().await;
    for bad in ["0", "101", "x", "-3"] {
        let detail = app
            .get(&format!("/v1/webhooks?limit={bad}"))
            .await
            .problem(400);
        assert!(detail.contains("`limit`"), "{detail}");
    }
    let page = app.get("/v1/webhooks?limit=100&cursor=").await.expect(200);
    assert_eq!(page, json!({"data": [], "next_cursor": null}));
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = setup_with(Options::default()).await;
    let filler = "x".repeat(300 * 1024);
    let body = json!({"type": "user.created", "data": {"filler": filler}}).to_string();
    let answer = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&app.key),
            Some(body.into_bytes()),
            &[],
        )
        .await;
    let detail = answer.problem(413);
    assert!(detail.contains("262144 bytes"), "{detail}");
}
