//! The HTTP API of Admin Webhooks: JSON over HTTP, served by axum.
//!
//! [`router`] assembles one router per resource (one file each, holding its request and
//! response types, handlers and `router()`), the 404/405 fallbacks, the body limit and the
//! tracing, request-id and panic layers. Handlers speak only to [`store::Store`]; no SQL
//! and no delivery logic lives here.
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

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use domain::WebhookId;
use rate_limit::{RateLimit, RateLimiter};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

pub mod api_keys;
pub mod auth;
pub mod deliveries;
pub mod destination;
pub mod error;
pub mod event_types;
pub mod events;
pub mod extract;
mod fields;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod rate_limit;
pub mod request_id;
pub mod secrets;
pub mod stats;
pub mod time_range;
pub mod webhooks;
pub mod workspaces;

pub use error::{ApiError, ApiResult};

/// The default limit of a request body: 256 KiB (SPEC §2).
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// How long registering a webhook may wait for its host name to resolve.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a replaced signing secret keeps signing after a rotation, by default (SPEC §3).
pub const DEFAULT_SECRET_GRACE: Duration = Duration::from_secs(24 * 3600);

/// What the API needs to know of the service's configuration.
#[derive(Clone)]
pub struct ApiConfig {
    /// `--dev`: allow `http://` and non-public addresses for webhook URLs.
    pub dev: bool,
    /// `ADMIN_WEBHOOKS_OPERATOR_KEY`; `None` disables the operator API.
    pub operator_key: Option<String>,
    /// Requests with a larger body are refused with 413.
    pub max_body_bytes: usize,
    /// `--secret-grace`: how long the secret replaced by a rotation keeps signing.
    pub secret_grace: Duration,
    /// `--rate-limit` / `--rate-limit-burst`, per API key; `None` is no limit (the
    /// library's default; the service's default is set by its configuration).
    pub rate_limit: Option<RateLimit>,
    /// `--max-payload-depth` and the other rules a published `data`/`metadata` must
    /// follow (422 otherwise).
    pub payload_rules: domain::PayloadRules,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            dev: false,
            operator_key: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            secret_grace: DEFAULT_SECRET_GRACE,
            rate_limit: None,
            payload_rules: domain::PayloadRules::default(),
        }
    }
}

// Written by hand so that the operator key never reaches a log line.
impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("dev", &self.dev)
            .field(
                "operator_key",
                &self.operator_key.as_ref().map(|_| "<redacted>"),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("secret_grace", &self.secret_grace)
            .field("rate_limit", &self.rate_limit)
            .field("payload_rules", &self.payload_rules)
            .finish()
    }
}

/// Called with the endpoints that received deliveries, right after a publish committed.
pub type WakeLanes = Arc<dyn Fn(&[WebhookId]) + Send + Sync>;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn store::Store>,
    pub config: ApiConfig,
    /// Wakes the dispatcher's lanes of endpoints whose work or settings changed (a publish,
    /// an update, a deletion), so nothing waits for the dispatcher's next sweep. Called
    /// only after the store committed.
    pub wake_lanes: WakeLanes,
    /// Like `wake_lanes`, after deliveries were re-opened by hand (retry, replay): the
    /// lanes must read themselves again from their first open delivery, because a
    /// re-opened delivery keeps its place (its `seq`) below what they have read.
    pub resync_lanes: WakeLanes,
    /// The token buckets of `config.rate_limit`, shared by every request.
    pub limiter: Arc<RateLimiter>,
    /// Whether the dispatcher is alive, for `/readyz`: `Err` says what is wrong. `None`
    /// where no dispatcher runs (API tests).
    pub dispatcher_alive: Option<health::Liveness>,
}

impl AppState {
    /// A state whose lanes are woken, and resynced, by `wake_lanes` (enough where no
    /// dispatcher runs; the service sets [`AppState::resync_lanes`] to its own call).
    pub fn new(
        store: Arc<dyn store::Store>,
        config: ApiConfig,
        wake_lanes: impl Fn(&[WebhookId]) + Send + Sync + 'static,
    ) -> Self {
        let wake_lanes: WakeLanes = Arc::new(wake_lanes);
        Self {
            store,
            limiter: Arc::new(RateLimiter::new(config.rate_limit)),
            config,
            resync_lanes: wake_lanes.clone(),
            wake_lanes,
            dispatcher_alive: None,
        }
    }

    fn url_policy(&self) -> domain::UrlPolicy {
        domain::UrlPolicy {
            dev: self.config.dev,
        }
    }
}

/// Every route of the API with its description: the one table both the router and
/// `/openapi.json` are made from.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(health::router())
        .merge(workspaces::router())
        .merge(api_keys::router())
        .merge(event_types::router())
        .merge(webhooks::router())
        .merge(events::router())
        .merge(deliveries::router())
        .merge(stats::router())
        .merge(secrets::router())
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
        .with_state(state);
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
