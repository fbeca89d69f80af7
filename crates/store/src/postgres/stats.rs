//! An endpoint's stats over a time window (PostgreSQL), computed by the server from the
//! index `attempts_by_webhook (webhook_id, attempted_at) INCLUDE (response_ms,
//! error_class, status_code)`.
//!
//! Invariants (the SQLite backend's):
//! - No attempt row leaves the server: counts are one aggregate over the window's range of
//!   the index, and the three percentiles one ranked read of the same range.
//! - Percentiles are nearest-rank ([`crate::stats`]): ranks are computed in integers and
//!   sent (`percentile_disc` would compute them in floating point).
//! - Counts and percentiles are read in one snapshot, so they agree.

use chrono::{DateTime, Utc};
use domain::{WebhookId, WorkspaceId};

use super::deliveries::snapshot;
use super::rows::unsigned;
use crate::stats::{PERCENTILES, THROTTLING_STATUSES, nearest_rank};
use crate::{Result, StoreError, WebhookStats};

/// An attempt succeeded exactly when it recorded no error class (a 2xx in time); it was
/// throttled when its status is one of `$3` ([`THROTTLING_STATUSES`]).
pub(super) const COUNTS: &str = "SELECT count(*), count(*) FILTER (WHERE error_class IS NULL),
            count(*) FILTER (WHERE status_code = ANY($3::int4[]))
     FROM attempts WHERE webhook_id = $1 AND attempted_at >= $2";

/// The response times at the given 1-based ranks.
pub(super) const RANKED: &str = "SELECT rank, response_ms FROM (
         SELECT row_number() OVER (ORDER BY response_ms) AS rank, response_ms
         FROM attempts WHERE webhook_id = $1 AND attempted_at >= $2
     ) AS ranked
     WHERE rank = ANY($3::int8[])";

pub(super) async fn webhook_stats(
    client: &mut deadpool_postgres::Client,
    workspace: &WorkspaceId,
    webhook: &WebhookId,
    since: DateTime<Utc>,
) -> Result<WebhookStats> {
    let tx = snapshot(client).await?;
    let owned = tx
        .prepare_cached("SELECT 1 FROM webhooks WHERE id = $1 AND workspace_id = $2")
        .await?;
    tx.query_opt(&owned, &[&webhook.as_str(), &workspace.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    let counts = tx.prepare_cached(COUNTS).await?;
    let throttling: Vec<i32> = THROTTLING_STATUSES.map(i32::from).to_vec();
    let row = tx
        .query_one(&counts, &[&webhook.as_str(), &since, &throttling])
        .await?;
    let (attempts, successes, throttled): (u64, u64, u64) = (
        unsigned::<u64, i64>(&row, 0)?,
        unsigned::<u64, i64>(&row, 1)?,
        unsigned::<u64, i64>(&row, 2)?,
    );
    let mut percentiles = [None; 3];
    if attempts > 0 {
        let ranks: Vec<i64> = PERCENTILES
            .iter()
            .map(|p| nearest_rank(*p, attempts) as i64)
            .collect();
        let ranked = tx.prepare_cached(RANKED).await?;
        let rows = tx
            .query(&ranked, &[&webhook.as_str(), &since, &ranks])
            .await?;
        for row in &rows {
            let (rank, value): (i64, u32) = (row.try_get(0)?, unsigned::<u32, i64>(row, 1)?);
            for (slot, wanted) in percentiles.iter_mut().zip(&ranks) {
                if *wanted == rank {
                    *slot = Some(value);
                }
            }
        }
    }
    tx.commit().await?;
    Ok(WebhookStats::from_counts(
        since,
        attempts,
        successes,
        throttled,
        percentiles,
    ))
}
