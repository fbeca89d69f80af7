//! The load generator: raw hyper HTTP/1.1 client connections with keep-alive, one per
//! worker, POSTing small JSON events.
//!
//! Three shapes of load:
//! - [`closed_timed`]: N workers send back to back for a warm-up plus a measured window;
//!   the rate is what was answered inside the window.
//! - [`closed_count`]: N workers send a fixed number of requests as fast as they can.
//! - [`open_loop`]: requests leave on a fixed schedule whatever the answers do (no
//!   coordinated omission): each carries its *scheduled* send time, so any lag of the
//!   generator itself counts against the latency, never in its favour.
//!
//! Any answer other than the expected status is an error, counted and kept by kind so the
//! table can show it; a broken connection is reopened.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::clock;

/// Where requests go and what a good answer is.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub path: String,
    pub auth: Option<HeaderValue>,
    pub expect: StatusCode,
    /// Events per request: 1 posts one event; more posts `{"events": [...]}` (a batch).
    pub events: u64,
}

impl Target {
    pub fn new(addr: SocketAddr, path: &str, expect: StatusCode) -> Target {
        Target {
            addr,
            path: path.to_owned(),
            auth: None,
            expect,
            events: 1,
        }
    }

    /// Each request carries `events` events as one batch.
    pub fn with_batches_of(mut self, events: u64) -> Target {
        self.events = events;
        self
    }

    /// The body of request `n` (its events numbered from `n × events`).
    fn body(&self, n: u64, sent_ns: u64) -> Bytes {
        if self.events == 1 {
            return event_body(n, sent_ns);
        }
        let first = n * self.events;
        let items: Vec<String> = (first..first + self.events)
            .map(|i| String::from_utf8_lossy(&event_body(i, sent_ns)).into_owned())
            .collect();
        Bytes::from(format!(r#"{{"events":[{}]}}"#, items.join(",")))
    }

    pub fn with_bearer(mut self, key: &str) -> Target {
        self.auth = Some(HeaderValue::from_str(&format!("Bearer {key}")).expect("ASCII key"));
        self
    }
}

/// The event every request carries: the type, a sequence number and the instant it was
/// (meant to be) sent, in the shared clock. The raw baseline POSTs the same bytes.
pub fn event_body(n: u64, sent_ns: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"type":"user.created","data":{{"n":{n},"sent_ns":{sent_ns},"user_id":"usr_9x2k4m7","email":"developer@example.com"}}}}"#
    ))
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        // Small requests on a keep-alive connection: Nagle would only add delay.
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn {
            sender,
            host: HeaderValue::from_str(&addr.to_string()).expect("an address is ASCII"),
        })
    }

    /// Sends one request and reads the whole answer (so the connection can be reused).
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        auth: Option<&HeaderValue>,
        body: Bytes,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender.ready().await.context("connection closed")?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, "application/json");
        if let Some(auth) = auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let response = self
            .sender
            .send_request(request.body(Full::new(body))?)
            .await
            .context("request failed")?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading the answer")?
            .to_bytes();
        Ok((status, body))
    }

    async fn post(&mut self, target: &Target, body: Bytes) -> anyhow::Result<StatusCode> {
        let (status, _) = self
            .send(Method::POST, &target.path, target.auth.as_ref(), body)
            .await?;
        Ok(status)
    }
}

/// Answers counted by kind: the expected status is `ok`, everything else an error.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    errors: AtomicU64,
    kinds: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    fn error(&self, kind: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self
            .kinds
            .lock()
            .expect("not poisoned")
            .entry(kind)
            .or_default() += 1;
    }

    fn kinds(&self) -> BTreeMap<String, u64> {
        self.kinds.lock().expect("not poisoned").clone()
    }
}

