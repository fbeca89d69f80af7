//! A small pool of read-only connections, each owned by its own thread.
//!
//! WAL lets these read committed snapshots while the writer works, so reads never wait
//! for a group commit. Jobs go over one shared channel; whichever reader is free takes
//! the next. A read sees at least everything whose write had answered before the read
//! was queued (each statement, or each [`snapshot`], starts a fresh read transaction).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

use rusqlite::Connection;

use crate::timing::TimedReply;
use crate::{Result, StoreError};

type Job = Box<dyn FnOnce(&Connection) + Send>;

pub(super) struct Readers {
    /// `None` once closed.
    sender: RwLock<Option<flume::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Readers {
    pub(super) fn start(connections: Vec<Connection>) -> Result<Readers> {
        let (sender, receiver) = flume::unbounded::<Job>();
        let mut threads = Vec::with_capacity(connections.len());
        for (i, conn) in connections.into_iter().enumerate() {
            let receiver = receiver.clone();
            let thread = std::thread::Builder::new()
                .name(format!("store-reader-{i}"))
                .spawn(move || {
                    while let Ok(job) = receiver.recv() {
                        job(&conn);
                    }
                })
                .map_err(|e| StoreError::Backend(Box::new(e)))?;
            threads.push(thread);
        }
        Ok(Readers {
            sender: RwLock::new(Some(sender)),
            threads: Mutex::new(threads),
        })
    }

    /// Runs `work` on a free reader and returns its result. The read is timed as
    /// `operation` (see [`crate::timing`]), from now until its answer.
    pub(super) async fn read<T, F>(&self, operation: &'static str, work: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, receiver) = TimedReply::new(operation);
        let job: Job = Box::new(move |conn| {
            let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
                .unwrap_or_else(|_| Err(StoreError::Backend("a store read panicked".into())));
            reply.send(result);
        });
        {
            let guard = self.sender.read().unwrap_or_else(PoisonError::into_inner);
            match guard.as_ref() {
                Some(sender) if sender.send(job).is_ok() => {}
                _ => return Err(StoreError::Closed),
            }
        }
        receiver.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Refuses new reads; queued ones still run.
    pub(super) fn close(&self) {
        self.sender
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.close();
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        let me = std::thread::current().id();
        for thread in threads {
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
    }
}

/// Runs `work` inside one read transaction, so its several statements see one snapshot.
pub(super) fn snapshot<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let tx = conn.unchecked_transaction()?;
    let result = work(&tx);
    // A read transaction has nothing to keep; ending it releases the snapshot.
    tx.finish()?;
    result
}
