//! Measures the activity log's queries on a SQLite file holding 1,000,000 attempts.
//!
//! ```sh
//! cargo run --release -p admin-webhooks-store --example activity_scale [-- <rows> <file>]
//! ```
//!
//! It creates a workspace and its webhooks through the store, then fills the file
//! directly with SQL (through the store this would take minutes): one endpoint with
//! `rows` deliveries over the last 30 days, one event each, one attempt each (two for the
//! 1 % that expired), 500 still pending at the end. Then it times every read of issue 6
//! and issue 14 (series, health) through the store (median of 7 runs after a warm-up),
//! one bounded retention pass and a one-day replay, and prints `EXPLAIN QUERY PLAN` of
//! each statement. Not a test: it asserts only that answers are the right size.

extern crate admin_webhooks_store as store;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::{DeliveryStatus, EventId, Subscription, WebhookId, WorkspaceId};
use rusqlite::params;
use store::sqlite::SqliteStore;
use store::{
    ActivityStore, DeliveryFilter, EventFilter, NewApiKey, NewWebhook, OperationsStore,
    PageRequest, ReplayFilter, SeriesSpec, TenancyStore,
};

const DAY_MS: i64 = 24 * 3600 * 1000;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rows: i64 = args.next().map_or(1_000_000, |a| a.parse().expect("rows"));
    let keep = args.next().map(PathBuf::from);
    let dir = tempfile::TempDir::new().unwrap();
    let path = keep.unwrap_or_else(|| dir.path().join("scale.db"));
    let _ = std::fs::remove_file(&path);

    let (ws, hook) = setup(&path).await;
    let started = Instant::now();
    let ids = fill(&path, &ws, &hook, rows);
    println!(
        "filled {rows} deliveries / events and {} attempts in {:.1?} ({:.0} MiB)",
        ids.attempts,
        started.elapsed(),
        std::fs::metadata(&path).unwrap().len() as f64 / 1048576.0
    );

    let store = SqliteStore::open(&path).unwrap();
    let page = |limit, cursor: Option<&str>| PageRequest {
        limit,
        cursor: cursor.map(str::to_owned),
    };
    let now = Utc::now();
    let days_ago = |d: i64| now - chrono::Duration::days(d);
    let list = |filter: DeliveryFilter, cursor: Option<&str>| {
        store.list_deliveries(&ws, &hook, filter, page(50, cursor))
    };
    let status = |s| DeliveryFilter {
        status: Some(s),
        ..DeliveryFilter::default()
    };

    println!("\n| call | rows answered | median |\n|---|---|---|");
    report("deliveries, first page (limit 50)", 50, || {
        list(DeliveryFilter::default(), None)
    })
    .await;
    report("deliveries, page at the middle of the history", 50, || {
        list(DeliveryFilter::default(), Some(&ids.middle_delivery))
    })
    .await;
    report("deliveries, status=failed", 1, || {
        list(status(DeliveryStatus::Failed), None)
    })
    .await;
    report("deliveries, status=expired", 50, || {
        list(status(DeliveryStatus::Expired), None)
    })
    .await;
    report("deliveries, status=delivered", 50, || {
        list(status(DeliveryStatus::Delivered), None)
    })
    .await;
    report("deliveries, type=order.completed (2 %)", 50, || {
        list(
            DeliveryFilter {
                event_type: Some("order.completed".into()),
                ..DeliveryFilter::default()
            },
            None,
        )
    })
    .await;
    report(
        "deliveries, type=system.alert (0.01 %, 100 rows)",
        50,
        || {
            list(
                DeliveryFilter {
                    event_type: Some("system.alert".into()),
                    ..DeliveryFilter::default()
                },
                None,
            )
        },
    )
    .await;
    report("deliveries, one hour ten days ago", 50, || {
        list(
            DeliveryFilter {
                since: Some(days_ago(10)),
                until: Some(days_ago(10) + chrono::Duration::hours(1)),
                ..DeliveryFilter::default()
            },
            None,
        )
    })
    .await;
    report("events, first page", 50, || {
        store.list_events(&ws, EventFilter::default(), page(50, None))
    })
    .await;
    report("events, until ten days ago", 50, || {
        store.list_events(
            &ws,
            EventFilter {
                until: Some(days_ago(10)),
                ..EventFilter::default()
            },
            page(50, None),
        )
    })
    .await;
    report("events, type=system.alert (100 rows)", 50, || {
        store.list_events(
            &ws,
            EventFilter {
                event_type: Some("system.alert".into()),
                ..EventFilter::default()
            },
            page(50, None),
        )
    })
    .await;
    let event: EventId = ids.middle_event.parse().unwrap();
    let delivery = ids.middle_delivery.parse().unwrap();
    report_one("one event's deliveries", || {
        store.list_event_deliveries(&ws, &event)
    })
    .await;
    report_one("one delivery with its attempts", || {
        store.get_delivery(&ws, &delivery)
    })
    .await;
    for (name, hours) in [
        ("stats, 1h window", 1),
        ("stats, 24h window", 24),
        ("stats, 30 d window (every attempt)", 24 * 31),
    ] {
        let since = now - chrono::Duration::hours(hours);
        report_one(name, || store.webhook_stats(&ws, &hook, since)).await;
    }
    for (name, hours, count) in [
        ("series, 24 h by hour", 1, 24),
        ("series, 7 d by 6 h", 6, 28),
    ] {
        let spec = SeriesSpec::ending_at(now, chrono::Duration::hours(hours), count);
        report_one(name, || store.webhook_series(&ws, &hook, spec)).await;
    }
    report_one("health (head, waiting, failure run)", || {
        store.webhook_health(&ws, &hook)
    })
    .await;
    let stats = store.webhook_stats(&ws, &hook, days_ago(31)).await.unwrap();
    println!(
        "\n(stats over everything: {} attempts, {} successes, p50/p95/p99 = {:?}/{:?}/{:?} ms)",
        stats.attempts, stats.successes, stats.p50_ms, stats.p95_ms, stats.p99_ms
    );

    // Writes: one bounded retention pass over the oldest day, and a one-day replay.
    let started = Instant::now();
    let report_pass = store.prune(days_ago(29), 1_000).await.unwrap();
    println!(
        "\nretention pass (batch 1,000, cutoff 29 days ago): {report_pass:?} in {:.1?}",
        started.elapsed()
    );
    let started = Instant::now();
    let replayed = store
        .replay_deliveries(
            &ws,
            &hook,
            ReplayFilter {
                since: days_ago(2),
                until: Some(days_ago(1)),
                status: None,
            },
        )
        .await
        .unwrap();
    println!(
        "replay of one day: {replayed} deliveries re-opened in {:.1?}",
        started.elapsed()
    );

    println!("\nEXPLAIN QUERY PLAN on this file:");
    for (name, plan) in store.activity_query_plans().await.unwrap() {
        println!("\n{name}:");
        for line in plan.lines() {
            println!("    {line}");
        }
    }
    store.close().await;
}

