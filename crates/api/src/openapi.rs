//! `GET /openapi.json`: the OpenAPI 3.1 document of the whole service, generated from
//! the code.
//!
//! Each handler carries `#[utoipa::path]` (method, path, parameters, bodies, answers) and
//! each resource registers its routes with `utoipa_axum::routes!`, which takes the method
//! and path *from that description*: a route cannot be served without being documented,
//! nor documented at another path than it is served on. Request and response types derive
//! `utoipa::ToSchema`.
//!
//! What every operation shares is added here once, by [`complete`], rather than repeated
//! on each handler: the problem+json answers every route can give (401 and 429 where a key
//! is needed, 400/413/415/422 where a JSON body is read, 404 where a path names an id, 500
//! everywhere) and the `X-Request-Id` header on every answer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Problem;

/// The security scheme of workspace routes: `Authorization: Bearer <API key>`.
pub const API_KEY: &str = "api_key";
/// The security scheme of operator routes: `Authorization: Bearer <operator key>`.
pub const OPERATOR_KEY: &str = "operator_key";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Admin Webhooks",
        description = "Publish events and manage the HTTPS endpoints (webhooks) they are \
            delivered to: signed, ordered per endpoint, retried, with an activity log. Errors \
            are RFC 9457 `application/problem+json`; every answer carries `X-Request-Id`."
    ),
    components(schemas(Problem, crate::listeners::StreamedDelivery)),
    tags(
        (name = "events", description = "Publishing events and reading them back"),
        (name = "webhooks", description = "Endpoints, their secrets, tests and stats"),
        (name = "listeners", description = "Listener endpoints: deliveries streamed to `admin-webhooks listen` (Server-Sent Events) and their results reported back"),
        (name = "deliveries", description = "The activity log and manual re-sends"),
        (name = "event-types", description = "The workspace's catalog of event types"),
        (name = "api-keys", description = "The workspace's API keys"),
        (name = "workspaces", description = "The operator API"),
        (name = "operations", description = "Probes, metrics and this document"),
    )
)]
struct ApiDoc;

/// The document's base (info, tags, shared schemas) that routes are added to.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The route serving `document` (completed) at `/openapi.json`, itself documented.
pub fn router(document: utoipa::openapi::OpenApi) -> axum::Router {
    let (router, own) = OpenApiRouter::<Arc<Value>>::new()
        .routes(routes!(openapi_json))
        .split_for_parts();
    let mut document = document;
    document.merge(own);
    router.with_state(Arc::new(complete(document)))
}

/// The OpenAPI 3.1 document of this service.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
async fn openapi_json(State(document): State<Arc<Value>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.to_string(),
    )
}

const PROBLEM_REF: &str = "#/components/schemas/Problem";
const REQUEST_ID_REF: &str = "#/components/headers/X-Request-Id";

fn request_id_header() -> Value {
    json!({ "$ref": REQUEST_ID_REF })
}

fn request_id_header_definition() -> Value {
    json!({
        "description": "The request's id (ours, or the caller's own if it was a short plain \
            token); also in problem bodies and on every log line of the request.",
        "schema": { "type": "string" }
    })
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "headers": { "X-Request-Id": request_id_header() },
        "content": { "application/problem+json": { "schema": { "$ref": PROBLEM_REF } } }
    })
}

/// Adds what every operation shares (see the module docs) and the security schemes, on
/// the serialized document: these are plain JSON additions, simpler to state here than
/// through the builder types.
pub fn complete(document: utoipa::openapi::OpenApi) -> Value {
    let mut document = serde_json::to_value(document).expect("an OpenAPI document serializes");
    let bearer = |what: &str| json!({ "type": "http", "scheme": "bearer", "description": what });
    let components = document["components"]
        .as_object_mut()
        .expect("the base declares components");
    components.insert(
        "securitySchemes".to_owned(),
        json!({
            API_KEY: bearer("An API key of the workspace (`awk_…`), created in Settings › API Keys or with POST /v1/api-keys."),
            OPERATOR_KEY: bearer("The operator key (ADMIN_WEBHOOKS_OPERATOR_KEY)."),
        }),
    );
    components.insert(
        "headers".to_owned(),
        json!({ "X-Request-Id": request_id_header_definition() }),
    );
    let Some(paths) = document["paths"].as_object_mut() else {
        return document;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut().filter_map(Value::as_object_mut) {
            add_shared_answers(path, operation);
            add_links(operation);
        }
    }
    document
}

