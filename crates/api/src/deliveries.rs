//! The activity log and manual re-sends: `GET /v1/webhooks/{id}/deliveries` (newest
//! first, filterable by `status`, `type`, `since` and `until`), `GET /v1/deliveries/{id}`
//! (one delivery with its attempts), `POST /v1/deliveries/{id}/retry` and
//! `POST /v1/webhooks/{id}/replay`.
//!
//! Thin handlers over the store. A webhook or delivery of another workspace is a 404,
//! like one that does not exist. In the list a delivery carries `attempt_count`; the
//! detail adds `attempts`, the list of recorded attempts (oldest first).
//!
//! Invariants of re-sends (see docs/architecture.md, "Manual re-sends"):
//! - A retried or replayed delivery goes back to its original place in the endpoint's
//!   order (its `seq`), ahead of every later delivery still open, with a fresh retention
//!   window; its history and attempt count stay.
//! - After the store committed the re-opening, the endpoint's lane is told to resync
//!   (`AppState::resync_lanes`), so the re-sent delivery is its next attempt.
//! - A disabled endpoint receives nothing, so re-sending to one is refused (409).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use domain::{AttemptId, DeliveryId, DeliveryStatus, ErrorClass, EventId, WebhookId, WorkspaceId};
use serde::{Deserialize, Serialize};
use store::{Attempt, Delivery, DeliveryFilter, ReplayFilter};

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, NotFoundAs};
use crate::extract::{ApiQuery, IdPath, JsonBody};
use crate::pagination::{List, page_request};
use crate::time_range::{TimeRange, TimeRangeError, parse_time};

