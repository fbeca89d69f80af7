//! What the dashboard's health and charts rely on: an endpoint's state now (its waiting
//! line, its head, its run of failures), a delivery's place in its lane, and its attempts
//! as a time series with percentiles of the attempts that got an answer.

use chrono::{DateTime, Duration, Utc};
use domain::{AttemptId, DeliveryStatus, ErrorClass, WebhookId};
use store::{AttemptLog, DueDelivery, Outcome, SeriesSpec, Store, StoreError, WebhookPatch};

use crate::assert_err;
use crate::dispatch::ms;
use crate::support::{Harness, open_deliveries, publish_taken_up, webhook, workspace};

/// One attempt of `d` (its first unless `attempts_before` says otherwise): a 2xx when
/// `status` is 200, a non-2xx answer for another status, no answer (refused) for `None`.
fn tried(
    d: &DueDelivery,
    webhook: &WebhookId,
    attempts_before: u32,
    at: DateTime<Utc>,
    response_ms: u32,
    status: Option<u16>,
) -> Outcome {
    let ok = status == Some(200);
    let error_class = match status {
        Some(200) => None,
        Some(_) => Some(ErrorClass::HttpStatus),
        None => Some(ErrorClass::Connect),
    };
    Outcome {
        delivery_id: d.id.clone(),
        webhook_id: webhook.clone(),
        attempts_before,
        attempt: Some(AttemptLog {
            id: AttemptId::generate(),
            attempted_at: at,
            status_code: status,
            response_ms,
            error_class,
            error_message: error_class.map(|_| "connection refused".to_owned()),
            response_body: None,
            request_headers: None,
            response_headers: None,
        }),
        status: if ok {
            DeliveryStatus::Delivered
        } else {
            DeliveryStatus::Failed
        },
        next_attempt_at: (!ok).then(|| at + Duration::minutes(5)),
        disable_webhook: false,
    }
}

async fn record(store: &dyn Store, outcome: Outcome) {
    store
        .submit_outcome(outcome)
        .await
        .expect("ack")
        .expect("outcome recorded");
}

pub async fn series_bucket_attempts_and_rank_answered_times(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "series").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    for _ in 0..27 {
        publish_taken_up(store, &ws, "user.created").await;
    }
    let open = open_deliveries(store, &hook).await;
    let spec = SeriesSpec::ending_at(Utc::now(), Duration::hours(1), 3);
    let b0 = spec.start + Duration::minutes(10);
    let b1 = spec.start + Duration::minutes(70);
    // Bucket 0: answers in 10, 20, 30 ms (2xx) and 40 ms (500); two refused connections
    // (1 ms, no answer: not a response time). Bucket 1: 2xx in 1..=20 ms. Bucket 2: none.
    // One more attempt just before the window.
    let mut plan: Vec<(DateTime<Utc>, u32, Option<u16>)> = vec![
        (b0, 10, Some(200)),
        (b0, 20, Some(200)),
        (b0 + Duration::seconds(1), 30, Some(200)),
        (b0, 40, Some(500)),
        (b0, 1, None),
        (b0 + Duration::minutes(49), 1, None),
    ];
    plan.extend((1..=20).map(|i| (b1, i, Some(200))));
    plan.push((spec.start - Duration::milliseconds(1), 7, Some(200)));
    for (d, (at, ms, status)) in open.iter().zip(plan) {
        record(store, tried(d, &hook, 0, at, ms, status)).await;
    }

    let series = store.webhook_series(&ws, &hook, spec).await.unwrap();
    assert_eq!(series.len(), 3);
    let starts: Vec<_> = series.iter().map(|b| b.start).collect();
    assert_eq!(
        starts,
        vec![
            spec.start,
            spec.start + Duration::hours(1),
            spec.start + Duration::hours(2)
        ]
    );
    let counts = |i: usize| {
        let b = &series[i];
        (b.attempts, b.successes, b.answered_failures, b.unanswered)
    };
    assert_eq!(counts(0), (6, 3, 1, 2));
    // Four answered: ranks ⌈2⌉ and ⌈3.8⌉.
    assert_eq!((series[0].p50_ms, series[0].p95_ms), (Some(20), Some(40)));
    assert_eq!(series[0].success_rate(), Some(0.5));
    assert_eq!(counts(1), (20, 20, 0, 0));
    assert_eq!((series[1].p50_ms, series[1].p95_ms), (Some(10), Some(19)));
    assert_eq!(counts(2), (0, 0, 0, 0));
    assert_eq!((series[2].p50_ms, series[2].p95_ms), (None, None));

    // The window's stats rank the same answered attempts: 24 of 26.
    let stats = store.webhook_stats(&ws, &hook, spec.start).await.unwrap();
    assert_eq!((stats.attempts, stats.responses), (26, 24));
    assert_eq!(stats.p50_ms, Some(11), "rank 12 of 1..=20, 10, 20, 30, 40");

    // Refused connections only: attempts, but no response time at all.
    let silent = webhook(store, &ws, &["order.completed"]).await.id;
    publish_taken_up(store, &ws, "order.completed").await;
    let d = open_deliveries(store, &silent).await.remove(0);
    record(store, tried(&d, &silent, 0, b0, 0, None)).await;
    let series = store.webhook_series(&ws, &silent, spec).await.unwrap();
    assert_eq!((series[0].attempts, series[0].unanswered), (1, 1));
    assert_eq!(series[0].p50_ms, None);
    let stats = store.webhook_stats(&ws, &silent, spec.start).await.unwrap();
    assert_eq!(
        (stats.attempts, stats.responses, stats.p50_ms),
        (1, 0, None)
    );

    let other = workspace(store, "other").await;
    assert_err!(
        store.webhook_series(&other, &hook, spec).await,
        StoreError::NotFound
    );
}

