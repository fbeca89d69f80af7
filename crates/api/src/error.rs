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
//! - Use case errors map in one place ([`ApiError::UseCase`]): validation, unknown
//!   event types and payloads that do not match their schema (with `errors`: a JSON
//!   pointer and a message per place) → 422, a cursor no page gave → 400, conflicts → 409, not found → 404, an unavailable store → 503, the
//!   rest → 500. Their `detail` is the use case's own sentence, shared with the dashboard.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use store::{ConflictKind, InvalidCursor, StoreError};
use usecases::{Conflict, Truncated, UseCaseError, source_chain};

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
    #[error(
        "The request body is larger than {limit} bytes, the limit of this service. Send \
         less data (for an event, keep `data` and `metadata` small and link to the rest)."
    )]
    PayloadTooLarge { limit: usize },
    /// A body sent as something other than JSON; holds the `Content-Type` sent (empty
    /// when there was none).
    #[error(
        "The request body must be JSON, sent with `Content-Type: application/json`, not {}.",
        if .0.is_empty() { "without a Content-Type".to_owned() } else { format!("`{}`", .0) }
    )]
    UnsupportedMediaType(String),
    /// Well-formed JSON of the wrong shape, or a body field that does not parse.
    #[error("{0}")]
    Validation(String),
    /// What a use case refused or failed with.
    #[error("{}", use_case_detail(.0))]
    UseCase(#[from] UseCaseError),
    /// The caller's API key used up its rate limit; `retry_after` is in whole seconds.
    #[error(
        "This API key sent more requests than its rate limit allows. Retry after {retry_after} \
         second(s) (the `Retry-After` header), and spread requests out."
    )]
    RateLimited { retry_after: u64 },
    /// The caller's address sent too many wrong keys lately ([`usecases::auth_failures`]).
    #[error("{0} Check the key you send; a valid key is accepted meanwhile.")]
    TooManyFailures(#[from] usecases::TooManyFailures),
    /// `/readyz`: what keeps the service from taking traffic (safe to show: names of
    /// checks, not causes).
    #[error("Not ready: {}.", .0.join("; "))]
    NotReady(Vec<String>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<InvalidCursor> for ApiError {
    fn from(error: InvalidCursor) -> Self {
        Self::UseCase(error.into())
    }
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
    /// Each place in the request body that broke a rule, when the problem can point at
    /// them (a `data` that does not match its event type's schema: up to 10); left out
    /// otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 10)]
    pub errors: Vec<ProblemPlace>,
}

/// One place a request broke a rule (RFC 9457's `errors` extension, as in its example).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemPlace {
    /// A JSON pointer (RFC 6901) into the request body (for a batch item, into the item).
    #[schema(example = "/data/user_id")]
    pub pointer: String,
    /// What is wrong there.
    #[schema(example = "value is not of type \"string\"")]
    pub detail: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::InvalidJson(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UseCase(error) => use_case_status(error),
            Self::RateLimited { .. } | Self::TooManyFailures(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem `type`: `about:blank` when the status says it all, otherwise a stable
    /// slug clients may branch on (relative URI references, as RFC 9457 allows).
    fn problem_type(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "/problems/invalid-json",
            Self::PayloadTooLarge { .. } => "/problems/payload-too-large",
            Self::UnsupportedMediaType(_) => "/problems/unsupported-media-type",
            Self::Validation(_) => "/problems/validation",
            Self::UseCase(error) => use_case_problem(error).0,
            Self::RateLimited { .. } => "/problems/rate-limited",
            Self::TooManyFailures(_) => "/problems/too-many-failed-authentications",
            Self::NotReady(_) => "/problems/not-ready",
            _ => "about:blank",
        }
    }

    fn title(&self) -> &'static str {
        let generic = || self.status().canonical_reason().unwrap_or("Error");
        match self {
            Self::UseCase(error) => use_case_problem(error).1.unwrap_or_else(generic),
            Self::InvalidJson(_) => "Invalid JSON",
            Self::PayloadTooLarge { .. } => "Payload too large",
            Self::UnsupportedMediaType(_) => "Unsupported media type",
            Self::Validation(_) => "Invalid request",
            Self::RateLimited { .. } => "Rate limit exceeded",
            Self::TooManyFailures(_) => "Too many failed authentications",
            Self::NotReady(_) => "Not ready",
            _ => generic(),
        }
    }
}

fn use_case_status(error: &UseCaseError) -> StatusCode {
    StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The problem `type` and, where the status does not say it all, the `title`.
fn use_case_problem(error: &UseCaseError) -> (&'static str, Option<&'static str>) {
    match error {
        UseCaseError::Validation { .. } => ("/problems/validation", Some("Invalid request")),
        UseCaseError::UrlNotAllowed(_) => ("/problems/url-not-allowed", Some("URL not allowed")),
        UseCaseError::Conflict(Conflict::LimitReached { .. }) => (
            "/problems/webhook-limit-reached",
            Some("Webhook limit reached"),
        ),
        UseCaseError::Conflict(Conflict::UnknownEventType(_)) => {
            ("/problems/unknown-event-type", Some("Unknown event type"))
        }
        UseCaseError::SchemaMismatch { .. } => (
            "/problems/schema-mismatch",
            Some("Payload does not match its schema"),
        ),
        UseCaseError::Conflict(Conflict::Store(ConflictKind::LastApiKey)) => {
            ("/problems/last-api-key", Some("Last API key"))
        }
        UseCaseError::Conflict(_) => ("/problems/conflict", Some("Conflict")),
        UseCaseError::InvalidCursor(_) => ("/problems/invalid-cursor", Some("Invalid cursor")),
        _ => ("about:blank", None),
    }
}

/// The `detail` of a use case's error: its own sentence, with the API's wording of a
/// missing object.
fn use_case_detail(error: &UseCaseError) -> String {
    match error {
        UseCaseError::NotFound { kind, id } => format!("There is no {kind} `{id}`."),
        UseCaseError::Store(StoreError::NotFound) => {
            "The requested resource does not exist.".to_owned()
        }
        UseCaseError::Unavailable(_) => "the store is unavailable".to_owned(),
        UseCaseError::Store(_) => "internal error".to_owned(),
        other => other.to_string(),
    }
}

impl ApiError {
    /// The problem document this error answers with (a 5xx's cause is logged here, never
    /// sent): the body of its response, or one item's answer in a batch.
    pub fn problem(&self) -> Problem<'static> {
        let status = self.status();
        let detail = if let Self::NotReady(_) = &self {
            tracing::warn!(detail = %self, "not ready");
            self.to_string()
        } else if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %source_chain(self), "request failed");
            match self {
                Self::UseCase(UseCaseError::Unavailable(_)) => {
                    "The service cannot reach its store right now; retry shortly.".to_owned()
                }
                _ => "The service failed to handle this request; it has been logged. Retry, \
                      and contact the operator if it persists."
                    .to_owned(),
            }
        } else {
            self.to_string()
        };
        let errors = match self {
            Self::UseCase(UseCaseError::SchemaMismatch { violations, .. }) => violations
                .iter()
                .map(|v| ProblemPlace {
                    pointer: format!("/data{}", v.path),
                    detail: v.message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        Problem {
            kind: self.problem_type(),
            title: self.title(),
            status: status.as_u16(),
            detail,
            request_id: crate::request_id::current(),
            errors,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        let retry_after = match &self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            Self::TooManyFailures(limited) => Some(limited.retry_after_secs),
            _ => None,
        };
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
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
}
