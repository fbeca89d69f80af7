//! What the store tells the people running the service: its schema version (for
//! `/readyz`), the backlog of every endpoint (for the pending gauges of `/metrics` and
//! for operational alerts), and which alerts were raised already.
//!
//! Invariants:
//! - An alert is recorded per (endpoint, condition). Recording it and publishing its
//!   `system.alert` event happen together: once recorded, the event exists or will be
//!   published by whichever process next tries to raise that alert (see
//!   [`crate::Store::raise_alert`]); two processes raising it at once publish one event.
//! - A recorded alert stays until [`crate::Store::clear_alerts`] forgets it (or its
//!   endpoint is deleted); while it stays, raising it again does nothing.

use chrono::{DateTime, Utc};
use domain::{WebhookId, WorkspaceId};

/// Schema migrations: the highest applied to the database and the highest this binary
/// knows. The service is ready only when they are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationStatus {
    pub applied: i64,
    pub latest: i64,
}

impl MigrationStatus {
    pub fn is_current(&self) -> bool {
        self.applied == self.latest
    }
}

/// One endpoint that has open (pending or failed) deliveries, as
/// [`crate::Store::endpoint_backlogs`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointBacklog {
    pub workspace_id: WorkspaceId,
    pub webhook_id: WebhookId,
    pub url: String,
    pub enabled: bool,
    /// Open deliveries.
    pub pending: u64,
    /// When the oldest open delivery's event was published (the lane's head: seqs follow
    /// publication order).
    pub oldest_created_at: DateTime<Utc>,
    /// Where the head's retention window starts: its re-opening by hand, if it was
    /// re-opened, else its event's publication. The head expires at this + `--retention`.
    pub head_window_start: DateTime<Utc>,
    /// When the endpoint's current run of failed attempts began: its first attempt after
    /// its last successful one. `None` when its latest attempt succeeded or it has none.
    pub failing_since: Option<DateTime<Utc>>,
    /// When the endpoint's receiver answered `410 Gone`, if that disabled it: it is
    /// disabled and that answer is its latest attempt. `None` otherwise.
    pub gone_since: Option<DateTime<Utc>>,
    /// The alerts recorded for the endpoint, with their `since`, so that a monitor writes
    /// only when an alert is due or stale.
    pub recorded_alerts: Vec<(AlertCondition, DateTime<Utc>)>,
}

impl EndpointBacklog {
    /// The `since` of the recorded alert of `condition`, if one is recorded.
    pub fn recorded(&self, condition: AlertCondition) -> Option<DateTime<Utc>> {
        self.recorded_alerts
            .iter()
            .find(|(c, _)| *c == condition)
            .map(|(_, since)| *since)
    }
}

/// What an operational alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertCondition {
    /// The endpoint has failed every attempt for at least `--alert-after`.
    EndpointFailing,
    /// Open deliveries of the endpoint are within an hour of expiring.
    EventsExpiring,
    /// The receiver answered `410 Gone`, which disabled the endpoint.
    DisabledGone,
}

impl AlertCondition {
    pub const ALL: [AlertCondition; 3] = [
        Self::EndpointFailing,
        Self::EventsExpiring,
        Self::DisabledGone,
    ];

    /// The name stored and sent in the alert event's `data.alert`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EndpointFailing => "endpoint_failing",
            Self::EventsExpiring => "events_expiring",
            Self::DisabledGone => "disabled_gone",
        }
    }

    pub fn parse(text: &str) -> Option<AlertCondition> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// An alert to record: its condition on one endpoint, holding since `since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    pub workspace_id: WorkspaceId,
    pub webhook_id: WebhookId,
    pub condition: AlertCondition,
    /// When the condition began; [`crate::Store::clear_alerts`] compares against it.
    pub since: DateTime<Utc>,
}

/// The idempotency key under which a backend that cannot record an alert and publish
/// its event in one transaction publishes it, so that doing it again (after a crash, or
/// from a second process) answers the first event instead of making another. Keyed by
/// the alert's `since`, so a new occurrence of the condition gets a new event.
pub fn alert_idempotency_key(
    webhook: &WebhookId,
    condition: AlertCondition,
    since_ms: i64,
) -> String {
    format!(
        "admin-webhooks-alert:{webhook}:{}:{since_ms}",
        condition.as_str()
    )
}
