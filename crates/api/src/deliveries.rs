//! The activity log and manual re-sends: `GET /v1/webhooks/{id}/deliveries` (newest
//! first, filterable by `status`, `type`, `since` and `until`), `GET /v1/deliveries/{id}`
//! (one delivery with its attempts), `POST /v1/deliveries/{id}/retry` and
//! `POST /v1/webhooks/{id}/replay`.
//!
//! Thin handlers over the use cases. A webhook or delivery of another workspace is a
//! 404, like one that does not exist. In the list a delivery carries `attempt_count`; the
//! detail adds `attempts`, the list of recorded attempts (oldest first).
//!
//! Re-sends (see docs/architecture.md, "Manual re-sends") keep their rules in the use
//! case: a retried or replayed delivery goes back to its original place in the
//! endpoint's order, its lane is resynced after the commit, and re-sending to a disabled
//! endpoint is refused (409).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use domain::{AttemptId, DeliveryId, DeliveryStatus, ErrorClass, EventId, WebhookId};
use serde::{Deserialize, Serialize};
use store::{Attempt, Delivery, DeliveryFilter, RecordedHeaders};
use usecases::ReplayDraft;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Shared;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, IdPath, JsonBody};
use crate::field_schemas;
use crate::pagination::{List, page_request};
use crate::time_range::{RangeRefusal, TimeRange, TimeRangeError};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// `pending`, `delivered`, `failed` (being retried) or `expired`.
    #[param(schema_with = field_schemas::delivery_status_query)]
    pub status: Option<String>,
    /// Only deliveries of events of this type.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// RFC 3339; deliveries created at or after it.
    #[param(schema_with = field_schemas::time_query)]
    pub since: Option<String>,
    /// RFC 3339; deliveries created before it.
    #[param(schema_with = field_schemas::time_query)]
    pub until: Option<String>,
    /// Items per page, 1 to 100 (default 50).
    #[param(schema_with = field_schemas::limit_query)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page, unchanged.
    #[param(schema_with = field_schemas::delivery_cursor_query)]
    pub cursor: Option<String>,
}

/// The body of `POST /v1/webhooks/{id}/replay`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// RFC 3339: re-send deliveries created at or after it.
    #[schema(schema_with = field_schemas::time)]
    pub since: String,
    /// RFC 3339: and before it; absent means up to now.
    #[serde(default)]
    #[schema(schema_with = field_schemas::time_or_null)]
    pub until: Option<String>,
    /// Only deliveries that now have this status.
    #[serde(default)]
    #[schema(schema_with = field_schemas::delivery_status_or_null)]
    pub status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// How many deliveries were re-opened.
    pub replayed: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryBody {
    #[schema(value_type = String, example = "dlv_01JABCDEF0123456789ABCDEFG")]
    pub id: DeliveryId,
    #[schema(value_type = String)]
    pub event_id: EventId,
    #[schema(value_type = String)]
    pub webhook_id: WebhookId,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `delivered`, `failed` (being retried) or `expired`.
    #[schema(value_type = String, example = "delivered")]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptBody {
    #[schema(value_type = String, example = "att_01JABCDEF0123456789ABCDEFG")]
    pub id: AttemptId,
    pub attempted_at: DateTime<Utc>,
    /// `null` when no HTTP answer came (timeout, connection or TLS error).
    pub status_code: Option<u16>,
    pub response_ms: u32,
    /// `timeout`, `connect`, `tls`, `http_status`, `gone` (a 410 that disabled the endpoint)
    /// or `ssrf_blocked`; `null` on success.
    #[schema(value_type = Option<String>, example = "http_status")]
    pub error_class: Option<ErrorClass>,
    pub error_message: Option<String>,
    /// The first 4 KiB of the response body.
    pub response_body: Option<String>,
    /// The request's headers as sent, both signatures included (never the secret);
    /// `null` when nothing was sent or for attempts recorded before headers were kept.
    pub request_headers: Option<RecordedHeadersBody>,
    /// The response's headers; `null` when no answer came.
    pub response_headers: Option<RecordedHeadersBody>,
}

/// One header as it was sent or received.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeaderBody {
    #[schema(example = "webhook-signature")]
    pub name: String,
    pub value: String,
}

