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
//! - Percentiles rank only the attempts that got an answer (a status code).
//! - The series ([`crate::series`]) is one statement over the same range of the index:
//!   counts per bucket, and the nearest ranks picked per bucket by `row_number()` with
//!   ranks computed in integers in the statement, the same rule as above (not
//!   `percentile_cont`, which interpolates times that never occurred, nor
//!   `percentile_disc`, which ranks in floating point), so both backends answer the same.

use chrono::{DateTime, Utc};
use domain::{WebhookId, WorkspaceId};

use super::deliveries::snapshot;
use super::rows::{collect, unsigned, unsigned_opt};
use crate::series::{BucketCounts, fill};
use crate::stats::{PERCENTILES, THROTTLING_STATUSES, nearest_rank};
use crate::{Result, SeriesSpec, StatsBucket, StoreError, WebhookStats};

/// An attempt succeeded exactly when it recorded no error class (a 2xx in time); it was
/// throttled when its status is one of `$3` ([`THROTTLING_STATUSES`]).
pub(super) const COUNTS: &str = "SELECT count(*), count(*) FILTER (WHERE error_class IS NULL),
            count(*) FILTER (WHERE status_code = ANY($3::int4[])), count(status_code)
     FROM attempts WHERE webhook_id = $1 AND attempted_at >= $2";

/// The response times at the given 1-based ranks, among the attempts that got an answer.
pub(super) const RANKED: &str = "SELECT rank, response_ms FROM (
         SELECT row_number() OVER (ORDER BY response_ms) AS rank, response_ms
         FROM attempts WHERE webhook_id = $1 AND attempted_at >= $2
           AND status_code IS NOT NULL
     ) AS ranked
     WHERE rank = ANY($3::int8[])";

/// The series: per bucket (`$3` ms wide from `$2` ms since the epoch, which is the time
/// `$5`, up to `$4`), the
/// attempts, successes and answered attempts, and the answered response times at the
/// nearest ranks ⌈50·n/100⌉ and ⌈95·n/100⌉ of the bucket's `n` answered attempts,
/// computed in integers. Stored times are whole milliseconds, so the bucket arithmetic
/// is exact.
pub(super) const SERIES: &str = "WITH windowed AS (
         SELECT ((extract(epoch FROM attempted_at) * 1000)::int8 - $2) / $3 AS bucket,
                response_ms, error_class, status_code
         FROM attempts
         WHERE webhook_id = $1 AND attempted_at >= $5 AND attempted_at < $4
     ), counted AS (
         SELECT bucket, count(*) AS attempts,
                count(*) FILTER (WHERE error_class IS NULL) AS successes,
                count(status_code) AS answered
         FROM windowed GROUP BY bucket
     ), ranked AS (
         SELECT bucket, response_ms,
                row_number() OVER (PARTITION BY bucket ORDER BY response_ms) AS rank
         FROM windowed WHERE status_code IS NOT NULL
     )
     SELECT c.bucket, c.attempts, c.successes, c.answered,
            max(r.response_ms) FILTER (WHERE r.rank = (50 * c.answered + 99) / 100),
            max(r.response_ms) FILTER (WHERE r.rank = (95 * c.answered + 99) / 100)
     FROM counted c
     LEFT JOIN ranked r ON r.bucket = c.bucket
         AND r.rank IN ((50 * c.answered + 99) / 100, (95 * c.answered + 99) / 100)
     GROUP BY c.bucket, c.attempts, c.successes, c.answered
     ORDER BY c.bucket";

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
    let (attempts, successes, throttled, responses): (u64, u64, u64, u64) = (
        unsigned::<u64, i64>(&row, 0)?,
        unsigned::<u64, i64>(&row, 1)?,
        unsigned::<u64, i64>(&row, 2)?,
        unsigned::<u64, i64>(&row, 3)?,
    );
    let mut percentiles = [None; 3];
    if responses > 0 {
        let ranks: Vec<i64> = PERCENTILES
            .iter()
            .map(|p| nearest_rank(*p, responses) as i64)
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
        responses,
        percentiles,
    ))
}

pub(super) async fn webhook_series(
    client: &mut deadpool_postgres::Client,
    workspace: &WorkspaceId,
    webhook: &WebhookId,
    spec: &SeriesSpec,
) -> Result<Vec<StatsBucket>> {
    let tx = snapshot(client).await?;
    let owned = tx
        .prepare_cached("SELECT 1 FROM webhooks WHERE id = $1 AND workspace_id = $2")
        .await?;
    tx.query_opt(&owned, &[&webhook.as_str(), &workspace.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    let series = tx.prepare_cached(SERIES).await?;
    let rows = tx
        .query(
            &series,
            &[
                &webhook.as_str(),
                &spec.start_ms(),
                &spec.width_ms(),
                &spec.end(),
                &spec.start,
            ],
        )
        .await?;
    tx.commit().await?;
    let counted = collect(&rows, |row| {
        Ok(BucketCounts {
            index: row.try_get(0)?,
            attempts: unsigned::<u64, i64>(row, 1)?,
            successes: unsigned::<u64, i64>(row, 2)?,
            answered: unsigned::<u64, i64>(row, 3)?,
            percentiles: [
                unsigned_opt::<u32, i64>(row, 4)?,
                unsigned_opt::<u32, i64>(row, 5)?,
            ],
        })
    })?;
    Ok(fill(spec, counted))
}
