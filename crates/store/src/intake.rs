//! The queue in front of a group-commit writer, shared by the SQLite writer thread and
//! the PostgreSQL writer tasks: accepting jobs until closed, and gathering each group.
//!
//! Invariants:
//! - Once [`Intake::close`] began, nothing new is accepted: the job comes back to its
//!   submitter. Submitters hold the read lock while they send, so nothing can slip into
//!   the channel behind the close message.
//! - [`gather`] keeps channel order, stops at a close message (answered by the writer
//!   once it committed what came before) and takes at most the group's size.

use std::sync::{PoisonError, RwLock};

use tokio::sync::oneshot;

/// What travels to a writer.
pub(crate) enum Msg<J> {
    Job(J),
    /// Commit what came before, then stop and say so.
    Close(oneshot::Sender<()>),
}

pub(crate) struct Intake<J> {
    /// `None` once closed.
    sender: RwLock<Option<flume::Sender<Msg<J>>>>,
}

impl<J> Intake<J> {
    /// An open intake and the receiving end its writer drains.
    pub(crate) fn open() -> (Intake<J>, flume::Receiver<Msg<J>>) {
        let (sender, receiver) = flume::unbounded();
        let intake = Intake {
            sender: RwLock::new(Some(sender)),
        };
        (intake, receiver)
    }

    /// Queues `job`; gives it back when the intake is closed (or its writer is gone).
    pub(crate) fn send(&self, job: J) -> Result<(), J> {
        let guard = self.sender.read().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(sender) => sender.send(Msg::Job(job)).map_err(|e| match e.0 {
                Msg::Job(job) => job,
                Msg::Close(_) => unreachable!("only jobs are sent here"),
            }),
            None => Err(job),
        }
    }

    /// Stops accepting jobs and waits until the writer committed everything accepted.
    pub(crate) async fn close(&self) {
        if let Some(sender) = self.stop() {
            let (done, finished) = oneshot::channel();
            if sender.send(Msg::Close(done)).is_ok() {
                drop(sender);
                let _ = finished.await;
            }
        }
    }

    /// Stops accepting jobs without waiting; returns the sender if it was still open.
    /// Dropping it lets the writer drain the queue and end on its own.
    pub(crate) fn stop(&self) -> Option<flume::Sender<Msg<J>>> {
        self.sender
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Adds `first` and whatever else is queued, up to `max` jobs in `batch`, without
/// waiting; returns the close request if one came.
pub(crate) fn gather<J>(
    first: Msg<J>,
    receiver: &flume::Receiver<Msg<J>>,
    batch: &mut Vec<J>,
    max: usize,
) -> Option<oneshot::Sender<()>> {
    let mut next = Some(first);
    while let Some(msg) = next.take() {
        match msg {
            Msg::Job(job) => batch.push(job),
            Msg::Close(done) => return Some(done),
        }
        if batch.len() < max {
            next = receiver.try_recv().ok();
        }
    }
    None
}
