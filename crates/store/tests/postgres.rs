//! What only the PostgreSQL backend promises: several stores on one database behave as
//! several processes would — lanes split by lease, wake-ups cross between them, seqs stay
//! in commit order, the webhook limit holds — plus migrations, closing and the listener's
//! reconnection. Also prints publish throughput (the test asserts correctness only; the
//! rate is for reading with --nocapture).
//!
//! Each test gets a fresh schema (see `conformance/postgres.rs`) and skips loudly when
//! PostgreSQL is unreachable, unless `ADMIN_WEBHOOKS_REQUIRE_POSTGRES` is set.

extern crate admin_webhooks_store as store;

#[allow(dead_code)]
#[path = "conformance/support.rs"]
mod support;

#[allow(dead_code)]
#[path = "conformance/postgres.rs"]
mod postgres;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::{AttemptId, DeliveryStatus, EventId, WebhookId};
use postgres::TestSchema;
use store::Wakeup;
use store::postgres::PostgresStore;
use store::{
    ActivityStore, AttemptLog, LaneStore, OperationsStore, Outcome, PageRequest, Store, StoreError,
    TenancyStore, WebhookPatch,
};
use support::{
    TAKE_UP_WITHIN, event, new_webhook, open_deliveries, publish, taken_up, webhook, workspace,
};
use test_support::{continually, eventually};
use tokio::sync::mpsc::UnboundedReceiver;

const LEASE: Duration = Duration::from_secs(60);

