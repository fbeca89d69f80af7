//! The store contract of Admin Webhooks and its backends.
//!
//! The store is the queue: an event is accepted only once it is committed (and taken up,
//! on SQLite), and nothing about pending work lives only in memory. Every caller (API, dispatcher)
//! speaks to a [`Store`]; all SQL stays behind it, beside each backend's migrations.
//!
//! Invariants every backend keeps:
//! - A publish writes its event alone, as an entry of the workspace's ordered log: its
//!   cost does not grow with the endpoints. Each enabled endpoint takes the log up from
//!   its own cursor, through its subscription: a delivery comes into being then, with
//!   the endpoint's next `seq` (the take-up, after the publish's commit; on SQLite in the
//!   same group commit). On SQLite a publish answers once its event is committed and
//!   taken up; on PostgreSQL it answers at its commit, and the store's take-up worker
//!   creates the deliveries milliseconds later (later while an older open transaction
//!   holds the log back; the dispatcher's sweep takes up whatever a process left).
//! - An endpoint takes up only what is published while it exists and is enabled:
//!   creating or enabling one starts its cursor at the log's head.
//! - Per endpoint, deliveries carry a strictly increasing `seq` in log order, which is
//!   publish order; event ids of one process increase in the same order.
//! - A delivery's state changes are fenced by its attempt count: an outcome recorded for
//!   an attempt that is no longer the latest affects nothing and is an error.
//! - Objects of one workspace are invisible through another workspace's calls
//!   (`NotFound`).
//! - A delivery re-opened by hand (retry, replay) keeps its `seq`: it goes back to its
//!   original place in the endpoint's order, ahead of every later open delivery, and its
//!   retention window counts from the re-opening.
//! - Retention never removes an open delivery, nor an event an undeleted delivery refers to,
//!   nor one an enabled endpoint has still to take up.
//! - A dashboard session lives until its expiry or until its API key is revoked,
//!   whichever comes first; only its id's hash is stored.
//! - A workspace always keeps at least one live API key: revoking the last is a conflict.
//!
//! - Every committed write that gives an endpoint work or changes it is announced on the
//!   store's one stream ([`LaneStore::announcements`]), only after its commit: the
//!   dispatcher subscribes once, and no caller wakes lanes by hand.
//!
//! Where things are. The contract, its errors ([`StoreError`], [`ConflictKind`]) and
//! wake-ups are here; above the backends, once for both:
//! - `announce.rs`: the announcement stream each backend feeds after its commits.
//! - `model.rs`: the records the store keeps and returns, and the paging rules
//!   ([`PageRequest`]).
//! - `operations.rs`: alerts, backlogs, migration status and the alert idempotency key.
//! - `recorded_headers.rs`: the bounded header lists an attempt keeps ([`RecordedHeaders`]).
//! - `records.rs`: records a write builds (ids, times, patches, secret grace, signing
//!   secrets).
//! - `stats.rs`: the percentiles of [`WebhookStats`] and their nearest-rank rule.
//! - [`sealing`]: signing secrets sealed at rest ([`SecretCipher`]); both backends seal
//!   on write, open on read and re-seal old values when they open.
//! - `intake.rs`: the queue in front of every group-commit writer.
//! - [`timing`]: the store-operation latency histogram, recorded at each backend's choke
//!   points.
//! - [`work`]: statements run and rows written per kind of write, counted by each store.
//!
//! Each backend ([`sqlite`], [`postgres`]) keeps the same role in the same file name:
//! `mod.rs` (the contract's entry points), `schema.rs` (connections and migrations),
//! `rows.rs` (driver values and errors), `writer.rs` (group commit), `publish.rs`,
//! `take_up.rs` (from the log to deliveries), `outcomes.rs`, `deliveries.rs` (the lanes'
//! reads and one delivery), `activity.rs` (the activity log and re-sends), `stats.rs`,
//! `tenancy.rs`, `webhooks.rs`, `sessions.rs`, `operations.rs`, `retention.rs`. Roles
//! only one backend has keep a
//! file of their own: SQLite's reader threads (`readers.rs`); PostgreSQL's pipelined
//! savepoints (`pipeline.rs`), lane leases (`leases.rs`), LISTEN/NOTIFY wake-ups
//! (`listener.rs`), the take-up worker that takes up after publishes
//! (`take_up_worker.rs`) and its query-plan test (`plans.rs`).

