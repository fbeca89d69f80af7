//! The JSON Schemas of the request values whose rules live below the API (the use cases
//! and `domain`), written out so that `/openapi.json` says exactly what is accepted: a
//! value the schema allows is not refused for its shape, and one it forbids is refused.
//!
//! Each function is a utoipa `schema_with` target; the numbers come from the rule they
//! describe. The patterns are ECMA-262 and Python `re` alike (what schema tools run).
//!
//! Invariants the schemas encode:
//! - Free text (`usecases::fields`) is trimmed, then bounded in characters (code points,
//!   as JSON Schema counts them) and free of control characters (`\p{Cc}`); a required
//!   one holds at least one character that is neither a control nor white space.
//! - In a query string an empty value counts as absent (`?limit=&cursor=` is the first
//!   page), so every optional query parameter also admits the empty string.

use serde_json::{Value, json};
use utoipa::openapi::schema::Schema;

use crate::pagination::CursorKind;

/// `char::is_control`: the Unicode `Cc` category.
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
/// `char::is_whitespace` (Unicode `White_Space`) less the controls, which are excluded
/// anyway.
const SPACE: &str = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// `domain::validate_type_name`: two or more lowercase words joined by dots.
pub(crate) const TYPE_NAME: &str = r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+";
/// A group prefix: one or more words, then `.*`.
const GROUP: &str = r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*";
/// `domain::catalog`: the longest type name, in bytes (ASCII, so also characters).
pub(crate) const MAX_TYPE_NAME: usize = 128;
/// `usecases::webhooks`: the most subscriptions one webhook lists.
const MAX_SUBSCRIPTIONS: usize = 100;
/// `domain::UrlPolicy::check_url`: the longest webhook URL, in bytes.
const MAX_URL: usize = 2048;

fn schema(value: Value) -> Schema {
    serde_json::from_value(value).expect("a literal JSON Schema reads as a utoipa schema")
}

/// `value` or, in a query string, nothing (`?name=`).
fn or_empty(value: Value) -> Schema {
    schema(json!({ "anyOf": [value, { "type": "string", "maxLength": 0 }] }))
}

fn required_text(max: usize, example: &str) -> Schema {
    schema(json!({
        "type": "string",
        "minLength": 1,
        "maxLength": max,
        "pattern": format!("^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$"),
        "example": example,
    }))
}

fn optional_text(max: usize) -> Schema {
    schema(json!({
        "type": "string",
        "maxLength": max,
        "pattern": format!("^[^{CONTROL}]*$"),
    }))
}

/// A workspace's or an API key's name: required, at most 100 characters.
pub fn name() -> Schema {
    required_text(100, "CI pipeline")
}

/// An event type's category: required, at most 64 characters.
pub fn category() -> Schema {
    required_text(64, "Billing")
}

/// A webhook's or an event type's description: at most 500 characters, may be empty.
pub fn description() -> Schema {
    optional_text(500)
}

/// An event type's name (`invoice.paid`).
pub fn type_name() -> Schema {
    schema(json!({
        "type": "string",
        "maxLength": MAX_TYPE_NAME,
        "pattern": format!("^{TYPE_NAME}$"),
        "example": "user.created",
    }))
}

/// The name of a type to add to the catalog: [`type_name`], less the reserved test type
/// (a lookahead, as utoipa's schema model has no `not`).
pub fn new_type_name() -> Schema {
    let reserved = domain::catalog::TEST_EVENT_TYPE.replace('.', r"\.");
    schema(json!({
        "type": "string",
        "maxLength": MAX_TYPE_NAME,
        "pattern": format!("^(?!{reserved}$){TYPE_NAME}$"),
        "example": "invoice.paid",
    }))
}

fn subscription() -> Value {
    json!({
        "type": "string",
        "maxLength": MAX_TYPE_NAME,
        "pattern": format!(r"^(\*|{GROUP}|{TYPE_NAME})$"),
    })
}

/// A webhook's subscriptions: exact types, groups (`user.*`) or `*`, 1 to 100 of them.
pub fn subscriptions() -> Schema {
    schema(json!({
        "type": "array",
        "items": subscription(),
        "minItems": 1,
        "maxItems": MAX_SUBSCRIPTIONS,
        "example": ["user.*", "order.completed"],
    }))
}

