//! The shared backend: PostgreSQL, for several `serve` processes on one database
//! (SPEC §1 "Scale-out", DESIGN.md "Several processes").
//!
//! Driver: tokio-postgres with a deadpool-postgres pool. Chosen over sqlx because it is
//! much lighter to build, gives direct control of pipelining (which the group commit
//! relies on, see [`pipeline`]) and of a raw connection for `LISTEN`, and the store needs
//! none of sqlx's compile-time checking: its SQL is few statements, each exercised by the
//! conformance suite.
//!
//! Shape, mirroring the SQLite backend where it can:
//! - Publishes go to a publish writer task ([`publish`]) that commits queued publishes
//!   together in one transaction (group commit), each in its own savepoint.
//! - Outcomes go to an outcome writer task ([`outcomes`]): `submit_outcome` returns at
//!   once, and outcomes commit in submission order, fenced by attempt count.
//! - Other writes (keys, webhooks, catalog) are one short transaction each on a pooled
//!   connection: row locks, not a single writer, keep their checks (the enabled-webhook
//!   limit) safe across processes.
//! - Lanes are shared by lease ([`leases`]), and wake-ups travel by LISTEN/NOTIFY
//!   ([`listener`]).
//! - This process's commits are announced ([`crate::announce`]) right after they
//!   committed, without waiting for their notification to come back: publishes by the
//!   publish writer, changes and re-sends here; other processes' by the listener.
//! - The activity log, re-sends, stats and retention ([`activity`], [`stats`],
//!   [`retention`]) are plain statements on pooled connections, and so are dashboard
//!   sessions ([`sessions`]).
//! - Every call is timed ([`crate::timing`]) where it passes: the writers' replies, or
//!   the one pooled entry (`PostgresStore::pooled`) every other call takes.
//!
//! Invariants (beyond the contract in the crate root):
//! - Signing secrets are sealed with the store's [`SecretCipher`]; connecting re-seals
//!   any older value and fails when its keys cannot open a stored secret.
//! - Every behaviour of the [`Store`] contract is the SQLite backend's; the conformance
//!   suite runs against both.
//! - Times the store makes are truncated to milliseconds, as on SQLite; lease times are
//!   the database's clock.
//! - [`PostgresStore::close`] commits every write accepted before and then refuses new
//!   calls (`Closed`). Dropping the store stops accepting writes too; what was queued is
//!   still committed by the writer tasks as long as the runtime runs.

mod activity;
mod connect;
mod deliveries;
mod health;
mod leases;
mod listener;
mod operations;
mod outcomes;
mod pipeline;
#[cfg(test)]
mod plans;
mod publish;
mod retention;
mod rows;
mod schema;
mod sessions;
mod stats;
mod take_up;
mod take_up_worker;
mod tenancy;
#[cfg(test)]
mod test_database;
mod webhooks;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use domain::{ApiKeyId, DeliveryId, EventId, EventTypeDef, WebhookId, WorkspaceId};

use self::listener::Wakeups;
use self::outcomes::OutcomeJob;
use self::publish::{PublishJob, Publisher};
use self::writer::Writer;
use crate::announce::{self, Announcer};
use crate::timing::{self, TimedReply};
use crate::{
    Ack, ApiKey, Attempt, Delivery, DeliveryFilter, DueDelivery, Event, EventFilter, EventType,
    EventTypePatch, LaneTarget, NewApiKey, NewEvent, NewSession, NewWebhook, Outcome, Page,
    PageRequest, PruneReport, Published, ReplayFilter, Result, SecretCipher, SecretRotation,
    Session, StoreError, Wakeup, Webhook, WebhookPatch, WebhookStats, Workspace,
};
use crate::{ActivityStore, LaneStore, OperationsStore, TenancyStore};
use crate::{AlertCondition, EndpointBacklog, MigrationStatus, NewAlert};
use crate::{SeriesSpec, StatsBucket, WebhookHealth};

/// The channel every process listens on: the payload is the id of an endpoint whose lane
/// has new work or changed settings, prefixed with [`RESYNC_PREFIX`] when deliveries were
/// re-opened in place. Channels are per database, not per schema.
pub const WAKE_CHANNEL: &str = "admin_webhooks_wake";

