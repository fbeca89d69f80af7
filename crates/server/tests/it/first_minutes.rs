//! The README's first ten minutes, each step that used to trip a newcomer: a bootstrap key
//! given to a store that already has one is reported, not silently ignored; `/metrics`
//! lists every counter at 0 before any traffic; a failed attempt is logged at `info`;
//! pretty logs written to a pipe carry no colour escapes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::service::KEY;
use crate::support::{ADMIN_WEBHOOKS, Receiver, Reply, Service};
use test_support::eventually;

/// Polls `service`'s log until `found` holds for it, or panics after 10 s.
async fn wait_for_log(service: &Service, what: &str, found: impl Fn(&str) -> bool) -> String {
    let awaited = format!("{what} in the log");
    eventually(Duration::from_secs(10), &awaited, || async {
        let log = service.log();
        found(&log).then_some(log)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bootstrap_key_given_to_a_store_that_has_a_workspace_is_reported_as_ignored() {
    let dir = tempfile::tempdir().unwrap();
    // The README's order before the fix: a first start without a key made the store ...
    let first = ADMIN_WEBHOOKS.start_unconfigured(dir.path());
    assert!(first.terminate().success());
    // ... then the key is exported and the service started again.
    let again = ADMIN_WEBHOOKS.start(dir.path(), &[]);
    let log = wait_for_log(&again, "warning", |log| {
        log.contains("ignoring ADMIN_WEBHOOKS_BOOTSTRAP_KEY")
    })
    .await;
    let warning: Value = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| {
            line["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("ignoring ADMIN_WEBHOOKS_BOOTSTRAP_KEY"))
        })
        .unwrap();
    assert_eq!(warning["level"], "WARN");
    let message = warning["fields"]["message"].as_str().unwrap();
    assert!(message.contains("already has a workspace"), "{message}");
    assert!(!log.contains(KEY), "the key itself is never logged");
    // It was indeed ignored: the key the warning is about does not authenticate.
    let res = again.get("/v1/webhooks").await;
    assert_eq!(res.status(), 401);

    // On an empty store the same key is used, and nothing is reported.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = ADMIN_WEBHOOKS.start(fresh_dir.path(), &[]);
    assert_eq!(fresh.get("/v1/webhooks").await.status(), 200);
    assert!(
        !fresh
            .log()
            .contains("ignoring ADMIN_WEBHOOKS_BOOTSTRAP_KEY")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_list_every_counter_at_zero_before_any_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &[]);
    let text = service.get("/metrics").await.text().await.unwrap();
    for series in [
        r#"admin_webhooks_attempts_total{outcome="succeeded",error_class="none"} 0"#,
        r#"admin_webhooks_attempts_total{outcome="failed",error_class="timeout"} 0"#,
        r#"admin_webhooks_attempts_total{outcome="failed",error_class="connect"} 0"#,
        r#"admin_webhooks_attempts_total{outcome="failed",error_class="tls"} 0"#,
        r#"admin_webhooks_attempts_total{outcome="failed",error_class="http_status"} 0"#,
        r#"admin_webhooks_attempts_total{outcome="failed",error_class="gone"} 0"#,
        r#"admin_webhooks_attempts_total{outcome="failed",error_class="ssrf_blocked"} 0"#,
        "admin_webhooks_deliveries_expired_total 0",
        r#"admin_webhooks_events_published_total{result="accepted"} 0"#,
        r#"admin_webhooks_events_published_total{result="duplicate"} 0"#,
        r#"admin_webhooks_events_published_total{result="refused"} 0"#,
        "admin_webhooks_requests_rate_limited_total 0",
        r#"admin_webhooks_alerts_raised_total{condition="endpoint_failing"} 0"#,
        r#"admin_webhooks_alerts_raised_total{condition="events_expiring"} 0"#,
        r#"admin_webhooks_alerts_raised_total{condition="disabled_gone"} 0"#,
    ] {
        assert!(
            text.lines().any(|line| line == series),
            "/metrics lacks `{series}`:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_attempt_is_logged_at_info_with_its_class_and_status() {
    let dir = tempfile::tempdir().unwrap();
    // Only `info`: the line must not depend on debug logging being on.
    let service = ADMIN_WEBHOOKS.start_with_env(
        dir.path(),
        &["--retry-base", "50ms", "--retry-cap", "50ms"],
        &[("RUST_LOG", "info")],
    );
    let mut first = true;
    let receiver = Receiver::start_with(move |_| {
        let reply = if first {
            Reply::status(500)
        } else {
            Reply::ok()
        };
        first = false;
        reply
    })
    .await;
    let (webhook, _) = service
        .create_webhook(&receiver.webhook_url(), &["user.created"])
        .await;
    service
        .publish("user.created", json!({ "user_id": "u1" }))
        .await;
    receiver.wait_for(2, Duration::from_secs(10)).await;
    let log = wait_for_log(&service, "failed attempt", |log| {
        log.contains("attempt failed")
    })
    .await;
    let line: Value = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["fields"]["message"] == "attempt failed")
        .unwrap();
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["fields"]["webhook"], webhook.as_str(), "{line}");
    assert_eq!(line["fields"]["error_class"], "http_status", "{line}");
    assert_eq!(line["fields"]["status_code"], 500, "{line}");
    assert_eq!(line["fields"]["attempt"], 1, "{line}");
}

#[test]
fn pretty_logs_written_to_a_pipe_carry_no_colour_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_admin-webhooks"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "pretty"])
        .arg("--data-dir")
        .arg(dir.path())
        .env("ADMIN_WEBHOOKS_BOOTSTRAP_KEY", KEY)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut log = String::new();
    while !log.contains("Admin Webhooks is listening") {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
            }
            Err(_) => panic!("the service never said it listens:\n{log}"),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        log.contains("INFO"),
        "pretty lines name their level:\n{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "an ANSI escape in a log written to a pipe:\n{log:?}"
    );
}
