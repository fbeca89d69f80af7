//! `POST /v1/events` publishes an event; `POST /v1/events/batch` publishes up to 100,
//! answered per item; `GET /v1/events` lists them (newest first, filterable by `type`,
//! `since` and `until`); `GET /v1/events/{id}` shows one with its deliveries.
//!
//! Invariants:
//! - 202 is sent only after the publish use case returned, i.e. after the event and its
//!   deliveries are committed (the store announces them to the lanes itself).
//! - A batch is per item, not all-or-nothing: the answer is 200 with one result per
//!   event, in request order — `{"status": 202, "event": {…}}` (plus
//!   `"idempotent_replayed": true` for a repeated key) or `{"status": 4xx/5xx, "error":
//!   {problem}}` — and a refused item keeps no other from being stored. Only a batch
//!   that is not 1 to 100 events (422) or not valid JSON (400) is refused whole. Each
//!   item carries its own `idempotency_key`, checked like the `Idempotency-Key` header.
//! - `data` and `metadata` stay `RawValue`s from the request to the store, so the bytes
//!   the producer sent are the bytes delivered. The publish answer and list items carry
//!   the stored body as-is: exactly `{"id", "type", "timestamp", "data", "metadata"}`;
//!   `GET /v1/events/{id}` adds `deliveries` after those fields, `data` and `metadata`
//!   still byte for byte.
//! - `Idempotency-Key` (1..=255 visible ASCII characters): a key the workspace used within
//!   24 h answers the first event, again with 202 — the answer the first request got,
//!   as Stripe does — plus `Idempotent-Replayed: true`; nothing new is created and no lane
//!   is woken.
//! - A publish's W3C `traceparent`/`tracestate` is kept with each event it stores
//!   ([`crate::trace`]); an invalid one is ignored, never refused.
//! - A body that is not JSON is a 400; JSON whose `data` (or `metadata`) is not an object
//!   or breaks the payload rules (`domain::payload`: nesting depth, finite numbers, no
//!   lone surrogates) is a 422; an unknown type is a 422 that says how to add it (the use
//!   case's rules).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::EventId;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use store::{Event, EventFilter, Published};
use usecases::{EventDraft, UseCaseError};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Shared;
use crate::auth::Authenticated;
use crate::deliveries::DeliveryBody;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, IdPath, JsonBody};
use crate::field_schemas;
use crate::pagination::{List, page_request};
use crate::time_range::{RangeRefusal, TimeRange, TimeRangeError};

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer that repeats the event of an earlier request with the same key.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishEvent {
    /// A type of the workspace's catalog.
    #[serde(rename = "type")]
    #[schema(schema_with = field_schemas::type_name)]
    pub event_type: String,
    /// A JSON object, delivered byte for byte.
    #[schema(value_type = Object, example = json!({"user_id": "usr_9x2k4m7"}))]
    pub data: Box<RawValue>,
    /// A JSON object; absent and `null` both mean none (delivered as `{}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Box<RawValue>>,
}

/// `POST /v1/events/batch`: the events to publish, each answered on its own.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBatch {
    /// 1 to 100 events.
    #[schema(min_items = 1, max_items = 100)]
    pub events: Vec<BatchEvent>,
}

/// One event of a batch: what `POST /v1/events` takes, with its idempotency key inside.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchEvent {
    /// A type of the workspace's catalog.
    #[serde(rename = "type")]
    #[schema(schema_with = field_schemas::type_name)]
    pub event_type: String,
    /// A JSON object, delivered byte for byte.
    #[schema(value_type = Object, example = json!({"user_id": "usr_9x2k4m7"}))]
    pub data: Box<RawValue>,
    /// A JSON object; absent and `null` both mean none (delivered as `{}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Box<RawValue>>,
    /// Repeating a key of this workspace within 24 h (in this batch or before) answers
    /// the first event and creates nothing; 1 to 255 visible ASCII characters.
    #[serde(default)]
    #[schema(
        example = "order-42-created",
        min_length = 1,
        max_length = 255,
        pattern = r"^[ -~]*[!-~][ -~]*$"
    )]
    pub idempotency_key: Option<String>,
}

