//! Publishing: the delivered schema, byte preservation, validation, idempotency, waking
//! lanes, and group subscriptions matching types added later.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{setup, str_of};

#[tokio::test]
async fn publish_answers_202_with_exactly_the_schema_and_the_bytes_sent() {
    let app = setup().await;
    // Odd spacing, key order, number forms and escapes must survive unchanged.
    let data = r#"{"z": 1,  "a":[1.0, 2e3, -0], "s":"caf\u00e9 \"q\"", "n":{"deep":null}}"#;
    let metadata = r#"{"source":"web","ip_address":"203.0.113.42"}"#;
    let body = format!(r#"{{"type":"user.created","data":{data},"metadata":{metadata}}}"#);
    let answer = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&app.key),
            Some(body.into_bytes()),
            &[],
        )
        .await;
    let event = answer.expect(202);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert!(answer.header("idempotent-replayed").is_none());
    let keys: BTreeSet<&str> = event
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["id", "type", "timestamp", "data", "metadata"])
    );
    assert!(str_of(&event, "id").starts_with("evt_"));
    assert_eq!(event["type"], "user.created");
    let timestamp = str_of(&event, "timestamp");
    assert!(
        timestamp.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
        "{timestamp}"
    );
    assert!(
        answer.text.contains(&format!(r#""data":{data}"#)),
        "data bytes changed: {}",
        answer.text
    );
    assert!(
        answer.text.contains(&format!(r#""metadata":{metadata}"#)),
        "{}",
        answer.text
    );
    assert_eq!(
        answer.header("location"),
        Some(format!("/v1/events/{}", str_of(&event, "id")).as_str())
    );

    let shown = app
        .get(&format!("/v1/events/{}", str_of(&event, "id")))
        .await;
    assert_eq!(shown.status.as_u16(), 200);
    // The stored body's fields, byte for byte, then the event's deliveries (none here).
    let stored = answer.text.strip_suffix('}').unwrap();
    assert_eq!(
        shown.text,
        format!(r#"{stored},"deliveries":[]}}"#),
        "GET answers the stored bytes plus `deliveries`"
    );
}

#[tokio::test]
async fn metadata_defaults_to_an_empty_object() {
    let app = setup().await;
    let event = app
        .post(
            "/v1/events",
            json!({"type": "order.completed", "data": {"order": 7}}),
        )
        .await
        .expect(202);
    assert_eq!(event["metadata"], json!({}));
    let event = app
        .post(
            "/v1/events",
            json!({"type": "order.completed", "data": {}, "metadata": null}),
        )
        .await
        .expect(202);
    assert_eq!(event["metadata"], json!({}));
}

#[tokio::test]
async fn bad_events_are_refused_with_what_was_wrong() {
    let app = setup().await;
    let not_json = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&app.key),
            Some(b"type=user.created".to_vec()),
            &[],
        )
        .await;
    not_json.problem(400);
    for (data, got) in [
        (json!([1]), "an array"),
        (json!("x"), "a string"),
        (json!(3), "a number"),
        (Value::Null, "null"),
    ] {
        let detail = app
            .post("/v1/events", json!({"type": "user.created", "data": data}))
            .await
            .problem(422);
        assert!(
            detail.contains("`data` must be a JSON object") && detail.contains(got),
            "{detail}"
        );
    }
    let detail = app
        .post(
            "/v1/events",
            json!({"type": "user.created", "data": {}, "metadata": [1]}),
        )
        .await
        .problem(422);
    assert!(detail.contains("`metadata`"), "{detail}");
    let detail = app
        .post("/v1/events", json!({"data": {}}))
        .await
        .problem(422);
    assert!(detail.contains("missing field `type`"), "{detail}");
    let detail = app
        .post("/v1/events", json!({"type": "user.created"}))
        .await
        .problem(422);
    assert!(detail.contains("missing field `data`"), "{detail}");
    let detail = app
        .post(
            "/v1/events",
            json!({"type": "user.created", "data": {}, "id": "evt_mine"}),
        )
        .await
        .problem(422);
    assert!(detail.contains("unknown field `id`"), "{detail}");
}

#[tokio::test]
async fn unknown_types_are_422_saying_how_to_add_them() {
    let app = setup().await;
    let answer = app
        .post("/v1/events", json!({"type": "invoice.paid", "data": {}}))
        .await;
    let detail = answer.problem(422);
    assert!(
        detail.contains("`invoice.paid`") && detail.contains("not in this workspace's catalog"),
        "{detail}"
    );
    assert!(detail.contains("POST /v1/event-types"), "{detail}");
    assert_eq!(answer.json()["type"], "/problems/unknown-event-type");
    // Test events cannot be published by hand.
    app.post("/v1/events", json!({"type": "webhook.test", "data": {}}))
        .await
        .problem(422);
    let malformed = app
        .post("/v1/events", json!({"type": "User Created", "data": {}}))
        .await
        .problem(422);
    assert!(malformed.contains("lowercase words"), "{malformed}");
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_event_and_creates_nothing() {
    let app = setup().await;
    let hook = app.webhook(&["user.created"]).await;
    let hook_id = str_of(&hook, "id");
    let body = json!({"type": "user.created", "data": {"user_id": "usr_1"}})
        .to_string()
        .into_bytes();
    let headers = [("idempotency-key", "signup-usr_1")];
    let first = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&app.key),
            Some(body.clone()),
            &headers,
        )
        .await;
    first.expect(202);
    let second = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&app.key),
            Some(body),
            &headers,
        )
        .await;
    second.expect(202);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        second.text, first.text,
        "the replay answers the first event's bytes"
    );

    // Even a different body with the same key answers the first event.
    let other = json!({"type": "user.created", "data": {"user_id": "usr_2"}})
        .to_string()
        .into_bytes();
    let third = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&app.key),
            Some(other),
            &headers,
        )
        .await;
    assert_eq!(third.json()["id"], first.json()["id"]);

    assert_eq!(
        app.delivery_ids(hook_id).await.len(),
        1,
        "one delivery only"
    );
    assert_eq!(
        app.published_calls(),
        vec![vec![hook_id.to_owned()]],
        "lanes woken once"
    );

    // Another key is another event.
    let fresh = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&app.key),
            Some(br#"{"type":"user.created","data":{}}"#.to_vec()),
            &[("idempotency-key", "other")],
        )
        .await;
    assert_ne!(fresh.json()["id"], first.json()["id"]);
}

