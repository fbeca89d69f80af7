//! Opening connections and bringing the schema up to date, and the files they open.
//!
//! Invariants:
//! - The folder is created owner-only (0700) and the database file owner-only (0600)
//!   before SQLite opens it; SQLite gives its WAL and shared-memory files the database
//!   file's mode, so they are 0600 too. An existing database of an older version is
//!   narrowed to 0600 (with its WAL and shared-memory files) when opened.
//! - Every connection runs with `foreign_keys=ON` and a busy timeout; the file is in WAL
//!   mode with `synchronous=FULL`, so a commit that answered survives power loss (group
//!   commit amortizes the fsync that costs). The writer lowers it to NORMAL for groups
//!   that answer nobody outside the service (`writer::durability`).
//! - Migrations are numbered, embedded in the binary, applied in order, each in its own
//!   transaction together with its row in `schema_migrations`; a database written by a
//!   newer binary (an unknown version) is refused rather than guessed at.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::rows::now_ms;
use crate::{Result, StoreError};

/// `(version, SQL)` in ascending order. Never edit an applied one: add the next.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_activity.sql")),
    (3, include_str!("migrations/0003_sessions.sql")),
    (4, include_str!("migrations/0004_alerts.sql")),
    (5, include_str!("migrations/0005_gone_and_throttling.sql")),
    (6, include_str!("migrations/0006_shared_secrets.sql")),
    (7, include_str!("migrations/0007_event_log.sql")),
    // 10 is another change's; numbers are reserved per change so merges keep them apart.
    (8, include_str!("migrations/0008_listeners.sql")),
    (9, include_str!("migrations/0009_endpoint_controls.sql")),
    (
        10,
        include_str!("migrations/0010_schemas_and_trace_context.sql"),
    ),
    (11, include_str!("migrations/0011_attempt_headers.sql")),
    (
        12,
        include_str!("migrations/0012_status_check_without_list.sql"),
    ),
];

/// The schema version this binary brings a database to.
pub(super) const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Statements kept prepared per connection; the store uses a few dozen distinct ones.
const STATEMENT_CACHE: usize = 64;

pub(super) const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Creates the folder of the database at `path` (owner-only, with any missing parents)
/// if it does not exist, and returns it. An existing folder keeps its mode: it may be one
/// the operator shares on purpose.
pub(super) fn create_private_folder(path: &Path) -> Result<PathBuf> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&folder).map_err(|e| {
        StoreError::Backend(
            format!("cannot create the data directory {}: {e}", folder.display()).into(),
        )
    })?;
    Ok(folder)
}

/// Creates the database file owner-only (0600) if it does not exist, and narrows an
/// existing one and its WAL and shared-memory files to 0600.
pub(super) fn create_private_file(path: &Path) -> Result<()> {
    let failed = |e: std::io::Error| {
        StoreError::Backend(format!("cannot make {} owner-only: {e}", path.display()).into())
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut companions = vec![path.to_owned()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            companions.push(PathBuf::from(name));
        }
        for file in companions.iter().filter(|f| f.exists()) {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
                .map_err(failed)?;
        }
    }
    Ok(())
}

/// The write connection: creates the file if needed, sets the durable journal mode and
/// migrates. Run before any reader opens, so readers find WAL mode and the schema.
pub(super) fn open_writer(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(
            format!(
                "SQLite refused WAL mode for {} (got `{mode}`)",
                path.display()
            )
            .into(),
        ));
    }
    // temp_store=MEMORY keeps the savepoint journals of each group commit in memory: on
    // disk they are temporary files, and creating those cost more than the commit itself
    // (measured: 10-endpoint publishes went from ~3k/s to ~8k/s).
    // wal_autocheckpoint=0: checkpoints run on a thread of their own
    // ([`super::checkpointer`]), not in the writer's commits.
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;
         PRAGMA wal_autocheckpoint = 0;",
    )?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    migrate(&mut conn)?;
    Ok(conn)
}

