//! The records the store keeps and returns.

use chrono::{DateTime, Utc};
use domain::{
    ApiKeyId, AttemptId, DeliveryId, DeliveryStatus, ErrorClass, EventId, Subscription, WebhookId,
    WorkspaceId,
};
use serde::Serialize;
use serde_json::value::RawValue;

/// The number of enabled webhooks a workspace may have unless the operator says otherwise.
pub const DEFAULT_MAX_ENABLED_WEBHOOKS: u32 = 50;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub max_enabled_webhooks: u32,
    pub created_at: DateTime<Utc>,
}

/// What the store keeps of a new key: never the key itself.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub hash: [u8; 32],
    /// The first characters of the key, to tell keys apart in lists.
    pub hint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub hint: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventType {
    pub name: String,
    pub category: String,
    pub description: String,
    /// One of the guide's five, present in every workspace.
    pub builtin: bool,
}

#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub description: String,
    pub events: Vec<Subscription>,
    pub enabled: bool,
    pub secret: String,
}

#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<Subscription>>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub workspace_id: WorkspaceId,
    pub url: String,
    pub description: String,
    pub events: Vec<Subscription>,
    pub enabled: bool,
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub workspace_id: WorkspaceId,
    pub event_type: String,
    /// Validated JSON, kept byte for byte.
    pub data: Box<RawValue>,
    pub metadata: Option<Box<RawValue>>,
    pub idempotency_key: Option<String>,
    /// Deliver to this endpoint alone, whatever it subscribes to and whatever the catalog
    /// says (the test event of `POST /v1/webhooks/{id}/test`).
    pub only_webhook: Option<WebhookId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub workspace_id: WorkspaceId,
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    /// The exact bytes delivered (see `domain::event::render_body`).
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Published {
    pub event: Event,
    /// The idempotency key was seen before: `event` is the first one, nothing was created.
    pub duplicate: bool,
    /// Endpoints that received a delivery, to wake their lanes.
    pub webhooks: Vec<WebhookId>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub webhook_id: WebhookId,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_status_code: Option<u16>,
    pub last_response_ms: Option<u32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub id: AttemptId,
    pub delivery_id: DeliveryId,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub response_ms: u32,
    pub error_class: Option<ErrorClass>,
    pub error_message: Option<String>,
    /// The first 4 KiB of the response body.
    pub response_body: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
}

/// Where a lane sends.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneTarget {
    pub webhook_id: WebhookId,
    pub url: String,
    pub enabled: bool,
    /// The current secret first, then any previous one still in its grace period.
    pub secrets: Vec<String>,
}

/// An open delivery as a lane needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub event_type: String,
    pub seq: i64,
    /// Attempts made so far (the fence for the next outcome).
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// When the event was published (expiry counts from here).
    pub event_created_at: DateTime<Utc>,
    /// The body bytes, shared cheaply across attempts.
    pub body: std::sync::Arc<[u8]>,
}

/// The result of an attempt (or of giving up without one), to be recorded.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivery_id: DeliveryId,
    pub webhook_id: WebhookId,
    /// The delivery's attempt count when this outcome was decided; the record applies
    /// only while it still holds.
    pub attempts_before: u32,
    pub attempt: Option<AttemptLog>,
    /// `Delivered`, `Failed` (with `next_attempt_at`) or `Expired`.
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct AttemptLog {
    pub id: AttemptId,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub response_ms: u32,
    pub error_class: Option<ErrorClass>,
    pub error_message: Option<String>,
    pub response_body: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// 1..=100; the store clamps it.
    pub limit: u32,
    /// The last id of the previous page.
    pub cursor: Option<String>,
}

impl PageRequest {
    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => 50,
            n => n.min(100),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}
