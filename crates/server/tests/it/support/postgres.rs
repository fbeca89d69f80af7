//! A fresh PostgreSQL database per test, dropped afterwards.
//!
//! The server is pointed at `ADMIN_WEBHOOKS_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test creates its own database next to
//! that one. When PostgreSQL cannot be reached the test is skipped with a loud notice —
//! unless `ADMIN_WEBHOOKS_REQUIRE_POSTGRES` is set (CI sets it), and then it fails.

use tokio_postgres::NoTls;

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct TestDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// A new empty database, or `None` when PostgreSQL is unreachable and not required.
    pub async fn create() -> Option<TestDatabase> {
        let admin_url = std::env::var("ADMIN_WEBHOOKS_TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let client = match connect(&admin_url).await {
            Ok(client) => client,
            Err(e) if std::env::var_os("ADMIN_WEBHOOKS_REQUIRE_POSTGRES").is_some() => {
                panic!(
                    "PostgreSQL at {admin_url} is required (ADMIN_WEBHOOKS_REQUIRE_POSTGRES) but unreachable: {e}"
                )
            }
            Err(e) => {
                eprintln!(
                    "SKIPPED: PostgreSQL at {admin_url} is unreachable ({e}); set ADMIN_WEBHOOKS_TEST_DATABASE_URL"
                );
                return None;
            }
        };
        let name = format!("aw_it_{}", domain_suffix());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("creating a test database");
        let url = replace_database(&admin_url, &name);
        Some(TestDatabase {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside async context (or inside a runtime that is shutting down):
        // a thread with its own runtime does the cleanup.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(client) = connect(&admin_url).await {
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn domain_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}_{}", std::process::id(), nanos % 1_000_000_000_000)
}

/// The same server and credentials, another database name.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let cut = base.rfind('/').expect("a database URL has a path");
    format!("{}/{name}{query}", &base[..cut])
}
