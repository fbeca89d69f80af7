//! Issue 6, re-sending and rotating, seen from real receivers: a retried or replayed
//! delivery arrives in its original place in the endpoint's order (before later events
//! still waiting), an expired one re-sent gets a fresh retention window, and during a
//! secret rotation's grace both secrets verify with independent verifiers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use test_support::{clock_past, instant_between};
use verify::{DEFAULT_TOLERANCE_SECS, verify_admin_signature, verify_standard};

use crate::delivery::poll_deliveries_until;
use crate::support::{ADMIN_WEBHOOKS, Receiver, Recorded, Reply, Service};

/// A receiver that answers 503 while the switch is on, 200 otherwise.
async fn switchable_receiver(failing: &Arc<AtomicBool>) -> Receiver {
    let failing = failing.clone();
    Receiver::start_with(move |_| {
        if failing.load(Ordering::SeqCst) {
            Reply::status(503)
        } else {
            Reply::ok()
        }
    })
    .await
}

pub async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}"))
}

/// The id of `event`'s delivery to `webhook`, as `GET /v1/events/{id}` lists it.
pub async fn delivery_of(service: &Service, webhook: &str, event: &str) -> String {
    let shown = json_of(service.get(&format!("/v1/events/{event}")).await).await;
    let found = shown["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["webhook_id"] == webhook)
        .unwrap_or_else(|| panic!("no delivery of {event} to {webhook}: {shown}"));
    found["id"].as_str().unwrap().to_owned()
}

fn trace(seen: &[Recorded]) -> Vec<(String, u16)> {
    seen.iter().map(|r| (r.event_id(), r.status)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_delivered_event_arrives_before_later_waiting_ones() {
    let dir = tempfile::tempdir().unwrap();
    // A failed head waits 2.4–3 s: long enough to retry an earlier event meanwhile.
    let service = ADMIN_WEBHOOKS.start(dir.path(), &["--retry-base", "3s", "--retry-cap", "3s"]);
    let failing = Arc::new(AtomicBool::new(false));
    let receiver = switchable_receiver(&failing).await;
    let (hook, _) = service
        .create_webhook(&receiver.webhook_url(), &["user.*"])
        .await;

    let e1 = service.publish("user.created", json!({"n": 1})).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    failing.store(true, Ordering::SeqCst);
    let e2 = service.publish("user.created", json!({"n": 2})).await;
    let e3 = service.publish("user.created", json!({"n": 3})).await;
    receiver.wait_for(2, Duration::from_secs(10)).await;
    // e2 failed and holds its place in backoff; e3 waits behind it.
    failing.store(false, Ordering::SeqCst);

    let d1 = delivery_of(&service, &hook, &e1).await;
    let res = service
        .post(&format!("/v1/deliveries/{d1}/retry"), json!({}))
        .await;
    assert_eq!(res.status(), 202);
    let retried = json_of(res).await;
    assert_eq!(
        (&retried["status"], &retried["attempt_count"]),
        (&json!("pending"), &json!(1))
    );

    let seen = receiver.wait_for(5, Duration::from_secs(15)).await;
    assert_eq!(
        trace(&seen),
        [
            (e1.clone(), 200),
            (e2.clone(), 503),
            (e1.clone(), 200),
            (e2.clone(), 200),
            (e3.clone(), 200)
        ],
        "the re-sent e1 took its original place, ahead of e2 (in backoff) and e3"
    );
    let detail = json_of(service.get(&format!("/v1/deliveries/{d1}")).await).await;
    assert_eq!(
        (&detail["status"], &detail["attempt_count"]),
        (&json!("delivered"), &json!(2))
    );
    assert_eq!(detail["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(
        seen[0].header("idempotency-key"),
        seen[2].header("idempotency-key"),
        "a re-send is the same event to the receiver"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_expired_delivery_gets_a_fresh_retention_window() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(
        dir.path(),
        &[
            "--retention",
            "1s",
            "--retry-base",
            "100ms",
            "--retry-cap",
            "200ms",
        ],
    );
    let failing = Arc::new(AtomicBool::new(true));
    let receiver = switchable_receiver(&failing).await;
    let (hook, _) = service
        .create_webhook(&receiver.webhook_url(), &["user.*"])
        .await;
    let event = service.publish("user.created", json!({"n": 1})).await;
    poll_deliveries_until(&service, &hook, |ds| {
        ds.iter().any(|d| d["status"] == "expired")
    })
    .await;
    failing.store(false, Ordering::SeqCst);
    // Well past the retention counted from the event (twice the 1 s): only a fresh
    // window lets it go.
    let published_at: DateTime<Utc> = json_of(service.get(&format!("/v1/events/{event}")).await)
        .await["timestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    clock_past(published_at + chrono::Duration::seconds(2)).await;
    let tries_before = receiver.requests().len();

    let delivery = delivery_of(&service, &hook, &event).await;
    let res = service
        .post(&format!("/v1/deliveries/{delivery}/retry"), json!({}))
        .await;
    assert_eq!(res.status(), 202);
    let seen = receiver
        .wait_for(tries_before + 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        trace(&seen[tries_before..]),
        [(event.clone(), 200)],
        "sent once more and accepted"
    );
    let deliveries = poll_deliveries_until(&service, &hook, |ds| {
        ds.iter().any(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(deliveries[0]["attempt_count"], json!(tries_before + 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_resends_a_range_in_order_before_later_waiting_events() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &["--retry-base", "3s", "--retry-cap", "3s"]);
    let failing = Arc::new(AtomicBool::new(false));
    let receiver = switchable_receiver(&failing).await;
    let (hook, _) = service
        .create_webhook(&receiver.webhook_url(), &["user.*"])
        .await;

    let e1 = service.publish("user.created", json!({"n": 1})).await;
    let since = instant_between().await;
    let e2 = service.publish("user.created", json!({"n": 2})).await;
    let e3 = service.publish("user.created", json!({"n": 3})).await;
    let until = instant_between().await;
    let e4 = service.publish("user.created", json!({"n": 4})).await;
    receiver.wait_for(4, Duration::from_secs(10)).await;
    failing.store(true, Ordering::SeqCst);
    let e5 = service.publish("user.created", json!({"n": 5})).await;
    receiver.wait_for(5, Duration::from_secs(10)).await;
    failing.store(false, Ordering::SeqCst);

    let path = format!("/v1/webhooks/{hook}/replay");
    let res = service
        .post(
            &path,
            json!({"since": since, "until": until, "status": "delivered"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(json_of(res).await, json!({"replayed": 2}));
    let seen = receiver.wait_for(8, Duration::from_secs(15)).await;
    assert_eq!(
        trace(&seen),
        [
            (e1.clone(), 200),
            (e2.clone(), 200),
            (e3.clone(), 200),
            (e4.clone(), 200),
            (e5.clone(), 503),
            (e2.clone(), 200),
            (e3.clone(), 200),
            (e5.clone(), 200)
        ],
        "the replayed range arrives in its order, ahead of e5 in backoff"
    );
    let res = service
        .post(&path, json!({"since": since, "status": "expired"}))
        .await;
    assert_eq!(json_of(res).await, json!({"replayed": 0}));
    let res = service.post(&path, json!({"until": until})).await;
    assert_eq!(res.status(), 422);
}

/// Both signature schemes of one request, checked against `secret`.
fn verifies(seen: &Recorded, secret: &str) -> (bool, bool, bool) {
    let admin = verify_admin_signature(secret, &seen.body, seen.header("x-admin-signature"));
    let standard = verify_standard(
        secret,
        seen.header("webhook-id"),
        seen.header("webhook-timestamp"),
        seen.header("webhook-signature"),
        &seen.body,
        Utc::now().timestamp(),
        DEFAULT_TOLERANCE_SECS,
    );
    let library = standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&seen.body, &seen.headers);
    (admin.is_ok(), standard.is_ok(), library.is_ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn during_a_rotation_grace_both_secrets_verify() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &["--secret-grace", "3s"]);
    let receiver = Receiver::start().await;
    let (hook, old) = service
        .create_webhook(&receiver.webhook_url(), &["user.*"])
        .await;

    let res = service
        .post(&format!("/v1/webhooks/{hook}/secret/rotate"), json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let rotated = json_of(res).await;
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let grace_end: DateTime<Utc> = rotated["previous_secret_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(grace_end > Utc::now() && grace_end <= Utc::now() + chrono::Duration::seconds(3));

    service.publish("user.created", json!({"n": 1})).await;
    let during = receiver
        .wait_for(1, Duration::from_secs(10))
        .await
        .remove(0);
    assert_eq!(
        during.header("webhook-signature").split(' ').count(),
        2,
        "both signatures during the grace"
    );
    // X-Admin-Signature carries the new secret's signature only (README).
    assert_eq!(verifies(&during, &new), (true, true, true));
    assert_eq!(verifies(&during, &old), (false, true, true));

    clock_past(grace_end + chrono::Duration::milliseconds(200)).await;
    service.publish("user.created", json!({"n": 2})).await;
    let after = receiver
        .wait_for(2, Duration::from_secs(10))
        .await
        .remove(1);
    assert_eq!(after.header("webhook-signature").split(' ').count(), 1);
    assert_eq!(verifies(&after, &new), (true, true, true));
    assert_eq!(verifies(&after, &old), (false, false, false));
}
