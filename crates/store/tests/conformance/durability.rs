//! What was committed is there after the store is closed and opened again.

use chrono::Utc;
use domain::{AttemptId, DeliveryStatus, EventTypeDef};
use store::{AttemptLog, Outcome, PageRequest};

use crate::support::{Harness, new_key, open_deliveries, publish, publish_taken_up, webhook};

pub async fn data_survives_reopening(h: Harness) {
    let key = new_key("first");
    let (ws, hook, event_id, delivery, seq) = {
        let store = &*h.store;
        let ws = store.bootstrap(key.clone()).await.unwrap().unwrap();
        let def = EventTypeDef {
            name: "invoice.paid".into(),
            category: "Billing".into(),
            description: "Paid".into(),
        };
        store.create_event_type(&ws.id, def, None).await.unwrap();
        let hook = webhook(store, &ws.id, &["*"]).await;
        let event_id = publish(store, &ws.id, "invoice.paid").await;
        publish_taken_up(store, &ws.id, "user.created").await;
        let d = open_deliveries(store, &hook.id).await.remove(0);
        let outcome = Outcome {
            delivery_id: d.id.clone(),
            webhook_id: hook.id.clone(),
            attempts_before: 0,
            attempt: Some(AttemptLog {
                id: AttemptId::generate(),
                attempted_at: Utc::now(),
                status_code: Some(204),
                response_ms: 12,
                error_class: None,
                error_message: None,
                response_body: None,
                request_headers: None,
                response_headers: None,
            }),
            status: DeliveryStatus::Delivered,
            next_attempt_at: None,
            disable_webhook: false,
        };
        store.submit_outcome(outcome).await.unwrap().unwrap();
        let last_seq = open_deliveries(store, &hook.id).await.last().unwrap().seq;
        (ws, hook, event_id, d, last_seq)
    };
    let body = h.store.get_event(&ws.id, &event_id).await.unwrap();

    let h = h.reopen().await;
    let store = &*h.store;
    assert_eq!(
        store
            .list_workspaces(PageRequest::default())
            .await
            .unwrap()
            .data,
        vec![ws.clone()]
    );
    assert!(store.bootstrap(new_key("again")).await.unwrap().is_none());
    assert_eq!(
        store
            .find_api_key(&key.hash)
            .await
            .unwrap()
            .unwrap()
            .workspace_id,
        ws.id
    );
    assert_eq!(store.list_event_types(&ws.id).await.unwrap().len(), 6);
    assert_eq!(store.get_webhook(&ws.id, &hook.id).await.unwrap(), hook);
    assert_eq!(store.get_event(&ws.id, &event_id).await.unwrap(), body);
    let (stored, attempts) = store.get_delivery(&ws.id, &delivery.id).await.unwrap();
    assert_eq!(
        (stored.status, stored.attempts, attempts.len()),
        (DeliveryStatus::Delivered, 1, 1)
    );
    assert_eq!(
        store.lanes_with_work().await.unwrap(),
        vec![hook.id.clone()]
    );

    // Sequences continue where they were.
    publish_taken_up(store, &ws.id, "user.created").await;
    let seqs: Vec<i64> = open_deliveries(store, &hook.id)
        .await
        .iter()
        .map(|d| d.seq)
        .collect();
    assert_eq!(seqs.len(), 2);
    assert!(seqs[0] == seq && seqs[1] > seq, "{seqs:?} after {seq}");
}
