//! Stopping the service politely (SIGTERM) keeps every promise: pending work survives, and
//! an attempt in flight finishes and is recorded before the process exits.

use std::time::Duration;

use serde_json::{Value, json};

use crate::delivery::poll_deliveries_until;
use crate::support::{ADMIN_WEBHOOKS, Receiver, Recorded, Reply};

#[tokio::test(flavor = "multi_thread")]
async fn pending_deliveries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--retry-base", "50ms", "--retry-cap", "200ms"];
    let service = ADMIN_WEBHOOKS.start(dir.path(), &flags);
    let addr = Receiver::start().await.stop().await;
    let (webhook, _) = service
        .create_webhook(&format!("http://{addr}/webhook"), &["order.completed"])
        .await;
    let mut published = Vec::new();
    for n in 0..5 {
        published.push(service.publish("order.completed", json!({ "n": n })).await);
    }
    assert!(
        service.terminate().success(),
        "SIGTERM ends the service cleanly"
    );

    let service = ADMIN_WEBHOOKS.start(dir.path(), &flags);
    let open = poll_deliveries_until(&service, &webhook, |ds| ds.len() == 5).await;
    assert!(
        open.iter()
            .all(|d| d["status"] == "pending" || d["status"] == "failed")
    );
    let receiver = Receiver::restart_on(addr, |_| Reply::ok()).await;
    let seen = receiver.wait_for(5, Duration::from_secs(30)).await;
    assert_eq!(
        seen.iter().map(Recorded::event_id).collect::<Vec<_>>(),
        published
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_attempt_in_flight_finish_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--attempt-timeout", "20s"];
    let service = ADMIN_WEBHOOKS.start(dir.path(), &flags);
    let receiver = Receiver::start_with(|_| Reply::ok().after(Duration::from_millis(1500))).await;
    let (webhook, _) = service
        .create_webhook(&receiver.webhook_url(), &["user.created"])
        .await;
    let event = service.publish("user.created", json!({ "n": 1 })).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;

    // The receiver is still thinking when the signal arrives.
    assert!(service.terminate().success());

    let service = ADMIN_WEBHOOKS.start(dir.path(), &flags);
    let page: Value = service
        .get(&format!("/v1/webhooks/{webhook}/deliveries"))
        .await
        .json()
        .await
        .unwrap();
    let delivery = &page["data"][0];
    assert_eq!(delivery["event_id"], event.as_str());
    assert_eq!(
        delivery["status"], "delivered",
        "the attempt in flight finished and was recorded"
    );
    assert_eq!(
        receiver.requests().len(),
        1,
        "nothing is sent twice after a clean stop"
    );
}
