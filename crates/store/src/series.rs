//! An endpoint's attempts as a time series: what both backends share beyond SQL — how
//! the window is cut into buckets ([`SeriesSpec`]), the percentile rule, and filling the
//! buckets without attempts. Each backend only counts per bucket and finds the response
//! times at the ranks (`sqlite/stats.rs`, `postgres/stats.rs`).
//!
//! Invariants:
//! - Buckets are aligned to multiples of their width since the Unix epoch (UTC), so the
//!   same attempt falls in the same bucket whenever the series is read, and the last
//!   bucket is the one holding `now` (still filling).
//! - Percentiles are nearest-rank ([`crate::stats`]) over the attempts that got an answer
//!   (a status code): a refused connection or a TLS failure has no response time, so it
//!   never shows as a fast response. `None` when no attempt of the bucket got one.
//! - Every bucket of the window is in the answer, in time order, empty ones included.

use chrono::{DateTime, Duration, Utc};

use crate::stats::nearest_rank;

/// How a series is cut: `count` buckets of `width`, the first starting at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesSpec {
    pub start: DateTime<Utc>,
    pub width: Duration,
    pub count: u32,
}

impl SeriesSpec {
    /// `count` buckets of `width`, aligned to the epoch, the last one holding `now`.
    pub fn ending_at(now: DateTime<Utc>, width: Duration, count: u32) -> SeriesSpec {
        let width_ms = width.num_milliseconds().max(1);
        let now_ms = now.timestamp_millis();
        let last_start = now_ms - now_ms.rem_euclid(width_ms);
        let start_ms = last_start - width_ms * (i64::from(count) - 1);
        SeriesSpec {
            start: DateTime::from_timestamp_millis(start_ms).unwrap_or_default(),
            width: Duration::milliseconds(width_ms),
            count,
        }
    }

    /// Where the last bucket ends (exclusive).
    pub fn end(&self) -> DateTime<Utc> {
        self.start + self.width * self.count as i32
    }

    pub(crate) fn start_ms(&self) -> i64 {
        self.start.timestamp_millis()
    }

    pub(crate) fn width_ms(&self) -> i64 {
        self.width.num_milliseconds().max(1)
    }
}

/// One bucket of an endpoint's series.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StatsBucket {
    pub start: DateTime<Utc>,
    pub attempts: u64,
    /// Attempts that got a 2xx in time.
    pub successes: u64,
    /// Failed attempts the receiver answered (any status but a 2xx in time).
    pub answered_failures: u64,
    /// Failed attempts without an answer: timeout, refused connection, TLS, blocked address.
    pub unanswered: u64,
    /// Response-time percentiles of the attempts that got an answer.
    pub p50_ms: Option<u32>,
    pub p95_ms: Option<u32>,
}

impl StatsBucket {
    /// Successes over attempts, from 0 to 1; `None` without attempts.
    pub fn success_rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.successes as f64 / self.attempts as f64)
    }
}

/// The percentiles a bucket carries, in the order of its fields.
pub(crate) const SERIES_PERCENTILES: [u64; 2] = [50, 95];

/// What a backend counted in one bucket.
#[derive(Debug, Clone, Default)]
pub(crate) struct BucketCounts {
    /// The bucket's position from the series' start (0-based).
    pub index: i64,
    pub attempts: u64,
    pub successes: u64,
    /// Attempts with a status code.
    pub answered: u64,
    pub percentiles: [Option<u32>; 2],
}

/// Nearest-rank percentiles off a histogram of answered attempts by response time
/// (ascending), for a backend that reads histograms (SQLite).
pub(crate) fn histogram_percentiles<const N: usize>(
    histogram: &[(u32, u64)],
    percents: [u64; N],
) -> [Option<u32>; N] {
    let total: u64 = histogram.iter().map(|(_, n)| n).sum();
    percents.map(|percent| {
        if total == 0 {
            return None;
        }
        let rank = nearest_rank(percent, total);
        let mut seen = 0;
        histogram.iter().find_map(|&(ms, count)| {
            seen += count;
            (seen >= rank).then_some(ms)
        })
    })
}

/// Every bucket of `spec`, from the backend's counts (buckets without attempts absent,
/// any order).
pub(crate) fn fill(spec: &SeriesSpec, counted: Vec<BucketCounts>) -> Vec<StatsBucket> {
    let mut buckets: Vec<StatsBucket> = (0..spec.count)
        .map(|i| StatsBucket {
            start: spec.start + spec.width * i as i32,
            attempts: 0,
            successes: 0,
            answered_failures: 0,
            unanswered: 0,
            p50_ms: None,
            p95_ms: None,
        })
        .collect();
    for c in counted {
        let Some(bucket) = usize::try_from(c.index)
            .ok()
            .and_then(|i| buckets.get_mut(i))
        else {
            continue;
        };
        bucket.attempts = c.attempts;
        bucket.successes = c.successes;
        bucket.answered_failures = c.answered.saturating_sub(c.successes);
        bucket.unanswered = c.attempts.saturating_sub(c.answered);
        [bucket.p50_ms, bucket.p95_ms] = c.percentiles;
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_align_to_their_width_and_end_with_now() {
        let now = DateTime::parse_from_rfc3339("2026-03-04T10:17:12.345Z")
            .unwrap()
            .with_timezone(&Utc);
        let spec = SeriesSpec::ending_at(now, Duration::hours(1), 24);
        assert_eq!(spec.start.to_rfc3339(), "2026-03-03T11:00:00+00:00");
        assert_eq!(spec.end().to_rfc3339(), "2026-03-04T11:00:00+00:00");
        let spec = SeriesSpec::ending_at(now, Duration::minutes(5), 12);
        assert_eq!(spec.start.to_rfc3339(), "2026-03-04T09:20:00+00:00");
        assert!(spec.end() > now);
    }

    #[test]
    fn percentiles_are_nearest_rank_of_the_histogram() {
        // 10, 20, 20, 30: p50 rank 2 (20), p95 rank 4 (30).
        let histogram = [(10, 1), (20, 2), (30, 1)];
        assert_eq!(
            histogram_percentiles(&histogram, [50, 95]),
            [Some(20), Some(30)]
        );
        assert_eq!(histogram_percentiles(&[], [50, 95]), [None, None]);
    }

    #[test]
    fn fill_keeps_every_bucket_and_splits_failures() {
        let now = Utc::now();
        let spec = SeriesSpec::ending_at(now, Duration::hours(1), 3);
        let counted = vec![BucketCounts {
            index: 1,
            attempts: 5,
            successes: 2,
            answered: 3,
            percentiles: [Some(7), Some(9)],
        }];
        let buckets = fill(&spec, counted);
        assert_eq!(buckets.len(), 3);
        assert_eq!(buckets[0].attempts, 0);
        assert_eq!(
            (buckets[1].answered_failures, buckets[1].unanswered),
            (1, 2)
        );
        assert_eq!(buckets[1].start, spec.start + Duration::hours(1));
    }
}
