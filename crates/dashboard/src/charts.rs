//! Charts of one endpoint's attempts, drawn on the server as SVG: no script, no library,
//! nothing from another origin, so the page's Content-Security-Policy stays as it is.
//!
//! The page `/dashboard/webhooks/{id}/charts?window=1h|24h|7d` shows the success rate,
//! p50/p95 response times and attempts per bucket split by outcome, from the same use
//! case as `GET /v1/webhooks/{id}/stats/series`. The webhook list and page show a 24 h
//! sparkline of the success rate ([`sparkline`]).
//!
//! Invariants:
//! - Geometry is computed here; the markup is in the templates (`chart.html`), which
//!   escape everything, and uses classes only (the CSP forbids inline `style`).
//! - Every chart is `role="img"` with a text alternative that states its numbers, and
//!   the page carries the same numbers as a table, so nothing is only a picture.
//! - A bucket without attempts (or without an answer, for response times) draws no
//!   point: a gap, never a 0.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::WebhookId;
use http::StatusCode;
use store::StatsBucket;
use usecases::{SERIES_WINDOWS, Series, SeriesWindow};

use crate::DashState;
use crate::error::{PageResult, parse_id};
use crate::session::SignedIn;
use crate::views::{Ctx, page, rate};

/// The drawing area of a chart, in SVG user units (the SVG scales to its box).
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
/// Room for the y-axis labels on the left and the x-axis labels below.
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

/// One point of a line, in SVG coordinates.
pub(crate) struct Point {
    pub(crate) x: String,
    pub(crate) y: String,
}

pub(crate) struct Line {
    /// A CSS class (`line-rate`, `line-p50`, `line-p95`).
    pub(crate) class: &'static str,
    pub(crate) label: &'static str,
    /// SVG path data: runs of defined points, broken where a bucket has no value.
    pub(crate) path: String,
    pub(crate) points: Vec<Point>,
}

pub(crate) struct Bar {
    pub(crate) class: &'static str,
    pub(crate) x: String,
    pub(crate) y: String,
    pub(crate) width: String,
    pub(crate) height: String,
}

pub(crate) struct Tick {
    pub(crate) pos: String,
    pub(crate) label: String,
}

/// One chart, ready to draw.
pub(crate) struct Chart {
    pub(crate) id: &'static str,
    pub(crate) title: String,
    /// The text alternative: what the chart shows, in numbers.
    pub(crate) summary: String,
    pub(crate) lines: Vec<Line>,
    pub(crate) bars: Vec<Bar>,
    pub(crate) y_ticks: Vec<Tick>,
    pub(crate) x_ticks: Vec<Tick>,
    /// The legend: (class, label).
    pub(crate) legend: Vec<(&'static str, &'static str)>,
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// The x of the middle of bucket `i` of `n`.
fn x_of(i: usize, n: usize) -> f64 {
    LEFT + (WIDTH - LEFT) * (i as f64 + 0.5) / n.max(1) as f64
}

/// The y of `value` on a scale from 0 to `max`.
fn y_of(value: f64, max: f64) -> f64 {
    let plot = HEIGHT - BOTTOM - TOP;
    TOP + plot - plot * (value / max.max(f64::MIN_POSITIVE)).clamp(0.0, 1.0)
}

fn line(class: &'static str, label: &'static str, values: &[Option<f64>], max: f64) -> Line {
    let n = values.len();
    let mut path = String::new();
    let mut points = Vec::new();
    let mut previous_defined = false;
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => {
                let (x, y) = (fmt(x_of(i, n)), fmt(y_of(*v, max)));
                path.push_str(if previous_defined { " L" } else { " M" });
                path.push_str(&format!("{x} {y}"));
                points.push(Point { x, y });
                previous_defined = true;
            }
            None => previous_defined = false,
        }
    }
    Line {
        class,
        label,
        path: path.trim().to_owned(),
        points,
    }
}

/// Labels under the x axis: the first bucket, the middle one and the last.
fn x_ticks(starts: &[DateTime<Utc>], window: SeriesWindow) -> Vec<Tick> {
    let n = starts.len();
    let format = if window.0.length > chrono::Duration::hours(24) {
        "%a %d %H:%M"
    } else {
        "%H:%M"
    };
    [0, n / 2, n.saturating_sub(1)]
        .into_iter()
        .filter(|i| *i < n)
        .map(|i| Tick {
            pos: fmt(x_of(i, n)),
            label: starts[i].format(format).to_string(),
        })
        .collect()
}

