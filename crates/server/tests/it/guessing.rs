//! Guessing keys against the real service: the TCP peer's address reaches the limit of
//! failed authentications through the service's own HTTP server, the counter shows in
//! `/metrics`, and keys too short to be safe keep the service from starting.

use std::process::Command;

use crate::support::ADMIN_WEBHOOKS;
use crate::support::service::KEY;

const WRONG: &str = "awk_not_a_key_of_anyone_0000000000000000000000";

/// The value of the failure counter's series with these labels.
fn failures(metrics: &str, edge: &str, outcome: &str) -> Option<u64> {
    let series =
        format!("admin_webhooks_auth_failures_total{{edge=\"{edge}\",outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map(|n| n.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_limits_failures_per_address_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(
        dir.path(),
        &["--auth-failure-limit", "1/h", "--auth-failure-burst", "2"],
    );
    let metrics = service.get("/metrics").await.text().await.unwrap();
    for (edge, outcome) in [
        ("api", "refused"),
        ("api", "limited"),
        ("dashboard", "refused"),
        ("dashboard", "limited"),
    ] {
        assert_eq!(
            failures(&metrics, edge, outcome),
            Some(0),
            "{edge}/{outcome} is there from the start:\n{metrics}"
        );
    }
    let wrong = async || {
        service
            .client
            .get(service.url("/v1/webhooks"))
            .bearer_auth(WRONG)
            .send()
            .await
            .unwrap()
    };
    assert_eq!(wrong().await.status(), 401);
    assert_eq!(wrong().await.status(), 401);
    let limited = wrong().await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    // The bootstrap key, from the same address, is not refused.
    assert_eq!(service.get("/v1/webhooks").await.status(), 200);

    let metrics = service.get("/metrics").await.text().await.unwrap();
    assert_eq!(failures(&metrics, "api", "refused"), Some(2), "{metrics}");
    assert_eq!(failures(&metrics, "api", "limited"), Some(1), "{metrics}");
    assert!(service.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_shorter_than_32_characters_keep_the_service_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    assert!(KEY.len() >= 32, "the tests' own key is long enough");
    for variable in [
        "ADMIN_WEBHOOKS_BOOTSTRAP_KEY",
        "ADMIN_WEBHOOKS_OPERATOR_KEY",
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_admin-webhooks"))
            .args(["serve", "--listen", "127.0.0.1:0", "--dev", "--data-dir"])
            .arg(dir.path())
            .env_remove("ADMIN_WEBHOOKS_BOOTSTRAP_KEY")
            .env_remove("ADMIN_WEBHOOKS_OPERATOR_KEY")
            .env(variable, "awk_my_local_trial_key_123456")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{variable}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(variable) && stderr.contains("at least 32 characters"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("trial_key"),
            "the key is not echoed: {stderr}"
        );
    }
}
