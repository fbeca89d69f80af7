//! Batch publishing: each item answered as its own publish would be, in the order given.

use domain::WebhookId;
use store::{NewEvent, StoreError};

use crate::support::{Harness, event, open_deliveries, reached, taken_up, webhook, workspace};

fn keyed(ws: &domain::WorkspaceId, key: &str) -> NewEvent {
    NewEvent {
        idempotency_key: Some(key.to_owned()),
        ..event(ws, "user.created")
    }
}

pub async fn a_batch_answers_each_item_in_order(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["user.*"]).await.id;
    let earlier = store.publish(keyed(&ws, "earlier")).await.unwrap();
    assert!(store.publish_batch(Vec::new()).await.is_empty());

    let test_of_missing = NewEvent {
        only_webhook: Some(WebhookId::generate()),
        ..event(&ws, "webhook.test")
    };
    let answers = store
        .publish_batch(vec![
            event(&ws, "user.created"),
            event(&ws, "nope.missing"),
            keyed(&ws, "k1"),
            keyed(&ws, "k1"),
            keyed(&ws, "earlier"),
            test_of_missing,
            event(&ws, "user.updated"),
        ])
        .await;
    assert_eq!(answers.len(), 7, "one answer per item");
    let mut answers = answers.into_iter();
    let mut next = || answers.next().unwrap();

    let first = next().unwrap();
    assert!(!first.duplicate);
    taken_up(store, &ws, &first.event.id).await;
    assert_eq!(
        reached(store, &ws, &first.event.id).await,
        vec![hook.clone()]
    );
    assert_eq!(first.event.event_type, "user.created");
    assert!(matches!(next(), Err(StoreError::UnknownEventType(t)) if t == "nope.missing"));
    let k1 = next().unwrap();
    assert!(!k1.duplicate);
    let k1_again = next().unwrap();
    assert!(k1_again.duplicate, "a key repeated inside the batch");
    assert_eq!(k1_again.event.id, k1.event.id);
    let repeated = next().unwrap();
    assert!(repeated.duplicate, "a key used before the batch");
    assert_eq!(repeated.event.id, earlier.event.id);
    assert!(matches!(next(), Err(StoreError::NotFound)));
    let last = next().unwrap();
    assert_eq!(last.event.event_type, "user.updated");
    taken_up(store, &ws, &last.event.id).await;

    // The refused items left nothing; the others are queued in item order.
    let queued: Vec<_> = open_deliveries(store, &hook)
        .await
        .into_iter()
        .map(|d| d.event_id)
        .collect();
    assert_eq!(
        queued,
        [earlier.event.id, first.event.id, k1.event.id, last.event.id]
    );
}
