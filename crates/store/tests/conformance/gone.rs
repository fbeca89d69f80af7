//! Standard Webhooks answers: a `410 Gone` outcome disables its webhook in the same
//! commit, behind the attempt fence, and leaves its delivery open; the backlog says the
//! endpoint was disabled that way; stats count throttling answers.

use chrono::{Duration, Utc};
use domain::{DeliveryStatus, ErrorClass, WebhookId, WorkspaceId};
use store::{AlertCondition, DueDelivery, NewAlert, Outcome, StoreError, WebhookPatch};

use crate::assert_err;
use crate::dispatch::{attempt, delivered, failed, ms};
use crate::support::{Harness, event, open_deliveries, publish_taken_up, raw, webhook, workspace};

/// The outcome the lane submits for a 410 answer to `d`'s next attempt.
fn gone(d: &DueDelivery, webhook: &WebhookId, at: chrono::DateTime<Utc>) -> Outcome {
    Outcome {
        delivery_id: d.id.clone(),
        webhook_id: webhook.clone(),
        attempts_before: d.attempts,
        attempt: Some(attempt(Some(410), Some(ErrorClass::Gone), at)),
        status: DeliveryStatus::Failed,
        next_attempt_at: Some(at),
        disable_webhook: true,
    }
}

async fn is_enabled(store: &dyn store::Store, ws: &WorkspaceId, hook: &WebhookId) -> bool {
    store.get_webhook(ws, hook).await.unwrap().enabled
}

pub async fn a_410_outcome_disables_its_webhook_atomically(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "gone").await;
    let hook = webhook(store, &ws, &["user.created"]).await.id;
    let bystander = webhook(store, &ws, &["user.created"]).await.id;
    for _ in 0..2 {
        publish_taken_up(store, &ws, "user.created").await;
    }
    let head = open_deliveries(store, &hook).await.remove(0);

    // A stale 410 (the delivery moved on since) is refused and disables nothing.
    let mut stale = gone(&head, &hook, ms(Utc::now()));
    stale.attempts_before += 1;
    assert_err!(
        store.submit_outcome(stale).await.unwrap(),
        StoreError::StaleAttempt
    );
    assert!(is_enabled(store, &ws, &hook).await);
    assert!(store.lane_target(&hook).await.unwrap().enabled);

    let at = ms(Utc::now());
    store
        .submit_outcome(gone(&head, &hook, at))
        .await
        .unwrap()
        .expect("the 410 is recorded");
    assert!(!is_enabled(store, &ws, &hook).await);
    assert!(!store.lane_target(&hook).await.unwrap().enabled);
    assert!(
        is_enabled(store, &ws, &bystander).await,
        "only its own webhook"
    );

    // The delivery stays open, waiting, with the 410 as its attempt.
    let open = open_deliveries(store, &hook).await;
    assert_eq!(open.len(), 2);
    assert_eq!((open[0].id.clone(), open[0].attempts), (head.id.clone(), 1));
    let (delivery, attempts) = store.get_delivery(&ws, &head.id).await.unwrap();
    assert_eq!(delivery.status, DeliveryStatus::Failed);
    assert_eq!(delivery.last_status_code, Some(410));
    assert_eq!(
        (attempts[0].status_code, attempts[0].error_class),
        (Some(410), Some(ErrorClass::Gone))
    );
    // A later event does not reach the disabled webhook.
    publish_taken_up(store, &ws, "user.created").await;
    assert_eq!(open_deliveries(store, &hook).await.len(), 2);

    // The backlog says it was disabled by that answer, and its alert can be recorded.
    let backlog = |hook: WebhookId| async move {
        let all = store.endpoint_backlogs().await.unwrap();
        all.into_iter().find(|b| b.webhook_id == hook).unwrap()
    };
    let b = backlog(hook.clone()).await;
    assert_eq!((b.enabled, b.gone_since), (false, Some(at)));
    assert_eq!(backlog(bystander.clone()).await.gone_since, None);
    let alert = NewAlert {
        workspace_id: ws.clone(),
        webhook_id: hook.clone(),
        condition: AlertCondition::DisabledGone,
        since: at,
    };
    let mut alert_event = event(&ws, "system.alert");
    alert_event.data = raw(r#"{"alert":"disabled_gone"}"#);
    let raised = store.raise_alert(alert, alert_event).await.unwrap();
    assert!(raised.is_some());
    let b = backlog(hook.clone()).await;
    assert_eq!(b.recorded(AlertCondition::DisabledGone), Some(at));

    // Re-enabled, it is no longer "disabled by 410", and its head is due at once.
    let enable = WebhookPatch {
        enabled: Some(true),
        ..WebhookPatch::default()
    };
    store.update_webhook(&ws, &hook, enable).await.unwrap();
    assert_eq!(backlog(hook.clone()).await.gone_since, None);
    let head = open_deliveries(store, &hook).await.remove(0);
    assert_eq!(head.next_attempt_at, at);
    store
        .submit_outcome(delivered(&head, &hook, 1))
        .await
        .unwrap()
        .unwrap();
    assert!(is_enabled(store, &ws, &hook).await);
}

pub async fn stats_count_throttled_attempts(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "throttled").await;
    let hook = webhook(store, &ws, &["user.created"]).await.id;
    publish_taken_up(store, &ws, "user.created").await;
    let d = open_deliveries(store, &hook).await.remove(0);
    let now = Utc::now();
    let answers = [
        (429, ErrorClass::HttpStatus),
        (500, ErrorClass::HttpStatus),
        (502, ErrorClass::HttpStatus),
        (503, ErrorClass::HttpStatus),
        (504, ErrorClass::HttpStatus),
        (404, ErrorClass::HttpStatus),
    ];
    for (n, (code, class)) in (0u32..).zip(answers) {
        let mut outcome = failed(&d, &hook, n, now + Duration::hours(1));
        outcome.attempt = Some(attempt(Some(code), Some(class), now));
        store.submit_outcome(outcome).await.unwrap().unwrap();
    }
    // A timeout has no status at all.
    let mut timeout = failed(&d, &hook, 6, now + Duration::hours(1));
    timeout.attempt = Some(attempt(None, Some(ErrorClass::Timeout), now));
    store.submit_outcome(timeout).await.unwrap().unwrap();
    store
        .submit_outcome(delivered(&d, &hook, 7))
        .await
        .unwrap()
        .unwrap();

    let stats = store
        .webhook_stats(&ws, &hook, now - Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        (
            stats.attempts,
            stats.successes,
            stats.failures,
            stats.throttled
        ),
        (8, 1, 7, 4)
    );
    let later = store
        .webhook_stats(&ws, &hook, now + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!((later.attempts, later.throttled), (0, 0));
}

/// Attempts that never got an answer (refused connections) have no status code: stats
/// count them as failures, and as no throttling.
pub async fn stats_of_attempts_without_any_answer(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "unanswered").await;
    let hook = webhook(store, &ws, &["user.created"]).await.id;
    publish_taken_up(store, &ws, "user.created").await;
    let d = open_deliveries(store, &hook).await.remove(0);
    let now = Utc::now();
    let mut refused = failed(&d, &hook, 0, now + Duration::hours(1));
    refused.attempt = Some(attempt(None, Some(ErrorClass::Connect), now));
    store.submit_outcome(refused).await.unwrap().unwrap();

    let stats = store
        .webhook_stats(&ws, &hook, now - Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        (
            stats.attempts,
            stats.successes,
            stats.failures,
            stats.throttled
        ),
        (1, 0, 1, 0)
    );
}
