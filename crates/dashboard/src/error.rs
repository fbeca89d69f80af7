//! The dashboard's error type and its HTML answer.
//!
//! Invariants: every failure a page cannot show inline becomes an error page with the
//! right status; a 4xx says what went wrong and what to do; a 5xx never shows its cause
//! (it may name files, SQL or hosts) — the cause is logged with its whole source chain,
//! exactly like the API's errors, which most of these wrap.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;

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
    /// What the API would answer: validation, conflicts, store failures.
    #[error(transparent)]
    Api(#[from] api::ApiError),
    #[error("rendering a page failed")]
    Render(#[from] askama::Error),
}

impl From<store::StoreError> for PageError {
    fn from(error: store::StoreError) -> Self {
        Self::Api(error.into())
    }
}

pub type PageResult<T> = Result<T, PageError>;

impl PageError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Api(e) => e.status(),
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
                error = %api::error::source_chain(&self),
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

/// Turns a store `NotFound` into a 404 page naming what was looked for.
pub trait OrNotFound<T> {
    fn or_not_found(self, what: &str) -> PageResult<T>;
}

impl<T> OrNotFound<T> for store::Result<T> {
    fn or_not_found(self, what: &str) -> PageResult<T> {
        self.map_err(|error| not_found_as(error, what))
    }
}

/// A store error, where `NotFound` means there is no such `what`.
pub fn not_found_as(error: store::StoreError, what: &str) -> PageError {
    match error {
        store::StoreError::NotFound => PageError::NotFound(format!(
            "There is no {what} here: it may have been deleted, or it belongs to another \
             workspace."
        )),
        other => other.into(),
    }
}

/// Parses an id from a path; a malformed one is a 404, like an unknown one.
pub fn parse_id<T: std::str::FromStr>(text: &str, what: &str) -> PageResult<T> {
    text.parse().map_err(|_| {
        PageError::NotFound(format!(
            "There is no {what} `{}`.",
            api::error::Truncated(text, 64)
        ))
    })
}
