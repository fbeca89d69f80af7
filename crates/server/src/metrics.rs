//! `GET /metrics`: Prometheus text exposition of every series the service records.
//!
//! Series: publishes and their latency (api), attempts by outcome and error class,
//! attempt and delivery latency, expiries and lanes (delivery), store operation latency
//! (timed inside each backend, [`store::timing`]), pending deliveries and oldest pending
//! age per workspace and alerts raised ([`crate::monitor`]), rate-limited requests (api),
//! failed authentications by edge and outcome ([`usecases::auth_failures`]).
//! Labels come from fixed sets, except `workspace_id`, which is bounded by the number of
//! workspaces.
//!
//! Every counter is registered at zero when the recorder is installed, so a series that
//! has not counted yet reads `0` rather than missing.
//!
//! The `metrics` facade has one recorder per process by design; it is installed once
//! and shared by every service `run` in the process (tests start several).

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Bucket bounds in seconds, from a fast local attempt to a delivery retried for an hour.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0, 900.0, 3600.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder (once per process) and returns the handle that renders it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may be installed already (a test harness); ours still
            // renders what it is given.
            let _ = metrics::set_global_recorder(recorder);
            delivery::metrics::describe();
            api::metrics::describe();
            usecases::auth_failures::describe();
            store::timing::describe();
            crate::monitor::describe();
            register_at_zero();
            handle
        })
        .clone()
}

/// Every counter with its fixed label sets, registered at zero when the recorder is
/// installed: a series that has not counted yet is listed as `0`, not missing, so
/// dashboards and alerts work from the first scrape. (Histograms and the per-workspace
/// gauges appear with their first sample: their labels are not known in advance.)
fn register_at_zero() {
    delivery::metrics::register();
    api::metrics::register();
    for condition in store::AlertCondition::ALL {
        metrics::counter!(crate::monitor::ALERTS_RAISED, "condition" => condition.as_str())
            .absolute(0);
    }
}

/// How often recorded histogram samples are folded into their buckets. Without it they
/// pile up until `/metrics` is scraped, and a service nobody scrapes grows without bound.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds pending samples into the exporter's buckets every few seconds until shutdown.
pub fn keep_tidy(handle: PrometheusHandle, shutdown: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(UPKEEP_EVERY) => handle.run_upkeep(),
            }
        }
    });
}

/// `/metrics`, documented in `/openapi.json` with the API (see [`api::router_with`]).
pub fn router(handle: PrometheusHandle) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(render))
        .with_state(handle)
}

/// Every series in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain; version=0.0.4", body = String))
)]
async fn render(State(handle): State<PrometheusHandle>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}
