//! The delivery inspector: what a delivery's page shows of the exact request (headers as
//! sent, both signatures included, and the body, pretty-printed), of each attempt's
//! response (status, headers, the first 4 KiB of the body), and the request again as a
//! `curl` command.
//!
//! Invariants:
//! - Everything shown is what the store recorded of the attempt, never a recomputation:
//!   headers come from the attempt's record, the body is the event's stored bytes (the
//!   same on every attempt). An attempt recorded before headers were kept says so.
//! - The signing secret never appears: the page and the `curl` command carry only the
//!   signatures of that attempt (which is all a receiver needs to check its code).
//! - The `curl` command sends the exact body bytes (not the pretty-printed text), so the
//!   signatures it carries still verify.

use store::{Attempt, RecordedHeaders};

use crate::views::{When, code, millis, when};

/// One header as shown.
pub(crate) struct HeaderRow {
    pub(crate) name: String,
    pub(crate) value: String,
    /// A signature header: highlighted, since it is what receivers check.
    pub(crate) signature: bool,
}

/// A recorded header list, ready to show.
pub(crate) struct HeaderTable {
    pub(crate) rows: Vec<HeaderRow>,
    /// Headers past the 8 KiB bound were left out.
    pub(crate) truncated: bool,
}

fn table(recorded: &RecordedHeaders) -> HeaderTable {
    HeaderTable {
        rows: recorded
            .headers
            .iter()
            .map(|(name, value)| HeaderRow {
                signature: is_signature(name),
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        truncated: recorded.truncated,
    }
}

fn is_signature(name: &str) -> bool {
    name.eq_ignore_ascii_case("x-admin-signature") || name.eq_ignore_ascii_case("webhook-signature")
}

/// One attempt as the inspector shows it.
pub(crate) struct AttemptView {
    /// 1 for the first attempt.
    pub(crate) number: usize,
    pub(crate) at: When,
    pub(crate) code: String,
    /// "—" when no answer came (the time spent is in `elapsed`).
    pub(crate) response: String,
    pub(crate) elapsed: String,
    pub(crate) error: Option<String>,
    pub(crate) body: Option<String>,
    /// `None` for attempts recorded before headers were kept, or never sent.
    pub(crate) request: Option<HeaderTable>,
    pub(crate) response_headers: Option<HeaderTable>,
    /// The request as a `curl` command, when its headers are known.
    pub(crate) curl: Option<String>,
}

/// The attempts of one delivery, newest first, for `url` and the event's `body`.
pub(crate) fn attempts(attempts: Vec<Attempt>, url: &str, body: &[u8]) -> Vec<AttemptView> {
    let total = attempts.len();
    attempts
        .into_iter()
        .rev()
        .enumerate()
        .map(|(i, a)| AttemptView {
            number: total - i,
            at: when(a.attempted_at),
            code: code(a.status_code),
            response: if a.status_code.is_some() {
                millis(Some(a.response_ms))
            } else {
                "—".to_owned()
            },
            elapsed: millis(Some(a.response_ms)),
            error: match (a.error_class, a.error_message) {
                (Some(class), Some(message)) => Some(format!("{class}: {message}")),
                (Some(class), None) => Some(class.to_string()),
                (None, message) => message,
            },
            body: a.response_body.filter(|b| !b.is_empty()),
            curl: a.request_headers.as_ref().map(|h| curl(url, h, body)),
            request: a.request_headers.as_ref().map(table),
            response_headers: a.response_headers.as_ref().map(table),
        })
        .collect()
}

/// Headers `curl` computes itself, left out of the command.
const CURL_COMPUTES: [&str; 2] = ["content-length", "host"];

/// The request as a shell command: `curl` with every recorded header and the exact body.
pub(crate) fn curl(url: &str, headers: &RecordedHeaders, body: &[u8]) -> String {
    let mut out = format!("curl -X POST {}", shell_quote(url));
    for (name, value) in &headers.headers {
        if CURL_COMPUTES.iter().any(|c| name.eq_ignore_ascii_case(c)) {
            continue;
        }
        out.push_str(" \\\n  -H ");
        out.push_str(&shell_quote(&format!("{name}: {value}")));
    }
    out.push_str(" \\\n  --data-binary ");
    out.push_str(&shell_quote(&String::from_utf8_lossy(body)));
    out
}

/// `text` in single quotes for a POSIX shell (a quote inside becomes `'\''`).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// JSON text re-indented by two spaces, keys in their original order and every value
/// byte for byte as it was (serde's `Value` would sort the keys). Text that is not JSON
/// is returned as it is.
pub(crate) fn pretty_json(text: &str) -> String {
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // An empty object or array stays on one line.
                let close = if c == '{' { '}' } else { ']' };
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_json_keeps_order_and_values() {
        let raw = r#"{"id":"evt_1","type":"user.created","data":{"z":1,"a":"x, y: \"q\"","e":{},"l":[1,2]},"metadata":{}}"#;
        assert_eq!(
            pretty_json(raw),
            "{\n  \"id\": \"evt_1\",\n  \"type\": \"user.created\",\n  \"data\": {\n    \"z\": 1,\n    \
             \"a\": \"x, y: \\\"q\\\"\",\n    \"e\": {},\n    \"l\": [\n      1,\n      2\n    ]\n  },\n  \
             \"metadata\": {}\n}"
        );
        let back: serde_json::Value = serde_json::from_str(&pretty_json(raw)).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(raw).unwrap()
        );
        assert_eq!(pretty_json("not json {"), "not json {");
    }

    #[test]
    fn curl_carries_the_signatures_and_the_exact_body() {
        let headers = RecordedHeaders::bounded([
            ("x-admin-signature", "sha256=ab"),
            ("webhook-signature", "v1,x="),
            ("content-length", "12"),
        ]);
        let command = curl("https://r.example/h?a=1&b='2'", &headers, br#"{"it's":1}"#);
        assert_eq!(
            command,
            "curl -X POST 'https://r.example/h?a=1&b='\\''2'\\''' \\\n  \
             -H 'x-admin-signature: sha256=ab' \\\n  -H 'webhook-signature: v1,x=' \\\n  \
             --data-binary '{\"it'\\''s\":1}'"
        );
    }
}
