//! Reading deliveries (PostgreSQL): the lanes' view (which lanes have work, a lane's
//! window) and one delivery with its attempts. (Lists, re-sends and stats live in
//! [`super::activity`] and [`super::stats`].)
//!
//! Invariants:
//! - Open means `pending` or `failed`; queries on open deliveries spell
//!   `status IN ('pending', 'failed')` exactly like the partial index `deliveries_open`,
//!   so the planner can use it.
//! - A lane's expiry counts from `open_since` when a delivery was re-opened by hand, else
//!   from its event's publication.
//! - A lane window never shows a gap that a later read fills: seqs are assigned under the
//!   endpoint's row lock, held until commit (see `publish`), so what a read sees of one
//!   endpoint is always a prefix of its seqs.
//! - `get_delivery` filters by workspace id and reads one snapshot.

use std::sync::Arc;

use deadpool_postgres::GenericClient;
use domain::{DeliveryId, WebhookId, WorkspaceId};
use tokio_postgres::{IsolationLevel, Row};

use super::rows::{collect, now, parse, parse_opt, unsigned, unsigned_opt};
use crate::{Attempt, Delivery, DueDelivery, RecordedHeaders, Result, StoreError};

pub(super) const DELIVERY_COLUMNS: &str = "id, event_id, webhook_id, event_type, status, attempts, last_status_code, \
     last_response_ms, last_error, next_attempt_at, created_at, updated_at";

pub(super) fn delivery_row(row: &Row) -> Result<Delivery> {
    Ok(Delivery {
        id: parse(row, 0)?,
        event_id: parse(row, 1)?,
        webhook_id: parse(row, 2)?,
        event_type: row.try_get(3)?,
        status: parse(row, 4)?,
        attempts: unsigned::<u32, i32>(row, 5)?,
        last_status_code: unsigned_opt::<u16, i32>(row, 6)?,
        last_response_ms: unsigned_opt::<u32, i64>(row, 7)?,
        last_error: row.try_get(8)?,
        next_attempt_at: row.try_get(9)?,
        created_at: row.try_get(10)?,
        updated_at: row.try_get(11)?,
    })
}

const ATTEMPT_COLUMNS: &str = "id, delivery_id, attempted_at, status_code, response_ms, error_class, error_message, response_body, request_headers, response_headers";

fn attempt_row(row: &Row) -> Result<Attempt> {
    Ok(Attempt {
        id: parse(row, 0)?,
        delivery_id: parse(row, 1)?,
        attempted_at: row.try_get(2)?,
        status_code: unsigned_opt::<u16, i32>(row, 3)?,
        response_ms: unsigned::<u32, i64>(row, 4)?,
        error_class: parse_opt(row, 5)?,
        error_message: row.try_get(6)?,
        response_body: row.try_get(7)?,
        request_headers: RecordedHeaders::from_json(row.try_get::<_, Option<&str>>(8)?),
        response_headers: RecordedHeaders::from_json(row.try_get::<_, Option<&str>>(9)?),
    })
}

/// Several statements that must agree run in one read-only snapshot.
pub(super) async fn snapshot(
    client: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>> {
    Ok(client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

pub(super) async fn get_delivery(
    client: &mut deadpool_postgres::Client,
    workspace: &WorkspaceId,
    id: &DeliveryId,
) -> Result<(Delivery, Vec<Attempt>)> {
    let tx = snapshot(client).await?;
    let sql =
        format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1 AND workspace_id = $2");
    let one = tx.prepare_cached(&sql).await?;
    let row = tx
        .query_opt(&one, &[&id.as_str(), &workspace.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    let delivery = delivery_row(&row)?;
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = $1 ORDER BY attempted_at, id"
    );
    let attempts = tx.prepare_cached(&sql).await?;
    let rows = tx.query(&attempts, &[&id.as_str()]).await?;
    tx.commit().await?;
    Ok((delivery, collect(&rows, attempt_row)?))
}

pub(super) const LANES_WITH_WORK: &str = "SELECT w.id FROM webhooks w
     WHERE EXISTS (SELECT 1 FROM deliveries d
                   WHERE d.webhook_id = w.id AND d.status IN ('pending', 'failed'))
     ORDER BY w.id";

/// Webhooks with open deliveries, enabled or not (as on SQLite): one probe of the partial
/// index per webhook instead of a scan of every open delivery.
pub(super) async fn lanes_with_work(client: &impl GenericClient) -> Result<Vec<WebhookId>> {
    let statement = client.prepare_cached(LANES_WITH_WORK).await?;
    let rows = client.query(&statement, &[]).await?;
    collect(&rows, |row| parse(row, 0))
}

pub(super) const LANE_WINDOW: &str =
    "SELECT d.id, d.event_id, d.event_type, d.seq, d.attempts, d.next_attempt_at,
            COALESCE(d.open_since, e.created_at), e.body
     FROM deliveries d JOIN events e ON e.id = d.event_id
     WHERE d.webhook_id = $1 AND d.seq > $2 AND d.status IN ('pending', 'failed')
     ORDER BY d.seq LIMIT $3";

/// Up to `limit` open deliveries of `webhook` after `after_seq`, in seq order, with bodies.
pub(super) async fn lane_window(
    client: &impl GenericClient,
    webhook: &WebhookId,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<DueDelivery>> {
    let statement = client.prepare_cached(LANE_WINDOW).await?;
    let rows = client
        .query(
            &statement,
            &[&webhook.as_str(), &after_seq, &i64::from(limit)],
        )
        .await?;
    collect(&rows, |row| {
        Ok(DueDelivery {
            id: parse(row, 0)?,
            event_id: parse(row, 1)?,
            event_type: row.try_get(2)?,
            seq: row.try_get(3)?,
            attempts: unsigned::<u32, i32>(row, 4)?,
            // Open deliveries always carry one; were it missing, "due now" is safe.
            next_attempt_at: row.try_get::<_, Option<_>>(5)?.unwrap_or_else(now),
            event_created_at: row.try_get(6)?,
            body: Arc::from(row.try_get::<_, &[u8]>(7)?),
        })
    })
}
