//! The upkeep of listener endpoints (`admin-webhooks listen`): listeners with a stream
//! connected to this process are marked seen, and listeners no process has seen for
//! `--listener-ttl` are removed with their backlog.
//!
//! Invariants:
//! - A listener connected to this process is never removed by it, and is marked seen
//!   more often than the TTL, so no other process sharing the store removes it either.
//! - Removal is the endpoint's deletion (its deliveries and log go with it, its lane
//!   stops), exactly as `DELETE /v1/webhooks/{id}` does.

use std::sync::Arc;
use std::time::Duration;

use delivery::Switchboard;
use store::Store;
use tokio_util::sync::CancellationToken;

/// How often the upkeep runs for a TTL of `ttl`: four times per TTL, between a quarter
/// of a second and a minute.
fn period(ttl: Duration) -> Duration {
    (ttl / 4).clamp(Duration::from_millis(250), Duration::from_secs(60))
}

/// Runs the upkeep until `shutdown`.
pub async fn keep_forever(
    store: Arc<dyn Store>,
    switchboard: Arc<Switchboard>,
    ttl: Duration,
    shutdown: CancellationToken,
) {
    let ttl_chrono = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(period(ttl)) => {}
        }
        let connected = switchboard.connected();
        if let Err(error) = store.touch_listeners(&connected).await {
            tracing::warn!(%error, "marking connected listeners as seen failed");
            continue;
        }
        let cutoff = chrono::Utc::now()
            .checked_sub_signed(ttl_chrono)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let stale = match store.stale_listeners(cutoff).await {
            Ok(stale) => stale,
            Err(error) => {
                tracing::warn!(%error, "reading listeners unseen for the TTL failed");
                continue;
            }
        };
        for (workspace, listener) in stale {
            if connected.contains(&listener) {
                continue;
            }
            match store.delete_webhook(&workspace, &listener).await {
                Ok(()) | Err(store::StoreError::NotFound) => tracing::info!(
                    %listener,
                    ttl = ?ttl,
                    "removed a listener no `listen` connected to for the listener TTL, with its waiting deliveries"
                ),
                Err(error) => {
                    tracing::warn!(%listener, %error, "removing an unseen listener failed")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upkeep_runs_several_times_per_ttl_within_bounds() {
        assert_eq!(period(Duration::from_secs(3600)), Duration::from_secs(60));
        assert_eq!(period(Duration::from_secs(2)), Duration::from_millis(500));
        assert_eq!(period(Duration::from_secs(1)), Duration::from_millis(250));
    }
}
