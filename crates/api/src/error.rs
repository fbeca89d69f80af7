//! The one error type of the API and its RFC 9457 (`application/problem+json`) answer.
//!
//! Invariants:
//! - Every error the API answers with goes through [`ApiError`], so every error body has
//!   the same shape: `{"type", "title", "status", "detail", "request_id"}`, where
//!   `request_id` is the request's `X-Request-Id` (also on every log line of the
//!   request), so a caller can quote it to the operator.
//! - A 4xx `detail` tells the caller what was wrong and what to do about it.
//! - A 5xx never sends its cause to the client: the cause is logged with its whole source
//!   chain and the client gets a generic detail (the cause may name files, SQL or hosts).
//! - Store errors map in one place ([`From<StoreError>`]): `NotFound` → 404, `Conflict`
//!   and `LimitReached` → 409, `UnknownEventType` → 422, `Closed` → 503, the rest → 500.

use std::fmt::{self, Display};

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use store::StoreError;

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A malformed request outside the JSON body: a header or a query parameter.
    #[error("{0}")]
    BadRequest(String),
    /// The body is not JSON at all (syntax error, truncated, empty).
    #[error("The request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("This path does not accept the {0} method; the `Allow` header lists the ones it does.")]
    MethodNotAllowed(http::Method),
    #[error("{0}")]
    Conflict(String),
    #[error(
        "This workspace already has {limit} enabled webhooks, its limit. Disable or delete \
         one, or ask the operator to raise the limit."
    )]
    LimitReached { limit: u32 },
    #[error(
        "The request body is larger than {limit} bytes, the limit of this service. Send \
         less data (for an event, keep `data` and `metadata` small and link to the rest)."
    )]
    PayloadTooLarge { limit: usize },
    /// Well-formed JSON of the wrong shape, or values that break a rule.
    #[error("{0}")]
    Validation(String),
    #[error(
        "Event type `{0}` is not in this workspace's catalog. Add it with POST /v1/event-types \
         (`type`, `category`, `description`) or use one of the types GET /v1/event-types lists."
    )]
    UnknownEventType(String),
    /// The webhook URL breaks the address rules (scheme, host, resolved addresses).
    #[error("{0}")]
    UrlNotAllowed(String),
    /// A dependency (the store) cannot answer now; retrying later may work.
    #[error("the store is unavailable")]
    Unavailable(#[source] StoreError),
    /// The caller's API key used up its rate limit; `retry_after` is in whole seconds.
    #[error(
        "This API key sent more requests than its rate limit allows. Retry after {retry_after} \
         second(s) (the `Retry-After` header), and spread requests out."
    )]
    RateLimited { retry_after: u64 },
    /// `/readyz`: what keeps the service from taking traffic (safe to show: names of
    /// checks, not causes).
    #[error("Not ready: {}.", .0.join("; "))]
    NotReady(Vec<String>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The body of every error answer (RFC 9457 `application/problem+json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    /// A stable slug of the kind of problem (`/problems/validation`, …), or
    /// `about:blank` when the status says it all.
    #[serde(rename = "type")]
    #[schema(example = "/problems/validation")]
    pub kind: &'a str,
    #[schema(example = "Invalid request")]
    pub title: &'a str,
    #[schema(example = 422)]
    pub status: u16,
    /// What was wrong and what to do about it.
    pub detail: String,
    /// The request's id, as in its `X-Request-Id` header and log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "req_01JABCDEF0123456789ABCDEFG")]
    pub request_id: Option<String>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::InvalidJson(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) | Self::LimitReached { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Validation(_) | Self::UnknownEventType(_) | Self::UrlNotAllowed(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem `type`: `about:blank` when the status says it all, otherwise a stable
    /// slug clients may branch on (relative URI references, as RFC 9457 allows).
    fn problem_type(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "/problems/invalid-json",
            Self::LimitReached { .. } => "/problems/webhook-limit-reached",
            Self::PayloadTooLarge { .. } => "/problems/payload-too-large",
            Self::Validation(_) => "/problems/validation",
            Self::UnknownEventType(_) => "/problems/unknown-event-type",
            Self::UrlNotAllowed(_) => "/problems/url-not-allowed",
            Self::Conflict(_) => "/problems/conflict",
            Self::RateLimited { .. } => "/problems/rate-limited",
            Self::NotReady(_) => "/problems/not-ready",
            _ => "about:blank",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "Invalid JSON",
            Self::LimitReached { .. } => "Webhook limit reached",
            Self::PayloadTooLarge { .. } => "Payload too large",
            Self::Validation(_) => "Invalid request",
            Self::UnknownEventType(_) => "Unknown event type",
            Self::UrlNotAllowed(_) => "URL not allowed",
            Self::Conflict(_) => "Conflict",
            Self::RateLimited { .. } => "Rate limit exceeded",
            Self::NotReady(_) => "Not ready",
            other => other.status().canonical_reason().unwrap_or("Error"),
        }
    }
}

/// `error: cause: cause's cause`, skipping a source whose message its parent already
/// repeats (wrappers like `StoreError::Backend` print their source in their own message).
pub fn source_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        current = cause.source();
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = if let Self::NotReady(_) = &self {
            tracing::warn!(detail = %self, "not ready");
            self.to_string()
        } else if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %source_chain(&self), "request failed");
            match self {
                Self::Unavailable(_) => {
                    "The service cannot reach its store right now; retry shortly.".to_owned()
                }
                _ => "The service failed to handle this request; it has been logged. Retry, \
                      and contact the operator if it persists."
                    .to_owned(),
            }
        } else {
            self.to_string()
        };
        let problem = Problem {
            kind: self.problem_type(),
            title: self.title(),
            status: status.as_u16(),
            detail,
            request_id: crate::request_id::current(),
        };
        let mut response = (status, Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::RateLimited { retry_after } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => {
                Self::NotFound("The requested resource does not exist.".to_owned())
            }
            StoreError::Conflict(kind) => Self::Conflict(match kind {
                store::ConflictKind::EventTypeExists(name) => {
                    format!("Event type `{name}` already exists in this workspace's catalog.")
                }
                store::ConflictKind::ApiKeyExists => {
                    "an API key with this value exists already; generate a new one".to_owned()
                }
                store::ConflictKind::SessionExists => {
                    "a session with this id exists already".to_owned()
                }
            }),
            StoreError::LimitReached { limit } => Self::LimitReached { limit },
            StoreError::UnknownEventType(name) => Self::UnknownEventType(name),
            StoreError::Closed => Self::Unavailable(error),
            other => Self::Internal(Box::new(other)),
        }
    }
}