/// Tests that hold the transaction horizon back (for every schema on the server) take
/// this for writing; a test whose point needs an unhindered take-up, for reading.
static HORIZON_HOLDERS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn delivered(d: &store::DueDelivery, webhook: &WebhookId) -> Outcome {
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

fn set(ids: &[WebhookId]) -> BTreeSet<WebhookId> {
    ids.iter().cloned().collect()
}

/// Waits (up to a deadline) for a wake-up of `id`, skipping others.
async fn wakeup_of(
    receiver: &mut UnboundedReceiver<Wakeup>,
    id: &WebhookId,
    within: Duration,
) -> bool {
    wakeup_where(receiver, id, within, |_| true).await
}

/// Waits for a wake-up about `id` that `wanted` accepts.
async fn wakeup_where(
    receiver: &mut UnboundedReceiver<Wakeup>,
    id: &WebhookId,
    within: Duration,
    wanted: impl Fn(&Wakeup) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, receiver.recv()).await {
            Ok(Some(got)) if &got.webhook == id && wanted(&got) => return true,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn several_stores_starting_at_once_migrate_once() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let stores = futures::future::join_all((0..4).map(|_| schema.connect())).await;
    let latest = stores[0].migrations().await.unwrap().latest;
    for store in &stores {
        assert_eq!(store.schema_version().await.unwrap(), latest);
        assert_eq!(store.schema(), Some(schema.name.as_str()));
    }
    let again = schema.connect().await;
    assert_eq!(again.schema_version().await.unwrap(), latest);
}

#[tokio::test(flavor = "multi_thread")]
async fn leases_split_lanes_between_processes() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let (a, b) = (schema.connect().await, schema.connect().await);
    assert!(a.shares_lanes());
    let ws = workspace(&a, "a").await;
    let mut hooks = Vec::new();
    for _ in 0..4 {
        hooks.push(webhook(&a, &ws, &["*"]).await.id);
    }
    let parked = webhook(&a, &ws, &["*"]).await.id;
    let idle = webhook(&a, &ws, &["order.completed"]).await.id;
    // Taken up before `parked` is disabled: the take-up follows the publish's answer.
    let published = publish(&a, &ws, "user.created").await;
    taken_up(&a, &ws, &published).await;
    let off = WebhookPatch {
        enabled: Some(false),
        ..WebhookPatch::default()
    };
    b.update_webhook(&ws, &parked, off).await.unwrap();

    // As on SQLite, a disabled endpoint's backlog counts as work; it is not claimed.
    let with_work = a.lanes_with_work().await.unwrap();
    assert_eq!(
        set(&with_work),
        set(&[hooks.clone(), vec![parked.clone()]].concat())
    );
    assert!(!with_work.contains(&idle));

    let mine = a.claim_lanes("a", LEASE, 2).await.unwrap();
    assert_eq!(
        mine,
        hooks[..2].to_vec(),
        "the lowest ids first, up to the limit"
    );
    let theirs = b.claim_lanes("b", LEASE, 10).await.unwrap();
    assert_eq!(theirs, hooks[2..].to_vec(), "only lanes nobody else holds");
    assert_eq!(
        a.claim_lanes("a", LEASE, 10).await.unwrap(),
        mine,
        "a claim keeps (and renews) its own lanes and takes no live lease of another"
    );
    assert!(!b.claim_lane("b", &hooks[0], LEASE).await.unwrap());
    assert!(a.claim_lane("a", &hooks[0], LEASE).await.unwrap());
    assert!(
        !a.claim_lane("a", &WebhookId::generate(), LEASE)
            .await
            .unwrap()
    );

    assert_eq!(a.renew_leases("a", &hooks, LEASE).await.unwrap(), mine);
    assert_eq!(b.renew_leases("b", &hooks, LEASE).await.unwrap(), theirs);
    assert!(a.renew_leases("a", &[], LEASE).await.unwrap().is_empty());

    // Releasing someone else's lane does nothing; releasing one's own frees it.
    a.release_lane("a", &hooks[2]).await.unwrap();
    assert_eq!(b.renew_leases("b", &hooks, LEASE).await.unwrap(), theirs);
    a.release_lane("a", &hooks[0]).await.unwrap();
    assert!(b.claim_lane("b", &hooks[0], LEASE).await.unwrap());
    assert_eq!(
        a.renew_leases("a", &hooks, LEASE).await.unwrap(),
        vec![hooks[1].clone()]
    );

    // A lease that ran out (a zero-length renewal stands in for a process that stopped
    // renewing) is taken over by the next claim, and its old owner learns it lost it.
    assert_eq!(
        a.renew_leases("a", &hooks[1..2], Duration::ZERO)
            .await
            .unwrap(),
        vec![hooks[1].clone()]
    );
    assert_eq!(b.claim_lanes("b", LEASE, 10).await.unwrap(), hooks);
    assert!(a.renew_leases("a", &hooks, LEASE).await.unwrap().is_empty());
    assert!(!a.claim_lane("a", &hooks[1], LEASE).await.unwrap());

    // Work that is done leaves the claimable set; a deleted endpoint takes its lease along.
    for d in open_deliveries(&b, &hooks[3]).await {
        b.submit_outcome(delivered(&d, &hooks[3]))
            .await
            .unwrap()
            .unwrap();
    }
    b.release_lane("b", &hooks[3]).await.unwrap();
    assert_eq!(
        a.claim_lanes("a", LEASE, 10).await.unwrap(),
        Vec::<WebhookId>::new()
    );
    b.delete_webhook(&ws, &hooks[2]).await.unwrap();
    assert_eq!(
        b.renew_leases("b", &hooks, LEASE).await.unwrap(),
        hooks[..2].to_vec()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wakeups_cross_between_processes() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let (a, b) = (schema.connect().await, schema.connect().await);
    let mut heard = b
        .announcements()
        .expect("the first call hands the receiver out");
    assert!(b.announcements().is_none(), "only once");
    let ws = workspace(&a, "a").await;
    let hook = webhook(&a, &ws, &["user.*"]).await.id;
    let quiet = webhook(&a, &ws, &["order.completed"]).await.id;

    a.publish(event(&ws, "user.created")).await.unwrap();
    assert!(
        wakeup_where(&mut heard, &hook, Duration::from_secs(10), |w| !w.resync).await,
        "a publish only announces new work"
    );

    // A delivery re-opened in place tells the owner of the lane to read it again from
    // its first open delivery, since it lies below what the lane has read.
    let delivery = a
        .list_deliveries(&ws, &hook, Default::default(), Default::default())
        .await
        .unwrap()
        .data
        .remove(0);
    a.retry_delivery(&ws, &delivery.id).await.unwrap();
    assert!(wakeup_where(&mut heard, &hook, Duration::from_secs(10), |w| w.resync).await);

    // Settings changes wake the lane wherever it runs, so it re-reads them.
    let patch = WebhookPatch {
        url: Some("https://moved.example.com/in".into()),
        ..WebhookPatch::default()
    };
    a.update_webhook(&ws, &quiet, patch).await.unwrap();
    assert!(wakeup_of(&mut heard, &quiet, Duration::from_secs(10)).await);
    a.delete_webhook(&ws, &quiet).await.unwrap();
    assert!(wakeup_of(&mut heard, &quiet, Duration::from_secs(10)).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_announces_its_own_publish_at_commit_and_drops_its_echo() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let (a, b) = (schema.connect().await, schema.connect().await);
    let mut news = a.announcements().unwrap();
    let ws = workspace(&a, "a").await;
    let hook = webhook(&a, &ws, &["user.*"]).await.id;
    let other = webhook(&a, &ws, &["order.completed"]).await.id;

    publish(&a, &ws, "user.created").await;
    // Announced by the take-up that follows the publish's commit (locally: its echo is
    // dropped, below). Skipping other tests' news: channels are per database, and they
    // share it.
    assert!(
        wakeup_where(&mut news, &hook, TAKE_UP_WITHIN, |w| !w.resync).await,
        "announced locally once taken up"
    );
    // Another process's change commits after the publish; notifications arrive in commit
    // order, so the publish's echo, had it been kept, would come first.
    let patch = WebhookPatch {
        description: Some("moved".to_owned()),
        ..WebhookPatch::default()
    };
    b.update_webhook(&ws, &other, patch).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let heard = tokio::time::timeout_at(deadline, news.recv())
            .await
            .expect("the other process's change is heard")
            .unwrap();
        assert_ne!(heard.webhook, hook, "the publish's echo was dropped");
        if heard.webhook == other && heard.resync {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_listener_reconnects_after_its_connection_dies() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let (a, b) = (schema.connect().await, schema.connect().await);
    let mut heard = b.announcements().unwrap();
    let ws = workspace(&a, "a").await;
    let hook = webhook(&a, &ws, &["*"]).await.id;

    let (admin, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // Both stores' listeners share the name; either being cut is what this is about.
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&format!("admin-webhooks listener {}", schema.name)],
        )
        .await
        .unwrap();
    assert_eq!(killed.len(), 2);

    // Notifications sent while it is down are lost (the sweep covers those): publish
    // until one is heard again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        publish(&a, &ws, "user.created").await;
        if wakeup_of(&mut heard, &hook, Duration::from_millis(250)).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no wake-up after the listener's connection was cut"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_publishes_of_two_processes_keep_seq_in_commit_order() {
    const TASKS_PER_STORE: usize = 8;
    const PUBLISHES_PER_TASK: usize = 150;
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let stores: [Arc<PostgresStore>; 2] = [
        Arc::new(schema.connect().await),
        Arc::new(schema.connect().await),
    ];
    let ws = workspace(&*stores[0], "a").await;
    let hook = webhook(&*stores[1], &ws, &["*"]).await.id;
    let started = Instant::now();

    // Readers on both stores check, while publishes commit, that every window they read
    // is a gapless prefix: a reader never sees seq n+1 without seq n.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = stores
        .iter()
        .map(|store| {
            let (store, hook, done) = (store.clone(), hook.clone(), done.clone());
            tokio::spawn(async move {
                let mut reads = 0;
                let mut seen = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let seqs: Vec<i64> = open_deliveries(&*store, &hook)
                        .await
                        .iter()
                        .map(|d| d.seq)
                        .collect();
                    assert!(
                        seqs.iter().copied().eq(1..=seqs.len() as i64),
                        "a gap in {} seqs",
                        seqs.len()
                    );
                    assert!(seqs.len() >= seen, "a read saw fewer than the one before");
                    seen = seqs.len();
                    reads += 1;
                }
                reads
            })
        })
        .collect();

    let tasks: Vec<_> = (0..TASKS_PER_STORE * 2)
        .map(|t| {
            let (store, ws) = (stores[t % 2].clone(), ws.clone());
            tokio::spawn(async move {
                let mut log = Vec::with_capacity(PUBLISHES_PER_TASK);
                for _ in 0..PUBLISHES_PER_TASK {
                    let submitted = started.elapsed();
                    let id = store
                        .publish(event(&ws, "user.created"))
                        .await
                        .unwrap()
                        .event
                        .id;
                    log.push((submitted, started.elapsed(), id));
                }
                log
            })
        })
        .collect();
    let mut log = Vec::new();
    for task in tasks {
        log.extend(task.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for reader in readers {
        assert!(reader.await.unwrap() > 0);
    }

    let total = TASKS_PER_STORE * 2 * PUBLISHES_PER_TASK;
    eventually(TAKE_UP_WITHIN, "every delivery", || async {
        open_deliveries(&*stores[0], &hook).await.len() == total
    })
    .await;
    let open = open_deliveries(&*stores[0], &hook).await;
    assert_eq!(open.len(), total);
    assert!(
        open.iter().map(|d| d.seq).eq(1..=total as i64),
        "gapless, strictly increasing"
    );
    let seq_of: std::collections::HashMap<_, _> =
        open.iter().map(|d| (d.event_id.clone(), d.seq)).collect();
    assert_eq!(seq_of.len(), total, "one delivery per event");

    // Commit order: a publish acknowledged before another was submitted has the lower
    // seq. Sorted by acknowledgement, the highest seq among those acknowledged before a
    // publish was submitted must be below its own.
    let mut by_ack: Vec<(Duration, i64)> =
        log.iter().map(|(_, ack, id)| (*ack, seq_of[id])).collect();
    by_ack.sort();
    let mut prefix_max = Vec::with_capacity(by_ack.len());
    let mut max = 0;
    for (_, seq) in &by_ack {
        max = max.max(*seq);
        prefix_max.push(max);
    }
    for (submitted, _, id) in &log {
        let before = by_ack.partition_point(|(ack, _)| ack < submitted);
        if before > 0 {
            assert!(
                prefix_max[before - 1] < seq_of[id],
                "{id} (seq {}) was submitted after seq {} was acknowledged",
                seq_of[id],
                prefix_max[before - 1]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_webhook_limit_holds_under_concurrent_creates_of_two_processes() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let stores: [Arc<PostgresStore>; 2] = [
        Arc::new(schema.connect().await),
        Arc::new(schema.connect().await),
    ];
    let ws = workspace(&*stores[0], "a").await;
    for _ in 0..40 {
        webhook(&*stores[0], &ws, &["*"]).await;
    }
    let mut parked = Vec::new();
    for _ in 0..6 {
        let mut disabled = new_webhook(&["*"]);
        disabled.enabled = false;
        parked.push(stores[1].create_webhook(&ws, disabled).await.unwrap().id);
    }
    // 20 creates and 6 enables race, from both stores, for 10 free slots.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (store, ws) = (stores[i % 2].clone(), ws.clone());
        tasks.push(tokio::spawn(async move {
            store
                .create_webhook(&ws, new_webhook(&["*"]))
                .await
                .map(|_| ())
        }));
    }
    for (i, id) in parked.into_iter().enumerate() {
        let (store, ws) = (stores[i % 2].clone(), ws.clone());
        tasks.push(tokio::spawn(async move {
            let enable = WebhookPatch {
                enabled: Some(true),
                ..WebhookPatch::default()
            };
            store.update_webhook(&ws, &id, enable).await.map(|_| ())
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::LimitReached { limit: 50 }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 10, "exactly the free slots were taken");
    let all = support::collect_pages(100, |page| stores[1].list_webhooks(&ws, page)).await;
    assert_eq!(all.iter().filter(|w| w.enabled).count(), 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn close_commits_queued_outcomes_and_refuses_later_work() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let store = schema.connect().await;
    let ws = workspace(&store, "a").await;
    let hook = webhook(&store, &ws, &["*"]).await.id;
    let mut last = None;
    for _ in 0..100 {
        last = Some(publish(&store, &ws, "user.created").await);
    }
    taken_up(&store, &ws, &last.unwrap()).await;
    let open = open_deliveries(&store, &hook).await;
    let acks: Vec<_> = open
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
    let late = store.submit_outcome(delivered(&open[0], &hook));
    assert!(matches!(late.await, Ok(Err(StoreError::Closed))));

    let again = schema.connect().await;
    assert!(open_deliveries(&again, &hook).await.is_empty());
    let page = PageRequest {
        limit: 100,
        cursor: None,
    };
    let log = again
        .list_deliveries(&ws, &hook, store::DeliveryFilter::default(), page)
        .await
        .unwrap();
    assert!(
        log.data
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1)
    );
}

/// 10,000 publishes from 64 tasks to 1 and to 10 subscribed webhooks, through one store
/// and through two stores (two processes) sharing the work.
#[tokio::test(flavor = "multi_thread")]
async fn publish_rate() {
    const PUBLISHES: usize = 10_000;
    const TASKS: usize = 64;
    for (webhooks, processes) in [(1, 1), (10, 1), (1, 2)] {
        let Some(schema) = TestSchema::new().await else {
            return;
        };
        let mut stores: Vec<Arc<dyn Store>> = Vec::new();
        for _ in 0..processes {
            stores.push(Arc::new(schema.connect().await));
        }
        let ws = workspace(&*stores[0], "bench").await;
        let mut hooks = Vec::new();
        for _ in 0..webhooks {
            hooks.push(webhook(&*stores[0], &ws, &["user.*"]).await.id);
        }
        let started = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (store, ws) = (stores[t % processes].clone(), ws.clone());
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for _ in (t..PUBLISHES).step_by(TASKS) {
                        ids.push(
                            store
                                .publish(event(&ws, "user.created"))
                                .await
                                .unwrap()
                                .event
                                .id,
                        );
                    }
                    ids
                })
            })
            .collect();
        let mut published = HashSet::new();
        for task in tasks {
            published.extend(task.await.unwrap());
        }
        let elapsed = started.elapsed();
        assert_eq!(published.len(), PUBLISHES);
        // The deliveries come just after the answers (the take-up worker's).
        for hook in &hooks {
            eventually(Duration::from_secs(60), "every delivery", || async {
                stores[0].lane_window(hook, 0, 20_000).await.unwrap().len() == PUBLISHES
            })
            .await;
        }
        let taken_up = started.elapsed();
        println!(
            "publish_rate (PostgreSQL): {PUBLISHES} publishes, {TASKS} tasks, {webhooks} webhook(s), \
             {processes} store(s): {:.0} events/s answered ({elapsed:.2?}), {:.0} deliveries/s \
             taken up ({taken_up:.2?})",
            PUBLISHES as f64 / elapsed.as_secs_f64(),
            (PUBLISHES * webhooks) as f64 / taken_up.as_secs_f64(),
        );
        for hook in &hooks {
            let open = stores[0].lane_window(hook, 0, 20_000).await.unwrap();
            assert_eq!(open.len(), PUBLISHES);
            assert!(open.iter().map(|d| d.seq).eq(1..=PUBLISHES as i64));
            if processes == 1 {
                assert!(open.windows(2).all(|w| w[0].event_id < w[1].event_id));
            }
        }
    }
}

/// A raw connection into the test's schema, to arrange what the API cannot.
async fn raw(schema: &TestSchema) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("SET search_path = {}", schema.name))
        .await
        .unwrap();
    client
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_failing_inside_a_group_fails_alone() {
    const GOOD: usize = 200;
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let store = Arc::new(schema.connect().await);
    let ws = workspace(&*store, "a").await;
    let good = webhook(&*store, &ws, &["user.*"]).await.id;
    let bad = webhook(&*store, &ws, &["order.*"]).await.id;
    // A trigger refusing one event type: that publish's insert fails, inside a group
    // full of good publishes.
    let sql = raw(&schema).await;
    sql.batch_execute(
        "CREATE FUNCTION refuse_orders() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'orders are refused'; END $$;
         CREATE TRIGGER refuse_orders BEFORE INSERT ON events
             FOR EACH ROW WHEN (NEW.type = 'order.completed') EXECUTE FUNCTION refuse_orders();",
    )
    .await
    .unwrap();

    let tasks: Vec<_> = (0..=GOOD)
        .map(|i| {
            let (store, ws) = (store.clone(), ws.clone());
            let event_type = if i == GOOD / 2 {
                "order.completed"
            } else {
                "user.created"
            };
            tokio::spawn(async move { store.publish(event(&ws, event_type)).await })
        })
        .collect();
    let mut failed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => {}
            Err(StoreError::Backend(_)) => failed += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(failed, 1, "only the publish that broke the key failed");
    eventually(TAKE_UP_WITHIN, "the good publishes' deliveries", || async {
        open_deliveries(&*store, &good).await.len() == GOOD
    })
    .await;
    let open = open_deliveries(&*store, &good).await;
    assert!(
        open.windows(2)
            .all(|w| w[0].seq < w[1].seq && w[0].event_id < w[1].event_id)
    );
    assert!(open_deliveries(&*store, &bad).await.is_empty());
    // Nothing of it is left behind to trip the endpoint up later.
    sql.batch_execute("DROP TRIGGER refuse_orders ON events")
        .await
        .unwrap();
    let order = store.publish(event(&ws, "order.completed")).await.unwrap();
    taken_up(&*store, &ws, &order.event.id).await;
    assert_eq!(open_deliveries(&*store, &bad).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_idempotency_key_raced_by_two_processes_makes_one_event() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let stores: [Arc<PostgresStore>; 2] = [
        Arc::new(schema.connect().await),
        Arc::new(schema.connect().await),
    ];
    let ws = workspace(&*stores[0], "a").await;
    let hook = webhook(&*stores[0], &ws, &["*"]).await.id;
    for round in 0..5 {
        let tasks: Vec<_> = (0..24)
            .map(|t| {
                let (store, ws) = (stores[t % 2].clone(), ws.clone());
                tokio::spawn(async move {
                    let mut keyed = event(&ws, "user.created");
                    keyed.idempotency_key = Some(format!("order-{round}"));
                    store.publish(keyed).await.unwrap()
                })
            })
            .collect();
        let mut firsts = 0;
        let mut ids = HashSet::new();
        for task in tasks {
            let p = task.await.unwrap();
            if !p.duplicate {
                firsts += 1;
            }
            ids.insert(p.event.id);
        }
        assert_eq!((firsts, ids.len()), (1, 1), "round {round}");
    }
    eventually(TAKE_UP_WITHIN, "one delivery per key", || async {
        open_deliveries(&*stores[1], &hook).await.len() == 5
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schema_named_in_the_url_options_is_used() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let first = schema.connect().await;
    let ws = workspace(&first, "a").await;
    let separator = if schema.url.contains('?') { '&' } else { '?' };
    let url = format!(
        "{}{separator}options=-csearch_path%3D{}",
        schema.url, schema.name
    );
    let second = PostgresStore::connect(
        &url,
        store::postgres::PgOptions::default(),
        schema.cipher.clone(),
    )
    .await
    .unwrap();
    assert_eq!(second.schema(), None);
    assert_eq!(second.get_workspace(&ws).await.unwrap().name, "a");
}

/// Two publishing transactions on two real connections, the later-started committing
/// first: a take-up must not pass the open one (its entry would land behind the cursor
/// and never be taken up), and once it commits both are taken up, in log order.
#[tokio::test(flavor = "multi_thread")]
async fn the_take_up_never_passes_an_open_publishing_transaction() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let store = schema.connect().await;
    let ws = workspace(&store, "a").await;
    let hook = webhook(&store, &ws, &["*"]).await.id;
    let _holding = HORIZON_HOLDERS.write().await;
    let insert = "INSERT INTO events (id, workspace_id, type, created_at, body)
                  VALUES ($1, $2, 'user.created', now(), '{}')";
    let (first_id, second_id) = (EventId::generate(), EventId::generate());
    let (first, second) = (raw(&schema).await, raw(&schema).await);
    first.batch_execute("BEGIN").await.unwrap();
    first
        .execute(insert, &[&first_id.as_str(), &ws.as_str()])
        .await
        .unwrap();
    second.batch_execute("BEGIN").await.unwrap();
    second
        .execute(insert, &[&second_id.as_str(), &ws.as_str()])
        .await
        .unwrap();
    second.batch_execute("COMMIT").await.unwrap();

    // The store's own publish, and a sweep, both take the workspace up while the first
    // transaction is still open: neither may pass it.
    let own = store.publish(event(&ws, "user.created")).await.unwrap();
    store.lanes_with_work().await.unwrap();
    assert!(
        open_deliveries(&store, &hook).await.is_empty(),
        "nothing behind an open transaction is taken up"
    );

    first.batch_execute("COMMIT").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let open = loop {
        store.lanes_with_work().await.unwrap();
        let open = open_deliveries(&store, &hook).await;
        if open.len() == 3 || Instant::now() > deadline {
            break open;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let order: Vec<&EventId> = open.iter().map(|d| &d.event_id).collect();
    assert_eq!(
        order,
        [&first_id, &second_id, &own.event.id],
        "log order is transaction order, whatever the commit order"
    );
}

/// A publish writes one log row and sends the same statements whether 1, 10 or 50
/// endpoints subscribe; what grows is the take-up, one delivery row per endpoint.
#[tokio::test(flavor = "multi_thread")]
async fn a_publish_costs_the_same_for_1_10_or_50_endpoints() {
    const EVENTS: u64 = 20;
    let mut costs = Vec::new();
    for endpoints in [1, 10, 50] {
        let Some(schema) = TestSchema::new().await else {
            return;
        };
        let store = schema.connect().await;
        let ws = workspace(&store, "a").await;
        for _ in 0..endpoints {
            webhook(&store, &ws, &["user.*"]).await;
        }
        let before = store.work_done();
        for _ in 0..EVENTS {
            store.publish(event(&ws, "user.created")).await.unwrap();
        }
        // The take-up follows the answers; its work is counted as it commits.
        let expected = EVENTS * endpoints;
        eventually(TAKE_UP_WITHIN, "the take-up's rows", || async {
            store.work_done().since(before).take_up.rows >= expected
        })
        .await;
        let done = store.work_done().since(before);
        assert_eq!(done.events, EVENTS);
        assert_eq!(done.publish.rows, EVENTS, "one log row per event");
        assert!(
            done.take_up.rows >= EVENTS * endpoints,
            "a delivery per endpoint and event: {done:?}"
        );
        costs.push(done.publish);
    }
    assert!(costs.windows(2).all(|w| w[0] == w[1]), "{costs:?}");
}

/// How long a publish may take to answer while its take-up is held: far below the 2 s
/// a held-back take-up waits for the horizon, and finite where a take-up waiting for
/// the lock would wait for ever.
const PROMPTLY: Duration = Duration::from_millis(1500);

/// Issue 12: no publish waits on another's lock. With the workspace's take-up lock held
/// by another connection (as another process's long take-up would), a publish answers
/// at its commit; its delivery comes once the lock is released.
#[tokio::test(flavor = "multi_thread")]
async fn a_publish_answers_while_the_take_up_lock_is_held() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let store = schema.connect().await;
    let ws = workspace(&store, "a").await;
    let hook = webhook(&store, &ws, &["*"]).await.id;
    let holder = raw(&schema).await;
    holder.batch_execute("BEGIN").await.unwrap();
    // The lock the take-up takes (`take_up::LOCK_WORKSPACE`).
    holder
        .execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('admin-webhooks take-up ' || $1, 0))",
            &[&ws.as_str()],
        )
        .await
        .unwrap();

    let started = Instant::now();
    let published = tokio::time::timeout(PROMPTLY, store.publish(event(&ws, "user.created")))
        .await
        .expect("the publish answers while the take-up lock is held")
        .unwrap();
    assert!(started.elapsed() < PROMPTLY);
    assert!(
        open_deliveries(&store, &hook).await.is_empty(),
        "the take-up waits for the lock"
    );

    holder.batch_execute("COMMIT").await.unwrap();
    taken_up(&store, &ws, &published.event.id).await;
    assert_eq!(open_deliveries(&store, &hook).await.len(), 1);
}

/// With an older transaction open (it holds back the horizon of every take-up on the
/// server), a publish answers at its commit, without the 2 s wait for the horizon; the
/// take-up worker keeps the workspace past that patience, and takes it up once the
/// transaction ended, without a sweep.
#[tokio::test(flavor = "multi_thread")]
async fn a_publish_answers_while_an_older_transaction_holds_the_horizon() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let store = schema.connect().await;
    let ws = workspace(&store, "a").await;
    let hook = webhook(&store, &ws, &["*"]).await.id;
    let _holding = HORIZON_HOLDERS.write().await;
    let older = raw(&schema).await;
    older.batch_execute("BEGIN").await.unwrap();
    // A transaction id, older than the publish's: the horizon stops below it.
    older
        .batch_execute("SELECT pg_current_xact_id()")
        .await
        .unwrap();

    let started = Instant::now();
    let published = tokio::time::timeout(PROMPTLY, store.publish(event(&ws, "user.created")))
        .await
        .expect("the publish answers while the horizon is held")
        .unwrap();
    assert!(started.elapsed() < PROMPTLY);
    // Longer than the worker's patience (2 s): it gives up a round, not the workspace.
    continually(
        Duration::from_secs(3),
        "no delivery while an older transaction is open",
        || async { open_deliveries(&store, &hook).await.is_empty() },
    )
    .await;

    older.batch_execute("COMMIT").await.unwrap();
    taken_up(&store, &ws, &published.event.id).await;
    assert_eq!(open_deliveries(&store, &hook).await.len(), 1);
}

/// Closing takes up what was committed before it returns (here: with nothing holding
/// the take-up back; within 2 s, it would give up and leave it to the next sweep).
#[tokio::test(flavor = "multi_thread")]
async fn close_takes_up_what_was_published() {
    let _no_holder = HORIZON_HOLDERS.read().await;
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let store = schema.connect().await;
    let ws = workspace(&store, "a").await;
    let hook = webhook(&store, &ws, &["*"]).await.id;
    let answers = store
        .publish_batch((0..50).map(|_| event(&ws, "user.created")).collect())
        .await;
    assert!(answers.iter().all(Result::is_ok));
    store.close().await;
    // Read without a store: connecting would take up what is left.
    let count: i64 = raw(&schema)
        .await
        .query_one(
            "SELECT count(*) FROM deliveries WHERE webhook_id = $1",
            &[&hook.as_str()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 50);
}