mod announce;
pub mod health;
mod intake;
pub mod model;
pub mod operations;
pub mod postgres;
mod recorded_headers;
mod records;
pub mod sealing;
pub mod series;
pub mod sqlite;
mod stats;
pub mod timing;
pub mod work;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{ApiKeyId, DeliveryId, EventId, WebhookId, WorkspaceId};

pub use health::{LaneHead, WebhookHealth};
pub use model::*;
pub use operations::{
    AlertCondition, EndpointBacklog, MigrationStatus, NewAlert, alert_idempotency_key,
};
pub use recorded_headers::{MAX_RECORDED_HEADER_BYTES, RecordedHeaders};
pub use sealing::{SealingError, SecretCipher};
pub use series::{SeriesSpec, StatsBucket};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(ConflictKind),
    #[error("this workspace already has {limit} enabled webhooks, its limit")]
    LimitReached { limit: u32 },
    #[error("event type `{0}` is not in this workspace's catalog")]
    UnknownEventType(String),
    #[error("the delivery changed since this attempt started")]
    StaleAttempt,
    #[error("the store is shutting down")]
    Closed,
    #[error("store backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What a write collided with. Each edge words it for its readers; the store only says
/// which rule it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConflictKind {
    /// An event type of this name is already in the workspace's catalog.
    #[error("event type `{0}` is already in this workspace's catalog")]
    EventTypeExists(String),
    /// An API key with the same value (hash) exists: the same key was submitted twice.
    #[error("an API key with this value exists already")]
    ApiKeyExists,
    /// A session with the same id (hash) exists.
    #[error("a session with this id exists already")]
    SessionExists,
    /// Revoking this key would leave its workspace without a live key, locked out of the
    /// API and the dashboard for good.
    #[error("this is the workspace's last live API key")]
    LastApiKey,
}

impl ConflictKind {
    /// `error` as this conflict when `unique` says it broke a uniqueness rule (the
    /// caller's doing: the same name, key or id submitted twice), else as the driver
    /// error it is. Each backend says how its driver reports a uniqueness violation.
    pub(crate) fn if_unique(self, unique: bool, error: impl Into<StoreError>) -> StoreError {
        if unique {
            StoreError::Conflict(self)
        } else {
            error.into()
        }
    }
}

