//! Endpoint controls seen from the receiver: a rate-limited endpoint gets its backlog in
//! order and no faster than its limit; custom headers arrive on real attempts, follow a
//! change, and never reach the service's log.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::eventually;

use crate::delivery::wait_until_accepted;
use crate::support::{ADMIN_WEBHOOKS, Receiver, Recorded, Reply, Service};

/// Publishes `count` `user.created` events in batches of 100; their ids, in order.
async fn publish_backlog(service: &Service, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    while ids.len() < count {
        let batch: Vec<Value> = (ids.len()..count.min(ids.len() + 100))
            .map(|n| json!({ "type": "user.created", "data": { "n": n } }))
            .collect();
        let res = service
            .post("/v1/events/batch", json!({ "events": batch }))
            .await;
        assert_eq!(res.status(), 200);
        let answer: Value = res.json().await.unwrap();
        for item in answer["data"].as_array().unwrap() {
            assert_eq!(item["status"], 202, "{item}");
            ids.push(item["event"]["id"].as_str().unwrap().to_owned());
        }
    }
    ids
}

/// The accepted requests, one per event (the first 2xx of each), in arrival order.
fn accepted(seen: &[Recorded]) -> Vec<&Recorded> {
    let mut ids = std::collections::HashSet::new();
    seen.iter()
        .filter(|r| (200..300).contains(&r.status) && ids.insert(r.event_id()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_endpoint_gets_its_backlog_in_order_at_its_pace() {
    const EVENTS: usize = 200;
    const PER_SECOND: u32 = 20;
    // A spacing limit has no burst: the first attempt goes at once, then one per 1/20 s.
    const BURST: usize = 1;
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(
        dir.path(),
        &["--retry-base", "20ms", "--retry-cap", "100ms"],
    );
    let receiver = Receiver::start().await;
    let res = service
        .post(
            "/v1/webhooks",
            json!({
                "url": receiver.webhook_url(),
                "events": ["user.*"],
                "rate_limit": { "per_second": PER_SECOND },
            }),
        )
        .await;
    assert_eq!(res.status(), 201);

    // The endpoint is down while the events come: they wait in the store.
    let down = receiver.stop().await;
    let published = publish_backlog(&service, EVENTS).await;
    let back = Receiver::restart_on(down, |_| Reply::ok()).await;
    wait_until_accepted(&back, EVENTS, Duration::from_secs(60)).await;

    let seen = back.requests();
    let arrivals = accepted(&seen);
    let order: Vec<String> = arrivals.iter().map(|r| r.event_id()).collect();
    assert_eq!(order, published, "the backlog arrives in publish order");
    // Lower bounds only (a slow machine makes them longer, never shorter). An arrival
    // can be early by at most one request's latency against when its attempt started,
    // which the tolerance covers.
    let tolerance = Duration::from_millis(300);
    let spacing = Duration::from_secs(1) / PER_SECOND;
    let spread = arrivals[EVENTS - 1].at - arrivals[0].at;
    let least = spacing * (EVENTS - BURST) as u32 - tolerance;
    eprintln!("{EVENTS} events at {PER_SECOND}/s arrived over {spread:?} (least {least:?})");
    assert!(
        spread >= least,
        "{EVENTS} events at {PER_SECOND}/s took {spread:?}; at least {least:?} expected"
    );
    // Nor in bursts along the way: any 20 consecutive arrivals span about a second.
    for window in arrivals.windows(PER_SECOND as usize) {
        let span = window[window.len() - 1].at - window[0].at;
        assert!(
            span + tolerance >= spacing * (PER_SECOND - 1),
            "{PER_SECOND} arrivals within {span:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_headers_arrive_on_every_attempt_and_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    // Everything at debug level, as an operator chasing a problem would run it.
    let service = ADMIN_WEBHOOKS.start_with_env(
        dir.path(),
        &["--retry-base", "20ms", "--retry-cap", "40ms"],
        &[("RUST_LOG", "debug")],
    );
    // The first attempt fails, so the header must be on the retry too.
    let mut answered = 0;
    let receiver = Receiver::start_with(move |_| {
        answered += 1;
        if answered == 1 {
            Reply::status(503)
        } else {
            Reply::ok()
        }
    })
    .await;
    let token = "Bearer gateway-token-4f9c2e71d8";
    let tenant = "tenant-key-0b7a55e3";
    let res = service
        .post(
            "/v1/webhooks",
            json!({
                "url": receiver.webhook_url(),
                "events": ["user.*"],
                "headers": { "Authorization": token, "X-Tenant-Key": tenant },
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let hook: Value = res.json().await.unwrap();
    assert_eq!(hook["headers"]["Authorization"], "Bear…(31 chars)");
    let id = hook["id"].as_str().unwrap().to_owned();

    let first = service.publish("user.created", json!({ "n": 1 })).await;
    let seen = receiver.wait_for(2, Duration::from_secs(10)).await;
    for attempt in &seen[..2] {
        assert_eq!(attempt.event_id(), first);
        assert_eq!(attempt.header("authorization"), token);
        assert_eq!(attempt.header("x-tenant-key"), tenant);
        assert!(attempt.header("x-admin-signature").starts_with("sha256="));
    }

    // A change is sent from the next attempt on.
    let rotated = "Bearer gateway-token-rotated-93ab";
    let res = service
        .client
        .patch(service.url(&format!("/v1/webhooks/{id}")))
        .bearer_auth(crate::support::service::KEY)
        .json(&json!({ "headers": { "Authorization": rotated } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(
        changed["headers"],
        json!({ "Authorization": "Bear…(33 chars)" })
    );
    let second = service.publish("user.created", json!({ "n": 2 })).await;
    let seen = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(seen[2].event_id(), second);
    assert_eq!(seen[2].header("authorization"), rotated);
    assert!(seen[2].headers.get("x-tenant-key").is_none());

    // Lines are written in order: once a later request's line is in, so are the rest.
    let last = service.get("/v1/webhooks").await;
    let last_id = last.headers()["x-request-id"].to_str().unwrap().to_owned();
    eventually(
        Duration::from_secs(10),
        "the last request's log line",
        || async { service.log().contains(&last_id) },
    )
    .await;
    let log = service.log();
    assert!(
        log.contains("attempt failed"),
        "the failed attempt was logged"
    );
    for value in [token, tenant, rotated, "gateway-token"] {
        assert!(
            !log.contains(value),
            "the log shows a header value: {value}"
        );
    }
}
