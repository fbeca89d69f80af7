//! What both backends' [`crate::WebhookStats`] share beyond SQL: which percentiles are
//! reported, the nearest-rank rule that picks each, and the answer's assembly. Each
//! backend only counts and reads the values at the ranks (`sqlite/stats.rs`,
//! `postgres/stats.rs`).
//!
//! Invariants:
//! - A percentile is nearest-rank, the value at rank ⌈p·n/100⌉ (1-based) of the
//!   `n` attempts that got an answer (a status code) sorted by response time, computed in
//!   integers, so it is always a response time that occurred. An attempt without an
//!   answer (refused, TLS, timeout) has no response time and is not ranked.
//! - An attempt is throttled when its stored status code is one of
//!   [`THROTTLING_STATUSES`], whatever its `Retry-After` said.

use chrono::{DateTime, Utc};

use crate::WebhookStats;

/// The percentiles an answer carries, in the order of its fields (p50, p95, p99).
pub(crate) const PERCENTILES: [u64; 3] = [50, 95, 99];

/// The statuses by which a receiver asks to be sent less (Standard Webhooks: too many
/// requests, or a gateway or the service overloaded), counted as `throttled`. Passed to
/// each backend's SQL as parameters, so the list lives here only.
pub(crate) const THROTTLING_STATUSES: [u16; 4] = [429, 502, 503, 504];

/// The 1-based nearest rank of the `percent`-th percentile among `n` values.
pub(crate) fn nearest_rank(percent: u64, n: u64) -> u64 {
    (percent * n).div_ceil(100).max(1)
}

impl WebhookStats {
    /// The answer for `attempts` attempts since `since`, `successes` of them good and
    /// `throttled` of them answered with a [`THROTTLING_STATUSES`] code and `responses`
    /// of them answered at all, with the response times of those at [`PERCENTILES`]
    /// (`None` without any).
    pub(crate) fn from_counts(
        since: DateTime<Utc>,
        attempts: u64,
        successes: u64,
        throttled: u64,
        responses: u64,
        [p50_ms, p95_ms, p99_ms]: [Option<u32>; 3],
    ) -> WebhookStats {
        WebhookStats {
            since,
            attempts,
            successes,
            failures: attempts - successes,
            throttled,
            responses,
            p50_ms,
            p95_ms,
            p99_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_is_the_ceiling_of_the_share() {
        // 1..=10: p50 is the 5th value, p95 and p99 the 10th.
        assert_eq!(nearest_rank(50, 10), 5);
        assert_eq!(nearest_rank(95, 10), 10);
        assert_eq!(nearest_rank(99, 10), 10);
        assert_eq!(nearest_rank(50, 1), 1);
        assert_eq!(nearest_rank(99, 1000), 990);
        assert_eq!(nearest_rank(95, 200), 190);
    }
}
