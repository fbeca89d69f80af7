//! Waiting for something to hold, instead of sleeping and hoping it did.
//!
//! [`eventually`] polls a condition every [`POLL_INTERVAL`] until it holds or the time
//! given has passed, and then fails the test naming what it awaited. It runs on tokio's
//! clock, so under paused time the deadline is virtual too. [`instant_between`] is the
//! same idea for timestamps: it waits for the wall clock to tick past a millisecond
//! rather than for a fixed number of them.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How often a condition is checked: short next to the deadlines tests give, long enough
/// not to load a shared machine.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// What a condition of [`eventually`] answers: `bool` (held or not), or `Option<T>`
/// (the value once it is there).
pub trait Awaited {
    type Value;

    /// `Some` once the condition holds.
    fn ready(self) -> Option<Self::Value>;
}

impl Awaited for bool {
    type Value = ();

    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Awaited for Option<T> {
    type Value = T;

    fn ready(self) -> Option<T> {
        self
    }
}

/// Checks `condition` until it holds, and returns what it gave; panics with `awaited` in
/// the message once `within` has passed without it holding. The condition is always
/// checked at least once, and once more at the deadline.
pub async fn eventually<F, Fut, A>(within: Duration, awaited: &str, mut condition: F) -> A::Value
where
    F: FnMut() -> Fut,
    Fut: Future<Output = A>,
    A: Awaited,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last_chance = tokio::time::Instant::now() >= deadline;
        if let Some(value) = condition().await.ready() {
            return value;
        }
        if last_chance {
            panic!("timed out after {within:?} waiting for {awaited}");
        }
        tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + POLL_INTERVAL)).await;
    }
}

/// A moment strictly between what was stored before the call and what is stored after
/// it, at the millisecond resolution the store keeps times in: the wall clock is waited
/// past a millisecond boundary on both sides of the instant returned.
pub async fn instant_between() -> DateTime<Utc> {
    let at = clock_past(Utc::now()).await;
    clock_past(at).await;
    at
}

/// The first wall-clock reading in a later millisecond than `t`.
async fn clock_past(t: DateTime<Utc>) -> DateTime<Utc> {
    let millis = t.timestamp_millis();
    eventually(
        Duration::from_secs(1),
        "the clock to pass a millisecond",
        || async {
            let now = Utc::now();
            (now.timestamp_millis() > millis).then_some(now)
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_the_value_once_the_condition_holds() {
        let checks = AtomicUsize::new(0);
        let got = eventually(Duration::from_secs(1), "the third check", || async {
            let n = checks.fetch_add(1, Ordering::SeqCst) + 1;
            (n == 3).then_some(n)
        })
        .await;
        assert_eq!(got, 3);
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "waiting for a condition that never holds")]
    async fn fails_naming_what_was_awaited() {
        eventually(
            Duration::from_millis(50),
            "a condition that never holds",
            || async { false },
        )
        .await;
    }

    #[tokio::test]
    async fn the_instant_between_is_in_its_own_millisecond() {
        let before = Utc::now();
        let at = instant_between().await;
        let after = Utc::now();
        assert!(before.timestamp_millis() < at.timestamp_millis());
        assert!(at.timestamp_millis() < after.timestamp_millis());
    }
}
