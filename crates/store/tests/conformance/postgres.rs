//! The PostgreSQL side of the conformance suite: a fresh schema per check in the database
//! named by `ADMIN_WEBHOOKS_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped afterwards — also when the check
//! fails, by a guard.
//!
//! When PostgreSQL cannot be reached, the check fails if `ADMIN_WEBHOOKS_REQUIRE_POSTGRES`
//! is set (CI sets it) and is skipped with a loud notice otherwise. Also used by
//! `tests/postgres.rs` for the tests only PostgreSQL has.

use std::sync::Arc;
use std::time::Duration;

use store::postgres::{PgOptions, PostgresStore};
use store::sealing::generate_key;
use store::{SecretCipher, Store};

use crate::support::{Harness, Reopen};

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn database_url() -> String {
    std::env::var("ADMIN_WEBHOOKS_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// An error with its causes, which is where a connection error says what went wrong.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// A schema of its own for one test, dropped (with everything in it) when this goes.
pub struct TestSchema {
    pub url: String,
    pub name: String,
    /// The secret key of this schema's stores, fresh per schema.
    pub cipher: SecretCipher,
}

impl TestSchema {
    /// A new, unique schema name (created by the store's `connect`), or `None` (after a
    /// loud notice) when PostgreSQL is unreachable and not required.
    pub async fn new() -> Option<TestSchema> {
        let url = database_url();
        let reachable = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_postgres::connect(&url, tokio_postgres::NoTls),
        )
        .await;
        let failure = match reachable {
            Ok(Ok((client, connection))) => {
                drop(client);
                drop(connection);
                None
            }
            Ok(Err(e)) => Some(chain(&e)),
            Err(_) => Some("no answer within 5 s".to_owned()),
        };
        if let Some(failure) = failure {
            if std::env::var_os("ADMIN_WEBHOOKS_REQUIRE_POSTGRES").is_some() {
                panic!(
                    "PostgreSQL is required (ADMIN_WEBHOOKS_REQUIRE_POSTGRES is set) but {url} \
                     cannot be reached: {failure}"
                );
            }
            eprintln!(
                "\n!!!!!!!!!! SKIPPED: PostgreSQL at {url} cannot be reached ({failure}).\n\
                 !!!!!!!!!! Start it or set ADMIN_WEBHOOKS_TEST_DATABASE_URL; set\n\
                 !!!!!!!!!! ADMIN_WEBHOOKS_REQUIRE_POSTGRES=1 to make this a failure.\n"
            );
            return None;
        }
        let name = format!(
            "aw_test_{}",
            domain::EventId::generate()
                .as_str()
                .trim_start_matches("evt_")
                .to_ascii_lowercase()
        );
        let cipher = SecretCipher::parse(&generate_key()).expect("a generated key parses");
        Some(TestSchema { url, name, cipher })
    }

    pub fn options(&self) -> PgOptions {
        PgOptions {
            // Enough for the checks' concurrency; several tests run at once on one server.
            max_connections: 8,
            schema: Some(self.name.clone()),
            ..PgOptions::default()
        }
    }

    pub async fn connect(&self) -> PostgresStore {
        self.connect_with(self.cipher.clone())
            .await
            .expect("connect the PostgreSQL store")
    }

    /// A store on this schema sealing with `cipher` instead of the schema's own key.
    pub async fn connect_with(&self, cipher: SecretCipher) -> store::Result<PostgresStore> {
        PostgresStore::connect(&self.url, self.options(), cipher).await
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop may run while a panic unwinds inside the test's runtime, where nothing can
        // be awaited: a thread with a runtime of its own does it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test schema");
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!(
                        "SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS {name} CASCADE"
                    ))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!(
                "warning: could not drop test schema {}: {dropped:?}",
                self.name
            );
        }
    }
}

/// A fresh PostgreSQL store in its own schema, or `None` to skip.
pub async fn harness() -> Option<Harness> {
    let schema = Arc::new(TestSchema::new().await?);
    let store: Arc<dyn Store> = Arc::new(schema.connect().await);
    let reconnect = schema.clone();
    let reopen: Reopen = Box::new(move |old| {
        let schema = reconnect.clone();
        Box::pin(async move {
            drop(old);
            let store: Arc<dyn Store> = Arc::new(schema.connect().await);
            store
        })
    });
    Some(Harness::new(store, reopen, schema))
}
