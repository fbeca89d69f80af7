//! The one error type of the use cases, and the typed conflicts it carries.
//!
//! Invariants:
//! - A refusal is a kind, never an English string to be parsed again: validation names
//!   its field, a missing object names its [`Resource`] and id, and a conflict is a
//!   [`Conflict`] variant. Each edge decides the status and the page it answers with.
//! - The `Display` of a 4xx kind is the sentence both edges show their users (the API as
//!   a problem's `detail`, the dashboard above its form), so the two never disagree.
//!   `NotFound` is the exception: each edge says it its own way.
//! - Store failures that are not a rule keep their [`StoreError`] as the source, so an
//!   edge can log the whole chain ([`source_chain`]) without showing it.

use std::fmt::{self, Display};

use domain::WebhookId;
use store::{ConflictKind, InvalidCursor, StoreError};

pub type UseCaseResult<T> = Result<T, UseCaseError>;

#[derive(Debug, thiserror::Error)]
pub enum UseCaseError {
    /// A value breaks a rule: too long, empty, malformed, not an object.
    #[error("{message}")]
    Validation {
        /// The request field at fault (`events`, `description`, …).
        field: &'static str,
        message: String,
    },
    /// The webhook URL breaks the address rules (scheme, host, resolved addresses).
    #[error("{0}")]
    UrlNotAllowed(String),
    /// No such object in this workspace (one of another workspace included).
    #[error("there is no {kind} `{id}`")]
    NotFound { kind: Resource, id: String },
    #[error(transparent)]
    Conflict(Conflict),
    /// A list was asked for a page after a cursor that no page of it gave.
    #[error(transparent)]
    InvalidCursor(#[from] InvalidCursor),
    /// The store cannot answer now (it is shutting down); retrying later may work.
    #[error("the store is unavailable")]
    Unavailable(#[source] StoreError),
    /// The store failed for a reason no rule explains.
    #[error("the store failed")]
    Store(#[source] StoreError),
}

/// What kind of object was not found; edges name it in their answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Webhook,
    Delivery,
    Event,
    ApiKey,
    Workspace,
    /// An endpoint `listen` attaches to (an endpoint that is not one is not found as one).
    Listener,
}

impl Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Webhook => "webhook",
            Self::Delivery => "delivery",
            Self::Event => "event",
            Self::ApiKey => "API key",
            Self::Workspace => "workspace",
            Self::Listener => "listener",
        })
    }
}

/// What a request collided with: the store's own conflicts plus the application's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("{}", store_conflict(.0))]
    Store(ConflictKind),
    /// A disabled endpoint receives nothing; `refused` says what was asked of it.
    #[error("{}", disabled(webhook, *refused))]
    WebhookDisabled {
        webhook: WebhookId,
        refused: Refused,
    },
    /// Enabling (or creating) one more webhook would pass the workspace's limit.
    #[error(
        "This workspace already has {limit} enabled webhooks, its limit. Disable or delete \
         one, or ask the operator to raise the limit."
    )]
    LimitReached { limit: u32 },
    /// An exact subscription or a published type that is not in the workspace's catalog.
    #[error(
        "Event type `{0}` is not in this workspace's catalog. Add it with POST /v1/event-types \
         (`type`, `category`, `description`) or use one of the types GET /v1/event-types lists."
    )]
    UnknownEventType(String),
    /// A `listen` command reported an attempt nobody awaits any more (the sentence says
    /// which and why).
    #[error("The service is not awaiting this result: {0}.")]
    AttemptNotAwaited(String),
}

/// What a disabled endpoint was asked to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    TestEvent,
    /// A retry or a replay.
    Resend,
}

fn store_conflict(kind: &ConflictKind) -> String {
    match kind {
        ConflictKind::EventTypeExists(name) => {
            format!("Event type `{name}` already exists in this workspace's catalog.")
        }
        ConflictKind::ApiKeyExists => {
            "an API key with this value exists already; generate a new one".to_owned()
        }
        ConflictKind::SessionExists => "a session with this id exists already".to_owned(),
        ConflictKind::LastApiKey => "This is the workspace's last live API key: revoking it \
                                     would lock the workspace out of the API and the \
                                     dashboard for good. Create another key first, then \
                                     revoke this one."
            .to_owned(),
    }
}

fn disabled(webhook: &WebhookId, refused: Refused) -> String {
    match refused {
        Refused::TestEvent => format!(
            "Webhook `{webhook}` is disabled, so it receives nothing, test events included. \
             Enable it first."
        ),
        Refused::Resend => format!(
            "Webhook `{webhook}` is disabled, so nothing is sent to it, re-sends included. \
             Enable it first."
        ),
    }
}