/// A read-only connection: WAL lets it read a committed snapshot while the writer works.
pub(super) fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The highest migration applied to this database (0 for a new file).
pub fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         )",
    )?;
    let current = schema_version(conn)?;
    let known = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if current > known {
        return Err(StoreError::Backend(
            format!(
                "the database is at schema version {current}, newer than this binary knows \
                 ({known}); run a newer admin-webhooks"
            )
            .into(),
        ));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        // Immediate: two processes opening a new file at once must not both migrate.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let again: i64 = tx.query_row(
            "SELECT COUNT(*) FROM schema_migrations WHERE version = ?1",
            [version],
            |r| r.get(0),
        )?;
        if again == 0 {
            tx.execute_batch(sql)?;
            if sql.contains("writable_schema") {
                // A definition edited in place changes no schema version by itself;
                // without a new one, open connections would keep the old definition.
                let schema: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
                tx.execute_batch(&format!("PRAGMA schema_version = {}", schema + 1))?;
            }
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                [*version, now_ms()],
            )?;
            tracing::info!(version, "applied store migration");
        }
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(conn: &Connection, name: &str) -> i64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn writer_runs_durable_and_checks_foreign_keys() {
        let dir = tempfile::TempDir::new().unwrap();
        let conn = open_writer(&dir.path().join("x.db")).unwrap();
        assert_eq!(pragma(&conn, "synchronous"), 2, "FULL");
        assert_eq!(pragma(&conn, "foreign_keys"), 1);
        assert_eq!(pragma(&conn, "temp_store"), 2, "MEMORY");
        assert_eq!(pragma(&conn, "busy_timeout"), 5000);
        assert_eq!(schema_version(&conn).unwrap(), LATEST);
        let reader = open_reader(&dir.path().join("x.db")).unwrap();
        assert_eq!(pragma(&reader, "foreign_keys"), 1);
        assert!(
            reader.execute("DELETE FROM workspaces", []).is_err(),
            "readers cannot write"
        );
    }

    #[test]
    fn a_file_of_the_first_release_migrates_and_keeps_its_rows() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("x.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,
                                                 applied_at INTEGER NOT NULL);",
            )
            .unwrap();
            conn.execute_batch(MIGRATIONS[0].1).unwrap();
            conn.execute_batch(
                "INSERT INTO schema_migrations VALUES (1, 0);
                 INSERT INTO workspaces VALUES ('ws_1', 'a', 50, 0);
                 INSERT INTO webhooks (id, workspace_id, url, description, events, enabled,
                                       secret, created_at, updated_at)
                 VALUES ('wh_1', 'ws_1', 'https://x.example', '', '[]', 1, 's', 0, 0);
                 INSERT INTO deliveries (webhook_id, seq, id, event_id, workspace_id,
                                         event_type, status, created_at, updated_at)
                 VALUES ('wh_1', 1, 'dlv_1', 'evt_1', 'ws_1', 'user.created', 'delivered', 0, 0);",
            )
            .unwrap();
        }
        let conn = open_writer(&path).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), LATEST);
        let row: (String, Option<i64>) = conn
            .query_row(
                "SELECT status, open_since FROM deliveries WHERE id = 'dlv_1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(row, ("delivered".to_owned(), None));
    }

    #[test]
    fn a_deliverys_status_is_checked_without_building_a_list_per_row() {
        let dir = tempfile::TempDir::new().unwrap();
        let conn = open_writer(&dir.path().join("x.db")).unwrap();
        let definition: String = conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'deliveries'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            definition.contains("CHECK (status = 'pending' OR status = 'delivered'"),
            "{definition}"
        );
        let insert = "INSERT INTO deliveries (webhook_id, seq, id, event_id, workspace_id,
                                              event_type, status, created_at, updated_at)
                      VALUES ('wh_1', 1, 'dlv_1', 'evt_1', 'ws_1', 'user.created', ?1, 0, 0)";
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN {insert}"))
            .unwrap()
            .query_map(["pending"], |r| r.get(1))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            !plan.iter().any(|op| op == "OpenEphemeral"),
            "an insert builds no temporary b-tree: {plan:?}"
        );
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO workspaces VALUES ('ws_1', 'a', 50, 0);",
        )
        .unwrap();
        let refused = conn.execute(insert, ["done"]).unwrap_err();
        assert!(refused.to_string().contains("CHECK"), "{refused}");
        conn.execute(insert, ["pending"]).unwrap();
    }
}
