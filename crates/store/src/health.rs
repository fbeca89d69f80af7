//! An endpoint's health now, as [`crate::ActivityStore::webhook_health`] reads it: what
//! is waiting in its lane, its head, since when it has been failing, and when it last
//! answered. The words and the verdict (healthy, failing, disabled) are the use case's;
//! the store only reads.

use chrono::{DateTime, Utc};
use domain::DeliveryId;

/// The first open delivery of a lane: the one every later delivery of the endpoint waits
/// for (ordered delivery).
#[derive(Debug, Clone, PartialEq)]
pub struct LaneHead {
    pub id: DeliveryId,
    /// Attempts made so far; 0 means it was not tried yet.
    pub attempts: u32,
    /// Where its retention window starts (its event's publication, or its re-opening by
    /// hand): it expires at this + `--retention`.
    pub window_start: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// One endpoint's state now.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookHealth {
    pub enabled: bool,
    /// Open deliveries (pending, or failed and retrying), the head included.
    pub waiting: u64,
    pub head: Option<LaneHead>,
    /// When the endpoint's current run of failed attempts began: its first attempt after
    /// its last successful one. `None` when its latest attempt succeeded or it has none.
    pub failing_since: Option<DateTime<Utc>>,
    /// The latest attempt, and whether it succeeded.
    pub last_attempt: Option<(DateTime<Utc>, bool)>,
    /// The latest attempt that got a 2xx in time.
    pub last_success_at: Option<DateTime<Utc>>,
}
