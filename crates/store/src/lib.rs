//! The store contract of Admin Webhooks and its backends.
//!
//! The store is the queue: an event is accepted only once its delivery rows are committed,
//! and nothing about pending work lives only in memory. Every caller (API, dispatcher)
//! speaks to a [`Store`]; all SQL stays behind it, beside each backend's migrations.
//!
//! Invariants every backend keeps:
//! - A publish commits the event and one delivery per matching enabled endpoint in one
//!   transaction, and only then answers.
//! - Per endpoint, deliveries carry a strictly increasing `seq` in publish order; event
//!   ids of one process increase in the same order.
//! - A delivery's state changes are fenced by its attempt count: an outcome recorded for
//!   an attempt that is no longer the latest affects nothing and is an error.
//! - Objects of one workspace are invisible through another workspace's calls
//!   (`NotFound`).

pub mod model;
pub mod sqlite;

use std::time::Duration;

use async_trait::async_trait;
use domain::{ApiKeyId, DeliveryId, EventId, WebhookId, WorkspaceId};

pub use model::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
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

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Resolves once an outcome handed to [`Store::submit_outcome`] is committed. Outcomes are
/// committed in the order they were submitted.
pub type Ack = tokio::sync::oneshot::Receiver<Result<()>>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates the workspace `default` with one API key when the store holds no workspace
    /// yet. Returns the created workspace, or `None` when one already existed.
    async fn bootstrap(&self, first_key: NewApiKey) -> Result<Option<Workspace>>;

    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;

    // Workspaces (operator API).
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

    // API keys.
    /// The live (not revoked) key with this hash.
    async fn find_api_key(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>>;
    async fn create_api_key(&self, workspace: &WorkspaceId, key: NewApiKey) -> Result<ApiKey>;
    async fn list_api_keys(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<Page<ApiKey>>;
    async fn revoke_api_key(&self, workspace: &WorkspaceId, id: &ApiKeyId) -> Result<()>;

    // Event catalog.
    async fn list_event_types(&self, workspace: &WorkspaceId) -> Result<Vec<EventType>>;
    /// `Conflict` when the name exists already.
    async fn create_event_type(
        &self,
        workspace: &WorkspaceId,
        def: domain::EventTypeDef,
    ) -> Result<EventType>;

    // Webhooks.
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

    // Events.
    /// Stores the event and its deliveries in one transaction, then answers. A repeated
    /// idempotency key of the same workspace within 24 h returns the first event with
    /// `duplicate: true` and creates nothing.
    async fn publish(&self, new: NewEvent) -> Result<Published>;
    async fn get_event(&self, workspace: &WorkspaceId, id: &EventId) -> Result<Event>;

    // Deliveries and the activity log.
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

    // Dispatch.
    /// Endpoints that have open (pending or failed) deliveries.
    async fn lanes_with_work(&self) -> Result<Vec<WebhookId>>;
    /// Where and how a lane sends: URL, secrets, enabled. `NotFound` once deleted.
    async fn lane_target(&self, webhook: &WebhookId) -> Result<LaneTarget>;
    /// Up to `limit` open deliveries of one endpoint with `seq > after_seq`, in seq order,
    /// with their bodies.
    async fn lane_window(
        &self,
        webhook: &WebhookId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<DueDelivery>>;
    /// Queues an outcome for commit without waiting for it; the returned [`Ack`] resolves
    /// when it is committed (or refused as `StaleAttempt`).
    fn submit_outcome(&self, outcome: Outcome) -> Ack;

    // Sharing the delivery work between processes. A lane (one endpoint's queue) is worked
    // by one process at a time, the holder of its lease. Backends used by one process only
    // keep these defaults: every lane is this process's, and wake-ups stay in-process.

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

    /// Wake-ups published by other processes (endpoints that got new work or changed), for
    /// backends shared by several processes; `None` when everything is in-process.
    fn wakeups(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<WebhookId>> {
        None
    }
}