/// [`subscriptions`], or `null` to leave them as they are.
pub fn subscriptions_or_null() -> Schema {
    schema(json!({ "anyOf": [subscriptions(), { "type": "null" }] }))
}

/// A webhook URL: absolute `https://` (`http://` too with `--dev`), no credentials. Where
/// the host may point (public addresses only) is checked against DNS and cannot be said
/// in a schema; a refusal is a 422 `url-not-allowed`.
pub fn webhook_url() -> Schema {
    schema(json!({
        "type": "string",
        "format": "uri",
        "maxLength": MAX_URL,
        "pattern": "^https?://[^@/?#]+([/?#].*)?$",
        "example": "https://api.example.com/webhooks",
    }))
}

/// [`webhook_url`], or `null` to leave it as it is.
pub fn webhook_url_or_null() -> Schema {
    schema(json!({ "anyOf": [webhook_url(), { "type": "null" }] }))
}

/// [`description`], or `null` to leave it as it is.
pub fn description_or_null() -> Schema {
    schema(json!({ "anyOf": [description(), { "type": "null" }] }))
}

fn per_period(field: &str) -> Value {
    json!({
        "type": "object",
        "properties": {
            field: { "type": "integer", "minimum": 1, "maximum": domain::rate_limit::MAX_RATE },
        },
        "required": [field],
        "additionalProperties": false,
    })
}

/// `domain::RateLimit`: `{"per_second": n}` or `{"per_minute": n}`, n in 1..=10000.
fn rate_limit() -> Value {
    json!({
        "oneOf": [per_period("per_second"), per_period("per_minute")],
        "example": { "per_second": 20 },
    })
}

/// A webhook's rate limit, or `null` for none.
pub fn rate_limit_or_null() -> Schema {
    schema(json!({
        "anyOf": [rate_limit(), { "type": "null" }],
        "description": "At most this many attempts to the endpoint per second or per minute, \
            evenly spaced (no burst), retries included; a backlog drains at this pace, in \
            order. `null`: no limit (on an update, `null` removes the limit and leaving the \
            field out keeps it).",
    }))
}

/// `lower`, a reserved header name or prefix (letters and `-`, which needs no escape
/// outside a class), each letter matched in either case (schema patterns have no flags).
fn any_case(lower: &str) -> String {
    lower
        .chars()
        .map(|c| {
            assert!(c.is_ascii_lowercase() || c == '-', "{lower}");
            if c == '-' {
                c.to_string()
            } else {
                format!("[{}{}]", c, c.to_ascii_uppercase())
            }
        })
        .collect()
}

/// `domain::custom_headers`: an HTTP token that is none of the service's own names and
/// starts with none of its prefixes, in any letter case.
fn header_name() -> Value {
    use domain::custom_headers::{MAX_HEADER_NAME, RESERVED_NAMES, RESERVED_PREFIXES};
    let names: Vec<String> = RESERVED_NAMES.iter().map(|(n, _)| any_case(n)).collect();
    let prefixes: Vec<String> = RESERVED_PREFIXES.iter().map(|(p, _)| any_case(p)).collect();
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_HEADER_NAME,
        "pattern": format!(
            r"^(?!(?:{})$)(?!{})[!#$%&'*+\-.^_`|~0-9A-Za-z]+$",
            names.join("|"),
            prefixes.join("|")
        ),
    })
}

/// `domain::custom_headers`: visible ASCII, spaces and tabs, not at either end.
fn header_value() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": domain::custom_headers::MAX_HEADER_VALUE,
        "pattern": r"^[\x21-\x7e]([\t\x20-\x7e]*[\x21-\x7e])?$",
    })
}

/// A webhook's custom headers as sent: name → value, at most 10.
fn custom_headers() -> Value {
    json!({
        "type": "object",
        "maxProperties": domain::custom_headers::MAX_CUSTOM_HEADERS,
        "propertyNames": header_name(),
        "additionalProperties": header_value(),
        "example": { "Authorization": "Bearer gateway-token" },
    })
}

