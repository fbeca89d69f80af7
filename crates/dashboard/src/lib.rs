//! The dashboard of Admin Webhooks: server-rendered HTML pages, served by the same binary
//! as the API, laid out as the user guide describes (Settings › Integrations › Webhooks,
//! Settings › API Keys, the event catalog).
//!
//! [`router`] serves everything under `/dashboard` (and redirects `/` there). Pages are
//! askama templates compiled into the binary; the stylesheet and the script are embedded
//! with `include_str!` ([`assets`]). Every page works without JavaScript; the script only
//! adds copy-to-clipboard, confirmations and the live refresh of the activity log, the
//! webhook list and a webhook's health panel.
//!
//! Invariants:
//! - Every page and action needs a live session ([`session`]); without one a page
//!   redirects to the sign-in form. The API key typed there is checked once and never
//!   kept by the browser: the browser holds only a random session id in an HttpOnly,
//!   SameSite=Strict cookie, and the store holds only that id's hash.
//! - Every POST carries the session's CSRF token in a form field, checked in constant
//!   time before anything else happens ([`form`]); without it the answer is a 403 page.
//! - Handlers parse the form, call the same use case as the API ([`usecases`]) and render
//!   its answer, so a URL or a subscription refused by one is refused by the other with
//!   the same message, and the lanes hear of the same changes. No handler speaks to the
//!   store, and this crate does not know the API.
//! - Nothing here is cacheable, framable or allowed to run inline script ([`headers`]).

mod activity;
mod api_keys;
mod assets;
mod catalog;
mod charts;
#[cfg(test)]
mod contrast;
mod edit;
mod error;
mod field_errors;
mod flash;
mod form;
mod headers;
mod health;
mod inspector;
mod navigation;
mod replay;
pub mod session;
mod signin;
mod views;
mod webhook;
mod webhooks;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};

pub use error::PageError;
pub use field_errors::plain_text;

/// How long a session lives after sign-in, unless configured otherwise: a working day.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// What the dashboard needs to know beyond the application's settings.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    /// A session ends this long after sign-in, whatever happens in between.
    pub session_ttl: Duration,
    /// Mark cookies `Secure` on every answer (the service runs outside `--dev`). When
    /// false, they are still `Secure` on requests a proxy says came over HTTPS
    /// (`X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// Failed sign-ins per client address, shared with the API's bearer check. The
    /// client's address is the request's `ConnectInfo<SocketAddr>` extension.
    pub auth_failures: Arc<usecases::AuthFailureLimiter>,
}

impl DashboardConfig {
    /// The service's defaults: `Secure` cookies outside `--dev`; failed sign-ins counted
    /// but not limited until the service hands in the limiter it shares with the API.
    pub fn for_service(dev: bool) -> Self {
        Self {
            session_ttl: DEFAULT_SESSION_TTL,
            secure_cookies: !dev,
            auth_failures: Arc::new(usecases::AuthFailureLimiter::disabled()),
        }
    }
}

/// What every dashboard handler shares: the use cases (the same the API calls) and the
/// dashboard's own settings.
#[derive(Clone)]
pub struct DashState {
    pub app: usecases::Application,
    pub config: Arc<DashboardConfig>,
    /// The sign-in form tokens' key, read from the store on first use.
    pub(crate) sign_in_key: Arc<OnceLock<[u8; 32]>>,
}

/// The whole dashboard, ready to merge beside the API's router. It has no fallback of
/// its own (the API's 404 stays the one fallback), but any other GET under `/dashboard/`
/// is its own HTML 404 page.
pub fn router(app: usecases::Application, config: DashboardConfig) -> Router {
    let state = DashState {
        app,
        config: Arc::new(config),
        sign_in_key: Arc::new(OnceLock::new()),
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard", get(webhooks::home))
        .route("/dashboard/", get(webhooks::home))
        .route("/dashboard/assets/{file}", get(assets::serve))
        .route(
            "/dashboard/sign-in",
            get(signin::show_form).post(signin::sign_in),
        )
        .route("/dashboard/sign-out", post(signin::sign_out))
        .route(
            "/dashboard/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route("/dashboard/webhooks/new", get(webhooks::new_form))
        .route("/dashboard/webhooks/{id}", get(webhook::show))
        .route("/dashboard/webhooks/{id}/activity", get(activity::fragment))
        .route("/dashboard/webhooks/{id}/test", post(webhook::send_test))
        .route("/dashboard/webhooks/{id}/rotate", post(webhook::rotate))
        .route(
            "/dashboard/webhooks/{id}/enabled",
            post(webhook::set_enabled),
        )
        .route(
            "/dashboard/webhooks/{id}/delete",
            get(webhook::confirm_delete).post(webhook::delete),
        )
        .route("/dashboard/deliveries/{id}", get(activity::delivery))
        .route("/dashboard/deliveries/{id}/retry", post(activity::retry))
        .route(
            "/dashboard/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route("/dashboard/api-keys/{id}/revoke", post(api_keys::revoke))
        .route(
            "/dashboard/event-types",
            get(catalog::list).post(catalog::create),
        )
        .route("/dashboard/webhooks/rows", get(health::rows))
        .route("/dashboard/webhooks/{id}/glance", get(health::glance))
        .route("/dashboard/webhooks/{id}/charts", get(charts::show))
        .route("/dashboard/settings", get(navigation::settings))
        .route("/dashboard/integrations", get(navigation::integrations))
        .route(
            "/dashboard/webhooks/{id}/edit",
            get(edit::show).post(edit::save),
        )
        .route(
            "/dashboard/webhooks/{id}/replay",
            get(replay::show).post(replay::replay),
        )
        .route("/favicon.ico", get(assets::favicon_ico))
        .route("/dashboard/{*rest}", get(error::unknown_page))
        .with_state(state)
        .layer(axum::middleware::map_response(headers::protect))
}
