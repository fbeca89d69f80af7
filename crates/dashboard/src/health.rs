//! An endpoint at a glance, on the webhook list and the webhook page: healthy, failing
//! since …, a backlog, or disabled; how many deliveries wait and when the oldest expires;
//! when it last delivered; a 24 h sparkline; and the "Last 24 hours" numbers. Both
//! regions refresh live like the activity log (the script re-fetches the fragments
//! [`glance`] and [`rows`] every few seconds).
//!
//! Invariants:
//! - The verdict is the use case's (`usecases::EndpointHealth`), the same the API's
//!   `GET /v1/webhooks/{id}/health` answers; this module only words it.
//! - A response time is shown only when some attempt got an answer: an endpoint that
//!   never answered shows "no response yet", never "0 ms".
//! - The list's and the page's markup come from one template each (`webhook_rows.html`,
//!   `glance.html`), rendered both in the page and alone as its fragment, so the live
//!   view and the page without JavaScript never disagree.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use domain::WebhookId;
use http::StatusCode;
use store::{PageRequest, Webhook};
use usecases::{EndpointHealth, HealthState, Series, SeriesWindow};

use crate::DashState;
use crate::charts::{Sparkline, sparkline};
use crate::error::{PageResult, parse_id};
use crate::session::SignedIn;
use crate::views::{page, query, rate, relative, when};
use crate::webhooks::join_events;

/// An endpoint's health, worded.
pub(crate) struct HealthView {
    /// `healthy`, `failing`, `backlog`, `disabled` or `new` (the badge's text and class).
    pub(crate) state: &'static str,
    /// One sentence: "Failing since 2026-… UTC (12 min ago)".
    pub(crate) headline: String,
    /// "6 waiting, oldest expires in 23 h 10 min", when something waits.
    pub(crate) waiting: Option<String>,
    /// "Last delivered 3 min ago" / "Nothing delivered yet".
    pub(crate) last_delivery: String,
}

/// How long ago `at` was: "just now" for the last few seconds (and for a time a moment
/// ahead of this clock: the store's clock and this one differ by a few milliseconds).
fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if now - at < Duration::seconds(5) {
        "just now".to_owned()
    } else {
        relative(at, now)
    }
}

pub(crate) fn health_view(health: &EndpointHealth, now: DateTime<Utc>) -> HealthView {
    let headline = match health.state {
        HealthState::Failing => match health.failing_since {
            Some(since) => format!("Failing since {} ({})", when(since).text, ago(since, now)),
            None => "Failing".to_owned(),
        },
        HealthState::Backlog => "Backed up: deliveries are waiting longer than usual".to_owned(),
        HealthState::Healthy => "Healthy: the latest attempt succeeded".to_owned(),
        HealthState::Disabled => {
            "Disabled: nothing is sent; waiting events stay in the store".to_owned()
        }
        HealthState::New => "No attempts yet".to_owned(),
    };
    let waiting = (health.waiting > 0).then(|| {
        let expires = match health.oldest_expires_at {
            Some(at) if at > now => format!(", oldest expires {}", relative(at, now)),
            Some(_) => ", oldest expires now".to_owned(),
            None => String::new(),
        };
        format!("{} waiting{expires}", health.waiting)
    });
    let last_delivery = match (health.last_success_at, health.last_attempt) {
        (Some(at), _) => format!("Last delivered {}", ago(at, now)),
        (None, Some((at, _))) => {
            format!("Nothing delivered yet; last attempt {}", ago(at, now))
        }
        (None, None) => "Nothing delivered yet".to_owned(),
    };
    HealthView {
        state: health.state.as_str(),
        headline,
        waiting,
        last_delivery,
    }
}

fn day() -> SeriesWindow {
    "24h".parse().expect("a listed window")
}

/// The last 24 h in numbers, from the sparkline's series (hourly buckets).
pub(crate) struct DayView {
    pub(crate) attempts: u64,
    pub(crate) rate: String,
    pub(crate) p50: String,
    pub(crate) p95: String,
}

/// "12 ms", or why there is no response time.
fn response_time(ms: Option<u32>, attempts: u64) -> String {
    match (ms, attempts) {
        (Some(ms), _) => format!("{ms} ms"),
        (None, 0) => "—".to_owned(),
        (None, _) => "no response yet".to_owned(),
    }
}

/// One webhook of the list.
pub(crate) struct WebhookRow {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) description: String,
    pub(crate) events: String,
    /// An endpoint of `admin-webhooks listen`, delivered to over its stream.
    pub(crate) listener: bool,
    pub(crate) health: HealthView,
    pub(crate) spark: Sparkline,
    pub(crate) rate: String,
    pub(crate) attempts: u64,
}

async fn row(state: &DashState, session: &SignedIn, hook: Webhook) -> PageResult<WebhookRow> {
    let health = state
        .app
        .webhook_health(&session.workspace_id, &hook.id)
        .await?;
    let series = state
        .app
        .webhook_series(&session.workspace_id, &hook.id, day(), None)
        .await?;
    let (attempts, successes) = totals(&series);
    Ok(WebhookRow {
        id: hook.id.to_string(),
        events: join_events(&hook.events),
        listener: domain::listener::is_listener_url(&hook.url),
        url: hook.url,
        description: hook.description,
        health: health_view(&health, Utc::now()),
        spark: sparkline(&series),
        rate: rate((attempts > 0).then(|| successes as f64 / attempts as f64)),
        attempts,
    })
}

