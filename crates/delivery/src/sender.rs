//! The sender: one shared HTTPS client that makes single delivery attempts.
//!
//! Every lane sends through the same [`Sender`], so connections are pooled and reused
//! (HTTP/1.1 keep-alive, HTTP/2 where the receiver offers it by ALPN). One call of
//! [`Sender::send`] is one attempt: one `POST` with the signed headers of SPEC §4, and an
//! [`AttemptResult`] that says what happened. The sender never retries and never sleeps;
//! backoff and ordering belong to the dispatcher.
//!
//! Invariants:
//! - Outside `--dev` a connection is only ever opened to a public address: IP-literal and
//!   `localhost` hosts are refused by [`UrlPolicy`] before sending, and names are resolved
//!   by the sender's own resolver (`resolver::GuardedResolver`), which drops every non-public address. Because the
//!   client connects only to what the resolver returned, the check applies to the address
//!   actually connected to on every new connection (DNS rebinding cannot reach inside).
//! - Certificates are always verified against the public roots plus the extra CA file,
//!   also in `--dev`; TLS 1.2 is the minimum; redirects are never followed (a 3xx is an
//!   `http_status` failure). A `410 Gone` is a `gone` failure, which disables the endpoint.
//! - The attempt timeout bounds the whole attempt: resolving, connecting, the handshake,
//!   sending, the response head and the first 4 KiB of the response body.
//! - A 2xx received within the timeout is a success even when the rest of the response
//!   body cannot be read: the receiver has accepted the event, and failing the attempt
//!   would only make it receive the event again.
//! - Secrets, custom header values and bodies are never logged or put into error
//!   messages, and neither is the URL (receivers put tokens in query strings).
//! - An endpoint's custom headers go on every attempt, but never replace a header of the
//!   service's own (SPEC §4's, `User-Agent`, `Host`, hop-by-hop ones).

pub(crate) mod classify;
mod resolver;
mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use domain::{CustomHeaders, ErrorClass, UrlPolicy};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, redirect};

use store::RecordedHeaders;

use self::resolver::{GuardedResolver, Lookup};

/// How much of a response body is kept for the activity log.
pub const RESPONSE_EXCERPT_BYTES: usize = 4096;

/// What the sender needs from the service configuration.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// `--dev`: allow `http://` and loopback/private addresses. Certificates are still
    /// verified strictly.
    pub dev: bool,
    /// The contents of `--extra-ca-file`: PEM certificates trusted in addition to the
    /// public roots (a private CA).
    pub extra_ca_pem: Option<Vec<u8>>,
    /// The bound on one whole attempt (`--attempt-timeout`, 3 s by default).
    pub attempt_timeout: Duration,
    /// The `User-Agent` of every attempt, `Admin-Webhooks/<version>`.
    pub user_agent: String,
}

impl SenderConfig {
    /// `Admin-Webhooks/<version of this crate>`.
    pub fn default_user_agent() -> String {
        format!("Admin-Webhooks/{}", env!("CARGO_PKG_VERSION"))
    }
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            dev: false,
            extra_ca_pem: None,
            attempt_timeout: Duration::from_secs(3),
            user_agent: Self::default_user_agent(),
        }
    }
}

/// Why a [`Sender`] could not be built. Reported at start, so the service refuses to run
/// with a broken CA file instead of failing every attempt later.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error(
        "the extra CA file holds no PEM certificate (expected `-----BEGIN CERTIFICATE-----` sections)"
    )]
    NoCertificates,
    #[error("the extra CA file is not valid PEM: {0}")]
    InvalidPem(String),
    #[error("certificate #{index} of the extra CA file cannot be used as a trusted root: {reason}")]
    InvalidCertificate { index: usize, reason: String },
    #[error("the attempt timeout must be longer than zero")]
    ZeroTimeout,
    #[error("the user agent `{0}` is not a valid header value")]
    InvalidUserAgent(String),
    #[error("could not build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// One attempt of one delivery, borrowed from the lane that makes it.
