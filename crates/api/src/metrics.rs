//! What the API reports to `/metrics`: publishes and how long their commit took. Labels
//! come from fixed sets only (never workspace names, types or ids).

use std::time::Duration;

pub const PUBLISHED: &str = "admin_webhooks_events_published_total";
pub const PUBLISH_DURATION: &str = "admin_webhooks_publish_duration_seconds";
pub const RATE_LIMITED: &str = "admin_webhooks_requests_rate_limited_total";

pub fn describe() {
    metrics::describe_counter!(
        PUBLISHED,
        "Publishes answered, by result (accepted, duplicate, refused)."
    );
    metrics::describe_histogram!(
        PUBLISH_DURATION,
        metrics::Unit::Seconds,
        "Time from a publish request to its commit (group commit included)."
    );
    metrics::describe_counter!(
        RATE_LIMITED,
        "Requests refused with 429 because their key's rate limit was used up."
    );
}

/// Registers every counter at zero, so that dashboards and alerts see `0` before the
/// first publish (a series never incremented is otherwise absent from `/metrics`).
pub fn register() {
    for result in ["accepted", "duplicate", "refused"] {
        metrics::counter!(PUBLISHED, "result" => result).absolute(0);
    }
    metrics::counter!(RATE_LIMITED).absolute(0);
}

pub(crate) fn rate_limited() {
    metrics::counter!(RATE_LIMITED).increment(1);
}

pub(crate) fn published(result: &'static str, took: Duration) {
    metrics::counter!(PUBLISHED, "result" => result).increment(1);
    metrics::histogram!(PUBLISH_DURATION).record(took.as_secs_f64());
}
