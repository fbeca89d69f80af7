//! Lane leases (PostgreSQL): which process works which endpoint's lane.
//!
//! A lease is a row of `lane_leases` (webhook, owner, expiry). Its owner renews it; once
//! it has expired anyone may take it over, which is how the lanes of a process that died
//! find a new home. Ownership, not row locks on deliveries, keeps order across processes
//! (DESIGN.md, "Several processes"); the attempt fence catches the one attempt a lane may
//! still have in flight when its lease moves.
//!
//! Invariants:
//! - Lease times are the database's clock (`now()`), never a process's: processes with
//!   skewed clocks still agree on who holds what.
//! - Claiming is one statement (`INSERT … ON CONFLICT DO UPDATE … WHERE expired OR mine`):
//!   two processes claiming one lane at once both go through the row's lock, and the
//!   second sees the first's live lease and gets nothing.
//! - A lease is taken, renewed or released only by the owner named, except a takeover
//!   of an expired one.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use domain::WebhookId;

use super::rows::{collect, parse};
use crate::Result;

/// The lease length as the seconds `interval` arithmetic takes.
fn seconds(lease: Duration) -> f64 {
    lease.as_secs_f64()
}

pub(super) const CLAIM_LANES: &str = "INSERT INTO lane_leases (webhook_id, owner, expires_at)
     SELECT w.id, $1, now() + $2::float8 * interval '1 second'
     FROM webhooks w
     WHERE w.enabled
       AND EXISTS (SELECT 1 FROM deliveries d
                   WHERE d.webhook_id = w.id AND d.status IN ('pending', 'failed'))
       AND NOT EXISTS (SELECT 1 FROM lane_leases l
                       WHERE l.webhook_id = w.id AND l.owner <> $1
                         AND l.expires_at >= now())
     ORDER BY w.id
     LIMIT $3
     ON CONFLICT (webhook_id) DO UPDATE
         SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
         WHERE lane_leases.expires_at < now() OR lane_leases.owner = EXCLUDED.owner
     RETURNING webhook_id";

/// Up to `limit` lanes of enabled endpoints with open deliveries, that no one else holds
/// a live lease on, leased to `owner`; includes (and renews) the ones it already held.
/// Disabled endpoints are left out: their lanes would only stop again (their backlog
/// waits until they are enabled, and enabling one wakes it).
pub(super) async fn claim_lanes(
    client: &impl GenericClient,
    owner: &str,
    lease: Duration,
    limit: u32,
) -> Result<Vec<WebhookId>> {
    let statement = client.prepare_cached(CLAIM_LANES).await?;
    let mut rows = client
        .query(&statement, &[&owner, &seconds(lease), &i64::from(limit)])
        .await?;
    rows.sort_by(|a, b| a.get::<_, &str>(0).cmp(b.get::<_, &str>(0)));
    collect(&rows, |row| parse(row, 0))
}

/// Leases one lane to `owner` unless someone else holds a live lease; whether `owner`
/// holds it now. `false` for an endpoint that does not exist (any more).
pub(super) async fn claim_lane(
    client: &impl GenericClient,
    owner: &str,
    webhook: &WebhookId,
    lease: Duration,
) -> Result<bool> {
    let statement = client
        .prepare_cached(
            "INSERT INTO lane_leases (webhook_id, owner, expires_at)
             SELECT w.id, $2, now() + $3::float8 * interval '1 second'
             FROM webhooks w WHERE w.id = $1
             ON CONFLICT (webhook_id) DO UPDATE
                 SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
                 WHERE lane_leases.expires_at < now() OR lane_leases.owner = EXCLUDED.owner
             RETURNING webhook_id",
        )
        .await?;
    let rows = client
        .query(&statement, &[&webhook.as_str(), &owner, &seconds(lease)])
        .await?;
    Ok(!rows.is_empty())
}

/// Extends `owner`'s leases on `lanes`; the lanes it still holds. A lease that expired
/// but was not taken over is still `owner`'s and is renewed.
pub(super) async fn renew_leases(
    client: &impl GenericClient,
    owner: &str,
    lanes: &[WebhookId],
    lease: Duration,
) -> Result<Vec<WebhookId>> {
    if lanes.is_empty() {
        return Ok(Vec::new());
    }
    let statement = client
        .prepare_cached(
            "UPDATE lane_leases SET expires_at = now() + $3::float8 * interval '1 second'
             WHERE owner = $1 AND webhook_id = ANY($2::text[])
             RETURNING webhook_id",
        )
        .await?;
    let ids: Vec<&str> = lanes.iter().map(WebhookId::as_str).collect();
    let mut rows = client
        .query(&statement, &[&owner, &ids, &seconds(lease)])
        .await?;
    rows.sort_by(|a, b| a.get::<_, &str>(0).cmp(b.get::<_, &str>(0)));
    collect(&rows, |row| parse(row, 0))
}

/// Gives up `owner`'s lease on a lane; nothing happens if someone else holds it.
pub(super) async fn release_lane(
    client: &impl GenericClient,
    owner: &str,
    webhook: &WebhookId,
) -> Result<()> {
    let statement = client
        .prepare_cached("DELETE FROM lane_leases WHERE webhook_id = $1 AND owner = $2")
        .await?;
    client
        .execute(&statement, &[&webhook.as_str(), &owner])
        .await?;
    Ok(())
}
