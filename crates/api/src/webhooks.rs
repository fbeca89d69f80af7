//! Endpoints ("webhooks"): `POST|GET /v1/webhooks`, `GET|PATCH|DELETE /v1/webhooks/{id}`,
//! and `POST /v1/webhooks/{id}/test`.
//!
//! Invariants:
//! Thin handlers over the use cases (`usecases::Application`), which hold every rule:
//! the URL check, subscriptions, the limit of enabled webhooks (409), lane resyncs.
//!
//! Invariant: the signing secret is shown by create and get; lists leave it out.
//! Invariant: custom header values are write-only: every answer shows them masked
//! ([`domain::custom_headers::masked`]), lists included.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::{RateLimit, RatePeriod, WebhookId, WorkspaceId};
use serde::{Deserialize, Serialize};
use store::Webhook;
use usecases::{RateLimitDraft, WebhookChanges, WebhookDraft};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Shared;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, Problem};
use crate::events::{EventBody, published_response};
use crate::extract::{ApiQuery, IdPath, JsonBody};
use crate::field_schemas;
use crate::pagination::{List, PageParams};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `https://` with a host that resolves to public addresses only (unless `--dev`).
    #[schema(schema_with = field_schemas::webhook_url)]
    pub url: String,
    /// Event types (`user.created`), groups (`user.*`) or `*`.
    #[schema(schema_with = field_schemas::subscriptions)]
    pub events: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = field_schemas::description_or_null)]
    pub description: Option<String>,
    /// Defaults to true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// At most this many attempts per second or per minute (`{"per_second": 20}` or
    /// `{"per_minute": 600}`, 1 to 10000); absent or `null`: no limit. A backlog drains at
    /// this pace, in order.
    #[serde(default)]
    #[schema(schema_with = field_schemas::rate_limit_or_null)]
    pub rate_limit: Option<RateLimitBody>,
    /// Headers added to every attempt (e.g. an `Authorization` for a receiver behind an
    /// API gateway): at most 10; names are HTTP tokens that are not the service's own;
    /// values are single-line visible ASCII, at most 1024 characters. Stored encrypted;
    /// answers show the values masked.
    #[serde(default)]
    #[schema(schema_with = field_schemas::custom_headers_or_null)]
    pub headers: Option<BTreeMap<String, String>>,
}

/// `{"per_second": n}` or `{"per_minute": n}`: exactly one of the two.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitBody {
    #[serde(default, deserialize_with = "some_whole_number")]
    per_second: Option<u64>,
    #[serde(default, deserialize_with = "some_whole_number")]
    per_minute: Option<u64>,
}

/// A present field holds a whole number (never `null`).
fn some_whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    crate::extract::whole_number(deserializer).map(Some)
}

/// A field that is present, `null` included: `Some(None)` for `null`, while an absent
/// one stays `None` (with `#[serde(default)]`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

impl RateLimitBody {
    fn draft(self) -> ApiResult<RateLimitDraft> {
        match (self.per_second, self.per_minute) {
            (Some(count), None) => Ok(RateLimitDraft {
                period: RatePeriod::Second,
                count,
            }),
            (None, Some(count)) => Ok(RateLimitDraft {
                period: RatePeriod::Minute,
                count,
            }),
            _ => Err(ApiError::Validation(
                "`rate_limit` must set exactly one of `per_second` or `per_minute` (for \
                 example `{\"per_second\": 20}`), or be null for no limit."
                    .to_owned(),
            )),
        }
    }
}

fn rate_limit_draft(body: Option<RateLimitBody>) -> ApiResult<Option<RateLimitDraft>> {
    body.map(RateLimitBody::draft).transpose()
}

/// Every field optional; an absent (or null) field stays as it is.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[schema(schema_with = field_schemas::webhook_url_or_null)]
    pub url: Option<String>,
    #[schema(schema_with = field_schemas::subscriptions_or_null)]
    pub events: Option<Vec<String>>,
    #[schema(schema_with = field_schemas::description_or_null)]
    pub description: Option<String>,
    pub enabled: Option<bool>,
    /// A new rate limit; `null` removes it (unlike the other fields, where `null` leaves
    /// them as they are); absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = field_schemas::rate_limit_or_null)]
    pub rate_limit: Option<Option<RateLimitBody>>,
    /// Replaces every custom header (`{}` removes them all); absent or `null` leaves them.
    #[schema(schema_with = field_schemas::custom_headers_or_null)]
    pub headers: Option<BTreeMap<String, String>>,
}