/// The answer to a batch: one result per event, in request order.
#[derive(Serialize, ToSchema)]
pub struct BatchResults {
    pub data: Vec<BatchResult>,
}

/// One event's result: stored (202) or refused (the status and problem a single publish
/// of it would have been answered with).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchResult {
    Stored {
        #[schema(example = 202)]
        status: u16,
        /// The stored event, as `POST /v1/events` answers it.
        #[schema(value_type = EventBody)]
        event: Box<RawValue>,
        /// Present (true) when the item repeated a key: `event` is the first one.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        idempotent_replayed: bool,
    },
    Refused {
        #[schema(example = 422)]
        status: u16,
        error: Problem<'static>,
    },
}

/// An event as it is delivered and as the API answers it: exactly these fields. (The API
/// sends the stored bytes; this type only describes them.)
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct EventBody {
    #[schema(example = "evt_01JABCDEF0123456789ABCDEFG")]
    id: String,
    #[serde(rename = "type")]
    #[schema(example = "user.created")]
    event_type: String,
    /// RFC 3339, UTC.
    #[schema(example = "2025-01-15T14:32:00.123Z")]
    timestamp: String,
    #[schema(value_type = Object)]
    data: Box<RawValue>,
    #[schema(value_type = Object)]
    metadata: Box<RawValue>,
}

/// `GET /v1/events/{id}`: the event's fields, then its deliveries. (Described only; see
/// [`EventBody`].)
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct EventWithDeliveries {
    #[serde(flatten)]
    event: EventBody,
    /// One per endpoint the event went to.
    deliveries: Vec<DeliveryBody>,
}

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(publish, list))
        .routes(routes!(publish_batch))
        .routes(routes!(show))
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(&IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::BadRequest(format!(
            "The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters \
             (a UUID works well)."
        ))
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text.is_empty()
        || text.len() > MAX_IDEMPOTENCY_KEY
        || !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(invalid());
    }
    Ok(Some(text.to_owned()))
}

/// Publishes an event; answered only once it is stored durably.
#[utoipa::path(
    post,
    path = "/v1/events",
    operation_id = "publishEvent",
    tag = "events",
    security(("api_key" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[ -~]*[!-~][ -~]*$", description = "Repeating a key of this workspace within 24 h answers the first event and creates nothing (1 to 255 visible ASCII characters)"),
        ("traceparent" = Option<String>, Header, description = "W3C Trace Context: the event joins this trace, and every delivery attempt sends a `traceparent` of the same trace with a span of its own. An invalid value is ignored (the event starts a trace of its own), never refused"),
        ("tracestate" = Option<String>, Header, description = "W3C Trace Context: passed on unchanged to every attempt when `traceparent` is valid and it is well-formed (at most 512 bytes, 32 members)"),
    ),
    request_body = PublishEvent,
    responses(
        (status = 202, description = "Stored; `Idempotent-Replayed: true` when it repeats an earlier key's event", body = EventBody,
            headers(("Location" = String, description = "/v1/events/{id}"))),
        (status = 422, description = "An unknown type, `data`/`metadata` that is not an object or breaks the payload rules (arrays and objects nested deeper than `--max-payload-depth` (64), numbers beyond a 64-bit double (`1e999999`), `\\u` escapes of half a surrogate pair (`\\ud800`)), or `data` that does not match its type's payload schema (`/problems/schema-mismatch`, with `errors`: each failing place as a JSON pointer and a message)", content_type = "application/problem+json", body = Problem),
    )
)]
async fn publish(
    State(state): State<Shared>,
    auth: Authenticated,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PublishEvent>,
) -> ApiResult<Response> {
    let draft = EventDraft {
        event_type: body.event_type,
        data: body.data,
        metadata: body.metadata,
        idempotency_key: idempotency_key(&headers)?,
        trace: Some(crate::trace::event_context(&headers)),
    };
    let started = std::time::Instant::now();
    let published = state.app.publish(&auth.workspace_id, draft).await;
    if let Some(result) = publish_result(&published) {
        crate::metrics::published(result, started.elapsed());
    }
    Ok(published_response(published?))
}

