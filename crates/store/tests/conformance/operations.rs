//! What operations rely on: the schema version for `/readyz`, every endpoint's backlog
//! for the gauges and alerts, and alerts raised once per occurrence.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use domain::{DeliveryStatus, ErrorClass, WebhookId};
use store::{AlertCondition, DueDelivery, NewAlert, Outcome, Store, StoreError};

use crate::assert_err;
use crate::dispatch::{attempt, ms};
use crate::support::{
    Harness, event, open_deliveries, publish_taken_up, raw, reached, taken_up, webhook, workspace,
};

fn outcome(d: &DueDelivery, webhook: &WebhookId, ok: bool, at: DateTime<Utc>) -> Outcome {
    Outcome {
        delivery_id: d.id.clone(),
        webhook_id: webhook.clone(),
        attempts_before: d.attempts,
        attempt: Some(if ok {
            attempt(Some(200), None, at)
        } else {
            attempt(Some(500), Some(ErrorClass::HttpStatus), at)
        }),
        status: if ok {
            DeliveryStatus::Delivered
        } else {
            DeliveryStatus::Failed
        },
        next_attempt_at: (!ok).then(|| at + Duration::hours(1)),
        disable_webhook: false,
    }
}

/// Records an attempt of the lane's head and waits for its commit.
async fn attempt_head(store: &dyn Store, webhook: &WebhookId, ok: bool, at: DateTime<Utc>) {
    let head = open_deliveries(store, webhook).await.remove(0);
    store
        .submit_outcome(outcome(&head, webhook, ok, at))
        .await
        .expect("ack")
        .expect("outcome recorded");
}

pub async fn migrations_are_current(h: Harness) {
    let status = h.store.migrations().await.unwrap();
    assert!(status.applied > 0, "{status:?}");
    assert!(status.is_current(), "{status:?}");
}

pub async fn backlogs_report_pending_heads_and_failure_runs(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "ops").await;
    let hook = webhook(store, &ws, &["user.created"]).await;
    let idle = webhook(store, &ws, &["order.completed"]).await;
    assert!(store.endpoint_backlogs().await.unwrap().is_empty());

    for _ in 0..3 {
        publish_taken_up(store, &ws, "user.created").await;
    }
    let backlogs = store.endpoint_backlogs().await.unwrap();
    assert_eq!(
        backlogs.len(),
        1,
        "only endpoints with open deliveries: {backlogs:?}"
    );
    let b = &backlogs[0];
    let head = &open_deliveries(store, &hook.id).await[0];
    assert_eq!((&b.webhook_id, &b.workspace_id), (&hook.id, &ws));
    assert_eq!(
        (b.pending, b.url.as_str(), b.enabled),
        (3, hook.url.as_str(), true)
    );
    assert_eq!(b.head_window_start, head.event_created_at);
    assert!(b.oldest_created_at <= Utc::now());
    assert_eq!(b.failing_since, None, "no attempt yet");
    assert!(backlogs.iter().all(|b| b.webhook_id != idle.id));

    // A run of failures starts at its first failed attempt and lasts through the next.
    let t0 = ms(Utc::now() - Duration::minutes(30));
    attempt_head(store, &hook.id, false, t0).await;
    attempt_head(store, &hook.id, false, t0 + Duration::minutes(10)).await;
    let b = &store.endpoint_backlogs().await.unwrap()[0];
    assert_eq!(b.failing_since, Some(t0));

    // A success ends it; the next failure starts a new run.
    attempt_head(store, &hook.id, true, t0 + Duration::minutes(20)).await;
    let b = &store.endpoint_backlogs().await.unwrap()[0];
    assert_eq!((b.pending, b.failing_since), (2, None));
    let t1 = t0 + Duration::minutes(25);
    attempt_head(store, &hook.id, false, t1).await;
    let b = &store.endpoint_backlogs().await.unwrap()[0];
    assert_eq!(b.failing_since, Some(t1));
    assert!(b.recorded_alerts.is_empty());

    // Recorded alerts come with the backlog.
    let alert = NewAlert {
        workspace_id: ws.clone(),
        webhook_id: hook.id.clone(),
        condition: AlertCondition::EndpointFailing,
        since: t1,
    };
    store
        .raise_alert(alert, alert_event(&ws))
        .await
        .unwrap()
        .unwrap();
    let b = &store.endpoint_backlogs().await.unwrap()[0];
    assert_eq!(b.recorded(AlertCondition::EndpointFailing), Some(t1));
    assert_eq!(b.recorded(AlertCondition::EventsExpiring), None);
}