pub async fn health_reports_the_waiting_line_and_the_failure_run(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "health").await;
    let hook = webhook(store, &ws, &["user.created"]).await.id;
    let quiet = store.webhook_health(&ws, &hook).await.unwrap();
    assert_eq!((quiet.enabled, quiet.waiting, quiet.head), (true, 0, None));
    assert_eq!((quiet.failing_since, quiet.last_attempt), (None, None));

    for _ in 0..3 {
        publish_taken_up(store, &ws, "user.created").await;
    }
    let open = open_deliveries(store, &hook).await;
    let health = store.webhook_health(&ws, &hook).await.unwrap();
    let head = health.head.clone().expect("a head");
    assert_eq!(
        (health.waiting, &head.id, head.attempts),
        (3, &open[0].id, 0)
    );
    assert_eq!(head.window_start, open[0].event_created_at);
    assert_eq!(store.deliveries_ahead(&ws, &open[0].id).await.unwrap(), 0);
    assert_eq!(store.deliveries_ahead(&ws, &open[2].id).await.unwrap(), 2);

    // The head fails twice: the run starts at its first failure.
    let t0 = ms(Utc::now() - Duration::minutes(30));
    record(store, tried(&open[0], &hook, 0, t0, 0, None)).await;
    let t1 = t0 + Duration::minutes(10);
    record(store, tried(&open[0], &hook, 1, t1, 12, Some(503))).await;
    let health = store.webhook_health(&ws, &hook).await.unwrap();
    let head = health.head.clone().expect("a head");
    assert_eq!(
        (health.waiting, &head.id, head.attempts),
        (3, &open[0].id, 2)
    );
    assert_eq!(head.next_attempt_at, Some(t1 + Duration::minutes(5)));
    assert_eq!(health.failing_since, Some(t0));
    assert_eq!(health.last_attempt, Some((t1, false)));
    assert_eq!(health.last_success_at, None);

    // It gets through: the run ends, the line moves up.
    let t2 = t0 + Duration::minutes(20);
    record(store, tried(&open[0], &hook, 2, t2, 9, Some(200))).await;
    let health = store.webhook_health(&ws, &hook).await.unwrap();
    assert_eq!(health.waiting, 2);
    assert_eq!(health.head.map(|h| h.id), Some(open[1].id.clone()));
    assert_eq!(health.failing_since, None);
    assert_eq!(health.last_attempt, Some((t2, true)));
    assert_eq!(health.last_success_at, Some(t2));
    assert_eq!(store.deliveries_ahead(&ws, &open[2].id).await.unwrap(), 1);
    assert_eq!(
        store.deliveries_ahead(&ws, &open[0].id).await.unwrap(),
        0,
        "a delivered one waits for nothing"
    );

    let patch = WebhookPatch {
        enabled: Some(false),
        ..WebhookPatch::default()
    };
    store.update_webhook(&ws, &hook, patch).await.unwrap();
    let health = store.webhook_health(&ws, &hook).await.unwrap();
    assert_eq!((health.enabled, health.waiting), (false, 2));

    let other = workspace(store, "other").await;
    assert_err!(
        store.webhook_health(&other, &hook).await,
        StoreError::NotFound
    );
    assert_err!(
        store.deliveries_ahead(&other, &open[2].id).await,
        StoreError::NotFound
    );
}