/// [`custom_headers`], or `null` (none, or on an update: leave them as they are).
pub fn custom_headers_or_null() -> Schema {
    schema(json!({
        "anyOf": [custom_headers(), { "type": "null" }],
        "description": "Headers added to every attempt (e.g. `Authorization` for a receiver \
            behind a gateway), at most 10. The service's own headers cannot be set \
            (`X-Admin-*`, `webhook-*`, `Content-Type`, `Content-Length`, `Content-Encoding`, \
            `User-Agent`, `Idempotency-Key`, `Host`, `traceparent`, `tracestate`, hop-by-hop \
            headers, `Proxy-*`). Values are stored encrypted and answered masked. On an \
            update they replace every header (`{}` removes them); `null` leaves them.",
    }))
}

/// A webhook's custom headers as answered: name → masked value.
pub fn masked_headers() -> Schema {
    schema(json!({
        "type": "object",
        "maxProperties": domain::custom_headers::MAX_CUSTOM_HEADERS,
        "additionalProperties": { "type": "string" },
        "description": "The custom headers, each value masked: at most its first quarter \
            (4 characters at most), then its length. Values are never answered in full.",
        "example": { "Authorization": "Bear…(20 chars)" },
    }))
}

/// An RFC 3339 time in a JSON body.
pub fn time() -> Schema {
    schema(json!({ "type": "string", "format": "date-time" }))
}

/// [`time`], or `null` for an open end.
pub fn time_or_null() -> Schema {
    schema(json!({ "anyOf": [{ "type": "string", "format": "date-time" }, { "type": "null" }] }))
}

const DELIVERY_STATUSES: [&str; 4] = ["pending", "delivered", "failed", "expired"];

/// A delivery status in a JSON body (or `null`: any).
pub fn delivery_status_or_null() -> Schema {
    schema(
        json!({ "anyOf": [{ "type": "string", "enum": DELIVERY_STATUSES }, { "type": "null" }] }),
    )
}

/// `?limit=`: 1 to 100.
pub fn limit_query() -> Schema {
    or_empty(json!({ "type": "integer", "minimum": 1, "maximum": 100 }))
}

/// `?cursor=`: a `next_cursor` of a list paged by `K`, unchanged.
pub fn cursor_query<K: CursorKind>() -> Schema {
    or_empty(json!({
        "type": "string",
        "maxLength": K::MAX_LEN,
        "pattern": K::pattern(),
    }))
}

/// [`cursor_query`] of the event list.
pub fn event_cursor_query() -> Schema {
    cursor_query::<domain::EventId>()
}

/// [`cursor_query`] of an endpoint's delivery list.
pub fn delivery_cursor_query() -> Schema {
    cursor_query::<domain::DeliveryId>()
}

/// `?since=` / `?until=`: an RFC 3339 time.
pub fn time_query() -> Schema {
    or_empty(json!({ "type": "string", "format": "date-time" }))
}

/// `?status=`: a delivery status.
pub fn delivery_status_query() -> Schema {
    or_empty(json!({ "type": "string", "enum": DELIVERY_STATUSES }))
}

/// `?window=`: `1h` or `24h`.
pub fn window_query() -> Schema {
    let windows = crate::stats::WINDOWS.map(|(name, _)| name);
    or_empty(json!({ "type": "string", "enum": windows }))
}

/// An id with this prefix (`wh_`, `dlv_`) in a JSON body: the prefix and a ULID, whose
/// first character is at most `7` (a larger one overflows 128 bits and is no ULID).
fn id(prefix: &str) -> Value {
    json!({
        "type": "string",
        "maxLength": prefix.len() + 26,
        "pattern": format!("^{prefix}[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{{25}}$"),
    })
}

/// A webhook's (a listener's) id, or `null`.
pub fn webhook_id_or_null() -> Schema {
    schema(json!({ "anyOf": [id(domain::WebhookId::PREFIX), { "type": "null" }] }))
}

/// A delivery's id.
pub fn delivery_id() -> Schema {
    schema(id(domain::DeliveryId::PREFIX))
}

/// `domain::listener::check_listener_name`, or `null`.
pub fn listener_name_or_null() -> Schema {
    schema(json!({ "anyOf": [{
        "type": "string",
        "minLength": 1,
        "maxLength": domain::listener::MAX_LISTENER_NAME,
        "pattern": "^[a-z0-9][a-z0-9-]*$",
        "example": "alice-laptop",
    }, { "type": "null" }] }))
}

