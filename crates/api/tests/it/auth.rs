//! Bearer keys: missing, wrong, revoked, and the wall between API keys and the operator key.

use reqwest::Method;
use serde_json::json;

use crate::support::{OPERATOR_KEY, Options, setup, setup_with, str_of};

#[tokio::test]
async fn a_missing_key_is_401_with_www_authenticate() {
    let app = setup().await;
    let answer = app.send(Method::GET, "/v1/webhooks", None, None, &[]).await;
    let detail = answer.problem(401);
    assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
    assert!(detail.contains("Authorization: Bearer"), "{detail}");
}

#[tokio::test]
async fn a_wrong_key_or_scheme_is_401() {
    let app = setup().await;
    let wrong = app.get_as("awk_not-a-real-key", "/v1/webhooks").await;
    wrong.problem(401);
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
    let basic = format!("Basic {}", app.key);
    app.send(
        Method::GET,
        "/v1/webhooks",
        None,
        None,
        &[("authorization", &basic)],
    )
    .await
    .problem(401);
    app.send(
        Method::GET,
        "/v1/webhooks",
        None,
        None,
        &[("authorization", "Bearer ")],
    )
    .await
    .problem(401);
    // The scheme is case-insensitive (RFC 9110).
    let lower = format!("bearer {}", app.key);
    app.send(
        Method::GET,
        "/v1/webhooks",
        None,
        None,
        &[("authorization", &lower)],
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn a_revoked_key_is_401() {
    let app = setup().await;
    let created = app
        .post("/v1/api-keys", json!({"name": "ci"}))
        .await
        .expect(201);
    let key = str_of(&created, "key").to_owned();
    app.get_as(&key, "/v1/webhooks").await.expect(200);
    app.delete(&format!("/v1/api-keys/{}", str_of(&created, "id")))
        .await
        .expect(204);
    let detail = app.get_as(&key, "/v1/webhooks").await.problem(401);
    assert!(detail.contains("revoked"), "{detail}");
}

#[tokio::test]
async fn the_operator_key_is_refused_on_workspace_routes() {
    let app = setup().await;
    let detail = app.get_as(OPERATOR_KEY, "/v1/webhooks").await.problem(401);
    assert!(detail.contains("operator key"), "{detail}");
    app.post_as(
        OPERATOR_KEY,
        "/v1/events",
        json!({"type": "user.created", "data": {}}),
    )
    .await
    .problem(401);
}

#[tokio::test]
async fn api_keys_are_refused_on_operator_routes() {
    let app = setup().await;
    let detail = app.get("/v1/workspaces").await.problem(401);
    assert!(detail.contains("operator key"), "{detail}");
    app.post("/v1/workspaces", json!({"name": "sneaky"}))
        .await
        .problem(401);
    app.send(Method::GET, "/v1/workspaces", None, None, &[])
        .await
        .problem(401);
    app.get_as(OPERATOR_KEY, "/v1/workspaces").await.expect(200);
}

#[tokio::test]
async fn without_an_operator_key_the_operator_api_is_off() {
    let app = setup_with(Options {
        operator_key: None,
        ..Options::default()
    })
    .await;
    let detail = app.get("/v1/workspaces").await.problem(403);
    assert!(detail.contains("ADMIN_WEBHOOKS_OPERATOR_KEY"), "{detail}");
    app.post_as(OPERATOR_KEY, "/v1/workspaces", json!({"name": "x"}))
        .await
        .problem(403);
    // Workspace routes work as usual.
    app.get("/v1/webhooks").await.expect(200);
}
