//! The exact bytes delivered for an event: the guide's schema and nothing else at the top
//! level — `{"id", "type", "timestamp", "data", "metadata"}`. The body is serialized once,
//! at publish, and the same bytes are sent (and signed) on every attempt.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::ids::EventId;

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: &'a RawValue,
    metadata: &'a RawValue,
}

/// RFC 3339 in UTC with a `Z`, to the second, as in the guide (`2025-01-15T14:32:00Z`).
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The delivered body. `data` and `metadata` are kept byte-for-byte as the producer sent
/// them (already validated as JSON); `metadata` defaults to `{}`.
pub fn render_body(
    id: &EventId,
    event_type: &str,
    timestamp: DateTime<Utc>,
    data: &RawValue,
    metadata: Option<&RawValue>,
) -> Vec<u8> {
    let empty: &RawValue = serde_json::from_str("{}").expect("literal JSON");
    let body = Body {
        id: id.as_str(),
        event_type,
        timestamp: format_timestamp(timestamp),
        data,
        metadata: metadata.unwrap_or(empty),
    };
    serde_json::to_vec(&body).expect("serializing strings and raw JSON cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_exactly_the_schema_keys() {
        let id = EventId::generate();
        let data: Box<RawValue> = serde_json::from_str(r#"{"user_id":"usr_1"}"#).unwrap();
        let at = DateTime::parse_from_rfc3339("2025-01-15T14:32:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        let body = render_body(&id, "user.created", at, &data, None);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5);
        assert_eq!(v["timestamp"], "2025-01-15T14:32:00Z");
        assert_eq!(v["metadata"], serde_json::json!({}));
        assert_eq!(v["id"], id.as_str());
    }
}
