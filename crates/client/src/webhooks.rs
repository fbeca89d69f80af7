//! Endpoints ("webhooks"): list, create, get, update, delete, send a test event, and
//! rotate the signing secret.
//!
//! Invariant: [`Webhook::secret`] is `Some` only where the API shows it (create, get,
//! update), never in lists.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::{RateLimit, WebhookId, WorkspaceId};
use serde::{Deserialize, Serialize};

use crate::{ApiClient, ClientError, Event, Page, PageQuery};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub workspace_id: WorkspaceId,
    pub url: String,
    /// `http`, or `listener` for an endpoint of `admin-webhooks listen`.
    #[serde(default = "http_kind")]
    pub kind: String,
    pub description: String,
    /// Event types, groups (`user.*`) or `*`.
    pub events: Vec<String>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// At most this many attempts per second or minute; `None`: no limit.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// The custom headers, values masked by the API (`Bear…(17 chars)`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn http_kind() -> String {
    "http".to_owned()
}

/// The body of a create; `description` and `enabled` left out take the API's defaults.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Headers added to every attempt (name → value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

/// The body of an update: a field left `None` stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `Some(None)` removes the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<Option<RateLimit>>,
    /// Replaces every custom header; `Some` of an empty map removes them all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotatedSecret {
    pub webhook_id: WebhookId,
    pub secret: String,
    /// Until when the replaced secret still signs (the second `webhook-signature` entry).
    pub previous_secret_expires_at: DateTime<Utc>,
}

impl ApiClient {
    /// `GET /v1/webhooks`: one page of the workspace's endpoints, without secrets.
    pub async fn list_webhooks(&self, page: &PageQuery) -> Result<Page<Webhook>, ClientError> {
        self.get("v1/webhooks").query(&page.pairs()).fetch().await
    }

    /// `POST /v1/webhooks`: registers an endpoint; the answer carries its secret.
    pub async fn create_webhook(&self, new: &NewWebhook) -> Result<Webhook, ClientError> {
        self.post("v1/webhooks").json(new).fetch().await
    }

    /// `GET /v1/webhooks/{id}`, with its secret.
    pub async fn get_webhook(&self, id: &WebhookId) -> Result<Webhook, ClientError> {
        self.get(&format!("v1/webhooks/{id}")).fetch().await
    }

    /// `PATCH /v1/webhooks/{id}`.
    pub async fn update_webhook(
        &self,
        id: &WebhookId,
        changes: &WebhookChanges,
    ) -> Result<Webhook, ClientError> {
        self.request(reqwest::Method::PATCH, &format!("v1/webhooks/{id}"))
            .json(changes)
            .fetch()
            .await
    }

    /// `DELETE /v1/webhooks/{id}`, with its deliveries and their log.
    pub async fn delete_webhook(&self, id: &WebhookId) -> Result<(), ClientError> {
        self.request(reqwest::Method::DELETE, &format!("v1/webhooks/{id}"))
            .send()
            .await
            .map(drop)
    }

    /// `POST /v1/webhooks/{id}/test`: publishes a `webhook.test` event to this endpoint.
    pub async fn send_test_event(&self, id: &WebhookId) -> Result<Event, ClientError> {
        self.post(&format!("v1/webhooks/{id}/test")).fetch().await
    }

    /// `POST /v1/webhooks/{id}/secret/rotate`.
    pub async fn rotate_secret(&self, id: &WebhookId) -> Result<RotatedSecret, ClientError> {
        self.post(&format!("v1/webhooks/{id}/secret/rotate"))
            .fetch()
            .await
    }
}
