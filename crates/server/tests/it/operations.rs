//! What the team running the service watches: `/metrics` moves with the work.

use std::time::Duration;

use serde_json::json;

use crate::support::{Receiver, Reply, Service};

/// The value of one series in a Prometheus text page (0 when absent).
fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics(service: &Service) -> String {
    let res = service
        .client
        .get(service.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    res.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_publishes_and_failed_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), &["--retry-base", "1h", "--retry-cap", "1h"]);
    let receiver = Receiver::start_with(|_| Reply::status(500)).await;
    service
        .create_webhook(&receiver.url(), &["user.created"])
        .await;

    let before = metrics(&service).await;
    service.publish("user.created", json!({ "n": 1 })).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;

    let accepted = r#"admin_webhooks_events_published_total{result="accepted"}"#;
    let failed = r#"admin_webhooks_attempts_total{outcome="failed",error_class="http_status"}"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let after = metrics(&service).await;
        if sample(&after, failed) >= sample(&before, failed) + 1.0 {
            assert_eq!(
                sample(&after, accepted),
                sample(&before, accepted) + 1.0,
                "{after}"
            );
            assert!(
                after.contains("admin_webhooks_publish_duration_seconds_bucket"),
                "{after}"
            );
            assert!(
                !after.contains("wh_") && !after.contains("evt_"),
                "no ids as labels"
            );
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the failed attempt never showed: {after}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
