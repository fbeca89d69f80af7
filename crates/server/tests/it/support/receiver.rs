//! A webhook receiver on 127.0.0.1 whose answers the test decides, recording every request.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What the receiver answered (or would have, had the sender waited).
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    pub fn event_id(&self) -> String {
        self.header("webhook-id").to_owned()
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply {
            status: 200,
            delay: Duration::ZERO,
        }
    }
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
        }
    }
}

type Behaviour = Box<dyn FnMut(&Received) -> Reply + Send>;

struct State {
    received: Mutex<Vec<Received>>,
    behaviour: Mutex<Behaviour>,
    arrived: Notify,
}

pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver that answers 200 to everything.
    pub async fn start() -> Receiver {
        Receiver::start_with(|_| Reply::ok()).await
    }

    /// A receiver that answers what `behaviour` says for each request, in arrival order.
    pub async fn start_with(
        behaviour: impl FnMut(&Received) -> Reply + Send + 'static,
    ) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Receiver::serve_on(listener, Box::new(behaviour))
    }

    /// Starts again on the address of a receiver that was stopped (an outage ending).
    pub async fn restart_on(
        down: Down,
        behaviour: impl FnMut(&Received) -> Reply + Send + 'static,
    ) -> Receiver {
        let addr = down.addr;
        // Give the port up only now, and take it straight back as a listener.
        drop(down);
        let listener = retry_bind(addr, |a| {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.set_reuseaddr(true)?;
            socket.bind(a)?;
            socket.listen(1024)
        })
        .await;
        Receiver::serve_on(listener, Box::new(behaviour))
    }

    fn serve_on(listener: TcpListener, behaviour: Behaviour) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            received: Mutex::new(Vec::new()),
            behaviour: Mutex::new(behaviour),
            arrived: Notify::new(),
        });
        let serving = state.clone();
        let task = tokio::spawn(async move {
            // Connections live in this set so that stopping the receiver also closes the
            // keep-alive connections the sender holds.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = serving.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, hyper::Error>(handle(state, req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/webhook", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests arrived, failing the test after `within`.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.state.arrived.notified();
            let got = self.received();
            if got.len() >= count {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "the receiver got {} requests, expected {count} within {within:?}",
                    got.len()
                );
            }
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    /// Stops listening and drops open connections: the endpoint is down. The port stays
    /// reserved (bound, not listening) so that no other test's receiver takes it while
    /// connections to it are refused.
    pub async fn stop(self) -> Down {
        self.task.abort();
        let addr = self.addr;
        // The listener closes once the aborted task is dropped; until then the bind fails.
        let socket = retry_bind(addr, |a| {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.set_reuseaddr(true)?;
            socket.bind(a)?;
            Ok(socket)
        })
        .await;
        Down {
            addr,
            _socket: socket,
        }
    }
}

/// An endpoint address whose receiver is down: the port is held, nothing listens.
pub struct Down {
    pub addr: SocketAddr,
    _socket: tokio::net::TcpSocket,
}

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.addr.fmt(f)
    }
}

/// Binds `addr` with `bind`, retrying for a few seconds while the port is still taken.
async fn retry_bind<T>(addr: SocketAddr, bind: impl Fn(SocketAddr) -> std::io::Result<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match bind(addr) {
            Ok(bound) => return bound,
            Err(e) if Instant::now() >= deadline => panic!("cannot bind {addr} again: {e}"),
            Err(_) => tokio::task::yield_now().await,
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut received = Received {
        headers,
        body,
        status: 0,
    };
    let reply = (state.behaviour.lock().unwrap())(&received);
    received.status = reply.status;
    state.received.lock().unwrap().push(received);
    state.arrived.notify_waiters();
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    Response::builder()
        .status(reply.status)
        .body(Full::new(Bytes::from_static(b"ok")))
        .unwrap()
}
