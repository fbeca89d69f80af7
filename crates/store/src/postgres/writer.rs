//! A group-commit writer: one task fed by a channel, committing what queued up together.
//!
//! The task waits for a first job, drains whatever else is queued (up to its batch size)
//! and hands the group to its commit function, which runs it in ONE transaction and
//! answers each job after the commit. Groups are committed one after the other, so jobs
//! commit in submission order. The store runs two: one for publishes, one for outcomes.
//!
//! Invariants:
//! - Once closed, nothing new is accepted (the job comes back to its submitter, who
//!   answers `Closed`); everything accepted before is committed before the task ends.
//! - Dropping the writer closes it too: the task drains the queue and ends on its own.

use std::future::Future;
use std::sync::{PoisonError, RwLock};

use tokio::sync::{mpsc, oneshot};

enum Msg<J> {
    Job(J),
    /// Commit what came before, then stop and say so.
    Close(oneshot::Sender<()>),
}

pub(super) struct Writer<J> {
    /// `None` once closed. Submitters hold the read lock while they send, so nothing can
    /// slip into the channel behind the close message.
    sender: RwLock<Option<mpsc::UnboundedSender<Msg<J>>>>,
}

impl<J: Send + 'static> Writer<J> {
    /// Spawns the task on the current runtime; `commit` gets each group in order.
    pub(super) fn start<F, Fut>(max_batch: usize, mut commit: F) -> Writer<J>
    where
        F: FnMut(Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let (sender, mut receiver) = mpsc::unbounded_channel::<Msg<J>>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            loop {
                let mut closing = None;
                match receiver.recv().await {
                    Some(Msg::Job(job)) => batch.push(job),
                    Some(Msg::Close(done)) => closing = Some(done),
                    None => return,
                }
                while closing.is_none() && batch.len() < max_batch {
                    match receiver.try_recv() {
                        Ok(Msg::Job(job)) => batch.push(job),
                        Ok(Msg::Close(done)) => closing = Some(done),
                        Err(_) => break,
                    }
                }
                if !batch.is_empty() {
                    commit(std::mem::replace(&mut batch, Vec::with_capacity(max_batch))).await;
                }
                if let Some(done) = closing {
                    let _ = done.send(());
                    return;
                }
            }
        });
        Writer {
            sender: RwLock::new(Some(sender)),
        }
    }

    /// Queues `job`; gives it back when the writer is closed.
    pub(super) fn send(&self, job: J) -> Result<(), J> {
        let guard = self.sender.read().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(sender) => sender.send(Msg::Job(job)).map_err(|e| match e.0 {
                Msg::Job(job) => job,
                Msg::Close(_) => unreachable!("only jobs are sent here"),
            }),
            None => Err(job),
        }
    }

    /// Stops accepting jobs and waits until everything accepted is committed.
    pub(super) async fn close(&self) {
        let sender = self
            .sender
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(sender) = sender {
            let (done, finished) = oneshot::channel();
            if sender.send(Msg::Close(done)).is_ok() {
                drop(sender);
                let _ = finished.await;
            }
        }
    }
}
