//! The event catalog: the five types every workspace starts with, and the rule for the
//! names of the types a workspace adds (lowercase words joined by dots, `noun.verb`).

use serde::{Deserialize, Serialize};

/// One entry of a workspace's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTypeDef {
    pub name: String,
    pub category: String,
    pub description: String,
}

/// `(category, type, description)` exactly as the user guide lists them.
pub const BUILTIN_EVENT_TYPES: [(&str, &str, &str); 5] = [
    ("Users", "user.created", "New user registered in the system"),
    (
        "Users",
        "user.updated",
        "User profile or permissions modified",
    ),
    (
        "Orders",
        "order.completed",
        "Payment confirmed and order finalized",
    ),
    (
        "System",
        "system.alert",
        "Critical system notification or threshold breach",
    ),
    (
        "Integrations",
        "integration.connected",
        "Third-party service successfully linked",
    ),
];

/// The type of the event `POST /v1/webhooks/{id}/test` sends; it is in no catalog and
/// reaches only the endpoint under test.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

pub fn builtin_event_types() -> Vec<EventTypeDef> {
    BUILTIN_EVENT_TYPES
        .iter()
        .map(|(category, name, description)| EventTypeDef {
            name: (*name).to_owned(),
            category: (*category).to_owned(),
            description: (*description).to_owned(),
        })
        .collect()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TypeNameError {
    #[error("event type names are at most 128 characters")]
    TooLong,
    #[error(
        "event type `{0}` is not valid: use lowercase words of letters, digits or `_`, \
         joined by dots, at least two words (for example `invoice.paid`)"
    )]
    Malformed(String),
}

/// Checks a type name: two or more dot-separated words, each starting with a lowercase
/// letter and holding only lowercase letters, digits and `_`.
pub fn validate_type_name(name: &str) -> Result<(), TypeNameError> {
    if name.len() > 128 {
        return Err(TypeNameError::TooLong);
    }
    let words: Vec<&str> = name.split('.').collect();
    let word_ok = |w: &&str| {
        let mut chars = w.chars();
        matches!(chars.next(), Some('a'..='z'))
            && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
    };
    if words.len() >= 2 && words.iter().all(word_ok) {
        Ok(())
    } else {
        Err(TypeNameError::Malformed(name.chars().take(128).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names_are_valid() {
        for t in builtin_event_types() {
            validate_type_name(&t.name).unwrap();
        }
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in [
            "user",
            "User.created",
            "user..created",
            "user.created.",
            ".x",
            "user.cré",
            "user.*",
            "1a.b",
        ] {
            assert!(validate_type_name(bad).is_err(), "{bad}");
        }
        validate_type_name("invoice.payment_failed").unwrap();
        validate_type_name("a.b.c2").unwrap();
    }
}
