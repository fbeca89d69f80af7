//! Endpoint CRUD, subscriptions, the limit of enabled endpoints and test events.

use serde_json::{Value, json};

use crate::support::{OPERATOR_KEY, PUBLIC_URL, setup, str_of};

#[tokio::test]
async fn create_answers_201_with_id_and_secret() {
    let app = setup().await;
    let body = json!({"url": PUBLIC_URL, "events": ["user.created", "order.*"], "description": "CRM sync"});
    let hook = app.post("/v1/webhooks", body).await.expect(201);
    assert!(str_of(&hook, "id").starts_with("wh_"));
    assert_eq!(hook["url"], PUBLIC_URL);
    assert_eq!(hook["events"], json!(["user.created", "order.*"]));
    assert_eq!(hook["description"], "CRM sync");
    assert_eq!(hook["enabled"], true);
    let secret = str_of(&hook, "secret");
    // Standard base64 of 32 bytes: 43 characters and one `=`.
    let encoded = secret.strip_prefix("whsec_").expect("whsec_");
    assert_eq!(encoded.len(), 44, "{secret}");
    assert!(
        encoded.ends_with('=') && !encoded[..43].contains('='),
        "{secret}"
    );
    assert!(str_of(&hook, "created_at").ends_with('Z'));

    let shown = app
        .get(&format!("/v1/webhooks/{}", str_of(&hook, "id")))
        .await
        .expect(200);
    assert_eq!(shown["secret"], secret, "get reveals the secret");
    let list = app.get("/v1/webhooks").await.expect(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(
        list["data"][0].get("secret").is_none(),
        "lists leave the secret out"
    );
}

#[tokio::test]
async fn patch_changes_each_field_and_validates_like_create() {
    let app = setup().await;
    let hook = app.webhook(&["user.created"]).await;
    let path = format!("/v1/webhooks/{}", str_of(&hook, "id"));
    let patched = app
        .patch(&path, json!({"description": "new", "enabled": false, "events": ["*"], "url": "https://93.184.215.15/other"}))
        .await
        .expect(200);
    assert_eq!(patched["description"], "new");
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["events"], json!(["*"]));
    assert_eq!(patched["url"], "https://93.184.215.15/other");
    assert_eq!(
        patched["secret"], hook["secret"],
        "a patch keeps the secret"
    );

    let unchanged = app.patch(&path, json!({})).await.expect(200);
    assert_eq!(unchanged["description"], "new");
    app.patch(&path, json!({"url": "http://93.184.215.14/"}))
        .await
        .problem(422);
    app.patch(&path, json!({"events": []})).await.problem(422);
    app.patch(&path, json!({"events": ["nope.never"]}))
        .await
        .problem(422);
    app.patch(&path, json!({"enabled": "yes"}))
        .await
        .problem(422);
    let after = app.get(&path).await.expect(200);
    assert_eq!(
        after["url"], "https://93.184.215.15/other",
        "refused patches change nothing"
    );
}

#[tokio::test]
async fn delete_is_204_then_404() {
    let app = setup().await;
    let hook = app.webhook(&["*"]).await;
    let path = format!("/v1/webhooks/{}", str_of(&hook, "id"));
    let answer = app.delete(&path).await;
    assert_eq!(answer.status.as_u16(), 204);
    app.get(&path).await.problem(404);
    app.delete(&path).await.problem(404);
    app.patch(&path, json!({"enabled": true}))
        .await
        .problem(404);
}

#[tokio::test]
async fn subscriptions_are_checked() {
    let app = setup().await;
    let empty = app
        .post("/v1/webhooks", json!({"url": PUBLIC_URL, "events": []}))
        .await
        .problem(422);
    assert!(empty.contains("at least one"), "{empty}");
    let malformed = app
        .post(
            "/v1/webhooks",
            json!({"url": PUBLIC_URL, "events": ["User.*"]}),
        )
        .await
        .problem(422);
    assert!(
        malformed.contains("`User.*` is not a valid subscription"),
        "{malformed}"
    );
    let unknown = app
        .post(
            "/v1/webhooks",
            json!({"url": PUBLIC_URL, "events": ["invoice.paid"]}),
        )
        .await
        .problem(422);
    assert!(
        unknown.contains("`invoice.paid`") && unknown.contains("catalog"),
        "{unknown}"
    );
    // Groups may name types that do not exist yet; duplicates collapse.
    let hook = app
        .post(
            "/v1/webhooks",
            json!({"url": PUBLIC_URL, "events": ["invoice.*", "*", "*"]}),
        )
        .await
        .expect(201);
    assert_eq!(hook["events"], json!(["invoice.*", "*"]));
}

#[tokio::test]
async fn the_51st_enabled_webhook_is_409_until_the_operator_raises_the_limit() {
    let app = setup().await;
    for _ in 0..50 {
        app.webhook(&["*"]).await;
    }
    let body = json!({"url": PUBLIC_URL, "events": ["*"]});
    let detail = app.post("/v1/webhooks", body.clone()).await.problem(409);
    assert!(detail.contains("50 enabled webhooks"), "{detail}");
    assert!(detail.contains("limit"), "{detail}");

    // A disabled one does not count, but enabling it does.
    let disabled = app
        .post(
            "/v1/webhooks",
            json!({"url": PUBLIC_URL, "events": ["*"], "enabled": false}),
        )
        .await
        .expect(201);
    let path = format!("/v1/webhooks/{}", str_of(&disabled, "id"));
    app.patch(&path, json!({"enabled": true}))
        .await
        .problem(409);

    let workspaces = app.get_as(OPERATOR_KEY, "/v1/workspaces").await.expect(200);
    let default = workspaces["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "default")
        .unwrap();
    let ws_path = format!("/v1/workspaces/{}", str_of(default, "id"));
    app.patch_as(OPERATOR_KEY, &ws_path, json!({"max_enabled_webhooks": 52}))
        .await
        .expect(200);
    app.post("/v1/webhooks", body.clone()).await.expect(201);
    app.patch(&path, json!({"enabled": true})).await.expect(200);
    let detail = app.post("/v1/webhooks", body).await.problem(409);
    assert!(detail.contains("52 enabled webhooks"), "{detail}");
}

#[tokio::test]
async fn a_test_event_goes_to_that_endpoint_alone() {
    let app = setup().await;
    let target = app.webhook(&["user.created"]).await;
    let other = app.webhook(&["*"]).await;
    let id = str_of(&target, "id");
    let event = app
        .post(&format!("/v1/webhooks/{id}/test"), Value::Null)
        .await
        .expect(202);
    assert_eq!(event["type"], "webhook.test");
    assert_eq!(event["data"], json!({"test": true}));
    assert_eq!(app.delivery_ids(id).await.len(), 1);
    assert!(app.delivery_ids(str_of(&other, "id")).await.is_empty());
    assert_eq!(app.published_calls(), vec![vec![id.to_owned()]]);

    app.patch(&format!("/v1/webhooks/{id}"), json!({"enabled": false}))
        .await
        .expect(200);
    let detail = app
        .post(&format!("/v1/webhooks/{id}/test"), Value::Null)
        .await
        .problem(409);
    assert!(detail.contains("disabled"), "{detail}");
}
