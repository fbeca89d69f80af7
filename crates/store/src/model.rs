//! The records the store keeps and returns.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use domain::{
    ApiKeyId, AttemptId, CustomHeaders, DeliveryId, DeliveryStatus, ErrorClass, EventId, RateLimit,
    Subscription, TraceContext, WebhookId, WorkspaceId,
};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::RecordedHeaders;

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

/// What the store keeps of a new dashboard session: never the session id itself (the
/// cookie's value), only its hash, so a copy of the database signs nobody in.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the session id.
    pub id_hash: [u8; 32],
    pub workspace_id: WorkspaceId,
    /// The API key that signed in; revoking it ends the session.
    pub api_key_id: ApiKeyId,
    /// The session is dead from this moment on, whatever else happens.
    pub expires_at: DateTime<Utc>,
}

/// A live dashboard session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    pub workspace_id: WorkspaceId,
    pub api_key_id: ApiKeyId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventType {
    pub name: String,
    pub category: String,
    pub description: String,
    /// One of the guide's five, present in every workspace.
    pub builtin: bool,
    /// The payload schema set on this type (JSON text), as stored. `None` on a built-in
    /// type means its built-in schema (`domain::catalog::builtin_schema`); on another
    /// type, no schema.
    pub schema: Option<String>,
}

