//! `POST /v1/webhooks/{id}/secret/rotate`: a new signing secret for an endpoint.
//!
//! Invariants:
//! - The new secret is generated here like a webhook's first one (`whsec_` + base64 of 32
//!   random bytes) and shown in the answer, with the time the replaced secret stops
//!   signing (now + `--secret-grace`).
//! - Until then every attempt carries both signatures in `webhook-signature`, and
//!   `X-Admin-Signature` is made with the new secret (README, "Rotating a secret").
//! - The endpoint's lane is woken after the commit, so its next attempt already signs with
//!   the new secret.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use domain::WebhookId;
use domain::signature::generate_secret;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::{ApiResult, NotFoundAs};
use crate::extract::IdPath;

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    #[schema(value_type = String)]
    pub webhook_id: WebhookId,
    /// The new signing secret.
    pub secret: String,
    /// Until when the replaced secret still signs, as the second `webhook-signature`
    /// entry.
    pub previous_secret_expires_at: DateTime<Utc>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(rotate))
}

/// A new signing secret; the replaced one keeps signing until `previous_secret_expires_at`.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/secret/rotate",
    operation_id = "rotateWebhookSecret",
    tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint's id (`wh_…`)")),
    responses((status = 200, description = "The new secret", body = RotatedSecret))
)]

async fn rotate(
    State(state): State<AppState>,
    auth: Authenticated,
    IdPath(id): IdPath<WebhookId>,
) -> ApiResult<Json<RotatedSecret>> {
    let rotation = state
        .store
        .rotate_secret(
            &auth.workspace_id,
            &id,
            generate_secret(),
            state.config.secret_grace,
        )
        .await
        .not_found_as("webhook", &id)?;
    // The lane re-reads its target (secrets) along with its deliveries.
    (state.resync_lanes)(std::slice::from_ref(&id));
    Ok(Json(RotatedSecret {
        webhook_id: id,
        secret: rotation.webhook.secret,
        previous_secret_expires_at: rotation.previous_secret_expires_at,
    }))
}
