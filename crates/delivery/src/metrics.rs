//! What delivery reports to `/metrics`. Labels take values from small fixed sets
//! (outcome, error class), never URLs or ids, so the series stay bounded.

use std::time::Duration;

use domain::ErrorClass;

pub const ATTEMPTS: &str = "admin_webhooks_attempts_total";
pub const ATTEMPT_DURATION: &str = "admin_webhooks_attempt_duration_seconds";
pub const DELIVERY_LATENCY: &str = "admin_webhooks_delivery_latency_seconds";
pub const EXPIRED: &str = "admin_webhooks_deliveries_expired_total";
pub const LANES_ACTIVE: &str = "admin_webhooks_lanes_active";

/// Describes the series, so `/metrics` carries HELP lines for them.
pub fn describe() {
    metrics::describe_counter!(ATTEMPTS, "Delivery attempts, by outcome and error class.");
    metrics::describe_histogram!(
        ATTEMPT_DURATION,
        metrics::Unit::Seconds,
        "Time of one attempt, request to response."
    );
    metrics::describe_histogram!(
        DELIVERY_LATENCY,
        metrics::Unit::Seconds,
        "Time from publish to the receiver's 2xx, retries included."
    );
    metrics::describe_counter!(EXPIRED, "Deliveries given up after the retention.");
    metrics::describe_gauge!(LANES_ACTIVE, "Endpoint lanes running in this process.");
}

/// Every class a failed attempt is counted under.
const ERROR_CLASSES: [ErrorClass; 6] = [
    ErrorClass::Timeout,
    ErrorClass::Connect,
    ErrorClass::Tls,
    ErrorClass::HttpStatus,
    ErrorClass::Gone,
    ErrorClass::SsrfBlocked,
];

/// Registers every series at zero, so that dashboards and alerts see `0` before the
/// first attempt (a series that was never incremented is otherwise absent, and a rate
/// over it is "no data", not 0).
pub fn register() {
    // Exhaustive on purpose: a new class fails to compile here until it is listed above.
    for class in ERROR_CLASSES {
        match class {
            ErrorClass::Timeout
            | ErrorClass::Connect
            | ErrorClass::Tls
            | ErrorClass::HttpStatus
            | ErrorClass::Gone
            | ErrorClass::SsrfBlocked => {}
        }
        metrics::counter!(ATTEMPTS, "outcome" => "failed", "error_class" => class.as_str())
            .absolute(0);
    }
    metrics::counter!(ATTEMPTS, "outcome" => "succeeded", "error_class" => "none").absolute(0);
    metrics::counter!(EXPIRED).absolute(0);
    metrics::gauge!(LANES_ACTIVE).set(0.0);
}

pub(crate) fn attempt(error: Option<ErrorClass>, took: Duration) {
    let (outcome, class) = match error {
        None => ("succeeded", "none"),
        Some(class) => ("failed", class.as_str()),
    };
    metrics::counter!(ATTEMPTS, "outcome" => outcome, "error_class" => class).increment(1);
    metrics::histogram!(ATTEMPT_DURATION).record(took.as_secs_f64());
}

pub(crate) fn delivered(since_publish: Duration) {
    metrics::histogram!(DELIVERY_LATENCY).record(since_publish.as_secs_f64());
}

pub(crate) fn expired() {
    metrics::counter!(EXPIRED).increment(1);
}

pub(crate) fn lanes_active(count: usize) {
    metrics::gauge!(LANES_ACTIVE).set(count as f64);
}
