//! Waiting for something to hold, instead of sleeping and hoping it did.
//!
//! [`eventually`] polls a condition every [`POLL_INTERVAL`] until it holds or the time
//! given has passed, and then fails the test naming what it awaited. It runs on tokio's
//! clock, so under paused time the deadline is virtual too. [`continually`] is its
//! mirror for the rare "nothing happens within this window". [`clock_past`] and
//! [`instant_between`] are the same idea for timestamps: they wait for the wall clock to
//! pass a recorded moment rather than for a fixed number of milliseconds.

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
/// the message once `within` has passed without it holding.
pub async fn eventually<F, Fut, A>(within: Duration, awaited: &str, condition: F) -> A::Value
where
    F: FnMut() -> Fut,
    Fut: Future<Output = A>,
    A: Awaited,
{
    match poll_until(within, condition).await {
        Some(value) => value,
        None => panic!("timed out after {within:?} waiting for {awaited}"),
    }
}

/// What [`eventually`] does, leaving the failure to the caller (`None` once `within` has
/// passed), for a waiter that has more to say when it gives up. The condition is always
/// checked at least once, and once more at the deadline.
pub async fn poll_until<F, Fut, A>(within: Duration, mut condition: F) -> Option<A::Value>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = A>,
    A: Awaited,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last_chance = tokio::time::Instant::now() >= deadline;
        if let Some(value) = condition().await.ready() {
            return Some(value);
        }
        if last_chance {
            return None;
        }
        tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + POLL_INTERVAL)).await;
    }
}

/// Checks `condition` throughout `window` and panics, naming `expected`, as soon as it
/// does not hold: for the few tests whose point is that something does *not* happen
/// within a window (a second alert, an event to a non-subscriber). The window is the
/// only time it takes.
pub async fn continually<F, Fut>(window: Duration, expected: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + window;
    loop {
        assert!(
            condition().await,
            "{expected} stopped holding within {window:?}"
        );
        if tokio::time::Instant::now() >= end {
            return;
        }
        tokio::time::sleep_until(end.min(tokio::time::Instant::now() + POLL_INTERVAL)).await;
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

/// Waits until the wall clock reads a later millisecond than `t`, and returns that
/// reading: for a test that must let a recorded moment (a grace period's end, a
/// retention window) pass, anchored to that moment rather than to a guessed delay.
pub async fn clock_past(t: DateTime<Utc>) -> DateTime<Utc> {
    let millis = t.timestamp_millis();
    let ahead = (t - Utc::now()).to_std().unwrap_or_default();
    eventually(
        ahead + Duration::from_secs(1),
        "the clock to pass a recorded moment",
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

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "the count stays under 3 stopped holding")]
    async fn continually_fails_as_soon_as_the_condition_breaks() {
        let checks = AtomicUsize::new(0);
        continually(
            Duration::from_secs(60),
            "the count stays under 3",
            || async { checks.fetch_add(1, Ordering::SeqCst) < 3 },
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
