//! The activity log's reads: deliveries by time range, the events list, one event's
//! deliveries, and endpoint stats.

use chrono::{DateTime, Duration, Utc};
use domain::{AttemptId, DeliveryStatus, ErrorClass, EventId};
use store::{AttemptLog, DeliveryFilter, EventFilter, Outcome, PageRequest, StoreError};
use test_support::instant_between;

use crate::assert_err;
use crate::dispatch::{delivered, failed};
use crate::support::{
    Harness, all_deliveries, collect_pages, open_deliveries, publish, publish_taken_up, taken_up,
    webhook, workspace,
};

pub async fn list_deliveries_filters_by_time_range(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    let mut batches: Vec<Vec<EventId>> = Vec::new();
    let mut cuts = Vec::new();
    for b in 0..3 {
        if b > 0 {
            cuts.push(instant_between().await);
        }
        let mut batch = Vec::new();
        for i in 0..25 {
            let event_type = if i % 5 == 0 {
                "order.completed"
            } else {
                "user.created"
            };
            batch.push(publish(store, &ws, event_type).await);
        }
        batches.push(batch);
    }
    taken_up(store, &ws, batches[2].last().unwrap()).await;
    let (t1, t2) = (cuts[0], cuts[1]);
    let (ws_ref, hook_ref) = (&ws, &hook);
    let events_of = |filter: DeliveryFilter, limit: u32| async move {
        all_deliveries(store, ws_ref, hook_ref, filter, limit)
            .await
            .into_iter()
            .map(|d| d.event_id)
            .collect::<Vec<_>>()
    };
    let newest_first = |parts: &[usize]| -> Vec<EventId> {
        parts
            .iter()
            .rev()
            .flat_map(|&b| batches[b].iter().rev().cloned())
            .collect()
    };

    let since = DeliveryFilter {
        since: Some(t1),
        ..DeliveryFilter::default()
    };
    assert_eq!(events_of(since, 7).await, newest_first(&[1, 2]));
    let until = DeliveryFilter {
        until: Some(t1),
        ..DeliveryFilter::default()
    };
    assert_eq!(events_of(until, 10).await, newest_first(&[0]));
    let middle = DeliveryFilter {
        since: Some(t1),
        until: Some(t2),
        ..DeliveryFilter::default()
    };
    assert_eq!(events_of(middle.clone(), 4).await, newest_first(&[1]));
    let middle_orders = DeliveryFilter {
        event_type: Some("order.completed".into()),
        ..middle
    };
    assert_eq!(events_of(middle_orders, 2).await.len(), 5);

    // Combined with a status read from its partial index.
    for d in open_deliveries(store, &hook).await.iter().take(30) {
        store
            .submit_outcome(failed(d, &hook, 0, Utc::now() + Duration::hours(1)))
            .await
            .unwrap()
            .unwrap();
    }
    let failed_middle = DeliveryFilter {
        status: Some(DeliveryStatus::Failed),
        since: Some(t1),
        until: Some(t2),
        ..DeliveryFilter::default()
    };
    // Batch 0 (25) and the first 5 of batch 1 failed.
    assert_eq!(
        events_of(failed_middle, 2).await,
        batches[1][..5].iter().rev().cloned().collect::<Vec<_>>()
    );
    // An empty range, and a range past everything.
    let empty = DeliveryFilter {
        since: Some(t2),
        until: Some(t1),
        ..DeliveryFilter::default()
    };
    assert!(events_of(empty, 10).await.is_empty());
    let future = DeliveryFilter {
        since: Some(Utc::now() + Duration::hours(1)),
        ..DeliveryFilter::default()
    };
    assert!(events_of(future, 10).await.is_empty());
}

pub async fn events_list_newest_first_with_filters(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let other = workspace(store, "b").await;
    let foreign = publish(store, &other, "user.created").await;
    let mut first = Vec::new();
    for i in 0..70 {
        let event_type = if i % 7 == 0 {
            "order.completed"
        } else {
            "user.created"
        };
        first.push((publish(store, &ws, event_type).await, event_type));
    }
    let cut = instant_between().await;
    let mut second = Vec::new();
    for _ in 0..60 {
        second.push(publish(store, &ws, "user.updated").await);
    }

    let list = |filter: EventFilter, limit: u32| {
        let ws = ws.clone();
        async move {
            collect_pages(limit, |page| {
                let (filter, ws) = (filter.clone(), ws.clone());
                async move { store.list_events(&ws, filter, page).await }
            })
            .await
        }
    };
    let all = list(EventFilter::default(), 50).await;
    let mut expected: Vec<EventId> = first.iter().map(|(id, _)| id.clone()).collect();
    expected.extend(second.iter().cloned());
    expected.reverse();
    assert_eq!(
        all.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        expected
    );
    assert!(all.iter().all(|e| e.workspace_id == ws));
    assert!(
        all.windows(2)
            .all(|w| (w[0].timestamp, &w[0].id) > (w[1].timestamp, &w[1].id))
    );
    let stored = store.get_event(&ws, &all[0].id).await.unwrap();
    assert_eq!(all[0], stored, "list items are whole events, body included");

    let orders = EventFilter {
        event_type: Some("order.completed".into()),
        ..EventFilter::default()
    };
    let listed = list(orders, 3).await;
    assert_eq!(listed.len(), 10);
    assert!(listed.iter().all(|e| e.event_type == "order.completed"));
    let recent = EventFilter {
        since: Some(cut),
        ..EventFilter::default()
    };
    assert_eq!(
        list(recent, 25)
            .await
            .into_iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        second.iter().rev().cloned().collect::<Vec<_>>()
    );
    let older = EventFilter {
        until: Some(cut),
        event_type: Some("user.created".into()),
        ..EventFilter::default()
    };
    assert_eq!(list(older, 100).await.len(), 60);

    // Another workspace's event is no cursor here; its own list holds one event.
    let page = store
        .list_events(
            &ws,
            EventFilter::default(),
            PageRequest {
                limit: 10,
                cursor: Some(foreign.to_string()),
            },
        )
        .await
        .unwrap();
    assert!(page.data.is_empty() && page.next_cursor.is_none());
    let theirs = store
        .list_events(&other, EventFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        theirs.data.iter().map(|e| &e.id).collect::<Vec<_>>(),
        [&foreign]
    );
}

