//! The activity log and manual re-sends: an endpoint's deliveries filtered by status, type
//! and time (newest first), the workspace's events, one event's deliveries, and
//! re-opening deliveries (retry, replay).
//!
//! Invariants:
//! - Every call filters by workspace id, so another workspace's ids are `NotFound`.
//! - Re-opening sets `pending`, `next_attempt_at` = `open_since` = now and keeps `seq`,
//!   `attempts` and the recorded history, so the delivery takes its original place in
//!   the endpoint's order and the lane's attempt fence still holds. An attempt of that
//!   delivery already in flight may still record its outcome; it then stands for the
//!   re-send (the receiver got the event once more, which is what was asked).
//! - A time filter on deliveries is first turned into a `seq` range ([`first_seq_at`]),
//!   so a filtered page reads a range of the table's key rather than walking an
//!   endpoint's whole history; the exact time condition is applied too, so no row outside
//!   the requested range is ever returned.

use domain::{DeliveryId, DeliveryStatus, EventId, WebhookId, WorkspaceId};
use rusqlite::{Connection, OptionalExtension, params};

use super::deliveries::{DELIVERY_COLUMNS, delivery_row};
use super::publish::{EVENT_COLUMNS, event_row};
use super::rows::{now_ms, to_ms};

/// The most `seq`s one replay job covers: a replay of a long range is several short writer
/// jobs (measured: about 10 µs a row), so publishes never wait behind it for long.
pub(super) const REPLAY_CHUNK: i64 = 10_000;
use crate::{
    Delivery, DeliveryFilter, Event, EventFilter, Page, PageRequest, ReplayFilter, Result,
};

/// The first row at or after a `seq`: one probe of the table's key.
const FIRST_ROW_FROM: &str = "SELECT seq, created_at FROM deliveries
     WHERE webhook_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT 1";

/// The smallest `seq` bound `b` such that the endpoint's deliveries with `seq >= b` were
/// created at or after `at_ms` and those below it before: a binary search over the
/// table's key, about 2·log2(`next_seq`) index probes.
///
/// Exact because a delivery's `created_at` grows with its `seq`: both are assigned in the
/// same writer job, in commit order. Only a wall clock stepped back breaks that, and then
/// the bound may leave out rows created within the step of it; callers still apply the
/// time condition itself, so nothing outside the range is returned.
pub(super) fn first_seq_at(
    conn: &Connection,
    webhook: &WebhookId,
    at_ms: i64,
    next_seq: i64,
) -> Result<i64> {
    let mut probe = conn.prepare_cached(FIRST_ROW_FROM)?;
    // Every row below `lo` was created before `at_ms`; every row at or above `hi` at or
    // after it.
    let (mut lo, mut hi) = (0i64, next_seq);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let row: Option<(i64, i64)> = probe
            .query_row(params![webhook.as_str(), mid], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match row {
            Some((seq, created_at)) if seq < hi && created_at < at_ms => lo = seq + 1,
            // The first row from `mid` on is at or after the time (or there is none below
            // `hi`): nothing in [mid, hi) is before it.
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// The endpoint's `next_seq` (every seq is below it), `NotFound` for another workspace.
fn next_seq(conn: &Connection, workspace: &WorkspaceId, webhook: &WebhookId) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT next_seq FROM webhooks WHERE id = ?1 AND workspace_id = ?2")?
        .query_row([webhook.as_str(), workspace.as_str()], |r| r.get(0))?)
}

/// The activity log's query. Filters on open or expired deliveries read their partial
/// index (spelled exactly as in its definition) instead of the whole history.
fn activity_log_sql(status: Option<DeliveryStatus>) -> String {
    let (index, condition) = match status {
        Some(DeliveryStatus::Pending | DeliveryStatus::Failed) => (
            "INDEXED BY deliveries_open",
            "AND status IN ('pending', 'failed')",
        ),
        Some(DeliveryStatus::Expired) => {
            ("INDEXED BY deliveries_expired", "AND status = 'expired'")
        }
        Some(DeliveryStatus::Delivered) | None => ("", ""),
    };
    format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries {index}
         WHERE webhook_id = ?1 AND workspace_id = ?2 AND seq >= ?3 AND seq < ?4 {condition}
           AND (?5 IS NULL OR status = ?5) AND (?6 IS NULL OR event_type = ?6)
           AND created_at >= ?7 AND created_at < ?8
         ORDER BY seq DESC LIMIT ?9"
    )
}

