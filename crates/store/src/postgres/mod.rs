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
//! - The activity log, re-sends, stats and retention ([`activity`], [`stats`],
//!   [`retention`]) are plain statements on pooled connections, and so are dashboard
//!   sessions ([`sessions`]).
//!
//! Invariants (beyond the contract in the crate root):
//! - Every behaviour of the [`Store`] contract is the SQLite backend's; the conformance
//!   suite runs against both.
//! - Times the store makes are truncated to milliseconds, as on SQLite; lease times are
//!   the database's clock.
//! - [`PostgresStore::close`] commits every write accepted before and then refuses new
//!   calls (`Closed`). Dropping the store stops accepting writes too; what was queued is
//!   still committed by the writer tasks as long as the runtime runs.

mod activity;
mod deliveries;
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
mod tenancy;
mod webhooks;
mod writer;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use domain::{ApiKeyId, DeliveryId, EventId, EventTypeDef, WebhookId, WorkspaceId};
use tokio::sync::oneshot;

use self::listener::Wakeups;
use self::outcomes::OutcomeJob;
use self::publish::PublishJob;
use self::writer::Writer;
use crate::{
    Ack, ApiKey, Attempt, Delivery, DeliveryFilter, DueDelivery, Event, EventFilter, EventType,
    LaneTarget, NewApiKey, NewEvent, NewSession, NewWebhook, Outcome, Page, PageRequest,
    PruneReport, Published, ReplayFilter, Result, SecretRotation, Session, StoreError, Webhook,
    WebhookPatch, WebhookStats, Workspace,
};
use crate::{ActivityStore, LaneStore, OperationsStore, TenancyStore};
use crate::{AlertCondition, EndpointBacklog, MigrationStatus, NewAlert};

/// The channel every process listens on: the payload is the id of an endpoint whose lane
/// has new work or changed settings, prefixed with [`RESYNC_PREFIX`] when deliveries were
/// re-opened in place. Channels are per database, not per schema.
pub const WAKE_CHANNEL: &str = "admin_webhooks_wake";

/// Marks a wake-up whose lane must re-read itself from its first open delivery.
pub const RESYNC_PREFIX: &str = "resync:";

