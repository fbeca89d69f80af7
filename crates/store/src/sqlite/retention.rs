//! Log retention: one bounded pass of deletions per call, run as one writer job.
//!
//! Invariants:
//! - At most `batch` rows of each kind go per call, so one pass holds the writer (and
//!   with it every publish) only briefly; the caller pauses between passes.
//! - Open deliveries are never deleted, whatever their age; a closed one goes only once
//!   its last change (`updated_at`) is older than the cutoff, so a delivery re-sent by
//!   hand keeps its log for a whole retention period after the re-send.
//! - An event goes only once no delivery refers to it, so `GET /v1/deliveries/{id}` never
//!   shows a delivery whose event is gone, and only once every enabled endpoint of its
//!   workspace has taken it up (a disabled endpoint's cursor does not hold the log back:
//!   re-enabling moves it to the head).
//! - Every statement reads a range of an index bounded by the cutoff: attempts by
//!   `attempts_by_webhook`, deliveries by the table's key up to the cutoff's `seq`
//!   ([`first_seq_at`]), events by `events_by_workspace`, keys by their age index. Rows
//!   that must stay (open or recently re-sent deliveries, events still referred to) are
//!   the only ones read again on the next pass.

use rusqlite::{Connection, params};

use super::activity::first_seq_at;
use super::publish::IDEMPOTENCY_WINDOW_MS;
use super::rows::{now_ms, parse};
use crate::{PruneReport, Result};

pub(super) const OLD_ATTEMPTS: &str = "DELETE FROM attempts WHERE (delivery_id, id) IN (
         SELECT delivery_id, id FROM attempts INDEXED BY attempts_by_webhook
         WHERE webhook_id = ?1 AND attempted_at < ?2 LIMIT ?3)";

/// Their attempts go with them (ON DELETE CASCADE).
pub(super) const OLD_DELIVERIES: &str = "DELETE FROM deliveries WHERE webhook_id = ?1 AND seq IN (
         SELECT seq FROM deliveries
         WHERE webhook_id = ?1 AND seq < ?2 AND status IN ('delivered', 'expired')
           AND updated_at < ?3
         ORDER BY seq LIMIT ?4)";

pub(super) const OLD_EVENTS: &str = "DELETE FROM events WHERE id IN (
         SELECT e.id FROM events AS e INDEXED BY events_by_workspace
         WHERE e.workspace_id = ?1 AND e.created_at < ?2 AND e.pos <= ?4
           AND NOT EXISTS (SELECT 1 FROM deliveries AS d INDEXED BY deliveries_by_event
                           WHERE d.event_id = e.id)
         ORDER BY e.created_at LIMIT ?3)";

pub(super) const OLD_KEYS: &str = "DELETE FROM idempotency_keys WHERE (workspace_id, key) IN (
         SELECT workspace_id, key FROM idempotency_keys INDEXED BY idempotency_keys_by_age
         WHERE created_at < ?1 LIMIT ?2)";

pub(super) fn prune(conn: &Connection, older_than_ms: i64, batch: u32) -> Result<PruneReport> {
    let limit = u64::from(batch.max(1));
    let webhooks = conn
        .prepare_cached("SELECT id, next_seq FROM webhooks ORDER BY id")?
        .query_map([], |r| Ok((parse(r, 0)?, r.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<(domain::WebhookId, i64)>>>()?;
    let mut report = PruneReport::default();

    for (webhook, _) in &webhooks {
        let left = limit - report.attempts;
        if left == 0 {
            break;
        }
        report.attempts += conn.prepare_cached(OLD_ATTEMPTS)?.execute(params![
            webhook.as_str(),
            older_than_ms,
            left
        ])? as u64;
    }

    for (webhook, next_seq) in &webhooks {
        let left = limit - report.deliveries;
        if left == 0 {
            break;
        }
        // Deliveries at or above this seq were created after the cutoff: not read at all.
        let bound = first_seq_at(conn, webhook, older_than_ms, *next_seq)?;
        if bound <= 1 {
            continue;
        }
        report.deliveries += conn.prepare_cached(OLD_DELIVERIES)?.execute(params![
            webhook.as_str(),
            bound,
            older_than_ms,
            left
        ])? as u64;
    }

    let workspaces = conn
        .prepare_cached("SELECT id FROM workspaces ORDER BY id")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for workspace in &workspaces {
        let left = limit - report.events;
        if left == 0 {
            break;
        }
        // Never what an enabled endpoint has still to take up.
        let taken_up: i64 = conn
            .prepare_cached(
                "SELECT COALESCE(MIN(log_cursor), ?2) FROM webhooks
                 WHERE workspace_id = ?1 AND enabled",
            )?
            .query_row(params![workspace, i64::MAX], |r| r.get(0))?;
        report.events += conn.prepare_cached(OLD_EVENTS)?.execute(params![
            workspace,
            older_than_ms,
            left,
            taken_up
        ])? as u64;
    }

    report.idempotency_keys =
        conn.prepare_cached(OLD_KEYS)?
            .execute(params![now_ms() - IDEMPOTENCY_WINDOW_MS, limit])? as u64;

    report.more = [
        report.attempts,
        report.deliveries,
        report.events,
        report.idempotency_keys,
    ]
    .contains(&limit);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::activity::tests::plan;

    /// Each deletion reads a bounded range of an index, never a whole table.
    #[test]
    fn retention_reads_index_ranges() {
        let dir = tempfile::TempDir::new().unwrap();
        let conn = super::super::schema::open_writer(&dir.path().join("x.db")).unwrap();
        let attempts = plan(&conn, OLD_ATTEMPTS);
        assert!(
            attempts.contains(
                "USING COVERING INDEX attempts_by_webhook (webhook_id=? AND attempted_at<?)"
            ),
            "{attempts}"
        );
        let deliveries = plan(&conn, OLD_DELIVERIES);
        assert!(
            deliveries.contains("USING PRIMARY KEY (webhook_id=? AND seq<?)"),
            "{deliveries}"
        );
        let events = plan(&conn, OLD_EVENTS);
        assert!(
            events.contains("INDEX events_by_workspace (workspace_id=? AND created_at<?)")
                && events.contains("USING COVERING INDEX deliveries_by_event (event_id=?)"),
            "{events}"
        );
        let keys = plan(&conn, OLD_KEYS);
        assert!(
            keys.contains("USING COVERING INDEX idempotency_keys_by_age (created_at<?)"),
            "{keys}"
        );
        assert!(!keys.contains("SCAN idempotency_keys"), "{keys}");
    }
}
