//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the `traceparent` and
//! `tracestate` a publisher sends, kept with its event, and the child context each delivery
//! attempt sends on, so a trace runs from the publisher's app through us to the receiver.
//!
//! Invariants:
//! - A `traceparent` that breaks the format (wrong lengths, upper-case or non-hex digits,
//!   version `ff`, an all-zero trace or parent id) is ignored, as the specification says:
//!   the event starts a trace of its own, and its `tracestate` is ignored with it.
//! - A higher version than `00` is read by its `00` prefix (the specification's forward
//!   compatibility rule) and sent on as version `00`, the only one we write.
//! - `tracestate` is kept only when it is at most [`MAX_TRACESTATE`] bytes of at most 32
//!   well-formed `key=value` members; otherwise it is dropped, never repaired.
//! - A child keeps the trace id, the flags and the state, and has a new random span id.

use rand::RngCore;

/// The longest `tracestate` kept (the specification's limit for propagation).
pub const MAX_TRACESTATE: usize = 512;
const MAX_TRACESTATE_MEMBERS: usize = 32;

/// The sampled flag of `trace-flags`.
pub const SAMPLED: u8 = 0x01;

/// One position in a trace: the trace, the span that is the parent of whatever follows,
/// and what the trace carries along.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// The span the next hop is a child of (`parent-id` on the wire).
    pub span_id: [u8; 8],
    pub flags: u8,
    /// The `tracestate` header as received (already checked), if any.
    pub state: Option<String>,
}

fn random_nonzero<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    while bytes.iter().all(|b| *b == 0) {
        rand::thread_rng().fill_bytes(&mut bytes);
    }
    bytes
}

fn hex_id<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    (!bytes.iter().all(|b| *b == 0)).then_some(bytes)
}

impl TraceContext {
    /// The context a request's headers give, or `None` when `traceparent` is absent or
    /// invalid (the caller then starts a trace of its own).
    pub fn from_headers(traceparent: Option<&str>, tracestate: Option<&str>) -> Option<Self> {
        let (trace_id, span_id, flags) = parse_traceparent(traceparent?.trim())?;
        Some(Self {
            trace_id,
            span_id,
            flags,
            state: tracestate.and_then(checked_tracestate),
        })
    }

    /// A new trace, with a random trace id and span id.
    pub fn fresh(sampled: bool) -> Self {
        Self {
            trace_id: random_nonzero(),
            span_id: random_nonzero(),
            flags: if sampled { SAMPLED } else { 0 },
            state: None,
        }
    }

    /// The same trace one hop further: a new random span id, the rest kept.
    pub fn child(&self) -> Self {
        self.with_span(random_nonzero())
    }

    /// The same trace with `span_id` as the parent of what follows.
    pub fn with_span(&self, span_id: [u8; 8]) -> Self {
        Self {
            span_id,
            ..self.clone()
        }
    }

    /// The `traceparent` header value (version `00`).
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.span_id),
            self.flags
        )
    }

    /// The trace id as 32 lowercase hex digits, as tools show it.
    pub fn trace_id_hex(&self) -> String {
        hex::encode(self.trace_id)
    }

    /// A context stored by [`TraceContext::traceparent`] (and its state), read back.
    pub fn from_stored(traceparent: &str, tracestate: Option<String>) -> Option<Self> {
        let (trace_id, span_id, flags) = parse_traceparent(traceparent)?;
        Some(Self {
            trace_id,
            span_id,
            flags,
            state: tracestate,
        })
    }
}

fn parse_traceparent(text: &str) -> Option<([u8; 16], [u8; 8], u8)> {
    if text.len() < 55 || !text.is_ascii() {
        return None;
    }
    let version = &text[..2];
    let parsed_version = hex_id::<1>(version).map(|[v]| v).or_else(|| {
        // `00` is all zeros, which hex_id refuses for ids; a version may be zero.
        (version == "00").then_some(0)
    })?;
    if parsed_version == 0xff {
        return None;
    }
    if parsed_version == 0 && text.len() != 55 {
        return None;
    }
    // A later version may append fields, after a dash.
    if text.len() > 55 && text.as_bytes()[55] != b'-' {
        return None;
    }
    let bytes = text.as_bytes();
    if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let trace_id = hex_id::<16>(&text[3..35])?;
    let span_id = hex_id::<8>(&text[36..52])?;
    let flags_text = &text[53..55];
    if !flags_text
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let flags = u8::from_str_radix(flags_text, 16).ok()?;
    Some((trace_id, span_id, flags))
}

