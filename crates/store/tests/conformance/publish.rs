//! Publishing: who gets a delivery, in which order, and what is stored.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use domain::{EventId, EventTypeDef, WebhookId};
use store::{NewEvent, StoreError, WebhookPatch};

use crate::assert_err;
use crate::support::{
    Harness, event, open_deliveries, publish_taken_up, raw, reached, taken_up, webhook, workspace,
};

fn set(ids: &[WebhookId]) -> BTreeSet<WebhookId> {
    ids.iter().cloned().collect()
}

pub async fn publish_reaches_matching_enabled_webhooks(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let other = workspace(store, "b").await;
    let exact = webhook(store, &ws, &["user.created"]).await.id;
    let group = webhook(store, &ws, &["user.*"]).await.id;
    let all = webhook(store, &ws, &["*"]).await.id;
    let orders = webhook(store, &ws, &["order.completed", "system.alert"])
        .await
        .id;
    let off = webhook(store, &ws, &["*"]).await.id;
    store
        .update_webhook(
            &ws,
            &off,
            WebhookPatch {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let elsewhere = webhook(store, &other, &["*"]).await.id;

    let p = store.publish(event(&ws, "user.created")).await.unwrap();
    assert!(!p.duplicate);
    taken_up(store, &ws, &p.event.id).await;
    assert_eq!(
        set(&reached(store, &ws, &p.event.id).await),
        set(&[exact.clone(), group.clone(), all.clone()])
    );

    // A group covers types added to the catalog after the subscription was made.
    let def = EventTypeDef {
        name: "user.deleted".into(),
        category: "Users".into(),
        description: String::new(),
    };
    store.create_event_type(&ws, def, None).await.unwrap();
    let p = store.publish(event(&ws, "user.deleted")).await.unwrap();
    taken_up(store, &ws, &p.event.id).await;
    assert_eq!(
        set(&reached(store, &ws, &p.event.id).await),
        set(&[group.clone(), all.clone()])
    );

    let p = store.publish(event(&ws, "order.completed")).await.unwrap();
    taken_up(store, &ws, &p.event.id).await;
    assert_eq!(
        set(&reached(store, &ws, &p.event.id).await),
        set(&[orders.clone(), all.clone()])
    );

    let p = store
        .publish(event(&ws, "integration.connected"))
        .await
        .unwrap();
    taken_up(store, &ws, &p.event.id).await;
    assert_eq!(reached(store, &ws, &p.event.id).await, vec![all.clone()]);

    let counts = [
        (&exact, 1),
        (&group, 2),
        (&all, 4),
        (&orders, 1),
        (&off, 0),
        (&elsewhere, 0),
    ];
    for (id, expected) in counts {
        let open = open_deliveries(store, id).await;
        assert_eq!(open.len(), expected, "deliveries of {id}");
        assert!(open.iter().all(|d| d.attempts == 0));
    }
    let types: Vec<String> = open_deliveries(store, &all)
        .await
        .into_iter()
        .map(|d| d.event_type)
        .collect();
    assert_eq!(
        types,
        [
            "user.created",
            "user.deleted",
            "order.completed",
            "integration.connected"
        ]
    );

    // Re-enabled, it receives what is published from then on (and nothing from before).
    store
        .update_webhook(
            &ws,
            &off,
            WebhookPatch {
                enabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    publish_taken_up(store, &ws, "system.alert").await;
    assert_eq!(open_deliveries(store, &off).await.len(), 1);
}

pub async fn seq_follows_publish_order_under_concurrency(h: Harness) {
    const PUBLISHES: usize = 200;
    let store = h.store.clone();
    let ws = workspace(&*store, "a").await;
    let mut hooks = Vec::new();
    for events in [
        &["*"][..],
        &["user.*"],
        &["user.updated", "order.completed"],
    ] {
        hooks.push(webhook(&*store, &ws, events).await.id);
    }
    let tasks: Vec<_> = (0..PUBLISHES)
        .map(|_| {
            let (store, ws) = (Arc::clone(&store), ws.clone());
            tokio::spawn(async move {
                store
                    .publish(event(&ws, "user.updated"))
                    .await
                    .unwrap()
                    .event
                    .id
            })
        })
        .collect();
    let mut published = HashSet::new();
    for task in tasks {
        assert!(
            published.insert(task.await.unwrap()),
            "event ids are unique"
        );
    }
    // Ids follow log order within a process: the highest is taken up last.
    taken_up(&*store, &ws, published.iter().max().unwrap()).await;

    for hook in &hooks {
        let open = open_deliveries(&*store, hook).await;
        assert_eq!(open.len(), PUBLISHES);
        for pair in open.windows(2) {
            assert!(pair[0].seq < pair[1].seq, "seq strictly increasing");
            assert!(
                pair[0].event_id < pair[1].event_id,
                "seq order is event id order: {} (seq {}) before {} (seq {})",
                pair[0].event_id,
                pair[0].seq,
                pair[1].event_id,
                pair[1].seq
            );
        }
        let delivered: HashSet<EventId> = open.into_iter().map(|d| d.event_id).collect();
        assert_eq!(delivered, published);
    }
}

pub async fn unknown_event_type_is_refused(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let other = workspace(store, "b").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    match store.publish(event(&ws, "invoice.paid")).await {
        Err(StoreError::UnknownEventType(name)) => assert_eq!(name, "invoice.paid"),
        other => panic!("expected UnknownEventType, got {other:?}"),
    }
    // A type in another workspace's catalog is still unknown here.
    let def = EventTypeDef {
        name: "invoice.paid".into(),
        category: "Billing".into(),
        description: String::new(),
    };
    store.create_event_type(&other, def, None).await.unwrap();
    assert_err!(
        store.publish(event(&ws, "invoice.paid")).await,
        StoreError::UnknownEventType(_)
    );
    assert!(open_deliveries(store, &hook).await.is_empty());
}

pub async fn failed_publishes_leave_concurrent_ones_intact(h: Harness) {
    let store = h.store.clone();
    let ws = workspace(&*store, "a").await;
    let hook = webhook(&*store, &ws, &["*"]).await.id;
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (store, ws) = (Arc::clone(&store), ws.clone());
            let event_type = if i % 3 == 0 {
                "nope.nope"
            } else {
                "user.created"
            };
            tokio::spawn(async move { store.publish(event(&ws, event_type)).await })
        })
        .collect();
    let mut ok = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(p) => ok.push(p.event.id),
            Err(StoreError::UnknownEventType(_)) => assert_eq!(i % 3, 0),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok.len(), 66);
    taken_up(&*store, &ws, ok.iter().max().unwrap()).await;
    let open = open_deliveries(&*store, &hook).await;
    assert_eq!(open.len(), 66);
    let seqs: Vec<i64> = open.iter().map(|d| d.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    for id in ok {
        store.get_event(&ws, &id).await.unwrap();
    }
}

pub async fn idempotency_key_returns_the_first_event(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let other = workspace(store, "b").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    let keyed = |data: &str| {
        let mut e = event(&ws, "user.created");
        e.data = raw(data);
        e.idempotency_key = Some("order-42".into());
        e
    };
    let first = store.publish(keyed(r#"{"n":1}"#)).await.unwrap();
    assert!(!first.duplicate);
    taken_up(store, &ws, &first.event.id).await;
    let again = store.publish(keyed(r#"{"n":2}"#)).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.event, first.event);
    assert_eq!(open_deliveries(store, &hook).await.len(), 1);

    // The key is per workspace, and other keys are other events.
    let mut theirs = event(&other, "user.created");
    theirs.idempotency_key = Some("order-42".into());
    assert!(!store.publish(theirs).await.unwrap().duplicate);
    let mut fresh = keyed(r#"{"n":3}"#);
    fresh.idempotency_key = Some("order-43".into());
    let fresh = store.publish(fresh).await.unwrap();
    assert!(!fresh.duplicate);
    assert_ne!(fresh.event.id, first.event.id);
    taken_up(store, &ws, &fresh.event.id).await;
    assert_eq!(open_deliveries(store, &hook).await.len(), 2);
}

pub async fn only_webhook_targets_one_endpoint(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let everything = webhook(store, &ws, &["*"]).await.id;
    let target = webhook(store, &ws, &["order.completed"]).await.id;
    let mut test = event(&ws, domain::catalog::TEST_EVENT_TYPE);
    test.data = raw(r#"{"test":true}"#);
    test.only_webhook = Some(target.clone());
    let p = store.publish(test).await.unwrap();
    taken_up(store, &ws, &p.event.id).await;
    assert_eq!(reached(store, &ws, &p.event.id).await, vec![target.clone()]);
    assert!(open_deliveries(store, &everything).await.is_empty());
    let open = open_deliveries(store, &target).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].event_type, "webhook.test");
    assert_eq!(open[0].event_id, p.event.id);

    let mut missing = event(&ws, "user.created");
    missing.only_webhook = Some(WebhookId::generate());
    assert_err!(store.publish(missing).await, StoreError::NotFound);
}

pub async fn stored_body_is_the_rendered_body(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    // Kept byte for byte: spacing and key order are the producer's.
    let data = r#"{"z": 1,  "a" : [1, 2.50, "é"]}"#;
    let mut new = event(&ws, "order.completed");
    new.data = raw(data);
    new.metadata = Some(raw(r#"{"source":"checkout"}"#));
    let p = store.publish(new.clone()).await.unwrap();
    taken_up(store, &ws, &p.event.id).await;
    let expected = domain::event::render_body(
        &p.event.id,
        "order.completed",
        p.event.timestamp,
        &new.data,
        new.metadata.as_deref(),
    );
    assert_eq!(p.event.body, expected);
    assert!(
        String::from_utf8(p.event.body.clone())
            .unwrap()
            .contains(data)
    );

    let stored = store.get_event(&ws, &p.event.id).await.unwrap();
    assert_eq!(stored, p.event);
    let window = open_deliveries(store, &hook).await;
    assert_eq!(&*window[0].body, &expected[..]);
    assert_eq!(window[0].event_created_at, p.event.timestamp);

    let body: serde_json::Value = serde_json::from_slice(&stored.body).unwrap();
    assert_eq!(body["id"], p.event.id.as_str());
    assert_eq!(body["type"], "order.completed");
    assert_eq!(body["metadata"]["source"], "checkout");

    let bare = store.publish(event(&ws, "user.created")).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bare.event.body).unwrap();
    assert_eq!(body["metadata"], serde_json::json!({}));
    assert_eq!(
        bare.event.timestamp.timestamp_subsec_nanos() % 1_000_000,
        0,
        "kept to the millisecond"
    );
}

pub async fn trace_context_is_kept_with_the_event(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let hook = webhook(store, &ws, &["*"]).await;
    let traced = domain::TraceContext::from_headers(
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        Some("rojo=00f067aa0ba902b7"),
    )
    .unwrap();
    let bare = domain::TraceContext::fresh(false);
    store
        .publish(NewEvent {
            trace: Some(traced.clone()),
            ..event(&ws, "user.created")
        })
        .await
        .unwrap();
    publish_taken_up(store, &ws, "user.created").await;
    let answers = store
        .publish_batch(vec![
            NewEvent {
                trace: Some(bare.clone()),
                ..event(&ws, "user.created")
            },
            NewEvent {
                trace: Some(traced.clone()),
                idempotency_key: Some("k".into()),
                ..event(&ws, "user.created")
            },
        ])
        .await;
    assert!(answers.iter().all(Result::is_ok));
    let last = &answers.last().unwrap().as_ref().unwrap().event.id;
    taken_up(store, &ws, last).await;
    let traces: Vec<_> = open_deliveries(store, &hook.id)
        .await
        .into_iter()
        .map(|d| d.trace)
        .collect();
    assert_eq!(
        traces,
        vec![Some(traced.clone()), None, Some(bare), Some(traced)]
    );
}
