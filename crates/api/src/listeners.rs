//! Listener endpoints, the API of `admin-webhooks listen`: `POST /v1/listeners` (create
//! or re-attach), `GET /v1/listeners/{id}/stream` (Server-Sent Events: one event per
//! attempt) and `POST /v1/listeners/{id}/results` (what the local server answered).
//!
//! The protocol, end to end:
//! 1. `POST /v1/listeners` `{"name"?, "events"?, "description"?}` creates a listener, an
//!    endpoint of the workspace at `listen://<name>` (201, with its signing `secret`);
//!    `{"id": "wh_…"}` re-attaches to one, keeping its secret and backlog (200).
//! 2. `GET /v1/listeners/{id}/stream` (`Accept: text/event-stream`) holds the connection
//!    open. It starts with `event: ready` (`{"listener_id"}`), then sends one
//!    `event: delivery` per attempt, `data` a JSON object: `delivery_id`, `attempt`,
//!    `event_id`, `event_type`, `headers` (every header of the attempt, lowercase names,
//!    both signatures included), `body` (the exact body, a JSON text) and `timeout_ms`
//!    (how long the service waits for the result). Comments (`: keep-alive`) every 15 s
//!    keep proxies from closing it. A new stream to the same listener replaces this one.
//! 3. For each delivery, `POST /v1/listeners/{id}/results` `{"delivery_id", "attempt",
//!    "status_code"? | "error_class"?, "response_ms", "response_body"?, "error_message"?}`
//!    within `timeout_ms`: 204, recorded as the attempt's outcome; 409 when that attempt
//!    is no longer awaited (timed out, or its stream closed).

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use domain::{DeliveryId, ErrorClass, WebhookId};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use usecases::ListenerDraft;
use usecases::{ListenerPush as Push, ListenerReport as Report, ListenerStream as Connection};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Shared;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{IdPath, JsonBody};
use crate::field_schemas;
use crate::webhooks::WebhookBody;

/// How often an idle stream sends a comment, so that proxies and the client see it alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachListener {
    /// Re-attach to this listener (its secret and backlog kept); absent creates one.
    #[serde(default)]
    #[schema(schema_with = field_schemas::webhook_id_or_null)]
    pub id: Option<WebhookId>,
    /// The `<name>` of a new listener's URL `listen://<name>`; `listener` when absent.
    #[serde(default)]
    #[schema(schema_with = field_schemas::listener_name_or_null)]
    pub name: Option<String>,
    /// Subscriptions; a new listener takes `*` without, a re-attached one keeps its own.
    #[serde(default)]
    #[schema(schema_with = field_schemas::subscriptions_or_null)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = field_schemas::description_or_null)]
    pub description: Option<String>,
}

/// What the local server made of one attempt.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttemptResult {
    /// The `delivery_id` of the `delivery` event.
    #[schema(schema_with = field_schemas::delivery_id)]
    pub delivery_id: DeliveryId,
    /// The `attempt` of the `delivery` event.
    #[schema(minimum = 1, maximum = 1000000)]
    pub attempt: u32,
    /// The local server's status; absent (or null) when it did not answer.
    #[serde(default)]
    #[schema(minimum = 100, maximum = 599)]
    pub status_code: Option<u16>,
    /// Why the local server did not answer (without `status_code`); `connect` if absent.
    #[serde(default)]
    #[schema(schema_with = field_schemas::local_error_class_or_null)]
    pub error_class: Option<ErrorClass>,
    /// How long the local request took.
    #[schema(minimum = 0, maximum = 3600000)]
    pub response_ms: u32,
    /// The start of the local answer's body (the service keeps 4 KiB).
    #[serde(default)]
    #[schema(schema_with = field_schemas::response_excerpt_or_null)]
    pub response_body: Option<String>,
    /// What went wrong locally, in a sentence.
    #[serde(default)]
    #[schema(schema_with = field_schemas::local_error_message_or_null)]
    pub error_message: Option<String>,
}

/// The kinds of event the stream sends.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamEventKind {
    /// First, once: the stream is open (`data`: `{"listener_id"}`).
    Ready,
    /// One attempt to forward (`data`: a `StreamedDelivery`).
    Delivery,
}

/// One event of the stream, as Server-Sent Events frame it (the schema of each event of
/// `text/event-stream`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ListenerStreamEvent {
    pub event: StreamEventKind,
    /// JSON: `{"listener_id"}` for `ready`, a `StreamedDelivery` for `delivery`.
    pub data: String,
}

/// One attempt as the stream's `delivery` event carries it (its `data`).
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamedDelivery {
    #[schema(value_type = String)]
    pub delivery_id: String,
    pub attempt: u32,
    pub event_id: String,
    pub event_type: String,
    /// Every header of the attempt, lowercase names.
    #[schema(value_type = Object)]
    pub headers: serde_json::Map<String, serde_json::Value>,
    /// The exact body bytes (a JSON text).
    pub body: String,
    /// How long the service waits for the result.
    pub timeout_ms: u64,
}

/// The longest local answer excerpt and error sentence a report may carry.
pub const MAX_REPORTED_BODY: usize = 65_536;
pub const MAX_REPORTED_MESSAGE: usize = 1_000;

