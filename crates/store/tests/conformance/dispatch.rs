//! What the dispatcher relies on: open work per lane, fenced outcomes, the activity log.

use chrono::{DateTime, Duration, Utc};
use domain::{AttemptId, DeliveryId, DeliveryStatus, ErrorClass, WebhookId};
use store::{
    AttemptLog, DeliveryFilter, DueDelivery, Outcome, PageRequest, StoreError, WebhookPatch,
};

use crate::assert_err;
use crate::support::{
    Harness, all_deliveries, open_deliveries, publish, publish_taken_up, status_filter, taken_up,
    webhook, workspace,
};

pub(crate) fn attempt(
    status_code: Option<u16>,
    error_class: Option<ErrorClass>,
    at: DateTime<Utc>,
) -> AttemptLog {
    AttemptLog {
        id: AttemptId::generate(),
        attempted_at: at,
        status_code,
        response_ms: 87,
        error_class,
        error_message: error_class.map(|c| format!("{c} happened")),
        response_body: status_code.map(|c| format!("answer {c}")),
        request_headers: None,
        response_headers: None,
    }
}

pub(crate) fn failed(
    d: &DueDelivery,
    webhook: &WebhookId,
    attempts_before: u32,
    retry_at: DateTime<Utc>,
) -> Outcome {
    Outcome {
        delivery_id: d.id.clone(),
        webhook_id: webhook.clone(),
        attempts_before,
        attempt: Some(attempt(Some(503), Some(ErrorClass::HttpStatus), Utc::now())),
        status: DeliveryStatus::Failed,
        next_attempt_at: Some(retry_at),
        disable_webhook: false,
    }
}

pub(crate) fn delivered(d: &DueDelivery, webhook: &WebhookId, attempts_before: u32) -> Outcome {
    Outcome {
        delivery_id: d.id.clone(),
        webhook_id: webhook.clone(),
        attempts_before,
        attempt: Some(attempt(Some(200), None, Utc::now())),
        status: DeliveryStatus::Delivered,
        next_attempt_at: None,
        disable_webhook: false,
    }
}

pub(crate) fn expired(d: &DueDelivery, webhook: &WebhookId, attempts_before: u32) -> Outcome {
    Outcome {
        delivery_id: d.id.clone(),
        webhook_id: webhook.clone(),
        attempts_before,
        attempt: None,
        status: DeliveryStatus::Expired,
        next_attempt_at: None,
        disable_webhook: false,
    }
}

pub(crate) fn ms(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap()
}

pub async fn outcomes_are_fenced_by_attempt_count(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    publish_taken_up(store, &ws, "user.created").await;
    let d = open_deliveries(store, &hook).await.remove(0);
    assert_eq!(d.attempts, 0);

    let retry_at = Utc::now() + Duration::seconds(5);
    store
        .submit_outcome(failed(&d, &hook, 0, retry_at))
        .await
        .unwrap()
        .unwrap();
    // A second outcome decided on the same attempt count is stale and records nothing.
    assert_err!(
        store
            .submit_outcome(failed(&d, &hook, 0, retry_at))
            .await
            .unwrap(),
        StoreError::StaleAttempt
    );
    assert_err!(
        store.submit_outcome(delivered(&d, &hook, 0)).await.unwrap(),
        StoreError::StaleAttempt
    );
    assert_err!(
        store.submit_outcome(delivered(&d, &hook, 5)).await.unwrap(),
        StoreError::StaleAttempt
    );

    let (delivery, attempts) = store.get_delivery(&ws, &d.id).await.unwrap();
    assert_eq!(delivery.status, DeliveryStatus::Failed);
    assert_eq!(delivery.attempts, 1);
    assert_eq!(delivery.last_status_code, Some(503));
    assert_eq!(delivery.last_response_ms, Some(87));
    let last_error = delivery.last_error.expect("failure recorded");
    assert!(last_error.contains("http_status"), "{last_error}");
    assert_eq!(delivery.next_attempt_at, Some(ms(retry_at)));
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status_code, Some(503));
    assert_eq!(attempts[0].error_class, Some(ErrorClass::HttpStatus));
    assert_eq!(attempts[0].response_body.as_deref(), Some("answer 503"));
    assert_eq!(attempts[0].delivery_id, d.id);

    let window = open_deliveries(store, &hook).await;
    assert_eq!(
        (window[0].attempts, window[0].next_attempt_at),
        (1, ms(retry_at))
    );
    let unknown = Outcome {
        delivery_id: DeliveryId::generate(),
        ..delivered(&d, &hook, 1)
    };
    assert!(store.submit_outcome(unknown).await.unwrap().is_err());
}

