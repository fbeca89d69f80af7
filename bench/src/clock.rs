//! One clock for the whole bench process: nanoseconds since the bench started.
//!
//! The load generator writes this time into each event (`data.sent_ns`) and the receiver
//! reads it on arrival; both live in this process, so the difference is a true
//! publish→receipt latency with no cross-machine clock skew.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static START: OnceLock<Instant> = OnceLock::new();

fn start() -> Instant {
    *START.get_or_init(Instant::now)
}

/// Nanoseconds since the bench started.
pub fn now_ns() -> u64 {
    ns_of(Instant::now())
}

/// An instant in the same nanoseconds.
pub fn ns_of(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(start()).as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds between two clock readings, as a duration.
pub fn between(from_ns: u64, to_ns: u64) -> Duration {
    Duration::from_nanos(to_ns.saturating_sub(from_ns))
}
