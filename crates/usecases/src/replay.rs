//! Replay: re-sending a range of one endpoint's deliveries, from the words a person or a
//! program typed (`since`, `until`, `status`), with the same checks and messages for the
//! API's `POST /v1/webhooks/{id}/replay` and the dashboard's Replay page.
//!
//! Invariant: the draft is checked completely (times, range, status) before the endpoint
//! is looked at, so a malformed request is told what is wrong with it even when the
//! endpoint is disabled.

use domain::{DeliveryStatus, WebhookId, WorkspaceId};
use store::ReplayFilter;

use crate::Application;
use crate::error::{UseCaseError, UseCaseResult};
use crate::time_range::{TimeRange, TimeRangeError};

/// A replay as asked for: RFC 3339 times and a status name, not yet checked.
#[derive(Debug, Clone, Default)]
pub struct ReplayDraft {
    /// Re-send deliveries created at or after it. Required.
    pub since: String,
    /// And before it; `None` means up to now. An empty text is refused (it is not a
    /// time), unlike an absent one.
    pub until: Option<String>,
    /// Only deliveries that now have this status (`failed`, `expired`, …).
    pub status: Option<String>,
}

impl ReplayDraft {
    /// The store's filter for this draft, or the first rule it breaks.
    pub fn filter(&self) -> UseCaseResult<ReplayFilter> {
        if let Some(until) = self.until.as_deref().filter(|u| u.trim().is_empty()) {
            return Err(range_error(TimeRangeError::NotATime {
                field: "until",
                value: until.to_owned(),
            }));
        }
        let range =
            TimeRange::parse(Some(&self.since), self.until.as_deref()).map_err(range_error)?;
        let since = range.since.ok_or_else(|| {
            UseCaseError::validation("since", "`since` must be an RFC 3339 time, not empty.")
        })?;
        let status = match self.status.as_deref() {
            Some(text) => Some(
                text.parse::<DeliveryStatus>()
                    .map_err(|e| UseCaseError::validation("status", format!("`status`: {e}.")))?,
            ),
            None => None,
        };
        Ok(ReplayFilter {
            since,
            until: range.until,
            status,
        })
    }
}

fn range_error(error: TimeRangeError) -> UseCaseError {
    let field = match &error {
        TimeRangeError::NotATime { field, .. } => field,
        TimeRangeError::Empty => "until",
    };
    UseCaseError::validation(field, error.to_string())
}

impl Application {
    /// Re-sends the deliveries of one endpoint that `draft` selects, in their original
    /// order; answers how many were re-opened. Refused for a disabled endpoint.
    pub async fn replay(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        draft: &ReplayDraft,
    ) -> UseCaseResult<u64> {
        let filter = draft.filter()?;
        self.replay_deliveries(workspace, webhook, filter).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(since: &str, until: Option<&str>, status: Option<&str>) -> ReplayDraft {
        ReplayDraft {
            since: since.to_owned(),
            until: until.map(str::to_owned),
            status: status.map(str::to_owned),
        }
    }

    fn refusal(d: ReplayDraft) -> (&'static str, String) {
        match d.filter().unwrap_err() {
            UseCaseError::Validation { field, message } => (field, message),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn drafts_are_checked_with_the_apis_words() {
        let ok = draft("2025-01-15T14:32:00Z", None, Some("failed"))
            .filter()
            .unwrap();
        assert_eq!(ok.status, Some(DeliveryStatus::Failed));
        assert_eq!(ok.until, None);
        assert_eq!(refusal(draft("", None, None)).0, "since");
        assert_eq!(
            refusal(draft("", None, None)).1,
            "`since` must be an RFC 3339 time, not empty."
        );
        assert_eq!(refusal(draft("yesterday", None, None)).0, "since");
        assert_eq!(
            refusal(draft("2025-01-15T14:32:00Z", Some(""), None)).0,
            "until"
        );
        let (field, message) = refusal(draft(
            "2025-01-15T14:32:00Z",
            Some("2025-01-15T14:00:00Z"),
            None,
        ));
        assert_eq!(
            (field, message.as_str()),
            ("until", "`until` must be later than `since`.")
        );
        let (field, message) = refusal(draft("2025-01-15T14:32:00Z", None, Some("lost")));
        assert_eq!(field, "status");
        assert!(message.starts_with("`status`: "), "{message}");
    }
}
