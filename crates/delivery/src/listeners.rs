//! Deliveries to listener endpoints: the endpoints `admin-webhooks listen` attaches to.
//!
//! The service never connects to a developer's machine. The `listen` command connects to
//! the service instead and holds one stream open per listener; [`Switchboard`] is where
//! a lane's attempt meets that stream. An attempt of a listener's delivery is pushed down
//! the stream ([`Push`]: the exact body and every header the HTTPS sender would send,
//! both signatures included), the command forwards it to its local URL and reports what
//! came of it ([`Report`]), and the lane records that as the attempt's outcome like any
//! other: order, retries with backoff, expiry and the activity log work unchanged.
//!
//! Invariants:
//! - At most one stream per listener in this process: a new one replaces the old, whose
//!   push channel closes (so the old response ends) and whose awaited attempts fail at
//!   once as `connect`.
//! - An attempt with no stream connected fails at once as `connect` and is retried with
//!   backoff like an endpoint that is down.
//! - An attempt is awaited for the attempt timeout, stream latency included, like an
//!   HTTPS attempt; a report for an attempt no longer awaited is refused ([`NotAwaited`]).
//! - On a shared store only the process a listener's stream is connected to sends for
//!   it ([`RoutedSender`] answers `sends_here` and `prefers`), and it is told of each
//!   stream that connects ([`Switchboard::watch_connections`]) to claim the lane.
//! - Nothing here touches the store: the use cases mark listeners seen and re-open their
//!   waiting head when a stream connects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::listener::is_listener_url;
use domain::{DeliveryId, ErrorClass, WebhookId};
use reqwest::StatusCode;
use tokio::sync::{mpsc, oneshot};

use crate::sender::{
    AttemptOutcome, AttemptRequest, AttemptResult, AttemptSender, RESPONSE_EXCERPT_BYTES, Sender,
    classify, recorded_request, signed_headers,
};
use store::RecordedHeaders;

/// Pushes a stream may have queued that its client has not read yet. A lane has at most
/// one attempt in flight, so more than one means the client stopped reading.
const PUSH_QUEUE: usize = 8;

/// One attempt of a listener's delivery, as the stream carries it.
#[derive(Debug, Clone)]
pub struct Push {
    /// The delivery (`dlv_…`).
    pub delivery_id: String,
    /// 1 for the first attempt of the delivery, then 2, 3, …; the report names it.
    pub attempt: u32,
    pub event_id: String,
    pub event_type: String,
    /// Every header of the attempt, lowercase names, exactly as the HTTPS sender sends
    /// them (both signatures included).
    pub headers: Vec<(String, String)>,
    /// The exact body bytes.
    pub body: Arc<[u8]>,
    /// How long the service waits for the report; the command bounds its local request
    /// by it.
    pub timeout: Duration,
}

/// What the command reports of one forwarded attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The local server's status, when it answered.
    pub status_code: Option<u16>,
    /// Why there was no answer: `timeout`, `connect` or `tls`. Ignored with a status.
    pub error_class: Option<ErrorClass>,
    /// Milliseconds the local request took.
    pub response_ms: u32,
    /// The start of the local answer's body (cut to 4 KiB here).
    pub response_body: Option<String>,
    /// A short sentence on what went wrong locally.
    pub error_message: Option<String>,
}

/// A report for an attempt nobody waits for any more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "attempt {attempt} of delivery `{delivery}` is not awaiting a result: it timed out, or \
     the stream it was sent on closed or was replaced; the service attempts it again"
)]
pub struct NotAwaited {
    pub delivery: DeliveryId,
    pub attempt: u32,
}

/// Where lanes' attempts of listener endpoints meet the streams of `listen` commands.
pub struct Switchboard {
    lines: Mutex<HashMap<WebhookId, Line>>,
    /// The serial number of the next stream, so the end of a replaced stream does not
    /// hang up its replacement.
    next_serial: std::sync::atomic::AtomicU64,
    attempt_timeout: Duration,
    user_agent: String,
    /// Set at shutdown: every stream is hung up and no new one is connected.
    closed: std::sync::atomic::AtomicBool,
    /// Told of every stream that connects ([`Switchboard::watch_connections`]).
    watcher: Mutex<Option<mpsc::UnboundedSender<WebhookId>>>,
}

struct Line {
    serial: u64,
    pushes: mpsc::Sender<Push>,
    /// Attempts pushed and not yet reported, by delivery id and attempt number.
    awaiting: HashMap<(String, u32), oneshot::Sender<Report>>,
}