/// Headers in the order they were sent or received (names may repeat), at most 8 KiB
/// of names and values.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordedHeadersBody {
    pub headers: Vec<HeaderBody>,
    /// Headers past the 8 KiB bound were left out.
    pub truncated: bool,
}

impl From<RecordedHeaders> for RecordedHeadersBody {
    fn from(recorded: RecordedHeaders) -> Self {
        Self {
            headers: recorded
                .headers
                .into_iter()
                .map(|(name, value)| HeaderBody { name, value })
                .collect(),
            truncated: recorded.truncated,
        }
    }
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
            request_headers: a.request_headers.map(RecordedHeadersBody::from),
            response_headers: a.response_headers.map(RecordedHeadersBody::from),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryBody,
    pub attempts: Vec<AttemptBody>,
}

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(replay))
        .routes(routes!(show))
        .routes(routes!(retry))
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

/// An endpoint's deliveries, newest first: the activity log.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    operation_id = "listDeliveries",
    tag = "deliveries",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`)"), DeliveryQuery),
    responses(
        (status = 200, description = "One page of deliveries", body = List<DeliveryBody>),
        (status = 400, description = "A bad filter, `limit` or `cursor`", content_type = "application/problem+json", body = Problem),
    )
)]
async fn list(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(webhook): IdPath<WebhookId>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> ApiResult<Json<List<DeliveryBody>>> {
    let filter = filter(&query)?;
    let page = page_request(query.limit.as_deref(), query.cursor.as_deref())?;
    let deliveries = state
        .app
        .list_deliveries(&auth.workspace_id, &webhook, filter, page)
        .await?;
    Ok(Json(List::from_page(deliveries, DeliveryBody::from)))
}

/// One delivery with all its attempts.
#[utoipa::path(
    get,
    path = "/v1/deliveries/{id}",
    operation_id = "getDelivery",
    tag = "deliveries",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The delivery's id (`dlv_…`)")),
    responses((status = 200, description = "The delivery and its attempts", body = DeliveryDetail))
)]
async fn show(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(id): IdPath<DeliveryId>,
) -> ApiResult<Json<DeliveryDetail>> {
    let (delivery, attempts) = state.app.get_delivery(&auth.workspace_id, &id).await?;
    Ok(Json(DeliveryDetail {
        delivery: delivery.into(),
        attempts: attempts.into_iter().map(AttemptBody::from).collect(),
    }))
}

/// Re-sends one delivery now, whatever its status (delivered and expired ones too).
#[utoipa::path(
    post,
    path = "/v1/deliveries/{id}/retry",
    operation_id = "retryDelivery",
    tag = "deliveries",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The delivery's id (`dlv_…`)")),
    responses(
        (status = 202, description = "Re-opened at its place in the endpoint's order", body = DeliveryBody),
        (status = 409, description = "The endpoint is disabled", content_type = "application/problem+json", body = Problem),
    )
)]
async fn retry(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(id): IdPath<DeliveryId>,
) -> ApiResult<(StatusCode, Json<DeliveryBody>)> {
    let delivery = state.app.retry_delivery(&auth.workspace_id, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery.into())))
}

/// Re-sends every delivery of one endpoint created in `[since, until)` (with `status`,
/// when given), in their original order.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/replay",
    operation_id = "replayDeliveries",
    tag = "deliveries",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`)")),
    request_body = ReplayRequest,
    responses(
        (status = 202, description = "How many deliveries were re-opened", body = Replayed),
        (status = 409, description = "The endpoint is disabled", content_type = "application/problem+json", body = Problem),
    )
)]
async fn replay(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(webhook): IdPath<WebhookId>,
    JsonBody(body): JsonBody<ReplayRequest>,
) -> ApiResult<(StatusCode, Json<Replayed>)> {
    // In a JSON body absence is `null`; an empty `until` is a time that does not parse
    // (unlike `?until=` in a query string): the use case checks it so.
    let draft = ReplayDraft {
        since: body.since,
        until: body.until,
        status: body.status,
    };
    let replayed = state
        .app
        .replay(&auth.workspace_id, &webhook, &draft)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Replayed { replayed })))
}
