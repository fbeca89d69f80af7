//! Events: publish, list (newest first, filtered), and get one with its deliveries.
//!
//! Invariant: `data` and `metadata` stay the raw JSON the API sent, byte for byte.

use chrono::{DateTime, Utc};
use domain::EventId;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{ApiClient, ClientError, Delivery, Page, PageQuery};

/// An event as the API answers it (and as receivers get it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    pub data: Box<RawValue>,
    pub metadata: Box<RawValue>,
}

/// `GET /v1/events/{id}`: the event, then one delivery per endpoint it went to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "EventDetailBody", into = "EventDetailBody")]
pub struct EventWithDeliveries {
    pub event: Event,
    pub deliveries: Vec<Delivery>,
}

/// [`EventWithDeliveries`] as the API sends it: one flat object. (`#[serde(flatten)]`
/// cannot carry the raw `data` and `metadata`, so the fields are spelled out here.)
#[derive(Serialize, Deserialize)]
struct EventDetailBody {
    id: EventId,
    #[serde(rename = "type")]
    event_type: String,
    timestamp: DateTime<Utc>,
    data: Box<RawValue>,
    metadata: Box<RawValue>,
    deliveries: Vec<Delivery>,
}

impl From<EventDetailBody> for EventWithDeliveries {
    fn from(body: EventDetailBody) -> Self {
        EventWithDeliveries {
            event: Event {
                id: body.id,
                event_type: body.event_type,
                timestamp: body.timestamp,
                data: body.data,
                metadata: body.metadata,
            },
            deliveries: body.deliveries,
        }
    }
}

impl From<EventWithDeliveries> for EventDetailBody {
    fn from(detail: EventWithDeliveries) -> Self {
        let Event {
            id,
            event_type,
            timestamp,
            data,
            metadata,
        } = detail.event;
        EventDetailBody {
            id,
            event_type,
            timestamp,
            data,
            metadata,
            deliveries: detail.deliveries,
        }
    }
}

/// The body of a publish. `data` (and `metadata`) must be JSON objects.
#[derive(Debug, Clone, Serialize)]
pub struct NewEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Box<RawValue>>,
}

/// Which events to list; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events of this type.
    pub event_type: Option<String>,
    /// RFC 3339: published at or after it.
    pub since: Option<String>,
    /// RFC 3339: published before it.
    pub until: Option<String>,
    pub page: PageQuery,
}

impl ApiClient {
    /// `POST /v1/events`; with an idempotency key, a repeat within 24 h answers the first
    /// event and creates nothing.
    pub async fn publish_event(
        &self,
        event: &NewEvent,
        idempotency_key: Option<&str>,
    ) -> Result<Event, ClientError> {
        let mut call = self.post("v1/events").json(event);
        if let Some(key) = idempotency_key {
            call = call.header("idempotency-key", key);
        }
        call.fetch().await
    }

    /// `GET /v1/events`: one page, newest first.
    pub async fn list_events(&self, filter: &EventFilter) -> Result<Page<Event>, ClientError> {
        let pairs = crate::filtered_pairs(
            &filter.page,
            &[
                ("type", &filter.event_type),
                ("since", &filter.since),
                ("until", &filter.until),
            ],
        );
        self.get("v1/events").query(&pairs).fetch().await
    }

    /// `GET /v1/events/{id}`.
    pub async fn get_event(&self, id: &EventId) -> Result<EventWithDeliveries, ClientError> {
        self.get(&format!("v1/events/{id}")).fetch().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_with_its_deliveries_reads_and_writes_back_its_raw_data() {
        let body = r#"{"id":"evt_01JABCDEF0123456789ABCDEFG","type":"user.created","timestamp":"2025-01-15T14:32:00.123Z","data":{"b":1,"a":[1.50]},"metadata":{},"deliveries":[]}"#;
        let detail: EventWithDeliveries = serde_json::from_str(body).unwrap();
        assert_eq!(detail.event.data.get(), r#"{"b":1,"a":[1.50]}"#);
        let written = serde_json::to_string(&detail).unwrap();
        assert!(
            written.contains(r#""data":{"b":1,"a":[1.50]}"#),
            "{written}"
        );
        assert!(written.contains(r#""deliveries":[]"#), "{written}");
    }
}
