//! The guide's places that are only ways in: Settings (Integrations, API Keys) and
//! Settings › Integrations (Webhooks, the event catalog), so every breadcrumb is a link
//! to a real page.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use http::StatusCode;

use crate::DashState;
use crate::error::PageResult;
use crate::session::SignedIn;
use crate::views::{Ctx, page};

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    ctx: Ctx,
}

#[derive(Template)]
#[template(path = "integrations.html")]
struct IntegrationsPage {
    ctx: Ctx,
}

pub(crate) async fn settings(
    State(state): State<DashState>,
    session: SignedIn,
) -> PageResult<Response> {
    let ctx = Ctx::new(&state, &session, "settings").await?;
    page(StatusCode::OK, &SettingsPage { ctx })
}

pub(crate) async fn integrations(
    State(state): State<DashState>,
    session: SignedIn,
) -> PageResult<Response> {
    let ctx = Ctx::new(&state, &session, "settings").await?;
    page(StatusCode::OK, &IntegrationsPage { ctx })
}
