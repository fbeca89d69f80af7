//! The HTTP server's accept loop, bounded so that clients who connect and then say
//! nothing, or say it very slowly, cannot take the process's file descriptors.
//!
//! Invariants:
//! - At most [`ConnectionLimits::max_connections`] connections are open at once. A
//!   connection accepted beyond that is closed at once (shed): the connections already
//!   being served are never touched to make room, and the accept loop keeps draining the
//!   kernel's queue, so a flood costs one accept and one close per connection.
//! - A request's head (request line and headers) must arrive whole within
//!   [`ConnectionLimits::header_read_timeout`], counted from the connection's accept, and
//!   on a kept-alive connection from the first byte of the next request.
//! - A connection on which no byte moves in either direction for
//!   [`ConnectionLimits::idle_timeout`] is closed, whatever it is doing: waiting for the
//!   next request, or trickling a request body, or not reading its response.
//! - On shutdown the loop stops accepting, every connection finishes the request in
//!   flight and closes (idle ones at once), and [`serve`] returns when all are closed —
//!   as `axum::serve` with graceful shutdown did.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long the accept loop pauses after an error of the listener itself (such as
/// running out of file descriptors), so that it does not spin while the cause lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The bounds every connection is held to (`--header-read-timeout`, `--idle-timeout`,
/// `--max-connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` is cancelled and every connection has
/// closed; see the module docs for the bounds.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Request heads are timed here, not by hyper: its timer restarts as soon as a response
    // is sent, so it would also close kept-alive connections after the header timeout.
    builder.http1().header_read_timeout(None);
    let mut shedding = false;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // The client gave up before we accepted it; nothing to do.
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                tracing::warn!(%error, "cannot accept connections");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if !shedding {
                tracing::warn!(
                    limit = limits.max_connections,
                    "connection limit reached: new connections are closed until some end \
                     (--max-connections)"
                );
                shedding = true;
            }
            drop(stream);
            continue;
        };
        if shedding {
            tracing::info!("below the connection limit again; accepting connections");
            shedding = false;
        }
        connections.spawn(serve_connection(
            builder.clone(),
            stream,
            app.clone(),
            limits,
            shutdown.clone(),
            permit,
        ));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Errors of one incoming connection rather than of the listener.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection until it ends, breaks a bound, or drains at shutdown; its
/// place under the limit (`_permit`) is given back when this returns.
async fn serve_connection(
    builder: auto::Builder<TokioExecutor>,
    stream: TcpStream,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    // Handlers learn who is calling from this (the limit of failed authentications is
    // per client address), as axum's `ConnectInfo` extractor expects it.
    let peer = stream.peer_addr().ok().map(axum::extract::ConnectInfo);
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let on_request = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let handling = on_request.handling();
        let app = app.clone();
        if let Some(peer) = peer {
            request.extensions_mut().insert(peer);
        }
        async move {
            let response = app.oneshot(request).await;
            drop(handling);
            response
        }
    });
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        let deadline = activity.deadline(limits);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            _ = tokio::time::sleep_until(deadline) => {
                // Activity since the timer was set moves the deadline; look again.
                if activity.deadline(limits) <= Instant::now() {
                    tracing::debug!("closing a connection that is idle or too slow");
                    return;
                }
            }
            _ = shutdown.cancelled(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What a connection's deadline depends on, updated as bytes move and requests are
/// handled.
struct Activity {
    state: Mutex<ActivityState>,
}

struct ActivityState {
    /// The last time a byte was read or written (or a response was ready).
    last_moved: Instant,
    /// Since when a request head has been awaited: the accept, or the first byte read
    /// while no request was being handled. `None` while requests are handled.
    head_since: Option<Instant>,
    /// Requests whose response is not ready yet (several at once over HTTP/2).
    handling: usize,
}

impl Activity {
    fn new() -> Activity {
        let now = Instant::now();
        Activity {
            state: Mutex::new(ActivityState {
                last_moved: now,
                head_since: Some(now),
                handling: 0,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, ActivityState> {
        // The state stays consistent whatever a panicking holder did: plain fields.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read(&self) {
        let mut state = self.state();
        let now = Instant::now();
        state.last_moved = now;
        if state.handling == 0 && state.head_since.is_none() {
            state.head_since = Some(now);
        }
    }

    fn wrote(&self) {
        self.state().last_moved = Instant::now();
    }

    /// Marks a request head as read until the returned guard is dropped (its response is
    /// ready, or the connection is gone).
    fn handling(self: &Arc<Self>) -> Handling {
        let mut state = self.state();
        state.handling += 1;
        state.head_since = None;
        Handling(self.clone())
    }

    fn deadline(&self, limits: ConnectionLimits) -> Instant {
        let state = self.state();
        let idle = state.last_moved + limits.idle_timeout;
        match state.head_since {
            Some(since) if state.handling == 0 => idle.min(since + limits.header_read_timeout),
            _ => idle,
        }
    }
}

struct Handling(Arc<Activity>);

impl Drop for Handling {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.handling -= 1;
        state.last_moved = Instant::now();
    }
}

/// A stream that tells its [`Activity`] whenever bytes move.
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.wrote();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