/// Ticks at 0, half and the top of a scale up to `max`.
fn y_ticks(max: f64, label: impl Fn(f64) -> String) -> Vec<Tick> {
    [0.0, max / 2.0, max]
        .into_iter()
        .map(|v| Tick {
            pos: fmt(y_of(v, max)),
            label: label(v),
        })
        .collect()
}

/// A scale's top: `max` rounded up to a readable number (1, 2 or 5 × a power of ten).
fn nice(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|top| *top >= max)
        .unwrap_or(max)
}

fn rate_chart(series: &Series) -> Chart {
    let values: Vec<Option<f64>> = series
        .buckets
        .iter()
        .map(|b| b.success_rate().map(|r| r * 100.0))
        .collect();
    let tried: Vec<&StatsBucket> = series.buckets.iter().filter(|b| b.attempts > 0).collect();
    let (attempts, successes) = tried
        .iter()
        .fold((0, 0), |(a, s), b| (a + b.attempts, s + b.successes));
    let lowest = values.iter().flatten().copied().reduce(f64::min);
    let summary = if tried.is_empty() {
        format!("No attempts in the last {}.", series.window.0)
    } else {
        format!(
            "Success rate per {} over the last {}: {} overall ({successes} of {attempts} \
             attempts), lowest {}; {} of {} buckets had attempts.",
            series.bucket.0,
            series.window.0,
            rate(Some(successes as f64 / attempts as f64)),
            rate(lowest.map(|l| l / 100.0)),
            tried.len(),
            series.buckets.len()
        )
    };
    Chart {
        id: "chart-rate",
        title: "Success rate".to_owned(),
        summary,
        lines: vec![line("line-rate", "success rate", &values, 100.0)],
        bars: Vec::new(),
        y_ticks: y_ticks(100.0, |v| format!("{v:.0} %")),
        x_ticks: x_ticks(&starts(series), series.window),
        legend: vec![("line-rate", "success rate")],
    }
}

fn starts(series: &Series) -> Vec<DateTime<Utc>> {
    series.buckets.iter().map(|b| b.start).collect()
}

fn latency_chart(series: &Series) -> Chart {
    let p50: Vec<Option<f64>> = series
        .buckets
        .iter()
        .map(|b| b.p50_ms.map(f64::from))
        .collect();
    let p95: Vec<Option<f64>> = series
        .buckets
        .iter()
        .map(|b| b.p95_ms.map(f64::from))
        .collect();
    // At least 10 ms, so a fast receiver's scale reads 0, 5, 10 ms rather than 0, 0, 1.
    let top = nice(
        p95.iter()
            .chain(&p50)
            .flatten()
            .copied()
            .fold(10.0, f64::max),
    );
    let slowest = series.buckets.iter().filter_map(|b| b.p95_ms).max();
    let median_of_medians = {
        let mut m: Vec<u32> = series.buckets.iter().filter_map(|b| b.p50_ms).collect();
        m.sort_unstable();
        m.get(m.len().saturating_sub(1) / 2).copied()
    };
    let summary = match (slowest, median_of_medians) {
        (Some(slowest), Some(typical)) => format!(
            "Response times per {} over the last {}, of attempts that got an answer: typical \
             median {typical} ms, highest p95 {slowest} ms.",
            series.bucket.0, series.window.0
        ),
        _ => format!(
            "No response in the last {}: no attempt got an answer.",
            series.window.0
        ),
    };
    Chart {
        id: "chart-latency",
        title: "Response time (p50 and p95)".to_owned(),
        summary,
        lines: vec![
            line("line-p50", "p50", &p50, top),
            line("line-p95", "p95", &p95, top),
        ],
        bars: Vec::new(),
        y_ticks: y_ticks(top, |v| format!("{v:.0} ms")),
        x_ticks: x_ticks(&starts(series), series.window),
        legend: vec![("line-p50", "p50"), ("line-p95", "p95")],
    }
}

