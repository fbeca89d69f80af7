//! `GET|POST /v1/event-types`, `PATCH /v1/event-types/{name}`: a workspace's catalog of
//! event types.
//!
//! Every workspace holds the guide's five built-in types; it may add its own. The rules
//! (name syntax, the reserved `webhook.test`, field lengths, payload schemas that must be
//! valid JSON Schema draft 2020-12) are the use case's; a name that exists is a 409.
//! Each type is answered with the payload schema publishing checks its `data` against
//! (`schema`: its own, a built-in type's built-in one, or `null`).

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use store::EventType;
use usecases::{EventTypeChanges, EventTypeDraft};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Shared;
use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult, Problem};
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
    /// A JSON Schema (draft 2020-12) that every published `data` of this type must match;
    /// absent or `null`: none.
    #[serde(default)]
    #[schema(schema_with = field_schemas::payload_schema_or_null)]
    pub schema: Option<Value>,
}

/// Every field optional; an absent field stays as it is. A built-in type takes only
/// `schema`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEventType {
    /// `null` leaves it as it is.
    #[serde(default)]
    #[schema(schema_with = field_schemas::category_or_null)]
    pub category: Option<String>,
    /// `null` leaves it as it is.
    #[serde(default)]
    #[schema(schema_with = field_schemas::description_or_null)]
    pub description: Option<String>,
    /// A new JSON Schema (draft 2020-12) for `data`; `null` removes the type's own
    /// schema (a built-in type goes back to its built-in one).
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = field_schemas::payload_schema_or_null)]
    pub schema: Option<Option<Value>>,
}

/// A field that is present, `null` included (`Some(None)`), as opposed to absent (`None`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<Value>>, D::Error> {
    Option::<Value>::deserialize(deserializer).map(Some)
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
    /// The JSON Schema (draft 2020-12) a published `data` of this type must match: the
    /// type's own, or for a built-in type without one its built-in schema; `null` when
    /// the type has none (anything is accepted).
    #[schema(schema_with = field_schemas::payload_schema_or_null)]
    pub schema: Option<Value>,
}

impl From<EventType> for EventTypeBody {
    fn from(t: EventType) -> Self {
        // Raw, so that the example keeps the order of its fields as written.
        let example = domain::catalog::example_data(&t.name).map(|data| {
            serde_json::value::RawValue::from_string(data.to_owned())
                .expect("catalog examples are JSON")
        });
        let schema = usecases::schemas::effective_schema(&t);
        Self {
            name: t.name,
            category: t.category,
            example,
            description: t.description,
            builtin: t.builtin,
            schema,
        }
    }
}

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update))
}

/// The type name of the path's `{name}`; a name that does not parse is looked up anyway
/// (and not found), like any name the catalog lacks.
pub struct TypeNamePath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TypeNamePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let Path(name) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::NotFound(rejection.body_text()))?;
        Ok(Self(name))
    }
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
    State(state): State<Shared>,
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
        (status = 422, description = "A bad name, category or description, or a `schema` that is not a valid JSON Schema (draft 2020-12): not an object, failing the meta-schema, naming another draft in `$schema`, a `$ref` outside itself (nothing is fetched), or over 64 KiB", content_type = "application/problem+json", body = Problem),
    )
)]
async fn create(
    State(state): State<Shared>,
    auth: Authenticated,
    JsonBody(body): JsonBody<CreateEventType>,
) -> ApiResult<(StatusCode, Json<EventTypeBody>)> {
    let draft = EventTypeDraft {
        name: body.name,
        category: body.category,
        description: body.description,
        schema: body.schema,
    };
    let created = state.app.add_event_type(&auth.workspace_id, &draft).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Changes a type of the catalog: its payload schema (any type), its category and
/// description (added types only). Publishes answered after this are checked against the
/// new schema.
#[utoipa::path(
    patch,
    path = "/v1/event-types/{name}",
    operation_id = "updateEventType",
    tag = "event-types",
    security(("api_key" = [])),
    params(("name" = String, Path, description = "The type's name (`invoice.paid`)")),
    request_body = UpdateEventType,
    responses(
        (status = 200, description = "The changed type", body = EventTypeBody),
        (status = 422, description = "A `schema` that is not a valid JSON Schema (draft 2020-12), or a category or description change of a built-in type", content_type = "application/problem+json", body = Problem),
    )
)]
async fn update(
    State(state): State<Shared>,
    auth: Authenticated,
    TypeNamePath(name): TypeNamePath,
    JsonBody(body): JsonBody<UpdateEventType>,
) -> ApiResult<Json<EventTypeBody>> {
    let changes = EventTypeChanges {
        category: body.category,
        description: body.description,
        schema: body.schema,
    };
    let changed = state
        .app
        .change_event_type(&auth.workspace_id, &name, &changes)
        .await?;
    Ok(Json(changed.into()))
}
