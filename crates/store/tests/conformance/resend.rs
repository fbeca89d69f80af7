//! Manual re-sends: a retried or replayed delivery goes back to its original place in the
//! endpoint's order, keeps its history, and gets a fresh retention window.

use chrono::{Duration, Utc};
use domain::{DeliveryId, DeliveryStatus};
use store::{ReplayFilter, StoreError};

use crate::assert_err;
use crate::dispatch::{delivered, expired, failed, ms};
use crate::support::{Harness, open_deliveries, publish, publish_taken_up, webhook, workspace};
use test_support::instant_between;

fn ids(deliveries: &[store::DueDelivery]) -> Vec<DeliveryId> {
    deliveries.iter().map(|d| d.id.clone()).collect()
}

pub async fn retry_reopens_in_place_with_a_fresh_window(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    for _ in 0..4 {
        publish_taken_up(store, &ws, "user.created").await;
    }
    let [d1, d2, d3, d4] = <[_; 4]>::try_from(open_deliveries(store, &hook).await).unwrap();
    store
        .submit_outcome(delivered(&d1, &hook, 0))
        .await
        .unwrap()
        .unwrap();
    let later = Utc::now() + Duration::hours(1);
    store
        .submit_outcome(failed(&d2, &hook, 0, later))
        .await
        .unwrap()
        .unwrap();
    store
        .submit_outcome(expired(&d3, &hook, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ids(&open_deliveries(store, &hook).await),
        [d2.id.clone(), d4.id.clone()]
    );

    let before = ms(Utc::now());
    let retried = store.retry_delivery(&ws, &d1.id).await.unwrap();
    assert_eq!(
        (retried.id.clone(), retried.status, retried.attempts),
        (d1.id.clone(), DeliveryStatus::Pending, 1),
        "re-opened, history kept"
    );
    assert_eq!(retried.last_status_code, Some(200));
    let due = retried.next_attempt_at.expect("open deliveries are due");
    assert!(due >= before && due <= Utc::now(), "due now: {due}");
    store.retry_delivery(&ws, &d3.id).await.unwrap();

    // Back in their original places, ahead of every later open delivery.
    let window = open_deliveries(store, &hook).await;
    assert_eq!(
        ids(&window),
        [d1.id.clone(), d2.id.clone(), d3.id.clone(), d4.id.clone()]
    );
    assert_eq!(
        window.iter().map(|d| d.seq).collect::<Vec<_>>(),
        [d1.seq, d2.seq, d3.seq, d4.seq]
    );
    // Expiry counts from the re-opening for re-sent ones, from publication for the rest.
    assert!(window[0].event_created_at >= before, "fresh window");
    assert!(window[2].event_created_at >= before, "fresh window");
    assert_eq!(window[1].event_created_at, d2.event_created_at);
    assert_eq!(window[3].event_created_at, d4.event_created_at);

    // Retrying a delivery in backoff makes it due now, keeping its attempts.
    let now_due = store.retry_delivery(&ws, &d2.id).await.unwrap();
    assert_eq!(now_due.attempts, 1);
    assert!(now_due.next_attempt_at.unwrap() <= Utc::now());

    // The attempt fence still holds: the next outcome is decided on the kept count.
    store
        .submit_outcome(delivered(&d1, &hook, 1))
        .await
        .unwrap()
        .unwrap();
    let (again, attempts) = store.get_delivery(&ws, &d1.id).await.unwrap();
    assert_eq!(
        (again.status, again.attempts, attempts.len()),
        (DeliveryStatus::Delivered, 2, 2)
    );
    assert_err!(
        store
            .submit_outcome(delivered(&d3, &hook, 1))
            .await
            .unwrap(),
        StoreError::StaleAttempt
    );

    let other = workspace(store, "b").await;
    assert_err!(
        store.retry_delivery(&other, &d4.id).await,
        StoreError::NotFound
    );
    assert_err!(
        store.retry_delivery(&ws, &DeliveryId::generate()).await,
        StoreError::NotFound
    );
    assert_eq!(
        store.lanes_with_work().await.unwrap(),
        vec![hook.clone()],
        "the sweep finds re-opened work"
    );
}

pub async fn replay_reopens_a_range_of_one_endpoint(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    let bystander = webhook(store, &ws, &["*"]).await.id;
    for _ in 0..5 {
        publish(store, &ws, "user.created").await;
    }
    let t1 = instant_between().await;
    for _ in 0..5 {
        publish(store, &ws, "user.created").await;
    }
    let t2 = instant_between().await;
    for _ in 0..5 {
        publish_taken_up(store, &ws, "user.created").await;
    }
    let all = open_deliveries(store, &hook).await;
    // 0..5 delivered, 5..10: delivered except 7 expired, 10..15 stay open.
    for (i, d) in all.iter().enumerate().take(10) {
        let outcome = if i == 7 {
            expired(d, &hook, 0)
        } else {
            delivered(d, &hook, 0)
        };
        store.submit_outcome(outcome).await.unwrap().unwrap();
    }
    assert_eq!(open_deliveries(store, &hook).await.len(), 5);

    let expired_only = ReplayFilter {
        since: t1,
        until: None,
        status: Some(DeliveryStatus::Expired),
    };
    assert_eq!(
        store
            .replay_deliveries(&ws, &hook, expired_only.clone())
            .await
            .unwrap(),
        1
    );
    let middle = ReplayFilter {
        since: t1,
        until: Some(t2),
        status: None,
    };
    // The five of the middle range, the expired one (re-opened already) included.
    assert_eq!(
        store.replay_deliveries(&ws, &hook, middle).await.unwrap(),
        5
    );
    let window = open_deliveries(store, &hook).await;
    assert_eq!(
        ids(&window),
        ids(&all[5..]),
        "in seq order, ahead of later ones"
    );
    assert!(
        window[..5]
            .iter()
            .all(|d| d.attempts == 1 || d.id == all[7].id)
    );

    let nothing = ReplayFilter {
        since: Utc::now() + Duration::hours(1),
        until: None,
        status: None,
    };
    assert_eq!(
        store.replay_deliveries(&ws, &hook, nothing).await.unwrap(),
        0
    );
    let everything = ReplayFilter {
        since: Utc::now() - Duration::hours(1),
        until: None,
        status: Some(DeliveryStatus::Delivered),
    };
    assert_eq!(
        store
            .replay_deliveries(&ws, &hook, everything)
            .await
            .unwrap(),
        5
    );
    assert_eq!(ids(&open_deliveries(store, &hook).await), ids(&all));
    assert_eq!(
        open_deliveries(store, &bystander).await.len(),
        15,
        "other endpoints untouched"
    );

    let other = workspace(store, "b").await;
    assert_err!(
        store.replay_deliveries(&other, &hook, expired_only).await,
        StoreError::NotFound
    );
}