fn alert(ws: &domain::WorkspaceId, hook: &WebhookId, since: DateTime<Utc>) -> NewAlert {
    NewAlert {
        workspace_id: ws.clone(),
        webhook_id: hook.clone(),
        condition: AlertCondition::EndpointFailing,
        since,
    }
}

fn alert_event(ws: &domain::WorkspaceId) -> store::NewEvent {
    let mut new = event(ws, "system.alert");
    new.data = raw(r#"{"alert":"endpoint_failing"}"#);
    new
}

pub async fn alerts_are_raised_once_until_cleared(h: Harness) {
    let store = h.store.clone();
    let ws = workspace(&*store, "alerts").await;
    let failing = webhook(&*store, &ws, &["user.created"]).await;
    let watcher = webhook(&*store, &ws, &["system.alert"]).await;
    let since = ms(Utc::now() - Duration::hours(2));

    let first = store
        .raise_alert(alert(&ws, &failing.id, since), alert_event(&ws))
        .await
        .unwrap()
        .expect("the first raise publishes");
    assert_eq!(first.event.event_type, "system.alert");
    taken_up(&*store, &ws, &first.event.id).await;
    assert_eq!(
        reached(&*store, &ws, &first.event.id).await,
        vec![watcher.id.clone()],
        "delivered like any event"
    );
    assert!(
        store
            .raise_alert(alert(&ws, &failing.id, since), alert_event(&ws))
            .await
            .unwrap()
            .is_none(),
        "raised already"
    );
    // Another condition of the same endpoint is another alert.
    let mut expiring = alert(&ws, &failing.id, since);
    expiring.condition = AlertCondition::EventsExpiring;
    assert!(
        store
            .raise_alert(expiring, alert_event(&ws))
            .await
            .unwrap()
            .is_some()
    );

    // Clearing compares `since`: a reader of older data does not re-arm a newer alert.
    let cond = AlertCondition::EndpointFailing;
    assert!(!store.clear_alerts(&failing.id, cond, since).await.unwrap());
    assert!(
        store
            .clear_alerts(&failing.id, cond, since + Duration::seconds(1))
            .await
            .unwrap()
    );

    // Re-armed: of several raises at once, exactly one publishes.
    let later = since + Duration::minutes(5);
    let raises = (0..6).map(|_| {
        let store = Arc::clone(&store);
        let (ws, hook) = (ws.clone(), failing.id.clone());
        async move {
            store
                .raise_alert(alert(&ws, &hook, later), alert_event(&ws))
                .await
        }
    });
    let results = futures::future::join_all(raises).await;
    let published = results
        .into_iter()
        .map(|r| r.expect("raise"))
        .filter(Option::is_some)
        .count();
    assert_eq!(published, 1);

    // An endpoint of another workspace, or a deleted one, cannot be alerted on.
    let other = workspace(&*store, "other").await;
    assert_err!(
        store
            .raise_alert(alert(&other, &failing.id, later), alert_event(&other))
            .await,
        StoreError::NotFound
    );
    store.delete_webhook(&ws, &failing.id).await.unwrap();
    assert_err!(
        store
            .raise_alert(alert(&ws, &failing.id, later), alert_event(&ws))
            .await,
        StoreError::NotFound
    );
}
