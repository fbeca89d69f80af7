//! Queries for deliveries: the lanes' view (open work, windows) and one delivery with its
//! attempts. (Outcomes are recorded in [`super::outcomes`]; lists, re-sends and stats
//! live in [`super::activity`].)
//!
//! Invariants:
//! - Every state change of a delivery is fenced by its attempt count and by its being
//!   open: an outcome whose `attempts_before` no longer holds changes nothing, records no
//!   attempt, and is `StaleAttempt`.
//! - Open means `pending` or `failed`; only open deliveries carry a `next_attempt_at`.
//! - A lane's expiry counts from `open_since` when a delivery was re-opened by hand, else
//!   from its event's publication.
//! - Queries on open deliveries name the partial index `deliveries_open` (INDEXED BY) and
//!   spell `status IN ('pending', 'failed')` exactly like it: without statistics SQLite
//!   would rather walk the table's key and skip closed rows one by one, which with a
//!   long delivered history is a scan of millions.
//! - Activity log calls filter by workspace id.

use std::sync::Arc;

use domain::{DeliveryId, WebhookId, WorkspaceId};
use rusqlite::{Connection, Row, params};

use super::rows::{now, opt_time, parse, parse_opt, time};
use crate::{Attempt, Delivery, DueDelivery, RecordedHeaders, Result};

pub(super) const DELIVERY_COLUMNS: &str = "id, event_id, webhook_id, event_type, status, attempts, last_status_code, \
     last_response_ms, last_error, next_attempt_at, created_at, updated_at";

pub(super) fn delivery_row(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: parse(row, 0)?,
        event_id: parse(row, 1)?,
        webhook_id: parse(row, 2)?,
        event_type: row.get(3)?,
        status: parse(row, 4)?,
        attempts: row.get(5)?,
        last_status_code: row.get(6)?,
        last_response_ms: row.get(7)?,
        last_error: row.get(8)?,
        next_attempt_at: opt_time(row, 9)?,
        created_at: time(row, 10)?,
        updated_at: time(row, 11)?,
    })
}

const ATTEMPT_COLUMNS: &str = "id, delivery_id, attempted_at, status_code, response_ms, error_class, error_message, response_body, request_headers, response_headers";

fn attempt_row(row: &Row<'_>) -> rusqlite::Result<Attempt> {
    Ok(Attempt {
        id: parse(row, 0)?,
        delivery_id: parse(row, 1)?,
        attempted_at: time(row, 2)?,
        status_code: row.get(3)?,
        response_ms: row.get(4)?,
        error_class: parse_opt(row, 5)?,
        error_message: row.get(6)?,
        response_body: row.get(7)?,
        request_headers: RecordedHeaders::from_json(row.get::<_, Option<String>>(8)?.as_deref()),
        response_headers: RecordedHeaders::from_json(row.get::<_, Option<String>>(9)?.as_deref()),
    })
}

pub(super) fn get_delivery(
    conn: &Connection,
    workspace: &WorkspaceId,
    id: &DeliveryId,
) -> Result<(Delivery, Vec<Attempt>)> {
    let sql =
        format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1 AND workspace_id = ?2");
    let delivery = conn
        .prepare_cached(&sql)?
        .query_row([id.as_str(), workspace.as_str()], delivery_row)?;
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = ?1 ORDER BY attempted_at, id"
    );
    let attempts = conn
        .prepare_cached(&sql)?
        .query_map([id.as_str()], attempt_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((delivery, attempts))
}

/// Webhooks with open deliveries: one indexed probe per webhook instead of a scan of
/// every open delivery, which matters with a backlog of millions.
const LANES_WITH_WORK: &str = "SELECT w.id FROM webhooks w
     WHERE EXISTS (SELECT 1 FROM deliveries d INDEXED BY deliveries_open
                   WHERE d.webhook_id = w.id AND d.status IN ('pending', 'failed'))
     ORDER BY w.id";

