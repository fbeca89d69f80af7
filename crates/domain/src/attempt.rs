//! What becomes of the head of an endpoint's lane around one attempt: whether it may be
//! attempted now, and its next state once the attempt has an answer.
//!
//! Invariants:
//! - A delivery expires at `opened_at + retention` (publication, or re-opening by hand);
//!   nothing is attempted at or after that instant.
//! - A retry is scheduled at or after the attempt that failed and never after the expiry.
//!   A retry scheduled at the expiry is not made: the check before it expires the
//!   delivery, which reads `failed` until its retention is over.
//! - A success is always delivered, whatever the clock says.
//! - A `410 Gone` always disables the endpoint, whatever the clock says; its delivery
//!   stays open, due again at once (never after its expiry) should the endpoint be
//!   re-enabled, and like every delivery of a disabled endpoint it waits until then.
//!
//! Everything is a function of its inputs: the clock reading and the jitter's uniform
//! draw are passed in, so the lane that applies these rules decides nothing itself.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::Backoff;

/// What an attempt came to, as far as the schedule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptVerdict {
    /// The receiver accepted the delivery (2xx).
    Succeeded,
    /// The receiver answered `410 Gone`: it wants no more deliveries.
    Gone,
    /// Anything else; `retry_after` is the receiver's wish (429/503), if it said one.
    Failed { retry_after: Option<Duration> },
}

/// The state a delivery moves to after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextState {
    Delivered,
    /// Failed; the next attempt is due at this instant, never later than the expiry.
    RetryAt(DateTime<Utc>),
    /// Failed with no time left for a retry: the attempt itself was made at or after
    /// the expiry.
    Expire,
    /// The receiver is gone: disable the endpoint, in the same commit as the attempt, and
    /// keep the delivery open, due at `retry_at` (never after the expiry) if the endpoint
    /// is enabled again.
    DisableEndpoint {
        retry_at: DateTime<Utc>,
    },
}

/// Whether the head may be attempted at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Its retention is over: give it up without an attempt.
    Expired,
    /// Attempt it now.
    Due,
    /// Look again at this instant: its next attempt or its expiry, whichever is first.
    WaitUntil(DateTime<Utc>),
}

/// The timing facts of a lane's head that the rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadSchedule {
    /// Attempts made so far.
    pub attempts: u32,
    /// When its next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// When it is given up.
    pub expires_at: DateTime<Utc>,
}

impl HeadSchedule {
    /// The schedule of a delivery opened at `opened_at` that is kept for `retention`.
    pub fn new(
        attempts: u32,
        next_attempt_at: DateTime<Utc>,
        opened_at: DateTime<Utc>,
        retention: Duration,
    ) -> Self {
        Self {
            attempts,
            next_attempt_at,
            expires_at: saturating_add(opened_at, retention),
        }
    }

    /// The check before an attempt at `now`.
    pub fn readiness(&self, now: DateTime<Utc>) -> Readiness {
        if now >= self.expires_at {
            Readiness::Expired
        } else if self.next_attempt_at > now {
            Readiness::WaitUntil(self.next_attempt_at.min(self.expires_at))
        } else {
            Readiness::Due
        }
    }

    /// The next state after an attempt made at `attempted_at` came to `verdict`. `unit` is
    /// the jitter's uniform draw in [0, 1) (see [`Backoff::delay_with`]).
    pub fn after_attempt(
        &self,
        attempted_at: DateTime<Utc>,
        verdict: AttemptVerdict,
        backoff: &Backoff,
        unit: f64,
    ) -> NextState {
        let retry_after = match verdict {
            AttemptVerdict::Succeeded => return NextState::Delivered,
            // Re-enabling says the receiver is back: no backoff to sit out.
            AttemptVerdict::Gone => {
                return NextState::DisableEndpoint {
                    retry_at: attempted_at.min(self.expires_at),
                };
            }
            AttemptVerdict::Failed { retry_after } => retry_after,
        };
        if attempted_at >= self.expires_at {
            return NextState::Expire;
        }
        let failures = self.attempts.saturating_add(1);
        let delay = backoff.delay_honouring_with(failures, retry_after, unit);
        NextState::RetryAt(saturating_add(attempted_at, delay).min(self.expires_at))
    }
}

