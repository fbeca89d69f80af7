//! Listener endpoints, the calls of `admin-webhooks listen`: attach, read the stream of
//! deliveries (Server-Sent Events), forward one to a local URL, report the result.
//!
//! Invariants:
//! - A streamed delivery is forwarded with its exact body and every header the service
//!   sent (both signatures included), so the local server verifies it like a real one.
//! - The local request never follows a redirect and is bounded by the service's wait for
//!   the result, so a report is never later than the service will take it.

use std::time::{Duration, Instant};

use domain::{DeliveryId, WebhookId};
use serde::{Deserialize, Serialize};

use crate::{ApiClient, ClientError, Webhook};

/// The body of `POST /v1/listeners`: re-attach to `id`, or create a listener.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttachListener {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<WebhookId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
}

/// One `delivery` event of the stream: an attempt to forward.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamedDelivery {
    pub delivery_id: DeliveryId,
    pub attempt: u32,
    pub event_id: String,
    pub event_type: String,
    /// Every header of the attempt, lowercase names.
    pub headers: serde_json::Map<String, serde_json::Value>,
    /// The exact body (a JSON text).
    pub body: String,
    /// How long the service waits for the result.
    pub timeout_ms: u64,
}

/// What the local server made of one attempt (`POST /v1/listeners/{id}/results`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ListenerResult {
    pub delivery_id: DeliveryId,
    pub attempt: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// `timeout`, `connect` or `tls` when the local server did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    pub response_ms: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// What the stream says.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// The stream is open: deliveries follow.
    Ready,
    Delivery(Box<StreamedDelivery>),
}

/// The start of a local answer's body the report carries (the service keeps 4 KiB).
const REPORTED_BODY_BYTES: usize = 4096;

/// An open stream of a listener's deliveries.
pub struct ListenerStream {
    response: reqwest::Response,
    url: String,
    buffer: Vec<u8>,
    parser: Parser,
}

impl ApiClient {
    /// `POST /v1/listeners`: creates a listener, or re-attaches to `attach.id`; the
    /// answer carries its signing secret.
    pub async fn attach_listener(&self, attach: &AttachListener) -> Result<Webhook, ClientError> {
        self.post("v1/listeners").json(attach).fetch().await
    }

    /// `GET /v1/listeners/{id}/stream`, once the service accepted it.
    pub async fn listener_stream(&self, id: &WebhookId) -> Result<ListenerStream, ClientError> {
        let call = self
            .get(&format!("v1/listeners/{id}/stream"))
            .header("accept", "text/event-stream");
        let url = call.url.to_string();
        let response = call
            .builder
            .send()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(ClientError::Api(crate::Problem::from_answer(
                status.as_u16(),
                &body,
            )));
        }
        Ok(ListenerStream {
            response,
            url,
            buffer: Vec::new(),
            parser: Parser::default(),
        })
    }

    /// `POST /v1/listeners/{id}/results`.
    pub async fn report_listener_result(
        &self,
        id: &WebhookId,
        result: &ListenerResult,
    ) -> Result<(), ClientError> {
        self.post(&format!("v1/listeners/{id}/results"))
            .json(result)
            .send()
            .await
            .map(drop)
    }
}

