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
//! A PASSIVE checkpoint never starts the WAL over, though: SQLite does that at the start
//! of a write only if every frame was copied by then, which a writer that commits every
//! millisecond never lets happen. Under a steady load the WAL grew without end (680 MB
//! while delivering 50,000 webhooks to 50 endpoints): each commit's pages went to newly
//! allocated blocks of the file, and every read looked its pages up in a growing WAL
//! index. So once a checkpoint finds the WAL past [`RESTART_FRAMES`], the writer, after
//! its next commit and between two groups, runs a RESTART checkpoint on its own
//! connection: it copies the few frames committed since, waits at most [`RESTART_WAIT`]
//! for readers of older snapshots to finish, and starts the WAL over from its beginning.
//!
//! Invariants:
//! - At most one checkpoint per [`SPACING`]: nudges in between are merged, so the WAL
//!   grows by at most what one spacing of commits writes before it is copied.
//! - The WAL is started over only between the writer's groups, by the writer.
//! - Without commits there are no nudges and no checkpoints.
//! - Closing runs a last checkpoint of everything committed before the close.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::{Result, StoreError};

/// The least time between two checkpoints.
pub(super) const SPACING: Duration = Duration::from_millis(250);

/// WAL frames (pages) past which the WAL is started over: 16 MiB.
const RESTART_FRAMES: i64 = 4096;

/// How long a restart waits for readers of snapshots older than its copy.
const RESTART_WAIT: Duration = Duration::from_millis(20);

/// The checkpointing thread; dropping it runs a last checkpoint and ends the thread.
pub(super) struct Checkpointer {
    nudge: Mutex<Option<SyncSender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Set by a checkpoint that found the WAL past [`RESTART_FRAMES`]; the writer's next
    /// commit starts it over.
    restart: Arc<AtomicBool>,
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
        let restart = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("store-checkpointer".into())
            .spawn({
                let restart = restart.clone();
                move || run(&conn, &nudged, &restart)
            })
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(Checkpointer {
            nudge: Mutex::new(Some(nudge)),
            thread: Mutex::new(Some(thread)),
            restart,
        })
    }

    /// Called by the writer with its connection after each commit, outside any
    /// transaction: nudges the thread, and starts the WAL over if a checkpoint asked.
    pub(super) fn committed(&self, writer: &Connection) {
        if self.restart.swap(false, Ordering::Relaxed) {
            restart(writer);
        }
        self.nudge();
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

fn run(conn: &Connection, nudged: &Receiver<()>, restart: &AtomicBool) {
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
        if checkpoint(conn) >= RESTART_FRAMES {
            restart.store(true, Ordering::Relaxed);
        }
        last = Instant::now();
    }
    checkpoint(conn);
}

/// One PASSIVE checkpoint; the frames in the WAL. A failure is logged (0 frames) and the
/// next nudge tries again.
fn checkpoint(conn: &Connection) -> i64 {
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1)) {
        Ok(frames) => frames,
        Err(error) => {
            tracing::warn!(%error, "a WAL checkpoint failed; the next commit tries again");
            0
        }
    }
}

/// A RESTART checkpoint on the writer's connection, waiting at most [`RESTART_WAIT`] for
/// readers; one that cannot finish leaves the WAL as it is until the next asks again.
fn restart(writer: &Connection) {
    let restarted = (|| -> rusqlite::Result<()> {
        writer.busy_timeout(RESTART_WAIT)?;
        let restart = writer.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
        writer.busy_timeout(super::schema::BUSY_TIMEOUT)?;
        restart
    })();
    if let Err(error) = restarted {
        tracing::warn!(%error, "starting the WAL over failed; a later checkpoint asks again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (with a deadline) until a checkpoint has asked the writer to start over.
    fn wait_for_restart(checkpointer: &Checkpointer) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !checkpointer.restart.load(Ordering::Relaxed) {
            assert!(
                Instant::now() < deadline,
                "no checkpoint asked for a restart"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_wal_past_its_limit_is_started_over_by_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let wal = dir.path().join("db.sqlite-wal");
        let writer = super::super::schema::open_writer(&path).unwrap();
        writer.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        let checkpointer = Checkpointer::start(&path).unwrap();
        let reader = Connection::open(&path).unwrap();
        // Past RESTART_FRAMES pages of 4 KiB.
        let big = || {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(20000000))", [])
                .unwrap()
        };
        big();
        // A reader amid a snapshot keeps the checkpoint from copying what is committed
        // after it, as the lanes' reads do under load; so the WAL is never wholly copied
        // when the next write starts, and SQLite would not start it over by itself.
        reader.execute_batch("BEGIN").unwrap();
        reader
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))
            .unwrap();
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        checkpointer.nudge();
        wait_for_restart(&checkpointer);
        reader.execute_batch("COMMIT").unwrap();
        let grown = file_size(&wal);

        checkpointer.committed(&writer);
        big();
        assert!(
            file_size(&wal) < grown + 1_000_000,
            "the second write went to the start of the WAL ({grown} → {})",
            file_size(&wal)
        );
        checkpointer.stop();
    }

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