/// Gives a store `NotFound` a detail naming what was looked for.
pub trait NotFoundAs<T> {
    fn not_found_as(self, kind: &str, id: &dyn Display) -> ApiResult<T>;
}

impl<T> NotFoundAs<T> for store::Result<T> {
    fn not_found_as(self, kind: &str, id: &dyn Display) -> ApiResult<T> {
        self.map_err(|error| match error {
            StoreError::NotFound => ApiError::NotFound(format!("There is no {kind} `{id}`.")),
            other => other.into(),
        })
    }
}

/// Answers requests for paths the API does not have.
pub async fn not_found_fallback(uri: http::Uri) -> ApiError {
    ApiError::NotFound(format!(
        "There is nothing at `{}`. The API lives under /v1 (for example /v1/webhooks).",
        Truncated(uri.path(), 200)
    ))
}

/// Answers a known path called with a method it does not take (axum adds `Allow`).
pub async fn method_not_allowed_fallback(method: http::Method) -> ApiError {
    ApiError::MethodNotAllowed(method)
}

/// Displays at most `n` characters, so that echoing caller input stays bounded.
pub struct Truncated<'a>(pub &'a str, pub usize);

impl Display for Truncated<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.char_indices();
        match chars.nth(self.1) {
            Some((end, _)) => write!(f, "{}…", &self.0[..end]),
            None => f.write_str(self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("disk I/O error")]
    struct Io;

    #[test]
    fn source_chain_lists_causes_once() {
        let error = ApiError::Internal(Box::new(StoreError::Backend(Box::new(Io))));
        assert_eq!(
            source_chain(&error),
            "internal error: store backend error: disk I/O error"
        );
    }

    #[test]
    fn truncation_is_char_safe() {
        assert_eq!(Truncated("ééé", 2).to_string(), "éé…");
        assert_eq!(Truncated("ab", 2).to_string(), "ab");
    }
}
