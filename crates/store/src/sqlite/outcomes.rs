//! Recording attempt outcomes (SQLite): each outcome is one writer job, committed in
//! submission order with whatever else the writer groups with it.
//!
//! Invariants:
//! - The fence: an outcome changes its delivery only while the delivery is open and still
//!   has the attempt count the outcome was decided on (`attempts_before`). Otherwise
//!   nothing changes, no attempt is recorded, and the answer is `StaleAttempt`.
//! - An outcome's update, its attempt row and the disabling of its webhook (after a
//!   `410 Gone`) are one job: all or nothing (the job's savepoint rolls back together),
//!   and a stale outcome disables nothing. Before disabling, the webhook takes up the
//!   rest of the log (see [`super::take_up`]): what was published while it was enabled
//!   stays its backlog, as it would be had it been taken up at publish.

use domain::WorkspaceId;
use rusqlite::{Connection, params};

use super::rows::{now_ms, parse, to_ms};
use super::take_up;
use crate::{Outcome, RecordedHeaders, Result, StoreError};

pub(super) const RECORD_ATTEMPT: &str = "UPDATE deliveries
     SET attempts = attempts + 1, status = ?1, next_attempt_at = ?2,
         last_status_code = ?3, last_response_ms = ?4, last_error = ?5, updated_at = ?6
     WHERE id = ?7 AND webhook_id = ?8 AND attempts = ?9 AND status IN ('pending', 'failed')";

/// Disables a webhook whose receiver answered `410 Gone`.
pub(super) const DISABLE_WEBHOOK: &str =
    "UPDATE webhooks SET enabled = 0, updated_at = ?1 WHERE id = ?2";

pub(super) const RECORD_WITHOUT_ATTEMPT: &str =
    "UPDATE deliveries SET status = ?1, next_attempt_at = ?2, updated_at = ?3
     WHERE id = ?4 AND webhook_id = ?5 AND attempts = ?6 AND status IN ('pending', 'failed')";

/// Records an attempt's result (or an expiry without attempt) if the delivery still has
/// the attempt count the outcome was decided on.
pub(super) fn record_outcome(conn: &Connection, outcome: &Outcome) -> Result<()> {
    let updated_at = now_ms();
    let next_attempt_at = outcome
        .status
        .is_open()
        .then(|| outcome.next_attempt_at.map_or(updated_at, to_ms));
    let changed = match &outcome.attempt {
        Some(attempt) => conn.prepare_cached(RECORD_ATTEMPT)?.execute(params![
            outcome.status.as_str(),
            next_attempt_at,
            attempt.status_code,
            attempt.response_ms,
            attempt.error_summary(),
            updated_at,
            outcome.delivery_id.as_str(),
            outcome.webhook_id.as_str(),
            outcome.attempts_before
        ])?,
        None => conn
            .prepare_cached(RECORD_WITHOUT_ATTEMPT)?
            .execute(params![
                outcome.status.as_str(),
                next_attempt_at,
                updated_at,
                outcome.delivery_id.as_str(),
                outcome.webhook_id.as_str(),
                outcome.attempts_before
            ])?,
    };
    if changed == 0 {
        return Err(StoreError::StaleAttempt);
    }
    if outcome.disable_webhook && outcome.attempt.is_some() {
        let workspace: WorkspaceId = conn
            .prepare_cached("SELECT workspace_id FROM webhooks WHERE id = ?1")?
            .query_row([outcome.webhook_id.as_str()], |r| parse(r, 0))?;
        take_up::take_up_all(conn, &workspace, Some(&outcome.webhook_id))?;
        conn.prepare_cached(DISABLE_WEBHOOK)?
            .execute(params![updated_at, outcome.webhook_id.as_str()])?;
    }
    if let Some(attempt) = &outcome.attempt {
        conn.prepare_cached(
            "INSERT INTO attempts (delivery_id, id, webhook_id, attempted_at, status_code, response_ms,
                                   error_class, error_message, response_body,
                                   request_headers, response_headers)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            outcome.delivery_id.as_str(),
            attempt.id.as_str(),
            outcome.webhook_id.as_str(),
            to_ms(attempt.attempted_at),
            attempt.status_code,
            attempt.response_ms,
            attempt.error_class.map(|c| c.as_str()),
            attempt.error_message,
            attempt.response_body,
            attempt.request_headers.as_ref().map(RecordedHeaders::to_json),
            attempt.response_headers.as_ref().map(RecordedHeaders::to_json)
        ])?;
    }
    Ok(())
}
