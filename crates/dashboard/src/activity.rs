//! The activity log: one endpoint's deliveries (newest first, filtered by status, paged),
//! the outcome of a test event, one delivery's attempts, and the retry button.
//!
//! Invariants:
//! - The log is rendered by one template (`activity.html`), both inside the webhook's
//!   page and alone as the fragment the script re-fetches every few seconds, so the live
//!   view and the page without JavaScript never disagree.
//! - A row explains itself ([`explain`]): why its last attempt failed, and which
//!   delivery an untried one waits behind (the lane's head: ordered delivery); a test
//!   event says how many deliveries go out before it. A response time is shown only for
//!   an attempt that got an answer, and a waiting row never shows a retry time in the past.
//! - A retry is the API's use case: it re-opens the delivery in place (it keeps its place
//!   in the endpoint's order) and resyncs the endpoint's lane; retrying to a disabled
//!   endpoint is refused with the API's message.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use domain::{DeliveryId, DeliveryStatus, EventId, WebhookId};
use http::StatusCode;
use store::{Delivery, DeliveryFilter, PageRequest};
use usecases::UseCaseError;

use crate::DashState;
use crate::error::{PageResult, parse_id, use_case_status};
use crate::form::Posted;
use crate::inspector;
use crate::session::SignedIn;
use crate::views::{
    Ctx, Notice, STATUSES, When, code, millis, page, query, relative, status_hint, when,
};
use crate::webhook;

mod explain;

/// Deliveries per page of the log.
const PAGE_SIZE: u32 = 25;

/// The query of a webhook's page and of its log fragment.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(crate) struct LogQuery {
    /// Only deliveries with this status ("" or absent: all).
    pub status: Option<String>,
    pub cursor: Option<String>,
    /// The test event just sent, whose outcome the page shows above the log.
    pub test: Option<String>,
    /// Show the signing secret.
    pub reveal: Option<String>,
    /// What just happened (`created`, `rotated`, …), for the notice.
    pub done: Option<String>,
}

impl LogQuery {
    fn status(&self) -> Option<DeliveryStatus> {
        self.status.as_deref().and_then(|s| s.parse().ok())
    }
}

pub(crate) struct DeliveryRow {
    pub(crate) id: String,
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    pub(crate) status: &'static str,
    pub(crate) hint: &'static str,
    pub(crate) attempts: u32,
    pub(crate) code: String,
    pub(crate) response: String,
    pub(crate) next_retry: String,
    pub(crate) created: When,
    pub(crate) last_error: Option<String>,
    /// Why its last attempt failed, short: "Connection failed: the connection was refused".
    pub(crate) reason: Option<String>,
    /// The lane's head this untried delivery waits for (ordered delivery).
    pub(crate) waiting_behind: Option<String>,
}

fn row(d: Delivery, now: chrono::DateTime<Utc>) -> DeliveryRow {
    DeliveryRow {
        id: d.id.to_string(),
        event_id: d.event_id.to_string(),
        event_type: d.event_type,
        status: d.status.as_str(),
        hint: status_hint(d.status),
        attempts: d.attempts,
        code: code(d.last_status_code),
        // Only an answer has a response time: a refused connection's is not one.
        response: match d.last_status_code {
            Some(_) => millis(d.last_response_ms),
            None => "—".to_owned(),
        },
        next_retry: match d.next_attempt_at {
            Some(at) if d.status.is_open() && at > now => relative(at, now),
            Some(_) if d.status.is_open() => "now".to_owned(),
            _ => "—".to_owned(),
        },
        created: when(d.created_at),
        reason: d
            .last_error
            .as_deref()
            .filter(|_| d.status != DeliveryStatus::Delivered)
            .map(|e| explain::reason(e, d.last_status_code)),
        last_error: d.last_error,
        waiting_behind: None,
    }
}

pub(crate) struct FilterOption {
    pub(crate) value: &'static str,
    pub(crate) label: &'static str,
    pub(crate) selected: bool,
}

