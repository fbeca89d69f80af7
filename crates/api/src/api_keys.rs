//! `GET|POST /v1/api-keys`, `DELETE /v1/api-keys/{id}`: a workspace's API keys.
//!
//! Invariants: a key's value exists only in the 201 answer that creates it (the store
//! keeps its SHA-256 hash and a short hint); lists show the hint, never the value; keys
//! are never logged. Revoking takes effect on the next request made with the key.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use domain::api_key::{generate_key, hash_key, key_hint};
use domain::{ApiKeyId, WorkspaceId};
use serde::{Deserialize, Serialize};
use store::{ApiKey, NewApiKey};

use crate::auth::Authenticated;
use crate::error::{ApiResult, NotFoundAs};
use crate::extract::{ApiQuery, IdPath, JsonBody};
use crate::pagination::{List, PageParams};
use crate::{AppState, fields};

const MAX_NAME: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
}

/// A key as lists show it: no value, only the hint.
#[derive(Debug, Serialize)]
pub struct ApiKeyBody {
    pub id: ApiKeyId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
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
#[derive(Serialize)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub meta: ApiKeyBody,
    /// The key itself (`awk_…`), shown this once.
    pub key: String,
}

/// A fresh key value and what the store keeps of it.
pub fn new_key(name: String) -> (String, NewApiKey) {
    let key = generate_key();
    let record = NewApiKey {
        name,
        hash: hash_key(&key),
        hint: key_hint(&key),
    };
    (key, record)
}

/// Checks a key's name (required, at most 100 characters).
pub fn key_name(name: &str) -> ApiResult<String> {
    fields::required("name", name, MAX_NAME)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/api-keys", get(list).post(create))
        .route("/v1/api-keys/{id}", delete(revoke))
}

async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<List<ApiKeyBody>>> {
    let page = state
        .store
        .list_api_keys(&auth.workspace_id, params.to_request()?)
        .await?;
    Ok(Json(List::from_page(page, ApiKeyBody::from)))
}

async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(body): JsonBody<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let (key, record) = new_key(key_name(&body.name)?);
    let created = state
        .store
        .create_api_key(&auth.workspace_id, record)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            meta: created.into(),
            key,
        }),
    ))
}

async fn revoke(
    State(state): State<AppState>,
    auth: Authenticated,
    IdPath(id): IdPath<ApiKeyId>,
) -> ApiResult<StatusCode> {
    state
        .store
        .revoke_api_key(&auth.workspace_id, &id)
        .await
        .not_found_as("API key", &id)?;
    Ok(StatusCode::NO_CONTENT)
}
