//! Liveness and readiness probes. Neither needs a key: they reveal only whether the
//! process runs (`/healthz`) and whether it can do its work (`/readyz`).
//!
//! Ready means all of: the store answers, its schema is the one this binary knows (every
//! migration applied, none unknown), and the dispatcher is alive (its sweep ran lately).
//! Each check is bounded by [`CHECK_TIMEOUT`], because a probe that hangs is as bad as one
//! that fails: load balancers give up on it. A 503 names what is wrong; causes (which
//! may name hosts or files) go to the log, not to the caller.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use usecases::source_chain;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Shared;
use crate::error::{ApiError, ApiResult, Problem};

/// How long one readiness check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether a background part of the service is alive; `Err` says what is wrong.
pub type Liveness = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The store's schema version (every migration this binary knows is applied).
    pub schema_version: i64,
}

pub fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The process is up and serving HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The service can do its work: store reachable, migrations applied, dispatcher alive.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready; `detail` names each failing check", content_type = "application/problem+json", body = Problem),
    )
)]
async fn readyz(State(state): State<Shared>) -> ApiResult<Json<Readiness>> {
    let mut problems = Vec::new();
    let mut schema_version = 0;
    match tokio::time::timeout(CHECK_TIMEOUT, state.app.schema_status()).await {
        Ok(Ok(status)) if status.is_current() => schema_version = status.applied,
        Ok(Ok(status)) => problems.push(format!(
            "the store's schema is at version {}, this binary needs version {}",
            status.applied, status.latest
        )),
        Ok(Err(error)) => {
            tracing::warn!(error = %source_chain(&error), "readiness: the store did not answer");
            problems.push("the store cannot be reached".to_owned());
        }
        Err(_) => problems.push(format!(
            "the store did not answer within {} s",
            CHECK_TIMEOUT.as_secs()
        )),
    }
    if let Some(alive) = &state.dispatcher_alive
        && let Err(why) = alive()
    {
        problems.push(why);
    }
    if problems.is_empty() {
        Ok(Json(Readiness {
            status: "ok",
            schema_version,
        }))
    } else {
        Err(ApiError::NotReady(problems))
    }
}