impl AttemptResult {
    /// Refuses what the schema refuses and serde lets through.
    fn check(&self) -> Result<(), ApiError> {
        let refuse = |message: &str| Err(ApiError::Validation(message.to_owned()));
        if self.attempt == 0 || self.attempt > 1_000_000 {
            return refuse("`attempt` is the `attempt` of the `delivery` event: 1 or more.");
        }
        if self.status_code.is_some_and(|s| !(100..=599).contains(&s)) {
            return refuse("`status_code` is an HTTP status, 100 to 599.");
        }
        if self.response_ms > 3_600_000 {
            return refuse("`response_ms` is at most 3600000 (an hour).");
        }
        if let Some(class) = self.error_class
            && !matches!(
                class,
                ErrorClass::Timeout | ErrorClass::Connect | ErrorClass::Tls
            )
        {
            return refuse("`error_class` of a local request is `timeout`, `connect` or `tls`.");
        }
        if self
            .response_body
            .as_ref()
            .is_some_and(|b| b.chars().count() > MAX_REPORTED_BODY)
        {
            return refuse("`response_body` is at most 65536 characters; send its start.");
        }
        if self
            .error_message
            .as_ref()
            .is_some_and(|m| m.chars().count() > MAX_REPORTED_MESSAGE)
        {
            return refuse("`error_message` is at most 1000 characters.");
        }
        Ok(())
    }
}

impl StreamedDelivery {
    fn from_push(push: Push) -> Self {
        Self {
            delivery_id: push.delivery_id,
            attempt: push.attempt,
            event_id: push.event_id,
            event_type: push.event_type,
            headers: push
                .headers
                .into_iter()
                .map(|(name, value)| (name, serde_json::Value::String(value)))
                .collect(),
            // Bodies are JSON the service rendered: always UTF-8.
            body: String::from_utf8_lossy(&push.body).into_owned(),
            timeout_ms: u64::try_from(push.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(attach))
        .routes(routes!(stream))
        .routes(routes!(report))
}

/// Creates a listener (an endpoint `admin-webhooks listen` receives for), or re-attaches
/// to one by `id`; the answer carries its signing secret.
#[utoipa::path(
    post,
    path = "/v1/listeners",
    operation_id = "attachListener",
    tag = "listeners",
    security(("api_key" = [])),
    request_body = AttachListener,
    responses(
        (status = 201, description = "Created, with its `secret`", body = WebhookBody),
        (status = 200, description = "Re-attached, with its `secret`", body = WebhookBody),
        (status = 404, description = "No listener with this `id` in the workspace", content_type = "application/problem+json", body = Problem),
    )
)]
async fn attach(
    State(state): State<Shared>,
    auth: Authenticated,
    JsonBody(body): JsonBody<AttachListener>,
) -> ApiResult<(StatusCode, Json<WebhookBody>)> {
    let draft = ListenerDraft {
        id: body.id,
        name: body.name,
        events: body.events,
        description: body.description,
    };
    let attached = state.app.attach_listener(&auth.workspace_id, draft).await?;
    let status = if attached.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(WebhookBody::with_secret(attached.webhook))))
}

/// The listener's deliveries as Server-Sent Events, one `delivery` event per attempt;
/// report each with `POST /v1/listeners/{id}/results`.
#[utoipa::path(
    get,
    path = "/v1/listeners/{id}/stream",
    operation_id = "streamListener",
    tag = "listeners",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The listener's id (`wh_…`)")),
    responses(
        (status = 200, description = "`text/event-stream`: `ready`, then one `delivery` event (data: a StreamedDelivery) per attempt", content_type = "text/event-stream", body = ListenerStreamEvent),
    )
)]
async fn stream(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(id): IdPath<WebhookId>,
) -> ApiResult<Response> {
    let connection = state
        .app
        .open_listener_stream(&auth.workspace_id, &id)
        .await?;
    let ready = SseEvent::default()
        .event("ready")
        .data(json!({ "listener_id": id }).to_string());
    let events = futures::stream::once(async move { Ok::<_, Infallible>(ready) }).chain(
        futures::stream::unfold(connection, |mut connection: Connection| async move {
            let push = connection.pushes.recv().await?;
            let data = serde_json::to_string(&StreamedDelivery::from_push(push))
                .expect("a delivery serializes");
            let event = SseEvent::default().event("delivery").data(data);
            Some((Ok(event), connection))
        }),
    );
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// Records what the local server made of one attempt, as that attempt's outcome.
#[utoipa::path(
    post,
    path = "/v1/listeners/{id}/results",
    operation_id = "reportListenerResult",
    tag = "listeners",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The listener's id (`wh_…`)")),
    request_body = AttemptResult,
    responses(
        (status = 204, description = "Recorded as the attempt's outcome"),
        (status = 409, description = "This attempt is not awaiting a result (timed out, or its stream closed)", content_type = "application/problem+json", body = Problem),
    )
)]
async fn report(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(id): IdPath<WebhookId>,
    JsonBody(body): JsonBody<AttemptResult>,
) -> ApiResult<StatusCode> {
    body.check()?;
    let report = Report {
        status_code: body.status_code,
        error_class: body.error_class,
        response_ms: body.response_ms,
        response_body: body.response_body,
        error_message: body.error_message,
    };
    state
        .app
        .report_listener_attempt(
            &auth.workspace_id,
            &id,
            &body.delivery_id,
            body.attempt,
            report,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