pub async fn event_deliveries_are_one_per_endpoint(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let users = webhook(store, &ws, &["user.*"]).await.id;
    let all = webhook(store, &ws, &["*"]).await.id;
    let event = publish_taken_up(store, &ws, "user.created").await;
    let d = open_deliveries(store, &users).await.remove(0);
    store
        .submit_outcome(delivered(&d, &users, 0))
        .await
        .unwrap()
        .unwrap();

    let deliveries = store.list_event_deliveries(&ws, &event).await.unwrap();
    let mut expected = vec![users.clone(), all.clone()];
    expected.sort();
    assert_eq!(
        deliveries
            .iter()
            .map(|d| d.webhook_id.clone())
            .collect::<Vec<_>>(),
        expected
    );
    assert!(deliveries.iter().all(|d| d.event_id == event));
    let to_users = deliveries.iter().find(|d| d.webhook_id == users).unwrap();
    assert_eq!(
        (
            to_users.status,
            to_users.attempts,
            to_users.last_status_code
        ),
        (DeliveryStatus::Delivered, 1, Some(200))
    );
    let to_all = deliveries.iter().find(|d| d.webhook_id == all).unwrap();
    assert_eq!(
        (to_all.status, to_all.attempts),
        (DeliveryStatus::Pending, 0)
    );

    let unheard = publish_taken_up(store, &ws, "system.alert").await;
    let only_all = store.list_event_deliveries(&ws, &unheard).await.unwrap();
    assert_eq!(only_all.len(), 1);
    store.delete_webhook(&ws, &all).await.unwrap();
    assert!(
        store
            .list_event_deliveries(&ws, &unheard)
            .await
            .unwrap()
            .is_empty()
    );

    let other = workspace(store, "b").await;
    assert_err!(
        store.list_event_deliveries(&other, &event).await,
        StoreError::NotFound
    );
    assert_err!(
        store.list_event_deliveries(&ws, &EventId::generate()).await,
        StoreError::NotFound
    );
}

fn timed(
    d: &store::DueDelivery,
    webhook: &domain::WebhookId,
    attempts_before: u32,
    at: DateTime<Utc>,
    response_ms: u32,
    ok: bool,
) -> Outcome {
    Outcome {
        delivery_id: d.id.clone(),
        webhook_id: webhook.clone(),
        attempts_before,
        attempt: Some(AttemptLog {
            id: AttemptId::generate(),
            attempted_at: at,
            status_code: Some(if ok { 200 } else { 500 }),
            response_ms,
            error_class: (!ok).then_some(ErrorClass::HttpStatus),
            error_message: None,
            response_body: None,
            request_headers: None,
            response_headers: None,
        }),
        status: if ok {
            DeliveryStatus::Delivered
        } else {
            DeliveryStatus::Failed
        },
        next_attempt_at: (!ok).then(|| Utc::now() + Duration::hours(1)),
        disable_webhook: false,
    }
}

pub async fn stats_count_and_rank_response_times(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    let quiet = webhook(store, &ws, &["order.completed"]).await.id;
    for _ in 0..100 {
        publish_taken_up(store, &ws, "user.created").await;
    }
    let now = Utc::now();
    let open = open_deliveries(store, &hook).await;
    // Attempt i (1..=100) took i ms; every fourth failed. The 25 failed ones were also
    // attempted two hours ago, taking 5 s each: outside a 1 h window, inside a 3 h one.
    for (i, d) in (1u32..).zip(&open) {
        let ok = i % 4 != 0;
        store
            .submit_outcome(timed(d, &hook, 0, now - Duration::minutes(1), i, ok))
            .await
            .unwrap()
            .unwrap();
        if !ok {
            store
                .submit_outcome(timed(d, &hook, 1, now - Duration::hours(2), 5000, true))
                .await
                .unwrap()
                .unwrap();
        }
    }

    let hour = store
        .webhook_stats(&ws, &hook, now - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        (hour.attempts, hour.successes, hour.failures),
        (100, 75, 25)
    );
    assert_eq!(
        (hour.p50_ms, hour.p95_ms, hour.p99_ms),
        (Some(50), Some(95), Some(99))
    );
    assert_eq!(hour.success_rate(), Some(0.75));
    assert_eq!(
        hour.since.timestamp_millis(),
        (now - Duration::hours(1)).timestamp_millis()
    );

    let three = store
        .webhook_stats(&ws, &hook, now - Duration::hours(3))
        .await
        .unwrap();
    // 125 values: 1..=100, then 25 × 5000. Ranks 63, 119 and 124.
    assert_eq!(
        (three.attempts, three.successes, three.failures),
        (125, 100, 25)
    );
    assert_eq!(
        (three.p50_ms, three.p95_ms, three.p99_ms),
        (Some(63), Some(5000), Some(5000))
    );

    let none = store
        .webhook_stats(&ws, &quiet, now - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        (none.attempts, none.p50_ms, none.success_rate()),
        (0, None, None)
    );
    let later = store
        .webhook_stats(&ws, &hook, now + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(later.attempts, 0);

    let other = workspace(store, "b").await;
    assert_err!(
        store.webhook_stats(&other, &hook, now).await,
        StoreError::NotFound
    );
}
