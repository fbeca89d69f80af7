//! The activity log and manual re-sends (PostgreSQL): an endpoint's deliveries filtered by
//! status, type and time (newest first), the workspace's events, one event's deliveries,
//! and re-opening deliveries (retry, replay).
//!
//! Invariants (the SQLite backend's):
//! - Every call filters by workspace id, so another workspace's ids are `NotFound`.
//! - The delivery log pages by `seq`, newest first, with a delivery id as cursor. Per
//!   endpoint, seq order is commit order across every process, while ids and creation
//!   times are only ordered within one process.
//! - Time filters are applied to each row exactly (`created_at` in `[since, until)`). The
//!   SQLite backend first narrows them to a seq range, which relies on `created_at`
//!   growing with `seq`; with several processes (several clocks) that does not hold, so
//!   here they stay row conditions on the endpoint's key range.
//! - Re-opening sets `pending`, `next_attempt_at` = `open_since` = now and keeps `seq`,
//!   `attempts` and the recorded history, so the delivery takes its original place in the
//!   endpoint's order and the attempt fence still holds. It also notifies
//!   `admin_webhooks_wake`, so the lane wakes in whichever process works it.
//! - Status filters on open or expired deliveries are spelled like their partial indexes'
//!   predicates, so a generic plan can still use them.

use deadpool_postgres::GenericClient;
use domain::{DeliveryId, DeliveryStatus, EventId, WebhookId, WorkspaceId};

use super::deliveries::{DELIVERY_COLUMNS, delivery_row, snapshot};
use super::publish::{EVENT_COLUMNS, event_row};
use super::rows::{collect, now};
use super::{RESYNC_PREFIX, WAKE_CHANNEL};
use crate::{
    Delivery, DeliveryFilter, Event, EventFilter, Page, PageRequest, ReplayFilter, Result,
    StoreError,
};

fn empty<T>() -> Page<T> {
    Page {
        data: Vec::new(),
        next_cursor: None,
    }
}

/// Where a page cursor (a delivery id) stands in its endpoint's log, and which endpoint
/// it belongs to. By id alone: with the endpoint in the condition, the planner of a fresh
/// database may walk the endpoint's whole history instead.
pub(super) const CURSOR_SEQ: &str = "SELECT seq, webhook_id FROM deliveries WHERE id = $1";

/// The activity log's query, with the status condition its partial index needs.
pub(super) fn delivery_log_sql(status: Option<DeliveryStatus>) -> String {
    let condition = match status {
        Some(DeliveryStatus::Pending | DeliveryStatus::Failed) => {
            "AND status IN ('pending', 'failed')"
        }
        Some(DeliveryStatus::Expired) => "AND status = 'expired'",
        Some(DeliveryStatus::Delivered) | None => "",
    };
    format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries
         WHERE webhook_id = $1 AND workspace_id = $2 AND seq < $3 {condition}
           AND ($4::text IS NULL OR status = $4) AND ($5::text IS NULL OR event_type = $5)
           AND ($6::timestamptz IS NULL OR created_at >= $6)
           AND ($7::timestamptz IS NULL OR created_at < $7)
         ORDER BY seq DESC LIMIT $8"
    )
}

