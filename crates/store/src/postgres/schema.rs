//! Connection settings, the pool, and bringing the schema up to date.
//!
//! Invariants:
//! - Every connection (pooled or the listener's) is made from one `tokio_postgres::Config`;
//!   a schema chosen in [`super::PgOptions`] is set there as `search_path`, so every
//!   connection of the store sees the same tables.
//! - Migrations are numbered, embedded in the binary, applied in order, each in its own
//!   transaction together with its row in `schema_migrations`, under a transaction-level
//!   advisory lock: several processes starting at once on a new database migrate once,
//!   the others wait and then find the work done. A database written by a newer binary
//!   (an unknown version) is refused rather than guessed at.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use super::PgOptions;
use crate::{Result, StoreError};

/// `(version, SQL)` in ascending order. Never edit an applied one: add the next.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_sessions.sql")),
    (3, include_str!("migrations/0003_alerts.sql")),
    (4, include_str!("migrations/0004_gone_and_throttling.sql")),
    (5, include_str!("migrations/0005_shared_secrets.sql")),
    (6, include_str!("migrations/0006_event_log.sql")),
    // 9 is another change's; numbers are reserved per change so merges keep them apart.
    (7, include_str!("migrations/0007_listeners.sql")),
    (8, include_str!("migrations/0008_endpoint_controls.sql")),
    (
        9,
        include_str!("migrations/0009_schemas_and_trace_context.sql"),
    ),
    (10, include_str!("migrations/0010_attempt_headers.sql")),
];

/// The schema version this binary brings a database to.
pub(super) const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// How long making one new connection may take before a call fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn backend(message: String) -> StoreError {
    StoreError::Backend(message.into())
}

/// The connection settings of the store: the URL's, plus the schema as `search_path`.
pub(super) fn config(url: &str, options: &PgOptions) -> Result<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| backend(format!("invalid PostgreSQL URL: {e}")))?;
    if let Some(schema) = &options.schema {
        check_schema_name(schema)?;
        add_option(&mut config, &format!("-c search_path={schema}"));
    }
    if config.get_application_name().is_none() {
        config.application_name("admin-webhooks");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok(config)
}

/// Adds `option` (`-c name=value`) to the connection's options, after the URL's own.
fn add_option(config: &mut tokio_postgres::Config, option: &str) {
    let options = match config.get_options() {
        Some(existing) if !existing.trim().is_empty() => format!("{existing} {option}"),
        _ => option.to_owned(),
    };
    config.options(options);
}

/// Schema names are written into SQL and connection options unquoted: only plain
/// lowercase identifiers are accepted.
pub(super) fn check_schema_name(schema: &str) -> Result<()> {
    let mut chars = schema.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63;
    if plain {
        Ok(())
    } else {
        Err(backend(format!(
            "schema name `{schema}` must be a lowercase identifier ([a-z_][a-z0-9_]*, at most 63 bytes)"
        )))
    }
}

pub(super) fn pool(config: &tokio_postgres::Config, options: &PgOptions) -> Result<Pool> {
    sized_pool(config, options, options.max_connections)
}

/// The connections of the work that answers nobody outside the service: the outcome
/// writer's and the take-ups' (the take-up worker's and the sweep's catch-up). They
/// commit without waiting for the server to flush its WAL (`synchronous_commit=off`).
/// If the server crashes and loses the last of them, those take-ups are made again and
/// those deliveries attempted again (with the same `webhook-id`, the event's), which
/// at-least-once allows. The server replays its WAL in order, so what it keeps is always
/// a prefix of what committed: any later commit that waits for its flush (a publish, a
/// change made through the API) makes everything committed before it durable too. A
/// crash of the service itself loses none of them. Measured in BENCHMARKS.md, session 9.
pub(super) fn unflushed_pool(config: &tokio_postgres::Config, options: &PgOptions) -> Result<Pool> {
    let mut config = config.clone();
    add_option(&mut config, "-c synchronous_commit=off");
    // One each for the outcome writer, the take-up worker and a catch-up.
    sized_pool(&config, options, 3)
}