async fn timed<T, F, Fut>(mut call: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = store::Result<T>>,
{
    call().await.unwrap();
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..7 {
        let started = Instant::now();
        last = Some(call().await.unwrap());
        times.push(started.elapsed());
    }
    times.sort();
    (last.unwrap(), times[3])
}

async fn report<T, F, Fut>(name: &str, expected: usize, call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = store::Result<store::Page<T>>>,
{
    let (page, median) = timed(call).await;
    assert_eq!(page.data.len(), expected, "{name}");
    println!("| {name} | {} | {median:.2?} |", page.data.len());
}

async fn report_one<T: std::fmt::Debug, F, Fut>(name: &str, call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = store::Result<T>>,
{
    let (_, median) = timed(call).await;
    println!("| {name} | 1 | {median:.2?} |");
}

/// A workspace with the hot endpoint and a quiet one, made through the store.
async fn setup(path: &std::path::Path) -> (WorkspaceId, WebhookId) {
    let store = SqliteStore::open(path).unwrap();
    let key = domain::api_key::generate_key();
    let (workspace, _) = store
        .create_workspace(
            "scale",
            NewApiKey {
                name: "k".into(),
                hash: domain::api_key::hash_key(&key),
                hint: domain::api_key::key_hint(&key),
            },
        )
        .await
        .unwrap();
    let mut hooks = Vec::new();
    for events in ["*", "order.*"] {
        let new = NewWebhook {
            url: "https://receiver.example.com/hook".into(),
            description: String::new(),
            events: vec![Subscription::parse(events).unwrap()],
            enabled: true,
            secret: domain::signature::generate_secret(),
            rate_limit: None,
            headers: domain::CustomHeaders::default(),
        };
        hooks.push(store.create_webhook(&workspace.id, new).await.unwrap().id);
    }
    store.close().await;
    (workspace.id, hooks.remove(0))
}

struct Filled {
    attempts: i64,
    middle_delivery: String,
    middle_event: String,
}

/// Rows as the service would have written them over 30 days, in seq (= time) order.
fn fill(path: &std::path::Path, ws: &WorkspaceId, hook: &WebhookId, rows: i64) -> Filled {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA journal_mode = WAL;")
        .unwrap();
    let tx = conn.transaction().unwrap();
    let start = Utc::now().timestamp_millis() - 30 * DAY_MS;
    let step = 30 * DAY_MS / rows;
    let mut attempts = 0;
    let mut middle = (String::new(), String::new());
    {
        let mut event = tx
            .prepare("INSERT INTO events (id, workspace_id, type, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5)")
            .unwrap();
        let mut delivery = tx
            .prepare(
                "INSERT INTO deliveries (webhook_id, seq, id, event_id, workspace_id, event_type,
                     status, attempts, next_attempt_at, last_status_code, last_response_ms,
                     last_error, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )
            .unwrap();
        let mut attempt = tx
            .prepare(
                "INSERT INTO attempts (delivery_id, id, webhook_id, attempted_at, status_code,
                     response_ms, error_class, error_message, response_body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'ok')",
            )
            .unwrap();
        for i in 0..rows {
            let at = start + i * step;
            // Generated now rather than at `at`, but in row order, which is what matters.
            let event_id = EventId::generate().to_string();
            let delivery_id = domain::DeliveryId::generate().to_string();
            let event_type = match i {
                _ if i % 10_000 == 5 => "system.alert",
                _ if i % 50 == 1 => "order.completed",
                _ => "user.created",
            };
            let body = format!(
                r#"{{"id":"{event_id}","type":"{event_type}","timestamp":"{}","data":{{"n":{i}}},"metadata":{{}}}}"#,
                DateTime::<Utc>::from_timestamp_millis(at)
                    .unwrap()
                    .to_rfc3339()
            );
            event
                .execute(params![
                    event_id,
                    ws.as_str(),
                    event_type,
                    at,
                    body.into_bytes()
                ])
                .unwrap();
            // A response time with a long tail: mostly tens of ms, some seconds.
            let response_ms = 5 + (i * 7919 % 97) * (1 + (i % 13 == 0) as i64 * 20);
            let (status, tries, next, code, error) = if i >= rows - 500 {
                ("pending", 0, Some(at), None, None)
            } else if i == rows - 501 {
                (
                    "failed",
                    1,
                    Some(at + 60_000),
                    Some(503),
                    Some("http_status"),
                )
            } else if i % 100 == 37 {
                ("expired", 2, None, None, Some("timeout"))
            } else {
                ("delivered", 1, None, Some(200), None)
            };
            delivery
                .execute(params![
                    hook.as_str(),
                    i + 1,
                    delivery_id,
                    event_id,
                    ws.as_str(),
                    event_type,
                    status,
                    tries,
                    next,
                    code,
                    (tries > 0).then_some(response_ms),
                    error,
                    at,
                    at + 1000
                ])
                .unwrap();
            for k in 0..tries {
                attempt
                    .execute(params![
                        delivery_id,
                        domain::AttemptId::generate().as_str(),
                        hook.as_str(),
                        at + k * 500,
                        code,
                        response_ms,
                        error,
                        error.map(|_| "no answer")
                    ])
                    .unwrap();
                attempts += 1;
            }
            if i == rows / 2 {
                middle = (delivery_id, event_id);
            }
        }
        tx.execute(
            "UPDATE webhooks SET next_seq = ?1 WHERE id = ?2",
            params![rows + 1, hook.as_str()],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    // No ANALYZE: the service never runs it, so the plans here are the plans it gets.
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    Filled {
        attempts,
        middle_delivery: middle.0,
        middle_event: middle.1,
    }
}
