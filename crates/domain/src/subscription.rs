//! What an endpoint subscribes to: an exact type, a group (`user.*`: every type that
//! starts with `user.`, including types added later) or everything (`*`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::validate_type_name;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Subscription {
    All,
    /// Holds the prefix with its trailing dot (`user.`).
    Group(String),
    Exact(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{0}` is not a valid subscription: use an event type (`user.created`), a group \
     (`user.*`) or `*`"
)]
pub struct SubscriptionError(pub String);

impl Subscription {
    pub fn parse(value: &str) -> Result<Self, SubscriptionError> {
        if value == "*" {
            return Ok(Self::All);
        }
        if let Some(prefix) = value.strip_suffix(".*") {
            // A group prefix is one or more words; reuse the type rule by pretending a
            // second word follows.
            let probe = format!("{prefix}.x");
            return validate_type_name(&probe)
                .map(|_| Self::Group(format!("{prefix}.")))
                .map_err(|_| SubscriptionError(value.to_owned()));
        }
        validate_type_name(value)
            .map(|_| Self::Exact(value.to_owned()))
            .map_err(|_| SubscriptionError(value.to_owned()))
    }

    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            Self::All => true,
            Self::Group(prefix) => event_type.starts_with(prefix.as_str()),
            Self::Exact(name) => name == event_type,
        }
    }

    /// The exact type this subscription names, if it names one.
    pub fn exact(&self) -> Option<&str> {
        match self {
            Self::Exact(name) => Some(name),
            _ => None,
        }
    }
}

/// Whether any of `subscriptions` matches `event_type`.
pub fn any_matches(subscriptions: &[Subscription], event_type: &str) -> bool {
    subscriptions.iter().any(|s| s.matches(event_type))
}

impl fmt::Display for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Group(prefix) => write!(f, "{prefix}*"),
            Self::Exact(name) => f.write_str(name),
        }
    }
}

impl TryFrom<String> for Subscription {
    type Error = SubscriptionError;
    fn try_from(value: String) -> Result<Self, SubscriptionError> {
        Self::parse(&value)
    }
}

impl From<Subscription> for String {
    fn from(s: Subscription) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_match_by_prefix_including_later_types() {
        let group = Subscription::parse("user.*").unwrap();
        assert!(group.matches("user.created"));
        assert!(group.matches("user.deleted_forever"));
        assert!(!group.matches("users.created"));
        assert!(!group.matches("order.completed"));
        assert_eq!(group.to_string(), "user.*");
    }

    #[test]
    fn exact_and_all() {
        assert!(Subscription::parse("*").unwrap().matches("anything.at_all"));
        let exact = Subscription::parse("order.completed").unwrap();
        assert!(exact.matches("order.completed"));
        assert!(!exact.matches("order.completed_twice"));
    }

    #[test]
    fn malformed_subscriptions_are_refused() {
        for bad in [
            "",
            "user",
            "user.",
            "*.created",
            "USER.*",
            "user.**",
            "user.*.x",
        ] {
            assert!(Subscription::parse(bad).is_err(), "{bad}");
        }
    }
}
