//! Structured logs on stderr, as JSON or for people (`--log-format`), filtered by
//! `RUST_LOG` (default `info`); with `--otlp-endpoint`, the same spans exported over OTLP
//! ([`crate::otlp`]).
//!
//! Invariants:
//! - Colours (ANSI escapes) are written only when stderr is a terminal, so a log
//!   redirected to a file or collected by a supervisor stays plain text.
//! - `RUST_LOG` filters what is logged and what is exported alike.
//! - [`Telemetry::shutdown`] exports what is still batched before the process exits.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// What the process must flush before it exits.
#[must_use = "call shutdown() before exiting, or batched spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still batched (waits at most the exporter's timeout).
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The SDK blocks while it exports, and the export runs on this runtime.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = flushed {
            eprintln!("exporting the last spans over OTLP failed: {error}");
        }
    }
}

/// Installs the log (and, with an endpoint, the span exporter). Call on the service's
/// runtime.
pub fn init(format: LogFormat, otlp_endpoint: Option<&url::Url>) -> Result<Telemetry, String> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let provider = otlp_endpoint.map(crate::otlp::provider).transpose()?;
    let exported = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("admin-webhooks")));
    let registry = tracing_subscriber::registry().with(filter).with(exported);
    let log = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests starting several services in one process) keeps the first.
    let _ = match format {
        LogFormat::Json => registry.with(log.json()).try_init(),
        LogFormat::Pretty => registry.with(log).try_init(),
    };
    if let Some(endpoint) = otlp_endpoint {
        tracing::info!(%endpoint, "exporting spans over OTLP/HTTP");
    }
    Ok(Telemetry { provider })
}
