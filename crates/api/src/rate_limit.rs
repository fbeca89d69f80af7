//! Per-API-key rate limiting: a token bucket per key, in this process's memory.
//!
//! A key may make `burst` requests at once and `rate` per second sustained; past that
//! its requests are refused with 429 and `Retry-After` (whole seconds, rounded up: the
//! time until one token is back). The operator key has a bucket of its own.
//!
//! Invariants:
//! - Only authenticated requests are counted, after their key was found, so buckets exist
//!   only for real keys and the map is bounded by the number of keys.
//! - Buckets live in memory: with several processes (PostgreSQL), each process has its
//!   own, so a key may reach `processes × rate` across a cluster. Put a shared limiter in
//!   front (a load balancer) if that matters.
//! - A refused request takes no token, so a client that keeps retrying too early does
//!   not push its own recovery further out.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use usecases::auth_failures::TokenBucket;

/// A sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// Requests that may be made at once (the bucket's size).
    pub burst: u32,
}

/// `--rate-limit`'s text: `off`, or `<n>/s`, `<n>/m`, `<n>/h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub Option<f64>);

#[derive(Debug, thiserror::Error)]
#[error("a rate is written `100/s`, `6000/m` or `off`, with a number above 0, not `{0}`")]
pub struct RateError(String);

impl FromStr for Rate {
    type Err = RateError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(Rate(None));
        }
        let error = || RateError(text.to_owned());
        let (count, unit) = text.split_once('/').ok_or_else(error)?;
        let count: f64 = count.trim().parse().map_err(|_| error())?;
        let seconds = match unit.trim() {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(error()),
        };
        if !(count.is_finite() && count > 0.0) {
            return Err(error());
        }
        Ok(Rate(Some(count / seconds)))
    }
}

impl<'de> serde::Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("off"),
            Some(per_second) => write!(f, "{per_second}/s"),
        }
    }
}

/// The buckets of every key seen; `None` limit means every request passes.
pub struct RateLimiter {
    limit: Option<RateLimit>,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl RateLimiter {
    pub fn new(limit: Option<RateLimit>) -> RateLimiter {
        RateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn limit(&self) -> Option<RateLimit> {
        self.limit
    }

    /// Takes a token from `key`'s bucket, or says how long until one is back.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .entry(key.to_owned())
            .or_insert_with(|| TokenBucket::full(limit.burst, now))
            .take(limit.per_second, limit.burst, now)
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1 (the same rounding as the
/// limit of failed authentications).
pub use usecases::auth_failures::retry_after_secs;

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!("100/s".parse::<Rate>().unwrap(), Rate(Some(100.0)));
        assert_eq!("60/m".parse::<Rate>().unwrap(), Rate(Some(1.0)));
        assert_eq!("OFF".parse::<Rate>().unwrap(), Rate(None));
        for bad in ["100", "0/s", "-1/s", "x/s", "10/d", ""] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(Some(RateLimit {
            per_second: 2.0,
            burst: 3,
        }));
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.check_at("ak_1", t0).unwrap();
        }
        let wait = limiter.check_at("ak_1", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(retry_after_secs(wait), 1);
        limiter
            .check_at("ak_2", t0)
            .expect("keys have their own buckets");
        // Refused requests take nothing: half a second later one token is back.
        limiter.check_at("ak_1", t0).unwrap_err();
        limiter
            .check_at("ak_1", t0 + Duration::from_millis(500))
            .unwrap();
        limiter
            .check_at("ak_1", t0 + Duration::from_millis(500))
            .unwrap_err();
    }

    #[test]
    fn no_limit_lets_everything_through() {
        let limiter = RateLimiter::new(None);
        for _ in 0..10_000 {
            limiter.check("ak_1").unwrap();
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