#[derive(Clone, Copy)]
pub struct AttemptRequest<'a> {
    pub url: &'a str,
    /// The endpoint attempted (a listener's deliveries are routed by it).
    pub webhook_id: &'a domain::WebhookId,
    /// 1 for a delivery's first attempt, then 2, 3, …
    pub attempt: u32,
    /// The current secret first; during a rotation's grace period the previous one after
    /// it. `X-Admin-Signature` uses the first; `webhook-signature` carries one entry each.
    /// Must not be empty.
    pub secrets: &'a [String],
    /// The event id (`evt_…`): `Idempotency-Key` and `webhook-id`.
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// The delivery id (`dlv_…`): `X-Admin-Delivery`.
    pub delivery_id: &'a str,
    /// The exact body bytes, identical on every attempt; shared, not copied.
    pub body: &'a Arc<[u8]>,
    /// The endpoint's custom headers, sent before the service's own (which win).
    pub headers: &'a CustomHeaders,
}

use domain::WebhookId;

/// Written by hand so that logging a request can never print a secret or a body.
impl std::fmt::Debug for AttemptRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttemptRequest")
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("delivery_id", &self.delivery_id)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("body_bytes", &self.body.len())
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The receiver answered 2xx within the timeout.
    Succeeded,
    /// Anything else; the class says which of the logged kinds of failure it was.
    Failed(ErrorClass),
}

impl AttemptOutcome {
    /// The class to record, `None` for a success.
    pub fn error_class(self) -> Option<ErrorClass> {
        match self {
            Self::Succeeded => None,
            Self::Failed(class) => Some(class),
        }
    }
}

/// Everything the activity log records about an attempt, plus the receiver's wish for
/// the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub outcome: AttemptOutcome,
    /// The response status, when a response head arrived.
    pub status_code: Option<u16>,
    /// Milliseconds from the start of the attempt to its end (response excerpt read, or
    /// the failure).
    pub response_ms: u32,
    /// The first 4 KiB of the response body as lossy UTF-8; `None` when there was no
    /// response or it had an empty body.
    pub response_body: Option<String>,
    /// `Retry-After` of a 429 or 503 answer, in seconds or as an HTTP date (a date in the
    /// past is zero). Not clamped: the dispatcher bounds it by its own backoff rules.
    pub retry_after: Option<Duration>,
    /// A short sentence for the log and the dashboard; never holds secrets, the body or
    /// the URL.
    pub error_message: Option<String>,
    /// The headers of the request as sent (`None` when nothing was sent): the
    /// service's own headers of SPEC §4, signatures included. Only headers the service
    /// sets itself are recorded, never one that could carry a receiver's credentials.
    pub request_headers: Option<RecordedHeaders>,
    /// The response's headers, when a response head arrived.
    pub response_headers: Option<RecordedHeaders>,
}

impl AttemptResult {
    fn failure(class: ErrorClass, message: String, started: Instant) -> Self {
        Self {
            outcome: AttemptOutcome::Failed(class),
            status_code: None,
            response_ms: elapsed_ms(started),
            response_body: None,
            retry_after: None,
            error_message: Some(message),
            request_headers: None,
            response_headers: None,
        }
    }
}

fn elapsed_ms(started: Instant) -> u32 {
    u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX)
}

/// What a lane needs of a sender: one attempt, however it ends. [`Sender`] is the one
/// that speaks HTTP; a lane's unit tests answer from a script.
#[async_trait]
pub trait AttemptSender: Send + Sync + 'static {
    /// Makes one attempt; every way it can end is an [`AttemptResult`].
    async fn send(&self, request: &AttemptRequest<'_>) -> AttemptResult;

    /// Whether this process can make the attempts of the endpoint at `url` at all. Only
    /// lanes on a store shared by several processes ask, and leave a lane this process
    /// cannot serve (a listener whose stream is connected to another process, or to
    /// none) to the process that can, without recording an attempt.
    fn sends_here(&self, url: &str, webhook: &WebhookId) -> bool {
        let _ = (url, webhook);
        true
    }

    /// Whether this process is the one to work the endpoint's lane (a listener whose
    /// stream is connected here): on a shared store its lane is claimed persistently,
    /// outlasting another process's brief hold of it.
    fn prefers(&self, webhook: &WebhookId) -> bool {
        let _ = webhook;
        false
    }
}

#[async_trait]
impl AttemptSender for Sender {
    async fn send(&self, request: &AttemptRequest<'_>) -> AttemptResult {
        Sender::send(self, request).await
    }
}

/// The one HTTP client of the process. Cheap to clone: the connection pool is shared.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: UrlPolicy,
    attempt_timeout: Duration,
    /// The client sends it on every request; recorded with each attempt's headers.
    user_agent: String,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("policy", &self.policy)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish_non_exhaustive()
    }
}

