//! Operational alerts reach the workspace's own endpoints as `system.alert` events: once
//! per continuous failure of an endpoint, not per attempt or per check, and again only
//! after the endpoint succeeded and started failing anew.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use test_support::eventually;
use tokio::time::Instant;

use crate::support::{ADMIN_WEBHOOKS, Receiver, Reply};

/// Waits for an attempt at `failing` that arrived at `moment` or later: the failure went
/// on at least that long.
async fn attempted_after(failing: &Receiver, moment: Instant) {
    eventually(
        Duration::from_secs(10),
        "an attempt after the window",
        || async { failing.requests().iter().any(|r| r.at >= moment) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_reaches_a_subscribed_receiver_once_per_continuous_failure() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(
        dir.path(),
        &[
            "--alert-after",
            "1s",
            "--monitor-interval",
            "100ms",
            "--retry-base",
            "100ms",
            "--retry-cap",
            "200ms",
        ],
    );
    let healthy = Arc::new(AtomicBool::new(false));
    let answers = healthy.clone();
    let failing = Receiver::start_with(move |_| {
        if answers.load(Ordering::SeqCst) {
            Reply::ok()
        } else {
            Reply::status(500)
        }
    })
    .await;
    let watcher = Receiver::start().await;
    let (failing_id, failing_secret) = service
        .create_webhook(&failing.webhook_url(), &["user.created"])
        .await;
    service
        .create_webhook(&watcher.webhook_url(), &["system.alert"])
        .await;

    service.publish("user.created", json!({ "n": 1 })).await;
    let alerts = watcher.wait_for(1, Duration::from_secs(15)).await;
    let alert = alerts[0].json();
    assert_eq!(alert["type"], "system.alert", "{alert}");
    let data = &alert["data"];
    assert_eq!(data["alert"], "endpoint_failing", "{alert}");
    assert_eq!(data["webhook"]["id"], failing_id.as_str());
    assert_eq!(data["webhook"]["url"], failing.webhook_url().as_str());
    assert!(data["pending"].as_u64().unwrap() >= 1, "{alert}");
    assert!(data["since"].as_str().unwrap().ends_with('Z'), "{alert}");
    assert!(
        !alert.to_string().contains(&failing_secret),
        "never the endpoint's secret"
    );
    // It is an event of the workspace like any other: in its log, too.
    let listed: Value = service
        .get("/v1/events?type=system.alert")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");

    // The failure goes on through many more attempts and checks: still one alert. The
    // window is over once an attempt arrives 1.5 s (more than `--alert-after`) after the
    // alert did.
    let attempts_then = failing.requests().len();
    let counted_at = Instant::now();
    attempted_after(
        &failing,
        (alerts[0].at + Duration::from_millis(1500)).max(counted_at),
    )
    .await;
    assert!(
        failing.requests().len() > attempts_then,
        "still being retried"
    );
    assert_eq!(
        watcher.requests().len(),
        1,
        "one alert per continuous failure"
    );

    // The endpoint recovers (re-arming the alert), then fails again for long enough.
    healthy.store(true, Ordering::SeqCst);
    eventually(
        Duration::from_secs(10),
        "the endpoint to recover",
        || async { failing.requests().iter().any(|r| r.status == 200) },
    )
    .await;
    healthy.store(false, Ordering::SeqCst);
    service.publish("user.created", json!({ "n": 2 })).await;
    let alerts = watcher.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(alerts[1].json()["data"]["alert"], "endpoint_failing");
    assert_ne!(
        alerts[1].json()["data"]["since"],
        alerts[0].json()["data"]["since"],
        "a new run of failures"
    );
    // No third alert while the new failure goes on: an attempt 800 ms after the second
    // alert closes the window.
    attempted_after(&failing, alerts[1].at + Duration::from_millis(800)).await;
    assert_eq!(watcher.requests().len(), 2);
}
