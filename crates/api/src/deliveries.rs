//! The activity log: `GET /v1/webhooks/{id}/deliveries` (newest first, filterable by
//! `status` and `type`) and `GET /v1/deliveries/{id}` (one delivery with its attempts).
//!
//! Thin handlers over the store. A webhook or delivery of another workspace is a 404,
//! like one that does not exist. In the list a delivery carries `attempt_count`; the
//! detail adds `attempts`, the list of recorded attempts (oldest first).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use domain::{AttemptId, DeliveryId, DeliveryStatus, ErrorClass, EventId, WebhookId};
use serde::{Deserialize, Serialize};
use store::{Attempt, Delivery, DeliveryFilter};

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, NotFoundAs};
use crate::extract::{ApiQuery, IdPath};
use crate::pagination::{List, page_request};

#[derive(Debug, Default, Deserialize)]
pub struct DeliveryQuery {
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
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
        .route("/v1/deliveries/{id}", get(show))
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
    Ok(DeliveryFilter { status, event_type })
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