impl Sender {
    pub fn new(config: SenderConfig) -> Result<Sender, SenderError> {
        Self::with_lookup(config, resolver::system_lookup())
    }

    /// Builds the sender with its name lookup replaced, so tests can make a name resolve
    /// to an address of their choosing.
    pub(crate) fn with_lookup(config: SenderConfig, lookup: Lookup) -> Result<Sender, SenderError> {
        if config.attempt_timeout.is_zero() {
            return Err(SenderError::ZeroTimeout);
        }
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| SenderError::InvalidUserAgent(config.user_agent.clone()))?;
        let extra_roots = match &config.extra_ca_pem {
            Some(pem) => tls::parse_extra_roots(pem)?,
            None => Vec::new(),
        };

        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(true)
            .min_tls_version(reqwest::tls::Version::TLS_1_2)
            .https_only(!config.dev)
            .redirect(redirect::Policy::none())
            // Environment proxies would connect to an address the guard never saw.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(config.dev, lookup)))
            .timeout(config.attempt_timeout)
            .user_agent(user_agent)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_nodelay(true);
        for root in extra_roots {
            builder = builder.add_root_certificate(root);
        }
        let client = builder.build().map_err(SenderError::Client)?;

        Ok(Sender {
            client,
            policy: UrlPolicy { dev: config.dev },
            attempt_timeout: config.attempt_timeout,
            user_agent: config.user_agent,
        })
    }

    /// Makes one attempt. Never panics and never returns early without a result: every
    /// way an attempt can end is an [`AttemptResult`].
    ///
    /// A URL the address policy refuses is not sent and is recorded as `ssrf_blocked`:
    /// a non-public address, but also (only possible if the service was restarted without
    /// `--dev` after registering it) an `http://` URL, since in each case it is the policy
    /// that stopped the attempt.
    pub async fn send(&self, request: &AttemptRequest<'_>) -> AttemptResult {
        let started = Instant::now();

        // Literal addresses and `localhost` names never reach the resolver, so they are
        // checked here; every other name is checked by the resolver when it connects.
        let url = match self.policy.check_url(request.url) {
            Ok(url) => url,
            Err(refusal) => {
                return AttemptResult::failure(
                    ErrorClass::SsrfBlocked,
                    format!("not sent: {refusal}"),
                    started,
                );
            }
        };
        let Some(headers) = signed_headers(request) else {
            // The store always hands out the current secret; an empty list is a bug
            // upstream, and sending unsigned would be worse than not sending.
            tracing::error!(
                delivery_id = request.delivery_id,
                "attempt without a signing secret; not sent"
            );
            return AttemptResult::failure(
                ErrorClass::Connect,
                "not sent: the endpoint has no signing secret".to_owned(),
                started,
            );
        };
        let sent = recorded_request(&headers, &self.user_agent, request.body.len());
        let body = Bytes::from_owner(Arc::clone(request.body));

        let response = match self
            .client
            .post(url)
            .headers(headers)
            .body(body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(error) => {
                let (class, message) = classify::request_error(&error, self.attempt_timeout);
                return AttemptResult {
                    request_headers: Some(sent),
                    ..AttemptResult::failure(class, message, started)
                };
            }
        };

        let status = response.status();
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| classify::parse_retry_after(v, std::time::SystemTime::now())),
            _ => None,
        };
        let received = RecordedHeaders::bounded(
            response
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str(), String::from_utf8_lossy(value.as_bytes()))),
        );
        let redirect_note = status
            .is_redirection()
            .then(|| classify::redirect_note(response.headers().get(LOCATION)));
        let (response_body, read_error) = read_excerpt(response, self.attempt_timeout).await;

        let (outcome, error_message) = if status.is_success() {
            let note = read_error.map(|e| format!("answered {status}, but {e}"));
            (AttemptOutcome::Succeeded, note)
        } else {
            let (class, message) = classify::refusal(status, redirect_note);
            (AttemptOutcome::Failed(class), Some(message))
        };
        AttemptResult {
            outcome,
            status_code: Some(status.as_u16()),
            response_ms: elapsed_ms(started),
            response_body,
            retry_after,
            error_message,
            request_headers: Some(sent),
            response_headers: Some(received),
        }
    }
}

