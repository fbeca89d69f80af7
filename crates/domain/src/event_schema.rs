//! Payload schemas of event types: a JSON Schema (draft 2020-12) an event type may carry,
//! which the `data` of every event published under that type must match.
//!
//! Invariants:
//! - A schema is a JSON object that is itself valid draft 2020-12 (checked against the
//!   meta-schema when it is compiled); `$schema`, when given, names draft 2020-12; it is
//!   at most [`MAX_SCHEMA_BYTES`] serialized. Nothing is fetched: a `$ref` outside the
//!   schema (a URL, a file) does not resolve and the schema is refused.
//! - `format` is an annotation, as draft 2020-12 says by default: `"format": "email"`
//!   documents, it does not refuse.
//! - A mismatch is reported as at most [`MAX_VIOLATIONS`] violations, each a JSON pointer
//!   into `data` and a message that does not repeat the value found there (payloads may
//!   hold personal data, and a problem body is no place to echo it).

use serde_json::Value;

/// The longest schema accepted, serialized: a schema documents a payload, it is not one.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// The most violations one refusal lists.
pub const MAX_VIOLATIONS: usize = 10;

/// The only `$schema` a schema may name (or leave out).
pub const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// Why a schema cannot be used. Messages read after "`schema` …".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("must be a JSON object (a JSON Schema, draft 2020-12), not {0}")]
    NotAnObject(&'static str),
    #[error("is {size} bytes long; at most {MAX_SCHEMA_BYTES} are accepted")]
    TooLarge { size: usize },
    #[error("names `$schema` {0}; only draft 2020-12 (`{DRAFT_2020_12}`) is supported")]
    OtherDraft(String),
    #[error("is not a valid JSON Schema (draft 2020-12): {0}")]
    Invalid(String),
}

/// One way `data` does not match its type's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// A JSON pointer (RFC 6901) into the published `data`: `""` is `data` itself,
    /// `/user/email` a member of a member.
    pub path: String,
    /// What is wrong there, without the value found.
    pub message: String,
}

/// A schema compiled once, to check many payloads.
pub struct EventSchema {
    source: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for EventSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSchema")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl EventSchema {
    /// Checks `schema` and compiles it.
    pub fn compile(schema: &Value) -> Result<Self, SchemaError> {
        let Value::Object(members) = schema else {
            return Err(SchemaError::NotAnObject(kind_of(schema)));
        };
        let size = schema.to_string().len();
        if size > MAX_SCHEMA_BYTES {
            return Err(SchemaError::TooLarge { size });
        }
        if let Some(named) = members.get("$schema") {
            let draft = named.as_str().map(|s| s.trim_end_matches('#'));
            if draft != Some(DRAFT_2020_12) {
                let shown: String = named.to_string().chars().take(100).collect();
                return Err(SchemaError::OtherDraft(shown));
            }
        }
        let validator = jsonschema::draft202012::options()
            .build(schema)
            .map_err(|e| SchemaError::Invalid(bounded(&e.to_string())))?;
        Ok(Self {
            source: schema.clone(),
            validator,
        })
    }

    /// The schema as it was given.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Whether `data` matches; otherwise up to [`MAX_VIOLATIONS`] reasons, in the order
    /// the validator found them.
    pub fn check(&self, data: &Value) -> Result<(), Vec<Violation>> {
        if self.validator.is_valid(data) {
            return Ok(());
        }
        let violations: Vec<Violation> = self
            .validator
            .iter_errors(data)
            .take(MAX_VIOLATIONS)
            .map(|error| Violation {
                path: error.instance_path().to_string(),
                message: bounded(&error.masked().to_string()),
            })
            .collect();
        if violations.is_empty() {
            // is_valid and iter_errors disagreeing would be a validator bug; refuse anyway
            // rather than accept what the schema refused.
            return Err(vec![Violation {
                path: String::new(),
                message: "does not match the schema".to_owned(),
            }]);
        }
        Err(violations)
    }
}

/// At most 300 characters of a message (a schema's own text may be long).
fn bounded(message: &str) -> String {
    let mut chars = message.char_indices();
    match chars.nth(300) {
        Some((end, _)) => format!("{}…", &message[..end]),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schema_refuses_what_does_not_match_and_names_the_path() {
        let schema = EventSchema::compile(&json!({
            "type": "object",
            "required": ["user_id"],
            "properties": {
                "user_id": {"type": "string"},
                "address": {"type": "object", "properties": {"zip": {"type": "string"}}}
            }
        }))
        .unwrap();
        schema.check(&json!({"user_id": "usr_1"})).unwrap();
        let violations = schema
            .check(&json!({"user_id": 7, "address": {"zip": 75001}}))
            .unwrap_err();
        let paths: Vec<&str> = violations.iter().map(|v| v.path.as_str()).collect();
        assert!(paths.contains(&"/user_id"), "{violations:?}");
        assert!(paths.contains(&"/address/zip"), "{violations:?}");
        let missing = schema.check(&json!({})).unwrap_err();
        assert_eq!(missing[0].path, "");
        assert!(missing[0].message.contains("user_id"), "{missing:?}");
    }

    #[test]
    fn messages_do_not_echo_the_payload() {
        let schema = EventSchema::compile(&json!({
            "properties": {"email": {"type": "integer"}}
        }))
        .unwrap();
        let violations = schema
            .check(&json!({"email": "secret.person@example.com"}))
            .unwrap_err();
        assert!(
            !violations[0].message.contains("secret.person"),
            "{violations:?}"
        );
    }

    #[test]
    fn invalid_schemas_are_refused_with_a_reason() {
        assert!(matches!(
            EventSchema::compile(&json!([1])),
            Err(SchemaError::NotAnObject("an array"))
        ));
        assert!(matches!(
            EventSchema::compile(&json!({"type": "no-such-type"})),
            Err(SchemaError::Invalid(_))
        ));
        assert!(matches!(
            EventSchema::compile(&json!({"minLength": -1})),
            Err(SchemaError::Invalid(_))
        ));
        assert!(matches!(
            EventSchema::compile(&json!({"$schema": "http://json-schema.org/draft-07/schema#"})),
            Err(SchemaError::OtherDraft(_))
        ));
        // Nothing is fetched: a reference outside the schema cannot resolve.
        assert!(matches!(
            EventSchema::compile(&json!({"$ref": "https://example.com/user.json"})),
            Err(SchemaError::Invalid(_))
        ));
        let huge = json!({"description": "x".repeat(MAX_SCHEMA_BYTES)});
        assert!(matches!(
            EventSchema::compile(&huge),
            Err(SchemaError::TooLarge { .. })
        ));
        EventSchema::compile(&json!({"$schema": DRAFT_2020_12, "type": "object"})).unwrap();
        EventSchema::compile(&json!({})).unwrap();
    }

    #[test]
    fn violations_are_bounded() {
        let schema = EventSchema::compile(&json!({
            "additionalProperties": {"type": "string"}
        }))
        .unwrap();
        let many: serde_json::Map<String, Value> =
            (0..50).map(|i| (format!("k{i}"), json!(i))).collect();
        let violations = schema.check(&Value::Object(many)).unwrap_err();
        assert_eq!(violations.len(), MAX_VIOLATIONS);
    }
}
