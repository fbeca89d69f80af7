//! Who is calling: a workspace's API key ([`Authenticated`]) or the operator ([`Operator`]).
//!
//! Invariants:
//! - Keys travel only as `Authorization: Bearer <key>`; they are hashed at once
//!   (`domain::api_key::hash_key`) and never logged or echoed.
//! - API keys are looked up by hash, so the comparison happens on SHA-256 digests that an
//!   attacker cannot steer; the operator key is compared with `key_matches`, which is
//!   constant-time over the digests.
//! - The two kinds of keys are disjoint: an API key is refused on operator routes and the
//!   operator key is refused on workspace routes, even if someone made them equal.
//! - Without `ADMIN_WEBHOOKS_OPERATOR_KEY` the operator API is off (403 saying so).
//! - Every authenticated request takes a token of its key's rate limit
//!   ([`crate::rate_limit`]); over it the answer is 429 with `Retry-After`.
//! - A presented key that fails (unknown, revoked, or not the operator key on an operator
//!   route) is counted against the client's address ([`usecases::auth_failures`], shared
//!   with the dashboard's sign-in); an address over its limit gets 429 with
//!   `Retry-After` instead of 401. The limiter is consulted only after a key failed, so a
//!   valid key is never refused or slowed by anyone's failures. A request without a key
//!   guesses nothing and is not counted.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use domain::api_key::{hash_key, key_matches};
use domain::{ApiKeyId, WorkspaceId};
use http::header::AUTHORIZATION;
use http::request::Parts;
use usecases::AuthEdge;

use crate::error::{ApiError, ApiResult};
use crate::{AppState, Shared};

/// A request made with a live API key of `workspace_id`.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub workspace_id: WorkspaceId,
    pub key_id: ApiKeyId,
}

/// A request made with the operator key.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(parts: &Parts) -> ApiResult<&str> {
    let missing = || {
        ApiError::Unauthorized(
            "Send an API key as `Authorization: Bearer <key>`. Create keys in Settings › API Keys \
             or with POST /v1/api-keys."
                .to_owned(),
        )
    };
    let value = parts.headers.get(AUTHORIZATION).ok_or_else(missing)?;
    let text = value.to_str().map_err(|_| missing())?;
    let (scheme, token) = text.split_once(' ').ok_or_else(missing)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(missing());
    }
    Ok(token)
}

/// The operator's rate-limit bucket; API key ids (`ak_…`) never collide with it.
const OPERATOR_BUCKET: &str = "operator";

fn take_token(state: &AppState, bucket: &str) -> ApiResult<()> {
    state.limiter.check(bucket).map_err(|wait| {
        crate::metrics::rate_limited();
        ApiError::RateLimited {
            retry_after: crate::rate_limit::retry_after_secs(wait),
        }
    })
}

/// `refusal` for a presented key that failed, or 429 when the client's address has failed
/// too often lately.
fn failed(state: &AppState, parts: &Parts, refusal: ApiError) -> ApiError {
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    match state.auth_failures.failed(AuthEdge::Api, client) {
        Ok(()) => refusal,
        Err(limited) => ApiError::TooManyFailures(limited),
    }
}

fn is_operator_key(state: &AppState, token: &str) -> bool {
    state
        .config
        .operator_key
        .as_deref()
        .is_some_and(|operator| key_matches(token, &hash_key(operator)))
}

impl FromRequestParts<Shared> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> ApiResult<Self> {
        let token = bearer_token(parts)?;
        if is_operator_key(state, token) {
            return Err(ApiError::Unauthorized(
                "This is the operator key; workspace routes take an API key of the workspace."
                    .to_owned(),
            ));
        }
        match state.app.recognise_key(token).await? {
            Some(key) => {
                take_token(state, key.id.as_str())?;
                Ok(Self {
                    workspace_id: key.workspace_id,
                    key_id: key.id,
                })
            }
            None => Err(failed(
                state,
                parts,
                ApiError::Unauthorized(
                    "The API key is not valid or has been revoked. Check the key, or create a new \
                     one in Settings › API Keys."
                        .to_owned(),
                ),
            )),
        }
    }
}

impl FromRequestParts<Shared> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> ApiResult<Self> {
        if state.config.operator_key.is_none() {
            return Err(ApiError::Forbidden(
                "The operator API is disabled. Start the service with ADMIN_WEBHOOKS_OPERATOR_KEY \
                 set to enable it."
                    .to_owned(),
            ));
        }
        let token = bearer_token(parts)?;
        if is_operator_key(state, token) {
            take_token(state, OPERATOR_BUCKET)?;
            Ok(Operator)
        } else {
            Err(failed(
                state,
                parts,
                ApiError::Unauthorized(
                    "This route takes the operator key (ADMIN_WEBHOOKS_OPERATOR_KEY); API keys of \
                     a workspace are not accepted here."
                        .to_owned(),
                ),
            ))
        }
    }
}