#[derive(Debug, Default, Deserialize)]
pub struct DeliveryQuery {
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// RFC 3339; deliveries created at or after it.
    pub since: Option<String>,
    /// RFC 3339; deliveries created before it.
    pub until: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// The body of `POST /v1/webhooks/{id}/replay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// RFC 3339: re-send deliveries created at or after it.
    pub since: String,
    /// RFC 3339: and before it; absent means up to now.
    #[serde(default)]
    pub until: Option<String>,
    /// Only deliveries that now have this status.
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Replayed {
    /// How many deliveries were re-opened.
    pub replayed: u64,
}

#[derive(Debug, Serialize)]
pub struct DeliveryBody {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub webhook_id: WebhookId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    pub last_status_code: Option<u16>,
    pub last_response_ms: Option<u32>,
    pub last_error: Option<String>,
    /// When the next attempt is due; `null` once delivered or expired.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Delivery> for DeliveryBody {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            webhook_id: d.webhook_id,
            event_type: d.event_type,
            status: d.status,
            attempt_count: d.attempts,
            last_status_code: d.last_status_code,
            last_response_ms: d.last_response_ms,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AttemptBody {
    pub id: AttemptId,
    pub attempted_at: DateTime<Utc>,
    /// `null` when no HTTP answer came (timeout, connection or TLS error).
    pub status_code: Option<u16>,
    pub response_ms: u32,
    pub error_class: Option<ErrorClass>,
    pub error_message: Option<String>,
    /// The first 4 KiB of the response body.
    pub response_body: Option<String>,
}

impl From<Attempt> for AttemptBody {
    fn from(a: Attempt) -> Self {
        Self {
            id: a.id,
            attempted_at: a.attempted_at,
            status_code: a.status_code,
            response_ms: a.response_ms,
            error_class: a.error_class,
            error_message: a.error_message,
            response_body: a.response_body,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryBody,
    pub attempts: Vec<AttemptBody>,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks/{id}/deliveries", get(list))
        .route("/v1/webhooks/{id}/replay", post(replay))
        .route("/v1/deliveries/{id}", get(show))
        .route("/v1/deliveries/{id}/retry", post(retry))
}

fn filter(query: &DeliveryQuery) -> ApiResult<DeliveryFilter> {
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(
            text.parse::<DeliveryStatus>()
                .map_err(|e| ApiError::BadRequest(format!("`status`: {e}.")))?,
        ),
        None => None,
    };
    let event_type = query
        .event_type
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let range = TimeRange::parse(query.since.as_deref(), query.until.as_deref())
        .map_err(TimeRangeError::bad_request)?;
    Ok(DeliveryFilter {
        status,
        event_type,
        since: range.since,
        until: range.until,
    })
}

async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    IdPath(webhook): IdPath<WebhookId>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> ApiResult<Json<List<DeliveryBody>>> {
    let filter = filter(&query)?;
    let page = page_request(query.limit.as_deref(), query.cursor.as_deref())?;
    // Looked up first so that a foreign or deleted webhook is a 404, not an empty list.
    state
        .store
        .get_webhook(&auth.workspace_id, &webhook)
        .await
        .not_found_as("webhook", &webhook)?;
    let deliveries = state
        .store
        .list_deliveries(&auth.workspace_id, &webhook, filter, page)
        .await
        .not_found_as("webhook", &webhook)?;
    Ok(Json(List::from_page(deliveries, DeliveryBody::from)))
}

async fn show(
    State(state): State<AppState>,
    auth: Authenticated,
    IdPath(id): IdPath<DeliveryId>,
) -> ApiResult<Json<DeliveryDetail>> {
    let (delivery, attempts) = state
        .store
        .get_delivery(&auth.workspace_id, &id)
        .await
        .not_found_as("delivery", &id)?;
    Ok(Json(DeliveryDetail {
        delivery: delivery.into(),
        attempts: attempts.into_iter().map(AttemptBody::from).collect(),
    }))
}

/// Refuses to re-send to a disabled endpoint: it would sit unsent until re-enabled.
async fn require_enabled(
    state: &AppState,
    workspace: &WorkspaceId,
    webhook: &WebhookId,
) -> ApiResult<()> {
    let hook = state
        .store
        .get_webhook(workspace, webhook)
        .await
        .not_found_as("webhook", webhook)?;
    if !hook.enabled {
        return Err(ApiError::Conflict(format!(
            "Webhook `{webhook}` is disabled, so nothing is sent to it, re-sends included. \
             Enable it first."
        )));
    }
    Ok(())
}

/// Re-sends one delivery now, whatever its status (delivered and expired ones too).
async fn retry(
    State(state): State<AppState>,
    auth: Authenticated,
    IdPath(id): IdPath<DeliveryId>,
) -> ApiResult<(StatusCode, Json<DeliveryBody>)> {
    let (delivery, _) = state
        .store
        .get_delivery(&auth.workspace_id, &id)
        .await
        .not_found_as("delivery", &id)?;
    require_enabled(&state, &auth.workspace_id, &delivery.webhook_id).await?;
    let delivery = state
        .store
        .retry_delivery(&auth.workspace_id, &id)
        .await
        .not_found_as("delivery", &id)?;
    (state.resync_lanes)(std::slice::from_ref(&delivery.webhook_id));
    Ok((StatusCode::ACCEPTED, Json(delivery.into())))
}

/// Re-sends every delivery of one endpoint created in `[since, until)` (with `status`,
/// when given), in their original order.
async fn replay(
    State(state): State<AppState>,
    auth: Authenticated,
    IdPath(webhook): IdPath<WebhookId>,
    JsonBody(body): JsonBody<ReplayRequest>,
) -> ApiResult<(StatusCode, Json<Replayed>)> {
    let since = parse_time("since", Some(&body.since))
        .map_err(TimeRangeError::validation)?
        .ok_or_else(|| {
            ApiError::Validation("`since` must be an RFC 3339 time, not empty.".to_owned())
        })?;
    let range = TimeRange::parse(Some(&body.since), body.until.as_deref())
        .map_err(TimeRangeError::validation)?;
    let status = match body.status.as_deref() {
        Some(text) => Some(
            text.parse::<DeliveryStatus>()
                .map_err(|e| ApiError::Validation(format!("`status`: {e}.")))?,
        ),
        None => None,
    };
    require_enabled(&state, &auth.workspace_id, &webhook).await?;
    let filter = ReplayFilter {
        since,
        until: range.until,
        status,
    };
    let replayed = state
        .store
        .replay_deliveries(&auth.workspace_id, &webhook, filter)
        .await
        .not_found_as("webhook", &webhook)?;
    if replayed > 0 {
        (state.resync_lanes)(std::slice::from_ref(&webhook));
    }
    Ok((StatusCode::ACCEPTED, Json(Replayed { replayed })))
}