/// Marks a wake-up whose lane must re-read itself from its first open delivery.
pub const RESYNC_PREFIX: &str = "resync:";

/// Separates a publish's wake-up from the origin of the store that sent it
/// (`wh_…@origin`), so that store's listener can drop its own echoes.
pub const ORIGIN_MARK: char = '@';

/// How a [`PostgresStore`] connects.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Pooled connections at most (the listener's connection, and up to 3 for outcomes
    /// and take-ups, come on top). Default 16.
    pub max_connections: usize,
    /// A schema to keep every table in: created if missing, and set as `search_path` on
    /// every connection. `None` uses the URL's settings (e.g.
    /// `?options=-csearch_path%3Dname`, for a schema that exists) or the server's default.
    pub schema: Option<String>,
    /// How long a call waits for a free pooled connection before it fails. Default 30 s.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 16,
            schema: None,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

pub struct PostgresStore {
    pool: Pool,
    publishes: Writer<PublishJob>,
    /// What the publish writer and the catch-up take-up work with.
    publisher: Arc<Publisher>,
    /// The take-up worker, which closing waits for once the publish writer (the one
    /// holder of its hand-over) ended.
    take_up_worker: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    outcomes: Writer<OutcomeJob>,
    wakeups: Wakeups,
    /// This process's news, and the listener's of others; handed out by `announcements`.
    announcer: Arc<Announcer>,
    schema: Option<String>,
    /// Seals the signing secrets written and opens those read.
    cipher: SecretCipher,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db?…`), brings the schema up to date
    /// (once, however many processes start at the same time) and starts the writer tasks
    /// and the listener. Seals signing secrets with `cipher`'s first key, and re-seals
    /// with it every stored secret that is plaintext or sealed with an older key; fails
    /// when `cipher` cannot open a stored secret (a wrong or missing key). Must be called
    /// inside a tokio runtime.
    pub async fn connect(
        url: &str,
        options: PgOptions,
        cipher: SecretCipher,
    ) -> Result<PostgresStore> {
        let config = schema::config(url, &options)?;
        let pool = schema::pool(&config, &options)?;
        schema::migrate(&pool, options.schema.as_deref()).await?;
        let resealed = webhooks::seal_stored_secrets(&pool.get().await?, &cipher).await?;
        if resealed > 0 {
            tracing::info!(
                resealed,
                "sealed stored signing secrets with the first secret key"
            );
        }
        let mut listen_config = config.clone();
        // Named so an operator (or a test) can tell this connection apart in pg_stat_activity.
        listen_config.application_name(format!(
            "admin-webhooks listener {}",
            options.schema.as_deref().unwrap_or("")
        ));
        // Unique per store, so two stores of one process (tests) tell their echoes apart.
        let origin = DeliveryId::generate()
            .as_str()
            .trim_start_matches("dlv_")
            .to_owned();
        let announcer = Arc::new(Announcer::new());
        let wakeups = Wakeups::start(listen_config, announcer.clone(), origin.clone()).await?;
        let publisher = Arc::new(Publisher {
            pool: pool.clone(),
            unflushed: schema::unflushed_pool(&config, &options)?,
            taking_up: Arc::default(),
            counter: Arc::default(),
            announcer: announcer.clone(),
            origin_suffix: format!("{ORIGIN_MARK}{origin}"),
        });
        // What a process that stopped between a publish and its take-up left.
        take_up::catch_up(&publisher).await?;
        let unflushed = publisher.unflushed.clone();
        let outcome_counter = publisher.counter.clone();
        let writer_publisher = publisher.clone();
        let (take_ups, take_up_worker) = take_up_worker::start(publisher.clone());
        Ok(PostgresStore {
            // The writer's closure holds the only hand-over to the take-up worker: when
            // the writer ends, so does the worker.
            publishes: Writer::start(publish::MAX_BATCH, move |jobs| {
                let publisher = writer_publisher.clone();
                let take_ups = take_ups.clone();
                async move { publish::commit_group(&publisher, &take_ups, jobs).await }
            }),
            publisher,
            take_up_worker: std::sync::Mutex::new(Some(take_up_worker)),
            outcomes: Writer::start(outcomes::MAX_BATCH, move |jobs| {
                outcomes::commit_group(unflushed.clone(), outcome_counter.clone(), jobs)
            }),
            pool,
            wakeups,
            announcer,
            schema: options.schema,
            cipher,
        })
    }

    /// The schema chosen in [`PgOptions`], if any.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Stops accepting work, waits until every write accepted before is committed, and
    /// closes the connections. Later calls fail with `Closed`.
    pub async fn close(&self) {
        self.publishes.close().await;
        // The take-up of what the last groups committed (best effort: see
        // `take_up_worker`).
        let worker = self
            .take_up_worker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(worker) = worker
            && let Err(error) = worker.await
        {
            tracing::warn!(%error, "the take-up worker failed");
        }
        self.outcomes.close().await;
        self.wakeups.stop();
        self.pool.close();
    }

    /// Statements sent and rows written by publishing, taking up and recording outcomes
    /// since the store connected (see [`crate::work`]), as this store counts them.
    pub fn work_done(&self) -> crate::work::WorkDone {
        self.publisher.counter.snapshot()
    }

    /// The highest schema migration applied to the database.
    pub async fn schema_version(&self) -> Result<i64> {
        schema::schema_version(&self.pool).await
    }

    /// Takes up whatever enabled endpoints have not taken up yet (the sweep's part in
    /// the take-up, see [`take_up`]); a failure is only logged, the next sweep tries again.
    async fn catch_up(&self) {
        let publisher = &self.publisher;
        let _one_at_a_time = publisher.taking_up.lock().await;
        let caught_up = timing::timed("catch_up", take_up::catch_up(publisher)).await;
        if let Err(error) = caught_up {
            tracing::warn!(%error, "taking up events left behind failed; the next sweep tries again");
        }
    }

    /// Queues a publish for the publish writer; where its answer arrives.
    fn queue_publish(
        &self,
        operation: &'static str,
        new: NewEvent,
    ) -> tokio::sync::oneshot::Receiver<Result<Published>> {
        let (reply, answer) = TimedReply::new(operation);
        if let Err(job) = self.publishes.send(PublishJob { new, reply }) {
            job.reply.send(Err(StoreError::Closed));
        }
        answer
    }

    /// Runs `work` on a pooled connection: the one entry of every call that is not a
    /// grouped write, timed as `operation` (see [`crate::timing`]) from the wait for a
    /// connection to the answer.
    async fn pooled<T>(
        &self,
        operation: &'static str,
        work: impl AsyncFnOnce(&mut deadpool_postgres::Client) -> Result<T>,
    ) -> Result<T> {
        timing::timed(operation, async {
            let mut client = self.pool.get().await?;
            work(&mut client).await
        })
        .await
    }
}

#[async_trait]
impl LaneStore for PostgresStore {
    async fn lanes_with_work(&self) -> Result<Vec<WebhookId>> {
        self.catch_up().await;
        self.pooled("lanes_with_work", async |client| {
            deliveries::lanes_with_work(&*client).await
        })
        .await
    }

    async fn lane_target(&self, webhook: &WebhookId) -> Result<LaneTarget> {
        self.pooled("lane_target", async |client| {
            webhooks::lane_target(&*client, &self.cipher, webhook).await
        })
        .await
    }

    async fn lane_window(
        &self,
        webhook: &WebhookId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        self.pooled("lane_window", async |client| {
            deliveries::lane_window(&*client, webhook, after_seq, limit).await
        })
        .await
    }

    fn submit_outcome(&self, outcome: Outcome) -> Ack {
        let (reply, ack) = TimedReply::new("submit_outcome");
        if let Err(job) = self.outcomes.send(OutcomeJob { outcome, reply }) {
            job.reply.send(Err(StoreError::Closed));
        }
        ack
    }

    fn shares_lanes(&self) -> bool {
        true
    }

    async fn claim_lanes(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<WebhookId>> {
        self.catch_up().await;
        self.pooled("claim_lanes", async |client| {
            leases::claim_lanes(&*client, owner, lease, limit).await
        })
        .await
    }

    async fn claim_lane(&self, owner: &str, webhook: &WebhookId, lease: Duration) -> Result<bool> {
        self.pooled("claim_lane", async |client| {
            leases::claim_lane(&*client, owner, webhook, lease).await
        })
        .await
    }

    async fn renew_leases(
        &self,
        owner: &str,
        lanes: &[WebhookId],
        lease: Duration,
    ) -> Result<Vec<WebhookId>> {
        self.pooled("renew_leases", async |client| {
            leases::renew_leases(&*client, owner, lanes, lease).await
        })
        .await
    }

    async fn release_lane(&self, owner: &str, webhook: &WebhookId) -> Result<()> {
        self.pooled("release_lane", async |client| {
            leases::release_lane(&*client, owner, webhook).await
        })
        .await
    }

    fn announcements(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Wakeup>> {
        self.announcer.take()
    }
}

#[async_trait]
impl TenancyStore for PostgresStore {
    async fn create_workspace(
        &self,
        name: &str,
        first_key: NewApiKey,
    ) -> Result<(Workspace, ApiKey)> {
        self.pooled("create_workspace", async |client| {
            let tx = client.transaction().await?;
            let created = tenancy::create_workspace(&tx, name, &first_key).await?;
            tx.commit().await?;
            Ok(created)
        })
        .await
    }

    async fn list_workspaces(&self, page: PageRequest) -> Result<Page<Workspace>> {
        self.pooled("list_workspaces", async |client| {
            tenancy::list_workspaces(&*client, &page).await
        })
        .await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Workspace> {
        self.pooled("get_workspace", async |client| {
            tenancy::get_workspace(&*client, id).await
        })
        .await
    }

    async fn set_workspace_limit(
        &self,
        id: &WorkspaceId,
        max_enabled_webhooks: u32,
    ) -> Result<Workspace> {
        self.pooled("set_workspace_limit", async |client| {
            tenancy::set_workspace_limit(&*client, id, max_enabled_webhooks).await
        })
        .await
    }

    async fn find_api_key(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>> {
        self.pooled("find_api_key", async |client| {
            tenancy::find_api_key(&*client, hash).await
        })
        .await
    }

    async fn create_api_key(&self, workspace: &WorkspaceId, key: NewApiKey) -> Result<ApiKey> {
        self.pooled("create_api_key", async |client| {
            tenancy::insert_api_key(&*client, workspace, &key).await
        })
        .await
    }

    async fn list_api_keys(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<Page<ApiKey>> {
        self.pooled("list_api_keys", async |client| {
            tenancy::list_api_keys(&*client, workspace, &page).await
        })
        .await
    }

    async fn revoke_api_key(&self, workspace: &WorkspaceId, id: &ApiKeyId) -> Result<()> {
        self.pooled("revoke_api_key", async |client| {
            let tx = client.transaction().await?;
            tenancy::revoke_api_key(&tx, workspace, id).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn shared_secret(&self, name: &str, candidate: [u8; 32]) -> Result<[u8; 32]> {
        self.pooled("shared_secret", async |client| {
            tenancy::shared_secret(&*client, name, &candidate).await
        })
        .await
    }

    async fn create_session(&self, new: NewSession) -> Result<Session> {
        self.pooled("create_session", async |client| {
            sessions::create_session(&*client, &new).await
        })
        .await
    }

    async fn find_session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>> {
        self.pooled("find_session", async |client| {
            sessions::find_session(&*client, id_hash).await
        })
        .await
    }

    async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<()> {
        self.pooled("delete_session", async |client| {
            sessions::delete_session(&*client, id_hash).await
        })
        .await
    }

    async fn list_event_types(&self, workspace: &WorkspaceId) -> Result<Vec<EventType>> {
        self.pooled("list_event_types", async |client| {
            tenancy::list_event_types(&*client, workspace).await
        })
        .await
    }

    async fn create_event_type(
        &self,
        workspace: &WorkspaceId,
        def: EventTypeDef,
        schema: Option<String>,
    ) -> Result<EventType> {
        self.pooled("create_event_type", async |client| {
            tenancy::create_event_type(&*client, workspace, &def, schema.as_deref()).await
        })
        .await
    }

    async fn update_event_type(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        patch: EventTypePatch,
    ) -> Result<EventType> {
        self.pooled("update_event_type", async |client| {
            tenancy::update_event_type(&*client, workspace, name, &patch).await
        })
        .await
    }

    async fn create_webhook(&self, workspace: &WorkspaceId, new: NewWebhook) -> Result<Webhook> {
        self.pooled("create_webhook", async |client| {
            webhooks::create_webhook(client, &self.cipher, workspace, &new).await
        })
        .await
    }

    async fn list_webhooks(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<Page<Webhook>> {
        self.pooled("list_webhooks", async |client| {
            webhooks::list_webhooks(&*client, &self.cipher, workspace, &page).await
        })
        .await
    }

    async fn get_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> Result<Webhook> {
        self.pooled("get_webhook", async |client| {
            webhooks::get_webhook(&*client, &self.cipher, workspace, id).await
        })
        .await
    }

    async fn update_webhook(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
        patch: WebhookPatch,
    ) -> Result<Webhook> {
        let hook = self
            .pooled("update_webhook", async |client| {
                webhooks::update_webhook(client, &self.cipher, workspace, id, patch).await
            })
            .await?;
        self.announcer.announce_all(announce::resync_of(id));
        Ok(hook)
    }

    async fn delete_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> Result<()> {
        self.pooled("delete_webhook", async |client| {
            webhooks::delete_webhook(&*client, workspace, id).await
        })
        .await?;
        // A lane sleeping in backoff learns that its endpoint is gone.
        self.announcer.announce_all(announce::resync_of(id));
        Ok(())
    }

    async fn touch_listeners(&self, listeners: &[WebhookId]) -> Result<()> {
        if listeners.is_empty() {
            return Ok(());
        }
        self.pooled("touch_listeners", async |client| {
            webhooks::touch_listeners(&*client, listeners, rows::now()).await
        })
        .await
    }

    async fn stale_listeners(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<(WorkspaceId, WebhookId)>> {
        self.pooled("stale_listeners", async |client| {
            webhooks::stale_listeners(&*client, before).await
        })
        .await
    }

    async fn rotate_secret(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        new_secret: String,
        grace: Duration,
    ) -> Result<SecretRotation> {
        let rotation = self
            .pooled("rotate_secret", async |client| {
                webhooks::rotate_secret(
                    &*client,
                    &self.cipher,
                    workspace,
                    webhook,
                    &new_secret,
                    grace,
                )
                .await
            })
            .await?;
        self.announcer.announce_all(announce::resync_of(webhook));
        Ok(rotation)
    }
}

#[async_trait]
impl ActivityStore for PostgresStore {
    async fn publish(&self, new: NewEvent) -> Result<Published> {
        self.queue_publish("publish", new)
            .await
            .unwrap_or(Err(StoreError::Closed))
    }

    async fn publish_batch(&self, new: Vec<NewEvent>) -> Vec<Result<Published>> {
        // Queued back to back, the items reach the publish writer together and commit in
        // one group (two when a group boundary falls inside), each in its own savepoint.
        let answers: Vec<_> = new
            .into_iter()
            .map(|new| self.queue_publish("publish_batch", new))
            .collect();
        let mut published = Vec::with_capacity(answers.len());
        for answer in answers {
            published.push(answer.await.unwrap_or(Err(StoreError::Closed)));
        }
        published
    }

    async fn get_event(&self, workspace: &WorkspaceId, id: &EventId) -> Result<Event> {
        self.pooled("get_event", async |client| {
            publish::get_event(&*client, workspace, id).await
        })
        .await
    }

    async fn list_deliveries(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<Delivery>> {
        self.pooled("list_deliveries", async |client| {
            activity::list_deliveries(client, workspace, webhook, &filter, &page).await
        })
        .await
    }

    async fn get_delivery(
        &self,
        workspace: &WorkspaceId,
        id: &DeliveryId,
    ) -> Result<(Delivery, Vec<Attempt>)> {
        self.pooled("get_delivery", async |client| {
            deliveries::get_delivery(client, workspace, id).await
        })
        .await
    }

    async fn list_events(
        &self,
        workspace: &WorkspaceId,
        filter: EventFilter,
        page: PageRequest,
    ) -> Result<Page<Event>> {
        self.pooled("list_events", async |client| {
            activity::list_events(client, workspace, &filter, &page).await
        })
        .await
    }

    async fn list_event_deliveries(
        &self,
        workspace: &WorkspaceId,
        event: &EventId,
    ) -> Result<Vec<Delivery>> {
        self.pooled("list_event_deliveries", async |client| {
            activity::list_event_deliveries(client, workspace, event).await
        })
        .await
    }

    async fn retry_delivery(&self, workspace: &WorkspaceId, id: &DeliveryId) -> Result<Delivery> {
        let delivery = self
            .pooled("retry_delivery", async |client| {
                activity::retry_delivery(&*client, workspace, id).await
            })
            .await?;
        self.announcer
            .announce_all(announce::resync_of(&delivery.webhook_id));
        Ok(delivery)
    }

    async fn replay_deliveries(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        filter: ReplayFilter,
    ) -> Result<u64> {
        let replayed = self
            .pooled("replay_deliveries", async |client| {
                activity::replay_deliveries(client, workspace, webhook, &filter).await
            })
            .await?;
        if replayed > 0 {
            self.announcer.announce_all(announce::resync_of(webhook));
        }
        Ok(replayed)
    }

    async fn webhook_stats(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        since: DateTime<Utc>,
    ) -> Result<WebhookStats> {
        self.pooled("webhook_stats", async |client| {
            stats::webhook_stats(client, workspace, webhook, since).await
        })
        .await
    }

    async fn webhook_series(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        spec: SeriesSpec,
    ) -> Result<Vec<StatsBucket>> {
        self.pooled("webhook_series", async |client| {
            stats::webhook_series(client, workspace, webhook, &spec).await
        })
        .await
    }

    async fn webhook_health(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
    ) -> Result<WebhookHealth> {
        self.pooled("webhook_health", async |client| {
            health::webhook_health(&*client, workspace, webhook).await
        })
        .await
    }

    async fn deliveries_ahead(&self, workspace: &WorkspaceId, id: &DeliveryId) -> Result<u64> {
        self.pooled("deliveries_ahead", async |client| {
            health::deliveries_ahead(&*client, workspace, id).await
        })
        .await
    }
}

#[async_trait]
impl OperationsStore for PostgresStore {
    async fn bootstrap(&self, first_key: NewApiKey) -> Result<Option<Workspace>> {
        self.pooled("bootstrap", async |client| {
            tenancy::bootstrap(client, &first_key).await
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.pooled("ping", async |client| {
            client.simple_query("SELECT 1").await?;
            Ok(())
        })
        .await
    }

    async fn migrations(&self) -> Result<MigrationStatus> {
        timing::timed("migrations", async {
            Ok(MigrationStatus {
                applied: schema::schema_version(&self.pool).await?,
                latest: schema::LATEST,
            })
        })
        .await
    }

    async fn endpoint_backlogs(&self) -> Result<Vec<EndpointBacklog>> {
        self.pooled("endpoint_backlogs", async |client| {
            operations::endpoint_backlogs(&*client).await
        })
        .await
    }

    async fn raise_alert(&self, alert: NewAlert, mut event: NewEvent) -> Result<Option<Published>> {
        let claim = self
            .pooled("raise_alert", async |client| {
                operations::claim(&*client, &alert).await
            })
            .await?;
        let since = match claim {
            operations::Claim::Publish { since } => since,
            operations::Claim::Done => return Ok(None),
        };
        event.idempotency_key = Some(operations::idempotency_key(&alert, since));
        let published = self.publish(event).await?;
        self.pooled("raise_alert", async |client| {
            operations::mark_published(&*client, &alert, &published.event.id).await
        })
        .await?;
        Ok((!published.duplicate).then_some(published))
    }

    async fn clear_alerts(
        &self,
        webhook: &WebhookId,
        condition: AlertCondition,
        before: DateTime<Utc>,
    ) -> Result<bool> {
        self.pooled("clear_alerts", async |client| {
            operations::clear_alerts(&*client, webhook, condition, before).await
        })
        .await
    }

    async fn prune(&self, older_than: DateTime<Utc>, batch: u32) -> Result<PruneReport> {
        self.pooled("prune", async |client| {
            retention::prune(client, older_than, batch).await
        })
        .await
    }
}
