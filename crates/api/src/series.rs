//! `GET /v1/webhooks/{id}/stats/series?window=1h|24h|7d&bucket=…`: one endpoint's
//! attempts over a window, cut into buckets, so they can be graphed (the dashboard's
//! charts read the same use case).
//!
//! Invariants: every bucket of the window is in the answer, in time order, the last one
//! holding now; per bucket, attempts split by outcome (succeeded, answered with a failure,
//! not answered) and nearest-rank p50/p95 of the attempts that got an answer (`null`
//! without any). An unknown `window` or `bucket` is a 400; a bucket that cuts the window
//! into too few or too many buckets is a 422 naming the ones that fit.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use domain::WebhookId;
use serde::{Deserialize, Serialize};
use usecases::{SERIES_BUCKETS, SERIES_WINDOWS, SeriesBucket, SeriesWindow, Truncated};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Shared;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, IdPath};
use crate::field_schemas;

const DEFAULT_WINDOW: &str = "24h";

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// `1h`, `24h` (the default) or `7d`.
    #[param(schema_with = field_schemas::series_window_query)]
    pub window: Option<String>,
    /// The width of a bucket; by default `5m` for `1h`, `1h` for `24h`, `6h` for `7d`.
    /// It must cut the window into 4 to 168 buckets.
    #[param(schema_with = field_schemas::series_bucket_query)]
    pub bucket: Option<String>,
}

/// One bucket: attempts made in `[start, start + bucket)`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BucketBody {
    pub start: DateTime<Utc>,
    pub attempts: u64,
    /// Attempts that got a 2xx in time.
    pub successes: u64,
    /// Failed attempts the receiver answered (a non-2xx status).
    pub answered_failures: u64,
    /// Failed attempts without an answer: timeout, refused connection, TLS, blocked address.
    pub unanswered: u64,
    /// Successes over attempts, 0 to 1; `null` without attempts.
    pub success_rate: Option<f64>,
    /// Response times of the attempts that got an answer; `null` without any.
    pub p50_ms: Option<u32>,
    pub p95_ms: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesBody {
    #[schema(value_type = String)]
    pub webhook_id: WebhookId,
    #[schema(schema_with = field_schemas::series_window)]
    pub window: &'static str,
    #[schema(schema_with = field_schemas::series_bucket)]
    pub bucket: &'static str,
    /// Where the first bucket starts.
    pub start: DateTime<Utc>,
    /// Where the last bucket ends (after now: it is still filling).
    pub end: DateTime<Utc>,
    pub buckets: Vec<BucketBody>,
}

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(show))
}

fn names<T>(table: &[T], name: impl Fn(&T) -> &str) -> String {
    let names: Vec<String> = table.iter().map(|t| format!("`{}`", name(t))).collect();
    names.join(", ")
}

fn parse(query: &SeriesQuery) -> ApiResult<(SeriesWindow, Option<SeriesBucket>)> {
    let asked = query
        .window
        .as_deref()
        .filter(|w| !w.is_empty())
        .unwrap_or(DEFAULT_WINDOW);
    let window = asked.parse::<SeriesWindow>().map_err(|()| {
        ApiError::BadRequest(format!(
            "`window` must be one of {}, not `{}`.",
            names(&SERIES_WINDOWS, |w| w.0),
            Truncated(asked, 32)
        ))
    })?;
    let bucket = match query.bucket.as_deref().filter(|b| !b.is_empty()) {
        None => None,
        Some(asked) => Some(asked.parse::<SeriesBucket>().map_err(|()| {
            ApiError::BadRequest(format!(
                "`bucket` must be one of {}, not `{}`.",
                names(&SERIES_BUCKETS, |b| b.0),
                Truncated(asked, 32)
            ))
        })?),
    };
    Ok((window, bucket))
}

/// One endpoint's attempts over the last hour, day or week, per bucket: counts by
/// outcome, success rate and response-time percentiles.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/stats/series",
    operation_id = "getWebhookStatsSeries",
    tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`)"), SeriesQuery),
    responses(
        (status = 200, description = "Every bucket of the window, oldest first", body = SeriesBody),
        (status = 400, description = "An unknown `window` or `bucket`", content_type = "application/problem+json", body = Problem),
        (status = 422, description = "A `bucket` that cuts the window into fewer than 4 or more than 168 buckets", content_type = "application/problem+json", body = Problem),
    )
)]
async fn show(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(webhook): IdPath<WebhookId>,
    ApiQuery(query): ApiQuery<SeriesQuery>,
) -> ApiResult<Json<SeriesBody>> {
    let (window, bucket) = parse(&query)?;
    let series = state
        .app
        .webhook_series(&auth.workspace_id, &webhook, window, bucket)
        .await?;
    let start = series.buckets.first().map_or_else(Utc::now, |b| b.start);
    let end = series
        .buckets
        .last()
        .map_or(start, |b| b.start + series.bucket.0.length);
    Ok(Json(SeriesBody {
        webhook_id: webhook,
        window: series.window.0.name,
        bucket: series.bucket.0.name,
        start,
        end,
        buckets: series
            .buckets
            .into_iter()
            .map(|b| BucketBody {
                success_rate: b.success_rate(),
                start: b.start,
                attempts: b.attempts,
                successes: b.successes,
                answered_failures: b.answered_failures,
                unanswered: b.unanswered,
                p50_ms: b.p50_ms,
                p95_ms: b.p95_ms,
            })
            .collect(),
    }))
}
