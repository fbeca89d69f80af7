//! Dashboard sessions (SQLite).
//!
//! Invariants (the contract's): a session is found only before its expiry and while its
//! API key is live; only the hash of its id is stored; creating one also deletes at most
//! [`EXPIRED_BATCH`] expired sessions, so the table never grows without bound.

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{is_unique_violation, now, now_ms, parse, time, to_ms};
use crate::{ConflictKind, NewSession, Result, Session, StoreError};

/// Expired sessions removed per sign-in: more than sign-ins add, so the table shrinks to
/// the live ones, and few enough that a sign-in stays one short write.
pub(super) const EXPIRED_BATCH: i64 = 100;

pub(super) fn create_session(conn: &Connection, new: &NewSession) -> Result<Session> {
    let live_key = conn
        .prepare_cached(
            "SELECT 1 FROM api_keys WHERE id = ?1 AND workspace_id = ?2 AND revoked_at IS NULL",
        )?
        .query_row(
            params![new.api_key_id.as_str(), new.workspace_id.as_str()],
            |_| Ok(()),
        )
        .optional()?;
    if live_key.is_none() {
        return Err(StoreError::NotFound);
    }
    let at = now();
    conn.prepare_cached(
        "DELETE FROM dashboard_sessions WHERE id_hash IN (
             SELECT id_hash FROM dashboard_sessions WHERE expires_at <= ?1
             ORDER BY expires_at LIMIT ?2)",
    )?
    .execute(params![to_ms(at), EXPIRED_BATCH])?;
    let expires_ms = to_ms(new.expires_at);
    conn.prepare_cached(
        "INSERT INTO dashboard_sessions (id_hash, workspace_id, api_key_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        &new.id_hash[..],
        new.workspace_id.as_str(),
        new.api_key_id.as_str(),
        to_ms(at),
        expires_ms
    ])
    .map_err(|e| ConflictKind::SessionExists.if_unique(is_unique_violation(&e), e))?;
    Ok(Session {
        workspace_id: new.workspace_id.clone(),
        api_key_id: new.api_key_id.clone(),
        created_at: at,
        // Truncated like every stored time, so the answer equals what is read back.
        expires_at: chrono::DateTime::from_timestamp_millis(expires_ms).unwrap_or(new.expires_at),
    })
}

pub(super) fn find_session(conn: &Connection, id_hash: &[u8; 32]) -> Result<Option<Session>> {
    Ok(conn
        .prepare_cached(
            "SELECT s.workspace_id, s.api_key_id, s.created_at, s.expires_at
             FROM dashboard_sessions s JOIN api_keys k ON k.id = s.api_key_id
             WHERE s.id_hash = ?1 AND s.expires_at > ?2 AND k.revoked_at IS NULL",
        )?
        .query_row(params![&id_hash[..], now_ms()], |row| {
            Ok(Session {
                workspace_id: parse(row, 0)?,
                api_key_id: parse(row, 1)?,
                created_at: time(row, 2)?,
                expires_at: time(row, 3)?,
            })
        })
        .optional()?)
}

pub(super) fn delete_session(conn: &Connection, id_hash: &[u8; 32]) -> Result<()> {
    conn.prepare_cached("DELETE FROM dashboard_sessions WHERE id_hash = ?1")?
        .execute([&id_hash[..]])?;
    Ok(())
}
