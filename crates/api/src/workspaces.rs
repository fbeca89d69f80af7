//! The operator API: `POST|GET /v1/workspaces`, `GET|PATCH /v1/workspaces/{id}`,
//! `POST /v1/workspaces/{id}/api-keys`.
//!
//! Only the operator key opens these routes (see [`crate::auth::Operator`]). Creating a
//! workspace also creates its first API key, whose value appears only in that answer;
//! the operator can issue further keys to an existing workspace the same way (the way
//! back in for a workspace that lost its keys).
//! The limit of enabled webhooks can be raised or lowered (0..=10000); lowering it below
//! the current count disables nothing, it only stops further enabling.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use domain::WorkspaceId;
use serde::{Deserialize, Serialize};
use store::Workspace;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Shared;
use crate::api_keys::{CreateApiKey, CreatedApiKey};
use crate::auth::Operator;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiQuery, IdPath, JsonBody};
use crate::pagination::{List, PageParams};

pub use usecases::MAX_WEBHOOK_LIMIT;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    #[schema(schema_with = crate::field_schemas::name)]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspace {
    /// The most enabled webhooks the workspace may have, 0 to 10000. (Read wider than
    /// the store's `u32` so that a too-large number gets our message.)
    #[schema(minimum = 0, maximum = 10000, example = 200)]
    #[serde(deserialize_with = "crate::extract::whole_number")]
    pub max_enabled_webhooks: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceBody {
    #[schema(value_type = String, example = "ws_01JABCDEF0123456789ABCDEFG")]
    pub id: WorkspaceId,
    pub name: String,
    pub max_enabled_webhooks: u32,
    pub created_at: DateTime<Utc>,
}

impl From<Workspace> for WorkspaceBody {
    fn from(ws: Workspace) -> Self {
        Self {
            id: ws.id,
            name: ws.name,
            max_enabled_webhooks: ws.max_enabled_webhooks,
            created_at: ws.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedWorkspace {
    pub workspace: WorkspaceBody,
    pub api_key: CreatedApiKey,
}

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update))
        .routes(routes!(issue_key))
}

/// Creates a workspace and its first API key, whose value this answer alone carries.
#[utoipa::path(
    post,
    path = "/v1/workspaces",
    operation_id = "createWorkspace",
    tag = "workspaces",
    security(("operator_key" = [])),
    request_body = CreateWorkspace,
    responses(
        (status = 201, description = "Created, with its first API key", body = CreatedWorkspace),
        (status = 403, description = "The operator API is disabled", content_type = "application/problem+json", body = Problem),
    )
)]
async fn create(
    State(state): State<Shared>,
    _: Operator,
    JsonBody(body): JsonBody<CreateWorkspace>,
) -> ApiResult<(StatusCode, Json<CreatedWorkspace>)> {
    let created = state.app.create_workspace(&body.name).await?;
    let created = CreatedWorkspace {
        workspace: created.workspace.into(),
        api_key: created.first_key.into(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Lists workspaces by id.
#[utoipa::path(
    get,
    path = "/v1/workspaces",
    operation_id = "listWorkspaces",
    tag = "workspaces",
    security(("operator_key" = [])),
    params(PageParams<WorkspaceId>),
    responses(
        (status = 200, description = "One page of workspaces", body = List<WorkspaceBody>),
        (status = 400, description = "A bad `limit` or `cursor`", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "The operator API is disabled", content_type = "application/problem+json", body = Problem),
    )
)]
async fn list(
    State(state): State<Shared>,
    _: Operator,
    ApiQuery(params): ApiQuery<PageParams<WorkspaceId>>,
) -> ApiResult<Json<List<WorkspaceBody>>> {
    let page = state.app.list_workspaces(params.to_request()?).await?;
    Ok(Json(List::from_page(page, WorkspaceBody::from)))
}

/// One workspace.
#[utoipa::path(
    get,
    path = "/v1/workspaces/{id}",
    operation_id = "getWorkspace",
    tag = "workspaces",
    security(("operator_key" = [])),
    params(("id" = String, Path, description = "The workspace's id (`ws_…`)")),
    responses(
        (status = 200, description = "The workspace", body = WorkspaceBody),
        (status = 403, description = "The operator API is disabled", content_type = "application/problem+json", body = Problem),
    )
)]
async fn show(
    State(state): State<Shared>,
    _: Operator,
    IdPath(id): IdPath<WorkspaceId>,
) -> ApiResult<Json<WorkspaceBody>> {
    let workspace = state.app.get_workspace(&id).await?;
    Ok(Json(workspace.into()))
}

/// Raises or lowers the workspace's limit of enabled webhooks.
#[utoipa::path(
    patch,
    path = "/v1/workspaces/{id}",
    operation_id = "updateWorkspace",
    tag = "workspaces",
    security(("operator_key" = [])),
    params(("id" = String, Path, description = "The workspace's id (`ws_…`)")),
    request_body = UpdateWorkspace,
    responses(
        (status = 200, description = "The workspace with its new limit", body = WorkspaceBody),
        (status = 403, description = "The operator API is disabled", content_type = "application/problem+json", body = Problem),
    )
)]
async fn update(
    State(state): State<Shared>,
    _: Operator,
    IdPath(id): IdPath<WorkspaceId>,
    JsonBody(body): JsonBody<UpdateWorkspace>,
) -> ApiResult<Json<WorkspaceBody>> {
    let workspace = state
        .app
        .set_webhook_limit(&id, body.max_enabled_webhooks)
        .await?;
    Ok(Json(workspace.into()))
}

/// Issues a new API key to an existing workspace; its value is in this answer only.
#[utoipa::path(
    post,
    path = "/v1/workspaces/{id}/api-keys",
    operation_id = "issueWorkspaceApiKey",
    tag = "workspaces",
    security(("operator_key" = [])),
    params(("id" = String, Path, description = "The workspace's id (`ws_…`)")),
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "Created; `key` is shown this once", body = CreatedApiKey),
        (status = 403, description = "The operator API is disabled", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "No such workspace", content_type = "application/problem+json", body = Problem),
        (status = 422, description = "A missing or too long `name`", content_type = "application/problem+json", body = Problem),
    )
)]
async fn issue_key(
    State(state): State<Shared>,
    _: Operator,
    IdPath(id): IdPath<WorkspaceId>,
    JsonBody(body): JsonBody<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let created = state.app.create_api_key(&id, &body.name).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}
