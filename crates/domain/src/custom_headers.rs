//! Headers an endpoint's owner adds to every attempt (an `Authorization` for a receiver
//! behind an API gateway, a tenant id): what may be set, and how a value is shown.
//!
//! Invariants:
//! - At most [`MAX_CUSTOM_HEADERS`]; a name is an HTTP token (RFC 9110 §5.6.2) of at most
//!   [`MAX_HEADER_NAME`] characters; a value is 1..=[`MAX_HEADER_VALUE`] visible ASCII
//!   characters, spaces and tabs, with no white space at either end (which HTTP would
//!   strip in transit) and so no line break anywhere: a value cannot smuggle a header.
//! - The service's own headers cannot be set, in any letter case: the signatures and
//!   ids (`X-Admin-*`, `webhook-*`, `Idempotency-Key`), what describes the body
//!   (`Content-Type`, `Content-Length`, `Content-Encoding`), `User-Agent`, `Host`, the
//!   trace context (`traceparent`, `tracestate`) and the hop-by-hop headers
//!   (`Connection`, `Keep-Alive`, `Transfer-Encoding`, `TE`, `Trailer`, `Upgrade`,
//!   `Proxy-*`). The sender also writes its own headers after these, so even a stored
//!   value that slipped past this rule could not replace one.
//! - Values are secrets (an `Authorization` is a credential): `Debug` shows names and
//!   lengths only, refusals name the header but never echo a value, and what is shown
//!   back is [`masked`].
//! - Names keep the letter case they were given; two names that differ only in case are
//!   two headers, both sent (HTTP allows a header to repeat).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The most headers one endpoint may add.
pub const MAX_CUSTOM_HEADERS: usize = 10;
/// The longest header name, in characters (ASCII, so also bytes).
pub const MAX_HEADER_NAME: usize = 64;
/// The longest header value, in characters (ASCII, so also bytes): 1 KiB.
pub const MAX_HEADER_VALUE: usize = 1024;

/// Names the service sets itself (lowercase), and why each is refused.
pub const RESERVED_NAMES: &[(&str, &str)] = &[
    (
        "content-type",
        "the service sends the body as `application/json`",
    ),
    (
        "content-length",
        "the service sets it from the body it sends",
    ),
    (
        "content-encoding",
        "the service sends the body as it is, not encoded",
    ),
    (
        "user-agent",
        "the service identifies itself as `Admin-Webhooks/<version>`",
    ),
    (
        "idempotency-key",
        "it carries the event id, the same on every attempt",
    ),
    ("host", "it comes from the endpoint's URL"),
    ("traceparent", "it carries the event's trace context"),
    ("tracestate", "it carries the event's trace context"),
    ("connection", "it is a hop-by-hop header of the connection"),
    ("keep-alive", "it is a hop-by-hop header of the connection"),
    (
        "transfer-encoding",
        "it is a hop-by-hop header of the connection",
    ),
    ("te", "it is a hop-by-hop header of the connection"),
    ("trailer", "it is a hop-by-hop header of the connection"),
    ("upgrade", "it is a hop-by-hop header of the connection"),
];

/// Name prefixes the service keeps for itself (lowercase), and why.
pub const RESERVED_PREFIXES: &[(&str, &str)] = &[
    (
        "x-admin-",
        "`X-Admin-*` headers carry the service's signature, event type and delivery id",
    ),
    (
        "webhook-",
        "`webhook-*` headers carry the Standard Webhooks id, timestamp and signature",
    ),
    (
        "proxy-",
        "`Proxy-*` headers are hop-by-hop headers meant for proxies",
    ),
];

/// One header to add: its name as given, and its value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomHeader {
    pub name: String,
    pub value: String,
}

/// An endpoint's custom headers, in the order they are sent. Empty by default.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomHeaders(Vec<CustomHeader>);