pub async fn delivered_failed_and_expired_transitions(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    for _ in 0..5 {
        publish_taken_up(store, &ws, "user.created").await;
    }
    let open = open_deliveries(store, &hook).await;
    let [d1, d2, d3, d4, d5] = <[DueDelivery; 5]>::try_from(open).unwrap();
    assert_eq!(store.lanes_with_work().await.unwrap(), vec![hook.clone()]);
    let soon = Utc::now() + Duration::seconds(5);

    store
        .submit_outcome(failed(&d1, &hook, 0, soon))
        .await
        .unwrap()
        .unwrap();
    store
        .submit_outcome(delivered(&d1, &hook, 1))
        .await
        .unwrap()
        .unwrap();
    store
        .submit_outcome(expired(&d2, &hook, 0))
        .await
        .unwrap()
        .unwrap();
    store
        .submit_outcome(failed(&d3, &hook, 0, soon))
        .await
        .unwrap()
        .unwrap();
    store
        .submit_outcome(failed(&d4, &hook, 0, soon))
        .await
        .unwrap()
        .unwrap();
    store
        .submit_outcome(expired(&d4, &hook, 1))
        .await
        .unwrap()
        .unwrap();

    // Closed deliveries leave the window; a failed one keeps its place.
    let window: Vec<DeliveryId> = open_deliveries(store, &hook)
        .await
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(window, vec![d3.id.clone(), d5.id.clone()]);
    let after: Vec<DeliveryId> = store
        .lane_window(&hook, d3.seq, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(after, vec![d5.id.clone()]);
    assert_eq!(store.lane_window(&hook, 0, 1).await.unwrap().len(), 1);

    let (one, attempts) = store.get_delivery(&ws, &d1.id).await.unwrap();
    assert_eq!(
        (one.status, one.attempts, one.last_status_code),
        (DeliveryStatus::Delivered, 2, Some(200))
    );
    assert_eq!((one.last_error, one.next_attempt_at), (None, None));
    assert_eq!(
        attempts.iter().map(|a| a.status_code).collect::<Vec<_>>(),
        vec![Some(503), Some(200)]
    );
    let (two, attempts) = store.get_delivery(&ws, &d2.id).await.unwrap();
    assert_eq!(
        (two.status, two.attempts, two.next_attempt_at),
        (DeliveryStatus::Expired, 0, None)
    );
    assert!(attempts.is_empty());
    let (four, attempts) = store.get_delivery(&ws, &d4.id).await.unwrap();
    assert_eq!(
        (four.status, four.attempts, four.last_status_code),
        (DeliveryStatus::Expired, 1, Some(503))
    );
    assert_eq!(attempts.len(), 1);

    // Nothing moves a closed delivery.
    assert_err!(
        store
            .submit_outcome(delivered(&d1, &hook, 2))
            .await
            .unwrap(),
        StoreError::StaleAttempt
    );
    assert_err!(
        store.submit_outcome(expired(&d2, &hook, 0)).await.unwrap(),
        StoreError::StaleAttempt
    );

    store
        .submit_outcome(delivered(&d3, &hook, 1))
        .await
        .unwrap()
        .unwrap();
    store
        .submit_outcome(delivered(&d5, &hook, 0))
        .await
        .unwrap()
        .unwrap();
    assert!(open_deliveries(store, &hook).await.is_empty());
    assert!(store.lanes_with_work().await.unwrap().is_empty());
}

pub async fn outcomes_commit_in_submission_order(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    publish_taken_up(store, &ws, "user.created").await;
    let d = open_deliveries(store, &hook).await.remove(0);
    let base = Utc::now();
    // Each outcome is fenced on the one before it, so all succeed only in channel order.
    let acks: Vec<_> = (0..20u32)
        .map(|k| {
            let mut outcome = failed(&d, &hook, k, base + Duration::seconds(60));
            if let Some(a) = outcome.attempt.as_mut() {
                a.attempted_at = base + Duration::milliseconds(i64::from(k));
            }
            store.submit_outcome(outcome)
        })
        .collect();
    for ack in acks {
        ack.await.expect("answered").expect("committed");
    }
    let (delivery, attempts) = store.get_delivery(&ws, &d.id).await.unwrap();
    assert_eq!(delivery.attempts, 20);
    assert_eq!(attempts.len(), 20);
    assert!(
        attempts
            .windows(2)
            .all(|w| w[0].attempted_at < w[1].attempted_at),
        "oldest first"
    );
}

pub async fn lane_target_follows_the_webhook(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["*"]).await;
    let target = store.lane_target(&hook.id).await.unwrap();
    assert_eq!(target.webhook_id, hook.id);
    assert_eq!(target.url, hook.url);
    assert!(target.enabled);
    assert_eq!(target.secrets, vec![hook.secret.clone()]);

    let patch = WebhookPatch {
        url: Some("https://new.example.com/x".into()),
        enabled: Some(false),
        ..Default::default()
    };
    store.update_webhook(&ws, &hook.id, patch).await.unwrap();
    let target = store.lane_target(&hook.id).await.unwrap();
    assert_eq!(
        (target.url.as_str(), target.enabled),
        ("https://new.example.com/x", false)
    );

    store.delete_webhook(&ws, &hook.id).await.unwrap();
    assert_err!(store.lane_target(&hook.id).await, StoreError::NotFound);
}

