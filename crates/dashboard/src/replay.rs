//! Replay: send again, in their original order, the deliveries of one webhook created
//! since a time (by default those that failed or expired), after an outage was fixed.
//!
//! Invariants:
//! - The form's values go to the use case of `POST /v1/webhooks/{id}/replay` as typed:
//!   the same rules and the same messages, each shown beside its field; replaying to a
//!   disabled webhook is refused with the API's message.
//! - A replay answers with a redirect to the webhook's page (a reload replays nothing
//!   twice), which says how many deliveries were queued again.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use domain::WebhookId;
use http::StatusCode;
use usecases::ReplayDraft;

use crate::DashState;
use crate::error::{PageResult, parse_id, use_case_status};
use crate::field_errors::{FieldErrors, plain_text};
use crate::form::Posted;
use crate::session::SignedIn;
use crate::views::{Ctx, Notice, page};

/// The form's fields an error can be shown beside.
const FIELDS: [&str; 3] = ["since", "until", "status"];

/// A choice of the status select.
struct StatusChoice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "replay.html")]
struct ReplayPage {
    ctx: Ctx,
    id: String,
    url: String,
    enabled: bool,
    since: String,
    until: String,
    statuses: Vec<StatusChoice>,
    notice: Option<Notice>,
    errors: FieldErrors,
}

fn statuses(selected: &str) -> Vec<StatusChoice> {
    [
        ("failed", "Failed (still being retried)"),
        ("expired", "Expired (given up)"),
        ("", "Any status (delivered ones too)"),
    ]
    .into_iter()
    .map(|(value, label)| StatusChoice {
        value,
        label,
        selected: value == selected,
    })
    .collect()
}

async fn form_page(
    state: &DashState,
    session: &SignedIn,
    id: &WebhookId,
    status: StatusCode,
    draft: &ReplayDraft,
    (notice, errors): (Option<Notice>, FieldErrors),
) -> PageResult<Response> {
    let hook = state.app.get_webhook(&session.workspace_id, id).await?;
    let ctx = Ctx::new(state, session, "webhooks").await?;
    let template = ReplayPage {
        ctx,
        id: hook.id.to_string(),
        url: hook.url,
        enabled: hook.enabled,
        since: draft.since.clone(),
        until: draft.until.clone().unwrap_or_default(),
        statuses: statuses(draft.status.as_deref().unwrap_or("")),
        notice,
        errors,
    };
    page(status, &template)
}

pub(crate) async fn show(
    State(state): State<DashState>,
    session: SignedIn,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let id: WebhookId = parse_id(&id, "webhook")?;
    // The retention period is 24 h by default: a day back covers what can still be sent.
    let since = (Utc::now() - Duration::hours(24))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let draft = ReplayDraft {
        since,
        until: None,
        status: Some("failed".to_owned()),
    };
    form_page(
        &state,
        &session,
        &id,
        StatusCode::OK,
        &draft,
        (None, FieldErrors::none()),
    )
    .await
}

pub(crate) async fn replay(
    State(state): State<DashState>,
    Path(id): Path<String>,
    Posted { session, form }: Posted,
) -> PageResult<Response> {
    let id: WebhookId = parse_id(&id, "webhook")?;
    // A form sends every field; an empty `until` or status means none here (the API's
    // JSON says so with `null`).
    let draft = ReplayDraft {
        since: form.text("since").to_owned(),
        until: Some(form.text("until").to_owned()).filter(|u| !u.trim().is_empty()),
        status: Some(form.text("status").to_owned()).filter(|s| !s.is_empty()),
    };
    match state.app.replay(&session.workspace_id, &id, &draft).await {
        Ok(count) => Ok(Redirect::to(&format!(
            "/dashboard/webhooks/{id}?done=replayed-{count}#activity"
        ))
        .into_response()),
        Err(error) => {
            let status = use_case_status(&error);
            if status.is_server_error() || status == StatusCode::NOT_FOUND {
                return Err(error.into());
            }
            let shown = match FieldErrors::from_error(&error, &FIELDS) {
                Some(errors) => (None, errors),
                None => (
                    Notice::error(plain_text(&error.to_string())),
                    FieldErrors::none(),
                ),
            };
            form_page(&state, &session, &id, status, &draft, shown).await
        }
    }
}
