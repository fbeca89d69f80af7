//! Failed authentications per client address: a token bucket per address, shared by
//! every edge that checks a key (the API's bearer check, the dashboard's sign-in), so
//! that guessing keys costs the guesser time and shows in `/metrics`.
//!
//! Invariants:
//! - Only failures are counted, after the key was checked: a valid key is never refused
//!   nor slowed, whatever others sent from the same address. An address over its limit
//!   gets 429 and `Retry-After` for its failed attempts instead of 401, until its bucket
//!   refills. (Refusing before the check would let a guesser lock out everyone behind
//!   the same address or proxy.)
//! - An address is the TCP peer's: an IPv4 address, or the /64 prefix of an IPv6 one
//!   (a single host usually holds a whole /64). Proxy headers are not trusted; behind a
//!   reverse proxy every client shares the proxy's bucket.
//! - Memory is bounded: at most [`MAX_CLIENTS`] buckets. An idle bucket (refilled to full)
//!   means the same as none, so it is dropped when room is needed; while every bucket is
//!   busy, new addresses share one overflow bucket.
//! - A refused failure takes no token, so retrying too early does not push the address's
//!   recovery further out.
//! - Counted per process: with several processes each keeps its own buckets.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most addresses tracked at once (about 64 bytes each).
pub const MAX_CLIENTS: usize = 65_536;

/// The least time between two sweeps of idle buckets, so that a flood of new addresses
/// does not make every failure walk the whole table.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

pub const AUTH_FAILURES: &str = "admin_webhooks_auth_failures_total";

/// How many failures an address may make: `burst` at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailureLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// The edge a failure happened at (a label of [`AUTH_FAILURES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthEdge {
    Api,
    Dashboard,
}

impl AuthEdge {
    fn label(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Dashboard => "dashboard",
        }
    }
}

/// The address is over its limit: answer 429 with `Retry-After: retry_after_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "Too many failed sign-ins or API keys from your address. Retry after {retry_after_secs} \
     second(s)."
)]
pub struct TooManyFailures {
    /// Whole seconds, rounded up, at least 1: until one failure is allowed again.
    pub retry_after_secs: u64,
}

/// A token bucket: `burst` tokens at most, refilled at `per_second`. The API's per-key
/// rate limiter keeps the same buckets.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    pub fn full(burst: u32, now: Instant) -> Self {
        TokenBucket {
            tokens: f64::from(burst.max(1)),
            refilled: now,
        }
    }

    /// Takes a token, or says how long until one is back (a refusal takes nothing).
    pub fn take(&mut self, per_second: f64, burst: u32, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(f64::from(burst.max(1)));
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / per_second))
        }
    }

    /// Whether the bucket has refilled by `now`: then it means the same as no bucket.
    fn is_full_at(&self, per_second: f64, burst: u32, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens + elapsed * per_second >= f64::from(burst.max(1))
    }
}

struct Table {
    buckets: HashMap<IpAddr, TokenBucket>,
    overflow: Option<TokenBucket>,
    last_sweep: Option<Instant>,
}

/// The buckets of the addresses that failed lately; `None` limit counts but never refuses.
pub struct AuthFailureLimiter {
    limit: Option<FailureLimit>,
    max_clients: usize,
    table: Mutex<Table>,
}

impl AuthFailureLimiter {
    pub fn new(limit: Option<FailureLimit>) -> Self {
        Self::with_capacity(limit, MAX_CLIENTS)
    }

    /// A limiter that refuses nothing (failures are still counted in `/metrics`).
    pub fn disabled() -> Self {
        Self::new(None)
    }

    fn with_capacity(limit: Option<FailureLimit>, max_clients: usize) -> Self {
        AuthFailureLimiter {
            limit,
            max_clients,
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                overflow: None,
                last_sweep: None,
            }),
        }
    }

    pub fn limit(&self) -> Option<FailureLimit> {
        self.limit
    }

    /// Records a failed authentication from `client` (the TCP peer; `None` where the
    /// edge was served without one, which all such requests share) and says whether to
    /// answer it as a plain failure (`Ok`) or as too many (`Err`).
    pub fn failed(&self, edge: AuthEdge, client: Option<IpAddr>) -> Result<(), TooManyFailures> {
        let verdict = self.failed_at(client, Instant::now());
        let outcome = if verdict.is_ok() {
            "refused"
        } else {
            "limited"
        };
        metrics::counter!(AUTH_FAILURES, "edge" => edge.label(), "outcome" => outcome).increment(1);
        verdict.map_err(|wait| TooManyFailures {
            retry_after_secs: retry_after_secs(wait),
        })
    }

    fn failed_at(&self, client: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let key = client_key(client);
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let table = &mut *table;
        if !table.buckets.contains_key(&key) && table.buckets.len() >= self.max_clients {
            table.sweep(limit, now);
        }
        let bucket = if table.buckets.len() < self.max_clients || table.buckets.contains_key(&key) {
            table
                .buckets
                .entry(key)
                .or_insert_with(|| TokenBucket::full(limit.burst, now))
        } else {
            table
                .overflow
                .get_or_insert_with(|| TokenBucket::full(limit.burst, now))
        };
        bucket.take(limit.per_second, limit.burst, now)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table.lock().unwrap().buckets.len()
    }
}