pub(super) fn lanes_with_work(conn: &Connection) -> Result<Vec<WebhookId>> {
    let ids = conn
        .prepare_cached(LANES_WITH_WORK)?
        .query_map([], |row| parse(row, 0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ids)
}

/// A lane's window. `LIMIT ?3 + 0`, not `LIMIT ?3`: SQLite's planner reads the value
/// bound to a bare parameter as the limit (found on the partial index `deliveries_open`,
/// then on the log's `ORDER BY pos`), so it prepares the statement again every time that
/// parameter is bound (its RePrepare counter), the cost of a fresh prepare per run. An
/// expression is not read, and the plan stays the one prepared.
pub(super) const LANE_WINDOW: &str =
    "SELECT d.id, d.event_id, d.event_type, d.seq, d.attempts, d.next_attempt_at,
            COALESCE(d.open_since, e.created_at), e.body, e.traceparent, e.tracestate
     FROM deliveries d INDEXED BY deliveries_open JOIN events e ON e.id = d.event_id
     WHERE d.webhook_id = ?1 AND d.seq > ?2 AND d.status IN ('pending', 'failed')
     ORDER BY d.seq LIMIT ?3 + 0";

/// How many open deliveries of an endpoint come after a seq, counted up to a limit
/// (`+ 0`: see [`LANE_WINDOW`]).
pub(super) const OPEN_AFTER: &str =
    "SELECT COUNT(*) FROM (SELECT 1 FROM deliveries INDEXED BY deliveries_open
                           WHERE webhook_id = ?1 AND seq > ?2
                             AND status IN ('pending', 'failed') LIMIT ?3 + 0)";

/// Up to `limit` open deliveries of `webhook` after `after_seq`, in seq order, with bodies.
pub(super) fn lane_window(
    conn: &Connection,
    webhook: &WebhookId,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<DueDelivery>> {
    let rows = conn
        .prepare_cached(LANE_WINDOW)?
        .query_map(params![webhook.as_str(), after_seq, limit], |row| {
            Ok(DueDelivery {
                id: parse(row, 0)?,
                event_id: parse(row, 1)?,
                event_type: row.get(2)?,
                seq: row.get(3)?,
                attempts: row.get(4)?,
                // Open deliveries always carry one; were it missing, "due now" is safe.
                next_attempt_at: opt_time(row, 5)?.unwrap_or_else(now),
                event_created_at: time(row, 6)?,
                body: Arc::from(row.get_ref(7)?.as_blob()?),
                trace: crate::records::stored_trace(row.get(8)?, row.get(9)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// How many open deliveries of `webhook` come after `seq`, counted up to `most`.
pub(super) fn open_after(
    conn: &Connection,
    webhook: &WebhookId,
    seq: i64,
    most: u32,
) -> Result<u32> {
    Ok(conn
        .prepare_cached(OPEN_AFTER)?
        .query_row(params![webhook.as_str(), seq, most], |r| r.get(0))?)
}

/// The fence: the row changes only while it is open and has the attempt count the outcome
/// was decided on.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::outcomes::{RECORD_ATTEMPT, RECORD_WITHOUT_ATTEMPT};

    /// The hot queries must use the indexes the schema was shaped for; a scan here would
    /// only show with a backlog of millions.
    #[test]
    fn hot_queries_use_their_indexes() {
        let dir = tempfile::TempDir::new().unwrap();
        let conn = super::super::schema::open_writer(&dir.path().join("x.db")).unwrap();
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            // Unbound parameters are NULL, which is all a plan needs.
            let mut rows = stmt.raw_query();
            let mut lines = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                lines.push(row.get::<_, String>(3).unwrap());
            }
            lines.join("\n")
        };
        let lanes = plan(LANES_WITH_WORK);
        assert!(
            lanes.contains("INDEX deliveries_open (webhook_id=?)"),
            "{lanes}"
        );
        let window = plan(LANE_WINDOW);
        assert!(
            window.contains("USING INDEX deliveries_open") && !window.contains("TEMP B-TREE"),
            "{window}"
        );
        for fence in [RECORD_ATTEMPT, RECORD_WITHOUT_ATTEMPT] {
            let fence = plan(fence);
            assert!(
                fence.contains("USING INDEX sqlite_autoindex_deliveries_1 (id=?)"),
                "{fence}"
            );
        }
    }
}