impl ListenerStream {
    /// The next event; `None` when the service ended the stream.
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, ClientError> {
        loop {
            while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let line = String::from_utf8_lossy(&line).into_owned();
                if let Some((kind, data)) = self.parser.line(&line)
                    && let Some(event) = self.event(&kind, &data)?
                {
                    return Ok(Some(event));
                }
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) => return Ok(None),
                Err(source) => {
                    return Err(ClientError::Transport {
                        url: self.url.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// The event a complete SSE event makes, if it is one this client knows.
    fn event(&self, kind: &str, data: &str) -> Result<Option<StreamEvent>, ClientError> {
        match kind {
            "ready" => Ok(Some(StreamEvent::Ready)),
            "delivery" => serde_json::from_str(data)
                .map(|d| Some(StreamEvent::Delivery(Box::new(d))))
                .map_err(|source| ClientError::Decode {
                    url: self.url.clone(),
                    source,
                }),
            // Unknown events are for newer clients.
            _ => Ok(None),
        }
    }
}

/// Server-Sent Events, line by line: `:` starts a comment, `field: value` (one optional
/// space), and a blank line ends an event.
#[derive(Debug, Default)]
struct Parser {
    event: Option<String>,
    data: Vec<String>,
}

impl Parser {
    /// Takes one line; `(event, data)` when it ended an event.
    fn line(&mut self, line: &str) -> Option<(String, String)> {
        if line.is_empty() {
            let data = std::mem::take(&mut self.data).join("\n");
            let kind = self.event.take().unwrap_or_else(|| "message".to_owned());
            return Some((kind, data));
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => self.data.push(value.to_owned()),
            _ => {}
        }
        None
    }
}

/// Sends deliveries to the developer's local server.
#[derive(Clone, Debug)]
pub struct LocalForwarder {
    http: reqwest::Client,
    url: url::Url,
}

impl LocalForwarder {
    /// A forwarder to `url` (`http://localhost:3000/webhooks`); loopback is the point.
    pub fn new(url: &str) -> Result<LocalForwarder, ClientError> {
        let parsed = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| ClientError::InvalidBaseUrl(url.to_owned()))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| ClientError::Transport {
                url: url.to_owned(),
                source,
            })?;
        Ok(LocalForwarder { http, url: parsed })
    }

    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// Posts `delivery` to the local URL as the service would, and says what came of it.
    pub async fn forward(&self, delivery: &StreamedDelivery) -> ListenerResult {
        let started = Instant::now();
        // A little under the service's wait, so the report arrives while it is awaited.
        let budget = Duration::from_millis(delivery.timeout_ms.saturating_mul(9) / 10)
            .max(Duration::from_millis(100));
        let mut request = self
            .http
            .post(self.url.clone())
            .timeout(budget)
            .body(delivery.body.clone());
        for (name, value) in &delivery.headers {
            if let Some(value) = value.as_str() {
                request = request.header(name.as_str(), value);
            }
        }
        let mut result = ListenerResult {
            delivery_id: delivery.delivery_id.clone(),
            attempt: delivery.attempt,
            status_code: None,
            error_class: None,
            response_ms: 0,
            response_body: None,
            error_message: None,
        };
        match request.send().await {
            Ok(response) => {
                result.status_code = Some(response.status().as_u16());
                let body = response.bytes().await.unwrap_or_default();
                if !body.is_empty() {
                    let cut = &body[..body.len().min(REPORTED_BODY_BYTES)];
                    result.response_body = Some(String::from_utf8_lossy(cut).into_owned());
                }
            }
            Err(error) => {
                let class = if error.is_timeout() {
                    "timeout"
                } else {
                    "connect"
                };
                result.error_class = Some(class.to_owned());
                result.error_message = Some(if error.is_timeout() {
                    format!("no answer from {} within {budget:?}", self.url)
                } else {
                    format!("cannot reach {}", self.url)
                });
            }
        }
        result.response_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_lines_make_events() {
        let mut parser = Parser::default();
        assert!(parser.line(": keep-alive").is_none());
        assert!(parser.line("event: ready").is_none());
        assert!(parser.line("data: {\"listener_id\":\"wh_1\"}").is_none());
        assert_eq!(
            parser.line(""),
            Some(("ready".to_owned(), "{\"listener_id\":\"wh_1\"}".to_owned()))
        );
        assert!(parser.line("event:delivery").is_none());
        assert!(parser.line("data:a").is_none());
        assert!(parser.line("data: b").is_none());
        assert_eq!(
            parser.line(""),
            Some(("delivery".to_owned(), "a\nb".to_owned()))
        );
    }
}
