//! Endpoints ("webhooks"): `POST|GET /v1/webhooks`, `GET|PATCH|DELETE /v1/webhooks/{id}`,
//! and `POST /v1/webhooks/{id}/test`.
//!
//! Invariants:
//! - A stored URL has passed [`crate::destination`] (https and public addresses outside
//!   `--dev`); a PATCH that changes the URL passes the same check.
//! - `events` is a non-empty list of subscriptions (`user.created`, `user.*`, `*`); an
//!   exact type must be in the workspace's catalog, a group may name types that do not
//!   exist yet (it matches types added later).
//! - The signing secret is generated here (`whsec_` + base64 of 32 random bytes) and shown
//!   by create and get, which the dashboard uses to reveal it; lists leave it out.
//! - The limit of enabled webhooks is enforced by the store (`LimitReached` → 409).

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::catalog::TEST_EVENT_TYPE;
use domain::signature::generate_secret;
use domain::{Subscription, WebhookId, WorkspaceId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use store::{NewEvent, NewWebhook, Webhook, WebhookPatch};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticated;
use crate::destination::check_destination;
use crate::error::{ApiError, ApiResult, NotFoundAs, Problem};
use crate::events::{EventBody, published_response};
use crate::extract::{ApiQuery, IdPath, JsonBody};
use crate::pagination::{List, PageParams};
use crate::{AppState, fields};

const MAX_DESCRIPTION: usize = 500;
/// More subscriptions than this is a mistake; `*` or groups say it shorter.
const MAX_SUBSCRIPTIONS: usize = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `https://` with a host that resolves to public addresses only (unless `--dev`).
    #[schema(example = "https://api.example.com/webhooks")]
    pub url: String,
    /// Event types (`user.created`), groups (`user.*`) or `*`.
    #[schema(example = json!(["user.*", "order.completed"]))]
    pub events: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Defaults to true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Every field optional; an absent (or null) field stays as it is.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    #[schema(value_type = String, example = "wh_01JABCDEF0123456789ABCDEFG")]
    pub id: WebhookId,
    #[schema(value_type = String)]
    pub workspace_id: WorkspaceId,
    pub url: String,
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

/// Parses `events` and checks that every exact type is in the workspace's catalog. Public
/// so that the dashboard validates with the same rules and messages.
pub async fn subscriptions(
    state: &AppState,
    workspace: &WorkspaceId,
    events: &[String],
) -> ApiResult<Vec<Subscription>> {
    if events.is_empty() {
        return Err(ApiError::Validation(
            "`events` must list at least one event type (`user.created`), group (`user.*`) or `*`."
                .to_owned(),
        ));
    }
    if events.len() > MAX_SUBSCRIPTIONS {
        return Err(ApiError::Validation(format!(
            "`events` lists more than {MAX_SUBSCRIPTIONS} entries; subscribe to groups (`user.*`) or `*` instead."
        )));
    }
    let mut seen = HashSet::new();
    let mut parsed = Vec::with_capacity(events.len());
    for text in events {
        let subscription = Subscription::parse(text)
            .map_err(|e| ApiError::Validation(format!("In `events`: {e}.")))?;
        if seen.insert(subscription.clone()) {
            parsed.push(subscription);
        }
    }
    if parsed.iter().any(|s| s.exact().is_some()) {
        let catalog = state.store.list_event_types(workspace).await?;
        let known: HashSet<&str> = catalog.iter().map(|t| t.name.as_str()).collect();
        if let Some(unknown) = parsed
            .iter()
            .filter_map(Subscription::exact)
            .find(|name| !known.contains(name))
        {
            return Err(ApiError::UnknownEventType(unknown.to_owned()));
        }
    }
    Ok(parsed)
}

/// Checks a webhook's description (the dashboard uses it too).
pub fn description(text: &str) -> ApiResult<String> {
    fields::optional("description", text, MAX_DESCRIPTION)
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
    let description = description(body.description.as_deref().unwrap_or(""))?;
    let events = subscriptions(&state, &auth.workspace_id, &body.events).await?;
    let url = check_destination(state.url_policy(), &body.url).await?;
    let new = NewWebhook {
        url: url.into(),
        description,
        events,
        enabled: body.enabled.unwrap_or(true),
        secret: generate_secret(),
    };
    let hook = state.store.create_webhook(&auth.workspace_id, new).await?;
    Ok((StatusCode::CREATED, Json(WebhookBody::with_secret(hook))))
}

/// Lists the workspace's endpoints by id (without secrets).
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    operation_id = "listWebhooks",
    tag = "webhooks",
    security(("api_key" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "One page of endpoints", body = List<WebhookBody>),
        (status = 400, description = "A bad `limit` or `cursor`", content_type = "application/problem+json", body = Problem),
    )
)]
async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<List<WebhookBody>>> {
    let page = state
        .store
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
    let hook = state
        .store
        .get_webhook(&auth.workspace_id, &id)
        .await
        .not_found_as("webhook", &id)?;
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
    let mut patch = WebhookPatch {
        enabled: body.enabled,
        ..WebhookPatch::default()
    };
    if let Some(text) = &body.description {
        patch.description = Some(description(text)?);
    }
    if let Some(events) = &body.events {
        patch.events = Some(subscriptions(&state, &auth.workspace_id, events).await?);
    }
    if let Some(url) = &body.url {
        patch.url = Some(check_destination(state.url_policy(), url).await?.into());
    }
    let unchanged = patch.url.is_none()
        && patch.description.is_none()
        && patch.events.is_none()
        && patch.enabled.is_none();
    let hook = if unchanged {
        state.store.get_webhook(&auth.workspace_id, &id).await
    } else {
        state
            .store
            .update_webhook(&auth.workspace_id, &id, patch)
            .await
    };
    let hook = hook.not_found_as("webhook", &id)?;
    if !unchanged {
        // The lane re-reads its URL and secrets, or starts again when re-enabled.
        (state.resync_lanes)(std::slice::from_ref(&id));
    }
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
    state
        .store
        .delete_webhook(&auth.workspace_id, &id)
        .await
        .not_found_as("webhook", &id)?;
    // A lane sleeping in backoff learns now that its endpoint is gone.
    (state.resync_lanes)(std::slice::from_ref(&id));
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
    let hook = state
        .store
        .get_webhook(&auth.workspace_id, &id)
        .await
        .not_found_as("webhook", &id)?;
    if !hook.enabled {
        return Err(ApiError::Conflict(format!(
            "Webhook `{id}` is disabled, so it receives nothing, test events included. Enable it first."
        )));
    }
    let data = RawValue::from_string(r#"{"test":true}"#.to_owned()).expect("literal JSON");
    let new = NewEvent {
        workspace_id: auth.workspace_id,
        event_type: TEST_EVENT_TYPE.to_owned(),
        data,
        metadata: None,
        idempotency_key: None,
        only_webhook: Some(id.clone()),
    };
    let published = state
        .store
        .publish(new)
        .await
        .not_found_as("webhook", &id)?;
    Ok(published_response(&state, published))
}
