//! WAL checkpoints on a thread and connection of their own.
//!
//! By default SQLite checkpoints on the connection that commits, once the WAL passes
//! 1,000 pages: the writer thread copied pages into the database file and waited for its
//! fsync while every queued publish and outcome waited behind it (9 % of the writer's
//! samples in batch publishing). The writer's connection turns that off
//! (`wal_autocheckpoint = 0`, see [`super::schema::open_writer`]) and nudges this thread
//! after each commit instead. A PASSIVE checkpoint never blocks the writer or a reader:
//! it copies what no reader still needs, and the writer starts the WAL over once all of
//! it was copied.
//!
//! Invariants:
//! - At most one checkpoint per [`SPACING`]: nudges in between are merged, so the WAL
//!   grows by at most what one spacing of commits writes before it is copied.
//! - Without commits there are no nudges and no checkpoints.
//! - Closing runs a last checkpoint of everything committed before the close.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::{Result, StoreError};

/// The least time between two checkpoints.
pub(super) const SPACING: Duration = Duration::from_millis(250);

/// The checkpointing thread; dropping it runs a last checkpoint and ends the thread.
pub(super) struct Checkpointer {
    nudge: Mutex<Option<SyncSender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Opens a connection of its own to `path` (already in WAL mode) and starts the thread.
    pub(super) fn start(path: &Path) -> Result<Checkpointer> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(super::schema::BUSY_TIMEOUT)?;
        // One pending nudge is all it needs to know: "something was committed".
        let (nudge, nudged) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("store-checkpointer".into())
            .spawn(move || run(&conn, &nudged))
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(Checkpointer {
            nudge: Mutex::new(Some(nudge)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Says that a commit added to the WAL. Never blocks.
    pub(super) fn nudge(&self) {
        let nudge = self.nudge.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(nudge) = nudge.as_ref() {
            // Full: a nudge is already waiting, and covers this commit too.
            let _ = nudge.try_send(());
        }
    }

    /// Runs a last checkpoint and waits for the thread to end.
    pub(super) fn stop(&self) {
        drop(
            self.nudge
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(conn: &Connection, nudged: &Receiver<()>) {
    let mut last = Instant::now();
    'nudges: while nudged.recv().is_ok() {
        // Nudges that come while waiting out the spacing are covered by this checkpoint;
        // a close ends the wait at once.
        while let Some(wait) = SPACING.checked_sub(last.elapsed()) {
            match nudged.recv_timeout(wait) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break 'nudges,
            }
        }
        checkpoint(conn);
        last = Instant::now();
    }
    checkpoint(conn);
}

/// One PASSIVE checkpoint; a failure is logged and the next nudge tries again.
fn checkpoint(conn: &Connection) {
    if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(%error, "a WAL checkpoint failed; the next commit tries again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_size(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }

    #[test]
    fn the_writer_leaves_checkpoints_to_the_checkpointer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let writer = super::super::schema::open_writer(&path).unwrap();
        let before = file_size(&path);
        // Far more than the 1,000 pages after which SQLite would checkpoint by itself.
        writer
            .execute_batch("CREATE TABLE t (x BLOB); INSERT INTO t VALUES (zeroblob(8000000));")
            .unwrap();
        assert!(
            file_size(&path) < before + 1_000_000,
            "the writer's commit did not checkpoint ({before} → {})",
            file_size(&path)
        );
        let checkpointer = Checkpointer::start(&path).unwrap();
        checkpointer.nudge();
        checkpointer.stop();
        assert!(
            file_size(&path) > before + 7_000_000,
            "the checkpointer copied the table into the database file ({before} → {})",
            file_size(&path)
        );
    }
}
