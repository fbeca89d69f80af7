//! Liveness and readiness probes. Neither needs a key: they reveal only whether the
//! process runs (`/healthz`) and whether its store answers (`/readyz`).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up and serving HTTP.
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The store answers; any store failure is a 503 so load balancers take us out.
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    state.store.ping().await.map_err(ApiError::Unavailable)?;
    Ok(Json(Health { status: "ok" }))
}