/// The outcome of a test event sent from the page.
pub(crate) struct TestView {
    pub(crate) event_id: String,
    /// `None` until its delivery is found (or once retention removed it).
    pub(crate) delivery: Option<DeliveryRow>,
    /// Open deliveries of the endpoint that go out before it (ordered delivery).
    pub(crate) ahead: u64,
}

pub(crate) struct ActivityView {
    pub(crate) webhook_id: String,
    pub(crate) filters: Vec<FilterOption>,
    pub(crate) filtered: bool,
    pub(crate) rows: Vec<DeliveryRow>,
    /// The next (older) page.
    pub(crate) older: Option<String>,
    /// Whether this is a later page (a link back to the newest is shown).
    pub(crate) paged: bool,
    /// The fragment's URL, re-fetched by the script.
    pub(crate) refresh: String,
    /// This page's URL, the refresh link without JavaScript.
    pub(crate) page_url: String,
    pub(crate) test: Option<TestView>,
    pub(crate) enabled: bool,
}

pub(crate) async fn activity_view(
    state: &DashState,
    session: &SignedIn,
    hook: &store::Webhook,
    q: &LogQuery,
) -> PageResult<ActivityView> {
    let status = q.status();
    let cursor = q.cursor.clone().filter(|c| !c.is_empty());
    let filter = DeliveryFilter {
        status,
        ..DeliveryFilter::default()
    };
    let page_request = PageRequest {
        limit: PAGE_SIZE,
        cursor: cursor.clone(),
    };
    let deliveries = state
        .app
        .list_deliveries(&session.workspace_id, &hook.id, filter, page_request)
        .await?;
    let now = Utc::now();
    let health = state
        .app
        .webhook_health(&session.workspace_id, &hook.id)
        .await?;
    let test = match q.test.as_deref().and_then(|t| t.parse::<EventId>().ok()) {
        Some(event) => {
            let found = state
                .app
                .event_deliveries(&session.workspace_id, &event)
                .await;
            let delivery = match found {
                Ok(list) => list.into_iter().find(|d| d.webhook_id == hook.id),
                Err(UseCaseError::NotFound { .. }) => None,
                Err(other) => return Err(other.into()),
            };
            let ahead = match &delivery {
                Some(d) if d.status.is_open() => {
                    state
                        .app
                        .deliveries_ahead(&session.workspace_id, &d.id)
                        .await?
                }
                _ => 0,
            };
            Some(TestView {
                event_id: event.to_string(),
                delivery: delivery.map(|d| explain::held(row(d, now), &health)),
                ahead,
            })
        }
        None => None,
    };
    let status_text = status.map_or("", |s| s.as_str());
    let test_text = q.test.as_deref().unwrap_or("");
    let cursor_text = cursor.as_deref().unwrap_or("");
    let base = format!("/dashboard/webhooks/{}", hook.id);
    let own = [
        ("status", status_text),
        ("cursor", cursor_text),
        ("test", test_text),
    ];
    Ok(ActivityView {
        webhook_id: hook.id.to_string(),
        filters: std::iter::once(FilterOption {
            value: "",
            label: "All statuses",
            selected: status.is_none(),
        })
        .chain(STATUSES.iter().map(|s| FilterOption {
            value: s.as_str(),
            label: s.as_str(),
            selected: status == Some(*s),
        }))
        .collect(),
        filtered: status.is_some(),
        rows: deliveries
            .data
            .into_iter()
            .map(|d| explain::held(row(d, now), &health))
            .collect(),
        older: deliveries.next_cursor.map(|c| {
            format!(
                "{base}{}#activity",
                query(&[("status", status_text), ("cursor", &c), ("test", test_text)])
            )
        }),
        paged: cursor.is_some(),
        refresh: format!("{base}/activity{}", query(&own)),
        page_url: format!("{base}{}#activity", query(&own)),
        test,
        enabled: hook.enabled,
    })
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityFragment {
    ctx: Ctx,
    log: ActivityView,
}

/// The log alone, for the script's live refresh.
pub(crate) async fn fragment(
    State(state): State<DashState>,
    session: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> PageResult<Response> {
    let id: WebhookId = parse_id(&id, "webhook")?;
    let hook = state.app.get_webhook(&session.workspace_id, &id).await?;
    let log = activity_view(&state, &session, &hook, &q).await?;
    let ctx = Ctx {
        signed_in: true,
        csrf: session.csrf.clone(),
        workspace: String::new(),
        active: "webhooks",
    };
    page(StatusCode::OK, &ActivityFragment { ctx, log })
}

#[derive(Template)]
#[template(path = "delivery.html")]
struct DeliveryPage {
    ctx: Ctx,
    delivery: DeliveryRow,
    webhook_id: String,
    webhook_url: String,
    /// The event's body as delivered, pretty-printed.
    body: String,
    attempts: Vec<inspector::AttemptView>,
    notice: Option<Notice>,
}

pub(crate) async fn delivery(
    State(state): State<DashState>,
    session: SignedIn,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let id: DeliveryId = parse_id(&id, "delivery")?;
    render_delivery(&state, &session, &id, StatusCode::OK, None).await
}

async fn render_delivery(
    state: &DashState,
    session: &SignedIn,
    id: &DeliveryId,
    status: StatusCode,
    notice: Option<Notice>,
) -> PageResult<Response> {
    let (delivery, attempts) = state.app.get_delivery(&session.workspace_id, id).await?;
    let hook = state
        .app
        .get_webhook(&session.workspace_id, &delivery.webhook_id)
        .await?;
    let ctx = Ctx::new(state, session, "webhooks").await?;
    // The body is the same on every attempt: the event's stored bytes. Retention may
    // have pruned the event of an old delivery; the page then says so.
    let body = match state
        .app
        .get_event(&session.workspace_id, &delivery.event_id)
        .await
    {
        Ok((event, _)) => event.body,
        Err(UseCaseError::NotFound { .. }) => Vec::new(),
        Err(other) => return Err(other.into()),
    };
    let template = DeliveryPage {
        ctx,
        attempts: inspector::attempts(attempts, &hook.url, &body),
        body: inspector::pretty_json(&String::from_utf8_lossy(&body)),
        delivery: row(delivery, Utc::now()),
        webhook_id: hook.id.to_string(),
        webhook_url: hook.url,
        notice,
    };
    page(status, &template)
}

/// Sends one delivery again now, whatever its status; back to where the button was.
pub(crate) async fn retry(
    State(state): State<DashState>,
    Path(id): Path<String>,
    Posted { session, form }: Posted,
) -> PageResult<Response> {
    let id: DeliveryId = parse_id(&id, "delivery")?;
    let (delivery, _) = state.app.get_delivery(&session.workspace_id, &id).await?;
    let from_delivery = form.get("from") == Some("delivery");
    let delivery = match state.app.retry_delivery(&session.workspace_id, &id).await {
        Ok(delivery) => delivery,
        Err(error) if !use_case_status(&error).is_server_error() => {
            // Refused (a disabled endpoint): the page the button was on, with the reason.
            let status = use_case_status(&error);
            let notice = Notice::error(crate::field_errors::plain_text(&error.to_string()));
            return if from_delivery {
                render_delivery(&state, &session, &id, status, notice).await
            } else {
                let q = LogQuery::default();
                webhook::render(&state, &session, &delivery.webhook_id, &q, status, notice).await
            };
        }
        Err(error) => return Err(error.into()),
    };
    let target = if from_delivery {
        format!("/dashboard/deliveries/{id}")
    } else {
        format!(
            "/dashboard/webhooks/{}?done=retried#activity",
            delivery.webhook_id
        )
    };
    Ok(Redirect::to(&target).into_response())
}
