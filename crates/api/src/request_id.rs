//! Request ids and the request log: every request gets an id (`req_` + a ULID, or the
//! caller's own `X-Request-Id` when it is a short plain token), answered in the
//! `X-Request-Id` header and in every problem body, and carried by a `request` span on
//! every log line written while the request is handled.
//!
//! Invariants:
//! - The span holds the id, the method, the matched route *template* (`/v1/webhooks/{id}`,
//!   never the raw URI, whose query could carry anything) and, once answered, the status
//!   and latency. Headers and bodies are never logged: they carry API keys, secrets and
//!   payloads.
//! - A caller's id is kept only if it is 1 to 64 characters of `[A-Za-z0-9._:-]`, so
//!   nobody can write arbitrary text into the log through it; anything else is replaced.
//! - The id is also put in a task-local for the duration of the handler, which is how
//!   [`crate::ApiError`] finds it without every handler passing it around.

use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderName, HeaderValue};
use tower_http::request_id::{MakeRequestId, RequestId};
use tracing::Span;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest caller-chosen id accepted.
const MAX_CALLER_ID: usize = 64;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, if called while one is.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Makes `req_<ULID>` ids: unique, time-ordered, and recognizable in logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        let id = format!("req_{}", ulid::Ulid::new());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_CALLER_ID
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Drops a caller's `X-Request-Id` that is not a short plain token, so that the next
/// layer makes one of ours instead.
pub async fn drop_unacceptable(mut request: Request) -> Request {
    if request
        .headers()
        .get(&X_REQUEST_ID)
        .is_some_and(|v| !acceptable(v))
    {
        request.headers_mut().remove(&X_REQUEST_ID);
    }
    request
}

fn id_of<B>(request: &http::Request<B>) -> &str {
    request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Makes the request's id available to [`current`] while the inner service runs.
pub async fn scope(request: Request, next: Next) -> Response {
    let id = id_of(&request).to_owned();
    REQUEST_ID.scope(id, next.run(request)).await
}

/// The span every log line of a request is written in.
pub fn span<B>(request: &http::Request<B>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        request_id = %id_of(request),
        method = %request.method(),
        route,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
        otel.kind = "server",
        otel.name = %format_args!("{} {route}", request.method()),
    );
    // A caller's trace continues through the request (W3C Trace Context; an invalid
    // `traceparent` is ignored and the request starts a trace of its own).
    if let Some(parent) = crate::trace::caller_context(request.headers()) {
        domain::trace_span::set_parent(&span, &parent);
    }
    span
}

/// Records the answer on the span and logs it: successes at debug (a busy producer
/// publishes thousands of times a second), refusals at info; server errors were logged
/// with their cause where they arose.
pub fn on_response<B>(response: &http::Response<B>, latency: Duration, span: &Span) {
    let status = response.status().as_u16();
    span.record("status", status);
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    if status >= 400 {
        tracing::info!("request refused");
    } else {
        tracing::debug!("request finished");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_caller_ids_are_kept() {
        for ok in ["abc", "req_01J-x.y:z", &"a".repeat(64)] {
            assert!(acceptable(&HeaderValue::from_str(ok).unwrap()), "{ok}");
        }
        for bad in ["", "a b", "x\"y", &"a".repeat(65), "awk_key=secret;"] {
            assert!(!acceptable(&HeaderValue::from_str(bad).unwrap()), "{bad}");
        }
    }

    #[test]
    fn made_ids_are_prefixed_ulids() {
        let request = http::Request::new(());
        let id = MakeId.make_request_id(&request).unwrap();
        let text = id.header_value().to_str().unwrap();
        assert!(text.starts_with("req_") && text.len() == 30, "{text}");
    }
}
