//! Delivery promises seen from the receiver: order per endpoint under failures, outages
//! drained in order by nobody, slow endpoints not holding up others, expiry moving on.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use test_support::poll_until;

use crate::support::{ADMIN_WEBHOOKS, Receiver, Recorded, Reply, Service};

const FAST_RETRY: [&str; 4] = ["--retry-base", "10ms", "--retry-cap", "40ms"];

/// Checks what one receiver saw against the publish order: it never goes backwards, never
/// skips, and ends with every event accepted once in order.
pub fn assert_in_order(seen: &[Recorded], published: &[String]) {
    let position: HashMap<&str, usize> = published
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut expected_next = 0usize;
    for r in seen {
        let at = *position
            .get(r.event_id().as_str())
            .unwrap_or_else(|| panic!("unknown event {}", r.event_id()));
        // A request is either the current head again (retry, or a duplicate of the one just
        // accepted) or the next one.
        assert!(
            at + 1 == expected_next || at == expected_next,
            "event #{at} arrived while #{expected_next} was the head: order broken"
        );
        if (200..300).contains(&r.status) && at == expected_next {
            expected_next += 1;
        }
    }
    assert_eq!(
        expected_next,
        published.len(),
        "not every event was accepted"
    );
}

#[test]
fn order_holds_under_randomized_failures() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &FAST_RETRY);
    let mut runner = TestRunner::new(Config {
        cases: 12,
        failure_persistence: None,
        ..Config::default()
    });
    // Each request draws its answer from the pattern in turn: 200, 500, 429 or 503.
    let strategy = (
        proptest::collection::vec(
            prop_oneof![3 => Just(200u16), 1 => Just(500u16), 1 => Just(503u16), 1 => Just(429u16)],
            1..24,
        ),
        1usize..15,
    );
    runner
        .run(&strategy, |(pattern, events)| {
            runtime.block_on(async {
                let next = Arc::new(AtomicUsize::new(0));
                // A pattern without a 2xx would refuse forever; the cycle ends in one.
                let mut answers = pattern.clone();
                answers.push(200);
                let receiver = Receiver::start_with(move |_| {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    Reply::status(answers[i % answers.len()])
                })
                .await;
                let (_id, _secret) = service
                    .create_webhook(&receiver.webhook_url(), &["user.*"])
                    .await;
                let mut published = Vec::new();
                for n in 0..events {
                    published.push(service.publish("user.created", json!({ "n": n })).await);
                }
                let deadline = Duration::from_secs(30);
                wait_until_accepted(&receiver, published.len(), deadline).await;
                assert_in_order(&receiver.requests(), &published);
            });
            Ok(())
        })
        .unwrap();
}