fn attempts_chart(series: &Series) -> Chart {
    let n = series.buckets.len();
    let top = nice(series.buckets.iter().map(|b| b.attempts).max().unwrap_or(0) as f64);
    let slot = (WIDTH - LEFT) / n.max(1) as f64;
    let width = (slot * 0.7).max(1.0);
    let mut bars = Vec::new();
    for (i, b) in series.buckets.iter().enumerate() {
        let x = x_of(i, n) - width / 2.0;
        let mut base = 0.0;
        for (class, count) in [
            ("bar-ok", b.successes),
            ("bar-answered", b.answered_failures),
            ("bar-unanswered", b.unanswered),
        ] {
            if count == 0 {
                continue;
            }
            let (low, high) = (y_of(base, top), y_of(base + count as f64, top));
            bars.push(Bar {
                class,
                x: fmt(x),
                y: fmt(high),
                width: fmt(width),
                height: fmt(low - high),
            });
            base += count as f64;
        }
    }
    let sum = |f: fn(&StatsBucket) -> u64| series.buckets.iter().map(f).sum::<u64>();
    let summary = format!(
        "Attempts per {} over the last {}: {} in all, {} succeeded, {} answered with a \
         failure, {} got no answer.",
        series.bucket.0,
        series.window.0,
        sum(|b| b.attempts),
        sum(|b| b.successes),
        sum(|b| b.answered_failures),
        sum(|b| b.unanswered)
    );
    Chart {
        id: "chart-attempts",
        title: "Attempts by outcome".to_owned(),
        summary,
        lines: Vec::new(),
        bars,
        y_ticks: y_ticks(top, |v| format!("{v:.0}")),
        x_ticks: x_ticks(&starts(series), series.window),
        legend: vec![
            ("bar-ok", "succeeded"),
            ("bar-answered", "answered, failed"),
            ("bar-unanswered", "no answer"),
        ],
    }
}

/// A success-rate sparkline: small, no axes, with its numbers as its label.
pub(crate) struct Sparkline {
    pub(crate) path: String,
    pub(crate) points: Vec<Point>,
    pub(crate) label: String,
}

const SPARK_WIDTH: f64 = 120.0;
const SPARK_HEIGHT: f64 = 28.0;

pub(crate) fn sparkline(series: &Series) -> Sparkline {
    let n = series.buckets.len();
    let mut path = String::new();
    let mut points = Vec::new();
    let mut previous_defined = false;
    for (i, b) in series.buckets.iter().enumerate() {
        let Some(r) = b.success_rate() else {
            previous_defined = false;
            continue;
        };
        let x = fmt(2.0 + (SPARK_WIDTH - 4.0) * (i as f64 + 0.5) / n.max(1) as f64);
        let y = fmt(2.0 + (SPARK_HEIGHT - 4.0) * (1.0 - r));
        path.push_str(if previous_defined { " L" } else { " M" });
        path.push_str(&format!("{x} {y}"));
        points.push(Point { x, y });
        previous_defined = true;
    }
    let tried = series.buckets.iter().filter(|b| b.attempts > 0).count();
    let label = if tried == 0 {
        format!("No attempts in the last {}", series.window.0)
    } else {
        let lowest = series
            .buckets
            .iter()
            .filter_map(StatsBucket::success_rate)
            .fold(1.0, f64::min);
        let latest = series
            .buckets
            .iter()
            .rev()
            .find_map(StatsBucket::success_rate);
        format!(
            "Success rate per {} over the last {}: latest {}, lowest {}; {tried} of {n} with attempts",
            series.bucket.0,
            series.window.0,
            rate(latest),
            rate(Some(lowest))
        )
    };
    Sparkline {
        path: path.trim().to_owned(),
        points,
        label,
    }
}

/// One row of the page's data table.
pub(crate) struct BucketRow {
    pub(crate) start: String,
    pub(crate) attempts: u64,
    pub(crate) successes: u64,
    pub(crate) answered_failures: u64,
    pub(crate) unanswered: u64,
    pub(crate) rate: String,
    pub(crate) p50: String,
    pub(crate) p95: String,
}

pub(crate) struct WindowLink {
    pub(crate) name: &'static str,
    pub(crate) current: bool,
}

