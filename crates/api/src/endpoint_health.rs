//! `GET /v1/webhooks/{id}/health`: one endpoint at a glance — healthy, failing since
//! when, backed up or disabled; how many deliveries wait and when the oldest expires;
//! its latest attempts.
//!
//! Invariants: the verdict is the use case's (`usecases::EndpointHealth`), the same the
//! dashboard shows; times are `null` when there is nothing to date.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use domain::WebhookId;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Shared;
use crate::auth::Authenticated;
use crate::error::ApiResult;
use crate::extract::IdPath;
use crate::field_schemas;

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    #[schema(value_type = String)]
    pub webhook_id: WebhookId,
    /// `disabled`; `failing` (its latest attempt failed); `backlog` (not failing, but its
    /// oldest waiting delivery waited over a minute); `healthy`; `new` (never attempted).
    #[schema(schema_with = field_schemas::health_state)]
    pub state: &'static str,
    /// The first failed attempt of the current run of failures.
    pub failing_since: Option<DateTime<Utc>>,
    /// Deliveries waiting to go out (pending, or failed and retrying).
    pub waiting: u64,
    /// The delivery every later one of this endpoint waits for (ordered delivery).
    #[schema(schema_with = field_schemas::delivery_id_or_null)]
    pub head_delivery_id: Option<String>,
    /// When the oldest waiting delivery expires unless it gets through.
    pub oldest_expires_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Whether the latest attempt got a 2xx in time; `null` without attempts.
    pub last_attempt_succeeded: Option<bool>,
    pub last_success_at: Option<DateTime<Utc>>,
}

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(show))
}

/// One endpoint at a glance: its state, its waiting deliveries and its latest attempts.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/health",
    operation_id = "getWebhookHealth",
    tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`)")),
    responses(
        (status = 200, description = "The endpoint's health now", body = HealthBody),
    )
)]
async fn show(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(webhook): IdPath<WebhookId>,
) -> ApiResult<Json<HealthBody>> {
    let health = state
        .app
        .webhook_health(&auth.workspace_id, &webhook)
        .await?;
    Ok(Json(HealthBody {
        webhook_id: webhook,
        state: health.state.as_str(),
        failing_since: health.failing_since,
        waiting: health.waiting,
        head_delivery_id: health.head.as_ref().map(|h| h.id.to_string()),
        oldest_expires_at: health.oldest_expires_at,
        last_attempt_at: health.last_attempt.map(|(at, _)| at),
        last_attempt_succeeded: health.last_attempt.map(|(_, ok)| ok),
        last_success_at: health.last_success_at,
    }))
}