/// Why a set of headers is refused; each says which header (never its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("`headers` sets {count} headers; at most {MAX_CUSTOM_HEADERS} can be set")]
    TooMany { count: usize },
    #[error(
        "header name {name} is not a valid HTTP header name: use 1 to {MAX_HEADER_NAME} \
         letters, digits or any of ! # $ % & ' * + - . ^ _ ` | ~"
    )]
    InvalidName { name: Shown },
    #[error("header `{name}` cannot be set: {reason}")]
    Reserved { name: String, reason: &'static str },
    #[error("the value of header `{name}` {problem}")]
    InvalidValue { name: String, problem: &'static str },
}

/// A refused name as an error shows it: quoted, escaped and cut to a bounded length, so
/// that whatever was sent cannot break a log line or a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown(String);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cut: String = self.0.chars().take(MAX_HEADER_NAME).collect();
        let ellipsis = if cut.len() < self.0.len() { "…" } else { "" };
        write!(f, "{:?}{ellipsis}", cut)
    }
}

impl CustomHeaders {
    /// No headers.
    pub const EMPTY: CustomHeaders = CustomHeaders(Vec::new());

    /// Checks `headers` (name, value) against the rules above, keeping their order.
    pub fn parse(headers: impl IntoIterator<Item = (String, String)>) -> Result<Self, HeaderError> {
        let headers: Vec<(String, String)> = headers.into_iter().collect();
        if headers.len() > MAX_CUSTOM_HEADERS {
            return Err(HeaderError::TooMany {
                count: headers.len(),
            });
        }
        let mut checked = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            check_name(&name)?;
            if let Some(problem) = value_problem(&value) {
                return Err(HeaderError::InvalidValue { name, problem });
            }
            checked.push(CustomHeader { name, value });
        }
        Ok(Self(checked))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &CustomHeader> {
        self.0.iter()
    }

    /// Each name with its value [`masked`], for showing back.
    pub fn masked(&self) -> impl Iterator<Item = (&str, String)> {
        self.0.iter().map(|h| (h.name.as_str(), masked(&h.value)))
    }
}

/// Written by hand so that a header set can be logged without its values.
impl fmt::Debug for CustomHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for header in &self.0 {
            map.entry(
                &header.name,
                &format_args!("<{} chars>", header.value.len()),
            );
        }
        map.finish()
    }
}

impl fmt::Debug for CustomHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomHeader")
            .field("name", &self.name)
            .field("value", &format_args!("<{} chars>", self.value.len()))
            .finish()
    }
}

/// A value as shown back: at most its first quarter (and never more than 4 characters),
/// then its length — enough to tell `Bearer …` from `Basic …` and one token from
/// another of a different length, never enough to use it. `Bearer 0123456789` shows as
/// `Bear…(17 chars)`, `abc` as `…(3 chars)`.
pub fn masked(value: &str) -> String {
    let length = value.chars().count();
    let prefix: String = value.chars().take((length / 4).min(4)).collect();
    format!("{prefix}…({length} chars)")
}

/// An HTTP token (RFC 9110 `tchar`).
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Why the service keeps the header `name` for itself, if it does (any letter case).
pub fn reserved(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    RESERVED_NAMES
        .iter()
        .find(|(reserved, _)| *reserved == lower)
        .or_else(|| {
            RESERVED_PREFIXES
                .iter()
                .find(|(prefix, _)| lower.starts_with(prefix))
        })
        .map(|(_, reason)| *reason)
}

