//! Which of the writer's commits wait for their fsync.
//!
//! A publish and every change a person or the API asked for are answered only once they
//! would survive a power loss: their group commits with `synchronous = FULL`. The lanes'
//! outcomes and take-ups are answered to nobody outside the service: if a power loss
//! takes back the last of them, the lanes read the store again and attempt those
//! deliveries again, which at-least-once allows (a process that is killed loses none of
//! them: their pages are in the WAL file, which the kernel keeps). A group of only those
//! commits with `synchronous = NORMAL`, without an fsync; the next FULL commit's fsync
//! covers them, as the WAL is written in order. SQLite keeps the database consistent in
//! WAL mode with either setting.
//!
//! Measured (BENCHMARKS.md, session 9): while deliveries ran, the writer spent most of its
//! commits on groups of outcomes alone, each with an fsync of its own.

use rusqlite::Connection;

use super::waiting::Kind;

/// The writer connection's `synchronous` setting, changed only when a group needs the
/// other one.
#[derive(Default)]
pub(super) struct Durability {
    /// `None` until the first group set it.
    full: Option<bool>,
}

impl Durability {
    /// Sets the connection up for a group of jobs of `kinds`, outside any transaction.
    pub(super) fn prepare(
        &mut self,
        conn: &Connection,
        mut kinds: impl Iterator<Item = Kind>,
    ) -> rusqlite::Result<()> {
        self.set(conn, kinds.any(|kind| kind != Kind::Lane))
    }

    /// Sets the connection up for a group that answers nobody outside the service.
    pub(super) fn prepare_internal(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        self.set(conn, false)
    }

    fn set(&mut self, conn: &Connection, full: bool) -> rusqlite::Result<()> {
        if self.full != Some(full) {
            conn.execute_batch(if full {
                "PRAGMA synchronous = FULL"
            } else {
                "PRAGMA synchronous = NORMAL"
            })?;
            self.full = Some(full);
        }
        Ok(())
    }
}
