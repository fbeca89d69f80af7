//! Prefixed, typed identifiers (`ws_`, `ak_`, `wh_`, `evt_`, `dlv_`, `att_`).
//!
//! The part after the prefix is a ULID: 26 Crockford base32 characters whose first ten
//! encode the creation time in milliseconds, so ids sort by creation time. Event ids come
//! from one monotonic generator per process so that two events created in the same
//! millisecond still sort in creation order.

use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{value}` is not a valid {kind} id (expected `{prefix}` followed by 26 characters)")]
pub struct IdError {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);

/// A fresh ULID, strictly greater than every other one this process made.
fn next_ulid() -> ulid::Ulid {
    let mut guard = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    let generator = guard.get_or_insert_with(ulid::Generator::new);
    // Overflow needs 2^80 ids in one millisecond; falling back to a random one keeps
    // uniqueness, which matters more than order in that impossible case.
    generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id, time-ordered after every id this process generated before.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, next_ulid()))
            }

            pub fn parse(value: &str) -> Result<Self, IdError> {
                let ok = value
                    .strip_prefix($prefix)
                    .is_some_and(|rest| ulid::Ulid::from_string(rest).is_ok());
                if ok {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(IdError { kind: $kind, prefix: $prefix, value: value.chars().take(64).collect() })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }
    };
}

prefixed_id!(
    /// A workspace: one tenant of the producer.
    WorkspaceId, "ws_", "workspace"
);
prefixed_id!(
    /// An API key (the id, never the secret value).
    ApiKeyId, "ak_", "API key"
);
prefixed_id!(
    /// An endpoint ("webhook") a workspace registered.
    WebhookId, "wh_", "webhook"
);
prefixed_id!(
    /// A published event.
    EventId, "evt_", "event"
);
prefixed_id!(
    /// One event on its way to one endpoint.
    DeliveryId, "dlv_", "delivery"
);
prefixed_id!(
    /// One HTTP POST of a delivery.
    AttemptId, "att_", "attempt"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_and_sort_in_creation_order() {
        let ids: Vec<EventId> = (0..1000).map(|_| EventId::generate()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
        let parsed = EventId::parse(ids[0].as_str()).unwrap();
        assert_eq!(parsed, ids[0]);
    }

    #[test]
    fn wrong_prefix_or_body_is_refused() {
        let wh = WebhookId::generate();
        assert!(EventId::parse(wh.as_str()).is_err());
        assert!(WebhookId::parse("wh_notaulid").is_err());
        assert!(WebhookId::parse("").is_err());
    }
}
