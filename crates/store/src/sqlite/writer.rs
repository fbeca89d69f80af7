//! The single writer: one thread owns the only write connection and commits every write
//! of the store in groups.
//!
//! The thread blocks for a first job, drains whatever else is queued (up to
//! [`MAX_BATCH`]), runs the jobs in channel order inside ONE transaction — each inside
//! its own savepoint, so a job that fails rolls back only itself — and commits once. One
//! fsync then covers the whole group; that is where publish throughput comes from.
//!
//! Invariants:
//! - A job's caller hears back only after the commit that holds its work succeeded; if
//!   that commit fails, every job of the group hears the failure (none of it was kept).
//! - Jobs run and commit in submission order, so what a caller submitted first is never
//!   visible after what it submitted later (outcomes of a lane, seqs of publishes).
//! - Once closed, nothing new is accepted (`Closed`); everything accepted before is
//!   committed before the thread ends.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::intake::{Intake, Msg, gather};
use crate::timing::TimedReply;
use crate::{Result, StoreError};

/// The most jobs one transaction holds: enough to amortize an fsync well, few enough
/// that one commit never keeps callers waiting long.
const MAX_BATCH: usize = 512;

/// One unit of write work with its reply, type-erased so jobs of any result type share
/// the channel.
trait Job: Send {
    /// Runs the work against the open transaction; whether it succeeded.
    fn run(&mut self, tx: &Transaction<'_>) -> bool;
    /// Answers the caller once the group's fate is known (`Err` holds the commit error).
    fn finish(self: Box<Self>, commit: Result<(), &str>);
}

struct Typed<F, T> {
    work: Option<F>,
    result: Option<Result<T>>,
    /// Records the job's time, from submission to its answer, as it answers.
    reply: TimedReply<T>,
}

impl<F, T> Job for Typed<F, T>
where
    F: FnOnce(&Transaction<'_>) -> Result<T> + Send,
    T: Send,
{
    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        // A panicking job must not take the writer (and every later write) down with it.
        let result = catch_unwind(AssertUnwindSafe(|| work(tx))).unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "a store write panicked; it was rolled back".into(),
            ))
        });
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), &str>) {
        let result = match (self.result, commit) {
            // Never ran: refused because the store closed.
            (None, _) => Err(StoreError::Closed),
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(e)) => Err(StoreError::Backend(format!("commit failed: {e}").into())),
        };
        self.reply.send(result);
    }
}

pub(super) struct Writer {
    /// The queue the thread drains (shared in shape with the PostgreSQL writers).
    intake: Intake<Box<dyn Job>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(super) fn start(conn: Connection) -> Result<Writer> {
        let (intake, receiver) = Intake::open();
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(conn, receiver))
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(Writer {
            intake,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `work` and returns where its result will arrive, without waiting. The job is
    /// timed as `operation` (see [`crate::timing`]).
    pub(super) fn submit<T, F>(
        &self,
        operation: &'static str,
        work: F,
    ) -> oneshot::Receiver<Result<T>>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, receiver) = TimedReply::new(operation);
        let job = Box::new(Typed {
            work: Some(work),
            result: None,
            reply,
        });
        if let Err(job) = self.intake.send(job) {
            job.finish(Err("the store is closed"));
        }
        receiver
    }

    /// Queues `work` and waits until it is committed (or refused).
    pub(super) async fn write<T, F>(&self, operation: &'static str, work: F) -> Result<T>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.submit(operation, work)
            .await
            .unwrap_or(Err(StoreError::Closed))
    }