fn totals(series: &Series) -> (u64, u64) {
    series
        .buckets
        .iter()
        .fold((0, 0), |(a, s), b| (a + b.attempts, s + b.successes))
}

/// Webhooks per page of the list; each row is two index reads (health and series).
pub(crate) const PAGE_SIZE: u32 = 50;

/// One page of the list's rows, and the next page's cursor.
pub(crate) async fn list_rows(
    state: &DashState,
    session: &SignedIn,
    cursor: Option<String>,
) -> PageResult<(Vec<WebhookRow>, Option<String>)> {
    let hooks = state
        .app
        .list_webhooks(
            &session.workspace_id,
            PageRequest {
                limit: PAGE_SIZE,
                cursor,
            },
        )
        .await?;
    let mut rows = Vec::with_capacity(hooks.data.len());
    for hook in hooks.data {
        rows.push(row(state, session, hook).await?);
    }
    Ok((rows, hooks.next_cursor))
}

/// The URL of the list's rows fragment for the page at `cursor`.
pub(crate) fn rows_url(cursor: Option<&str>) -> String {
    format!(
        "/dashboard/webhooks/rows{}",
        query(&[("cursor", cursor.unwrap_or(""))])
    )
}

#[derive(Template)]
#[template(path = "webhook_rows.html")]
struct RowsFragment {
    rows: Vec<WebhookRow>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct RowsQuery {
    cursor: Option<String>,
}

/// The list's rows alone, for the live refresh.
pub(crate) async fn rows(
    State(state): State<DashState>,
    session: SignedIn,
    Query(q): Query<RowsQuery>,
) -> PageResult<Response> {
    let cursor = q.cursor.filter(|c| !c.is_empty());
    let (rows, _) = list_rows(&state, &session, cursor).await?;
    page(StatusCode::OK, &RowsFragment { rows })
}

/// The webhook page's glance: health, sparkline and the last 24 hours.
pub(crate) struct GlanceView {
    pub(crate) webhook_id: String,
    pub(crate) health: HealthView,
    pub(crate) spark: Sparkline,
    pub(crate) day: DayView,
    /// The fragment's URL, re-fetched by the script.
    pub(crate) refresh: String,
}

pub(crate) async fn glance_view(
    state: &DashState,
    session: &SignedIn,
    id: &WebhookId,
) -> PageResult<GlanceView> {
    let health = state.app.webhook_health(&session.workspace_id, id).await?;
    let series = state
        .app
        .webhook_series(&session.workspace_id, id, day(), None)
        .await?;
    let stats = state
        .app
        .webhook_stats(&session.workspace_id, id, Utc::now() - Duration::hours(24))
        .await?;
    Ok(GlanceView {
        webhook_id: id.to_string(),
        health: health_view(&health, Utc::now()),
        spark: sparkline(&series),
        day: DayView {
            attempts: stats.attempts,
            rate: rate(stats.success_rate()),
            p50: response_time(stats.p50_ms, stats.attempts),
            p95: response_time(stats.p95_ms, stats.attempts),
        },
        refresh: format!("/dashboard/webhooks/{id}/glance"),
    })
}

#[derive(Template)]
#[template(path = "glance.html")]
struct GlanceFragment {
    glance: GlanceView,
}

/// The glance alone, for the live refresh.
pub(crate) async fn glance(
    State(state): State<DashState>,
    session: SignedIn,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let id: WebhookId = parse_id(&id, "webhook")?;
    let glance = glance_view(&state, &session, &id).await?;
    page(StatusCode::OK, &GlanceFragment { glance })
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::LaneHead;

    fn judged(
        now: DateTime<Utc>,
        failing_since: Option<DateTime<Utc>>,
        waiting: u64,
    ) -> EndpointHealth {
        EndpointHealth {
            state: if failing_since.is_some() {
                HealthState::Failing
            } else {
                HealthState::Healthy
            },
            failing_since,
            waiting,
            head: (waiting > 0).then(|| LaneHead {
                id: domain::DeliveryId::generate(),
                attempts: 1,
                window_start: now,
                next_attempt_at: None,
            }),
            oldest_expires_at: (waiting > 0)
                .then(|| now + Duration::hours(23) + Duration::seconds(30)),
            last_attempt: Some((now - Duration::minutes(1), failing_since.is_none())),
            last_success_at: None,
        }
    }

    #[test]
    fn health_says_since_when_and_what_waits() {
        let now = Utc::now();
        let view = health_view(&judged(now, Some(now - Duration::minutes(12)), 6), now);
        assert_eq!(view.state, "failing");
        assert_eq!(ago(now + Duration::milliseconds(3), now), "just now");
        assert!(
            view.headline.starts_with("Failing since "),
            "{}",
            view.headline
        );
        assert!(view.headline.ends_with("(12 min ago)"), "{}", view.headline);
        assert_eq!(
            view.waiting.as_deref(),
            Some("6 waiting, oldest expires in 23 h 0 min")
        );
        assert_eq!(
            view.last_delivery,
            "Nothing delivered yet; last attempt 1 min ago"
        );
        let view = health_view(&judged(now, None, 0), now);
        assert_eq!((view.state, view.waiting), ("healthy", None));
    }

    #[test]
    fn no_answer_is_no_response_time() {
        assert_eq!(response_time(None, 3), "no response yet");
        assert_eq!(response_time(None, 0), "—");
        assert_eq!(response_time(Some(0), 1), "0 ms");
    }
}
