//! Endpoints ("webhooks"): `POST|GET /v1/webhooks`, `GET|PATCH|DELETE /v1/webhooks/{id}`,
//! and `POST /v1/webhooks/{id}/test`.
//!
//! Invariants:
//! Thin handlers over the use cases (`usecases::Application`), which hold every rule:
//! the URL check, subscriptions, the limit of enabled webhooks (409), lane resyncs.
//!
//! Invariant: the signing secret is shown by create and get; lists leave it out.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::{WebhookId, WorkspaceId};
use serde::{Deserialize, Serialize};
use store::Webhook;
use usecases::{WebhookChanges, WebhookDraft};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiResult, Problem};
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
            created_at: hook.created_at,
            updated_at: hook.updated_at,
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
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
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(body): JsonBody<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<WebhookBody>)> {
    let draft = WebhookDraft {
        url: body.url,
        events: body.events,
        description: body.description.unwrap_or_default(),
        enabled: body.enabled.unwrap_or(true),
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
    State(state): State<AppState>,
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
    State(state): State<AppState>,
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
    State(state): State<AppState>,
    auth: Authenticated,
    IdPath(id): IdPath<WebhookId>,
    JsonBody(body): JsonBody<UpdateWebhook>,
) -> ApiResult<Json<WebhookBody>> {
    let changes = WebhookChanges {
        url: body.url,
        events: body.events,
        description: body.description,
        enabled: body.enabled,
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
    State(state): State<AppState>,
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
    State(state): State<AppState>,
    auth: Authenticated,
    IdPath(id): IdPath<WebhookId>,
) -> ApiResult<Response> {
    let published = state.app.send_test_event(&auth.workspace_id, &id).await?;
    Ok(published_response(published))
}
