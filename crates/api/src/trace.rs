//! The W3C trace context of a request (`traceparent`, `tracestate`) and the one an event
//! published by it keeps.
//!
//! Invariants:
//! - An invalid `traceparent` is ignored (with its `tracestate`), as the W3C specification
//!   says: never a refusal.
//! - A published event belongs to the request's trace: its stored context names the
//!   request's span (as OpenTelemetry recorded it, or made up when nothing records it) as
//!   the parent of its delivery attempts. Without a valid `traceparent` the request starts
//!   a new trace, so every event has one.

use axum::http::HeaderMap;
use domain::TraceContext;

/// The caller's trace context, if its `traceparent` is valid.
pub fn caller_context(headers: &HeaderMap) -> Option<TraceContext> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    TraceContext::from_headers(text("traceparent"), text("tracestate"))
}

/// The trace context an event published by the current request keeps.
pub fn event_context(headers: &HeaderMap) -> TraceContext {
    let caller = caller_context(headers);
    let state = caller.as_ref().and_then(|c| c.state.clone());
    domain::trace_span::context_of(&tracing::Span::current(), state, || match caller {
        Some(caller) => caller.child(),
        None => TraceContext::fresh(false),
    })
}
