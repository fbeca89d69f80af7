//! The PostgreSQL server of this crate's own unit tests.

/// `ADMIN_WEBHOOKS_TEST_DATABASE_URL`, or the local default.
pub(super) fn url() -> String {
    std::env::var("ADMIN_WEBHOOKS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A test that cannot reach PostgreSQL at `url` skips, loudly, or fails when
/// `ADMIN_WEBHOOKS_REQUIRE_POSTGRES` is set (as CI does).
pub(super) fn unreachable(url: &str, error: &dyn std::fmt::Display) {
    if std::env::var_os("ADMIN_WEBHOOKS_REQUIRE_POSTGRES").is_some() {
        panic!("PostgreSQL is required but {url} cannot be reached: {error}");
    }
    eprintln!("\n!!!!!!!!!! SKIPPED: PostgreSQL at {url} cannot be reached ({error})\n");
}
