//! The fast local receiver: a hyper HTTP/1.1 keep-alive server on 127.0.0.1 that answers
//! every POST with `200 ok`.
//!
//! It lives in the bench process, beside the load generator, so both read the same
//! [`crate::clock`]: the event's `data.sent_ns` (when the load generator meant to publish
//! it) subtracted from the arrival time is the publish→receipt latency.
//!
//! Paths:
//! - `/raw`: the baseline. Counted, body read and dropped; nothing else.
//! - `/e/<i>`: endpoint `i` of the service under test. Counted per endpoint, and checked
//!   for order: event ids are ULIDs assigned in commit order, so each endpoint must see
//!   strictly increasing `webhook-id`s. A repeat or a step back is counted, never hidden.
//!
//! Accepting and serving connections is the tests' loopback server
//! (`test_support::loopback`); what is the bench's own is only what it counts.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use test_support::loopback::{Server, listen_again};
use tokio::net::TcpListener;

use crate::clock;

/// Endpoints one receiver tells apart (the service allows 50 per workspace).
pub const MAX_ENDPOINTS: usize = 64;

#[derive(Default)]
struct EndpointState {
    /// The last `webhook-id` seen on this endpoint.
    last_id: Mutex<Vec<u8>>,
    count: AtomicU64,
}

struct State {
    total: AtomicU64,
    /// Clock time of the latest arrival, so a drain's end is exact rather than the moment
    /// a poll happened to notice it.
    last_arrival_ns: AtomicU64,
    endpoints: Vec<EndpointState>,
    out_of_order: AtomicU64,
    duplicates: AtomicU64,
    record_latency: AtomicBool,
    latencies_ns: Mutex<Vec<u64>>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<State>,
    /// Serves until the receiver is dropped, then closes the service's connections.
    _server: Server,
}

impl Receiver {
    /// A receiver on a free port of 127.0.0.1.
    pub async fn start() -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Ok(Self::serve(listener))
    }

    /// A receiver on a given address (an endpoint that was down comes back). Retries for a
    /// few seconds, in case an old socket on that port is still being torn down.
    pub async fn start_on(addr: SocketAddr) -> anyhow::Result<Receiver> {
        let listener = listen_again(addr)
            .await
            .with_context(|| format!("cannot bind {addr} again"))?;
        Ok(Self::serve(listener))
    }

    fn serve(listener: TcpListener) -> Receiver {
        let state = Arc::new(State {
            total: AtomicU64::new(0),
            last_arrival_ns: AtomicU64::new(0),
            endpoints: (0..MAX_ENDPOINTS)
                .map(|_| EndpointState::default())
                .collect(),
            out_of_order: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            record_latency: AtomicBool::new(false),
            latencies_ns: Mutex::new(Vec::new()),
        });
        let serving = state.clone();
        let server = Server::serve(listener, None, move |request| {
            let state = serving.clone();
            async move { handle(&state, request).await }
        });
        Receiver {
            addr: server.addr(),
            state,
            _server: server,
        }
    }

    pub fn total(&self) -> u64 {
        self.state.total.load(Ordering::Relaxed)
    }

    pub fn endpoint_count(&self, i: usize) -> u64 {
        self.state.endpoints[i].count.load(Ordering::Relaxed)
    }

    pub fn last_arrival_ns(&self) -> u64 {
        self.state.last_arrival_ns.load(Ordering::Relaxed)
    }

    pub fn out_of_order(&self) -> u64 {
        self.state.out_of_order.load(Ordering::Relaxed)
    }

    pub fn duplicates(&self) -> u64 {
        self.state.duplicates.load(Ordering::Relaxed)
    }

    /// From now on, keeps the publish→receipt latency of every delivery.
    pub fn record_latency(&self) {
        self.state.record_latency.store(true, Ordering::SeqCst);
    }

    pub fn take_latencies(&self) -> Vec<u64> {
        std::mem::take(&mut *self.state.latencies_ns.lock().expect("not poisoned"))
    }

    /// Waits until `count` requests arrived in all, or `within` passed; whether they did.
    /// Polling is enough: the exact end comes from `last_arrival_ns`.
    pub async fn wait_total(&self, count: u64, within: Duration) -> bool {
        test_support::poll_until(within, || async { self.total() >= count })
            .await
            .is_some()
    }
}

/// The URL of endpoint `i` of the receiver at `addr`, for the service to deliver to.
pub fn endpoint_url(addr: SocketAddr, i: usize) -> String {
    format!("http://{addr}/e/{i}")
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let endpoint = req
        .uri()
        .path()
        .strip_prefix("/e/")
        .and_then(|i| i.parse::<usize>().ok())
        .filter(|i| *i < MAX_ENDPOINTS);
    let event_id = req
        .headers()
        .get("webhook-id")
        .map(|v| v.as_bytes().to_vec());
    // The body is read in full, as any receiver that verifies a signature must.
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let now = clock::now_ns();
    if let Some(i) = endpoint {
        let endpoint = &state.endpoints[i];
        if let Some(id) = event_id {
            let mut last = endpoint.last_id.lock().expect("not poisoned");
            match id.as_slice().cmp(last.as_slice()) {
                std::cmp::Ordering::Greater => *last = id,
                std::cmp::Ordering::Equal => {
                    state.duplicates.fetch_add(1, Ordering::Relaxed);
                }
                std::cmp::Ordering::Less => {
                    state.out_of_order.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if state.record_latency.load(Ordering::Relaxed)
            && let Some(sent) = sent_ns(&body)
        {
            let latency = now.saturating_sub(sent);
            state
                .latencies_ns
                .lock()
                .expect("not poisoned")
                .push(latency);
        }
        endpoint.count.fetch_add(1, Ordering::Relaxed);
    }
    state.last_arrival_ns.fetch_max(now, Ordering::Relaxed);
    state.total.fetch_add(1, Ordering::Relaxed);
    Response::new(Full::new(Bytes::from_static(b"ok")))
}

/// The `"sent_ns":<digits>` the load generator put in the event's data, if any. A byte
/// scan rather than a JSON parse: the body is ours and this runs on every delivery.
fn sent_ns(body: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"sent_ns\":";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit());
    let mut value: u64 = 0;
    let mut any = false;
    for d in digits {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        any = true;
    }
    any.then_some(value)
}

#[cfg(test)]
mod tests {
    use super::sent_ns;

    #[test]
    fn finds_the_send_instant() {
        let body = br#"{"id":"evt_1","data":{"n":3,"sent_ns":123456789},"metadata":{}}"#;
        assert_eq!(sent_ns(body), Some(123_456_789));
        assert_eq!(sent_ns(br#"{"data":{}}"#), None);
    }
}
