//! `POST /v1/listeners`, `GET /v1/listeners/{id}/stream`, `POST /v1/listeners/{id}/results`:
//! attaching, what is and is not a listener, and reports nobody awaits. (Deliveries
//! through a stream are tested on the whole service: `server/tests/it/listen.rs`.)

use serde_json::json;

use crate::support::{setup, str_of};

#[tokio::test]
async fn a_listener_is_created_and_re_attached_with_its_secret() {
    let app = setup().await;
    let created = app
        .post(
            "/v1/listeners",
            json!({ "name": "alice-laptop", "events": ["user.*"] }),
        )
        .await
        .expect(201);
    assert_eq!(created["url"], "listen://alice-laptop");
    assert_eq!(created["kind"], "listener");
    assert_eq!(created["events"], json!(["user.*"]));
    assert!(str_of(&created, "secret").starts_with("whsec_"));

    let again = app
        .post(
            "/v1/listeners",
            json!({ "id": created["id"], "events": ["order.completed"] }),
        )
        .await
        .expect(200);
    assert_eq!(
        (&again["id"], &again["secret"]),
        (&created["id"], &created["secret"])
    );
    assert_eq!(again["events"], json!(["order.completed"]));

    // Listed like every endpoint, marked as a listener; plain endpoints say `http`.
    let plain = app.webhook(&["*"]).await;
    assert_eq!(plain["kind"], "http");
    let list = app.get("/v1/webhooks").await.expect(200);
    let kinds: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| str_of(w, "kind"))
        .collect();
    assert!(
        kinds.contains(&"listener") && kinds.contains(&"http"),
        "{list}"
    );
}

#[tokio::test]
async fn only_listeners_of_the_workspace_can_be_attached_or_streamed() {
    let app = setup().await;
    let plain = app.webhook(&["*"]).await;
    let id = str_of(&plain, "id");
    let detail = app
        .post("/v1/listeners", json!({ "id": id }))
        .await
        .problem(404);
    assert!(detail.contains("listener"), "{detail}");
    app.get(&format!("/v1/listeners/{id}/stream"))
        .await
        .problem(404);

    let listener = app.post("/v1/listeners", json!({})).await.expect(201);
    assert_eq!(listener["url"], "listen://listener");
    let (_, other_key) = app.second_workspace("other").await;
    let answer = app
        .get_as(
            &other_key,
            &format!("/v1/listeners/{}/stream", str_of(&listener, "id")),
        )
        .await;
    answer.problem(404);

    let bad = app
        .post("/v1/listeners", json!({ "name": "Not A Name" }))
        .await
        .problem(422);
    assert!(bad.contains("listener name"), "{bad}");
}

#[tokio::test]
async fn a_result_nobody_awaits_is_a_conflict_and_a_malformed_one_is_refused() {
    let app = setup().await;
    let listener = app.post("/v1/listeners", json!({})).await.expect(201);
    let results = format!("/v1/listeners/{}/results", str_of(&listener, "id"));
    let delivery = domain::DeliveryId::generate().to_string();
    let detail = app
        .post(
            &results,
            json!({ "delivery_id": delivery, "attempt": 1, "status_code": 200, "response_ms": 3 }),
        )
        .await
        .problem(409);
    assert!(detail.contains("not awaiting"), "{detail}");
    for bad in [
        json!({ "delivery_id": delivery, "attempt": 1, "status_code": 700, "response_ms": 3 }),
        json!({ "delivery_id": delivery, "attempt": 0, "status_code": 200, "response_ms": 3 }),
        json!({ "delivery_id": delivery, "attempt": 1, "error_class": "gone", "response_ms": 3 }),
        json!({ "delivery_id": "dlv_x", "attempt": 1, "response_ms": 3 }),
    ] {
        app.post(&results, bad).await.problem(422);
    }
}