/// What an endpoint is: an HTTPS URL the service posts to, or a listener of
/// `admin-webhooks listen` (URL `listen://<name>`), delivered to over the command's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    Http,
    Listener,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    #[schema(value_type = String, example = "wh_01JABCDEF0123456789ABCDEFG")]
    pub id: WebhookId,
    #[schema(value_type = String)]
    pub workspace_id: WorkspaceId,
    pub url: String,
    /// `listener` for an endpoint of `admin-webhooks listen` (not counted against the
    /// limit of enabled webhooks), `http` for every other.
    pub kind: WebhookKind,
    pub description: String,
    pub events: Vec<String>,
    pub enabled: bool,
    /// The signing secret; `None` (left out) in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// `{"per_second": n}`, `{"per_minute": n}`, or `null` for no limit.
    #[schema(schema_with = field_schemas::rate_limit_or_null)]
    pub rate_limit: Option<RateLimit>,
    /// The custom headers, each value masked: at most its first quarter (4 characters at
    /// most) and its length, as `Bear…(17 chars)`. Values are never shown in full.
    #[schema(schema_with = field_schemas::masked_headers)]
    pub headers: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookBody {
    pub fn with_secret(hook: Webhook) -> Self {
        let secret = Some(hook.secret.clone());
        Self {
            secret,
            ..Self::without_secret(hook)
        }
    }

    pub fn without_secret(hook: Webhook) -> Self {
        Self {
            id: hook.id,
            workspace_id: hook.workspace_id,
            kind: if domain::listener::is_listener_url(&hook.url) {
                WebhookKind::Listener
            } else {
                WebhookKind::Http
            },
            url: hook.url,
            description: hook.description,
            events: hook.events.iter().map(ToString::to_string).collect(),
            enabled: hook.enabled,
            secret: None,
            rate_limit: hook.rate_limit,
            headers: hook
                .headers
                .masked()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            created_at: hook.created_at,
            updated_at: hook.updated_at,
        }
    }
}

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(send_test))
}

/// Registers an endpoint; the answer carries its signing secret.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    operation_id = "createWebhook",
    tag = "webhooks",
    security(("api_key" = [])),
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Registered, with its `secret`", body = WebhookBody),
        (status = 409, description = "The workspace's limit of enabled webhooks is reached", content_type = "application/problem+json", body = Problem),
    )
)]
async fn create(
    State(state): State<Shared>,
    auth: Authenticated,
    JsonBody(body): JsonBody<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<WebhookBody>)> {
    let draft = WebhookDraft {
        url: body.url,
        events: body.events,
        description: body.description.unwrap_or_default(),
        enabled: body.enabled.unwrap_or(true),
        rate_limit: rate_limit_draft(body.rate_limit)?,
        headers: body.headers.unwrap_or_default().into_iter().collect(),
    };
    let hook = state.app.create_webhook(&auth.workspace_id, draft).await?;
    Ok((StatusCode::CREATED, Json(WebhookBody::with_secret(hook))))
}

/// Lists the workspace's endpoints by id (without secrets).
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    operation_id = "listWebhooks",
    tag = "webhooks",
    security(("api_key" = [])),
    params(PageParams<WebhookId>),
    responses(
        (status = 200, description = "One page of endpoints", body = List<WebhookBody>),
        (status = 400, description = "A bad `limit` or `cursor`", content_type = "application/problem+json", body = Problem),
    )
)]
async fn list(
    State(state): State<Shared>,
    auth: Authenticated,
    ApiQuery(params): ApiQuery<PageParams<WebhookId>>,
) -> ApiResult<Json<List<WebhookBody>>> {
    let page = state
        .app
        .list_webhooks(&auth.workspace_id, params.to_request()?)
        .await?;
    Ok(Json(List::from_page(page, WebhookBody::without_secret)))
}

/// One endpoint, with its signing secret.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    operation_id = "getWebhook",
    tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`)")),
    responses((status = 200, description = "The endpoint", body = WebhookBody))
)]
async fn show(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(id): IdPath<WebhookId>,
) -> ApiResult<Json<WebhookBody>> {
    let hook = state.app.get_webhook(&auth.workspace_id, &id).await?;
    Ok(Json(WebhookBody::with_secret(hook)))
}

/// Changes an endpoint; absent fields stay as they are.
#[utoipa::path(
    patch,
    path = "/v1/webhooks/{id}",
    operation_id = "updateWebhook",
    tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`)")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The changed endpoint", body = WebhookBody),
        (status = 409, description = "Enabling it would pass the workspace's limit", content_type = "application/problem+json", body = Problem),
    )
)]
async fn update(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(id): IdPath<WebhookId>,
    JsonBody(body): JsonBody<UpdateWebhook>,
) -> ApiResult<Json<WebhookBody>> {
    let changes = WebhookChanges {
        url: body.url,
        events: body.events,
        description: body.description,
        enabled: body.enabled,
        rate_limit: body.rate_limit.map(rate_limit_draft).transpose()?,
        headers: body.headers.map(|h| h.into_iter().collect()),
    };
    let hook = state
        .app
        .update_webhook(&auth.workspace_id, &id, changes)
        .await?;
    Ok(Json(WebhookBody::with_secret(hook)))
}

/// Deletes an endpoint with its deliveries and their log.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    operation_id = "deleteWebhook",
    tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`)")),
    responses((status = 204, description = "Deleted"))
)]
async fn remove(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(id): IdPath<WebhookId>,
) -> ApiResult<StatusCode> {
    state.app.delete_webhook(&auth.workspace_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/test",
    operation_id = "sendTestEvent",
    tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`)")),
    responses(
        (status = 202, description = "The test event, published", body = EventBody),
        (status = 409, description = "The endpoint is disabled", content_type = "application/problem+json", body = Problem),
    )
)]
/// Publishes a `webhook.test` event (`{"test": true}`) to this endpoint alone, through
/// the normal delivery path, so it shows in the activity log like any other.
async fn send_test(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(id): IdPath<WebhookId>,
) -> ApiResult<Response> {
    let published = state.app.send_test_event(&auth.workspace_id, &id).await?;
    Ok(published_response(published))
}