#[tokio::test]
async fn idempotency_keys_are_bounded() {
    let app = setup().await;
    let body = br#"{"type":"user.created","data":{}}"#.to_vec();
    let long = "k".repeat(256);
    let detail = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&app.key),
            Some(body.clone()),
            &[("idempotency-key", &long)],
        )
        .await
        .problem(400);
    assert!(detail.contains("255"), "{detail}");
    let max = "k".repeat(255);
    app.send(
        Method::POST,
        "/v1/events",
        Some(&app.key),
        Some(body),
        &[("idempotency-key", &max)],
    )
    .await
    .expect(202);
}

#[tokio::test]
async fn wake_lanes_gets_exactly_the_matching_enabled_webhooks() {
    let app = setup().await;
    let exact = app.webhook(&["user.created"]).await;
    let group = app.webhook(&["user.*"]).await;
    let all = app.webhook(&["*"]).await;
    let _orders = app.webhook(&["order.completed"]).await;
    let disabled = app.webhook(&["user.created"]).await;
    app.patch(
        &format!("/v1/webhooks/{}", str_of(&disabled, "id")),
        json!({"enabled": false}),
    )
    .await
    .expect(200);
    let before = app.published_calls().len();

    app.publish("user.created").await;
    let calls = app.published_calls()[before..].to_vec();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let woken: BTreeSet<&str> = calls[0].iter().map(String::as_str).collect();
    let expected = BTreeSet::from([
        str_of(&exact, "id"),
        str_of(&group, "id"),
        str_of(&all, "id"),
    ]);
    assert_eq!(woken, expected);

    // An event nobody subscribes to is accepted and wakes nobody.
    app.post(
        "/v1/event-types",
        json!({"type": "report.ready", "category": "Reports"}),
    )
    .await
    .expect(201);
    let only_all = app.publish("report.ready").await;
    assert!(str_of(&only_all, "id").starts_with("evt_"));
    assert_eq!(
        app.published_calls().last().unwrap(),
        &vec![str_of(&all, "id").to_owned()]
    );
}

#[tokio::test]
async fn a_group_subscription_matches_a_type_added_later() {
    let app = setup().await;
    let group = app.webhook(&["user.*"]).await;
    let exact = app.webhook(&["user.created"]).await;
    app.post(
        "/v1/event-types",
        json!({"type": "user.deleted", "category": "Users", "description": "User removed"}),
    )
    .await
    .expect(201);
    app.publish("user.deleted").await;
    assert_eq!(app.delivery_ids(str_of(&group, "id")).await.len(), 1);
    assert!(app.delivery_ids(str_of(&exact, "id")).await.is_empty());
    assert_eq!(
        app.published_calls(),
        vec![vec![str_of(&group, "id").to_owned()]]
    );
}
