//! `since` / `until` as lists and replays take them: RFC 3339 times (any offset; read as
//! the instant they name), `since` inclusive, `until` exclusive.
//!
//! Invariant: a range that holds no instant (`until` not after `since`) is refused with a
//! message rather than answered with an empty list, since it is always a caller's mistake.
//! The edges share these words: the API answers them (400 in a query string, 422 in a
//! body), the dashboard shows them beside its replay form.

use chrono::{DateTime, Utc};

use crate::Truncated;

/// A half-open time range `[since, until)`; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Why a time or range was refused; the caller decides the status (400 for a query
/// string, 422 for a JSON body).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeRangeError {
    #[error("`{field}` must be an RFC 3339 time such as `2025-01-15T14:32:00Z`, not `{value}`.")]
    NotATime { field: &'static str, value: String },
    #[error("`until` must be later than `since`.")]
    Empty,
}

/// Parses one time; an empty value counts as absent (`?since=` is common).
pub fn parse_time(
    field: &'static str,
    value: Option<&str>,
) -> Result<Option<DateTime<Utc>>, TimeRangeError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| TimeRangeError::NotATime {
                field,
                value: Truncated(text, 64).to_string(),
            }),
    }
}

impl TimeRange {
    pub fn parse(since: Option<&str>, until: Option<&str>) -> Result<TimeRange, TimeRangeError> {
        let range = TimeRange {
            since: parse_time("since", since)?,
            until: parse_time("until", until)?,
        };
        if let (Some(since), Some(until)) = (range.since, range.until)
            && until <= since
        {
            return Err(TimeRangeError::Empty);
        }
        Ok(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_refuse_nonsense() {
        let range = TimeRange::parse(
            Some("2025-01-15T14:32:00Z"),
            Some("2025-01-15T16:32:00+02:00"),
        )
        .unwrap_err();
        assert_eq!(range, TimeRangeError::Empty, "the same instant: empty");
        let range = TimeRange::parse(Some("2025-01-15T14:32:00Z"), None).unwrap();
        assert_eq!(
            range.since.unwrap().to_rfc3339(),
            "2025-01-15T14:32:00+00:00"
        );
        assert_eq!(
            TimeRange::parse(Some(""), Some(" ")).unwrap(),
            TimeRange::default()
        );
        let error = TimeRange::parse(Some("yesterday"), None).unwrap_err();
        assert!(error.to_string().contains("`since`"), "{error}");
        assert!(
            TimeRange::parse(None, Some("2025-01-15")).is_err(),
            "a date is not a time"
        );
    }
}