impl Table {
    /// Drops the buckets that have refilled: forgetting them changes no answer.
    fn sweep(&mut self, limit: FailureLimit, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|last| now.saturating_duration_since(last) < SWEEP_EVERY)
        {
            return;
        }
        self.last_sweep = Some(now);
        let idle = |b: &TokenBucket| b.is_full_at(limit.per_second, limit.burst, now);
        self.buckets.retain(|_, bucket| !idle(bucket));
        if self.overflow.as_ref().is_some_and(idle) {
            self.overflow = None;
        }
    }
}

/// What an address is counted as: IPv4 as it is (IPv4-mapped IPv6 included), IPv6 by
/// its /64 prefix.
fn client_key(client: Option<IpAddr>) -> IpAddr {
    match client.map(|ip| ip.to_canonical()) {
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(IpAddr::V4(v4)) => IpAddr::V4(v4),
        Some(IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
    }
}

/// `Retry-After` for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// Describes the counter and creates its series at 0, so `/metrics` shows them before
/// the first failure.
pub fn describe() {
    metrics::describe_counter!(
        AUTH_FAILURES,
        "Failed authentications (wrong API key, operator key or dashboard sign-in), by edge \
         (api, dashboard) and outcome (refused: 401; limited: 429, the address is over its \
         limit)."
    );
    for edge in [AuthEdge::Api, AuthEdge::Dashboard] {
        for outcome in ["refused", "limited"] {
            metrics::counter!(AUTH_FAILURES, "edge" => edge.label(), "outcome" => outcome)
                .increment(0);
        }
    }
}

impl std::fmt::Debug for AuthFailureLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthFailureLimiter")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: FailureLimit = FailureLimit {
        per_second: 2.0,
        burst: 3,
    };

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn an_address_gets_its_burst_then_waits_for_the_refill() {
        let limiter = AuthFailureLimiter::new(Some(LIMIT));
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.failed_at(ip("192.0.2.1"), t0).unwrap();
        }
        let wait = limiter.failed_at(ip("192.0.2.1"), t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(retry_after_secs(wait), 1);
        limiter
            .failed_at(ip("192.0.2.2"), t0)
            .expect("another address has its own bucket");
        // Refused failures take nothing: half a second later one is allowed again.
        limiter.failed_at(ip("192.0.2.1"), t0).unwrap_err();
        let later = t0 + Duration::from_millis(500);
        limiter.failed_at(ip("192.0.2.1"), later).unwrap();
        limiter.failed_at(ip("192.0.2.1"), later).unwrap_err();
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1")),
            client_key(ip("2001:db8:1:2::ffff"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            client_key(ip("::ffff:192.0.2.7")),
            client_key(ip("192.0.2.7"))
        );
        let limiter = AuthFailureLimiter::new(Some(LIMIT));
        let t0 = Instant::now();
        for host in 1..=3 {
            limiter
                .failed_at(ip(&format!("2001:db8::{host}")), t0)
                .unwrap();
        }
        limiter.failed_at(ip("2001:db8::4"), t0).unwrap_err();
    }

    #[test]
    fn idle_buckets_are_dropped_and_a_full_table_shares_one_overflow_bucket() {
        let limiter = AuthFailureLimiter::with_capacity(Some(LIMIT), 2);
        let t0 = Instant::now();
        limiter.failed_at(ip("192.0.2.1"), t0).unwrap();
        limiter.failed_at(ip("192.0.2.2"), t0).unwrap();
        // The table is full and nobody is idle yet: newcomers share the overflow bucket.
        for i in 3..6 {
            limiter.failed_at(ip(&format!("192.0.2.{i}")), t0).unwrap();
        }
        limiter.failed_at(ip("192.0.2.9"), t0).unwrap_err();
        assert_eq!(limiter.tracked(), 2);
        // Two seconds later both buckets have refilled: they make room for a newcomer.
        let later = t0 + Duration::from_secs(2);
        limiter.failed_at(ip("192.0.2.10"), later).unwrap();
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn no_limit_refuses_nothing() {
        let limiter = AuthFailureLimiter::disabled();
        let t0 = Instant::now();
        for _ in 0..10_000 {
            limiter.failed_at(ip("192.0.2.1"), t0).unwrap();
        }
        assert!(limiter.failed(AuthEdge::Api, None).is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
