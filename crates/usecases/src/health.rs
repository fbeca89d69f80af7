//! An endpoint at a glance: its health (healthy, failing since …, a backlog, disabled),
//! its attempts as a time series for charts, and a delivery's place in its lane.
//!
//! Invariants:
//! - The verdict is a pure function of the store's reading and the clock
//!   ([`EndpointHealth::judge`]), so both edges say the same thing about an endpoint.
//! - A series is one of a few fixed windows cut into one of a few fixed bucket widths;
//!   a combination that would draw fewer than [`MIN_BUCKETS`] or more than
//!   [`MAX_BUCKETS`] buckets is refused, naming the widths that fit.
//! - When the oldest waiting delivery expires is its retention window's start plus
//!   `--retention`, the rule the lanes apply.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use domain::{DeliveryId, WebhookId, WorkspaceId};
use store::{LaneHead, SeriesSpec, StatsBucket, WebhookHealth};

use crate::Application;
use crate::error::{FoundOr, Resource, UseCaseError, UseCaseResult};

/// The fewest and the most buckets a series may have.
pub const MIN_BUCKETS: i64 = 4;
pub const MAX_BUCKETS: i64 = 168;

/// How long the head may wait untried before the endpoint counts as backed up: longer
/// than a healthy lane takes to reach it.
const BACKLOG_AFTER: Duration = Duration::seconds(60);

/// What an endpoint looks like now, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// Disabled: nothing is sent; what waits, waits.
    Disabled,
    /// Its latest attempt failed (and every one since `failing_since`).
    Failing,
    /// Not failing, but its oldest waiting delivery has waited longer than a lane takes.
    Backlog,
    /// Its latest attempt succeeded and nothing waits long.
    Healthy,
    /// Nothing attempted yet.
    New,
}

impl HealthState {
    pub const ALL: [HealthState; 5] = [
        Self::Disabled,
        Self::Failing,
        Self::Backlog,
        Self::Healthy,
        Self::New,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Failing => "failing",
            Self::Backlog => "backlog",
            Self::Healthy => "healthy",
            Self::New => "new",
        }
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An endpoint's health, judged.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointHealth {
    pub state: HealthState,
    /// The first failed attempt of the current run of failures.
    pub failing_since: Option<DateTime<Utc>>,
    /// Open deliveries, the head included.
    pub waiting: u64,
    /// The lane's head: every later delivery of the endpoint waits for it.
    pub head: Option<LaneHead>,
    /// When the head expires unless it gets through (its window start + retention).
    pub oldest_expires_at: Option<DateTime<Utc>>,
    /// The latest attempt, and whether it succeeded.
    pub last_attempt: Option<(DateTime<Utc>, bool)>,
    pub last_success_at: Option<DateTime<Utc>>,
}

impl EndpointHealth {
    /// The verdict on `reading` at `now`, with deliveries expiring `retention` after
    /// their window starts.
    pub fn judge(
        reading: WebhookHealth,
        retention: std::time::Duration,
        now: DateTime<Utc>,
    ) -> EndpointHealth {
        let retention = Duration::from_std(retention).unwrap_or(Duration::MAX);
        let oldest_expires_at = reading
            .head
            .as_ref()
            .and_then(|h| h.window_start.checked_add_signed(retention));
        let waited_long = reading
            .head
            .as_ref()
            .is_some_and(|h| now - h.window_start > BACKLOG_AFTER);
        let state = if !reading.enabled {
            HealthState::Disabled
        } else if reading.failing_since.is_some() {
            HealthState::Failing
        } else if waited_long {
            HealthState::Backlog
        } else if reading.last_attempt.is_some() {
            HealthState::Healthy
        } else {
            HealthState::New
        };
        EndpointHealth {
            state,
            failing_since: reading.failing_since,
            waiting: reading.waiting,
            head: reading.head,
            oldest_expires_at,
            last_attempt: reading.last_attempt,
            last_success_at: reading.last_success_at,
        }
    }

