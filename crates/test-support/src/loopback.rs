//! A real HTTP(S) server on 127.0.0.1 that hands every request to a handler: the serving
//! half of the test receiver and of the bench's counting receiver.
//!
//! Plain HTTP or TLS (HTTP/1.1 and HTTP/2, by ALPN or by preface). Connections are
//! counted when accepted, before any TLS, so a test can tell a refused attempt never
//! connected. Open connections belong to the server: dropping it closes them too, so an
//! endpoint that goes down also drops the keep-alive connections the sender holds.
//!
//! An address can be held without listening ([`HeldPort`]): connections to it are
//! refused, and no other test's server can take the port while it is "down".

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// How long a port being torn down may keep an address from binding again.
const REBIND_DEADLINE: Duration = Duration::from_secs(10);

/// Any error a handler's body may end with.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A handler with its future and body types erased, so serving code is written once.
type Handle = Arc<
    dyn Fn(Request<Incoming>) -> BoxFuture<'static, Response<UnsyncBoxBody<Bytes, BoxError>>>
        + Send
        + Sync,
>;

/// A running server; it stops, and closes its connections, when dropped.
pub struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    accept_loop: JoinHandle<()>,
}

impl Server {
    /// Serves `listener`, over TLS when `tls` is given, answering with `handler`.
    pub fn serve<H, Fut, B>(listener: TcpListener, tls: Option<TlsAcceptor>, handler: H) -> Server
    where
        H: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<B>> + Send + 'static,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let handle: Handle = Arc::new(move |request| {
            let answer = handler(request);
            Box::pin(async move {
                answer
                    .await
                    .map(|body| body.map_err(Into::into).boxed_unsync())
            })
        });
        let connections = Arc::new(AtomicUsize::new(0));
        let accept_loop =
            tokio::spawn(accept_loop(listener, tls, handle, Arc::clone(&connections)));
        Server {
            addr,
            connections,
            accept_loop,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// TCP connections accepted so far (counted before any TLS).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handle: Handle,
    connections: Arc<AtomicUsize>,
) {
    // Connections live in this set, so aborting the loop also ends them.
    let mut open = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        connections.fetch_add(1, Ordering::SeqCst);
        open.spawn(serve_connection(stream, tls.clone(), Arc::clone(&handle)));
        // Reap finished connections so the set does not grow over a long run.
        while open.try_join_next().is_some() {}
    }
}

async fn serve_connection(stream: TcpStream, tls: Option<TlsAcceptor>, handle: Handle) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let answer = handle(request);
        async move { Ok::<_, std::convert::Infallible>(answer.await) }
    });
    let server = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // Handshake and connection errors are what some tests provoke on purpose (a client
    // refusing the certificate, a sender timing out); the connection is just dropped.
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
}

/// Listens on `addr` again (an endpoint coming back), retrying while the socket that held
/// it is still being torn down; the last error once that has taken too long.
pub async fn listen_again(addr: SocketAddr) -> std::io::Result<TcpListener> {
    retry_bind(addr, |socket| socket.listen(1024)).await
}

/// An address whose port is bound but not listening: connecting is refused, and nothing
/// else can take the port until this is dropped or handed to [`listen_again`].
pub struct HeldPort {
    pub addr: SocketAddr,
    _socket: TcpSocket,
}

impl HeldPort {
    /// Holds `addr`, retrying while a server that listened there is still shutting down.
    pub async fn hold(addr: SocketAddr) -> HeldPort {
        let socket = retry_bind(addr, Ok)
            .await
            .unwrap_or_else(|e| panic!("cannot hold {addr}: {e}"));
        HeldPort {
            addr,
            _socket: socket,
        }
    }

    /// Gives the port up and takes it straight back as a listener.
    pub async fn listen(self) -> TcpListener {
        let addr = self.addr;
        drop(self);
        listen_again(addr)
            .await
            .unwrap_or_else(|e| panic!("cannot listen on {addr} again: {e}"))
    }
}

impl std::fmt::Display for HeldPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.addr.fmt(f)
    }
}

/// Binds a reusable socket to `addr` and finishes it with `then`, retrying until
/// [`REBIND_DEADLINE`] while the port is still taken.
async fn retry_bind<T>(
    addr: SocketAddr,
    then: impl Fn(TcpSocket) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let deadline = Instant::now() + REBIND_DEADLINE;
    loop {
        let bound = TcpSocket::new_v4().and_then(|socket| {
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            then(socket)
        });
        match bound {
            Ok(bound) => return Ok(bound),
            Err(e) if Instant::now() >= deadline => return Err(e),
            // The old socket goes away when its task is dropped, which needs the runtime.
            Err(_) => tokio::task::yield_now().await,
        }
    }
}

/// A port on 127.0.0.1 where nothing listens: connecting to it is refused.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}
