//! The dashboard's error type and its HTML answer.
//!
//! Invariants: every failure a page cannot show inline becomes an error page with the
//! right status; a 4xx says what went wrong and what to do; a 5xx never shows its cause
//! (it may name files, SQL or hosts) — the cause is logged with its whole source chain,
//! exactly like the API's errors. A use case's refusal keeps its own sentence, the one
//! the API answers with; only "not found" is worded here.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;
use usecases::{Truncated, UseCaseError, source_chain};

use crate::views::Ctx;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    BadRequest(String),
    /// A form without its session's CSRF token.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// What a use case refused or failed with: validation, conflicts, store failures.
    #[error("{}", use_case_message(.0))]
    UseCase(#[from] UseCaseError),
    #[error("rendering a page failed")]
    Render(#[from] askama::Error),
}

fn use_case_message(error: &UseCaseError) -> String {
    match error {
        UseCaseError::NotFound { kind, .. } => format!(
            "There is no {kind} here: it may have been deleted, or it belongs to another \
             workspace."
        ),
        other => other.to_string(),
    }
}

/// The status a use case's error answers with, the same as the API's.
pub fn use_case_status(error: &UseCaseError) -> StatusCode {
    StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub type PageResult<T> = Result<T, PageError>;

impl PageError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::UseCase(e) => use_case_status(e),
            Self::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the page says: the message of a 4xx, a generic line for a 5xx.
    pub fn message(&self) -> String {
        let status = self.status();
        if status.is_server_error() {
            if status == StatusCode::SERVICE_UNAVAILABLE {
                return "The service cannot reach its store right now; retry shortly.".to_owned();
            }
            "The service failed to handle this request; it has been logged. Retry, and contact \
             the operator if it persists."
                .to_owned()
        } else {
            self.to_string()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    ctx: Ctx,
    status: u16,
    reason: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(
                status = status.as_u16(),
                error = %source_chain(&self),
                "dashboard request failed"
            );
        }
        let page = ErrorPage {
            ctx: Ctx::anonymous(),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message: self.message(),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, page.message).into_response(),
        }
    }
}

/// Parses an id from a path; a malformed one is a 404, like an unknown one.
pub fn parse_id<T: std::str::FromStr>(text: &str, what: &str) -> PageResult<T> {
    text.parse()
        .map_err(|_| PageError::NotFound(format!("There is no {what} `{}`.", Truncated(text, 64))))
}

/// Any other path under `/dashboard`: the dashboard's own 404 page, not the API's JSON.
pub(crate) async fn unknown_page() -> PageError {
    PageError::NotFound(
        "There is no such page in the dashboard. Check the address, or go back to the \
         webhooks."
            .to_owned(),
    )
}