/// One connected stream: the pushes to send down it. Dropping it hangs up.
pub struct Connection {
    pub pushes: mpsc::Receiver<Push>,
    hang_up: HangUp,
}

struct HangUp {
    switchboard: Arc<Switchboard>,
    listener: WebhookId,
    serial: u64,
}

impl Drop for HangUp {
    fn drop(&mut self) {
        let mut lines = self.switchboard.lines();
        if lines
            .get(&self.listener)
            .is_some_and(|line| line.serial == self.serial)
        {
            // Awaited attempts fail as their senders drop.
            lines.remove(&self.listener);
            tracing::info!(listener = %self.listener, "a listen stream disconnected");
        }
    }
}

impl Connection {
    /// The listener this stream serves.
    pub fn listener(&self) -> &WebhookId {
        &self.hang_up.listener
    }
}

impl Switchboard {
    pub fn new(attempt_timeout: Duration, user_agent: String) -> Arc<Switchboard> {
        Arc::new(Switchboard {
            lines: Mutex::new(HashMap::new()),
            next_serial: std::sync::atomic::AtomicU64::new(1),
            attempt_timeout,
            user_agent,
            closed: std::sync::atomic::AtomicBool::new(false),
            watcher: Mutex::new(None),
        })
    }

    /// Hangs up every stream and refuses new ones, so that a shutting-down server's
    /// long-lived responses end (`listen` reconnects, to another process or later).
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.lines().clear();
    }

    fn lines(&self) -> MutexGuard<'_, HashMap<WebhookId, Line>> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects a stream to `listener`, replacing the one it had.
    pub fn connect(self: &Arc<Self>, listener: &WebhookId) -> Connection {
        let serial = self
            .next_serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(PUSH_QUEUE);
        let mut lines = self.lines();
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            // The stream ends at once: its sender is dropped here.
            drop(lines);
            return Connection {
                pushes: rx,
                hang_up: HangUp {
                    switchboard: self.clone(),
                    listener: listener.clone(),
                    serial,
                },
            };
        }
        let replaced = lines.insert(
            listener.clone(),
            Line {
                serial,
                pushes: tx,
                awaiting: HashMap::new(),
            },
        );
        drop(lines);
        if let Some(watcher) = &*self.watcher.lock().unwrap_or_else(|p| p.into_inner()) {
            let _ = watcher.send(listener.clone());
        }
        if replaced.is_some() {
            tracing::info!(listener = %listener, "a new listen stream replaced the previous one");
        }
        Connection {
            pushes: rx,
            hang_up: HangUp {
                switchboard: self.clone(),
                listener: listener.clone(),
                serial,
            },
        }
    }

    /// Whether a stream of this listener is connected to this process.
    pub fn is_connected(&self, listener: &WebhookId) -> bool {
        self.lines().contains_key(listener)
    }

    /// Every listener a stream connects to from now on, as it connects (for the
    /// dispatcher, which starts or claims its lane). Replaces an earlier watcher.
    pub fn watch_connections(&self) -> mpsc::UnboundedReceiver<WebhookId> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.watcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        rx
    }

    /// The listeners with a stream connected to this process.
    pub fn connected(&self) -> Vec<WebhookId> {
        self.lines().keys().cloned().collect()
    }

    /// Hands a command's report to the attempt awaiting it.
    pub fn report(
        &self,
        listener: &WebhookId,
        delivery: &DeliveryId,
        attempt: u32,
        report: Report,
    ) -> Result<(), NotAwaited> {
        let not_awaited = || NotAwaited {
            delivery: delivery.clone(),
            attempt,
        };
        let waiter = self
            .lines()
            .get_mut(listener)
            .and_then(|line| line.awaiting.remove(&(delivery.to_string(), attempt)))
            .ok_or_else(not_awaited)?;
        waiter.send(report).map_err(|_| not_awaited())
    }

    /// Makes one attempt of a listener's delivery through its stream.
    pub async fn attempt(&self, request: &AttemptRequest<'_>) -> AttemptResult {
        let started = Instant::now();
        let Some(mut headers) = signed_headers(request) else {
            return failure(
                ErrorClass::Connect,
                "not sent: the endpoint has no signing secret",
                started,
            );
        };
        // What the activity log shows of the request, as for an HTTPS attempt.
        let sent = recorded_request(&headers, &self.user_agent, request.body.len());
        if let Ok(agent) = reqwest::header::HeaderValue::from_str(&self.user_agent) {
            headers.insert(reqwest::header::USER_AGENT, agent);
        }
        let push = Push {
            delivery_id: request.delivery_id.to_owned(),
            attempt: request.attempt,
            event_id: request.event_id.to_owned(),
            event_type: request.event_type.to_owned(),
            headers: headers
                .iter()
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                })
                .collect(),
            body: Arc::clone(request.body),
            timeout: self.attempt_timeout,
        };
        let key = (request.delivery_id.to_owned(), request.attempt);
        let (waiter, answer) = oneshot::channel();
        let pushes = {
            let mut lines = self.lines();
            let Some(line) = lines.get_mut(request.webhook_id) else {
                return failure(
                    ErrorClass::Connect,
                    "no `admin-webhooks listen` is connected to this listener (on this \
                     process); it waits like an endpoint that is down",
                    started,
                );
            };
            line.awaiting.insert(key.clone(), waiter);
            line.pushes.clone()
        };
        if pushes.try_send(push).is_err() {
            self.forget(request.webhook_id, &key);
            return failure(
                ErrorClass::Connect,
                "the listen stream is not reading what it is sent",
                started,
            );
        }
        let report = match tokio::time::timeout(self.attempt_timeout, answer).await {
            Ok(Ok(report)) => report,
            Ok(Err(_)) => {
                return AttemptResult {
                    request_headers: Some(sent),
                    ..failure(
                        ErrorClass::Connect,
                        "the listen stream closed before it reported the attempt",
                        started,
                    )
                };
            }
            Err(_) => {
                self.forget(request.webhook_id, &key);
                return AttemptResult {
                    request_headers: Some(sent),
                    ..failure(
                        ErrorClass::Timeout,
                        &format!(
                            "`listen` reported no result within {:?}",
                            self.attempt_timeout
                        ),
                        started,
                    )
                };
            }
        };
        reported(report, sent)
    }

    fn forget(&self, listener: &WebhookId, key: &(String, u32)) {
        if let Some(line) = self.lines().get_mut(listener) {
            line.awaiting.remove(key);
        }
    }
}

