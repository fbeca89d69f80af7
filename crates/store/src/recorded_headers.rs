//! The HTTP headers an attempt sent and received, as the activity log keeps them.
//!
//! Invariants:
//! - A list holds at most [`MAX_RECORDED_HEADER_BYTES`] of names and values: whole
//!   headers are kept in order until the next would pass the bound, and the rest are
//!   dropped (`truncated` says so), so one receiver answering with a huge cookie cannot
//!   grow the log without bound.
//! - Both backends store a list as the same JSON text (`[["name","value"],…]`) in a
//!   nullable column; `NULL` is an attempt recorded before headers were kept.
//! - Only what the service chose to record is here: the sender records its own headers
//!   (signatures included, never a secret) and the receiver's answer.

use serde::{Deserialize, Serialize};

/// The most bytes of names and values one list keeps.
pub const MAX_RECORDED_HEADER_BYTES: usize = 8 * 1024;

/// Headers in the order they were sent or received; names may repeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedHeaders {
    pub headers: Vec<(String, String)>,
    /// Some headers were left out to keep the bound.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl RecordedHeaders {
    /// Keeps `pairs` in order while they fit in [`MAX_RECORDED_HEADER_BYTES`].
    pub fn bounded<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<String>,
        V: Into<String>,
    {
        let mut out = Self::default();
        let mut used = 0;
        for (name, value) in pairs {
            let (name, value) = (name.into(), value.into());
            let size = name.len() + value.len();
            if used + size > MAX_RECORDED_HEADER_BYTES {
                out.truncated = true;
                continue;
            }
            used += size;
            out.headers.push((name, value));
        }
        out
    }

    /// The first value of `name` (compared without case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The column's text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{\"headers\":[]}".to_owned())
    }

    /// Reads a column's text; a value that does not parse (written by hand) reads as
    /// nothing recorded rather than failing the whole delivery's page.
    pub fn from_json(text: Option<&str>) -> Option<Self> {
        text.and_then(|t| serde_json::from_str(t).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_keeps_whole_headers_in_order() {
        let big = "v".repeat(MAX_RECORDED_HEADER_BYTES - 10);
        let list = RecordedHeaders::bounded([
            ("a", "1"),
            ("big", big.as_str()),
            ("huge", big.as_str()),
            ("b", "2"),
        ]);
        let names: Vec<&str> = list.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "big", "b"]);
        assert!(list.truncated);
        assert_eq!(list.get("B"), Some("2"));
        let text = list.to_json();
        assert_eq!(RecordedHeaders::from_json(Some(&text)), Some(list));
        assert_eq!(RecordedHeaders::from_json(Some("not json")), None);
        let small = RecordedHeaders::bounded([("x", "y")]);
        assert!(!small.to_json().contains("truncated"));
    }
}
