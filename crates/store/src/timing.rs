//! The latency of store operations, recorded where every call of a backend passes: the
//! SQLite writer's and readers' replies, the PostgreSQL writers' replies and its pooled
//! calls (`admin_webhooks_store_operation_duration_seconds{operation, result}`).
//!
//! Invariants:
//! - `operation` is a `&'static str` written at the backend's entry points (the contract's
//!   method name; a call the backend serves as several jobs records each job under the
//!   call's name) and `result` is `ok` or `error`: fixed sets, so the series stay bounded.
//! - A duration runs from the call (or submission) to its answer, queueing included: what
//!   the caller waited, not only what the database did.
//! - Recording goes through the `metrics` facade: without an installed recorder it costs
//!   a lookup and keeps nothing.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::Result;

/// The histogram's name, as `/metrics` shows it.
pub const STORE_DURATION: &str = "admin_webhooks_store_operation_duration_seconds";

/// Describes the histogram to the installed recorder (once, when it is installed).
pub fn describe() {
    metrics::describe_histogram!(
        STORE_DURATION,
        metrics::Unit::Seconds,
        "Time of store operations, by operation and result (ok, error)."
    );
}

fn record(operation: &'static str, ok: bool, took: Duration) {
    let result = if ok { "ok" } else { "error" };
    metrics::histogram!(STORE_DURATION, "operation" => operation, "result" => result)
        .record(took.as_secs_f64());
}

/// Runs `call` and records how long it took and whether it succeeded.
pub(crate) async fn timed<T>(
    operation: &'static str,
    call: impl Future<Output = Result<T>>,
) -> Result<T> {
    let started = Instant::now();
    let result = call.await;
    record(operation, result.is_ok(), started.elapsed());
    result
}

/// The answer channel of a queued job (a write, a read on a reader thread): sending the
/// answer records the job's time since it was queued, so a backend's queues time every
/// job in one place, without a task or a wrapper per call.
pub(crate) struct TimedReply<T> {
    operation: &'static str,
    queued: Instant,
    sender: oneshot::Sender<Result<T>>,
}

impl<T> TimedReply<T> {
    /// A reply for a job queued now, and where its answer arrives.
    pub(crate) fn new(operation: &'static str) -> (TimedReply<T>, oneshot::Receiver<Result<T>>) {
        let (sender, receiver) = oneshot::channel();
        let reply = TimedReply {
            operation,
            queued: Instant::now(),
            sender,
        };
        (reply, receiver)
    }

    /// When the job was queued.
    pub(crate) fn queued(&self) -> Instant {
        self.queued
    }

    /// Records the job's time and result, then answers. The caller may have gone away
    /// (a cancelled request); the work stands anyway and is still counted.
    pub(crate) fn send(self, result: Result<T>) {
        record(self.operation, result.is_ok(), self.queued.elapsed());
        let _ = self.sender.send(result);
    }
}