pub async fn list_deliveries_pages_newest_first_with_filters(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    let quiet = webhook(store, &ws, &["order.completed"]).await.id;
    let mut events = Vec::new();
    for i in 0..130 {
        let event_type = if i % 2 == 0 {
            "user.created"
        } else {
            "order.completed"
        };
        events.push(publish(store, &ws, event_type).await);
    }
    taken_up(store, &ws, events.last().unwrap()).await;
    let open = open_deliveries(store, &hook).await;
    for d in open.iter().step_by(5) {
        store
            .submit_outcome(delivered(d, &hook, 0))
            .await
            .unwrap()
            .unwrap();
    }

    let all = all_deliveries(store, &ws, &hook, DeliveryFilter::default(), 50).await;
    assert_eq!(all.len(), 130);
    let newest_first: Vec<_> = events.iter().rev().cloned().collect();
    assert_eq!(
        all.iter().map(|d| d.event_id.clone()).collect::<Vec<_>>(),
        newest_first
    );
    assert!(
        all.windows(2).all(|w| w[0].id > w[1].id),
        "newest (highest id) first"
    );
    assert!(all.iter().all(|d| d.webhook_id == hook));

    let orders = DeliveryFilter {
        event_type: Some("order.completed".into()),
        ..DeliveryFilter::default()
    };
    let listed = all_deliveries(store, &ws, &hook, orders, 20).await;
    assert_eq!(listed.len(), 65);
    assert!(listed.iter().all(|d| d.event_type == "order.completed"));
    assert!(listed.windows(2).all(|w| w[0].id > w[1].id));

    let done = all_deliveries(
        store,
        &ws,
        &hook,
        status_filter(DeliveryStatus::Delivered),
        7,
    )
    .await;
    assert_eq!(done.len(), 26);
    assert!(
        done.iter()
            .all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1)
    );
    let pending_users = DeliveryFilter {
        status: Some(DeliveryStatus::Pending),
        event_type: Some("user.created".into()),
        ..DeliveryFilter::default()
    };
    let expected = open
        .iter()
        .enumerate()
        .filter(|(i, d)| i % 5 != 0 && d.event_type == "user.created")
        .count();
    assert_eq!(
        all_deliveries(store, &ws, &hook, pending_users, 10)
            .await
            .len(),
        expected
    );
    assert!(
        all_deliveries(
            store,
            &ws,
            &hook,
            status_filter(DeliveryStatus::Expired),
            10
        )
        .await
        .is_empty()
    );
    assert_eq!(
        all_deliveries(store, &ws, &quiet, DeliveryFilter::default(), 100)
            .await
            .len(),
        65
    );

    // Limits: 0 means the default (50), more than 100 is clamped.
    let page = store
        .list_deliveries(
            &ws,
            &hook,
            DeliveryFilter::default(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(page.data.len(), 50);
    assert_eq!(page.next_cursor.as_deref(), Some(page.data[49].id.as_str()));
    let page = store.list_deliveries(
        &ws,
        &hook,
        DeliveryFilter::default(),
        PageRequest {
            limit: 1000,
            cursor: None,
        },
    );
    assert_eq!(page.await.unwrap().data.len(), 100);
}

pub async fn deleting_a_webhook_removes_its_deliveries(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    let keep = webhook(store, &ws, &["*"]).await.id;
    publish_taken_up(store, &ws, "user.created").await;
    let d = open_deliveries(store, &hook).await.remove(0);
    store
        .submit_outcome(failed(&d, &hook, 0, Utc::now()))
        .await
        .unwrap()
        .unwrap();

    store.delete_webhook(&ws, &hook).await.unwrap();
    assert_err!(store.get_delivery(&ws, &d.id).await, StoreError::NotFound);
    assert!(store.lane_window(&hook, 0, 10).await.unwrap().is_empty());
    assert_eq!(store.lanes_with_work().await.unwrap(), vec![keep.clone()]);
    // A lane still holding it cannot record anything for it.
    assert!(
        store
            .submit_outcome(failed(&d, &hook, 1, Utc::now()))
            .await
            .unwrap()
            .is_err()
    );
    assert_eq!(open_deliveries(store, &keep).await.len(), 1);
}
