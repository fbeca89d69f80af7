//! Structured logs on stderr, as JSON or for people (`--log-format`), filtered by
//! `RUST_LOG` (default `info`).
//!
//! Invariant: colours (ANSI escapes) are written only when stderr is a terminal, so a
//! log redirected to a file or collected by a supervisor stays plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests starting several services in one process) keeps the first.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
