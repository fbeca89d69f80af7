//! The log: structured JSON, a request id on every line written for a request (echoed in
//! `X-Request-Id` and problem bodies), and never an API key, a signing secret or an
//! event's data, even with every module logging at debug level.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::eventually;

use crate::support::service::KEY;
use crate::support::{ADMIN_WEBHOOKS, Receiver};

#[tokio::test(flavor = "multi_thread")]
async fn the_log_carries_request_ids_and_no_keys_secrets_or_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start_with_env(dir.path(), &[], &[("RUST_LOG", "debug")]);
    let receiver = Receiver::start().await;
    let (_, secret) = service
        .create_webhook(&receiver.webhook_url(), &["user.created"])
        .await;
    let marker = "payload-marker-7f3a91c2";
    let res = service
        .post(
            "/v1/events",
            json!({ "type": "user.created", "data": { "email": marker } }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let published_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(published_id.starts_with("req_"), "{published_id}");
    receiver.wait_for(1, Duration::from_secs(10)).await;

    // A refusal: its problem body carries the request id, and so does its log line.
    let refused = service
        .client
        .post(service.url("/v1/events"))
        .bearer_auth(KEY)
        .header("x-request-id", "client-chosen-id-42")
        .json(&json!({ "type": "no.such", "data": { "email": marker } }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert_eq!(refused.headers()["x-request-id"], "client-chosen-id-42");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["request_id"], "client-chosen-id-42");
    // An id that is not a plain token is replaced, not logged.
    let replaced = service
        .client
        .get(service.url("/v1/webhooks"))
        .bearer_auth(KEY)
        .header("x-request-id", "evil\"id with spaces")
        .send()
        .await
        .unwrap();
    assert!(
        replaced.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    // Lines are written asynchronously, in order: once the last request's line is in,
    // so are the others.
    let replaced_id = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    eventually(
        Duration::from_secs(10),
        "the last request's log line",
        || async { service.log().contains(&replaced_id) },
    )
    .await;

    let log = service.log();
    for (what, needle) in [
        ("the API key", KEY),
        ("the webhook secret", secret.as_str()),
        ("the event data", marker),
        ("a rejected request id", "evil"),
    ] {
        assert!(!log.contains(needle), "the log holds {what}:\n{log}");
    }
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let of_request = |id: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["span"]["request_id"] == id)
            .collect()
    };
    let refused_lines = of_request("client-chosen-id-42");
    assert!(
        refused_lines.iter().any(|l| l["span"]["status"] == 422
            && l["span"]["route"] == "/v1/events"
            && l["span"]["method"] == "POST"
            && l["span"]["latency_ms"].is_number()),
        "the refusal's line: {refused_lines:?}"
    );
    assert!(
        !of_request(&published_id).is_empty(),
        "the publish's lines carry its id"
    );
}
