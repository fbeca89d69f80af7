//! Settings › Integrations › Webhooks: the list of endpoints, and Create Webhook.
//!
//! Invariants:
//! - A webhook created here goes through the same use case as the API's (same checks, same
//!   order); a refusal shows its message above the form, with what the user entered kept.
//! - The events form offers every type of the workspace's catalog grouped by category,
//!   a "whole group" choice per type prefix (`user.*`, which also covers types added
//!   later) and "all events" (`*`).
//! - The success rate in the list is the store's own stats call over the last 24 h.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use http::StatusCode;
use store::{EventType, PageRequest};
use usecases::{UseCaseError, WebhookDraft};

use crate::DashState;
use crate::error::{PageResult, use_case_status};
use crate::form::Posted;
use crate::session::SignedIn;
use crate::views::{Ctx, Notice, page, query, rate};

/// Webhooks per page of the list; the stats of each are one index range read.
const PAGE_SIZE: u32 = 50;

pub(crate) async fn home(_session: SignedIn) -> Redirect {
    Redirect::to("/dashboard/webhooks")
}

struct WebhookRow {
    id: String,
    url: String,
    description: String,
    events: String,
    enabled: bool,
    /// An endpoint of `admin-webhooks listen`, delivered to over its stream.
    listener: bool,
    rate: String,
    attempts: u64,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    ctx: Ctx,
    rows: Vec<WebhookRow>,
    next: Option<String>,
    notice: Option<Notice>,
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct ListQuery {
    cursor: Option<String>,
    done: Option<String>,
}

pub(crate) async fn list(
    State(state): State<DashState>,
    session: SignedIn,
    Query(q): Query<ListQuery>,
) -> PageResult<Response> {
    let ctx = Ctx::new(&state, &session, "webhooks").await?;
    let page_request = PageRequest {
        limit: PAGE_SIZE,
        cursor: q.cursor.filter(|c| !c.is_empty()),
    };
    let hooks = state
        .app
        .list_webhooks(&session.workspace_id, page_request)
        .await?;
    let since = Utc::now() - Duration::hours(24);
    let mut rows = Vec::with_capacity(hooks.data.len());
    for hook in hooks.data {
        let stats = state
            .app
            .webhook_stats(&session.workspace_id, &hook.id, since)
            .await?;
        rows.push(WebhookRow {
            id: hook.id.to_string(),
            events: join_events(&hook.events),
            listener: domain::listener::is_listener_url(&hook.url),
            url: hook.url,
            description: hook.description,
            enabled: hook.enabled,
            rate: rate(stats.success_rate()),
            attempts: stats.attempts,
        });
    }
    let notice = match q.done.as_deref() {
        Some("deleted") => Notice::success("The webhook was deleted, with its activity log."),
        _ => None,
    };
    let template = WebhooksPage {
        ctx,
        rows,
        next: hooks
            .next_cursor
            .map(|c| format!("/dashboard/webhooks{}", query(&[("cursor", &c)]))),
        notice,
    };
    page(StatusCode::OK, &template)
}

pub(crate) fn join_events(events: &[domain::Subscription]) -> String {
    events
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One checkbox of the events form.
struct EventChoice {
    /// The subscription it adds (`user.created`, `user.*`).
    value: String,
    /// The element id, for its label.
    id: String,
    description: String,
    checked: bool,
}

struct CategoryChoice {
    name: String,
    /// "Every `user.*` event" choices: one per type prefix in the category.
    groups: Vec<EventChoice>,
    types: Vec<EventChoice>,
}

#[derive(Template)]
#[template(path = "webhook_new.html")]
struct NewWebhookPage {
    ctx: Ctx,
    url: String,
    description: String,
    all_checked: bool,
    categories: Vec<CategoryChoice>,
    notice: Option<Notice>,
    /// `--dev`: http:// and loopback URLs are allowed, and the form says so.
    dev: bool,
}

fn choice_id(value: &str) -> String {
    let safe: String = value
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' => c,
            '*' => 'x',
            _ => '-',
        })
        .collect();
    format!("ev-{safe}")
}

/// The catalog grouped by category, in the store's order, with `chosen` ticked.
fn categories(catalog: Vec<EventType>, chosen: &BTreeSet<String>) -> Vec<CategoryChoice> {
    let mut out: Vec<CategoryChoice> = Vec::new();
    for event_type in catalog {
        let index = match out.iter().position(|c| c.name == event_type.category) {
            Some(i) => i,
            None => {
                out.push(CategoryChoice {
                    name: event_type.category.clone(),
                    groups: Vec::new(),
                    types: Vec::new(),
                });
                out.len() - 1
            }
        };
        let category = &mut out[index];
        let prefix = event_type
            .name
            .split('.')
            .next()
            .unwrap_or(&event_type.name);
        let group = format!("{prefix}.*");
        if !category.groups.iter().any(|g| g.value == group) {
            category.groups.push(EventChoice {
                id: choice_id(&group),
                description: format!("all {prefix} events, also ones added later"),
                checked: chosen.contains(&group),
                value: group,
            });
        }
        category.types.push(EventChoice {
            id: choice_id(&event_type.name),
            checked: chosen.contains(&event_type.name),
            value: event_type.name,
            description: event_type.description,
        });
    }
    out
}

async fn form_page(
    state: &DashState,
    session: &SignedIn,
    status: StatusCode,
    entered: (&str, &str, &[String]),
    notice: Option<Notice>,
) -> PageResult<Response> {
    let (url, description, events) = entered;
    let ctx = Ctx::new(state, session, "webhooks").await?;
    let catalog = state.app.list_event_types(&session.workspace_id).await?;
    let chosen: BTreeSet<String> = events.iter().cloned().collect();
    let template = NewWebhookPage {
        ctx,
        url: url.to_owned(),
        description: description.to_owned(),
        all_checked: chosen.contains("*"),
        categories: categories(catalog, &chosen),
        notice,
        dev: state.app.settings().dev,
    };
    page(status, &template)
}

pub(crate) async fn new_form(
    State(state): State<DashState>,
    session: SignedIn,
) -> PageResult<Response> {
    form_page(&state, &session, StatusCode::OK, ("", "", &[]), None).await
}

pub(crate) async fn create(
    State(state): State<DashState>,
    Posted { session, form }: Posted,
) -> PageResult<Response> {
    let (url, description, events) = (
        form.text("url"),
        form.text("description"),
        form.all("events"),
    );
    let draft = WebhookDraft {
        url: url.to_owned(),
        events: events.clone(),
        description: description.to_owned(),
        enabled: true,
    };
    match state.app.create_webhook(&session.workspace_id, draft).await {
        Ok(hook) => Ok(Redirect::to(&format!(
            "/dashboard/webhooks/{}?done=created&reveal=1",
            hook.id
        ))
        .into_response()),
        Err(error) => refuse(&state, &session, (url, description, &events), error).await,
    }
}

/// Shows the form again with the use case's message, or the error page for a 5xx.
async fn refuse(
    state: &DashState,
    session: &SignedIn,
    entered: (&str, &str, &[String]),
    error: UseCaseError,
) -> PageResult<Response> {
    let status = use_case_status(&error);
    if status.is_server_error() {
        return Err(error.into());
    }
    form_page(
        state,
        session,
        status,
        entered,
        Notice::error(error.to_string()),
    )
    .await
}
