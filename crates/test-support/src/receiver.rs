//! The webhook receiver of the tests: a real server on 127.0.0.1 (plain HTTP, or HTTPS
//! with HTTP/1.1 and HTTP/2 by ALPN) that records every request and answers what the
//! test decides, request by request.
//!
//! A request is recorded before it is answered, so once the sender has a response in
//! hand the request is already in [`Receiver::requests`]; a test that waits for requests
//! from a running service uses [`Receiver::wait_for`], which wakes on each arrival.
//! Stopping a receiver ([`Receiver::stop`]) holds its port, so the endpoint stays refused
//! until the test brings it back with [`Receiver::restart_on`].

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Method, Request, Response, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

use crate::loopback::{HeldPort, Server};

/// What the receiver answers to one request.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Wait this long before answering: a slow receiver.
    pub delay: Duration,
    /// Send the head and the body given, then never end the body: a receiver that hangs
    /// in the middle of its response.
    pub stall_body: bool,
}

impl Reply {
    /// `status` with no body.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
            stall_body: false,
        }
    }

    /// `200 ok`.
    pub fn ok() -> Reply {
        Reply::status(200).body("ok")
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Reply {
        self.body = body.into();
        self
    }

    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    pub fn stalling_body(mut self) -> Reply {
        self.stall_body = true;
        self
    }
}

/// One request as the receiver saw it, with the status it answered.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub version: Version,
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What the receiver answered (or would have, had the sender waited).
    pub status: u16,
    /// When it arrived, for tests that check how requests are spaced in time.
    pub at: tokio::time::Instant,
}

impl Recorded {
    /// The single value of a header; panics when it is missing, repeated or not text,
    /// since each of those is a bug in the sender.
    pub fn header(&self, name: &str) -> &str {
        let mut values = self.headers.get_all(name).iter();
        let value = values
            .next()
            .unwrap_or_else(|| panic!("header `{name}` missing"));
        assert!(
            values.next().is_none(),
            "header `{name}` sent more than once"
        );
        value
            .to_str()
            .unwrap_or_else(|_| panic!("header `{name}` is not text"))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    /// The `webhook-id` the event was delivered with.
    pub fn event_id(&self) -> String {
        self.header("webhook-id").to_owned()
    }
}

/// Decides the reply to each request, in arrival order.
type Behaviour = Box<dyn FnMut(&Recorded) -> Reply + Send>;

struct State {
    requests: Mutex<Vec<Recorded>>,
    behaviour: Mutex<Behaviour>,
    arrived: Notify,
}

pub struct Receiver {
    scheme: &'static str,
    state: Arc<State>,
    server: Server,
}

impl Receiver {
    /// A plain HTTP receiver answering `200 ok` to everything.
    pub async fn start() -> Receiver {
        Receiver::http(Reply::ok()).await
    }

    /// A plain HTTP receiver answering `reply` to everything.
    pub async fn http(reply: Reply) -> Receiver {
        Receiver::start_with(move |_| reply.clone()).await
    }

    /// A plain HTTP receiver answering what `behaviour` says for each request.
    pub async fn start_with(
        behaviour: impl FnMut(&Recorded) -> Reply + Send + 'static,
    ) -> Receiver {
        Receiver::serve(bind_loopback().await, None, Box::new(behaviour))
    }

    /// Starts again on the address of a receiver that was stopped (an outage ending).
    pub async fn restart_on(
        down: HeldPort,
        behaviour: impl FnMut(&Recorded) -> Reply + Send + 'static,
    ) -> Receiver {
        Receiver::serve(down.listen().await, None, Box::new(behaviour))
    }

    /// Stops listening and closes open connections: the endpoint is down. Its port stays
    /// held so that no other test's receiver takes it while connections are refused.
    pub async fn stop(self) -> HeldPort {
        let addr = self.server.addr();
        drop(self);
        HeldPort::hold(addr).await
    }

    fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, behaviour: Behaviour) -> Receiver {
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            behaviour: Mutex::new(behaviour),
            arrived: Notify::new(),
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let serving = Arc::clone(&state);
        let server = Server::serve(listener, tls, move |request| {
            answer(Arc::clone(&serving), request)
        });
        Receiver {
            scheme,
            state,
            server,
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    pub fn port(&self) -> u16 {
        self.server.addr().port()
    }

    /// `http(s)://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.server.addr(), path)
    }

    /// The URL an endpoint registered on this receiver gets: `…/webhook`.
    pub fn webhook_url(&self) -> String {
        self.url("/webhook")
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().expect("requests lock").clone()
    }

    /// TCP connections accepted so far (counted before any TLS).
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// Waits until at least `count` requests arrived, failing the test after `within`.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Registered before looking, so an arrival in between is not missed.
            let notified = self.state.arrived.notified();
            let got = self.requests();
            if got.len() >= count {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let got = self.requests().len();
                panic!("the receiver got {got} requests, expected {count} within {within:?}");
            }
        }
    }
}

#[cfg(feature = "certs")]
impl Receiver {
    /// An HTTPS receiver offering h2 and http/1.1 by ALPN, answering `reply`.
    pub async fn https(reply: Reply, identity: crate::certs::ServerIdentity) -> Receiver {
        Receiver::https_with_alpn(reply, identity, &[b"h2", b"http/1.1"]).await
    }

    /// An HTTPS receiver offering exactly the protocols `alpn` names.
    pub async fn https_with_alpn(
        reply: Reply,
        identity: crate::certs::ServerIdentity,
        alpn: &[&[u8]],
    ) -> Receiver {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(identity.chain, identity.key)
            .expect("server certificate");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let tls = TlsAcceptor::from(Arc::new(config));
        Receiver::serve(
            bind_loopback().await,
            Some(tls),
            Box::new(move |_| reply.clone()),
        )
    }
}

async fn bind_loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0")
}

type ReplyBody = BoxBody<Bytes, Infallible>;

async fn answer(state: Arc<State>, request: Request<Incoming>) -> Response<ReplyBody> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let mut recorded = Recorded {
        version: parts.version,
        method: parts.method,
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
        status: 0,
        at: tokio::time::Instant::now(),
    };
    let reply = (state.behaviour.lock().expect("behaviour lock"))(&recorded);
    recorded.status = reply.status;
    state.requests.lock().expect("requests lock").push(recorded);
    state.arrived.notify_waiters();

    if !reply.delay.is_zero() {
        // A slow receiver, on purpose.
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    let body: ReplyBody = if reply.stall_body {
        let first = futures::stream::once(futures::future::ready(Ok(Frame::data(reply.body))));
        BodyExt::boxed(StreamBody::new(first.chain(futures::stream::pending())))
    } else {
        Full::new(reply.body).boxed()
    };
    response.body(body).expect("valid response")
}