/// One page of a webhook's deliveries, newest (highest seq) first.
pub(super) async fn list_deliveries(
    client: &mut deadpool_postgres::Client,
    workspace: &WorkspaceId,
    webhook: &WebhookId,
    filter: &DeliveryFilter,
    page: &PageRequest,
) -> Result<Page<Delivery>> {
    let tx = snapshot(client).await?;
    let owned = tx
        .prepare_cached("SELECT 1 FROM webhooks WHERE id = $1 AND workspace_id = $2")
        .await?;
    tx.query_opt(&owned, &[&webhook.as_str(), &workspace.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    let before_seq = match &page.cursor {
        None => i64::MAX,
        Some(cursor) => {
            let find = tx.prepare_cached(CURSOR_SEQ).await?;
            // A cursor of nothing here (deleted, or from elsewhere) has nothing after it.
            match tx.query_opt(&find, &[&cursor.as_str()]).await? {
                Some(row) if row.try_get::<_, &str>(1)? == webhook.as_str() => {
                    row.try_get::<_, i64>(0)?
                }
                _ => return Ok(empty()),
            }
        }
    };
    let list = tx.prepare_cached(&delivery_log_sql(filter.status)).await?;
    let rows = tx
        .query(
            &list,
            &[
                &webhook.as_str(),
                &workspace.as_str(),
                &before_seq,
                &filter.status.map(|s| s.as_str()),
                &filter.event_type,
                &filter.since,
                &filter.until,
                &page.fetch_limit(),
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(page.cut(collect(&rows, delivery_row)?, |d| d.id.to_string()))
}

/// Newest first by `(created_at, id)`, the index's order. The upper bound is the smaller
/// of the cursor's position and `(until, "")` (every id sorts after "").
pub(super) fn event_log_sql() -> String {
    format!(
        "SELECT {EVENT_COLUMNS} FROM events e
         WHERE e.workspace_id = $1
           AND ($2::timestamptz IS NULL OR (e.created_at, e.id) < ($2, $3::text))
           AND ($4::timestamptz IS NULL OR e.created_at >= $4)
           AND ($5::text IS NULL OR e.type = $5)
         ORDER BY e.created_at DESC, e.id DESC LIMIT $6"
    )
}

pub(super) async fn list_events(
    client: &mut deadpool_postgres::Client,
    workspace: &WorkspaceId,
    filter: &EventFilter,
    page: &PageRequest,
) -> Result<Page<Event>> {
    let tx = snapshot(client).await?;
    let mut upper = filter.until.map(|until| (until, String::new()));
    if let Some(cursor) = &page.cursor {
        let find = tx
            .prepare_cached("SELECT created_at FROM events WHERE id = $1 AND workspace_id = $2")
            .await?;
        match tx
            .query_opt(&find, &[&cursor.as_str(), &workspace.as_str()])
            .await?
        {
            Some(row) => {
                let at = (row.try_get(0)?, cursor.clone());
                upper = Some(upper.map_or(at.clone(), |u| u.min(at)));
            }
            None => return Ok(empty()),
        }
    }
    let (upper_at, upper_id) = upper.unzip();
    let list = tx.prepare_cached(&event_log_sql()).await?;
    let rows = tx
        .query(
            &list,
            &[
                &workspace.as_str(),
                &upper_at,
                &upper_id,
                &filter.since,
                &filter.event_type,
                &page.fetch_limit(),
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(page.cut(collect(&rows, |row| event_row(row, 0))?, |e| {
        e.id.to_string()
    }))
}

pub(super) async fn list_event_deliveries(
    client: &mut deadpool_postgres::Client,
    workspace: &WorkspaceId,
    event: &EventId,
) -> Result<Vec<Delivery>> {
    let tx = snapshot(client).await?;
    let exists = tx
        .prepare_cached("SELECT 1 FROM events WHERE id = $1 AND workspace_id = $2")
        .await?;
    tx.query_opt(&exists, &[&event.as_str(), &workspace.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries
         WHERE event_id = $1 AND workspace_id = $2 ORDER BY webhook_id"
    );
    let list = tx.prepare_cached(&sql).await?;
    let rows = tx
        .query(&list, &[&event.as_str(), &workspace.as_str()])
        .await?;
    tx.commit().await?;
    collect(&rows, delivery_row)
}

/// Re-opens one delivery (see the module's invariants).
pub(super) async fn retry_delivery(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    id: &DeliveryId,
) -> Result<Delivery> {
    let sql = format!(
        "WITH reopened AS (
             UPDATE deliveries
             SET status = 'pending', next_attempt_at = $1, open_since = $1, updated_at = $1
             WHERE id = $2 AND workspace_id = $3
             RETURNING {DELIVERY_COLUMNS}
         ), woken AS (
             SELECT pg_notify('{WAKE_CHANNEL}', '{RESYNC_PREFIX}' || webhook_id) FROM reopened
         )
         SELECT {DELIVERY_COLUMNS} FROM reopened, (SELECT count(*) FROM woken) AS w"
    );
    let statement = client.prepare_cached(&sql).await?;
    let row = client
        .query_opt(&statement, &[&now(), &id.as_str(), &workspace.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    delivery_row(&row)
}

/// Re-opens every delivery of one endpoint that `filter` selects; how many.
pub(super) async fn replay_deliveries(
    client: &mut deadpool_postgres::Client,
    workspace: &WorkspaceId,
    webhook: &WebhookId,
    filter: &ReplayFilter,
) -> Result<u64> {
    let tx = client.transaction().await?;
    let owned = tx
        .prepare_cached("SELECT 1 FROM webhooks WHERE id = $1 AND workspace_id = $2")
        .await?;
    tx.query_opt(&owned, &[&webhook.as_str(), &workspace.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    let replay = tx
        .prepare_cached(
            "UPDATE deliveries
             SET status = 'pending', next_attempt_at = $1, open_since = $1, updated_at = $1
             WHERE webhook_id = $2 AND workspace_id = $3
               AND created_at >= $4 AND ($5::timestamptz IS NULL OR created_at < $5)
               AND ($6::text IS NULL OR status = $6)",
        )
        .await?;
    let changed = tx
        .execute(
            &replay,
            &[
                &now(),
                &webhook.as_str(),
                &workspace.as_str(),
                &filter.since,
                &filter.until,
                &filter.status.map(|s| s.as_str()),
            ],
        )
        .await?;
    if changed > 0 {
        let wake = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
        let payload = format!("{RESYNC_PREFIX}{webhook}");
        tx.execute(&wake, &[&WAKE_CHANNEL, &payload]).await?;
    }
    tx.commit().await?;
    Ok(changed)
}