/// Where an answer's id may be used next, as OpenAPI links: (operation, status, where
/// the id is in its body, the operations whose `{id}` it fills). Clients and stateful
/// testers follow them from a created object to what can be done with it.
const LINKS: &[(&str, &str, &str, &[&str])] = &[
    (
        "createWebhook",
        "201",
        "/id",
        &[
            "getWebhook",
            "updateWebhook",
            "deleteWebhook",
            "sendTestEvent",
            "rotateWebhookSecret",
            "getWebhookStats",
            "getWebhookStatsSeries",
            "getWebhookHealth",
            "listDeliveries",
            "replayDeliveries",
        ],
    ),
    ("createApiKey", "201", "/id", &["revokeApiKey"]),
    (
        "createWorkspace",
        "201",
        "/workspace/id",
        &["getWorkspace", "updateWorkspace"],
    ),
    ("publishEvent", "202", "/id", &["getEvent"]),
    ("sendTestEvent", "202", "/id", &["getEvent"]),
    (
        "listDeliveries",
        "200",
        "/data/0/id",
        &["getDelivery", "retryDelivery"],
    ),
    (
        "getEvent",
        "200",
        "/deliveries/0/id",
        &["getDelivery", "retryDelivery"],
    ),
];

fn add_links(operation: &mut Map<String, Value>) {
    let Some(id) = operation.get("operationId").and_then(Value::as_str) else {
        return;
    };
    let id = id.to_owned();
    for (_, status, pointer, targets) in LINKS.iter().filter(|(from, ..)| *from == id) {
        let Some(answer) = operation["responses"][*status].as_object_mut() else {
            continue;
        };
        let links = answer
            .entry("links")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("links is an object");
        for target in *targets {
            links.insert(
                (*target).to_owned(),
                json!({
                    "operationId": target,
                    "parameters": { "id": format!("$response.body#{pointer}") },
                }),
            );
        }
    }
}

fn add_shared_answers(path: &str, operation: &mut Map<String, Value>) {
    let secured = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let reads_body = operation.contains_key("requestBody");
    let names_id = path.contains('{');
    let mut shared: Vec<(&str, Value)> = vec![(
        "500",
        problem("The service failed; the cause is logged under the request id."),
    )];
    if secured {
        shared.push((
            "401",
            problem("No key, or not a valid key for this route (`WWW-Authenticate: Bearer`)."),
        ));
        let mut limited =
            problem("This key's rate limit is used up; retry after `Retry-After` seconds.");
        limited["headers"]["Retry-After"] = json!({
            "description": "Whole seconds until the key may send again.",
            "schema": { "type": "integer", "minimum": 1 }
        });
        shared.push(("429", limited));
        shared.push((
            "503",
            problem("The store cannot be reached right now; retry shortly."),
        ));
    }
    if reads_body {
        shared.push(("400", problem("The body is not JSON.")));
        shared.push((
            "415",
            problem("The body is not sent as JSON (`Content-Type: application/json`)."),
        ));
        shared.push((
            "413",
            problem("The body is larger than the service's limit."),
        ));
        shared.push((
            "422",
            problem("The JSON has the wrong shape or breaks a rule; `detail` says which."),
        ));
    }
    if names_id {
        shared.push((
            "404",
            problem("No such object in this workspace (or the id is malformed)."),
        ));
    }
    let responses = operation
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    for (status, answer) in shared {
        responses.entry(status).or_insert(answer);
    }
    for answer in responses.values_mut().filter_map(Value::as_object_mut) {
        let headers = answer
            .entry("headers")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("headers is an object");
        headers
            .entry("X-Request-Id")
            .or_insert_with(request_id_header);
    }
}