fn failure(class: ErrorClass, message: &str, started: Instant) -> AttemptResult {
    AttemptResult {
        outcome: AttemptOutcome::Failed(class),
        status_code: None,
        response_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
        response_body: None,
        retry_after: None,
        error_message: Some(message.to_owned()),
        request_headers: None,
        response_headers: None,
    }
}

/// The attempt's result as the command reported it: a local status is judged like a
/// receiver's (2xx succeeds, 410 is gone, anything else `http_status`).
fn reported(report: Report, sent: RecordedHeaders) -> AttemptResult {
    let response_body = report.response_body.map(|mut body| {
        if body.len() > RESPONSE_EXCERPT_BYTES {
            let mut end = RESPONSE_EXCERPT_BYTES;
            while !body.is_char_boundary(end) {
                end -= 1;
            }
            body.truncate(end);
        }
        body
    });
    let (outcome, error_message) = match report.status_code.map(StatusCode::from_u16) {
        Some(Ok(status)) if status.is_success() => (AttemptOutcome::Succeeded, None),
        Some(Ok(status)) => {
            let (class, message) = classify::refusal(status, None);
            (
                AttemptOutcome::Failed(class),
                Some(format!("locally: {message}")),
            )
        }
        Some(Err(_)) | None => {
            let class = match report.error_class {
                Some(class @ (ErrorClass::Timeout | ErrorClass::Tls)) => class,
                _ => ErrorClass::Connect,
            };
            let message = report
                .error_message
                .map(|m| m.chars().take(200).collect::<String>())
                .unwrap_or_else(|| "the local server did not answer".to_owned());
            (
                AttemptOutcome::Failed(class),
                Some(format!("locally: {message}")),
            )
        }
    };
    AttemptResult {
        outcome,
        status_code: report.status_code,
        response_ms: report.response_ms,
        response_body,
        retry_after: None,
        error_message,
        request_headers: Some(sent),
        // `listen` reports the local status and body, not the local answer's headers.
        response_headers: None,
    }
}

/// The sender of the service's lanes: listener endpoints through the [`Switchboard`],
/// every other endpoint over HTTPS.
pub struct RoutedSender {
    pub http: Sender,
    pub listeners: Arc<Switchboard>,
}

#[async_trait]
impl AttemptSender for RoutedSender {
    async fn send(&self, request: &AttemptRequest<'_>) -> AttemptResult {
        if is_listener_url(request.url) {
            self.listeners.attempt(request).await
        } else {
            self.http.send(request).await
        }
    }

