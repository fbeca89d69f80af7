//! `GET /v1/webhooks/{id}/stats?window=1h|24h`: one endpoint's attempts over the last
//! hour or day — how many, how many succeeded, the success rate, and response-time
//! percentiles.
//!
//! Invariants: the numbers are computed by the store (through the use case), never by
//! loading attempts here; an attempt succeeded when it got a 2xx in time; percentiles are
//! nearest-rank (each is a response time that occurred) and `null` without attempts, like
//! the success rate.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use domain::WebhookId;
use serde::{Deserialize, Serialize};
use usecases::Truncated;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Shared;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, IdPath};
use crate::field_schemas;

/// The windows offered, as written in `?window=`, with their length in hours.
pub(crate) const WINDOWS: [(&str, i64); 2] = [("1h", 1), ("24h", 24)];
const DEFAULT_WINDOW: &str = "24h";

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// `1h` or `24h` (the default).
    #[param(schema_with = field_schemas::window_query)]
    pub window: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsBody {
    #[schema(value_type = String)]
    pub webhook_id: WebhookId,
    pub window: &'static str,
    /// Attempts made at or after this time are counted.
    pub since: DateTime<Utc>,
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    /// Failures the receiver answered 429, 502, 503 or 504: it asked to be sent less.
    pub throttled: u64,
    /// Attempts that got an answer (a status code); the percentiles rank these only, as a
    /// refused connection, a TLS failure or a timeout has no response time.
    pub responses: u64,
    /// Successes over attempts, 0 to 1; `null` without attempts.
    pub success_rate: Option<f64>,
    /// Response-time percentiles of the answered attempts; `null` without any.
    pub p50_ms: Option<u32>,
    pub p95_ms: Option<u32>,
    pub p99_ms: Option<u32>,
}

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(show))
}

fn window(query: &StatsQuery) -> ApiResult<(&'static str, Duration)> {
    let asked = query
        .window
        .as_deref()
        .filter(|w| !w.is_empty())
        .unwrap_or(DEFAULT_WINDOW);
    WINDOWS
        .iter()
        .find(|(name, _)| *name == asked)
        .map(|(name, hours)| (*name, Duration::hours(*hours)))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`window` must be `1h` or `24h`, not `{}`.",
                Truncated(asked, 32)
            ))
        })
}

/// One endpoint's attempts over the last hour or day: counts, success rate, percentiles.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/stats",
    operation_id = "getWebhookStats",
    tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`)"), StatsQuery),
    responses(
        (status = 200, description = "The endpoint's numbers", body = StatsBody),
        (status = 400, description = "A `window` other than `1h` or `24h`", content_type = "application/problem+json", body = Problem),
    )
)]
async fn show(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(webhook): IdPath<WebhookId>,
    ApiQuery(query): ApiQuery<StatsQuery>,
) -> ApiResult<Json<StatsBody>> {
    let (name, length) = window(&query)?;
    let stats = state
        .app
        .webhook_stats(&auth.workspace_id, &webhook, Utc::now() - length)
        .await?;
    Ok(Json(StatsBody {
        webhook_id: webhook,
        window: name,
        since: stats.since,
        attempts: stats.attempts,
        successes: stats.successes,
        failures: stats.failures,
        throttled: stats.throttled,
        responses: stats.responses,
        success_rate: stats.success_rate(),
        p50_ms: stats.p50_ms,
        p95_ms: stats.p95_ms,
        p99_ms: stats.p99_ms,
    }))
}
