//! One webhook's page: its settings, its signing secret (hidden until revealed, with copy
//! and rotate), Send Test Event, enable/disable, delete (with a confirmation step), its
//! health, success rate and response times ([`crate::health`], refreshed live; charts in
//! [`crate::charts`]), and its activity log ([`crate::activity`]).
//!
//! Invariants:
//! - The secret is in the page only when asked for (`?reveal=1`); every answer is
//!   `no-store`, so it stays out of caches. Custom header values are never in the page:
//!   only masked (`Bear…(17 chars)`).
//! - A test event is sent by the same use case as `POST /v1/webhooks/{id}/test` (the
//!   normal delivery path), and the page then follows its delivery in the log.
//! - Changes go through the same use cases as the API's, which notify the endpoint's lane
//!   after the store committed (a rotation signs the next attempt with the new secret; a
//!   re-enabled endpoint starts delivering its backlog; a deleted one stops).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::WebhookId;
use http::StatusCode;
use usecases::{UseCaseError, WebhookChanges};

use crate::DashState;
use crate::activity::{ActivityView, LogQuery, activity_view};
use crate::error::{PageResult, parse_id, use_case_status};
use crate::form::Posted;
use crate::health::{GlanceView, glance_view};
use crate::session::SignedIn;
use crate::views::{Ctx, Notice, When, duration, page, when};
use crate::webhooks::join_events;

struct HookView {
    id: String,
    url: String,
    description: String,
    events: String,
    enabled: bool,
    created: When,
    /// "20 per second", or empty for none.
    rate_limit: String,
    /// Each custom header's name with its value masked.
    headers: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    ctx: Ctx,
    hook: HookView,
    /// The signing secret, when revealed.
    secret: Option<String>,
    /// Health, sparkline and the last 24 hours (refreshed live).
    glance: GlanceView,
    notice: Option<Notice>,
    log: ActivityView,
    /// How long a replaced secret keeps signing (`--secret-grace`).
    grace: String,
}

pub(crate) async fn show(
    State(state): State<DashState>,
    session: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> PageResult<Response> {
    let id: WebhookId = parse_id(&id, "webhook")?;
    render(&state, &session, &id, &q, StatusCode::OK, None).await
}

/// The webhook's page, with `notice` (or the notice `q.done` asks for).
pub(crate) async fn render(
    state: &DashState,
    session: &SignedIn,
    id: &WebhookId,
    q: &LogQuery,
    status: StatusCode,
    notice: Option<Notice>,
) -> PageResult<Response> {
    let hook = state.app.get_webhook(&session.workspace_id, id).await?;
    let ctx = Ctx::new(state, session, "webhooks").await?;
    let glance = glance_view(state, session, id).await?;
    let log = activity_view(state, session, &hook, q).await?;
    let grace = state.app.settings().secret_grace;
    let notice = notice.or_else(|| match q.done.as_deref() {
        Some("created") => Notice::success(
            "Webhook created. Copy its signing secret into your receiver now; you can reveal \
             it here again later.",
        ),
        Some("rotated") => {
            let until = chrono::Duration::from_std(grace)
                .ok()
                .and_then(|g| hook.updated_at.checked_add_signed(g))
                .map_or_else(String::new, |t| when(t).text);
            Notice::success(format!(
                "New signing secret created. The previous secret keeps signing (in \
                 webhook-signature) until {until}; switch your receiver to the new one."
            ))
        }
        Some("enabled") => Notice::success("Webhook enabled: waiting events are delivered now."),
        Some("disabled") => {
            Notice::success("Webhook disabled: events wait in the store until you enable it.")
        }
        Some("retried") => Notice::success("The delivery was queued again, at its place in order."),
        Some("edited") => {
            Notice::success("Changes saved. The secret and the activity log are kept.")
        }
        Some(done) if done.starts_with("replayed-") => done
            .trim_start_matches("replayed-")
            .parse::<u64>()
            .ok()
            .and_then(|count| {
                Notice::success(match count {
                    0 => "Nothing to replay: no delivery matched.".to_owned(),
                    1 => "1 delivery was queued again, at its place in order.".to_owned(),
                    n => format!("{n} deliveries were queued again, each at its place in order."),
                })
            }),
        _ => None,
    });
    let template = WebhookPage {
        ctx,
        secret: q
            .reveal
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|_| hook.secret.clone()),
        hook: HookView {
            id: hook.id.to_string(),
            events: join_events(&hook.events),
            url: hook.url,
            description: hook.description,
            enabled: hook.enabled,
            created: when(hook.created_at),
            rate_limit: hook
                .rate_limit
                .map_or_else(String::new, |limit| format!("{limit} at most")),
            headers: hook
                .headers
                .masked()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        },
        glance,
        notice,
        log,
        grace: duration(grace),
    };
    page(status, &template)
}