/// How a [`PostgresStore`] connects.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Pooled connections at most (the listener's connection comes on top). Default 16.
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
    outcomes: Writer<OutcomeJob>,
    wakeups: Wakeups,
    schema: Option<String>,
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
    /// and the listener. Must be called inside a tokio runtime.
    pub async fn connect(url: &str, options: PgOptions) -> Result<PostgresStore> {
        let config = schema::config(url, &options)?;
        let pool = schema::pool(&config, &options)?;
        schema::migrate(&pool, options.schema.as_deref()).await?;
        let mut listen_config = config.clone();
        // Named so an operator (or a test) can tell this connection apart in pg_stat_activity.
        listen_config.application_name(format!(
            "admin-webhooks listener {}",
            options.schema.as_deref().unwrap_or("")
        ));
        let wakeups = Wakeups::start(listen_config).await?;
        let publish_pool = pool.clone();
        let outcome_pool = pool.clone();
        Ok(PostgresStore {
            publishes: Writer::start(publish::MAX_BATCH, move |jobs| {
                publish::commit_group(publish_pool.clone(), jobs)
            }),
            outcomes: Writer::start(outcomes::MAX_BATCH, move |jobs| {
                outcomes::commit_group(outcome_pool.clone(), jobs)
            }),
            pool,
            wakeups,
            schema: options.schema,
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
        self.outcomes.close().await;
        self.wakeups.stop();
        self.pool.close();
    }

    /// The highest schema migration applied to the database.
    pub async fn schema_version(&self) -> Result<i64> {
        schema::schema_version(&self.pool).await
    }

    async fn client(&self) -> Result<deadpool_postgres::Client> {
        Ok(self.pool.get().await?)
    }
}

#[async_trait]
impl LaneStore for PostgresStore {
    async fn lanes_with_work(&self) -> Result<Vec<WebhookId>> {
        deliveries::lanes_with_work(&self.client().await?).await
    }

    async fn lane_target(&self, webhook: &WebhookId) -> Result<LaneTarget> {
        webhooks::lane_target(&self.client().await?, webhook).await
    }

    async fn lane_window(
        &self,
        webhook: &WebhookId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        deliveries::lane_window(&self.client().await?, webhook, after_seq, limit).await
    }

    fn submit_outcome(&self, outcome: Outcome) -> Ack {
        let (reply, ack) = oneshot::channel();
        if let Err(job) = self.outcomes.send(OutcomeJob { outcome, reply }) {
            let _ = job.reply.send(Err(StoreError::Closed));
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
        leases::claim_lanes(&self.client().await?, owner, lease, limit).await
    }

    async fn claim_lane(&self, owner: &str, webhook: &WebhookId, lease: Duration) -> Result<bool> {
        leases::claim_lane(&self.client().await?, owner, webhook, lease).await
    }

    async fn renew_leases(
        &self,
        owner: &str,
        lanes: &[WebhookId],
        lease: Duration,
    ) -> Result<Vec<WebhookId>> {
        leases::renew_leases(&self.client().await?, owner, lanes, lease).await
    }

    async fn release_lane(&self, owner: &str, webhook: &WebhookId) -> Result<()> {
        leases::release_lane(&self.client().await?, owner, webhook).await
    }

    fn wakeups(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<crate::Wakeup>> {
        self.wakeups.take()
    }
}

#[async_trait]
impl TenancyStore for PostgresStore {
    async fn create_workspace(
        &self,
        name: &str,
        first_key: NewApiKey,
    ) -> Result<(Workspace, ApiKey)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let created = tenancy::create_workspace(&tx, name, &first_key).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn list_workspaces(&self, page: PageRequest) -> Result<Page<Workspace>> {
        tenancy::list_workspaces(&self.client().await?, &page).await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Workspace> {
        tenancy::get_workspace(&self.client().await?, id).await
    }

    async fn set_workspace_limit(
        &self,
        id: &WorkspaceId,
        max_enabled_webhooks: u32,
    ) -> Result<Workspace> {
        tenancy::set_workspace_limit(&self.client().await?, id, max_enabled_webhooks).await
    }

    async fn find_api_key(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>> {
        tenancy::find_api_key(&self.client().await?, hash).await
    }

    async fn create_api_key(&self, workspace: &WorkspaceId, key: NewApiKey) -> Result<ApiKey> {
        tenancy::insert_api_key(&self.client().await?, workspace, &key).await
    }

    async fn list_api_keys(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<Page<ApiKey>> {
        tenancy::list_api_keys(&self.client().await?, workspace, &page).await
    }

    async fn revoke_api_key(&self, workspace: &WorkspaceId, id: &ApiKeyId) -> Result<()> {
        tenancy::revoke_api_key(&self.client().await?, workspace, id).await
    }

    async fn create_session(&self, new: NewSession) -> Result<Session> {
        sessions::create_session(&self.client().await?, &new).await
    }

    async fn find_session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>> {
        sessions::find_session(&self.client().await?, id_hash).await
    }

    async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<()> {
        sessions::delete_session(&self.client().await?, id_hash).await
    }

    async fn list_event_types(&self, workspace: &WorkspaceId) -> Result<Vec<EventType>> {
        tenancy::list_event_types(&self.client().await?, workspace).await
    }

    async fn create_event_type(
        &self,
        workspace: &WorkspaceId,
        def: EventTypeDef,
    ) -> Result<EventType> {
        tenancy::create_event_type(&self.client().await?, workspace, &def).await
    }

    async fn create_webhook(&self, workspace: &WorkspaceId, new: NewWebhook) -> Result<Webhook> {
        webhooks::create_webhook(&mut self.client().await?, workspace, &new).await
    }

    async fn list_webhooks(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<Page<Webhook>> {
        webhooks::list_webhooks(&self.client().await?, workspace, &page).await
    }

    async fn get_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> Result<Webhook> {
        webhooks::get_webhook(&self.client().await?, workspace, id).await
    }

    async fn update_webhook(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
        patch: WebhookPatch,
    ) -> Result<Webhook> {
        webhooks::update_webhook(&mut self.client().await?, workspace, id, patch).await
    }

    async fn delete_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> Result<()> {
        webhooks::delete_webhook(&self.client().await?, workspace, id).await
    }

    async fn rotate_secret(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        new_secret: String,
        grace: Duration,
    ) -> Result<SecretRotation> {
        webhooks::rotate_secret(
            &self.client().await?,
            workspace,
            webhook,
            &new_secret,
            grace,
        )
        .await
    }
}

#[async_trait]
impl ActivityStore for PostgresStore {
    async fn publish(&self, new: NewEvent) -> Result<Published> {
        let (reply, answer) = oneshot::channel();
        if self.publishes.send(PublishJob { new, reply }).is_err() {
            return Err(StoreError::Closed);
        }
        answer.await.unwrap_or(Err(StoreError::Closed))
    }

    async fn get_event(&self, workspace: &WorkspaceId, id: &EventId) -> Result<Event> {
        publish::get_event(&self.client().await?, workspace, id).await
    }

    async fn list_deliveries(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<Delivery>> {
        activity::list_deliveries(
            &mut self.client().await?,
            workspace,
            webhook,
            &filter,
            &page,
        )
        .await
    }

    async fn get_delivery(
        &self,
        workspace: &WorkspaceId,
        id: &DeliveryId,
    ) -> Result<(Delivery, Vec<Attempt>)> {
        deliveries::get_delivery(&mut self.client().await?, workspace, id).await
    }

    async fn list_events(
        &self,
        workspace: &WorkspaceId,
        filter: EventFilter,
        page: PageRequest,
    ) -> Result<Page<Event>> {
        activity::list_events(&mut self.client().await?, workspace, &filter, &page).await
    }

    async fn list_event_deliveries(
        &self,
        workspace: &WorkspaceId,
        event: &EventId,
    ) -> Result<Vec<Delivery>> {
        activity::list_event_deliveries(&mut self.client().await?, workspace, event).await
    }

    async fn retry_delivery(&self, workspace: &WorkspaceId, id: &DeliveryId) -> Result<Delivery> {
        activity::retry_delivery(&self.client().await?, workspace, id).await
    }

    async fn replay_deliveries(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        filter: ReplayFilter,
    ) -> Result<u64> {
        activity::replay_deliveries(&mut self.client().await?, workspace, webhook, &filter).await
    }

    async fn webhook_stats(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        since: DateTime<Utc>,
    ) -> Result<WebhookStats> {
        stats::webhook_stats(&mut self.client().await?, workspace, webhook, since).await
    }
}

#[async_trait]
impl OperationsStore for PostgresStore {
    async fn bootstrap(&self, first_key: NewApiKey) -> Result<Option<Workspace>> {
        tenancy::bootstrap(&mut self.client().await?, &first_key).await
    }

    async fn ping(&self) -> Result<()> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    async fn migrations(&self) -> Result<MigrationStatus> {
        Ok(MigrationStatus {
            applied: schema::schema_version(&self.pool).await?,
            latest: schema::LATEST,
        })
    }

    async fn endpoint_backlogs(&self) -> Result<Vec<EndpointBacklog>> {
        operations::endpoint_backlogs(&self.client().await?).await
    }

    async fn raise_alert(&self, alert: NewAlert, mut event: NewEvent) -> Result<Option<Published>> {
        let since = match operations::claim(&self.client().await?, &alert).await? {
            operations::Claim::Publish { since } => since,
            operations::Claim::Done => return Ok(None),
        };
        event.idempotency_key = Some(operations::idempotency_key(&alert, since));
        let published = self.publish(event).await?;
        operations::mark_published(&self.client().await?, &alert, &published.event.id).await?;
        Ok((!published.duplicate).then_some(published))
    }

    async fn clear_alerts(
        &self,
        webhook: &WebhookId,
        condition: AlertCondition,
        before: DateTime<Utc>,
    ) -> Result<bool> {
        operations::clear_alerts(&self.client().await?, webhook, condition, before).await
    }

    async fn prune(&self, older_than: DateTime<Utc>, batch: u32) -> Result<PruneReport> {
        retention::prune(&mut self.client().await?, older_than, batch).await
    }
}
