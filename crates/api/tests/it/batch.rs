//! `POST /v1/events/batch`: up to 100 events in one request, each answered on its own, in
//! request order; refused items leave the others stored.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{setup, str_of};

const BATCH: &str = "/v1/events/batch";

fn results(answer: &Value) -> &Vec<Value> {
    answer["data"].as_array().expect("`data` lists the results")
}

#[tokio::test]
async fn each_item_is_answered_in_order_and_refused_alone() {
    let app = setup().await;
    let hook = app.webhook(&["user.*"]).await;
    let hook_id = str_of(&hook, "id");
    let earlier = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&app.key),
            Some(br#"{"type":"user.created","data":{}}"#.to_vec()),
            &[("idempotency-key", "earlier")],
        )
        .await
        .expect(202);
    let before = app.published_calls().len();

    let answer = app
        .post(
            BATCH,
            json!({"events": [
                {"type": "user.created", "data": {"n": 1}, "metadata": {"source": "crm"}},
                {"type": "user.created", "data": [1]},
                {"type": "nope.missing", "data": {}},
                {"type": "user.created", "data": {}, "idempotency_key": "earlier"},
                {"type": "user.created", "data": {}, "idempotency_key": ""},
                {"type": "user.updated", "data": {"n": 2}, "idempotency_key": "k1"},
                {"type": "user.updated", "data": {"n": 3}, "idempotency_key": "k1"},
            ]}),
        )
        .await
        .expect(200);
    let items = results(&answer);
    assert_eq!(items.len(), 7, "{answer}");
    let statuses: Vec<u64> = items
        .iter()
        .map(|i| i["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [202, 422, 422, 202, 422, 202, 202]);

    let first = &items[0]["event"];
    assert_eq!(first["type"], "user.created");
    assert_eq!(first["data"], json!({"n": 1}));
    assert_eq!(first["metadata"], json!({"source": "crm"}));
    assert!(items[0].get("idempotent_replayed").is_none());
    let shown = app
        .get(&format!("/v1/events/{}", str_of(first, "id")))
        .await
        .expect(200);
    assert_eq!(shown["data"], json!({"n": 1}), "stored as answered");

    // Refusals say which rule, as a single publish would, in a problem document.
    let data = &items[1]["error"];
    assert_eq!(data["status"], 422);
    assert_eq!(data["type"], "/problems/validation");
    assert!(str_of(data, "detail").starts_with("`data` "), "{data}");
    let unknown = &items[2]["error"];
    assert_eq!(unknown["type"], "/problems/unknown-event-type");
    assert!(
        str_of(unknown, "detail").contains("nope.missing"),
        "{unknown}"
    );
    assert!(
        str_of(&items[4]["error"], "detail").contains("idempotency_key"),
        "{}",
        items[4]
    );

    // Repeated keys, from before the batch or within it, answer the first event.
    assert_eq!(items[3]["idempotent_replayed"], true);
    assert_eq!(items[3]["event"]["id"], earlier["id"]);
    assert!(items[5].get("idempotent_replayed").is_none());
    assert_eq!(items[6]["idempotent_replayed"], true);
    assert_eq!(items[6]["event"]["id"], items[5]["event"]["id"]);
    assert_eq!(items[6]["event"]["data"], json!({"n": 2}));

    // Two new events, stored and announced (once: the endpoint took both up in the
    // batch's one commit); nothing of the refused items.
    assert_eq!(app.delivery_ids(hook_id).await.len(), 3);
    let events = app.get("/v1/events").await.expect(200);
    assert_eq!(events["data"].as_array().unwrap().len(), 3, "{events}");
    let calls = app.published_calls()[before..].to_vec();
    assert_eq!(calls, [vec![hook_id.to_owned()]]);
}

#[tokio::test]
async fn a_batch_of_no_events_or_more_than_100_is_refused_whole() {
    let app = setup().await;
    app.webhook(&["*"]).await;
    let event = json!({"type": "user.created", "data": {}});
    let detail = app
        .post(BATCH, json!({"events": vec![event.clone(); 101]}))
        .await
        .problem(422);
    assert!(detail.contains("1 to 100"), "{detail}");
    let detail = app.post(BATCH, json!({"events": []})).await.problem(422);
    assert!(detail.contains("1 to 100"), "{detail}");
    let events = app.get("/v1/events").await.expect(200);
    assert!(events["data"].as_array().unwrap().is_empty(), "{events}");

    let full = app
        .post(BATCH, json!({"events": vec![event; 100]}))
        .await
        .expect(200);
    assert_eq!(results(&full).len(), 100);
    assert!(results(&full).iter().all(|r| r["status"] == 202));

    // Not JSON, or an unknown field: the request as a whole is malformed.
    app.send(
        Method::POST,
        BATCH,
        Some(&app.key),
        Some(b"{".to_vec()),
        &[],
    )
    .await
    .problem(400);
    app.post(BATCH, json!({"events": [], "extra": 1}))
        .await
        .problem(422);
}

#[tokio::test]
async fn a_batch_needs_a_key() {
    let app = setup().await;
    let answer = app
        .send(
            Method::POST,
            BATCH,
            None,
            Some(br#"{"events":[{"type":"user.created","data":{}}]}"#.to_vec()),
            &[],
        )
        .await;
    answer.problem(401);
}