/// What an error means to an edge, whatever its wording: the edge picks its status
/// from this, so the API and the dashboard answer alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCategory {
    /// The request is malformed before any rule applies (a cursor no page gave).
    Malformed,
    /// The request breaks a rule (validation, URL, unknown event type).
    Invalid,
    NotFound,
    /// The request collides with the current state.
    Conflict,
    /// Retrying later may work.
    Unavailable,
    /// A failure of the service, not of the request.
    Failed,
}

impl UseCaseError {
    pub fn category(&self) -> ErrorCategory {
        match self {
            Self::InvalidCursor(_) => ErrorCategory::Malformed,
            Self::Validation { .. }
            | Self::UrlNotAllowed(_)
            | Self::Conflict(Conflict::UnknownEventType(_)) => ErrorCategory::Invalid,
            Self::NotFound { .. } | Self::Store(StoreError::NotFound) => ErrorCategory::NotFound,
            Self::Conflict(_) => ErrorCategory::Conflict,
            Self::Unavailable(_) => ErrorCategory::Unavailable,
            Self::Store(_) => ErrorCategory::Failed,
        }
    }

    /// The HTTP status both edges answer this error with (they both speak HTTP, and must
    /// agree on it, so it is said once here, as a number).
    pub fn http_status(&self) -> u16 {
        match self.category() {
            ErrorCategory::Malformed => 400,
            ErrorCategory::Invalid => 422,
            ErrorCategory::NotFound => 404,
            ErrorCategory::Conflict => 409,
            ErrorCategory::Unavailable => 503,
            ErrorCategory::Failed => 500,
        }
    }

    pub(crate) fn validation(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation {
            field,
            message: message.into(),
        }
    }
}

impl From<StoreError> for UseCaseError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(kind) => Self::Conflict(Conflict::Store(kind)),
            StoreError::LimitReached { limit } => Self::Conflict(Conflict::LimitReached { limit }),
            StoreError::UnknownEventType(name) => Self::Conflict(Conflict::UnknownEventType(name)),
            StoreError::Closed => Self::Unavailable(error),
            other => Self::Store(other),
        }
    }
}

/// Gives a store `NotFound` the kind and id of what was looked for.
pub(crate) trait FoundOr<T> {
    fn found_or(self, kind: Resource, id: &dyn Display) -> UseCaseResult<T>;
}

impl<T> FoundOr<T> for store::Result<T> {
    fn found_or(self, kind: Resource, id: &dyn Display) -> UseCaseResult<T> {
        self.map_err(|error| match error {
            StoreError::NotFound => UseCaseError::NotFound {
                kind,
                id: id.to_string(),
            },
            other => other.into(),
        })
    }
}

/// `error: cause: cause's cause`, skipping a source whose message its parent already
/// repeats (wrappers like `StoreError::Backend` print their source in their own message).
pub fn source_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        current = cause.source();
    }
    out
}

/// Displays at most `n` characters, so that echoing caller input stays bounded.
pub struct Truncated<'a>(pub &'a str, pub usize);

impl Display for Truncated<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.char_indices();
        match chars.nth(self.1) {
            Some((end, _)) => write!(f, "{}…", &self.0[..end]),
            None => f.write_str(self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_chain_lists_causes_once() {
        let io = std::io::Error::other("disk I/O error");
        let error = UseCaseError::from(StoreError::Backend(Box::new(io)));
        assert_eq!(
            source_chain(&error),
            "the store failed: store backend error: disk I/O error"
        );
    }

    #[test]
    fn truncation_is_char_safe() {
        assert_eq!(Truncated("ééé", 2).to_string(), "éé…");
        assert_eq!(Truncated("ab", 2).to_string(), "ab");
    }

    #[test]
    fn store_rules_become_typed_conflicts() {
        assert!(matches!(
            UseCaseError::from(StoreError::LimitReached { limit: 3 }),
            UseCaseError::Conflict(Conflict::LimitReached { limit: 3 })
        ));
        assert!(matches!(
            UseCaseError::from(StoreError::Closed),
            UseCaseError::Unavailable(StoreError::Closed)
        ));
        let missing: store::Result<()> = Err(StoreError::NotFound);
        assert!(matches!(
            missing.found_or(Resource::ApiKey, &"ak_1"),
            Err(UseCaseError::NotFound { kind: Resource::ApiKey, id }) if id == "ak_1"
        ));
    }
}
