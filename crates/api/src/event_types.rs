//! `GET|POST /v1/event-types`: a workspace's catalog of event types.
//!
//! Every workspace holds the guide's five built-in types; it may add its own. The rules
//! (name syntax, the reserved `webhook.test`, field lengths) are the use case's; a name
//! that exists is a 409.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use store::EventType;
use usecases::EventTypeDraft;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiQuery, JsonBody};
use crate::field_schemas;
use crate::pagination::{ByTypeName, List, PageParams};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEventType {
    /// `name` is accepted too, since that is what the catalog answers with.
    #[serde(rename = "type", alias = "name")]
    #[schema(schema_with = field_schemas::new_type_name)]
    pub name: String,
    #[schema(schema_with = field_schemas::category)]
    pub category: String,
    #[serde(default)]
    #[schema(schema_with = field_schemas::description)]
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeBody {
    pub name: String,
    pub category: String,
    pub description: String,
    /// One of the five types every workspace starts with.
    pub builtin: bool,
    /// A realistic `data` of this type (what `admin-webhooks trigger` publishes); `null`
    /// for a type the workspace added.
    #[schema(value_type = Option<Object>)]
    pub example: Option<Box<serde_json::value::RawValue>>,
}

impl From<EventType> for EventTypeBody {
    fn from(t: EventType) -> Self {
        // Raw, so that the example keeps the order of its fields as written.
        let example = domain::catalog::example_data(&t.name).map(|data| {
            serde_json::value::RawValue::from_string(data.to_owned())
                .expect("catalog examples are JSON")
        });
        Self {
            name: t.name,
            category: t.category,
            example,
            description: t.description,
            builtin: t.builtin,
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create))
}

/// The catalog is small and the store returns it whole; it is paged here by name so
/// that it answers like every other list.
/// The workspace's catalog, by name.
#[utoipa::path(
    get,
    path = "/v1/event-types",
    operation_id = "listEventTypes",
    tag = "event-types",
    security(("api_key" = [])),
    params(PageParams<ByTypeName>),
    responses(
        (status = 200, description = "One page of the catalog", body = List<EventTypeBody>),
        (status = 400, description = "A bad `limit` or `cursor`", content_type = "application/problem+json", body = Problem),
    )
)]
async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiQuery(params): ApiQuery<PageParams<ByTypeName>>,
) -> ApiResult<Json<List<EventTypeBody>>> {
    let page = params.to_request()?;
    let types = state.app.list_event_types(&auth.workspace_id).await?;
    let bodies = types.into_iter().map(EventTypeBody::from).collect();
    Ok(Json(List::from_whole(bodies, &page, |t| &t.name)?))
}

/// Adds a type to the workspace's catalog.
#[utoipa::path(
    post,
    path = "/v1/event-types",
    operation_id = "createEventType",
    tag = "event-types",
    security(("api_key" = [])),
    request_body = CreateEventType,
    responses(
        (status = 201, description = "Added", body = EventTypeBody),
        (status = 409, description = "A type of that name exists", content_type = "application/problem+json", body = Problem),
    )
)]
async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(body): JsonBody<CreateEventType>,
) -> ApiResult<(StatusCode, Json<EventTypeBody>)> {
    let draft = EventTypeDraft {
        name: body.name,
        category: body.category,
        description: body.description,
    };
    let created = state.app.add_event_type(&auth.workspace_id, &draft).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}