fn sized_pool(
    config: &tokio_postgres::Config,
    options: &PgOptions,
    max_size: usize,
) -> Result<Pool> {
    let manager = Manager::from_connect(
        config.clone(),
        super::connect::OnRuntime::current(),
        ManagerConfig {
            // A connection is checked only for being closed when handed out: a query per
            // checkout would cost a round trip on every store call.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size.max(1))
        .wait_timeout(Some(options.acquire_timeout))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| backend(format!("cannot build the PostgreSQL pool: {e}")))
}

/// Creates the schema if one was chosen and applies every pending migration.
pub(super) async fn migrate(pool: &Pool, schema: Option<&str>) -> Result<i64> {
    let mut client = pool.get().await?;
    let known = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    // Per schema, so that stores in different schemas (tests) do not wait for each other.
    let lock_key = format!("admin-webhooks migrate {}", schema.unwrap_or(""));
    loop {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock_key])
            .await?;
        if let Some(schema) = schema {
            tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await?;
        }
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT      PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        if current > known {
            return Err(backend(format!(
                "the database is at schema version {current}, newer than this binary knows \
                 ({known}); run a newer admin-webhooks"
            )));
        }
        let Some((version, sql)) = MIGRATIONS.iter().find(|(v, _)| *v > current) else {
            tx.commit().await?;
            return Ok(current);
        };
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "applied store migration (PostgreSQL)");
    }
}

/// The highest migration applied.
pub(super) async fn schema_version(pool: &Pool) -> Result<i64> {
    let client = pool.get().await?;
    Ok(client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["aw", "_x", "aw_test_01hz", "a1"] {
            check_schema_name(ok).unwrap();
        }
        for bad in ["", "1a", "A", "a-b", "a;drop", "a b", &"a".repeat(64)] {
            assert!(check_schema_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_schema_becomes_the_search_path_after_url_options() {
        let options = PgOptions {
            schema: Some("tenant_a".into()),
            ..PgOptions::default()
        };
        let config = config(
            "postgres://postgres@127.0.0.1:5432/test?options=-c%20statement_timeout%3D5000",
            &options,
        )
        .unwrap();
        assert_eq!(
            config.get_options(),
            Some("-c statement_timeout=5000 -c search_path=tenant_a")
        );
        let bare = config_without_schema();
        assert_eq!(bare.get_options(), None);
        assert_eq!(bare.get_application_name(), Some("admin-webhooks"));
    }

    /// Only outcomes and take-ups commit without waiting for the WAL flush.
    #[tokio::test]
    async fn outcomes_and_take_ups_commit_without_waiting_for_the_flush_and_nothing_else_does() {
        let url = super::super::test_database::url();
        let options = PgOptions {
            schema: Some("aw_test_unflushed_pool".into()),
            ..PgOptions::default()
        };
        let config = config(&url, &options).unwrap();
        let show = async |pool: &Pool, name: &str| -> std::result::Result<String, String> {
            let client = pool.get().await.map_err(|e| e.to_string())?;
            let row = client
                .query_one(&format!("SHOW {name}"), &[])
                .await
                .map_err(|e| e.to_string())?;
            Ok(row.get(0))
        };
        let shared = pool(&config, &options).unwrap();
        let setting = match show(&shared, "synchronous_commit").await {
            Ok(setting) => setting,
            Err(error) => return super::super::test_database::unreachable(&url, &error),
        };
        assert_eq!(setting, "on");
        let unflushed = unflushed_pool(&config, &options).unwrap();
        assert_eq!(show(&unflushed, "synchronous_commit").await.unwrap(), "off");
        // The URL's and the store's own settings stay beside it.
        assert_eq!(
            show(&unflushed, "search_path").await.unwrap(),
            "aw_test_unflushed_pool"
        );
        assert_eq!(unflushed.status().max_size, 3);
    }

    fn config_without_schema() -> tokio_postgres::Config {
        config("postgres://postgres@127.0.0.1/test", &PgOptions::default()).unwrap()
    }
}
