//! An endpoint's rate limit: at most `n` attempts per second or per minute, so that a
//! receiver that can take 10 requests a second does not get 1,000 when a backlog drains.
//!
//! The limit is kept as a minimum spacing between the starts of two attempts to the
//! endpoint ([`RateLimit::spacing`]): the period divided by `n`, rounded up to the
//! nanosecond. A spacing rather than a bucket with a burst: over any stretch of time the
//! receiver gets no more than the limit, including right after an outage, and the lane
//! (one attempt in flight, in order) only ever waits before its next attempt, so the
//! order of deliveries is untouched.
//!
//! Invariant: a [`RateLimit`] always holds 1..=[`MAX_RATE`] attempts; only
//! [`RateLimit::new`] and deserialization (which goes through it) make one.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The highest limit that can be set, per second or per minute.
pub const MAX_RATE: u64 = 10_000;

/// The period a rate limit counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RatePeriod {
    Second,
    Minute,
}

impl RatePeriod {
    /// `second` or `minute`, as stored and as shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Second => "second",
            Self::Minute => "minute",
        }
    }

    /// The JSON field that names this period: `per_second` or `per_minute`.
    pub fn field(self) -> &'static str {
        match self {
            Self::Second => "per_second",
            Self::Minute => "per_minute",
        }
    }

    pub fn duration(self) -> Duration {
        match self {
            Self::Second => Duration::from_secs(1),
            Self::Minute => Duration::from_secs(60),
        }
    }

    /// The period named `text` (`second`, `minute`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "second" => Some(Self::Second),
            "minute" => Some(Self::Minute),
            _ => None,
        }
    }
}

/// A limit outside 1..=[`MAX_RATE`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`rate_limit.{field}` must be a whole number from 1 to {MAX_RATE} (attempts per {period}); \
     leave `rate_limit` null for no limit",
    field = .period.field(),
    period = .period.as_str()
)]
pub struct RateLimitError {
    pub period: RatePeriod,
}

/// At most `count` attempts per `period` to one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "RateLimitJson", try_from = "RateLimitJson")]
pub struct RateLimit {
    period: RatePeriod,
    count: u32,
}

impl RateLimit {
    /// `count` attempts per `period`; refused outside 1..=[`MAX_RATE`].
    pub fn new(period: RatePeriod, count: u64) -> Result<Self, RateLimitError> {
        match u32::try_from(count) {
            Ok(count) if (1..=MAX_RATE).contains(&u64::from(count)) => Ok(Self { period, count }),
            _ => Err(RateLimitError { period }),
        }
    }

    pub fn period(self) -> RatePeriod {
        self.period
    }

    pub fn count(self) -> u32 {
        self.count
    }

    /// The least time between the starts of two attempts: the period divided by the
    /// count, rounded up, so that `count` attempts never fit in less than a period.
    pub fn spacing(self) -> Duration {
        let period = self.period.duration().as_nanos();
        let count = u128::from(self.count);
        let nanos = period.div_ceil(count);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} per {}", self.count, self.period.as_str())
    }
}

/// The JSON form: `{"per_second": n}` or `{"per_minute": n}`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RateLimitJson {
    PerSecond(u64),
    PerMinute(u64),
}

impl From<RateLimit> for RateLimitJson {
    fn from(limit: RateLimit) -> Self {
        let count = u64::from(limit.count);
        match limit.period {
            RatePeriod::Second => Self::PerSecond(count),
            RatePeriod::Minute => Self::PerMinute(count),
        }
    }
}

impl TryFrom<RateLimitJson> for RateLimit {
    type Error = RateLimitError;

    fn try_from(json: RateLimitJson) -> Result<Self, Self::Error> {
        match json {
            RateLimitJson::PerSecond(n) => Self::new(RatePeriod::Second, n),
            RateLimitJson::PerMinute(n) => Self::new(RatePeriod::Minute, n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert!(RateLimit::new(RatePeriod::Second, 0).is_err());
        assert!(RateLimit::new(RatePeriod::Minute, MAX_RATE + 1).is_err());
        assert!(RateLimit::new(RatePeriod::Second, u64::MAX).is_err());
        assert_eq!(
            RateLimit::new(RatePeriod::Second, 0)
                .unwrap_err()
                .to_string(),
            "`rate_limit.per_second` must be a whole number from 1 to 10000 (attempts per \
             second); leave `rate_limit` null for no limit"
        );
        let max = RateLimit::new(RatePeriod::Second, MAX_RATE).unwrap();
        assert_eq!(max.spacing(), Duration::from_micros(100));
    }

    #[test]
    fn spacing_is_the_period_over_the_count_rounded_up() {
        let twenty = RateLimit::new(RatePeriod::Second, 20).unwrap();
        assert_eq!(twenty.spacing(), Duration::from_millis(50));
        let three = RateLimit::new(RatePeriod::Second, 3).unwrap();
        assert_eq!(three.spacing(), Duration::from_nanos(333_333_334));
        assert!(three.spacing() * 3 >= Duration::from_secs(1));
        let per_minute = RateLimit::new(RatePeriod::Minute, 10).unwrap();
        assert_eq!(per_minute.spacing(), Duration::from_secs(6));
        assert_eq!(per_minute.to_string(), "10 per minute");
    }

    #[test]
    fn json_names_the_period() {
        let limit = RateLimit::new(RatePeriod::Minute, 90).unwrap();
        let json = serde_json::to_value(limit).unwrap();
        assert_eq!(json, serde_json::json!({ "per_minute": 90 }));
        let back: RateLimit = serde_json::from_value(json).unwrap();
        assert_eq!(back, limit);
        assert!(serde_json::from_str::<RateLimit>(r#"{"per_second": 0}"#).is_err());
        assert!(serde_json::from_str::<RateLimit>(r#"{"per_hour": 5}"#).is_err());
    }
}
