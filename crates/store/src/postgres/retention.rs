//! Log retention (PostgreSQL): one bounded pass of deletions per call, in one
//! transaction.
//!
//! Invariants (the SQLite backend's):
//! - At most `batch` rows of each kind go per call; the caller pauses between passes.
//! - Open deliveries are never deleted, whatever their age; a closed one goes only once
//!   its last change (`updated_at`) is older than the cutoff, so a delivery re-sent by
//!   hand keeps its log for a whole retention period after the re-send. The conditions
//!   are repeated on the row being deleted, so a delivery re-opened while the pass runs
//!   is re-checked (READ COMMITTED re-evaluates them on the newest row version) and kept.
//! - An event goes only once no delivery refers to it, so `GET /v1/deliveries/{id}` never
//!   shows a delivery whose event is gone.
//! - Every statement reads a range of an index bounded by the cutoff: attempts per
//!   endpoint by `attempts_by_webhook`, closed deliveries by `deliveries_closed_by_age`,
//!   events per workspace by `events_by_workspace`, keys by `idempotency_keys_by_age`.
//! - An event goes only once every enabled endpoint of its workspace has taken it up (a
//!   disabled endpoint's cursor does not hold the log back: enabling moves it on).

use chrono::{DateTime, Utc};

use super::rows::now;
use crate::{PruneReport, Result};

/// Old attempts, a bounded number per endpoint, up to `$2` in all.
pub(super) const OLD_ATTEMPTS: &str = "DELETE FROM attempts a USING (
         SELECT o.delivery_id, o.id FROM webhooks w
         CROSS JOIN LATERAL (
             SELECT delivery_id, id FROM attempts
             WHERE webhook_id = w.id AND attempted_at < $1 LIMIT $2
         ) AS o
         LIMIT $2
     ) AS old
     WHERE a.delivery_id = old.delivery_id AND a.id = old.id";

/// Their attempts go with them (ON DELETE CASCADE), uncounted, as on SQLite.
pub(super) const OLD_DELIVERIES: &str = "DELETE FROM deliveries d USING (
         SELECT webhook_id, seq FROM deliveries
         WHERE status IN ('delivered', 'expired') AND updated_at < $1
         ORDER BY updated_at LIMIT $2
     ) AS old
     WHERE d.webhook_id = old.webhook_id AND d.seq = old.seq
       AND d.status IN ('delivered', 'expired') AND d.updated_at < $1";

pub(super) const OLD_EVENTS: &str = "DELETE FROM events e USING (
         SELECT o.id FROM workspaces w
         CROSS JOIN LATERAL (
             SELECT id FROM events
             WHERE workspace_id = w.id AND created_at < $1
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)
               AND NOT EXISTS (SELECT 1 FROM webhooks h
                               WHERE h.workspace_id = w.id AND h.enabled
                                 AND (h.log_xact, h.log_pos) < (events.xact, events.pos))
             ORDER BY created_at LIMIT $2
         ) AS o
         LIMIT $2
     ) AS old
     WHERE e.id = old.id
       AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)";

pub(super) const OLD_KEYS: &str = "DELETE FROM idempotency_keys k USING (
         SELECT workspace_id, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2
     ) AS old
     WHERE k.workspace_id = old.workspace_id AND k.key = old.key AND k.created_at < $1";

pub(super) async fn prune(
    client: &mut deadpool_postgres::Client,
    older_than: DateTime<Utc>,
    batch: u32,
) -> Result<PruneReport> {
    let limit = i64::from(batch.max(1));
    let tx = client.transaction().await?;
    let mut deleted = [0u64; 4];
    let key_cutoff = now() - super::publish::IDEMPOTENCY_WINDOW;
    for (i, (sql, cutoff)) in [
        (OLD_ATTEMPTS, older_than),
        (OLD_DELIVERIES, older_than),
        (OLD_EVENTS, older_than),
        (OLD_KEYS, key_cutoff),
    ]
    .into_iter()
    .enumerate()
    {
        let statement = tx.prepare_cached(sql).await?;
        deleted[i] = tx.execute(&statement, &[&cutoff, &limit]).await?;
    }
    tx.commit().await?;
    let [attempts, deliveries, events, idempotency_keys] = deleted;
    Ok(PruneReport {
        attempts,
        deliveries,
        events,
        idempotency_keys,
        more: deleted.contains(&(limit as u64)),
    })
}