fn check_name(name: &str) -> Result<(), HeaderError> {
    let valid =
        !name.is_empty() && name.len() <= MAX_HEADER_NAME && name.chars().all(is_token_char);
    if !valid {
        return Err(HeaderError::InvalidName {
            name: Shown(name.to_owned()),
        });
    }
    match reserved(name) {
        Some(reason) => Err(HeaderError::Reserved {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// What is wrong with a value, if anything.
fn value_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("is empty; give a value, or leave the header out");
    }
    if value.len() > MAX_HEADER_VALUE {
        return Some("is longer than 1024 characters");
    }
    if !value
        .chars()
        .all(|c| c == '\t' || c == ' ' || c.is_ascii_graphic())
    {
        return Some(
            "may hold only visible ASCII characters, spaces and tabs (no line breaks or \
             other control characters)",
        );
    }
    if value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']) {
        return Some("must not begin or end with white space (HTTP would strip it)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, value: &str) -> Result<CustomHeaders, HeaderError> {
        CustomHeaders::parse([(name.to_owned(), value.to_owned())])
    }

    #[test]
    fn ordinary_headers_are_kept_as_given() {
        let headers = CustomHeaders::parse([
            ("Authorization".to_owned(), "Bearer abc.def".to_owned()),
            ("X-Tenant".to_owned(), "t_42".to_owned()),
        ])
        .unwrap();
        let names: Vec<&str> = headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["Authorization", "X-Tenant"]);
        assert!(one("x-admin", "plain name, not the prefix").is_ok());
    }

    #[test]
    fn the_services_own_headers_cannot_be_set_in_any_case() {
        for name in [
            "X-Admin-Signature",
            "x-admin-anything",
            "Webhook-Signature",
            "webhook-id",
            "Content-Type",
            "CONTENT-LENGTH",
            "User-Agent",
            "Idempotency-Key",
            "Host",
            "Connection",
            "Keep-Alive",
            "Transfer-Encoding",
            "TE",
            "Trailer",
            "Upgrade",
            "Proxy-Authorization",
            "traceparent",
        ] {
            let refused = one(name, "x").unwrap_err();
            assert!(
                matches!(&refused, HeaderError::Reserved { name: n, .. } if n == name),
                "{name}: {refused:?}"
            );
            assert!(refused.to_string().contains(name), "{refused}");
        }
    }

    #[test]
    fn names_are_tokens() {
        for name in [
            "",
            "Bad Name",
            "a:b",
            "é",
            "x\r\nInjected: 1",
            &"a".repeat(65),
        ] {
            assert!(
                matches!(one(name, "x"), Err(HeaderError::InvalidName { .. })),
                "{name:?}"
            );
        }
        let shown = one("x\nInjected", "v").unwrap_err().to_string();
        assert!(!shown.contains('\n'), "{shown}");
    }

    #[test]
    fn values_are_bounded_single_lines_and_never_echoed() {
        let secret = "s3cr3t";
        for value in [
            String::new(),
            "a".repeat(1025),
            format!("{secret}\r\nX-Injected: 1"),
            format!("{secret}\u{7f}"),
            format!("{secret}é"),
            format!(" {secret}"),
            format!("{secret}\t"),
        ] {
            let refused = one("Authorization", &value).unwrap_err();
            assert!(
                matches!(&refused, HeaderError::InvalidValue { name, .. } if name == "Authorization"),
                "{value:?}"
            );
            assert!(!refused.to_string().contains(secret), "{refused}");
        }
        assert!(one("Authorization", &"a".repeat(1024)).is_ok());
        assert!(one("Authorization", "Bearer\ta b").is_ok());
    }

    #[test]
    fn at_most_ten() {
        let many = |n: usize| (0..n).map(|i| (format!("X-H{i}"), "v".to_owned()));
        assert!(CustomHeaders::parse(many(10)).is_ok());
        assert_eq!(
            CustomHeaders::parse(many(11)).unwrap_err(),
            HeaderError::TooMany { count: 11 }
        );
    }

    #[test]
    fn values_are_masked_and_debug_shows_none() {
        assert_eq!(masked("Bearer 0123456789"), "Bear…(17 chars)");
        assert_eq!(masked("abcdefgh"), "ab…(8 chars)");
        assert_eq!(masked("abc"), "…(3 chars)");
        let headers = one("Authorization", "Bearer 0123456789").unwrap();
        let debug = format!("{headers:?}");
        assert!(!debug.contains("0123"), "{debug}");
        assert!(debug.contains("Authorization"), "{debug}");
    }
}