/// The request's headers as they go out: the endpoint's custom ones masked (they may be
/// credentials, and the activity log is not a vault), the signed ones, then the two the
/// client adds.
pub(crate) fn recorded_request(
    headers: &HeaderMap,
    user_agent: &str,
    body_len: usize,
) -> RecordedHeaders {
    let own = headers.iter().map(|(name, value)| {
        let text = String::from_utf8_lossy(value.as_bytes());
        let shown = if value.is_sensitive() {
            domain::custom_headers::masked(&text)
        } else {
            text.into_owned()
        };
        (name.as_str().to_owned(), shown)
    });
    let added = [
        ("user-agent".to_owned(), user_agent.to_owned()),
        ("content-length".to_owned(), body_len.to_string()),
    ];
    RecordedHeaders::bounded(own.chain(added))
}

/// The headers of SPEC §4, or `None` when there is no secret to sign with.
pub(crate) fn signed_headers(request: &AttemptRequest<'_>) -> Option<HeaderMap> {
    let current = request.secrets.first()?;
    let timestamp = chrono::Utc::now().timestamp();
    let secrets: Vec<&str> = request.secrets.iter().map(String::as_str).collect();
    let event_id = request.event_id;

    let admin = domain::signature::admin_signature(current, request.body);
    let standard =
        domain::signature::standard_signature_header(&secrets, event_id, timestamp, request.body);

    let mut headers = HeaderMap::with_capacity(10 + request.headers.len());
    // The endpoint's own headers first, so that the service's, inserted after, replace
    // any of the same name; names the service keeps for itself are skipped outright
    // (registration refuses them; this holds even for a row that slipped past).
    for custom in request.headers.iter() {
        if domain::custom_headers::reserved(&custom.name).is_some() {
            continue;
        }
        if let (Ok(name), Ok(mut value)) = (
            HeaderName::from_bytes(custom.name.as_bytes()),
            HeaderValue::from_str(&custom.value),
        ) {
            // Kept out of HTTP/2 header compression tables, like any credential.
            value.set_sensitive(true);
            headers.append(name, value);
        }
    }
    let mut put = |name: &'static str, value: &str| {
        // Ids are prefixed base32, types are validated `noun.verb` names and signatures
        // are hex/base64, so every value is a valid header value; a value that is not
        // (a corrupted row) is left out rather than sent mangled, and the receiver's
        // verification will say so.
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    put("x-admin-signature", &admin);
    put("idempotency-key", event_id);
    put("x-admin-event", request.event_type);
    put("x-admin-delivery", request.delivery_id);
    put("webhook-id", event_id);
    put("webhook-timestamp", &timestamp.to_string());
    put("webhook-signature", &standard);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Some(headers)
}

/// Reads at most [`RESPONSE_EXCERPT_BYTES`] of the body. The client's timeout still runs
/// while reading, so a receiver that trickles its body cannot hold the lane. Returns the
/// excerpt and, when reading stopped on an error, a clause saying why.
async fn read_excerpt(
    mut response: reqwest::Response,
    timeout: Duration,
) -> (Option<String>, Option<String>) {
    let mut buffer = Vec::new();
    let mut error = None;
    while buffer.len() < RESPONSE_EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = RESPONSE_EXCERPT_BYTES - buffer.len();
                buffer.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(classify::body_error(&e, timeout));
                break;
            }
        }
    }
    let truncated = buffer.len() == RESPONSE_EXCERPT_BYTES;
    (
        (!buffer.is_empty()).then(|| lossy_excerpt(&buffer, truncated)),
        error,
    )
}

/// Lossy UTF-8 of `bytes`; when the cut at 4 KiB split a character, the partial
/// character is dropped instead of shown as U+FFFD.
fn lossy_excerpt(bytes: &[u8], truncated: bool) -> String {
    let mut text = String::with_capacity(bytes.len());
    let mut chunks = bytes.utf8_chunks().peekable();
    while let Some(chunk) = chunks.next() {
        text.push_str(chunk.valid());
        let is_last = chunks.peek().is_none();
        let cut_character = is_last && truncated && chunk.invalid().len() < 4;
        if !chunk.invalid().is_empty() && !cut_character {
            text.push(char::REPLACEMENT_CHARACTER);
        }
    }
    text
}

#[cfg(test)]
mod tests;
