//! When a failed delivery is tried again: exponential backoff with jitter, capped, and
//! given up ("expired") once the event is older than the retention.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry (before jitter).
    pub base: Duration,
    /// No delay is longer than this.
    pub cap: Duration,
}

impl Backoff {
    /// The undithered delay after the `failures`-th failure (1-based): base·2^(n-1), capped.
    pub fn nominal(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(32);
        self.base
            .checked_mul(1u32 << exp.min(31))
            .unwrap_or(self.cap)
            .min(self.cap)
    }

    /// The delay to wait after the `failures`-th failure: the nominal delay with ±20 %
    /// jitter, so that endpoints that failed together do not retry together, never above
    /// the cap. `unit` is a uniform draw in [0, 1).
    pub fn delay_with(&self, failures: u32, unit: f64) -> Duration {
        let nominal = self.nominal(failures).as_secs_f64();
        let factor = 0.8 + 0.4 * unit.clamp(0.0, 1.0);
        Duration::from_secs_f64(nominal * factor).min(self.cap)
    }

    pub fn delay(&self, failures: u32) -> Duration {
        self.delay_with(failures, rand::thread_rng().gen_range(0.0..1.0))
    }

    /// The delay after a failure whose receiver asked for `retry_after` (429/503): the
    /// receiver's wish is honoured when it is longer than our own, within the cap.
    pub fn delay_honouring(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        self.delay_honouring_with(
            failures,
            retry_after,
            rand::thread_rng().gen_range(0.0..1.0),
        )
    }

    /// [`Backoff::delay_honouring`] with the jitter's uniform draw `unit` in [0, 1) passed
    /// in, so that the rule is a pure function.
    pub fn delay_honouring_with(
        &self,
        failures: u32,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Duration {
        let own = self.delay_with(failures, unit);
        match retry_after {
            Some(wish) => own.max(wish).min(self.cap),
            None => own,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const B: Backoff = Backoff {
        base: Duration::from_secs(5),
        cap: Duration::from_secs(900),
    };

    #[test]
    fn doubles_from_base_to_cap() {
        assert_eq!(B.nominal(1), Duration::from_secs(5));
        assert_eq!(B.nominal(2), Duration::from_secs(10));
        assert_eq!(B.nominal(3), Duration::from_secs(20));
        assert_eq!(B.nominal(8), Duration::from_secs(640));
        assert_eq!(B.nominal(9), Duration::from_secs(900));
        assert_eq!(B.nominal(1000), Duration::from_secs(900));
    }

    #[test]
    fn retry_after_is_honoured_within_the_cap() {
        let d = B.delay_honouring(1, Some(Duration::from_secs(60)));
        assert_eq!(d, Duration::from_secs(60));
        let d = B.delay_honouring(1, Some(Duration::from_secs(100_000)));
        assert_eq!(d, B.cap);
    }

    proptest! {
        #[test]
        fn jittered_delay_stays_near_nominal_and_under_cap(n in 1u32..100, u in 0.0f64..1.0) {
            let d = B.delay_with(n, u);
            let nominal = B.nominal(n).as_secs_f64();
            prop_assert!(d <= B.cap);
            prop_assert!(d.as_secs_f64() >= nominal * 0.8 - 1e-9);
            prop_assert!(d.as_secs_f64() <= nominal * 1.2 + 1e-9);
        }

        #[test]
        fn nominal_never_shrinks(n in 1u32..100) {
            prop_assert!(B.nominal(n + 1) >= B.nominal(n));
        }
    }
}
