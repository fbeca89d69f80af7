//! The cost rows: statements run and rows written per published event (with 1, 10 and 50
//! subscribed endpoints) and per delivered attempt, as each store counts them itself
//! (`work_done`, see the store's `work` module). They describe the design, not this
//! machine: the same on any hardware, so a change that makes publishing grow with the
//! endpoints again shows here whatever the timings say.
//!
//! The store runs in this process, without the HTTP layers around it: the same writes
//! the service makes. Events are published by 64 concurrent tasks, so group commits form
//! as they do under load; the take-up is shown beside the publish, per event.

use std::sync::Arc;

use anyhow::Context;
use domain::{DeliveryStatus, Subscription};
use serde_json::value::RawValue;
use store::work::{Cost, WorkDone};
use store::{
    AttemptLog, NewApiKey, NewEvent, NewWebhook, Outcome, Store, postgres::PgOptions,
    postgres::PostgresStore, sqlite::SqliteStore,
};

use super::Bench;
use super::postgres::TempDb;
use crate::service::TempDir;

/// Events published per endpoint count.
const EVENTS: usize = 2_000;
/// Concurrent publishers.
const TASKS: usize = 64;
/// Endpoint counts measured.
const ENDPOINTS: [usize; 3] = [1, 10, 50];

/// A store under measurement, with its own count of what it did.
struct Measured {
    store: Arc<dyn Store>,
    work: Box<dyn Fn() -> WorkDone + Send + Sync>,
}

impl Bench {
    /// The SQLite rows, and the PostgreSQL rows when a server was given.
    pub(super) async fn cost_rows(&mut self) -> anyhow::Result<()> {
        for endpoints in ENDPOINTS {
            let dir = TempDir::new("cost")?;
            let store = Arc::new(SqliteStore::open_in_dir(dir.path())?);
            store.count_statements().await?;
            let work = store.clone();
            let measured = Measured {
                store,
                work: Box::new(move || work.work_done()),
            };
            self.cost_of("SQLite", measured, endpoints).await?;
        }
        if let Some(server) = self.postgres.clone() {
            for endpoints in ENDPOINTS {
                let db = TempDb::create(&server).await?;
                let cipher = store::SecretCipher::parse(&store::sealing::generate_key())?;
                let store = PostgresStore::connect(&db.url, PgOptions::default(), cipher)
                    .await
                    .context("cannot open the PostgreSQL store")?;
                let store = Arc::new(store);
                let work = store.clone();
                let measured = Measured {
                    store: store.clone(),
                    work: Box::new(move || work.work_done()),
                };
                let outcome = self.cost_of("PostgreSQL", measured, endpoints).await;
                store.close().await;
                db.drop_db().await?;
                outcome?;
            }
        }
        Ok(())
    }

    /// Publishes [`EVENTS`] to `endpoints` subscribed endpoints and records one row; with
    /// one endpoint, also delivers them all and records the cost per attempt.
    async fn cost_of(
        &mut self,
        backend: &str,
        measured: Measured,
        endpoints: usize,
    ) -> anyhow::Result<()> {
        eprintln!("cost per event ({backend}, {endpoints} endpoints)");
        let store = measured.store.clone();
        let key = domain::api_key::generate_key();
        let first_key = NewApiKey {
            name: "bench".to_owned(),
            hash: domain::api_key::hash_key(&key),
            hint: domain::api_key::key_hint(&key),
        };
        let (ws, _) = store.create_workspace("cost", first_key).await?;
        let mut hooks = Vec::new();
        for _ in 0..endpoints {
            let hook = store
                .create_webhook(
                    &ws.id,
                    NewWebhook {
                        url: "https://receiver.example.com/hooks".to_owned(),
                        description: String::new(),
                        events: vec![Subscription::parse("user.*")?],
                        enabled: true,
                        secret: domain::signature::generate_secret(),
                        rate_limit: None,
                        headers: domain::CustomHeaders::default(),
                    },
                )
                .await?;
            hooks.push(hook.id);
        }

        let before = (measured.work)();
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (store, ws) = (store.clone(), ws.id.clone());
                tokio::spawn(async move {
                    for _ in (t..EVENTS).step_by(TASKS) {
                        let event = NewEvent {
                            workspace_id: ws.clone(),
                            event_type: "user.created".to_owned(),
                            data: RawValue::from_string(r#"{"user_id":"usr_1"}"#.to_owned())?,
                            metadata: None,
                            idempotency_key: None,
                            only_webhook: None,
                            trace: None,
                        };
                        store.publish(event).await?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        // On PostgreSQL the deliveries are taken up after the publishes answered: wait
        // until every one is there (a delivery row per event and endpoint; cursor moves
        // count as rows too, so also until the count stops moving) before counting.
        let wanted = EVENTS as u64 * endpoints as u64;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut done = (measured.work)().since(before);
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let now = (measured.work)().since(before);
            let settled = now.take_up.rows >= wanted && now.take_up == done.take_up;
            done = now;
            if settled || std::time::Instant::now() >= deadline {
                break;
            }
        }
        anyhow::ensure!(
            done.take_up.rows >= wanted,
            "only {} of {wanted} deliveries were taken up within 30 s",
            done.take_up.rows
        );
        let per = |cost: Cost, count: u64| {
            let count = count.max(1) as f64;
            (cost.rows as f64 / count, cost.statements as f64 / count)
        };
        let (rows, statements) = per(done.publish, done.events);
        let (take_rows, take_statements) = per(done.take_up, done.events);
        self.table.plain(
            &format!(
                "store work per published event ({backend}), {endpoints} endpoint{}",
                super::plural(endpoints)
            ),
            format!(
                "publish {rows:.2} rows, {statements:.2} statements; take-up {take_rows:.2} rows, \
                 {take_statements:.2} statements"
            ),
            "per event",
        );
        self.table.note(format!(
            "store work ({backend}, {endpoints} endpoint{}): {} events in {} group commits \
             (each one BEGIN and one COMMIT on top of the statements shown); the take-up's \
             rows beyond one per endpoint are its cursor moves, one per endpoint and take-up",
            super::plural(endpoints),
            done.events,
            done.groups
        ));

        if endpoints == 1 {
            let hook = &hooks[0];
            let due = store.lane_window(hook, 0, EVENTS as u32).await?;
            let before = (measured.work)();
            let acks: Vec<_> = due
                .iter()
                .map(|d| {
                    store.submit_outcome(Outcome {
                        delivery_id: d.id.clone(),
                        webhook_id: hook.clone(),
                        attempts_before: d.attempts,
                        attempt: Some(AttemptLog {
                            id: domain::AttemptId::generate(),
                            attempted_at: chrono::Utc::now(),
                            status_code: Some(200),
                            response_ms: 1,
                            error_class: None,
                            error_message: None,
                            response_body: None,
                            request_headers: None,
                            response_headers: None,
                        }),
                        status: DeliveryStatus::Delivered,
                        next_attempt_at: None,
                        disable_webhook: false,
                    })
                })
                .collect();
            for ack in acks {
                ack.await??;
            }
            let done = (measured.work)().since(before);
            let (rows, statements) = per(done.outcomes, done.recorded);
            self.table.plain(
                &format!("store work per delivered attempt ({backend})"),
                format!("{rows:.2} rows, {statements:.2} statements"),
                "per attempt",
            );
        }
        Ok(())
    }
}
