//! What only the SQLite backend promises: its file, its schema versioning, and that
//! closing or dropping it commits queued work. Also prints publish throughput on a real
//! file (the test asserts correctness only; the rate is for reading with --nocapture).

extern crate admin_webhooks_store as store;

#[allow(dead_code)]
#[path = "conformance/support.rs"]
mod support;

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use domain::{AttemptId, DeliveryStatus};
use store::sqlite::{DATABASE_FILE, SqliteStore};
use store::{ActivityStore, AttemptLog, LaneStore, OperationsStore, Outcome, Store, StoreError};
use support::{event, open_deliveries, webhook, workspace};
use tempfile::TempDir;

fn delivered(d: &store::DueDelivery, webhook: &domain::WebhookId) -> Outcome {
    Outcome {
        delivery_id: d.id.clone(),
        webhook_id: webhook.clone(),
        attempts_before: d.attempts,
        attempt: Some(AttemptLog {
            id: AttemptId::generate(),
            attempted_at: Utc::now(),
            status_code: Some(200),
            response_ms: 3,
            error_class: None,
            error_message: None,
            response_body: None,
            request_headers: None,
            response_headers: None,
        }),
        status: DeliveryStatus::Delivered,
        next_attempt_at: None,
        disable_webhook: false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn open_in_dir_creates_the_directory_and_migrates_once() {
    let dir = TempDir::new().unwrap();
    let data_dir = dir.path().join("nested").join("data");
    let store = SqliteStore::open_in_dir(&data_dir).unwrap();
    assert_eq!(store.path(), data_dir.join(DATABASE_FILE));
    assert!(data_dir.join(DATABASE_FILE).is_file());
    // Every migration this binary knows is applied, once.
    let latest = store.migrations().await.unwrap().latest;
    assert_eq!(store.schema_version().await.unwrap(), latest);
    store.ping().await.unwrap();
    drop(store);

    let again = SqliteStore::open_in_dir(&data_dir).unwrap();
    assert_eq!(again.schema_version().await.unwrap(), latest);
    drop(again);

    let conn = rusqlite::Connection::open(data_dir.join(DATABASE_FILE)).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // Versions may skip numbers (parallel work reserves its own), so: each once, up to
    // the latest.
    let (applied, distinct, highest): (i64, i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), COUNT(DISTINCT version), MAX(version) FROM schema_migrations",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(applied, distinct);
    assert_eq!(highest, latest);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_schema_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)",
        [],
    )
    .unwrap();
    drop(conn);
    match SqliteStore::open(&path) {
        Err(StoreError::Backend(e)) => assert!(e.to_string().contains("99"), "{e}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn close_commits_queued_outcomes_and_refuses_later_work() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open_in_dir(dir.path()).unwrap();
    let ws = workspace(&store, "a").await;
    let hook = webhook(&store, &ws, &["*"]).await.id;
    for _ in 0..100 {
        store.publish(event(&ws, "user.created")).await.unwrap();
    }
    let acks: Vec<_> = open_deliveries(&store, &hook)
        .await
        .iter()
        .map(|d| store.submit_outcome(delivered(d, &hook)))
        .collect();
    store.close().await;
    for ack in acks {
        ack.await
            .expect("answered before close returned")
            .expect("committed");
    }
    assert!(matches!(
        store.publish(event(&ws, "user.created")).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(store.ping().await, Err(StoreError::Closed)));
    let late = store.submit_outcome(delivered(&open_deliveries_of_nothing(), &hook));
    assert!(matches!(late.await, Ok(Err(StoreError::Closed))));
    drop(store);

    let store = SqliteStore::open_in_dir(dir.path()).unwrap();
    assert!(open_deliveries(&store, &hook).await.is_empty());
    assert!(store.lanes_with_work().await.unwrap().is_empty());
}

fn open_deliveries_of_nothing() -> store::DueDelivery {
    store::DueDelivery {
        id: domain::DeliveryId::generate(),
        event_id: domain::EventId::generate(),
        event_type: "user.created".into(),
        seq: 1,
        attempts: 0,
        next_attempt_at: Utc::now(),
        event_created_at: Utc::now(),
        body: Arc::from(&b"{}"[..]),
        trace: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_store_commits_queued_work() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open_in_dir(dir.path()).unwrap();
    let ws = workspace(&store, "a").await;
    let hook = webhook(&store, &ws, &["*"]).await.id;
    store.publish(event(&ws, "user.created")).await.unwrap();
    let d = open_deliveries(&store, &hook).await.remove(0);
    // Submitted and never awaited: dropping the store must still commit it.
    drop(store.submit_outcome(delivered(&d, &hook)));
    drop(store);

    let store = SqliteStore::open_in_dir(dir.path()).unwrap();
    let (delivery, attempts) = store.get_delivery(&ws, &d.id).await.unwrap();
    assert_eq!(
        (delivery.status, attempts.len()),
        (DeliveryStatus::Delivered, 1)
    );
}

/// 10,000 publishes from 64 tasks, to 1 and to 10 subscribed webhooks, on a real file.
#[tokio::test(flavor = "multi_thread")]
async fn publish_rate() {
    const PUBLISHES: usize = 10_000;
    const TASKS: usize = 64;
    for webhooks in [1, 10] {
        let dir = TempDir::new().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_dir(dir.path()).unwrap());
        let ws = workspace(&*store, "bench").await;
        let mut hooks = Vec::new();
        for _ in 0..webhooks {
            hooks.push(webhook(&*store, &ws, &["user.*"]).await.id);
        }
        let started = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (store, ws) = (store.clone(), ws.clone());
                tokio::spawn(async move {
                    for _ in (t..PUBLISHES).step_by(TASKS) {
                        store.publish(event(&ws, "user.created")).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = started.elapsed();
        println!(
            "publish_rate: {PUBLISHES} publishes, {TASKS} tasks, {webhooks} webhook(s): {:.0} events/s, \
             {:.0} deliveries/s ({elapsed:.2?})",
            PUBLISHES as f64 / elapsed.as_secs_f64(),
            (PUBLISHES * webhooks) as f64 / elapsed.as_secs_f64(),
        );
        for hook in &hooks {
            let open = store.lane_window(hook, 0, 20_000).await.unwrap();
            assert_eq!(open.len(), PUBLISHES);
            assert!(
                open.windows(2)
                    .all(|w| w[0].seq < w[1].seq && w[0].event_id < w[1].event_id)
            );
        }
    }
}

/// A replay longer than one writer job (10,000 seqs) re-opens the whole range, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_replay_covers_its_whole_range_in_several_jobs() {
    const EVENTS: usize = 21_000;
    let dir = TempDir::new().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_dir(dir.path()).unwrap());
    let ws = workspace(&*store, "a").await;
    let hook = webhook(&*store, &ws, &["*"]).await.id;
    let since = Utc::now() - chrono::Duration::seconds(1);
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let (store, ws) = (store.clone(), ws.clone());
            tokio::spawn(async move {
                for _ in (t..EVENTS).step_by(32) {
                    store.publish(event(&ws, "user.created")).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let open = open_deliveries(&*store, &hook).await;
    // Deliver the first half, so that the status filter has to pick.
    for d in &open[..EVENTS / 2] {
        drop(store.submit_outcome(delivered(d, &hook)));
    }
    store.publish(event(&ws, "user.created")).await.unwrap();
    let filter = |status| store::ReplayFilter {
        since,
        until: None,
        status,
    };
    let replayed = store
        .replay_deliveries(&ws, &hook, filter(Some(DeliveryStatus::Delivered)))
        .await
        .unwrap();
    assert_eq!(replayed as usize, EVENTS / 2);
    let replayed = store
        .replay_deliveries(&ws, &hook, filter(None))
        .await
        .unwrap();
    assert_eq!(replayed as usize, EVENTS + 1);
    let reopened = open_deliveries(&*store, &hook).await;
    assert_eq!(reopened.len(), EVENTS + 1);
    let at = reopened[0].event_created_at;
    assert!(
        reopened.iter().all(|d| d.event_created_at == at),
        "one moment for the whole replay"
    );
}

/// A publish writes one log row and runs the same statements whether 1, 10 or 50
/// endpoints subscribe; what grows is the take-up (in the publish's group for lanes that
/// keep pace, else later), one delivery row per endpoint.
#[tokio::test(flavor = "multi_thread")]
async fn a_publish_costs_the_same_for_1_10_or_50_endpoints() {
    const EVENTS: u64 = 20;
    let mut costs = Vec::new();
    for endpoints in [1, 10, 50] {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open_in_dir(dir.path()).unwrap();
        store.count_statements().await.unwrap();
        let ws = workspace(&store, "a").await;
        let mut hooks = Vec::new();
        for _ in 0..endpoints {
            hooks.push(webhook(&store, &ws, &["user.*"]).await.id);
        }
        let first = hooks[0].clone();
        let before = store.work_done();
        for _ in 0..EVENTS {
            store.publish(event(&ws, "user.created")).await.unwrap();
        }
        let published = store.work_done().since(before);
        // Reading the activity log takes up what the lanes have not.
        store
            .list_deliveries(&ws, &first, Default::default(), Default::default())
            .await
            .unwrap();
        let done = store.work_done().since(before);
        assert!(
            published.take_up.rows <= 2 * published.events * endpoints,
            "at most its own deliveries and a cursor move each: {published:?}"
        );
        assert_eq!(done.events, EVENTS);
        assert_eq!(done.publish.rows, EVENTS, "one log row per event");
        assert!(
            done.publish.statements >= EVENTS,
            "statements are counted: {done:?}"
        );
        assert!(
            done.take_up.rows >= EVENTS * endpoints,
            "a delivery per endpoint and event: {done:?}"
        );
        costs.push(done.publish);
    }
    assert!(costs.windows(2).all(|w| w[0] == w[1]), "{costs:?}");
}

/// Published deliveries become rows without anyone asking: the writer takes the log up
/// once it has had no job for a moment.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_writer_takes_the_log_up_by_itself() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open_in_dir(dir.path()).unwrap();
    let ws = workspace(&store, "a").await;
    for _ in 0..3 {
        webhook(&store, &ws, &["user.*"]).await;
    }
    let before = store.work_done();
    for _ in 0..5 {
        store.publish(event(&ws, "user.created")).await.unwrap();
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let done = store.work_done().since(before);
        // Five deliveries for each of the three endpoints, and their cursors moved.
        if done.take_up.rows >= 15 + 3 {
            break;
        }
        assert!(Instant::now() < deadline, "not taken up: {done:?}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