/// Why a local request got no answer, or `null`.
pub fn local_error_class_or_null() -> Schema {
    schema(json!({ "anyOf": [
        { "type": "string", "enum": ["timeout", "connect", "tls"] },
        { "type": "null" },
    ] }))
}

/// The start of a local answer's body, or `null`.
pub fn response_excerpt_or_null() -> Schema {
    schema(json!({ "anyOf": [
        { "type": "string", "maxLength": crate::listeners::MAX_REPORTED_BODY },
        { "type": "null" },
    ] }))
}

/// A sentence on a local failure, or `null`.
pub fn local_error_message_or_null() -> Schema {
    schema(json!({ "anyOf": [
        { "type": "string", "maxLength": crate::listeners::MAX_REPORTED_MESSAGE },
        { "type": "null" },
    ] }))
}

/// `?window=` of a series: `1h`, `24h` or `7d`.
pub fn series_window_query() -> Schema {
    or_empty(json!({ "type": "string", "enum": series_windows() }))
}

/// `?bucket=` of a series: a bucket width.
pub fn series_bucket_query() -> Schema {
    or_empty(json!({ "type": "string", "enum": series_buckets() }))
}

/// A series' window, as answered.
pub fn series_window() -> Schema {
    schema(json!({ "type": "string", "enum": series_windows() }))
}

/// A series' bucket width, as answered.
pub fn series_bucket() -> Schema {
    schema(json!({ "type": "string", "enum": series_buckets() }))
}

fn series_windows() -> Vec<&'static str> {
    usecases::SERIES_WINDOWS.iter().map(|w| w.0).collect()
}

fn series_buckets() -> Vec<&'static str> {
    usecases::SERIES_BUCKETS.iter().map(|b| b.0).collect()
}

/// An endpoint's health state (`usecases::HealthState`).
pub fn health_state() -> Schema {
    let states: Vec<&str> = usecases::HealthState::ALL.map(|s| s.as_str()).to_vec();
    schema(json!({ "type": "string", "enum": states }))
}

/// A delivery id (`dlv_` and a ULID), or `null`.
pub fn delivery_id_or_null() -> Schema {
    schema(json!({
        "type": ["string", "null"],
        "pattern": <domain::DeliveryId as CursorKind>::pattern(),
        "example": "dlv_01JABCDEF0123456789ABCDEFG",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_reads_as_a_utoipa_schema() {
        for (name, make) in [
            ("name", name as fn() -> Schema),
            ("category", category),
            ("description", description),
            ("type_name", type_name),
            ("new_type_name", new_type_name),
            ("subscriptions", subscriptions),
            ("subscriptions_or_null", subscriptions_or_null),
            ("webhook_url", webhook_url),
            ("webhook_url_or_null", webhook_url_or_null),
            ("description_or_null", description_or_null),
            ("rate_limit_or_null", rate_limit_or_null),
            ("custom_headers_or_null", custom_headers_or_null),
            ("masked_headers", masked_headers),
            ("time", time),
            ("time_or_null", time_or_null),
            ("delivery_status_or_null", delivery_status_or_null),
            ("limit_query", limit_query),
            ("event_cursor_query", event_cursor_query),
            ("time_query", time_query),
            ("delivery_status_query", delivery_status_query),
            ("window_query", window_query),
            ("webhook_id_or_null", webhook_id_or_null),
            ("delivery_id", delivery_id),
            ("listener_name_or_null", listener_name_or_null),
            ("local_error_class_or_null", local_error_class_or_null),
            ("response_excerpt_or_null", response_excerpt_or_null),
            ("local_error_message_or_null", local_error_message_or_null),
            ("series_window_query", series_window_query),
            ("series_bucket_query", series_bucket_query),
            ("series_window", series_window),
            ("series_bucket", series_bucket),
            ("health_state", health_state),
            ("delivery_id_or_null", delivery_id_or_null),
        ] {
            let made = std::panic::catch_unwind(make);
            assert!(made.is_ok(), "{name}");
        }
    }
}