/// `at + span`, or the last representable instant when that lies beyond it (a retention
/// of centuries means "never").
fn saturating_add(at: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(span)
        .ok()
        .and_then(|span| at.checked_add_signed(span))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const B: Backoff = Backoff {
        base: Duration::from_secs(5),
        cap: Duration::from_secs(900),
    };

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn head(attempts: u32, expires_in: i64) -> HeadSchedule {
        HeadSchedule {
            attempts,
            next_attempt_at: at(0),
            expires_at: at(expires_in),
        }
    }

    const FAILED: AttemptVerdict = AttemptVerdict::Failed { retry_after: None };

    #[test]
    fn the_first_failure_retries_after_the_base_delay() {
        let next = head(0, 86_400).after_attempt(at(0), FAILED, &B, 0.5);
        assert_eq!(next, NextState::RetryAt(at(5)));
    }

    #[test]
    fn a_retry_past_the_expiry_waits_for_the_expiry_instead() {
        let next = head(7, 100).after_attempt(at(0), FAILED, &B, 0.5);
        assert_eq!(next, NextState::RetryAt(at(100)));
        assert_eq!(
            head(7, 100).after_attempt(at(100), FAILED, &B, 0.5),
            NextState::Expire
        );
    }

    #[test]
    fn a_head_waits_for_its_retry_or_its_expiry_whichever_is_first() {
        let waiting = HeadSchedule {
            attempts: 1,
            next_attempt_at: at(50),
            expires_at: at(40),
        };
        assert_eq!(waiting.readiness(at(10)), Readiness::WaitUntil(at(40)));
        assert_eq!(waiting.readiness(at(40)), Readiness::Expired);
        let retrying = HeadSchedule {
            expires_at: at(60),
            ..waiting
        };
        assert_eq!(retrying.readiness(at(10)), Readiness::WaitUntil(at(50)));
        assert_eq!(retrying.readiness(at(50)), Readiness::Due);
    }

    #[test]
    fn an_endless_retention_never_expires() {
        let schedule = HeadSchedule::new(0, at(0), at(0), Duration::MAX);
        assert_eq!(schedule.expires_at, DateTime::<Utc>::MAX_UTC);
        assert_eq!(schedule.readiness(at(10)), Readiness::Due);
    }

    #[test]
    fn gone_disables_the_endpoint_and_keeps_the_delivery_due() {
        let next = head(3, 100).after_attempt(at(10), AttemptVerdict::Gone, &B, 0.5);
        assert_eq!(next, NextState::DisableEndpoint { retry_at: at(10) });
        // Even past the expiry the endpoint is disabled; the check after re-enabling
        // expires the delivery.
        let late = head(3, 100).after_attempt(at(150), AttemptVerdict::Gone, &B, 0.5);
        assert_eq!(late, NextState::DisableEndpoint { retry_at: at(100) });
        assert_eq!(head(4, 100).readiness(at(150)), Readiness::Expired);
    }

    fn verdicts() -> impl Strategy<Value = AttemptVerdict> {
        prop_oneof![
            Just(AttemptVerdict::Succeeded),
            Just(AttemptVerdict::Gone),
            proptest::option::of(0u64..100_000).prop_map(|wish| AttemptVerdict::Failed {
                retry_after: wish.map(Duration::from_secs)
            }),
        ]
    }

    proptest! {
        #[test]
        fn success_is_delivered_and_a_retry_lies_between_the_attempt_and_the_expiry(
            attempts in 0u32..1000,
            attempted in -100_000i64..100_000,
            expires in -100_000i64..100_000,
            unit in 0.0f64..1.0,
            verdict in verdicts(),
        ) {
            let schedule = head(attempts, expires);
            let next = schedule.after_attempt(at(attempted), verdict, &B, unit);
            if verdict == AttemptVerdict::Succeeded {
                prop_assert_eq!(next, NextState::Delivered);
            }
            prop_assert_eq!(
                verdict == AttemptVerdict::Gone,
                matches!(next, NextState::DisableEndpoint { .. })
            );
            match next {
                NextState::RetryAt(retry) => {
                    prop_assert!(retry >= at(attempted));
                    prop_assert!(retry <= schedule.expires_at);
                    prop_assert!(retry - at(attempted) <= chrono::Duration::from_std(B.cap).unwrap());
                }
                NextState::Expire => prop_assert!(at(attempted) >= schedule.expires_at),
                NextState::Delivered => prop_assert_eq!(verdict, AttemptVerdict::Succeeded),
                NextState::DisableEndpoint { retry_at } => {
                    prop_assert!(retry_at <= at(attempted));
                    prop_assert!(retry_at <= schedule.expires_at);
                    prop_assert!(retry_at == at(attempted) || retry_at == schedule.expires_at);
                }
            }
        }

        #[test]
        fn retries_grow_with_attempts_until_the_cap(
            attempts in 0u32..100,
            unit in 0.0f64..1.0,
        ) {
            let far = 10_000_000;
            let first = head(attempts, far).after_attempt(at(0), FAILED, &B, unit);
            let later = head(attempts + 1, far).after_attempt(at(0), FAILED, &B, unit);
            let (NextState::RetryAt(first), NextState::RetryAt(later)) = (first, later) else {
                return Err(TestCaseError::fail("a failure far from the expiry is retried"));
            };
            prop_assert!(later >= first);
            prop_assert!(later <= at(0) + chrono::Duration::from_std(B.cap).unwrap());
            let nominal = B.nominal(attempts + 1).as_secs_f64();
            let waited = (first - at(0)).as_seconds_f64();
            prop_assert!(waited >= nominal * 0.8 - 1e-3 && waited <= nominal * 1.2 + 1e-3);
        }

        #[test]
        fn retry_after_is_honoured_within_the_cap(
            attempts in 0u32..100,
            wish in 0u64..100_000,
            unit in 0.0f64..1.0,
        ) {
            let wish = Duration::from_secs(wish);
            let verdict = AttemptVerdict::Failed { retry_after: Some(wish) };
            let far = 10_000_000;
            let NextState::RetryAt(retry) = head(attempts, far).after_attempt(at(0), verdict, &B, unit) else {
                return Err(TestCaseError::fail("a failure far from the expiry is retried"));
            };
            let waited = (retry - at(0)).to_std().unwrap();
            let own = B.delay_with(attempts + 1, unit);
            prop_assert!(waited >= wish.min(B.cap));
            prop_assert!(waited >= own);
            prop_assert!(waited <= B.cap);
            prop_assert!(waited == own.max(wish.min(B.cap)));
        }

        #[test]
        fn only_a_head_due_before_its_expiry_is_attempted(
            next in -100_000i64..100_000,
            expires in -100_000i64..100_000,
            now in -100_000i64..100_000,
        ) {
            let schedule = HeadSchedule { attempts: 0, next_attempt_at: at(next), expires_at: at(expires) };
            match schedule.readiness(at(now)) {
                Readiness::Expired => prop_assert!(now >= expires),
                Readiness::Due => prop_assert!(now < expires && now >= next),
                Readiness::WaitUntil(until) => {
                    prop_assert!(until > at(now));
                    prop_assert!(until == at(next.min(expires)));
                }
            }
        }
    }
}
