//! The event log: a publish is taken up by the endpoints that exist and are enabled when
//! it is published, in publish order, however many take-up batches that needs.

use std::collections::HashSet;
use std::sync::Arc;

use store::{NewEvent, WebhookPatch};

use crate::support::{
    Harness, event, open_deliveries, publish, publish_taken_up, reached, taken_up, webhook,
    workspace,
};

pub async fn an_endpoint_created_after_an_event_does_not_get_it(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let early = webhook(store, &ws, &["*"]).await.id;
    let before = publish(store, &ws, "user.created").await;
    let late = webhook(store, &ws, &["*"]).await.id;
    let after = publish_taken_up(store, &ws, "user.created").await;
    assert_eq!(reached(store, &ws, &before).await, vec![early.clone()]);
    let mut both = vec![early.clone(), late.clone()];
    both.sort();
    assert_eq!(reached(store, &ws, &after).await, both);
    let late_open = open_deliveries(store, &late).await;
    assert_eq!(late_open.len(), 1);
    assert_eq!(late_open[0].event_id, after);

    // Created disabled and enabled later: it starts from the enabling.
    let mut off = crate::support::new_webhook(&["*"]);
    off.enabled = false;
    let off = store.create_webhook(&ws, off).await.unwrap().id;
    publish(store, &ws, "user.created").await;
    let enable = WebhookPatch {
        enabled: Some(true),
        ..Default::default()
    };
    store.update_webhook(&ws, &off, enable).await.unwrap();
    let last = publish_taken_up(store, &ws, "user.created").await;
    let open = open_deliveries(store, &off).await;
    assert_eq!(open.len(), 1, "nothing from before it was enabled");
    assert_eq!(open[0].event_id, last);
    assert_eq!(open_deliveries(store, &early).await.len(), 4);
}

pub async fn take_up_keeps_order_across_batches(h: Harness) {
    // More than one take-up batch (1,000 log entries) committed at about once.
    const TASKS: usize = 15;
    const EACH: usize = 100;
    let store = h.store.clone();
    let ws = workspace(&*store, "a").await;
    let all = webhook(&*store, &ws, &["*"]).await.id;
    let orders = webhook(&*store, &ws, &["order.*"]).await.id;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (store, ws) = (Arc::clone(&store), ws.clone());
            tokio::spawn(async move {
                let batch: Vec<NewEvent> = (0..EACH)
                    .map(|i| {
                        let kind = if (t + i) % 3 == 0 {
                            "order.completed"
                        } else {
                            "user.created"
                        };
                        event(&ws, kind)
                    })
                    .collect();
                let answers = store.publish_batch(batch).await;
                answers
                    .into_iter()
                    .map(|a| {
                        let p = a.expect("publish");
                        (p.event.id, p.event.event_type)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut published = Vec::new();
    for task in tasks {
        published.extend(task.await.unwrap());
    }
    // Ids follow log order within a process: the highest is taken up last.
    let newest = published.iter().map(|(id, _)| id).max().unwrap();
    taken_up(&*store, &ws, newest).await;
    let order_ids: HashSet<_> = published
        .iter()
        .filter(|(_, kind)| kind == "order.completed")
        .map(|(id, _)| id.clone())
        .collect();

    for (hook, expected) in [(&all, TASKS * EACH), (&orders, order_ids.len())] {
        let open = open_deliveries(&*store, hook).await;
        assert_eq!(open.len(), expected, "each event once, to {hook}");
        let distinct: HashSet<_> = open.iter().map(|d| d.event_id.clone()).collect();
        assert_eq!(distinct.len(), expected, "no event taken up twice");
        for pair in open.windows(2) {
            assert!(pair[0].seq < pair[1].seq, "seq strictly increasing");
            assert!(
                pair[0].event_id < pair[1].event_id,
                "seq order is publish (event id) order"
            );
        }
    }
    assert!(
        open_deliveries(&*store, &orders)
            .await
            .iter()
            .all(|d| order_ids.contains(&d.event_id))
    );
}
