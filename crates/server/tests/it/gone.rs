//! Issue 13, Standard Webhooks answers through the real service: a receiver answering
//! `410 Gone` gets its endpoint disabled, with the 410 in the activity log and one
//! `system.alert` saying how to re-enable it; the deliveries queued behind wait and go
//! out in order once it is re-enabled. The 503s before it count as throttling in stats.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use test_support::eventually;

use crate::resend::{delivery_of, json_of};
use crate::support::service::KEY;
use crate::support::{ADMIN_WEBHOOKS, Receiver, Reply, Service};

const OVERLOADED: u8 = 0;
const GONE: u8 = 1;
const BACK: u8 = 2;

const GONE_MESSAGE: &str = "the receiver answered 410 Gone; the endpoint was disabled";

/// Polls `GET path` until `done` holds, failing the test after 15 s.
async fn poll_until(service: &Service, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let awaited = format!("{path} to get there");
    eventually(Duration::from_secs(15), &awaited, || async {
        let body = json_of(service.get(path).await).await;
        done(&body).then_some(body)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_410_disables_the_endpoint_alerts_once_and_its_backlog_waits() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(
        dir.path(),
        &[
            "--monitor-interval",
            "100ms",
            "--retry-base",
            "20ms",
            "--retry-cap",
            "50ms",
        ],
    );
    let mode = Arc::new(AtomicU8::new(OVERLOADED));
    let answers = mode.clone();
    let receiver = Receiver::start_with(move |_| match answers.load(Ordering::SeqCst) {
        OVERLOADED => Reply::status(503),
        GONE => Reply::status(410),
        _ => Reply::ok(),
    })
    .await;
    let watcher = Receiver::start().await;
    let (hook, secret) = service
        .create_webhook(&receiver.webhook_url(), &["user.created"])
        .await;
    service
        .create_webhook(&watcher.webhook_url(), &["system.alert"])
        .await;

    // The head is being retried while two more events queue behind it; then it is gone.
    let first = service.publish("user.created", json!({ "n": 1 })).await;
    receiver.wait_for(1, Duration::from_secs(15)).await;
    let queued = [
        service.publish("user.created", json!({ "n": 2 })).await,
        service.publish("user.created", json!({ "n": 3 })).await,
    ];
    mode.store(GONE, Ordering::SeqCst);
    poll_until(&service, &format!("/v1/webhooks/{hook}"), |w| {
        w["enabled"] == false
    })
    .await;

    // One alert, naming the endpoint (never its secret) and how to re-enable it.
    let alerts = watcher.wait_for(1, Duration::from_secs(15)).await;
    let alert = alerts[0].json();
    let data = &alert["data"];
    assert_eq!(data["alert"], "disabled_gone", "{alert}");
    assert_eq!(data["webhook"]["id"], hook.as_str());
    assert_eq!(data["webhook"]["url"], receiver.webhook_url().as_str());
    assert!(data["since"].as_str().unwrap().ends_with('Z'), "{alert}");
    assert_eq!(data["reenable"]["method"], "PATCH");
    assert_eq!(
        data["reenable"]["path"],
        format!("/v1/webhooks/{hook}").as_str()
    );
    assert_eq!(data["reenable"]["body"], json!({ "enabled": true }));
    assert!(data["message"].as_str().unwrap().contains("410 Gone"));
    assert!(!alert.to_string().contains(&secret));

    // The activity log: the head's last attempt is the 410 with its message; it stays
    // open, and the two behind it were never attempted.
    let head = delivery_of(&service, &hook, &first).await;
    let detail = json_of(service.get(&format!("/v1/deliveries/{head}")).await).await;
    assert_eq!(
        (&detail["status"], &detail["last_status_code"]),
        (&json!("failed"), &json!(410)),
        "{detail}"
    );
    assert!(
        detail["last_error"]
            .as_str()
            .unwrap()
            .contains(GONE_MESSAGE),
        "{detail}"
    );
    let attempts = detail["attempts"].as_array().unwrap();
    let gone: Vec<&Value> = attempts
        .iter()
        .filter(|a| a["status_code"] == 410)
        .collect();
    assert_eq!(gone.len(), 1, "{detail}");
    assert_eq!(
        (&gone[0]["error_class"], &gone[0]["error_message"]),
        (&json!("gone"), &json!(GONE_MESSAGE))
    );
    for event in &queued {
        let waiting = delivery_of(&service, &hook, event).await;
        let shown = json_of(service.get(&format!("/v1/deliveries/{waiting}")).await).await;
        assert_eq!(
            (&shown["status"], &shown["attempt_count"]),
            (&json!("pending"), &json!(0)),
            "{shown}"
        );
    }
    let sent = receiver.requests();
    assert!(sent.iter().all(|r| r.event_id() == first), "only the head");
    assert_eq!(sent.len(), attempts.len());

    // Stats: every answer before the 410 was a 503, counted as throttling.
    let stats = json_of(
        service
            .get(&format!("/v1/webhooks/{hook}/stats?window=1h"))
            .await,
    )
    .await;
    assert_eq!(stats["failures"], attempts.len(), "{stats}");
    assert_eq!(stats["throttled"], attempts.len() - 1, "{stats}");

    // Re-enabled, the receiver gets the waiting deliveries, in order.
    mode.store(BACK, Ordering::SeqCst);
    let enable = service
        .client
        .patch(service.url(&format!("/v1/webhooks/{hook}")))
        .bearer_auth(KEY)
        .json(&json!({ "enabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(enable.status(), 200);
    let all = receiver
        .wait_for(sent.len() + 3, Duration::from_secs(15))
        .await;
    let resumed: Vec<String> = all[sent.len()..].iter().map(|r| r.event_id()).collect();
    assert_eq!(
        resumed,
        [first.clone(), queued[0].clone(), queued[1].clone()]
    );
    assert!(all[sent.len()..].iter().all(|r| r.status == 200));
    assert_eq!(watcher.requests().len(), 1, "one alert for one 410");
}
