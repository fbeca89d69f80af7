//! A key sees and changes only its own workspace: every id of workspace A is a 404 with
//! workspace B's key, and B's attempts leave A's objects as they were.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{setup, str_of};

#[tokio::test]
async fn every_id_of_another_workspace_is_404() {
    let app = setup().await;
    let (_, b) = app.second_workspace("B").await;

    // Workspace A: a webhook, an event, its delivery, a second API key, a custom type.
    let hook = app.webhook(&["*"]).await;
    let hook_id = str_of(&hook, "id").to_owned();
    let event = app.publish("user.created").await;
    let event_id = str_of(&event, "id").to_owned();
    let delivery_id = app.delivery_ids(&hook_id).await.remove(0);
    let key = app
        .post("/v1/api-keys", json!({"name": "A's second key"}))
        .await
        .expect(201);
    let key_id = str_of(&key, "id").to_owned();
    app.post(
        "/v1/event-types",
        json!({"type": "invoice.paid", "category": "Billing"}),
    )
    .await
    .expect(201);

    let hook_path = format!("/v1/webhooks/{hook_id}");
    app.get_as(&b, &hook_path).await.problem(404);
    app.patch_as(
        &b,
        &hook_path,
        json!({"enabled": false, "url": "https://93.184.215.99/steal"}),
    )
    .await
    .problem(404);
    app.delete_as(&b, &hook_path).await.problem(404);
    app.post_as(&b, &format!("{hook_path}/test"), Value::Null)
        .await
        .problem(404);
    app.get_as(&b, &format!("{hook_path}/deliveries"))
        .await
        .problem(404);
    app.get_as(&b, &format!("/v1/deliveries/{delivery_id}"))
        .await
        .problem(404);
    app.get_as(&b, &format!("/v1/events/{event_id}"))
        .await
        .problem(404);
    app.delete_as(&b, &format!("/v1/api-keys/{key_id}"))
        .await
        .problem(404);

    // B's lists and catalog show nothing of A.
    let empty = json!({"data": [], "next_cursor": null});
    assert_eq!(app.get_as(&b, "/v1/webhooks").await.expect(200), empty);
    let b_keys = app.get_as(&b, "/v1/api-keys").await.expect(200);
    assert_eq!(b_keys["data"].as_array().unwrap().len(), 1);
    assert_ne!(b_keys["data"][0]["id"], key["id"]);
    let b_types = app.get_as(&b, "/v1/event-types").await.expect(200);
    assert_eq!(b_types["data"].as_array().unwrap().len(), 5);
    app.post_as(
        &b,
        "/v1/events",
        json!({"type": "invoice.paid", "data": {}}),
    )
    .await
    .problem(422);
    // B may subscribe to A's custom type only once B has it.
    app.post_as(
        &b,
        "/v1/webhooks",
        json!({"url": "https://93.184.215.14/", "events": ["invoice.paid"]}),
    )
    .await
    .problem(422);

    // B's event reaches none of A's webhooks.
    app.post_as(
        &b,
        "/v1/events",
        json!({"type": "user.created", "data": {}}),
    )
    .await
    .expect(202);
    assert_eq!(
        app.delivery_ids(&hook_id).await,
        std::slice::from_ref(&delivery_id)
    );

    // A's objects are intact.
    let after = app.get(&hook_path).await.expect(200);
    assert_eq!(after["enabled"], true);
    assert_eq!(after["url"], hook["url"]);
    app.get(&format!("/v1/deliveries/{delivery_id}"))
        .await
        .expect(200);
    app.get(&format!("/v1/events/{event_id}")).await.expect(200);
    app.get_as(str_of(&key, "key"), "/v1/webhooks")
        .await
        .expect(200);
}

#[tokio::test]
async fn idempotency_keys_are_per_workspace() {
    let app = setup().await;
    let (_, b) = app.second_workspace("B").await;
    let body = br#"{"type":"user.created","data":{}}"#.to_vec();
    let headers = [("idempotency-key", "same-key")];
    let a_event = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&app.key),
            Some(body.clone()),
            &headers,
        )
        .await;
    let b_event = app
        .send(Method::POST, "/v1/events", Some(&b), Some(body), &headers)
        .await;
    assert_ne!(a_event.expect(202)["id"], b_event.expect(202)["id"]);
    assert!(b_event.header("idempotent-replayed").is_none());
}

#[tokio::test]
async fn each_workspace_has_its_own_limit() {
    let app = setup().await;
    let (_, b) = app.second_workspace("B").await;
    for _ in 0..50 {
        app.webhook(&["*"]).await;
    }
    app.post(
        "/v1/webhooks",
        json!({"url": "https://93.184.215.14/", "events": ["*"]}),
    )
    .await
    .problem(409);
    app.webhook_as(&b, &["*"]).await;
}
