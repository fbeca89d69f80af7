//! The time a lane reads and sleeps by, behind a trait so that its schedule can be tested
//! under tokio's paused time.
//!
//! Invariant: a sleep may end a little off its instant (timers have millisecond
//! granularity, the wall clock may be set), so whoever sleeps reads `now` again after
//! waking instead of assuming it is the instant it slept until.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::{Instant, Sleep};

/// Wall-clock time for schedules stored as UTC instants.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Completes at `at` (at once when it has passed).
    fn sleep_until(&self, at: DateTime<Utc>) -> Sleep;
}

/// The system's clock: what production runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Sleep {
        tokio::time::sleep((at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
    }
}

/// UTC that follows tokio's clock from a fixed starting point: under paused time it moves
/// only when the runtime advances time, so schedules of hours run in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin_utc: DateTime<Utc>,
    origin: Instant,
}

impl TokioClock {
    /// A clock that reads `origin_utc` now. Call it inside the runtime whose time it follows.
    pub fn starting_at(origin_utc: DateTime<Utc>) -> Self {
        Self {
            origin_utc,
            origin: Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed =
            chrono::Duration::from_std(self.origin.elapsed()).unwrap_or(chrono::Duration::MAX);
        self.origin_utc
            .checked_add_signed(elapsed)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Sleep {
        let after_origin = (at - self.origin_utc).to_std().unwrap_or(Duration::ZERO);
        match self.origin.checked_add(after_origin) {
            Some(deadline) => tokio::time::sleep_until(deadline),
            // Beyond what an `Instant` can hold: as good as never.
            None => tokio::time::sleep(Duration::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_moves_with_paused_time() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = TokioClock::starting_at(start);
        assert_eq!(clock.now(), start);
        let due = start + chrono::Duration::hours(3);
        clock.sleep_until(due).await;
        assert!(clock.now() >= due);
        assert!(clock.now() - due < chrono::Duration::milliseconds(2));
    }
}