/// The webhook's page again, with a conflict's message above it; any other error is the
/// error page.
async fn refused(
    state: &DashState,
    session: &SignedIn,
    id: &WebhookId,
    error: UseCaseError,
) -> PageResult<Response> {
    if !matches!(error, UseCaseError::Conflict(_)) {
        return Err(error.into());
    }
    let notice = Notice::error(crate::field_errors::plain_text(&error.to_string()));
    let q = LogQuery::default();
    render(state, session, id, &q, use_case_status(&error), notice).await
}

/// Send Test Event: a `webhook.test` event (`{"test": true}`) to this endpoint alone.
pub(crate) async fn send_test(
    State(state): State<DashState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> PageResult<Response> {
    let id: WebhookId = parse_id(&id, "webhook")?;
    match state.app.send_test_event(&session.workspace_id, &id).await {
        Ok(published) => Ok(Redirect::to(&format!(
            "/dashboard/webhooks/{id}?test={}#activity",
            published.event.id
        ))
        .into_response()),
        Err(error) => refused(&state, &session, &id, error).await,
    }
}

/// A new signing secret; the old one keeps signing for the grace period.
pub(crate) async fn rotate(
    State(state): State<DashState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> PageResult<Response> {
    let id: WebhookId = parse_id(&id, "webhook")?;
    state.app.rotate_secret(&session.workspace_id, &id).await?;
    Ok(Redirect::to(&format!(
        "/dashboard/webhooks/{id}?done=rotated&reveal=1#secret"
    ))
    .into_response())
}

pub(crate) async fn set_enabled(
    State(state): State<DashState>,
    Path(id): Path<String>,
    Posted { session, form }: Posted,
) -> PageResult<Response> {
    let id: WebhookId = parse_id(&id, "webhook")?;
    let enabled = form.get("enabled") == Some("true");
    let changes = WebhookChanges {
        enabled: Some(enabled),
        ..WebhookChanges::default()
    };
    if let Err(error) = state
        .app
        .update_webhook(&session.workspace_id, &id, changes)
        .await
    {
        return refused(&state, &session, &id, error).await;
    }
    let done = if enabled { "enabled" } else { "disabled" };
    Ok(Redirect::to(&format!("/dashboard/webhooks/{id}?done={done}")).into_response())
}

#[derive(Template)]
#[template(path = "webhook_delete.html")]
struct DeletePage {
    ctx: Ctx,
    id: String,
    url: String,
}

/// The confirmation step before a deletion.
pub(crate) async fn confirm_delete(
    State(state): State<DashState>,
    session: SignedIn,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let id: WebhookId = parse_id(&id, "webhook")?;
    let hook = state.app.get_webhook(&session.workspace_id, &id).await?;
    let ctx = Ctx::new(&state, &session, "webhooks").await?;
    page(
        StatusCode::OK,
        &DeletePage {
            ctx,
            id: hook.id.to_string(),
            url: hook.url,
        },
    )
}

pub(crate) async fn delete(
    State(state): State<DashState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> PageResult<Response> {
    let id: WebhookId = parse_id(&id, "webhook")?;
    state.app.delete_webhook(&session.workspace_id, &id).await?;
    Ok(Redirect::to("/dashboard/webhooks?done=deleted").into_response())
}