/// Sends requests numbered by `next` until it says stop; one connection, reopened if it
/// breaks.
async fn worker(target: Arc<Target>, tally: Arc<Tally>, next: impl Fn() -> Option<u64>) {
    let mut conn: Option<Conn> = None;
    while let Some(n) = next() {
        let live = match conn.as_mut() {
            Some(live) => live,
            None => match Conn::connect(target.addr).await {
                Ok(fresh) => conn.insert(fresh),
                Err(e) => {
                    tally.error(format!("{e:#}"));
                    // A refused connection returns at once; do not spin on it.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        match live.post(&target, target.body(n, clock::now_ns())).await {
            Ok(status) if status == target.expect => {
                tally.ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(status) => tally.error(format!("HTTP {}", status.as_u16())),
            Err(e) => {
                tally.error(format!("{e:#}"));
                conn = None;
            }
        }
    }
}

/// What a closed loop over a time window measured.
pub struct Timed {
    /// Expected answers inside the measured window.
    pub ok: u64,
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    pub window: Duration,
}

impl Timed {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }
}

/// `workers` connections send back to back for `warmup + measure`; what was answered
/// during `measure` counts.
pub async fn closed_timed(
    target: Target,
    workers: usize,
    warmup: Duration,
    measure: Duration,
) -> Timed {
    closed_timed_spread(vec![target], workers, warmup, measure).await
}

/// [`closed_timed`] with the workers spread round-robin over `targets` (several service
/// processes): worker `i` sends to `targets[i % targets.len()]`.
pub async fn closed_timed_spread(
    targets: Vec<Target>,
    workers: usize,
    warmup: Duration,
    measure: Duration,
) -> Timed {
    assert!(!targets.is_empty(), "at least one target");
    let targets: Vec<Arc<Target>> = targets.into_iter().map(Arc::new).collect();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for i in 0..workers {
        let (stop, counter) = (stop.clone(), counter.clone());
        let next = move || {
            (!stop.load(Ordering::Relaxed)).then(|| counter.fetch_add(1, Ordering::Relaxed))
        };
        let target = targets[i % targets.len()].clone();
        tasks.spawn(worker(target, tally.clone(), next));
    }
    tokio::time::sleep(warmup).await;
    let (ok0, err0, t0) = (
        tally.ok.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(measure).await;
    let (ok1, err1, t1) = (
        tally.ok.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed),
        Instant::now(),
    );
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    Timed {
        ok: ok1 - ok0,
        errors: err1 - err0,
        error_kinds: tally.kinds(),
        window: t1 - t0,
    }
}

/// What a closed loop over a fixed count of requests did.
pub struct Counted {
    pub ok: u64,
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    pub started_ns: u64,
    pub finished_ns: u64,
}

impl Counted {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / clock::between(self.started_ns, self.finished_ns).as_secs_f64()
    }
}

/// `workers` connections send `count` requests in all, as fast as they are answered.
pub async fn closed_count(target: Target, workers: usize, count: u64) -> Counted {
    closed_count_spread(vec![target], workers, count).await
}

/// [`closed_count`] with the workers spread round-robin over `targets`.
pub async fn closed_count_spread(targets: Vec<Target>, workers: usize, count: u64) -> Counted {
    assert!(!targets.is_empty(), "at least one target");
    let targets: Vec<Arc<Target>> = targets.into_iter().map(Arc::new).collect();
    let tally = Arc::new(Tally::default());
    let counter = Arc::new(AtomicU64::new(0));
    let started_ns = clock::now_ns();
    let mut tasks = JoinSet::new();
    for i in 0..workers {
        let counter = counter.clone();
        let next = move || {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            (n < count).then_some(n)
        };
        let target = targets[i % targets.len()].clone();
        tasks.spawn(worker(target, tally.clone(), next));
    }
    while tasks.join_next().await.is_some() {}
    Counted {
        ok: tally.ok.load(Ordering::Relaxed),
        errors: tally.errors.load(Ordering::Relaxed),
        error_kinds: tally.kinds(),
        started_ns,
        finished_ns: clock::now_ns(),
    }
}

/// What an open loop did.
pub struct Open {
    pub scheduled: u64,
    pub ok: u64,
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    /// Scheduled send → expected answer, per answered request.
    pub answer_ns: Vec<u64>,
    /// Connections the generator needed to keep to the schedule.
    pub connections: u64,
}

/// Sends `rate` requests per second for `duration` on a fixed schedule. A request takes an
/// idle connection or opens one (at most `max_connections`); if all are busy it waits,
/// and the wait counts in its latency because its send time is the scheduled one.
pub async fn open_loop(
    target: Target,
    rate: u64,
    duration: Duration,
    max_connections: usize,
) -> Open {
    let target = Arc::new(target);
    let tally = Arc::new(Tally::default());
    let idle: Arc<Mutex<Vec<Conn>>> = Arc::default();
    let permits = Arc::new(Semaphore::new(max_connections));
    let opened = Arc::new(AtomicU64::new(0));
    let answers: Arc<Mutex<Vec<u64>>> = Arc::default();
    let total = (rate as f64 * duration.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now() + Duration::from_millis(10);
    let mut tasks = JoinSet::new();
    for n in 0..total {
        let at = start + interval.mul_f64(n as f64);
        tokio::time::sleep_until(at.into()).await;
        let (target, tally, idle, permits, opened, answers) = (
            target.clone(),
            tally.clone(),
            idle.clone(),
            permits.clone(),
            opened.clone(),
            answers.clone(),
        );
        tasks.spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let pooled = idle.lock().expect("not poisoned").pop();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => match Conn::connect(target.addr).await {
                    Ok(conn) => {
                        opened.fetch_add(1, Ordering::Relaxed);
                        conn
                    }
                    Err(e) => return tally.error(format!("{e:#}")),
                },
            };
            let sent_ns = clock::ns_of(at);
            match conn.post(&target, target.body(n, sent_ns)).await {
                Ok(status) => {
                    if status == target.expect {
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                        let took = clock::now_ns().saturating_sub(sent_ns);
                        answers.lock().expect("not poisoned").push(took);
                    } else {
                        tally.error(format!("HTTP {}", status.as_u16()));
                    }
                    idle.lock().expect("not poisoned").push(conn);
                }
                Err(e) => tally.error(format!("{e:#}")),
            }
        });
        // Finished sends are reaped as we go, so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let answer_ns = std::mem::take(&mut *answers.lock().expect("not poisoned"));
    Open {
        scheduled: total,
        ok: tally.ok.load(Ordering::Relaxed),
        errors: tally.errors.load(Ordering::Relaxed),
        error_kinds: tally.kinds(),
        answer_ns,
        connections: opened.load(Ordering::Relaxed),
    }
}

/// The `p`-th percentile (0–100) of sorted samples, by nearest rank.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), 50);
        assert_eq!(percentile(&samples, 99.0), 99);
        assert_eq!(percentile(&samples, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
    }
}
