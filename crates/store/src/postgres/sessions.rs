//! Dashboard sessions (PostgreSQL).
//!
//! Invariants (the contract's, as on SQLite): a session is found only before its expiry
//! and while its API key is live; only the hash of its id is stored; creating one also
//! deletes at most [`EXPIRED_BATCH`] expired sessions. Sessions live in the shared
//! database, so every process behind a load balancer knows every session, and a key
//! revoked through any process ends its sessions in all of them.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::rows::{is_unique_violation, ms, now, parse};
use crate::{ConflictKind, NewSession, Result, Session, StoreError};

/// Expired sessions removed per sign-in (see the SQLite backend).
const EXPIRED_BATCH: i64 = 100;

fn session_row(row: &Row) -> Result<Session> {
    Ok(Session {
        workspace_id: parse(row, 0)?,
        api_key_id: parse(row, 1)?,
        created_at: row.try_get(2)?,
        expires_at: row.try_get(3)?,
    })
}

/// One statement: the key check, the housekeeping and the insert happen together, so
/// a key revoked at the same moment either refuses the sign-in or ends the new session.
pub(super) async fn create_session(
    client: &impl GenericClient,
    new: &NewSession,
) -> Result<Session> {
    let statement = client
        .prepare_cached(
            "WITH live AS (
                 SELECT 1 FROM api_keys
                 WHERE id = $3 AND workspace_id = $2 AND revoked_at IS NULL
             ), expired AS (
                 DELETE FROM dashboard_sessions WHERE id_hash IN (
                     SELECT id_hash FROM dashboard_sessions WHERE expires_at <= $4
                     ORDER BY expires_at LIMIT $6)
             )
             INSERT INTO dashboard_sessions (id_hash, workspace_id, api_key_id, created_at, expires_at)
             SELECT $1, $2, $3, $4, $5 FROM live
             RETURNING workspace_id, api_key_id, created_at, expires_at",
        )
        .await?;
    let row = client
        .query_opt(
            &statement,
            &[
                &&new.id_hash[..],
                &new.workspace_id.as_str(),
                &new.api_key_id.as_str(),
                &now(),
                &ms(new.expires_at),
                &EXPIRED_BATCH,
            ],
        )
        .await
        .map_err(|e| ConflictKind::SessionExists.if_unique(is_unique_violation(&e), e))?;
    row.as_ref()
        .map(session_row)
        .unwrap_or(Err(StoreError::NotFound))
}

pub(super) async fn find_session(
    client: &impl GenericClient,
    id_hash: &[u8; 32],
) -> Result<Option<Session>> {
    let statement = client
        .prepare_cached(
            "SELECT s.workspace_id, s.api_key_id, s.created_at, s.expires_at
             FROM dashboard_sessions s JOIN api_keys k ON k.id = s.api_key_id
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL",
        )
        .await?;
    let row = client
        .query_opt(&statement, &[&&id_hash[..], &now()])
        .await?;
    row.as_ref().map(session_row).transpose()
}

pub(super) async fn delete_session(client: &impl GenericClient, id_hash: &[u8; 32]) -> Result<()> {
    let statement = client
        .prepare_cached("DELETE FROM dashboard_sessions WHERE id_hash = $1")
        .await?;
    client.execute(&statement, &[&&id_hash[..]]).await?;
    Ok(())
}