/// The `tracestate` value if it is well-formed and small enough to pass on.
fn checked_tracestate(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_TRACESTATE {
        return None;
    }
    let members: Vec<&str> = text
        .split(',')
        .map(|m| m.trim_matches([' ', '\t']))
        .filter(|m| !m.is_empty())
        .collect();
    if members.is_empty() || members.len() > MAX_TRACESTATE_MEMBERS {
        return None;
    }
    let key_ok = |key: &str| {
        !key.is_empty()
            && key.len() <= 256
            && key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/@".contains(&b))
            && key.matches('@').count() <= 1
    };
    let value_ok = |value: &str| {
        !value.is_empty()
            && value.len() <= 256
            && value
                .bytes()
                .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
            && !value.ends_with(' ')
    };
    let well_formed = members.iter().all(|member| {
        member
            .split_once('=')
            .is_some_and(|(key, value)| key_ok(key) && value_ok(value))
    });
    well_formed.then(|| members.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specifications_example_reads_and_writes_back() {
        let context = TraceContext::from_headers(Some(EXAMPLE), Some("rojo=00f067aa0ba902b7"))
            .expect("valid");
        assert_eq!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.flags, SAMPLED);
        assert_eq!(context.traceparent(), EXAMPLE);
        assert_eq!(context.state.as_deref(), Some("rojo=00f067aa0ba902b7"));
        let stored = TraceContext::from_stored(&context.traceparent(), context.state.clone());
        assert_eq!(stored.as_ref(), Some(&context));
    }

    #[test]
    fn invalid_traceparents_are_ignored_with_their_state() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00-4bf92f3577b34da6a3ce929d0e0e473é-00f067aa0ba902b7-01",
        ] {
            assert_eq!(
                TraceContext::from_headers(Some(bad), Some("a=b")),
                None,
                "{bad}"
            );
        }
        assert_eq!(TraceContext::from_headers(None, Some("a=b")), None);
    }

    #[test]
    fn later_versions_are_read_by_their_prefix() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-whatever";
        let context = TraceContext::from_headers(Some(later), None).unwrap();
        assert_eq!(context.traceparent(), EXAMPLE);
        assert!(
            TraceContext::from_headers(
                Some("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"),
                None
            )
            .is_none()
        );
    }

    #[test]
    fn a_bad_tracestate_is_dropped_alone() {
        for bad in [
            "",
            "no-equals",
            "UPPER=x",
            "k=v,=x",
            "k=a,b",
            &format!("k={}", "v".repeat(600)),
        ] {
            let context = TraceContext::from_headers(Some(EXAMPLE), Some(bad)).unwrap();
            assert_eq!(context.state, None, "{bad}");
        }
        let many = (0..33)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            TraceContext::from_headers(Some(EXAMPLE), Some(&many))
                .unwrap()
                .state,
            None
        );
        let kept =
            TraceContext::from_headers(Some(EXAMPLE), Some("congo=t61rcWkgMzE, rojo=1")).unwrap();
        assert_eq!(kept.state.as_deref(), Some("congo=t61rcWkgMzE,rojo=1"));
    }

    #[test]
    fn a_child_keeps_the_trace_and_changes_the_span() {
        let parent = TraceContext::from_headers(Some(EXAMPLE), Some("rojo=1")).unwrap();
        let first = parent.child();
        let second = parent.child();
        assert_eq!(first.trace_id, parent.trace_id);
        assert_eq!(first.state, parent.state);
        assert_ne!(first.span_id, parent.span_id);
        assert_ne!(first.span_id, second.span_id);
        let fresh = TraceContext::fresh(false);
        assert_eq!(fresh.flags, 0);
        assert!(TraceContext::from_stored(&fresh.traceparent(), None).is_some());
    }
}