/// Waits until `count` requests got a 2xx.
pub async fn wait_until_accepted(receiver: &Receiver, count: usize, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    let mut seen = 0;
    loop {
        let got = receiver
            .wait_for(
                seen + 1,
                deadline.saturating_duration_since(std::time::Instant::now()),
            )
            .await;
        seen = got.len();
        let accepted = got
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .count();
        if accepted >= count {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_drains_in_order_with_nobody_acting() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(
        dir.path(),
        &["--retry-base", "20ms", "--retry-cap", "200ms"],
    );
    let receiver = Receiver::start().await;
    let (_id, _) = service
        .create_webhook(&receiver.webhook_url(), &["*"])
        .await;
    let first = service
        .publish("order.completed", json!({ "n": "before" }))
        .await;
    receiver.wait_for(1, Duration::from_secs(10)).await;

    // The endpoint goes down; events keep coming and wait in the store.
    let addr = receiver.stop().await;
    let mut published = vec![first];
    for n in 0..20 {
        published.push(service.publish("order.completed", json!({ "n": n })).await);
    }
    // Wait for a failed attempt to be on record before the endpoint comes back.
    let deliveries = poll_deliveries_until(&service, &_id, |ds| {
        ds.iter().any(|d| d["status"] == "failed")
    })
    .await;
    assert!(deliveries.iter().any(|d| d["status"] == "failed"));

    let back = Receiver::restart_on(addr, |_| Reply::ok()).await;
    let seen = back.wait_for(20, Duration::from_secs(30)).await;
    let ids: Vec<String> = seen.iter().map(Recorded::event_id).collect();
    assert_eq!(
        ids,
        published[1..].to_vec(),
        "the backlog arrives once each, in publish order"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_endpoint_times_out_without_holding_up_another() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(
        dir.path(),
        &["--attempt-timeout", "500ms", "--retry-base", "10s"],
    );
    let slow = Receiver::start_with(|_| Reply::ok().after(Duration::from_secs(30))).await;
    let fast = Receiver::start().await;
    let (slow_id, _) = service
        .create_webhook(&slow.webhook_url(), &["user.created"])
        .await;
    service
        .create_webhook(&fast.webhook_url(), &["user.created"])
        .await;

    let mut published = Vec::new();
    for n in 0..10 {
        published.push(service.publish("user.created", json!({ "n": n })).await);
    }
    let got = fast.wait_for(10, Duration::from_secs(10)).await;
    assert_eq!(
        got.iter().map(Recorded::event_id).collect::<Vec<_>>(),
        published
    );
    // The slow endpoint saw only its head, which timed out and waits for its retry.
    assert_eq!(slow.requests().len(), 1);
    let deliveries = poll_deliveries_until(&service, &slow_id, |ds| {
        ds.iter().any(|d| d["status"] == "failed")
    })
    .await;
    let failed = deliveries.iter().find(|d| d["status"] == "failed").unwrap();
    let detail: Value = service
        .get(&format!(
            "/v1/deliveries/{}",
            failed["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["attempts"][0]["error_class"], "timeout");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_head_lets_the_lane_move_on() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(
        dir.path(),
        &[
            "--retention",
            "3s",
            "--retry-base",
            "100ms",
            "--retry-cap",
            "300ms",
        ],
    );
    // The receiver refuses the poisoned event forever and accepts everything else.
    let receiver = Receiver::start_with(|r| {
        if r.json()["data"]["poison"] == true {
            Reply::status(500)
        } else {
            Reply::ok()
        }
    })
    .await;
    let (id, _) = service
        .create_webhook(&receiver.webhook_url(), &["system.alert"])
        .await;
    let doomed = service
        .publish("system.alert", json!({ "poison": true }))
        .await;
    // The later event is published once the head has failed twice, so it is young enough
    // to be delivered when the head expires (both would expire together otherwise).
    receiver.wait_for(2, Duration::from_secs(10)).await;
    let after = service
        .publish("system.alert", json!({ "poison": false }))
        .await;

    wait_until_accepted(&receiver, 1, Duration::from_secs(20)).await;
    let seen = receiver.requests();
    let accepted: Vec<String> = seen
        .iter()
        .filter(|r| r.status == 200)
        .map(Recorded::event_id)
        .collect();
    assert_eq!(accepted, vec![after.clone()]);
    // The later event waited: every attempt of the doomed head came before it.
    let first_after = seen.iter().position(|r| r.event_id() == after).unwrap();
    assert!(seen[..first_after].iter().all(|r| r.event_id() == doomed));
    assert!(first_after >= 2, "the head was retried before it expired");
    let deliveries = poll_deliveries_until(&service, &id, |ds| {
        ds.iter().any(|d| d["status"] == "expired")
    })
    .await;
    let doomed_delivery = deliveries
        .iter()
        .find(|d| d["event_id"] == doomed.as_str())
        .unwrap();
    assert_eq!(doomed_delivery["status"], "expired");
}

/// Polls the webhook's delivery list until `done` holds (or fails after 20 s).
pub async fn poll_deliveries_until(
    service: &Service,
    webhook: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let list = || async {
        let page: Value = service
            .get(&format!("/v1/webhooks/{webhook}/deliveries?limit=100"))
            .await
            .json()
            .await
            .unwrap();
        page["data"].as_array().cloned().unwrap_or_default()
    };
    let reached = poll_until(Duration::from_secs(20), || async {
        let data = list().await;
        done(&data).then_some(data)
    })
    .await;
    match reached {
        Some(data) => data,
        None => panic!(
            "deliveries never reached the expected state: {:?}",
            list().await
        ),
    }
}
