//! Trace contexts as parents and children of `tracing` spans that OpenTelemetry records
//! (`tracing-opentelemetry`), so the spans the service exports (`--otlp-endpoint`) and
//! the `traceparent` it sends are the same spans. Built only with the `otel` feature (the
//! API and the delivery crate use it).
//!
//! When no OpenTelemetry layer records the span (no `--otlp-endpoint`, or the span's level
//! is filtered out), the ids are made here instead: the trace still runs through, only
//! nothing of ours is exported.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::TraceContext;

/// Makes `span` a child of `parent` (a span of another process, or one we recorded
/// earlier). Call before the span is first entered; without an OpenTelemetry layer it
/// does nothing.
pub fn set_parent(span: &tracing::Span, parent: &TraceContext) {
    let state = parent
        .state
        .as_deref()
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    let remote = SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.span_id),
        TraceFlags::new(parent.flags),
        true,
        state,
    );
    // Err only when no OpenTelemetry layer is installed: nothing records the span then.
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

/// The context `span` hands to what follows it: its own trace and span id when
/// OpenTelemetry records it, otherwise `fallback`. `state` (the parent's `tracestate`)
/// goes along unchanged.
pub fn context_of(
    span: &tracing::Span,
    state: Option<String>,
    fallback: impl FnOnce() -> TraceContext,
) -> TraceContext {
    let otel = span.context();
    let recorded = otel.span().span_context().clone();
    if !recorded.is_valid() {
        return fallback();
    }
    TraceContext {
        trace_id: recorded.trace_id().to_bytes(),
        span_id: recorded.span_id().to_bytes(),
        flags: recorded.trace_flags().to_u8(),
        state,
    }
}

/// The context of `span` made a child of `parent`: its ids when recorded, else a random
/// child of `parent`.
pub fn child_of(span: &tracing::Span, parent: &TraceContext) -> TraceContext {
    set_parent(span, parent);
    context_of(span, parent.state.clone(), || parent.child())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_recording_layer_a_child_gets_fresh_span_ids() {
        let parent = TraceContext::fresh(true);
        let span = tracing::info_span!("attempt");
        let first = child_of(&span, &parent);
        let second = child_of(&tracing::info_span!("attempt"), &parent);
        assert_eq!(first.trace_id, parent.trace_id);
        assert_ne!(first.span_id, parent.span_id);
        assert_ne!(first.span_id, second.span_id);
    }
}
