//! Log retention and secret rotation: what `prune` removes and keeps, and how long a
//! replaced secret keeps signing.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use domain::DeliveryStatus;
use store::{PruneReport, StoreError};

use crate::assert_err;
use crate::dispatch::{delivered, failed};
use crate::support::{Harness, open_deliveries, publish, publish_taken_up, webhook, workspace};

pub async fn prune_removes_old_closed_rows_and_keeps_open_ones(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["user.*"]).await.id;
    let done = publish(store, &ws, "user.created").await;
    // Reaches no endpoint: taken up (and so prunable) once a later event was.
    let unheard = publish(store, &ws, "order.completed").await;
    let retrying = publish_taken_up(store, &ws, "user.created").await;
    let [d_done, d_retrying] = <[_; 2]>::try_from(open_deliveries(store, &hook).await).unwrap();
    store
        .submit_outcome(delivered(&d_done, &hook, 0))
        .await
        .unwrap()
        .unwrap();
    store
        .submit_outcome(failed(
            &d_retrying,
            &hook,
            0,
            Utc::now() + Duration::hours(1),
        ))
        .await
        .unwrap()
        .unwrap();

    // Nothing is older than an hour ago.
    let report = store
        .prune(Utc::now() - Duration::hours(1), 100)
        .await
        .unwrap();
    assert_eq!(report, PruneReport::default());

    // With the cutoff in the future everything is "old": closed rows go, open ones stay.
    let cutoff = Utc::now() + Duration::minutes(1);
    let report = store.prune(cutoff, 100).await.unwrap();
    assert_eq!(
        report,
        PruneReport {
            attempts: 2,
            deliveries: 1,
            events: 2,
            idempotency_keys: 0,
            more: false,
        }
    );
    assert_err!(
        store.get_delivery(&ws, &d_done.id).await,
        StoreError::NotFound
    );
    assert_err!(store.get_event(&ws, &done).await, StoreError::NotFound);
    assert_err!(store.get_event(&ws, &unheard).await, StoreError::NotFound);
    let (kept, attempts) = store.get_delivery(&ws, &d_retrying.id).await.unwrap();
    assert_eq!((kept.status, kept.attempts), (DeliveryStatus::Failed, 1));
    assert!(
        attempts.is_empty(),
        "attempts age out even of open deliveries"
    );
    store.get_event(&ws, &retrying).await.unwrap();
    assert_eq!(
        open_deliveries(store, &hook).await[0].id,
        d_retrying.id,
        "the lane still has its work"
    );

    // Bounded batches: `more` until everything old is gone.
    for _ in 0..5 {
        publish_taken_up(store, &ws, "user.created").await;
    }
    let open = open_deliveries(store, &hook).await;
    for d in &open[1..] {
        store
            .submit_outcome(delivered(d, &hook, 0))
            .await
            .unwrap()
            .unwrap();
    }
    // A delivery re-sent by hand counts from its re-sending: kept while open.
    store.retry_delivery(&ws, &open[1].id).await.unwrap();
    let cutoff = Utc::now() + Duration::minutes(1);
    let first = store.prune(cutoff, 2).await.unwrap();
    assert!(first.more && first.deliveries == 2, "{first:?}");
    let mut deleted = first.deliveries;
    loop {
        let next = store.prune(cutoff, 2).await.unwrap();
        deleted += next.deliveries;
        if !next.more {
            break;
        }
    }
    assert_eq!(deleted, 4);
    let left: Vec<_> = open_deliveries(store, &hook)
        .await
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(left, [d_retrying.id.clone(), open[1].id.clone()]);
}

pub async fn rotation_keeps_the_previous_secret_for_its_grace(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["*"]).await;
    let original = hook.secret.clone();
    let fresh = domain::signature::generate_secret();
    let before = Utc::now();

    let rotated = store
        .rotate_secret(&ws, &hook.id, fresh.clone(), StdDuration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(rotated.webhook.secret, fresh);
    assert_eq!(rotated.webhook.id, hook.id);
    let grace_end = rotated.previous_secret_expires_at;
    assert!(
        grace_end >= before + Duration::minutes(59) && grace_end <= Utc::now() + Duration::hours(1),
        "{grace_end}"
    );
    assert_eq!(
        store.get_webhook(&ws, &hook.id).await.unwrap().secret,
        fresh
    );
    assert_eq!(
        store.lane_target(&hook.id).await.unwrap().secrets,
        [fresh.clone(), original.clone()],
        "current first, then the previous one during its grace"
    );

    // Rotating again during the grace ends the oldest secret at once.
    let third = domain::signature::generate_secret();
    store
        .rotate_secret(&ws, &hook.id, third.clone(), StdDuration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        store.lane_target(&hook.id).await.unwrap().secrets,
        [third.clone(), fresh.clone()]
    );

    // No grace: only the new secret signs.
    let fourth = domain::signature::generate_secret();
    store
        .rotate_secret(&ws, &hook.id, fourth.clone(), StdDuration::ZERO)
        .await
        .unwrap();
    assert_eq!(store.lane_target(&hook.id).await.unwrap().secrets, [fourth]);

    let other = workspace(store, "b").await;
    assert_err!(
        store
            .rotate_secret(&other, &hook.id, third, StdDuration::ZERO)
            .await,
        StoreError::NotFound
    );
}
