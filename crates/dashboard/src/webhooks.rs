//! Settings › Integrations › Webhooks: the list of endpoints, and Create Webhook.
//!
//! Invariants:
//! - A webhook created here goes through the same use case as the API's (same checks, same
//!   order); a refusal shows its message beside the field it is about (above the form
//!   when it is about none), with what the user entered kept.
//! - The events form offers every type of the workspace's catalog grouped by category,
//!   a "whole group" choice per type prefix (`user.*`, which also covers types added
//!   later) and "all events" (`*`).
//! - Each row shows the endpoint's health, a 24 h sparkline and its success rate, from
//!   the use cases ([`crate::health`]); the rows refresh live.
//! - Create Webhook takes an optional rate limit (a count per second or per minute);
//!   custom headers are set through the API, and shown masked on the webhook's page.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::RatePeriod;
use http::StatusCode;
use store::EventType;
use usecases::{RateLimitDraft, UseCaseError, WebhookDraft};

use crate::DashState;
use crate::error::{PageResult, use_case_status};
use crate::field_errors::{FieldErrors, plain_text};
use crate::form::Posted;
use crate::health::{WebhookRow, list_rows, rows_url};
use crate::session::SignedIn;
use crate::views::{Ctx, Notice, page, query};

pub(crate) async fn home(_session: SignedIn) -> Redirect {
    Redirect::to("/dashboard/webhooks")
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    ctx: Ctx,
    rows: Vec<WebhookRow>,
    next: Option<String>,
    notice: Option<Notice>,
    /// The rows' fragment, re-fetched by the script (health and numbers live).
    refresh: String,
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
    let cursor = q.cursor.filter(|c| !c.is_empty());
    let (rows, next_cursor) = list_rows(&state, &session, cursor.clone()).await?;
    let notice = match q.done.as_deref() {
        Some("deleted") => Notice::success("The webhook was deleted, with its activity log."),
        _ => None,
    };
    let template = WebhooksPage {
        ctx,
        rows,
        next: next_cursor.map(|c| format!("/dashboard/webhooks{}", query(&[("cursor", &c)]))),
        notice,
        refresh: rows_url(cursor.as_deref()),
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
pub(crate) struct EventChoice {
    /// The subscription it adds (`user.created`, `user.*`).
    pub(crate) value: String,
    /// The element id, for its label.
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) checked: bool,
}

pub(crate) struct CategoryChoice {
    pub(crate) name: String,
    /// "Every `user.*` event" choices: one per type prefix in the category.
    pub(crate) groups: Vec<EventChoice>,
    pub(crate) types: Vec<EventChoice>,
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
    /// The rate limit as entered: a count (empty for none) and `second` or `minute`.
    rate_limit: String,
    per_minute: bool,
    errors: FieldErrors,
}

/// What the user entered in Create Webhook, shown again with a refusal.
struct Entered<'a> {
    url: &'a str,
    description: &'a str,
    events: &'a [String],
    rate_limit: &'a str,
    rate_period: &'a str,
}

impl Entered<'_> {
    /// The rate limit entered: none when the count is left empty. A count that is not a
    /// number goes to the use case as 0, whose refusal says what is allowed.
    fn rate_limit(&self) -> Option<RateLimitDraft> {
        let count = self.rate_limit.trim();
        if count.is_empty() {
            return None;
        }
        let period = match self.rate_period {
            "minute" => RatePeriod::Minute,
            _ => RatePeriod::Second,
        };
        Some(RateLimitDraft {
            period,
            count: count.parse().unwrap_or(0),
        })
    }
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
pub(crate) fn categories(
    catalog: Vec<EventType>,
    chosen: &BTreeSet<String>,
) -> Vec<CategoryChoice> {
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
    entered: &Entered<'_>,
    (notice, errors): (Option<Notice>, FieldErrors),
) -> PageResult<Response> {
    let ctx = Ctx::new(state, session, "webhooks").await?;
    let catalog = state.app.list_event_types(&session.workspace_id).await?;
    let chosen: BTreeSet<String> = entered.events.iter().cloned().collect();
    let template = NewWebhookPage {
        ctx,
        url: entered.url.to_owned(),
        description: entered.description.to_owned(),
        all_checked: chosen.contains("*"),
        categories: categories(catalog, &chosen),
        notice,
        dev: state.app.settings().dev,
        rate_limit: entered.rate_limit.to_owned(),
        per_minute: entered.rate_period == "minute",
        errors,
    };
    page(status, &template)
}

pub(crate) async fn new_form(
    State(state): State<DashState>,
    session: SignedIn,
) -> PageResult<Response> {
    let empty = Entered {
        url: "",
        description: "",
        events: &[],
        rate_limit: "",
        rate_period: "second",
    };
    form_page(
        &state,
        &session,
        StatusCode::OK,
        &empty,
        (None, FieldErrors::none()),
    )
    .await
}

pub(crate) async fn create(
    State(state): State<DashState>,
    Posted { session, form }: Posted,
) -> PageResult<Response> {
    let events = form.all("events");
    let entered = Entered {
        url: form.text("url"),
        description: form.text("description"),
        events: &events,
        rate_limit: form.text("rate_limit"),
        rate_period: form.text("rate_limit_period"),
    };
    let draft = WebhookDraft {
        url: entered.url.to_owned(),
        events: events.clone(),
        description: entered.description.to_owned(),
        enabled: true,
        rate_limit: entered.rate_limit(),
        // Custom headers are set through the API (their values are secrets the page
        // never shows back); the webhook's page lists them masked.
        headers: Vec::new(),
    };
    match state.app.create_webhook(&session.workspace_id, draft).await {
        Ok(hook) => Ok(Redirect::to(&format!(
            "/dashboard/webhooks/{}?done=created&reveal=1",
            hook.id
        ))
        .into_response()),
        Err(error) => refuse(&state, &session, &entered, error).await,
    }
}

/// The fields of the webhook forms (create and edit) an error can be shown beside.
pub(crate) const FORM_FIELDS: [&str; 4] = ["url", "events", "description", "enabled"];

/// Shows the form again with the use case's message, or the error page for a 5xx.
async fn refuse(
    state: &DashState,
    session: &SignedIn,
    entered: &Entered<'_>,
    error: UseCaseError,
) -> PageResult<Response> {
    let status = use_case_status(&error);
    if status.is_server_error() {
        return Err(error.into());
    }
    let shown = match FieldErrors::from_error(&error, &FORM_FIELDS) {
        Some(errors) => (None, errors),
        None => (
            Notice::error(plain_text(&error.to_string())),
            FieldErrors::none(),
        ),
    };
    form_page(state, session, status, entered, shown).await
}
