//! A group-commit writer: one task fed by a channel, committing what queued up together.
//!
//! The task waits for a first job, drains whatever else is queued (up to its batch size)
//! and hands the group to its commit function, which runs it in ONE transaction and
//! answers each job after the commit. Groups are committed one after the other, so jobs
//! commit in submission order. The store runs two: one for publishes, one for outcomes.
//!
//! Invariants:
//! - Once closed, nothing new is accepted (the job comes back to its submitter, who
//!   answers `Closed`); everything accepted before is committed before the task ends
//!   (the queue is [`crate::intake`], shared with the SQLite writer).
//! - Dropping the writer closes it too: the task drains the queue and ends on its own.

use std::future::Future;

use crate::intake::{Intake, gather};

pub(super) struct Writer<J> {
    intake: Intake<J>,
}

impl<J: Send + 'static> Writer<J> {
    /// Spawns the task on the current runtime; `commit` gets each group in order.
    pub(super) fn start<F, Fut>(max_batch: usize, mut commit: F) -> Writer<J>
    where
        F: FnMut(Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let (intake, receiver) = Intake::open();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while let Ok(first) = receiver.recv_async().await {
                let closing = gather(first, &receiver, &mut batch, max_batch);
                if !batch.is_empty() {
                    commit(std::mem::replace(&mut batch, Vec::with_capacity(max_batch))).await;
                }
                if let Some(done) = closing {
                    let _ = done.send(());
                    return;
                }
            }
        });
        Writer { intake }
    }

    /// Queues `job`; gives it back when the writer is closed.
    pub(super) fn send(&self, job: J) -> Result<(), J> {
        self.intake.send(job)
    }

    /// Stops accepting jobs and waits until everything accepted is committed.
    pub(super) async fn close(&self) {
        self.intake.close().await;
    }
}
