//! What the team running the service watches: `/metrics` moves with the work, `/readyz`
//! tells when the service cannot work, and a key over its rate limit is told when to
//! come back.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{eventually, poll_until};

use crate::support::postgres::{DEFAULT_URL, TestDatabase};
use crate::support::{ADMIN_WEBHOOKS, Receiver, Reply, Service};

/// How late past Retry-After a request may be accepted: the time one request takes.
const RETRY_AFTER_SLACK: Duration = Duration::from_millis(500);

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

/// Polls `/metrics` until `ready` holds for the page, failing after 10 s.
async fn metrics_until(service: &Service, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let shown = poll_until(Duration::from_secs(10), || async {
        let page = metrics(service).await;
        ready(&page).then_some(page)
    })
    .await;
    match shown {
        Some(page) => page,
        None => panic!("{what} never showed: {}", metrics(service).await),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_publishes_failed_attempts_backlog_and_store_calls() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(
        dir.path(),
        &[
            "--retry-base",
            "1h",
            "--retry-cap",
            "1h",
            "--monitor-interval",
            "200ms",
        ],
    );
    let receiver = Receiver::start_with(|_| Reply::status(500)).await;
    service
        .create_webhook(&receiver.webhook_url(), &["user.created"])
        .await;
    let workspace = service
        .get("/v1/api-keys")
        .await
        .json::<Value>()
        .await
        .unwrap()["data"][0]["workspace_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let before = metrics(&service).await;
    service.publish("user.created", json!({ "n": 1 })).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;

    let accepted = r#"admin_webhooks_events_published_total{result="accepted"}"#;
    let failed = r#"admin_webhooks_attempts_total{outcome="failed",error_class="http_status"}"#;
    let pending = format!(r#"admin_webhooks_deliveries_pending{{workspace_id="{workspace}"}}"#);
    let oldest =
        format!(r#"admin_webhooks_oldest_pending_age_seconds{{workspace_id="{workspace}"}}"#);
    let publishes =
        r#"admin_webhooks_store_operation_duration_seconds_count{operation="publish",result="ok"}"#;
    // The lane's reads of its window are timed by the backend's readers.
    let outcomes = r#"admin_webhooks_store_operation_duration_seconds_count{operation="lane_window",result="ok"}"#;
    let after = metrics_until(&service, "the failed attempt and the backlog", |page| {
        sample(page, failed) >= sample(&before, failed) + 1.0
            && sample(page, &pending) == 1.0
            && sample(page, outcomes) >= 1.0
    })
    .await;
    assert_eq!(
        sample(&after, accepted),
        sample(&before, accepted) + 1.0,
        "{after}"
    );
    assert!(sample(&after, publishes) >= sample(&before, publishes) + 1.0);
    assert!(sample(&after, &oldest) >= 0.0 && after.contains(&oldest));
    assert!(
        after.contains("admin_webhooks_publish_duration_seconds_bucket"),
        "{after}"
    );
    assert!(
        !after.contains("wh_") && !after.contains("evt_"),
        "no endpoint or event ids as labels"
    );
}

async fn readyz(service: &Service) -> (u16, Value) {
    let res = service
        .client
        .get(service.url("/readyz"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    if status != 200 {
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "a refusal is a problem"
        );
    }
    (status, res.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_reports_the_schema_and_healthz_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &[]);
    let (status, body) = readyz(&service).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert!(body["schema_version"].as_i64().unwrap() >= 1, "{body}");
    let health = service
        .client
        .get(service.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// The real failure: the service runs on PostgreSQL and its database goes away (dropped,
/// every connection terminated). Readiness fails and says it is the store, while the
/// process itself stays up.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_fails_when_the_store_is_unreachable() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let service = ADMIN_WEBHOOKS.start_on_database(&db.url, &[]);
    let (status, body) = readyz(&service).await;
    assert_eq!(status, 200, "{body}");

    let admin_url =
        std::env::var("ADMIN_WEBHOOKS_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.into());
    let (admin, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    admin
        .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", db.name))
        .await
        .unwrap();

    let unready = poll_until(Duration::from_secs(15), || async {
        let (status, body) = readyz(&service).await;
        (status == 503).then_some(body)
    })
    .await;
    let body = match unready {
        Some(body) => body,
        None => panic!(
            "still ready without its database: {}",
            readyz(&service).await.1
        ),
    };
    assert_eq!(body["status"], 503);
    assert_eq!(body["type"], "/problems/not-ready");
    assert!(
        body["detail"].as_str().unwrap().contains("store"),
        "names the store: {body}"
    );
    assert!(body["request_id"].as_str().unwrap().starts_with("req_"));
    let health = service
        .client
        .get(service.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the process is still up");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_over_the_rate_limit_gets_429_with_retry_after_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(
        dir.path(),
        &["--rate-limit", "2/s", "--rate-limit-burst", "5"],
    );
    // Sent one after the other, so the bucket (5, refilling 2/s) runs dry within them.
    let mut statuses = Vec::new();
    let mut refusal = None;
    let mut refused_at = None;
    for n in 0..20 {
        let res = service
            .post(
                "/v1/events",
                json!({ "type": "user.created", "data": { "n": n } }),
            )
            .await;
        statuses.push(res.status().as_u16());
        if res.status() == 429 && refusal.is_none() {
            refused_at = Some(Instant::now());
            let retry_after: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
            refusal = Some((
                retry_after,
                content_type,
                res.json::<Value>().await.unwrap(),
            ));
        }
    }
    assert!(statuses[..5].iter().all(|s| *s == 202), "{statuses:?}");
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 10,
        "{statuses:?}"
    );
    let (retry_after, content_type, problem) = refusal.expect("a 429");
    assert!(
        (1..=1).contains(&retry_after),
        "rounded up to a second: {retry_after}"
    );
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(problem["type"], "/problems/rate-limited");
    assert_eq!(problem["status"], 429);

    // Another key has its own bucket; the operator's too.
    let res = service
        .client
        .get(service.url("/v1/workspaces"))
        .bearer_auth(crate::support::service::OPERATOR_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // After Retry-After, the key may send again: it is accepted once more, and no later
    // than Retry-After said (refused tries take no token, so asking is harmless).
    let refused_at = refused_at.expect("the moment of the first 429");
    let honoured_by = refused_at + Duration::from_secs(retry_after) + RETRY_AFTER_SLACK;
    let accepted_at = eventually(
        Duration::from_secs(retry_after + 10),
        "the key to be accepted again",
        || async {
            let res = service
                .post(
                    "/v1/events",
                    json!({ "type": "user.created", "data": { "n": "again" } }),
                )
                .await;
            (res.status() == 202).then(Instant::now)
        },
    )
    .await;
    assert!(
        accepted_at <= honoured_by,
        "accepted {:?} after the refusal, Retry-After said {retry_after} s",
        accepted_at - refused_at
    );
}