/// News about an endpoint from a committed write (of this process or, on a shared store,
/// of another): it got new deliveries, or it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wakeup {
    pub webhook: WebhookId,
    /// The endpoint changed (settings, secrets, deletion) or had deliveries re-opened in
    /// place (retry, replay): its lane must read itself again from its first open
    /// delivery, not just look for newer work. `false`: new deliveries were published.
    pub resync: bool,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The answers of a batch of `count` publishes that failed as a whole (refused before it
/// ran, or its commit failed): each item hears why.
pub(crate) fn batch_failed(count: usize, error: StoreError) -> Vec<Result<Published>> {
    let message = error.to_string();
    let closed = matches!(error, StoreError::Closed);
    (0..count)
        .map(|_| {
            Err(if closed {
                StoreError::Closed
            } else {
                StoreError::Backend(message.clone().into())
            })
        })
        .collect()
}

/// Resolves once an outcome handed to [`Store::submit_outcome`] is committed. Outcomes are
/// committed in the order they were submitted.
pub type Ack = tokio::sync::oneshot::Receiver<Result<()>>;

/// What the dispatcher and its lanes need: which endpoints have work, a lane's target and
/// window, outcomes, and (on a store shared by several processes) leases and wake-ups.
#[async_trait]
pub trait LaneStore: Send + Sync + 'static {
    /// Endpoints that have open (pending or failed) deliveries. A backend whose take-up
    /// can be left behind (PostgreSQL) takes up what was left first; one that takes up
    /// when a row is needed (SQLite) lists the endpoints with log entries to take up.
    async fn lanes_with_work(&self) -> Result<Vec<WebhookId>>;

    /// Where and how a lane sends: URL, secrets, enabled. `NotFound` once deleted.
    async fn lane_target(&self, webhook: &WebhookId) -> Result<LaneTarget>;

    /// Up to `limit` open deliveries of one endpoint with `seq > after_seq`, in seq order,
    /// with their bodies. Empty only once the endpoint has nothing open and nothing
    /// published for it left to take up (SQLite takes up here, as the lane needs rows; a
    /// window may then be short of `limit` when the endpoint subscribes to little of a
    /// long log).
    async fn lane_window(
        &self,
        webhook: &WebhookId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<DueDelivery>>;

    /// Queues an outcome for commit without waiting for it; the returned [`Ack`] resolves
    /// when it is committed (or refused as `StaleAttempt`).
    fn submit_outcome(&self, outcome: Outcome) -> Ack;

    /// Whether lanes must be claimed by lease before they are worked.
    fn shares_lanes(&self) -> bool {
        false
    }

    /// Claims up to `limit` lanes that have open deliveries and no live lease by another
    /// owner, for `lease`; returns the lanes now held by `owner` (including ones it held).
    async fn claim_lanes(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<WebhookId>> {
        let _ = (owner, lease, limit);
        self.lanes_with_work().await
    }

    /// Claims one lane if no other owner holds a live lease on it; whether `owner` holds it.
    async fn claim_lane(&self, owner: &str, webhook: &WebhookId, lease: Duration) -> Result<bool> {
        let _ = (owner, webhook, lease);
        Ok(true)
    }

    /// Extends `owner`'s leases on `lanes` by `lease`; returns the lanes it still holds
    /// (a lane missing from the answer was lost and must stop at once).
    async fn renew_leases(
        &self,
        owner: &str,
        lanes: &[WebhookId],
        lease: Duration,
    ) -> Result<Vec<WebhookId>> {
        let _ = (owner, lease);
        Ok(lanes.to_vec())
    }

    /// Gives up `owner`'s lease on a lane it stopped working.
    async fn release_lane(&self, owner: &str, webhook: &WebhookId) -> Result<()> {
        let _ = (owner, webhook);
        Ok(())
    }

    /// The store's announcements: a [`Wakeup`] for every endpoint a committed write gave
    /// work to (publishes, test events, alerts) or changed (updates, deletions,
    /// rotations: resync) or re-opened deliveries of (retries, replays: resync). This
    /// process's writes are announced right after their commit, never before; on a store
    /// shared by several processes, other processes' as they are heard. Handed out once
    /// (to the dispatcher); `None` after, and from a store that announces nothing.
    /// Announcements made before the first call are not kept.
    fn announcements(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Wakeup>> {
        None
    }
}

/// Workspaces, API keys, dashboard sessions, the event catalog and webhook settings.
#[async_trait]
pub trait TenancyStore: Send + Sync + 'static {
    async fn create_workspace(
        &self,
        name: &str,
        first_key: NewApiKey,
    ) -> Result<(Workspace, ApiKey)>;

    async fn list_workspaces(&self, page: PageRequest) -> Result<Page<Workspace>>;

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Workspace>;

    async fn set_workspace_limit(
        &self,
        id: &WorkspaceId,
        max_enabled_webhooks: u32,
    ) -> Result<Workspace>;

    /// The live (not revoked) key with this hash.
    async fn find_api_key(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>>;

    async fn create_api_key(&self, workspace: &WorkspaceId, key: NewApiKey) -> Result<ApiKey>;

    async fn list_api_keys(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<Page<ApiKey>>;

    /// Revokes a live key of `workspace`. `Conflict(LastApiKey)` when it is the
    /// workspace's only live key, decided atomically: of two concurrent revokes of its last
    /// two keys, one succeeds and the other is refused.
    async fn revoke_api_key(&self, workspace: &WorkspaceId, id: &ApiKeyId) -> Result<()>;

    /// The service-wide secret called `name`: the first value ever offered under that
    /// name wins and is returned to every later call, in every process sharing the store,
    /// so that what one process signs with it another can check (the dashboard's sign-in
    /// forms). `candidate` is a fresh random value the caller offers.
    async fn shared_secret(&self, name: &str, candidate: [u8; 32]) -> Result<[u8; 32]>;

    // Dashboard sessions. A session is found only while it has not expired AND the API
    // key that opened it is live, so revoking a key ends its sessions in every process
    // sharing the store, with nothing to notify.

    /// Stores a session opened with `new.api_key_id`. `NotFound` unless that key is a live
    /// key of `new.workspace_id`. Also deletes a bounded number of expired sessions, so
    /// the table holds about one session lifetime's worth of sign-ins.
    async fn create_session(&self, new: NewSession) -> Result<Session>;

    /// The session with this id hash, if it has not expired and its API key is not
    /// revoked; `None` otherwise.
    async fn find_session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>>;

    /// Ends a session (sign-out). Ending one that does not exist is not an error.
    async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<()>;

    async fn list_event_types(&self, workspace: &WorkspaceId) -> Result<Vec<EventType>>;

    /// `Conflict` when the name exists already. `schema` is JSON text, checked by the
    /// caller.
    async fn create_event_type(
        &self,
        workspace: &WorkspaceId,
        def: domain::EventTypeDef,
        schema: Option<String>,
    ) -> Result<EventType>;

    /// Changes a type of the workspace's catalog; `NotFound` when it has none of that name.
    async fn update_event_type(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        patch: EventTypePatch,
    ) -> Result<EventType>;

    /// `LimitReached` when enabling it would pass the workspace's limit.
    async fn create_webhook(&self, workspace: &WorkspaceId, new: NewWebhook) -> Result<Webhook>;

    async fn list_webhooks(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<Page<Webhook>>;

    async fn get_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> Result<Webhook>;

    /// `LimitReached` when the patch enables it past the workspace's limit.
    async fn update_webhook(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
        patch: WebhookPatch,
    ) -> Result<Webhook>;

    /// Deletes the webhook with its deliveries and attempts.
    async fn delete_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> Result<()>;

    /// Marks the listener endpoints among `listeners` as seen now: a `listen` is connected
    /// to them. Ids that are not listeners, or gone, are skipped.
    async fn touch_listeners(&self, listeners: &[WebhookId]) -> Result<()>;

    /// The listener endpoints of every workspace last seen before `before`, oldest first
    /// (the service removes them with their backlog).
    async fn stale_listeners(&self, before: DateTime<Utc>)
    -> Result<Vec<(WorkspaceId, WebhookId)>>;

    /// Replaces the signing secret with `new_secret`; the replaced one keeps signing (as
    /// [`LaneTarget::secrets`]' second entry) until now + `grace`. A secret replaced earlier
    /// and still in its grace period stops at once: at most two secrets sign.
    async fn rotate_secret(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        new_secret: String,
        grace: Duration,
    ) -> Result<SecretRotation>;
}

/// Events and what became of them: publishing, the activity log, manual re-sends and stats.
#[async_trait]
pub trait ActivityStore: Send + Sync + 'static {
    /// Stores the event (a log entry) and answers once it is committed. Its deliveries
    /// (one per enabled endpoint of the workspace that takes it up) exist by then on
    /// SQLite; on PostgreSQL they follow within milliseconds, taken up by the store in
    /// the background (see the crate's invariants). A repeated idempotency key of the
    /// same workspace within 24 h returns the first event with `duplicate: true` and
    /// creates nothing.
    async fn publish(&self, new: NewEvent) -> Result<Published>;

    /// Publishes several events, each exactly as [`ActivityStore::publish`] would (its
    /// own idempotency key, its own refusal), and answers each, in the order given. One
    /// item's refusal affects no other. The backend commits them together where it can
    /// (one group commit), so a batch costs about one commit, not one per event.
    async fn publish_batch(&self, new: Vec<NewEvent>) -> Vec<Result<Published>>;

    async fn get_event(&self, workspace: &WorkspaceId, id: &EventId) -> Result<Event>;

    async fn list_deliveries(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<Delivery>>;

    async fn get_delivery(
        &self,
        workspace: &WorkspaceId,
        id: &DeliveryId,
    ) -> Result<(Delivery, Vec<Attempt>)>;

    /// One page of the workspace's events, newest first (by publication time, then id),
    /// filtered by type and publication time. The cursor is the last id of the previous
    /// page; a cursor naming no event of the workspace yields an empty page.
    async fn list_events(
        &self,
        workspace: &WorkspaceId,
        filter: EventFilter,
        page: PageRequest,
    ) -> Result<Page<Event>>;

    /// The deliveries of one event (one per endpoint it went to), by webhook id; empty for
    /// an event that reached no endpoint. `NotFound` when the workspace has no such event.
    async fn list_event_deliveries(
        &self,
        workspace: &WorkspaceId,
        event: &EventId,
    ) -> Result<Vec<Delivery>>;

    /// Re-opens one delivery, whatever its status, for an attempt now: `pending`,
    /// `next_attempt_at` = now, and a fresh retention window counted from now. It keeps its
    /// `seq` (its place in the endpoint's order), its attempt count and its history.
    /// Returns the re-opened delivery.
    async fn retry_delivery(&self, workspace: &WorkspaceId, id: &DeliveryId) -> Result<Delivery>;

    /// Re-opens, like [`Store::retry_delivery`] and as of one moment, every delivery of one
    /// endpoint that `filter` selects; returns how many. A backend may split a long range
    /// into several transactions (SQLite does, so that its single writer is never held
    /// long); a replay cut short by a crash re-opened part of the range, and doing it
    /// again is harmless.
    async fn replay_deliveries(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        filter: ReplayFilter,
    ) -> Result<u64>;

    /// Counts and response-time percentiles of one endpoint's attempts made at or after
    /// `since`, computed by the backend without loading the attempts.
    async fn webhook_stats(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        since: DateTime<Utc>,
    ) -> Result<WebhookStats>;

    /// One endpoint's attempts cut into the buckets of `spec`: per bucket, attempts by
    /// outcome and the response-time percentiles of those that got an answer (see
    /// [`series`]). Every bucket is in the answer, in order. Computed by the backend
    /// from the attempts index without loading attempts.
    async fn webhook_series(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        spec: SeriesSpec,
    ) -> Result<Vec<StatsBucket>>;

    /// One endpoint's state now: its open deliveries and head, its run of failures and
    /// its latest attempts, read in one snapshot from indexes.
    async fn webhook_health(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
    ) -> Result<WebhookHealth>;

    /// How many open deliveries of the same endpoint come before this one in its order
    /// (0 for the head, and for a delivery that is not open).
    async fn deliveries_ahead(&self, workspace: &WorkspaceId, id: &DeliveryId) -> Result<u64>;
}

/// Running the service: bootstrap, readiness, backlog gauges, alerts and log retention.
#[async_trait]
pub trait OperationsStore: Send + Sync + 'static {
    /// Creates the workspace `default` with one API key when the store holds no workspace
    /// yet. Returns the created workspace, or `None` when one already existed.
    async fn bootstrap(&self, first_key: NewApiKey) -> Result<Option<Workspace>>;

    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;

    /// The highest schema migration applied to the database and the highest this binary
    /// knows (for `/readyz`: a database behind or ahead of the binary is not ready).
    async fn migrations(&self) -> Result<MigrationStatus>;

    /// Every endpoint that has open deliveries, with how many, how old its head is, and
    /// since when its attempts have been failing. Reads indexes only (a count of the open
    /// index and a few probes per endpoint); meant to be called every few seconds, not
    /// per request.
    async fn endpoint_backlogs(&self) -> Result<Vec<EndpointBacklog>>;

    /// Raises an operational alert: records `alert` and publishes `event` (a
    /// `system.alert` of the alert's workspace) together, unless the same condition of the
    /// same endpoint is recorded already. Returns the publish when this call made it,
    /// `None` when the alert was raised before (by this process or another), so each
    /// occurrence of a condition publishes one event. A backend that cannot do both in
    /// one transaction publishes under [`alert_idempotency_key`] and finishes, on the next
    /// call, an alert it recorded but did not publish. `NotFound` when the endpoint is gone.
    async fn raise_alert(&self, alert: NewAlert, event: NewEvent) -> Result<Option<Published>>;

    /// Forgets the recorded alert of `condition` on `webhook` if its `since` is before
    /// `before`, re-arming it; whether one was forgotten. Comparing `since` keeps a
    /// process that read older data from forgetting an alert raised after its read.
    async fn clear_alerts(
        &self,
        webhook: &WebhookId,
        condition: AlertCondition,
        before: DateTime<Utc>,
    ) -> Result<bool>;

    /// One bounded pass of log retention, in one transaction: deletes at most `batch` rows
    /// of each kind — attempts made before `older_than`; delivered and expired deliveries
    /// last changed before it (open ones are never touched); events published before it
    /// that no delivery refers to any more; and idempotency keys past their 24 h window.
    /// `more` says a kind hit the limit.
    async fn prune(&self, older_than: DateTime<Utc>, batch: u32) -> Result<PruneReport>;
}

/// The whole contract, for the service that wires every part together. Each consumer
/// takes only the part it uses ([`LaneStore`], [`TenancyStore`], [`ActivityStore`],
/// [`OperationsStore`]); a backend implements all four.
pub trait Store: LaneStore + TenancyStore + ActivityStore + OperationsStore {}

impl<T: LaneStore + TenancyStore + ActivityStore + OperationsStore + ?Sized> Store for T {}
