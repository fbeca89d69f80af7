//! `--otlp-endpoint`: the service's spans (API requests, delivery attempts) exported over
//! OTLP/HTTP (protobuf) to an OpenTelemetry collector.
//!
//! Invariants:
//! - Off unless configured: without an endpoint no exporter, thread or connection exists.
//! - The exporter posts with the service's own reqwest (rustls, the public roots, no
//!   redirects followed), run on the service's tokio runtime: the SDK's batch thread
//!   awaits a task spawned there, so no second HTTP stack is compiled in. The collector
//!   is the operator's, so it is not subject to the endpoints' address policy.
//! - Spans are batched (the SDK's defaults, `OTEL_BSP_*` variables honoured) and flushed
//!   when the service stops; an unreachable collector loses spans, never requests.

use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The OTLP exporter's HTTP client: the service's reqwest, on the service's runtime.
#[derive(Debug)]
struct RuntimeClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let call = async move {
            let request = reqwest::Request::try_from(request)?;
            let answer = client.execute(request).await?;
            let mut response = Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                response = response.header(name.as_str(), value.as_bytes());
            }
            let body = answer.bytes().await?;
            Ok::<_, HttpError>(response.body(body)?)
        };
        self.runtime.spawn(call).await?
    }
}

/// A tracer provider exporting to `endpoint` (a full `…/v1/traces` URL). Must be called
/// on the service's runtime.
pub fn provider(endpoint: &url::Url) -> Result<SdkTracerProvider, String> {
    let client = reqwest::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the OTLP HTTP client: {e}"))?;
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| "the OTLP exporter needs the service's runtime".to_owned())?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(RuntimeClient { client, runtime })
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint.as_str())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the OTLP exporter: {e}"))?;
    Ok(SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("admin-webhooks")
                .with_attributes([opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                )])
                .build(),
        )
        .with_batch_exporter(exporter)
        .build())
}
