//! A typed client of the Admin Webhooks HTTP API (`/v1`), the one the command line uses.
//!
//! Each resource keeps its types and calls in its own module ([`webhooks`], [`events`],
//! [`deliveries`]); this module holds the connection and the request plumbing they share.
//!
//! Invariants:
//! - Every call returns the typed body of a 2xx answer, or a [`ClientError`]; an error
//!   status is always read as its problem (status, title, detail), never ignored.
//! - The API key is sent as a bearer token only, and is never shown: not by `Debug`, not
//!   in any error.
//! - Bodies the API sends byte for byte (an event's `data` and `metadata`) stay raw JSON,
//!   so re-serializing a result gives back what the API sent.

pub mod deliveries;
pub mod error;
pub mod event_types;
pub mod events;
pub mod listeners;
pub mod webhooks;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use deliveries::{
    Attempt, Delivery, DeliveryFilter, DeliveryWithAttempts, Header, RecordedHeaders, Replay,
    Replayed,
};
pub use error::{ClientError, Problem};
pub use event_types::EventType;
pub use events::{Event, EventFilter, EventWithDeliveries, NewEvent};
pub use listeners::{
    AttachListener, ListenerResult, ListenerStream, LocalForwarder, StreamEvent, StreamedDelivery,
};
pub use webhooks::{NewWebhook, RotatedSecret, Webhook, WebhookChanges};

/// Where the API listens when nothing else is said (`serve`'s default `--listen`).
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8080";

/// One page of a list: `{"data": [...], "next_cursor": "…" | null}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as the next request's cursor; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Which page of a list to ask for; empty asks for the first page at the API's default
/// size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageQuery {
    /// Items per page, 1 to 100.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page, unchanged.
    pub cursor: Option<String>,
}

/// The query of a filtered list: the page, then each filter that is set.
fn filtered_pairs(
    page: &PageQuery,
    filters: &[(&'static str, &Option<String>)],
) -> Vec<(&'static str, String)> {
    let mut pairs = page.pairs();
    for (name, value) in filters {
        if let Some(value) = value {
            pairs.push((name, value.clone()));
        }
    }
    pairs
}

impl PageQuery {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = &self.cursor {
            pairs.push(("cursor", cursor.clone()));
        }
        pairs
    }
}

/// A connection to one service, authenticated with one workspace's API key.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// The API's root, always ending in `/` so that paths join under it.
    base: url::Url,
    key: Option<String>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ApiClient {
    /// A client of the API at `base_url` (`http://127.0.0.1:8080`, or a prefix behind a
    /// proxy such as `https://hooks.example.com/admin`), sending `api_key` if given.
    pub fn new(base_url: &str, api_key: Option<String>) -> Result<ApiClient, ClientError> {
        let invalid = || ClientError::InvalidBaseUrl(base_url.to_owned());
        let mut base = url::Url::parse(base_url).map_err(|_| invalid())?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(invalid());
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("admin-webhooks-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| ClientError::Transport {
                url: base.to_string(),
                source,
            })?;
        Ok(ApiClient {
            http,
            base,
            key: api_key.filter(|k| !k.is_empty()),
        })
    }

    /// The API's root this client talks to.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// A request to `path` (relative to the root, e.g. `v1/webhooks`).
    fn request(&self, method: reqwest::Method, path: &str) -> Call {
        let url = self
            .base
            .join(path)
            .expect("API paths are relative references");
        let mut builder = self.http.request(method, url.clone());
        if let Some(key) = &self.key {
            builder = builder.bearer_auth(key);
        }
        Call { builder, url }
    }

    fn get(&self, path: &str) -> Call {
        self.request(reqwest::Method::GET, path)
    }

    fn post(&self, path: &str) -> Call {
        self.request(reqwest::Method::POST, path)
    }
}

/// One request being built; sends and reads its answer.
struct Call {
    builder: reqwest::RequestBuilder,
    url: url::Url,
}

impl Call {
    fn query(mut self, pairs: &[(&str, String)]) -> Call {
        if !pairs.is_empty() {
            self.builder = self.builder.query(pairs);
        }
        self
    }

    fn json(mut self, body: &impl Serialize) -> Call {
        self.builder = self.builder.json(body);
        self
    }

    fn header(mut self, name: &str, value: &str) -> Call {
        self.builder = self.builder.header(name, value);
        self
    }

    /// Sends the request; a 2xx answer's body is returned, anything else is its problem.
    async fn send(self) -> Result<Vec<u8>, ClientError> {
        let url = self.url.to_string();
        let transport = |source| ClientError::Transport {
            url: url.clone(),
            source,
        };
        let answer = self.builder.send().await.map_err(transport)?;
        let status = answer.status();
        let body = answer.bytes().await.map_err(transport)?;
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(ClientError::Api(Problem::from_answer(
                status.as_u16(),
                &String::from_utf8_lossy(&body),
            )))
        }
    }

    /// Sends the request and reads its answer as `T`.
    async fn fetch<T: DeserializeOwned>(self) -> Result<T, ClientError> {
        let url = self.url.to_string();
        let body = self.send().await?;
        serde_json::from_slice(&body).map_err(|source| ClientError::Decode { url, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_under_the_base_with_or_without_a_trailing_slash() {
        for base in ["http://127.0.0.1:8080", "http://127.0.0.1:8080/"] {
            let client = ApiClient::new(base, None).unwrap();
            assert_eq!(
                client.get("v1/webhooks").url.as_str(),
                "http://127.0.0.1:8080/v1/webhooks"
            );
        }
        let proxied = ApiClient::new("https://hooks.example.com/admin", None).unwrap();
        assert_eq!(
            proxied.get("v1/events").url.as_str(),
            "https://hooks.example.com/admin/v1/events"
        );
    }

    #[test]
    fn a_base_that_is_not_an_http_url_is_refused() {
        for base in ["127.0.0.1:8080", "ftp://example.com", "", "mailto:a@b"] {
            let error = ApiClient::new(base, None).unwrap_err();
            assert!(matches!(error, ClientError::InvalidBaseUrl(_)), "{base}");
        }
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let client = ApiClient::new(DEFAULT_API_URL, Some("awk_very_secret_0123".into())).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("very_secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[tokio::test]
    async fn an_unreachable_service_is_a_transport_error_naming_the_url() {
        // Port 9 on loopback: nothing listens there (discard is never enabled in CI).
        let client = ApiClient::new("http://127.0.0.1:9", None).unwrap();
        let error = client
            .list_webhooks(&PageQuery::default())
            .await
            .unwrap_err();
        assert!(matches!(error, ClientError::Transport { .. }), "{error:?}");
        assert!(
            error.to_string().contains("http://127.0.0.1:9/v1/webhooks"),
            "{error}"
        );
        assert!(error.problem().is_none());
    }
}
