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

/// A realistic `data` of each built-in type, as a producer would publish it: what
/// `admin-webhooks trigger <type>` publishes and what the catalog shows as `example`.
/// `(type, data as compact JSON)`.
pub const BUILTIN_EXAMPLES: [(&str, &str); 5] = [
    (
        "user.created",
        r#"{"user_id":"usr_9x2k4m7","email":"ada@example.com","name":"Ada Lovelace","plan":"free","created_at":"2025-01-15T09:30:00Z"}"#,
    ),
    (
        "user.updated",
        r#"{"user_id":"usr_9x2k4m7","changes":{"role":{"from":"member","to":"admin"}},"updated_by":"usr_1a2b3c4"}"#,
    ),
    (
        "order.completed",
        r#"{"order_id":"ord_5h8j2n1","user_id":"usr_9x2k4m7","total":{"amount":4999,"currency":"USD"},"items":[{"sku":"PLAN-PRO-12M","quantity":1}],"paid_at":"2025-01-15T09:42:10Z"}"#,
    ),
    (
        "system.alert",
        r#"{"alert_id":"alr_3k9m2p8","severity":"critical","metric":"error_rate","threshold":0.05,"value":0.12,"message":"Error rate above 5% for 10 minutes"}"#,
    ),
    (
        "integration.connected",
        r#"{"integration_id":"int_7q4w1e6","provider":"slack","workspace":"acme-corp","connected_by":"usr_9x2k4m7","scopes":["chat:write","channels:read"]}"#,
    ),
];

/// The example `data` of a built-in type (compact JSON), `None` for any other type.
pub fn example_data(event_type: &str) -> Option<&'static str> {
    BUILTIN_EXAMPLES
        .iter()
        .find(|(name, _)| *name == event_type)
        .map(|(_, data)| *data)
}

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
    fn every_builtin_type_has_an_example_object() {
        for t in builtin_event_types() {
            let example = example_data(&t.name).expect("an example");
            let value: serde_json::Value = serde_json::from_str(example).unwrap();
            assert!(value.is_object(), "{}", t.name);
        }
        assert_eq!(example_data("invoice.paid"), None);
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
