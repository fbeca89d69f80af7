//! `GET|POST /v1/event-types`: a workspace's catalog of event types.
//!
//! Every workspace holds the guide's five built-in types; it may add its own. Names follow
//! `domain::validate_type_name` (lowercase words joined by dots); a name that exists is a
//! 409. `webhook.test` is reserved for test events and cannot be added.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use domain::catalog::TEST_EVENT_TYPE;
use domain::{EventTypeDef, validate_type_name};
use serde::{Deserialize, Serialize};
use store::EventType;

use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, JsonBody};
use crate::pagination::{List, PageParams};
use crate::{AppState, fields};

const MAX_CATEGORY: usize = 64;
const MAX_DESCRIPTION: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEventType {
    /// `name` is accepted too, since that is what the catalog answers with.
    #[serde(rename = "type", alias = "name")]
    pub name: String,
    pub category: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct EventTypeBody {
    pub name: String,
    pub category: String,
    pub description: String,
    /// One of the five types every workspace starts with.
    pub builtin: bool,
}

impl From<EventType> for EventTypeBody {
    fn from(t: EventType) -> Self {
        Self {
            name: t.name,
            category: t.category,
            description: t.description,
            builtin: t.builtin,
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/event-types", get(list).post(create))
}

/// The catalog is small and the store returns it whole; it is paged here by name so
/// that it answers like every other list.
async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<List<EventTypeBody>>> {
    let page = params.to_request()?;
    let types = state.store.list_event_types(&auth.workspace_id).await?;
    let bodies = types.into_iter().map(EventTypeBody::from).collect();
    Ok(Json(List::from_whole(bodies, &page, |t| &t.name)))
}

async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(body): JsonBody<CreateEventType>,
) -> ApiResult<(StatusCode, Json<EventTypeBody>)> {
    validate_type_name(&body.name).map_err(|e| ApiError::Validation(e.to_string()))?;
    if body.name == TEST_EVENT_TYPE {
        return Err(ApiError::Validation(format!(
            "`{TEST_EVENT_TYPE}` is reserved for test events (POST /v1/webhooks/{{id}}/test)."
        )));
    }
    let name = body.name;
    let def = EventTypeDef {
        name: name.clone(),
        category: fields::required("category", &body.category, MAX_CATEGORY)?,
        description: fields::optional("description", &body.description, MAX_DESCRIPTION)?,
    };
    let created = state
        .store
        .create_event_type(&auth.workspace_id, def)
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict(_) => ApiError::Conflict(format!(
                "Event type `{name}` already exists in this workspace's catalog."
            )),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(created.into())))
}