/// Publishes up to 100 events in one request, answered per item in request order.
#[utoipa::path(
    post,
    path = "/v1/events/batch",
    operation_id = "publishEventBatch",
    tag = "events",
    security(("api_key" = [])),
    params(
        ("traceparent" = Option<String>, Header, description = "W3C Trace Context, as for POST /v1/events: every event of the batch joins this trace"),
        ("tracestate" = Option<String>, Header, description = "W3C Trace Context, passed on with `traceparent`"),
    ),
    request_body = PublishBatch,
    responses(
        (status = 200, description = "One result per event, in request order: `{\"status\": 202, \"event\": …}` for a stored event (with `\"idempotent_replayed\": true` when its key was used before), or `{\"status\": 422, \"error\": problem}` for a refused one (unknown type, `data`/`metadata` breaking the rules, a bad `idempotency_key`). Per item, not all-or-nothing: the valid events are stored (in one commit) whatever the others", body = BatchResults),
        (status = 422, description = "The batch holds no events or more than 100", content_type = "application/problem+json", body = Problem),
    )
)]
async fn publish_batch(
    State(state): State<Shared>,
    auth: Authenticated,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PublishBatch>,
) -> ApiResult<Json<BatchResults>> {
    // Every event of the batch joins the request's trace.
    let trace = crate::trace::event_context(&headers);
    let drafts = body
        .events
        .into_iter()
        .map(|item| EventDraft {
            event_type: item.event_type,
            data: item.data,
            metadata: item.metadata,
            idempotency_key: item.idempotency_key,
            trace: Some(trace.clone()),
        })
        .collect();
    let started = std::time::Instant::now();
    let answers = state.app.publish_batch(&auth.workspace_id, drafts).await?;
    let took = started.elapsed();
    let data = answers
        .into_iter()
        .map(|answer| {
            if let Some(result) = publish_result(&answer) {
                crate::metrics::published(result, took);
            }
            Ok(match answer {
                Ok(published) => BatchResult::Stored {
                    status: StatusCode::ACCEPTED.as_u16(),
                    event: stored_json(&published.event)?,
                    idempotent_replayed: published.duplicate,
                },
                Err(refused) => {
                    let error = ApiError::from(refused);
                    BatchResult::Refused {
                        status: error.status().as_u16(),
                        error: error.problem(),
                    }
                }
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok(Json(BatchResults { data }))
}

/// How a publish counts in the metrics; `None` for one refused by a rule, which never
/// reached the store.
fn publish_result(published: &Result<Published, UseCaseError>) -> Option<&'static str> {
    match published {
        Ok(p) if p.duplicate => Some("duplicate"),
        Ok(_) => Some("accepted"),
        Err(UseCaseError::Validation { .. } | UseCaseError::SchemaMismatch { .. }) => None,
        Err(_) => Some("refused"),
    }
}

/// The 202 answer to a committed publish (whose lanes the store already announced).
pub fn published_response(published: Published) -> Response {
    let mut response = event_response(StatusCode::ACCEPTED, published.event);
    if published.duplicate {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

/// The stored body, byte for byte, with a `Location` pointing at the event.
fn event_response(status: StatusCode, event: Event) -> Response {
    let location = format!("/v1/events/{}", event.id);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        event.body,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events of this type.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// RFC 3339; events published at or after it.
    #[param(schema_with = field_schemas::time_query)]
    pub since: Option<String>,
    /// RFC 3339; events published before it.
    #[param(schema_with = field_schemas::time_query)]
    pub until: Option<String>,
    /// Items per page, 1 to 100 (default 50).
    #[param(schema_with = field_schemas::limit_query)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page, unchanged.
    #[param(schema_with = field_schemas::event_cursor_query)]
    pub cursor: Option<String>,
}

/// The stored body as JSON to embed in a larger answer, bytes unchanged.
fn stored_json(event: &Event) -> ApiResult<Box<RawValue>> {
    let text =
        String::from_utf8(event.body.clone()).map_err(|e| ApiError::Internal(Box::new(e)))?;
    RawValue::from_string(text).map_err(|e| ApiError::Internal(Box::new(e)))
}

/// The workspace's events, newest first.
#[utoipa::path(
    get,
    path = "/v1/events",
    operation_id = "listEvents",
    tag = "events",
    security(("api_key" = [])),
    params(EventQuery),
    responses(
        (status = 200, description = "One page of events", body = List<EventBody>),
        (status = 400, description = "A bad filter, `limit` or `cursor`", content_type = "application/problem+json", body = Problem),
    )
)]
async fn list(
    State(state): State<Shared>,
    auth: Authenticated,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> ApiResult<Json<List<Box<RawValue>>>> {
    let range = TimeRange::parse(query.since.as_deref(), query.until.as_deref())
        .map_err(TimeRangeError::bad_request)?;
    let filter = EventFilter {
        event_type: query
            .event_type
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        since: range.since,
        until: range.until,
    };
    let page = page_request(query.limit.as_deref(), query.cursor.as_deref())?;
    let events = state
        .app
        .list_events(&auth.workspace_id, filter, page)
        .await?;
    Ok(Json(List {
        data: events
            .data
            .iter()
            .map(stored_json)
            .collect::<ApiResult<_>>()?,
        next_cursor: events.next_cursor,
    }))
}

/// The stored body's fields, borrowed to be written again beside `deliveries`.
#[derive(Deserialize)]
struct StoredEvent<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    event_type: Cow<'a, str>,
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
    #[serde(borrow)]
    metadata: &'a RawValue,
}

#[derive(Serialize)]
struct EventDetail<'a> {
    id: Cow<'a, str>,
    #[serde(rename = "type")]
    event_type: Cow<'a, str>,
    timestamp: Cow<'a, str>,
    data: &'a RawValue,
    metadata: &'a RawValue,
    /// One per endpoint the event went to (fewer once the log's retention pruned some).
    deliveries: Vec<DeliveryBody>,
}

/// One event with its deliveries.
#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    operation_id = "getEvent",
    tag = "events",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The event's id (`evt_…`)")),
    responses((status = 200, description = "The event and its deliveries", body = EventWithDeliveries))
)]
async fn show(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(id): IdPath<EventId>,
) -> ApiResult<Response> {
    let (event, deliveries) = state.app.get_event(&auth.workspace_id, &id).await?;
    let stored: StoredEvent<'_> =
        serde_json::from_slice(&event.body).map_err(|e| ApiError::Internal(Box::new(e)))?;
    let detail = EventDetail {
        id: stored.id,
        event_type: stored.event_type,
        timestamp: stored.timestamp,
        data: stored.data,
        metadata: stored.metadata,
        deliveries: deliveries.into_iter().map(DeliveryBody::from).collect(),
    };
    let body = serde_json::to_vec(&detail).map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_bounded() {
        let mut headers = HeaderMap::new();
        assert_eq!(idempotency_key(&headers).unwrap(), None);
        headers.insert(&IDEMPOTENCY_KEY, HeaderValue::from_static("order-42"));
        assert_eq!(
            idempotency_key(&headers).unwrap().as_deref(),
            Some("order-42")
        );
        headers.insert(
            &IDEMPOTENCY_KEY,
            HeaderValue::from_str(&"k".repeat(256)).unwrap(),
        );
        assert!(idempotency_key(&headers).is_err());
        headers.insert(&IDEMPOTENCY_KEY, HeaderValue::from_static(""));
        assert!(idempotency_key(&headers).is_err());
    }
}
