//! The activity log and re-sends: an endpoint's deliveries, one delivery with its
//! attempts, retrying one delivery, and replaying a time range of an endpoint.

use chrono::{DateTime, Utc};
use domain::{AttemptId, DeliveryId, DeliveryStatus, ErrorClass, EventId, WebhookId};
use serde::{Deserialize, Serialize};

use crate::{ApiClient, ClientError, Page, PageQuery};

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub webhook_id: WebhookId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    pub last_status_code: Option<u16>,
    pub last_response_ms: Option<u32>,
    pub last_error: Option<String>,
    /// When the next attempt is due; `None` once delivered or expired.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `GET /v1/deliveries/{id}`: the delivery and its attempts, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryWithAttempts {
    #[serde(flatten)]
    pub delivery: Delivery,
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub id: AttemptId,
    pub attempted_at: DateTime<Utc>,
    /// `None` when no HTTP answer came.
    pub status_code: Option<u16>,
    pub response_ms: u32,
    pub error_class: Option<ErrorClass>,
    pub error_message: Option<String>,
    /// The first 4 KiB of the response body.
    pub response_body: Option<String>,
    /// The headers as sent, both signatures included; `None` for attempts made before
    /// they were kept (or from a service that does not keep them).
    #[serde(default)]
    pub request_headers: Option<RecordedHeaders>,
    /// The response's headers; `None` when no answer came.
    #[serde(default)]
    pub response_headers: Option<RecordedHeaders>,
}

/// Headers in the order they were sent or received, at most 8 KiB of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedHeaders {
    pub headers: Vec<Header>,
    /// Headers past the bound were left out.
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// Which of an endpoint's deliveries to list; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    /// Only deliveries of events of this type.
    pub event_type: Option<String>,
    /// RFC 3339: created at or after it.
    pub since: Option<String>,
    /// RFC 3339: created before it.
    pub until: Option<String>,
    pub page: PageQuery,
}

/// The body of a replay: re-send the endpoint's deliveries created in `[since, until)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Replay {
    /// RFC 3339.
    pub since: String,
    /// RFC 3339; `None` means up to now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Only deliveries that now have this status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<DeliveryStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replayed {
    /// How many deliveries were re-opened.
    pub replayed: u64,
}

impl ApiClient {
    /// `GET /v1/webhooks/{id}/deliveries`: one page, newest first.
    pub async fn list_deliveries(
        &self,
        webhook: &WebhookId,
        filter: &DeliveryFilter,
    ) -> Result<Page<Delivery>, ClientError> {
        let status = filter.status.map(|s| s.as_str().to_owned());
        let pairs = crate::filtered_pairs(
            &filter.page,
            &[
                ("status", &status),
                ("type", &filter.event_type),
                ("since", &filter.since),
                ("until", &filter.until),
            ],
        );
        self.get(&format!("v1/webhooks/{webhook}/deliveries"))
            .query(&pairs)
            .fetch()
            .await
    }

    /// `GET /v1/deliveries/{id}`.
    pub async fn get_delivery(&self, id: &DeliveryId) -> Result<DeliveryWithAttempts, ClientError> {
        self.get(&format!("v1/deliveries/{id}")).fetch().await
    }

    /// `POST /v1/deliveries/{id}/retry`: re-sends it now, at its place in the order.
    pub async fn retry_delivery(&self, id: &DeliveryId) -> Result<Delivery, ClientError> {
        self.post(&format!("v1/deliveries/{id}/retry"))
            .fetch()
            .await
    }

    /// `POST /v1/webhooks/{id}/replay`.
    pub async fn replay(
        &self,
        webhook: &WebhookId,
        replay: &Replay,
    ) -> Result<Replayed, ClientError> {
        self.post(&format!("v1/webhooks/{webhook}/replay"))
            .json(replay)
            .fetch()
            .await
    }
}