/// One page of a webhook's deliveries, newest first.
///
/// Ordered by seq, which per endpoint is publish order (the same order as delivery ids,
/// but immune to clock steps between restarts) and is the table's key, so a page deep
/// in a long history is a range read rather than a scan from the top.
pub(super) fn list_deliveries(
    conn: &Connection,
    workspace: &WorkspaceId,
    webhook: &WebhookId,
    filter: &DeliveryFilter,
    page: &PageRequest,
) -> Result<Page<Delivery>> {
    let next_seq = next_seq(conn, workspace, webhook)?;
    let mut before_seq = match &page.cursor {
        None => next_seq,
        Some(cursor) => {
            let seq: Option<i64> = conn
                .prepare_cached("SELECT seq FROM deliveries WHERE id = ?1 AND webhook_id = ?2")?
                .query_row([cursor.as_str(), webhook.as_str()], |r| r.get(0))
                .optional()?;
            // A cursor of nothing here (deleted, or from elsewhere) has nothing after it.
            match seq {
                Some(seq) => seq,
                None => return Ok(empty()),
            }
        }
    };
    let since = filter.since.map(to_ms);
    let until = filter.until.map(to_ms);
    if let Some(until) = until {
        before_seq = before_seq.min(first_seq_at(conn, webhook, until, next_seq)?);
    }
    let from_seq = match since {
        Some(since) => first_seq_at(conn, webhook, since, next_seq)?,
        None => 0,
    };
    if from_seq >= before_seq {
        return Ok(empty());
    }
    let rows = conn
        .prepare_cached(&activity_log_sql(filter.status))?
        .query_map(
            params![
                webhook.as_str(),
                workspace.as_str(),
                from_seq,
                before_seq,
                filter.status.map(|s| s.as_str()),
                filter.event_type,
                since.unwrap_or(i64::MIN),
                until.unwrap_or(i64::MAX),
                page.fetch_limit()
            ],
            delivery_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page.cut(rows, |d| d.id.to_string()))
}

fn empty<T>() -> Page<T> {
    Page {
        data: Vec::new(),
        next_cursor: None,
    }
}

/// Newest first by `(created_at, id)`: the index's order, so a page is one range read
/// whatever the time filter. The row-value bound is the smaller of the cursor's position
/// and `until`.
fn event_log_sql() -> String {
    format!(
        "SELECT {EVENT_COLUMNS} FROM events INDEXED BY events_by_workspace
         WHERE workspace_id = ?1 AND (created_at, id) < (?2, ?3) AND created_at >= ?4
           AND (?5 IS NULL OR type = ?5)
         ORDER BY created_at DESC, id DESC LIMIT ?6"
    )
}

pub(super) fn list_events(
    conn: &Connection,
    workspace: &WorkspaceId,
    filter: &EventFilter,
    page: &PageRequest,
) -> Result<Page<Event>> {
    // Every id sorts after "", so (t, "") bounds "created before t".
    let mut upper = (filter.until.map_or(i64::MAX, to_ms), String::new());
    if let Some(cursor) = &page.cursor {
        let at: Option<i64> = conn
            .prepare_cached("SELECT created_at FROM events WHERE id = ?1 AND workspace_id = ?2")?
            .query_row([cursor.as_str(), workspace.as_str()], |r| r.get(0))
            .optional()?;
        match at {
            Some(at) => upper = upper.min((at, cursor.clone())),
            None => return Ok(empty()),
        }
    }
    let rows = conn
        .prepare_cached(&event_log_sql())?
        .query_map(
            params![
                workspace.as_str(),
                upper.0,
                upper.1,
                filter.since.map_or(i64::MIN, to_ms),
                filter.event_type,
                page.fetch_limit()
            ],
            event_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(page.cut(rows, |e| e.id.to_string()))
}

fn event_deliveries_sql() -> String {
    format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries INDEXED BY deliveries_by_event
         WHERE event_id = ?1 AND workspace_id = ?2 ORDER BY webhook_id"
    )
}