    /// Whether `delivery` waits behind the head: it is open and untried, and the head is
    /// another delivery (an earlier one: the head is the lowest open `seq`).
    pub fn holds_back(&self, delivery: &DeliveryId, attempts: u32) -> Option<&DeliveryId> {
        match &self.head {
            Some(head) if attempts == 0 && head.id != *delivery => Some(&head.id),
            _ => None,
        }
    }
}

/// A time span a series or a bucket is measured in, as written in a query (`24h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub name: &'static str,
    pub length: Duration,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The windows a series covers, and the bucket width each has by default.
pub const SERIES_WINDOWS: [(&str, i64, &str); 3] = [
    ("1h", 3600, "5m"),
    ("24h", 86_400, "1h"),
    ("7d", 604_800, "6h"),
];

/// The bucket widths a series may be cut into.
pub const SERIES_BUCKETS: [(&str, i64); 6] = [
    ("1m", 60),
    ("5m", 300),
    ("15m", 900),
    ("1h", 3600),
    ("6h", 21_600),
    ("1d", 86_400),
];

fn span(table: &[(&'static str, i64)], name: &str) -> Option<Span> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(name, secs)| Span {
            name,
            length: Duration::seconds(*secs),
        })
}

/// A series window (`1h`, `24h`, `7d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesWindow(pub Span);

impl FromStr for SeriesWindow {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let table: Vec<(&'static str, i64)> = SERIES_WINDOWS
            .iter()
            .map(|(n, secs, _)| (*n, *secs))
            .collect();
        span(&table, s).map(SeriesWindow).ok_or(())
    }
}

impl SeriesWindow {
    /// The bucket width used when none is asked for.
    pub fn default_bucket(self) -> SeriesBucket {
        let name = SERIES_WINDOWS
            .iter()
            .find(|(n, ..)| *n == self.0.name)
            .map_or("1h", |(.., bucket)| *bucket);
        name.parse().expect("the defaults are listed buckets")
    }

    /// The bucket widths that cut this window into an allowed number of buckets.
    pub fn buckets(self) -> Vec<SeriesBucket> {
        SERIES_BUCKETS
            .iter()
            .filter_map(|(name, _)| name.parse::<SeriesBucket>().ok())
            .filter(|b| fits(self, *b))
            .collect()
    }
}

/// A bucket width (`5m`, `1h`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesBucket(pub Span);

impl FromStr for SeriesBucket {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        span(&SERIES_BUCKETS, s).map(SeriesBucket).ok_or(())
    }
}

fn count(window: SeriesWindow, bucket: SeriesBucket) -> i64 {
    window.0.length.num_seconds() / bucket.0.length.num_seconds()
}

fn fits(window: SeriesWindow, bucket: SeriesBucket) -> bool {
    (MIN_BUCKETS..=MAX_BUCKETS).contains(&count(window, bucket))
}

/// A series as answered: its window, its bucket width and every bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub window: SeriesWindow,
    pub bucket: SeriesBucket,
    pub buckets: Vec<StatsBucket>,
}

impl Application {
    /// One endpoint's health now.
    pub async fn webhook_health(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
    ) -> UseCaseResult<EndpointHealth> {
        let reading = self
            .store
            .webhook_health(workspace, webhook)
            .await
            .found_or(Resource::Webhook, webhook)?;
        Ok(EndpointHealth::judge(
            reading,
            self.settings.retention,
            Utc::now(),
        ))
    }

    /// One endpoint's attempts over `window`, cut into buckets of `bucket` (or the
    /// window's default), the last bucket holding now.
    pub async fn webhook_series(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        window: SeriesWindow,
        bucket: Option<SeriesBucket>,
    ) -> UseCaseResult<Series> {
        let bucket = bucket.unwrap_or_else(|| window.default_bucket());
        if !fits(window, bucket) {
            let fitting: Vec<String> = window
                .buckets()
                .iter()
                .map(|b| format!("`{}`", b.0))
                .collect();
            return Err(UseCaseError::validation(
                "bucket",
                format!(
                    "`bucket` {bucket} cuts the {window} window into {} buckets; use one that \
                     makes {MIN_BUCKETS} to {MAX_BUCKETS}: {}.",
                    count(window, bucket),
                    fitting.join(", "),
                    bucket = bucket.0,
                    window = window.0,
                ),
            ));
        }
        let buckets = u32::try_from(count(window, bucket)).unwrap_or(1);
        let spec = SeriesSpec::ending_at(Utc::now(), bucket.0.length, buckets);
        let buckets = self
            .store
            .webhook_series(workspace, webhook, spec)
            .await
            .found_or(Resource::Webhook, webhook)?;
        Ok(Series {
            window,
            bucket,
            buckets,
        })
    }