#[derive(Template)]
#[template(path = "charts.html")]
struct ChartsPage {
    ctx: Ctx,
    webhook_id: String,
    url: String,
    window: &'static str,
    bucket: &'static str,
    windows: Vec<WindowLink>,
    charts: Vec<Chart>,
    rows: Vec<BucketRow>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ChartsQuery {
    window: Option<String>,
}

pub(crate) async fn show(
    State(state): State<DashState>,
    session: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<ChartsQuery>,
) -> PageResult<Response> {
    let id: WebhookId = parse_id(&id, "webhook")?;
    let hook = state.app.get_webhook(&session.workspace_id, &id).await?;
    // An unknown window shows the default one rather than an error: the links offer
    // the three there are.
    let window: SeriesWindow = q
        .window
        .as_deref()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| "24h".parse().expect("a listed window"));
    let series = state
        .app
        .webhook_series(&session.workspace_id, &id, window, None)
        .await?;
    let ctx = Ctx::new(&state, &session, "webhooks").await?;
    let rows = series
        .buckets
        .iter()
        .map(|b| BucketRow {
            start: b.start.format("%Y-%m-%d %H:%M UTC").to_string(),
            attempts: b.attempts,
            successes: b.successes,
            answered_failures: b.answered_failures,
            unanswered: b.unanswered,
            rate: rate(b.success_rate()),
            p50: b
                .p50_ms
                .map_or_else(|| "—".to_owned(), |ms| format!("{ms} ms")),
            p95: b
                .p95_ms
                .map_or_else(|| "—".to_owned(), |ms| format!("{ms} ms")),
        })
        .collect();
    let template = ChartsPage {
        ctx,
        webhook_id: hook.id.to_string(),
        url: hook.url,
        window: series.window.0.name,
        bucket: series.bucket.0.name,
        windows: SERIES_WINDOWS
            .iter()
            .map(|(name, ..)| WindowLink {
                name,
                current: *name == series.window.0.name,
            })
            .collect(),
        charts: vec![
            rate_chart(&series),
            latency_chart(&series),
            attempts_chart(&series),
        ],
        rows,
    };
    page(StatusCode::OK, &template)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(buckets: Vec<(u64, u64, u64, Option<u32>)>) -> Series {
        let start = Utc::now();
        Series {
            window: "24h".parse().unwrap(),
            bucket: "1h".parse().unwrap(),
            buckets: buckets
                .into_iter()
                .enumerate()
                .map(
                    |(i, (attempts, successes, answered_failures, p50))| StatsBucket {
                        start: start + chrono::Duration::hours(i as i64),
                        attempts,
                        successes,
                        answered_failures,
                        unanswered: attempts - successes - answered_failures,
                        p50_ms: p50,
                        p95_ms: p50,
                    },
                )
                .collect(),
        }
    }

    #[test]
    fn empty_buckets_are_gaps_not_zeros() {
        let s = series(vec![
            (2, 2, 0, Some(10)),
            (0, 0, 0, None),
            (4, 2, 0, Some(20)),
        ]);
        let chart = rate_chart(&s);
        assert_eq!(chart.lines[0].points.len(), 2);
        assert_eq!(chart.lines[0].path.matches('M').count(), 2, "two runs");
        assert!(
            chart.summary.contains("4 of 6 attempts"),
            "{}",
            chart.summary
        );
        let spark = sparkline(&s);
        assert_eq!(spark.points.len(), 2);
        assert!(spark.label.contains("latest 50.0 %"), "{}", spark.label);
    }

    #[test]
    fn no_answer_means_no_response_time() {
        let s = series(vec![(3, 0, 0, None), (1, 0, 0, None)]);
        let chart = latency_chart(&s);
        assert!(chart.lines.iter().all(|l| l.points.is_empty()));
        assert!(
            chart.summary.starts_with("No response"),
            "{}",
            chart.summary
        );
        let bars = attempts_chart(&s).bars;
        assert_eq!(bars.len(), 2);
        assert!(bars.iter().all(|b| b.class == "bar-unanswered"));
    }

    #[test]
    fn scales_round_up() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(7.0), 10.0);
        assert_eq!(nice(130.0), 200.0);
        assert_eq!(nice(3000.0), 5000.0);
    }
}