    /// Stops accepting writes and waits until everything accepted is committed.
    pub(super) async fn close(&self) {
        self.intake.close().await;
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Dropping the only sender lets the thread drain the queue and end.
        drop(self.intake.stop());
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

fn run(mut conn: Connection, receiver: flume::Receiver<Msg<Box<dyn Job>>>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = receiver.recv() {
        let closing = gather(first, &receiver, &mut batch, MAX_BATCH);
        if !batch.is_empty() {
            commit_group(&mut conn, &mut batch);
        }
        if let Some(done) = closing {
            drop(conn);
            let _ = done.send(());
            return;
        }
    }
}

/// Runs `batch` in one transaction and answers every job.
fn commit_group(conn: &mut Connection, batch: &mut Vec<Box<dyn Job>>) {
    let size = batch.len();
    let outcome = run_group(conn, batch);
    if let Err(e) = &outcome {
        tracing::error!(error = %e, jobs = size, "store group commit failed");
    }
    let message = outcome.as_ref().err().map(ToString::to_string);
    for job in batch.drain(..) {
        job.finish(match &message {
            None => Ok(()),
            Some(m) => Err(m),
        });
    }
}

fn run_group(conn: &mut Connection, batch: &mut [Box<dyn Job>]) -> rusqlite::Result<()> {
    // Immediate: take the write lock up front, so another process on the same file
    // makes us wait (busy timeout) here rather than fail at commit.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for job in batch.iter_mut() {
        tx.prepare_cached("SAVEPOINT job")?.execute([])?;
        if job.run(&tx) {
            tx.prepare_cached("RELEASE job")?.execute([])?;
        } else {
            tx.prepare_cached("ROLLBACK TO job")?.execute([])?;
            tx.prepare_cached("RELEASE job")?.execute([])?;
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> Writer {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY,
                                 parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TABLE t (v INTEGER NOT NULL);",
        )
        .unwrap();
        Writer::start(conn).unwrap()
    }

    fn insert(v: i64) -> impl FnOnce(&Transaction<'_>) -> Result<()> + Send + 'static {
        move |tx| {
            tx.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
            Ok(())
        }
    }

    async fn values(writer: &Writer) -> Vec<i64> {
        writer
            .write("test", |tx| {
                let mut stmt = tx.prepare("SELECT v FROM t ORDER BY v")?;
                Ok(stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<i64>>>()?)
            })
            .await
            .unwrap()
    }

    /// Holds the writer inside a job until the returned sender fires, so that what is
    /// submitted meanwhile forms the next group.
    async fn hold(writer: &Writer) -> (std::sync::mpsc::Sender<()>, oneshot::Receiver<Result<()>>) {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let held = writer.submit("test", move |_| {
            let _ = started.send(());
            let _ = wait.recv();
            Ok(())
        });
        running.await.unwrap();
        (release, held)
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_job_of_its_group() {
        let writer = writer();
        let (release, held) = hold(&writer).await;
        let before = writer.submit("test", insert(1));
        // Valid for the job, refused at COMMIT: the deferred key has no parent.
        let orphan = writer.submit("test", |tx| {
            tx.execute("INSERT INTO child (id, parent) VALUES (1, 42)", [])?;
            Ok(())
        });
        let after = writer.submit("test", insert(2));
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        for ack in [before, orphan, after] {
            assert!(matches!(ack.await.unwrap(), Err(StoreError::Backend(_))));
        }
        assert!(
            values(&writer).await.is_empty(),
            "nothing of the failed group was kept"
        );
        writer.write("test", insert(3)).await.unwrap();
        assert_eq!(values(&writer).await, [3]);
    }

    #[tokio::test]
    async fn a_failing_or_panicking_job_rolls_back_only_itself() {
        let writer = writer();
        let (release, held) = hold(&writer).await;
        let first = writer.submit("test", insert(1));
        let failing = writer.submit("test", |tx| {
            tx.execute("INSERT INTO t (v) VALUES (100)", [])?;
            Err::<(), _>(StoreError::Conflict(crate::ConflictKind::SessionExists))
        });
        let panicking = writer.submit("test", |tx| -> Result<()> {
            tx.execute("INSERT INTO t (v) VALUES (200)", [])?;
            panic!("a bug in a job");
        });
        let last = writer.submit("test", insert(2));
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        first.await.unwrap().unwrap();
        assert!(matches!(
            failing.await.unwrap(),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            panicking.await.unwrap(),
            Err(StoreError::Backend(_))
        ));
        last.await.unwrap().unwrap();
        assert_eq!(values(&writer).await, [1, 2]);
    }

    #[tokio::test]
    async fn close_commits_what_was_queued_and_refuses_the_rest() {
        let writer = writer();
        let (release, held) = hold(&writer).await;
        let queued: Vec<_> = (0..10).map(|v| writer.submit("test", insert(v))).collect();
        // Start closing while the queue is still full: from here on nothing is accepted.
        let mut closing = std::pin::pin!(writer.close());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(closing.as_mut().poll(&mut cx).is_pending());
        assert!(matches!(
            writer.write("test", insert(99)).await,
            Err(StoreError::Closed)
        ));
        release.send(()).unwrap();
        closing.await;
        held.await.unwrap().unwrap();
        for ack in queued {
            ack.await.unwrap().unwrap();
        }
    }
}
