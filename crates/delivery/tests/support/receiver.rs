//! A webhook receiver for tests: a real hyper 1 server on 127.0.0.1:0, plain HTTP or
//! HTTPS (HTTP/1.1 and HTTP/2 by ALPN), that records every request it gets and answers
//! what the test told it to.
//!
//! A request is recorded before it is answered, so once the sender has a response in
//! hand, the request is already in [`Receiver::requests`]: tests never wait or poll for
//! it. Connections are counted when accepted, before any TLS, so a test can tell that a
//! refused attempt never even connected.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Method, Request, Response, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::certs::ServerIdentity;

/// What the receiver answers to every request.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Wait this long before answering: a slow receiver.
    pub delay: Duration,
    /// Send the head and the body given, then never end the body: a receiver that hangs
    /// in the middle of its response.
    pub stall_body: bool,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
            stall_body: false,
        }
    }

    pub fn ok() -> Self {
        Self::status(200).body("Received")
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn stalling_body(mut self) -> Self {
        self.stall_body = true;
        self
    }
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub version: Version,
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
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
}

struct State {
    answer: Answer,
    requests: Mutex<Vec<Recorded>>,
    connections: AtomicUsize,
}

pub struct Receiver {
    addr: SocketAddr,
    scheme: &'static str,
    state: Arc<State>,
    accept_loop: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl Receiver {
    /// A plain HTTP receiver (the sender reaches it only with `dev`).
    pub async fn http(answer: Answer) -> Self {
        Self::start(answer, None).await
    }

    /// An HTTPS receiver offering h2 and http/1.1 by ALPN.
    pub async fn https(answer: Answer, identity: ServerIdentity) -> Self {
        Self::https_with_alpn(answer, identity, &[b"h2", b"http/1.1"]).await
    }

    pub async fn https_with_alpn(answer: Answer, identity: ServerIdentity, alpn: &[&[u8]]) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(identity.chain, identity.key)
            .expect("server certificate");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Self::start(answer, Some(TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn start(answer: Answer, tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(State {
            answer,
            requests: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let accept_loop = tokio::spawn(accept_loop(listener, tls, Arc::clone(&state)));
        Self {
            addr,
            scheme,
            state,
            accept_loop,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http(s)://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().expect("requests lock").clone()
    }

    /// TCP connections accepted so far (counted before any TLS).
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        state.connections.fetch_add(1, Ordering::SeqCst);
        let state = Arc::clone(&state);
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(Arc::clone(&state), request));
            let server = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            // Handshake and connection errors are what some tests provoke on purpose
            // (a client refusing the certificate); the receiver just drops the connection.
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = server.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
                None => {
                    let _ = server.serve_connection(TokioIo::new(stream), service).await;
                }
            }
        });
    }
}

type Body = BoxBody<Bytes, Infallible>;

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    state
        .requests
        .lock()
        .expect("requests lock")
        .push(Recorded {
            version: parts.version,
            method: parts.method,
            path: parts.uri.path().to_owned(),
            headers: parts.headers,
            body,
        });

    let answer = &state.answer;
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let mut response = Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        response = response.header(name, value);
    }
    let body: Body = if answer.stall_body {
        let first =
            futures::stream::once(futures::future::ready(Ok(Frame::data(answer.body.clone()))));
        BodyExt::boxed(StreamBody::new(first.chain(futures::stream::pending())))
    } else {
        Full::new(answer.body.clone()).boxed()
    };
    Ok(response.body(body).expect("valid response"))
}

/// A port on 127.0.0.1 where nothing listens: connecting to it is refused.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local address").port()
}
