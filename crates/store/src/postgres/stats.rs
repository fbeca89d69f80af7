//! An endpoint's stats over a time window (PostgreSQL), computed by the server from the
//! index `attempts_by_webhook (webhook_id, attempted_at) INCLUDE (response_ms,
//! error_class)`.
//!
//! Invariants (the SQLite backend's):
//! - No attempt row leaves the server: counts are one aggregate over the window's range of
//!   the index, and the three percentiles one ranked read of the same range.
//! - Percentiles are nearest-rank: p is the value at rank ⌈p·n/100⌉ (1-based) of the
//!   window's attempts sorted by response time, so it is always a response time that
//!   occurred. Ranks are computed here in integers (`percentile_disc` would compute them
//!   in floating point).
//! - Counts and percentiles are read in one snapshot, so they agree.

use chrono::{DateTime, Utc};
use domain::{WebhookId, WorkspaceId};

use super::deliveries::snapshot;
use super::rows::unsigned;
use crate::{Result, StoreError, WebhookStats};

/// An attempt succeeded exactly when it recorded no error class (a 2xx in time).
pub(super) const COUNTS: &str = "SELECT count(*), count(*) FILTER (WHERE error_class IS NULL)
     FROM attempts WHERE webhook_id = $1 AND attempted_at >= $2";

/// The response times at the given 1-based ranks.
pub(super) const RANKED: &str = "SELECT rank, response_ms FROM (
         SELECT row_number() OVER (ORDER BY response_ms) AS rank, response_ms
         FROM attempts WHERE webhook_id = $1 AND attempted_at >= $2
     ) AS ranked
     WHERE rank = ANY($3::int8[])";

/// The 1-based nearest rank of the `percent`-th percentile among `n` values.
fn nearest_rank(percent: u64, n: u64) -> u64 {
    (percent * n).div_ceil(100).max(1)
}

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
    let row = tx.query_one(&counts, &[&webhook.as_str(), &since]).await?;
    let (attempts, successes): (u64, u64) = (
        unsigned::<u64, i64>(&row, 0)?,
        unsigned::<u64, i64>(&row, 1)?,
    );
    let mut percentiles = [None; 3];
    if attempts > 0 {
        let ranks: Vec<i64> = [50, 95, 99]
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
    let [p50_ms, p95_ms, p99_ms] = percentiles;
    Ok(WebhookStats {
        since,
        attempts,
        successes,
        failures: attempts - successes,
        p50_ms,
        p95_ms,
        p99_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_is_the_ceiling_of_the_share() {
        // 1..=10: p50 is the 5th value, p95 and p99 the 10th.
        assert_eq!(nearest_rank(50, 10), 5);
        assert_eq!(nearest_rank(95, 10), 10);
        assert_eq!(nearest_rank(99, 10), 10);
        assert_eq!(nearest_rank(50, 1), 1);
        assert_eq!(nearest_rank(99, 1000), 990);
        assert_eq!(nearest_rank(95, 200), 190);
    }
}