pub(super) fn list_event_deliveries(
    conn: &Connection,
    workspace: &WorkspaceId,
    event: &EventId,
) -> Result<Vec<Delivery>> {
    conn.prepare_cached("SELECT 1 FROM events WHERE id = ?1 AND workspace_id = ?2")?
        .query_row([event.as_str(), workspace.as_str()], |_| Ok(()))?;
    Ok(conn
        .prepare_cached(&event_deliveries_sql())?
        .query_map([event.as_str(), workspace.as_str()], delivery_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

fn retry_sql() -> String {
    format!(
        "UPDATE deliveries
         SET status = 'pending', next_attempt_at = ?1, open_since = ?1, updated_at = ?1
         WHERE id = ?2 AND workspace_id = ?3
         RETURNING {DELIVERY_COLUMNS}"
    )
}

/// Re-opens one delivery (see the module's invariants).
pub(super) fn retry_delivery(
    conn: &Connection,
    workspace: &WorkspaceId,
    id: &DeliveryId,
) -> Result<Delivery> {
    Ok(conn.prepare_cached(&retry_sql())?.query_row(
        params![now_ms(), id.as_str(), workspace.as_str()],
        delivery_row,
    )?)
}

/// The replay's update: a range of the table's key, the exact conditions on top.
const REPLAY: &str = "UPDATE deliveries
     SET status = 'pending', next_attempt_at = ?1, open_since = ?1, updated_at = ?1
     WHERE webhook_id = ?2 AND workspace_id = ?3 AND seq >= ?4 AND seq < ?5
       AND created_at >= ?6 AND created_at < ?7 AND (?8 IS NULL OR status = ?8)";

/// The `seq` range `[from, to)` a replay covers: the time range mapped like the activity
/// log's (the exact conditions are applied again by [`replay_chunk`]).
pub(super) fn replay_bounds(
    conn: &Connection,
    workspace: &WorkspaceId,
    webhook: &WebhookId,
    filter: &ReplayFilter,
) -> Result<(i64, i64)> {
    let next_seq = next_seq(conn, workspace, webhook)?;
    let from = first_seq_at(conn, webhook, to_ms(filter.since), next_seq)?;
    let to = match filter.until {
        Some(until) => first_seq_at(conn, webhook, to_ms(until), next_seq)?,
        None => next_seq,
    };
    Ok((from, to))
}

/// Re-opens, as of `now_ms`, the deliveries of `[from, to)` that `filter` selects; how
/// many.
pub(super) fn replay_chunk(
    conn: &Connection,
    workspace: &WorkspaceId,
    webhook: &WebhookId,
    filter: &ReplayFilter,
    (from, to): (i64, i64),
    now_ms: i64,
) -> Result<u64> {
    let changed = conn.prepare_cached(REPLAY)?.execute(params![
        now_ms,
        webhook.as_str(),
        workspace.as_str(),
        from,
        to,
        to_ms(filter.since),
        filter.until.map_or(i64::MAX, to_ms),
        filter.status.map(|s| s.as_str())
    ])?;
    Ok(changed as u64)
}

/// The plan SQLite chooses for `sql` (unbound parameters are NULL, which is all a plan
/// needs), one line per step.
pub(super) fn explain(conn: &Connection, sql: &str) -> Result<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let mut rows = stmt.raw_query();
    let mut lines = Vec::new();
    while let Some(row) = rows.next()? {
        lines.push(row.get::<_, String>(3)?);
    }
    Ok(lines.join("\n"))
}

/// The plans of the activity log's, stats' and retention's statements, by name (for
/// measurements on big files; the tests below pin the important parts).
pub(super) fn query_plans(conn: &Connection) -> Result<Vec<(&'static str, String)>> {
    use super::{retention, stats};
    let statements: [(&'static str, String); 14] = [
        ("deliveries list", activity_log_sql(None)),
        (
            "deliveries list, status=failed",
            activity_log_sql(Some(DeliveryStatus::Failed)),
        ),
        (
            "deliveries list, status=expired",
            activity_log_sql(Some(DeliveryStatus::Expired)),
        ),
        ("time bound probe", FIRST_ROW_FROM.to_owned()),
        ("events list", event_log_sql()),
        ("event deliveries", event_deliveries_sql()),
        ("retry", retry_sql()),
        ("replay", REPLAY.to_owned()),
        ("stats histogram", stats::HISTOGRAM.to_owned()),
        ("prune attempts", retention::OLD_ATTEMPTS.to_owned()),
        ("prune deliveries", retention::OLD_DELIVERIES.to_owned()),
        ("prune events", retention::OLD_EVENTS.to_owned()),
        ("prune idempotency keys", retention::OLD_KEYS.to_owned()),
        (
            "delivery attempts",
            "SELECT * FROM attempts WHERE delivery_id = ?1 ORDER BY attempted_at, id".to_owned(),
        ),
    ];
    statements
        .into_iter()
        .map(|(name, sql)| Ok((name, explain(conn, &sql)?)))
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use rusqlite::Connection;

    pub(crate) fn plan(conn: &Connection, sql: &str) -> String {
        super::explain(conn, sql).unwrap()
    }

    /// The activity log reads ranges of an index in its order: no scan, no sort, however
    /// long the history.
    #[test]
    fn activity_queries_use_their_indexes() {
        use super::*;
        let dir = tempfile::TempDir::new().unwrap();
        let conn = super::super::schema::open_writer(&dir.path().join("x.db")).unwrap();
        let all = plan(&conn, &activity_log_sql(None));
        assert!(
            all.contains("USING PRIMARY KEY (webhook_id=? AND seq>? AND seq<?)")
                && !all.contains("TEMP B-TREE"),
            "{all}"
        );
        let failed = plan(&conn, &activity_log_sql(Some(DeliveryStatus::Failed)));
        assert!(
            failed.contains("USING INDEX deliveries_open") && !failed.contains("TEMP B-TREE"),
            "{failed}"
        );
        let expired = plan(&conn, &activity_log_sql(Some(DeliveryStatus::Expired)));
        assert!(
            expired.contains("USING INDEX deliveries_expired") && !expired.contains("TEMP B-TREE"),
            "{expired}"
        );
        let probe = plan(&conn, FIRST_ROW_FROM);
        assert!(
            probe.contains("USING PRIMARY KEY (webhook_id=? AND seq>?)"),
            "{probe}"
        );
        let events = plan(&conn, &event_log_sql());
        assert!(
            events.contains("USING INDEX events_by_workspace (workspace_id=? AND")
                && !events.contains("TEMP B-TREE"),
            "{events}"
        );
        let replay = plan(&conn, REPLAY);
        assert!(
            replay.contains("USING PRIMARY KEY (webhook_id=? AND seq>? AND seq<?)"),
            "{replay}"
        );
    }
}