    /// How many open deliveries of its endpoint go out before this one.
    pub async fn deliveries_ahead(
        &self,
        workspace: &WorkspaceId,
        delivery: &DeliveryId,
    ) -> UseCaseResult<u64> {
        self.store
            .deliveries_ahead(workspace, delivery)
            .await
            .found_or(Resource::Delivery, delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading() -> WebhookHealth {
        WebhookHealth {
            enabled: true,
            waiting: 0,
            head: None,
            failing_since: None,
            last_attempt: None,
            last_success_at: None,
        }
    }

    fn head(start: DateTime<Utc>, attempts: u32) -> LaneHead {
        LaneHead {
            id: DeliveryId::generate(),
            attempts,
            window_start: start,
            next_attempt_at: None,
        }
    }

    #[test]
    fn the_verdict_names_the_most_urgent_state() {
        let now = Utc::now();
        let day = std::time::Duration::from_secs(86_400);
        let judge = |r: WebhookHealth| EndpointHealth::judge(r, day, now);
        assert_eq!(judge(reading()).state, HealthState::New);
        let answered = WebhookHealth {
            last_attempt: Some((now, true)),
            ..reading()
        };
        assert_eq!(judge(answered.clone()).state, HealthState::Healthy);
        // A head queued a moment ago is no backlog; one waiting two minutes is.
        let fresh = WebhookHealth {
            waiting: 3,
            head: Some(head(now - Duration::seconds(2), 0)),
            ..answered.clone()
        };
        assert_eq!(judge(fresh).state, HealthState::Healthy);
        let start = now - Duration::minutes(2);
        let old = WebhookHealth {
            waiting: 3,
            head: Some(head(start, 0)),
            ..answered
        };
        let judged = judge(old.clone());
        assert_eq!(judged.state, HealthState::Backlog);
        assert_eq!(judged.oldest_expires_at, Some(start + Duration::hours(24)));
        let failing = WebhookHealth {
            failing_since: Some(start),
            ..old
        };
        assert_eq!(judge(failing.clone()).state, HealthState::Failing);
        let disabled = WebhookHealth {
            enabled: false,
            ..failing
        };
        assert_eq!(judge(disabled).state, HealthState::Disabled);
    }

    #[test]
    fn untried_deliveries_behind_another_head_are_held_back() {
        let now = Utc::now();
        let h = head(now, 3);
        let health = EndpointHealth::judge(
            WebhookHealth {
                waiting: 2,
                head: Some(h.clone()),
                ..reading()
            },
            std::time::Duration::from_secs(60),
            now,
        );
        let behind = DeliveryId::generate();
        assert_eq!(health.holds_back(&behind, 0), Some(&h.id));
        assert_eq!(health.holds_back(&h.id, 0), None, "the head itself");
        assert_eq!(health.holds_back(&behind, 1), None, "tried already");
    }

    #[test]
    fn windows_take_buckets_that_fit() {
        let day: SeriesWindow = "24h".parse().unwrap();
        assert_eq!(day.default_bucket().0.name, "1h");
        let names: Vec<_> = day.buckets().iter().map(|b| b.0.name).collect();
        assert_eq!(names, ["15m", "1h", "6h"]);
        let week: SeriesWindow = "7d".parse().unwrap();
        assert_eq!(count(week, week.default_bucket()), 28);
        assert!(!fits(week, "5m".parse().unwrap()));
        let hour: SeriesWindow = "1h".parse().unwrap();
        assert_eq!(count(hour, hour.default_bucket()), 12);
        assert!("2h".parse::<SeriesWindow>().is_err());
    }
}
