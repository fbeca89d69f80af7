//! API keys: shown once, listed by hint, revoked with 204.

use serde_json::json;

use crate::support::{setup, str_of};

#[tokio::test]
async fn keys_are_shown_once_and_listed_without_their_value() {
    let app = setup().await;
    let created = app
        .post("/v1/api-keys", json!({"name": "deploy bot"}))
        .await
        .expect(201);
    let key = str_of(&created, "key");
    assert!(key.starts_with("awk_") && key.len() > 40, "{key}");
    assert!(str_of(&created, "id").starts_with("ak_"));
    assert_eq!(created["name"], "deploy bot");
    app.get_as(key, "/v1/api-keys").await.expect(200);

    let list = app.get("/v1/api-keys").await.expect(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");
    assert!(
        !list.to_string().contains(key),
        "a list must not show key values"
    );
    for item in list["data"].as_array().unwrap() {
        assert!(
            item.get("key").is_none() && item.get("hash").is_none(),
            "{item}"
        );
        assert!(str_of(item, "hint").starts_with("awk_"));
    }
}

#[tokio::test]
async fn revoking_is_204_then_404() {
    let app = setup().await;
    let created = app
        .post("/v1/api-keys", json!({"name": "temp"}))
        .await
        .expect(201);
    let path = format!("/v1/api-keys/{}", str_of(&created, "id"));
    let answer = app.delete(&path).await;
    assert_eq!(answer.status.as_u16(), 204);
    assert!(answer.text.is_empty());
    app.delete(&path).await.problem(404);
    let list = app.get("/v1/api-keys").await.expect(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn key_names_are_checked() {
    let app = setup().await;
    app.post("/v1/api-keys", json!({"name": ""}))
        .await
        .problem(422);
    app.post("/v1/api-keys", json!({"name": "a\nb"}))
        .await
        .problem(422);
    app.post("/v1/api-keys", json!({})).await.problem(422);
}
