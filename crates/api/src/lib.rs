//! The HTTP API of Admin Webhooks: JSON over HTTP, served by axum.
//!
//! [`router`] assembles one router per resource (one file each, holding its request and
//! response types, handlers and `router()`), the 404/405 fallbacks, the body limit and the
//! tracing, request-id and panic layers. Handlers parse the request, call one use case of
//! [`usecases::Application`] and render its answer; no rule, no SQL and no delivery logic
//! lives here.
//!
//! Every route is registered from its OpenAPI description (`utoipa_axum::routes!` over
//! handlers annotated with `#[utoipa::path]`), so what is served and what
//! `GET /openapi.json` documents come from one source ([`openapi`]).
//!
//! Conventions every route keeps (SPEC §7):
//! - JSON in and out; errors are `application/problem+json` ([`error::ApiError`]).
//! - Workspace routes take `Authorization: Bearer <API key>`; operator routes take the
//!   operator key; neither key is accepted where the other is expected ([`auth`]).
//! - An id of another workspace, or an id that is not even well-formed, is a 404.
//! - Lists answer `{"data": [...], "next_cursor": "…" | null}` ([`pagination`]).
//! - Request bodies are limited to [`ApiConfig::max_body_bytes`] (413 beyond).
//! - A client's address is the `ConnectInfo<SocketAddr>` extension of its request (the
//!   server inserts it); without it, all clients share one address for the limit of
//!   failed authentications.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use rate_limit::{RateLimit, RateLimiter};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

pub mod api_keys;
pub mod auth;
pub mod deliveries;
pub mod endpoint_health;
pub mod error;
pub mod event_types;
pub mod events;
pub mod extract;
pub mod field_schemas;
pub mod health;
pub mod listeners;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod rate_limit;
pub mod request_id;
pub mod secrets;
pub mod series;
pub mod stats;
pub mod time_range;
pub mod trace;
pub mod webhooks;
pub mod workspaces;

pub use error::{ApiError, ApiResult};

/// The default limit of a request body: 256 KiB (SPEC §2).
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// What the API needs to know of the service's configuration (the rules' own settings,
/// `--dev` and `--secret-grace`, are the application's: [`usecases::Settings`]).
#[derive(Clone)]
pub struct ApiConfig {
    /// `ADMIN_WEBHOOKS_OPERATOR_KEY`; `None` disables the operator API.
    pub operator_key: Option<String>,
    /// Requests with a larger body are refused with 413.
    pub max_body_bytes: usize,
    /// `--rate-limit` / `--rate-limit-burst`, per API key; `None` is no limit (the
    /// library's default; the service's default is set by its configuration).
    pub rate_limit: Option<RateLimit>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            operator_key: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            rate_limit: None,
        }
    }
}

// Written by hand so that the operator key never reaches a log line.
impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field(
                "operator_key",
                &self.operator_key.as_ref().map(|_| "<redacted>"),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// What every handler shares, as the router holds it: one `Arc`, since every request
/// clones it (several times over its extractors) and the state's own clone took an
/// allocation and seven reference counts, ~4 % of the API threads' samples in publishing.
pub type Shared = Arc<AppState>;

/// What every handler shares.
pub struct AppState {
    /// The use cases; they notify the dispatcher's lanes themselves.
    pub app: usecases::Application,
    pub config: ApiConfig,
    /// The token buckets of `config.rate_limit`, shared by every request.
    pub limiter: Arc<RateLimiter>,
    /// Failed authentications per client address, shared with the dashboard's sign-in.
    pub auth_failures: Arc<usecases::AuthFailureLimiter>,
    /// Whether the dispatcher is alive, for `/readyz`: `Err` says what is wrong. `None`
    /// where no dispatcher runs (API tests).
    pub dispatcher_alive: Option<health::Liveness>,
}

impl AppState {
    /// A state with the rate limiter of `config`, failed authentications counted but
    /// never refused, and no dispatcher to watch.
    pub fn new(app: usecases::Application, config: ApiConfig) -> Self {
        Self {
            app,
            limiter: Arc::new(RateLimiter::new(config.rate_limit)),
            auth_failures: Arc::new(usecases::AuthFailureLimiter::disabled()),
            config,
            dispatcher_alive: None,
        }
    }
}

/// Every route of the API with its description: the one table both the router and
/// `/openapi.json` are made from.
pub fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(health::router())
        .merge(workspaces::router())
        .merge(api_keys::router())
        .merge(event_types::router())
        .merge(webhooks::router())
        .merge(listeners::router())
        .merge(events::router())
        .merge(deliveries::router())
        .merge(stats::router())
        .merge(secrets::router())
        .merge(series::router())
        .merge(endpoint_health::router())
}

/// The whole API, ready to serve, with `GET /openapi.json`.
pub fn router(state: AppState) -> Router {
    router_with(state, OpenApiRouter::new())
}

/// The whole API plus `extra` routes of the service (the server's `/metrics`), which are
/// documented in `/openapi.json` with the rest and get the same request ids and log.
pub fn router_with(state: AppState, extra: OpenApiRouter) -> Router {
    let max_body = state.config.max_body_bytes;
    let (api, mut document) = routes().split_for_parts();
    let (extra, extra_document) = extra.split_for_parts();
    document.merge(extra_document);
    let api = api
        .fallback(error::not_found_fallback)
        // Must come after every route: it applies to the method routers registered so far.
        .method_not_allowed_fallback(error::method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(Arc::new(state));
    api.merge(extra)
        .merge(openapi::router(document))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(request_id::scope))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_id::span)
                .on_request(())
                .on_response(request_id::on_response)
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(request_id::X_REQUEST_ID))
        .layer(SetRequestIdLayer::new(
            request_id::X_REQUEST_ID,
            request_id::MakeId,
        ))
        .layer(axum::middleware::map_request(request_id::drop_unacceptable))
}

/// A handler panic becomes a logged 500 problem instead of a dropped connection.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    #[derive(Debug, thiserror::Error)]
    #[error("a request handler panicked: {0}")]
    struct Panicked(String);
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    ApiError::Internal(Box::new(Panicked(message))).into_response()
}