    fn sends_here(&self, url: &str, webhook: &WebhookId) -> bool {
        !is_listener_url(url) || self.listeners.is_connected(webhook)
    }

    fn prefers(&self, webhook: &WebhookId) -> bool {
        self.listeners.is_connected(webhook)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(
        webhook: &'a WebhookId,
        delivery: &'a DeliveryId,
        secrets: &'a [String],
        body: &'a Arc<[u8]>,
    ) -> AttemptRequest<'a> {
        AttemptRequest {
            url: "listen://laptop",
            webhook_id: webhook,
            attempt: 1,
            secrets,
            event_id: "evt_01JABCDEF0123456789ABCDEFG",
            event_type: "user.created",
            delivery_id: delivery.as_str(),
            body,
            headers: &NO_HEADERS,
        }
    }

    static NO_HEADERS: std::sync::LazyLock<domain::CustomHeaders> =
        std::sync::LazyLock::new(domain::CustomHeaders::default);

    #[tokio::test]
    async fn an_attempt_is_pushed_signed_and_takes_the_reported_outcome() {
        let board = Switchboard::new(Duration::from_secs(5), "Admin-Webhooks/test".into());
        let webhook = WebhookId::generate();
        let delivery = DeliveryId::generate();
        let secrets = vec![domain::signature::generate_secret()];
        let body: Arc<[u8]> = Arc::from(&br#"{"id":"evt_1"}"#[..]);
        let mut connection = board.connect(&webhook);
        let first = request(&webhook, &delivery, &secrets, &body);
        let attempt = board.attempt(&first);
        let reporter = async {
            let push = connection.pushes.recv().await.unwrap();
            assert_eq!(&*push.body, &*body);
            let header = |name: &str| {
                push.headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap()
            };
            assert_eq!(
                header("x-admin-signature"),
                domain::signature::admin_signature(&secrets[0], &body)
            );
            assert!(header("webhook-signature").starts_with("v1,"));
            assert_eq!(header("user-agent"), "Admin-Webhooks/test");
            board
                .report(
                    &webhook,
                    &push.delivery_id.parse().unwrap(),
                    push.attempt,
                    Report {
                        status_code: Some(500),
                        response_ms: 7,
                        ..Report::default()
                    },
                )
                .unwrap();
        };
        let (result, ()) = tokio::join!(attempt, reporter);
        assert_eq!(
            result.outcome,
            AttemptOutcome::Failed(ErrorClass::HttpStatus)
        );
        assert_eq!((result.status_code, result.response_ms), (Some(500), 7));
        // Reported once; a second report finds nothing awaiting.
        assert!(
            board
                .report(&webhook, &delivery, 1, Report::default())
                .is_err()
        );
    }

    #[tokio::test]
    async fn without_a_stream_or_when_it_closes_the_attempt_fails_as_connect() {
        let board = Switchboard::new(Duration::from_secs(5), "ua".into());
        let webhook = WebhookId::generate();
        let delivery = DeliveryId::generate();
        let secrets = vec![domain::signature::generate_secret()];
        let body: Arc<[u8]> = Arc::from(&b"{}"[..]);
        let result = board
            .attempt(&request(&webhook, &delivery, &secrets, &body))
            .await;
        assert_eq!(result.outcome, AttemptOutcome::Failed(ErrorClass::Connect));
        assert!(
            result
                .error_message
                .unwrap()
                .contains("no `admin-webhooks listen`")
        );
        let mut connection = board.connect(&webhook);
        let second = request(&webhook, &delivery, &secrets, &body);
        let attempt = board.attempt(&second);
        let hang_up = async {
            connection.pushes.recv().await.unwrap();
            drop(connection);
        };
        let (result, ()) = tokio::join!(attempt, hang_up);
        assert_eq!(result.outcome, AttemptOutcome::Failed(ErrorClass::Connect));
        assert!(board.connected().is_empty());
    }

    #[tokio::test]
    async fn a_new_stream_replaces_the_old_and_the_old_ones_end_leaves_it_connected() {
        let board = Switchboard::new(Duration::from_secs(5), "ua".into());
        let webhook = WebhookId::generate();
        let mut old = board.connect(&webhook);
        let new = board.connect(&webhook);
        assert!(old.pushes.recv().await.is_none(), "the old stream ends");
        drop(old);
        assert_eq!(board.connected(), vec![webhook.clone()]);
        drop(new);
        assert!(board.connected().is_empty());
    }
}