/// Changes to an event type; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EventTypePatch {
    pub category: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` clears the schema (a built-in type goes back to its built-in one).
    pub schema: Option<Option<String>>,
}

#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub description: String,
    pub events: Vec<Subscription>,
    pub enabled: bool,
    pub secret: String,
    /// At most this many attempts per second or minute; `None`: as fast as it answers.
    pub rate_limit: Option<RateLimit>,
    /// Added to every attempt; stored sealed like the secret.
    pub headers: CustomHeaders,
}

#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<Subscription>>,
    pub enabled: Option<bool>,
    /// `Some(None)` removes the limit.
    pub rate_limit: Option<Option<RateLimit>>,
    /// Replaces every custom header (`Some` of an empty set removes them all).
    pub headers: Option<CustomHeaders>,
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
    pub rate_limit: Option<RateLimit>,
    /// The custom headers, values in clear (edges mask them).
    pub headers: CustomHeaders,
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
    /// The trace the event belongs to; each attempt sends a child of it (`traceparent`).
    pub trace: Option<TraceContext>,
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
    /// The headers sent (signatures included); `None` for attempts recorded before
    /// headers were kept.
    pub request_headers: Option<RecordedHeaders>,
    /// The response's headers; `None` without a response (or from before they were kept).
    pub response_headers: Option<RecordedHeaders>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
    /// Only deliveries created (published) at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only deliveries created before this time (exclusive).
    pub until: Option<DateTime<Utc>>,
}

/// Which events [`crate::Store::list_events`] returns.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    /// Only events published at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events published before this time (exclusive).
    pub until: Option<DateTime<Utc>>,
}

/// Which deliveries of one endpoint [`crate::Store::replay_deliveries`] re-opens: those
/// created in `[since, until)`, and with `status` when given.
#[derive(Debug, Clone)]
pub struct ReplayFilter {
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub status: Option<DeliveryStatus>,
}

/// One endpoint's attempts over a window, as computed by the store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookStats {
    /// Attempts made at or after this time are counted.
    pub since: DateTime<Utc>,
    pub attempts: u64,
    /// Attempts that got a 2xx in time.
    pub successes: u64,
    pub failures: u64,
    /// Attempts the receiver answered 429, 502, 503 or 504: it asked to be sent less
    /// (counted among the failures).
    pub throttled: u64,
    /// Attempts that got an answer (a status code). A refused connection, a TLS failure
    /// or a timeout has no response time.
    pub responses: u64,
    /// Response-time percentiles of the attempts that got an answer (nearest rank: the
    /// value at rank ⌈p·n/100⌉ of them sorted by response time); `None` when none did.
    pub p50_ms: Option<u32>,
    pub p95_ms: Option<u32>,
    pub p99_ms: Option<u32>,
}

impl WebhookStats {
    /// Successes over attempts, from 0 to 1; `None` without attempts.
    pub fn success_rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.successes as f64 / self.attempts as f64)
    }
}

/// The answer to a secret rotation.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRotation {
    /// The webhook with its new secret.
    pub webhook: Webhook,
    /// Until when the replaced secret still signs (the second `webhook-signature` entry).
    pub previous_secret_expires_at: DateTime<Utc>,
}

/// What one [`crate::Store::prune`] call removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub attempts: u64,
    pub deliveries: u64,
    pub events: u64,
    pub idempotency_keys: u64,
    /// Some kind of row hit the batch limit: call again (after a pause) to go on.
    pub more: bool,
}

/// Where a lane sends.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneTarget {
    pub webhook_id: WebhookId,
    pub url: String,
    pub enabled: bool,
    /// The current secret first, then any previous one still in its grace period.
    pub secrets: Vec<String>,
    /// The least time between the starts of two attempts, from the rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Sent with every attempt.
    pub headers: CustomHeaders,
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
    /// Where expiry counts from: when the event was published, or, for a delivery
    /// re-opened by hand (retry, replay), when it was re-opened. (The name predates manual
    /// re-sends; the lane only uses it as the start of the retention window.)
    pub event_created_at: DateTime<Utc>,
    /// The body bytes, shared cheaply across attempts.
    pub body: std::sync::Arc<[u8]>,
    /// The event's trace context, if it has one: each attempt is a child span of it.
    pub trace: Option<TraceContext>,
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
    /// The receiver answered `410 Gone` to `attempt`: the webhook is disabled in the same
    /// commit, only if the fence holds (a stale outcome disables nothing). Ignored
    /// without an attempt.
    pub disable_webhook: bool,
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
    pub request_headers: Option<RecordedHeaders>,
    pub response_headers: Option<RecordedHeaders>,
}

impl AttemptLog {
    /// The activity log's one-line summary of why the attempt failed (a delivery's
    /// `last_error`): class and message when both are known.
    pub(crate) fn error_summary(&self) -> Option<String> {
        match (self.error_class, self.error_message.as_deref()) {
            (Some(class), Some(message)) => Some(format!("{class}: {message}")),
            (Some(class), None) => Some(class.to_string()),
            (None, Some(message)) => Some(message.to_owned()),
            (None, None) => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// 1..=100; the store clamps it.
    pub limit: u32,
    /// The last id of the previous page.
    pub cursor: Option<String>,
}

/// A cursor that no page of the list could have given: every list pages by the ids of
/// its items, so a cursor that is not such an id was made up or mangled by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`cursor` is not one this API gave: pass the `next_cursor` of the previous page \
     unchanged, or leave it out for the first page."
)]
pub struct InvalidCursor;

impl PageRequest {
    /// Checks that the cursor is an id of the kind `Id` the list pages by. Without this,
    /// a made-up cursor would silently answer the first page or an empty one (ids are
    /// compared as text), which a caller cannot tell from a real answer. Both backends
    /// share it through the use cases, which know each list's kind of id.
    pub fn check_cursor<Id: FromStr>(&self) -> Result<(), InvalidCursor> {
        match &self.cursor {
            Some(cursor) if cursor.parse::<Id>().is_err() => Err(InvalidCursor),
            _ => Ok(()),
        }
    }

    /// The cursor, or the empty string that sorts before every id.
    pub fn cursor_or_start(&self) -> &str {
        self.cursor.as_deref().unwrap_or("")
    }

    /// How many rows to fetch: one more than the page, to learn whether another follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.effective_limit()) + 1
    }

    /// Cuts the extra row off and points the cursor at the last row kept.
    pub fn cut<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> String) -> Page<T> {
        let limit = self.effective_limit() as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(id)
        } else {
            None
        };
        Page {
            data: rows,
            next_cursor,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_must_be_ids_of_the_listed_kind() {
        let page = |cursor: Option<&str>| PageRequest {
            limit: 10,
            cursor: cursor.map(str::to_owned),
        };
        let webhook = WebhookId::generate().to_string();
        assert_eq!(page(None).check_cursor::<WebhookId>(), Ok(()));
        assert_eq!(page(Some(&webhook)).check_cursor::<WebhookId>(), Ok(()));
        assert_eq!(
            page(Some(&webhook)).check_cursor::<EventId>(),
            Err(InvalidCursor)
        );
        assert_eq!(
            page(Some("abc")).check_cursor::<WebhookId>(),
            Err(InvalidCursor)
        );
    }
}
