//! `GET|POST /v1/api-keys`, `DELETE /v1/api-keys/{id}`: a workspace's API keys.
//!
//! Invariants: a key's value exists only in the 201 answer that creates it (the store
//! keeps its SHA-256 hash and a short hint); lists show the hint, never the value; keys
//! are never logged. Revoking takes effect on the next request made with the key; the
//! workspace's last live key cannot be revoked (409).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use domain::{ApiKeyId, WorkspaceId};
use serde::{Deserialize, Serialize};
use store::ApiKey;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Shared;
use crate::auth::Authenticated;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiQuery, IdPath, JsonBody};
use crate::pagination::{List, PageParams};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    #[schema(schema_with = crate::field_schemas::name)]
    pub name: String,
}

/// A key as lists show it: no value, only the hint.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyBody {
    #[schema(value_type = String, example = "ak_01JABCDEF0123456789ABCDEFG")]
    pub id: ApiKeyId,
    #[schema(value_type = String)]
    pub workspace_id: WorkspaceId,
    pub name: String,
    /// The key's prefix and last four characters (`awk_...x7Qz`), to tell keys apart.
    pub hint: String,
    pub created_at: DateTime<Utc>,
}

impl From<ApiKey> for ApiKeyBody {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id,
            workspace_id: key.workspace_id,
            name: key.name,
            hint: key.hint,
            created_at: key.created_at,
        }
    }
}

/// A key just created: the only answer that carries its value.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub meta: ApiKeyBody,
    /// The key itself (`awk_…`), shown this once.
    pub key: String,
}

impl From<usecases::CreatedKey> for CreatedApiKey {
    fn from(created: usecases::CreatedKey) -> Self {
        Self {
            meta: created.key.into(),
            key: created.value,
        }
    }
}

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// Lists the workspace's live keys (hints only, never values).
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    operation_id = "listApiKeys",
    tag = "api-keys",
    security(("api_key" = [])),
    params(PageParams<ApiKeyId>),
    responses(
        (status = 200, description = "One page of keys", body = List<ApiKeyBody>),
        (status = 400, description = "A bad `limit` or `cursor`", content_type = "application/problem+json", body = Problem),
    )
)]
async fn list(
    State(state): State<Shared>,
    auth: Authenticated,
    ApiQuery(params): ApiQuery<PageParams<ApiKeyId>>,
) -> ApiResult<Json<List<ApiKeyBody>>> {
    let page = state
        .app
        .list_api_keys(&auth.workspace_id, params.to_request()?)
        .await?;
    Ok(Json(List::from_page(page, ApiKeyBody::from)))
}

/// Creates a key; its value is in this answer only.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    operation_id = "createApiKey",
    tag = "api-keys",
    security(("api_key" = [])),
    request_body = CreateApiKey,
    responses((status = 201, description = "Created; `key` is shown this once", body = CreatedApiKey))
)]
async fn create(
    State(state): State<Shared>,
    auth: Authenticated,
    JsonBody(body): JsonBody<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let created = state
        .app
        .create_api_key(&auth.workspace_id, &body.name)
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Revokes a key; requests made with it fail from now on.
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    operation_id = "revokeApiKey",
    tag = "api-keys",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The key's id (`ak_…`)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 409, description = "The workspace's last live key: create another first", content_type = "application/problem+json", body = Problem),
    )
)]
async fn revoke(
    State(state): State<Shared>,
    auth: Authenticated,
    IdPath(id): IdPath<ApiKeyId>,
) -> ApiResult<StatusCode> {
    state.app.revoke_api_key(&auth.workspace_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
