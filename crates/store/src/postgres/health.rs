//! One endpoint's health now (PostgreSQL), and a delivery's place in its lane.
//!
//! Invariants (the SQLite backend's):
//! - One statement, so one snapshot: the head and the count from the partial index
//!   `deliveries_open`, the latest attempts and the run of failures from
//!   `attempts_by_webhook` read from its newest end (the backlog's reads in
//!   [`super::operations`], for one endpoint).

use deadpool_postgres::GenericClient;
use domain::{DeliveryId, WebhookId, WorkspaceId};

use super::rows::{parse_opt, unsigned, unsigned_opt};
use crate::{LaneHead, Result, StoreError, WebhookHealth};

const HEALTH: &str = "SELECT w.enabled,
            (SELECT count(*) FROM deliveries d
             WHERE d.webhook_id = w.id AND d.status IN ('pending', 'failed')),
            h.id, h.attempts, COALESCE(h.open_since, h.created_at), h.next_attempt_at,
            CASE WHEN la.failed THEN fa.first END,
            la.attempted_at, la.failed, ls.attempted_at
     FROM webhooks w
     LEFT JOIN LATERAL (SELECT d.id, d.attempts, d.open_since, d.created_at, d.next_attempt_at
                        FROM deliveries d
                        WHERE d.webhook_id = w.id AND d.status IN ('pending', 'failed')
                        ORDER BY d.seq LIMIT 1) h ON true
     LEFT JOIN LATERAL (SELECT a.error_class IS NOT NULL AS failed, a.attempted_at
                        FROM attempts a WHERE a.webhook_id = w.id
                        ORDER BY a.attempted_at DESC LIMIT 1) la ON true
     LEFT JOIN LATERAL (SELECT a.attempted_at FROM attempts a
                        WHERE a.webhook_id = w.id AND a.error_class IS NULL
                        ORDER BY a.attempted_at DESC LIMIT 1) ls ON true
     LEFT JOIN LATERAL (SELECT min(a.attempted_at) AS first FROM attempts a
                        WHERE a.webhook_id = w.id
                          AND a.attempted_at > COALESCE(ls.attempted_at, '-infinity')) fa
            ON la.failed
     WHERE w.id = $1 AND w.workspace_id = $2";

const AHEAD: &str = "SELECT d.status IN ('pending', 'failed'),
            (SELECT count(*) FROM deliveries o
             WHERE o.webhook_id = d.webhook_id AND o.status IN ('pending', 'failed')
               AND o.seq < d.seq)
     FROM deliveries d WHERE d.id = $1 AND d.workspace_id = $2";

pub(super) async fn webhook_health(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    webhook: &WebhookId,
) -> Result<WebhookHealth> {
    let statement = client.prepare_cached(HEALTH).await?;
    let row = client
        .query_opt(&statement, &[&webhook.as_str(), &workspace.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    let head = match parse_opt::<DeliveryId>(&row, 2)? {
        Some(id) => Some(LaneHead {
            id,
            attempts: unsigned::<u32, i32>(&row, 3)?,
            window_start: row.try_get(4)?,
            next_attempt_at: row.try_get(5)?,
        }),
        None => None,
    };
    let last_at: Option<chrono::DateTime<chrono::Utc>> = row.try_get(7)?;
    let last_failed: Option<bool> = row.try_get(8)?;
    Ok(WebhookHealth {
        enabled: row.try_get(0)?,
        waiting: unsigned_opt::<u64, i64>(&row, 1)?.unwrap_or(0),
        head,
        failing_since: row.try_get(6)?,
        last_attempt: last_at.map(|at| (at, !last_failed.unwrap_or(false))),
        last_success_at: row.try_get(9)?,
    })
}

pub(super) async fn deliveries_ahead(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    delivery: &DeliveryId,
) -> Result<u64> {
    let statement = client.prepare_cached(AHEAD).await?;
    let row = client
        .query_opt(&statement, &[&delivery.as_str(), &workspace.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    let open: bool = row.try_get(0)?;
    Ok(if open {
        unsigned::<u64, i64>(&row, 1)?
    } else {
        0
    })
}
