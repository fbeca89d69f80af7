//! Edit webhook: change the URL, the events, the description and whether it is enabled,
//! keeping the webhook's id, signing secret and activity log.
//!
//! Invariants:
//! - A change goes through the use case of `PATCH /v1/webhooks/{id}`: the same checks in
//!   the same order, the same messages (shown beside the field they are about), and the
//!   store announces the change to the endpoint's lane.
//! - Only what the form changed is sent: an unchanged URL is not checked again (its
//!   host's addresses may have moved since, which is for the lane to find), and a form
//!   that changes nothing changes nothing.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::WebhookId;
use http::StatusCode;
use usecases::WebhookChanges;

use crate::DashState;
use crate::error::{PageResult, parse_id, use_case_status};
use crate::field_errors::{FieldErrors, plain_text};
use crate::form::Posted;
use crate::session::SignedIn;
use crate::views::{Ctx, Notice, page};
use crate::webhooks::{CategoryChoice, FORM_FIELDS, categories};

#[derive(Template)]
#[template(path = "webhook_edit.html")]
struct EditPage {
    ctx: Ctx,
    id: String,
    url: String,
    description: String,
    enabled: bool,
    all_checked: bool,
    categories: Vec<CategoryChoice>,
    notice: Option<Notice>,
    errors: FieldErrors,
    dev: bool,
}

/// What the form holds: as stored, or as entered when refused.
struct Entered {
    url: String,
    description: String,
    events: Vec<String>,
    enabled: bool,
}

async fn form_page(
    state: &DashState,
    session: &SignedIn,
    id: &WebhookId,
    status: StatusCode,
    entered: Entered,
    (notice, errors): (Option<Notice>, FieldErrors),
) -> PageResult<Response> {
    let ctx = Ctx::new(state, session, "webhooks").await?;
    let catalog = state.app.list_event_types(&session.workspace_id).await?;
    let chosen: BTreeSet<String> = entered.events.iter().cloned().collect();
    let template = EditPage {
        ctx,
        id: id.to_string(),
        url: entered.url,
        description: entered.description,
        enabled: entered.enabled,
        all_checked: chosen.contains("*"),
        categories: categories(catalog, &chosen),
        notice,
        errors,
        dev: state.app.settings().dev,
    };
    page(status, &template)
}

pub(crate) async fn show(
    State(state): State<DashState>,
    session: SignedIn,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let id: WebhookId = parse_id(&id, "webhook")?;
    let hook = state.app.get_webhook(&session.workspace_id, &id).await?;
    let entered = Entered {
        url: hook.url,
        description: hook.description,
        events: hook.events.iter().map(ToString::to_string).collect(),
        enabled: hook.enabled,
    };
    form_page(
        &state,
        &session,
        &id,
        StatusCode::OK,
        entered,
        (None, FieldErrors::none()),
    )
    .await
}

pub(crate) async fn save(
    State(state): State<DashState>,
    Path(id): Path<String>,
    Posted { session, form }: Posted,
) -> PageResult<Response> {
    let id: WebhookId = parse_id(&id, "webhook")?;
    let hook = state.app.get_webhook(&session.workspace_id, &id).await?;
    let entered = Entered {
        url: form.text("url").to_owned(),
        description: form.text("description").to_owned(),
        events: form.all("events"),
        enabled: form.get("enabled") == Some("true"),
    };
    let stored: BTreeSet<String> = hook.events.iter().map(ToString::to_string).collect();
    let wanted: BTreeSet<String> = entered.events.iter().cloned().collect();
    let changes = WebhookChanges {
        url: (entered.url != hook.url).then(|| entered.url.clone()),
        // An empty list is sent as it is, so that the use case refuses it.
        events: (wanted != stored || entered.events.is_empty()).then(|| entered.events.clone()),
        description: (entered.description != hook.description).then(|| entered.description.clone()),
        enabled: (entered.enabled != hook.enabled).then_some(entered.enabled),
        // Rate limit and custom headers are kept as they are (set through the API or CLI).
        rate_limit: None,
        headers: None,
    };
    match state
        .app
        .update_webhook(&session.workspace_id, &id, changes)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/dashboard/webhooks/{id}?done=edited")).into_response()),
        Err(error) => {
            let status = use_case_status(&error);
            if status.is_server_error() || status == StatusCode::NOT_FOUND {
                return Err(error.into());
            }
            let shown = match FieldErrors::from_error(&error, &FORM_FIELDS) {
                Some(errors) => (None, errors),
                None => (
                    Notice::error(plain_text(&error.to_string())),
                    FieldErrors::none(),
                ),
            };
            form_page(&state, &session, &id, status, entered, shown).await
        }
    }
}
