//! Endpoints: CRUD, isolation between workspaces, the enabled-webhook limit.

use std::sync::Arc;

use domain::{CustomHeaders, DeliveryId, RateLimit, RatePeriod, Subscription, WebhookId};
use store::{DeliveryFilter, PageRequest, StoreError, WebhookPatch};

use crate::assert_err;
use crate::support::{
    Harness, collect_pages, event, new_webhook, open_deliveries, publish, publish_taken_up,
    webhook, workspace,
};

pub async fn webhook_crud_round_trips(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let mut new = new_webhook(&["user.*", "order.completed"]);
    new.description = "CRM sync".into();
    let created = store.create_webhook(&ws, new.clone()).await.unwrap();
    assert!(created.id.as_str().starts_with("wh_"));
    assert_eq!(
        (created.url.as_str(), created.description.as_str()),
        (new.url.as_str(), "CRM sync")
    );
    assert_eq!(created.events, new.events);
    assert_eq!(created.secret, new.secret);
    assert!(created.enabled);
    assert_eq!(store.get_webhook(&ws, &created.id).await.unwrap(), created);
    assert_eq!(
        store
            .list_webhooks(&ws, PageRequest::default())
            .await
            .unwrap()
            .data,
        vec![created.clone()]
    );

    let patch = WebhookPatch {
        url: Some("https://other.example.com/in".into()),
        description: Some("moved".into()),
        events: Some(vec![Subscription::All]),
        enabled: Some(false),
        ..WebhookPatch::default()
    };
    let updated = store.update_webhook(&ws, &created.id, patch).await.unwrap();
    assert_eq!(updated.url, "https://other.example.com/in");
    assert_eq!(updated.description, "moved");
    assert_eq!(updated.events, vec![Subscription::All]);
    assert!(!updated.enabled);
    assert_eq!(updated.secret, created.secret);
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(store.get_webhook(&ws, &created.id).await.unwrap(), updated);

    // An empty patch changes nothing but the update time.
    let same = store
        .update_webhook(&ws, &created.id, WebhookPatch::default())
        .await
        .unwrap();
    assert_eq!(
        (same.url, same.events, same.enabled),
        (updated.url, updated.events, updated.enabled)
    );

    store.delete_webhook(&ws, &created.id).await.unwrap();
    assert_err!(
        store.get_webhook(&ws, &created.id).await,
        StoreError::NotFound
    );
    assert_err!(
        store.delete_webhook(&ws, &created.id).await,
        StoreError::NotFound
    );
    assert_err!(
        store
            .update_webhook(&ws, &created.id, WebhookPatch::default())
            .await,
        StoreError::NotFound
    );
    assert!(
        store
            .list_webhooks(&ws, PageRequest::default())
            .await
            .unwrap()
            .data
            .is_empty()
    );
}

/// Rate limits and custom headers: stored, read back the same by every read (a lane's
/// included) and after a reopen, kept by unrelated changes and rotations, changed and
/// removed by a patch.
pub async fn webhook_controls_round_trip(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let headers = CustomHeaders::parse([
        (
            "Authorization".to_owned(),
            "Bearer gateway-token".to_owned(),
        ),
        ("X-Tenant".to_owned(), "t_42".to_owned()),
    ])
    .unwrap();
    let limit = RateLimit::new(RatePeriod::Second, 20).unwrap();
    let mut new = new_webhook(&["*"]);
    new.rate_limit = Some(limit);
    new.headers = headers.clone();
    let created = store.create_webhook(&ws, new).await.unwrap();
    assert_eq!(
        (created.rate_limit, &created.headers),
        (Some(limit), &headers)
    );
    assert_eq!(store.get_webhook(&ws, &created.id).await.unwrap(), created);
    let listed = store
        .list_webhooks(&ws, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.data, vec![created.clone()]);
    let target = store.lane_target(&created.id).await.unwrap();
    assert_eq!(
        (target.rate_limit, &target.headers),
        (Some(limit), &headers)
    );
    let plain = webhook(store, &ws, &["*"]).await;
    assert_eq!((plain.rate_limit, plain.headers.is_empty()), (None, true));
    let target = store.lane_target(&plain.id).await.unwrap();
    assert_eq!((target.rate_limit, target.headers.is_empty()), (None, true));

    let rename = WebhookPatch {
        description: Some("gateway".into()),
        ..WebhookPatch::default()
    };
    let renamed = store
        .update_webhook(&ws, &created.id, rename)
        .await
        .unwrap();
    assert_eq!(
        (renamed.rate_limit, &renamed.headers),
        (Some(limit), &headers)
    );
    let rotated = store
        .rotate_secret(
            &ws,
            &created.id,
            domain::signature::generate_secret(),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(rotated.webhook.headers, headers);

    let per_minute = RateLimit::new(RatePeriod::Minute, 600).unwrap();
    let one = CustomHeaders::parse([("X-Region".to_owned(), "eu".to_owned())]).unwrap();
    let change = WebhookPatch {
        rate_limit: Some(Some(per_minute)),
        headers: Some(one.clone()),
        ..WebhookPatch::default()
    };
    let changed = store
        .update_webhook(&ws, &created.id, change)
        .await
        .unwrap();
    assert_eq!(
        (changed.rate_limit, &changed.headers),
        (Some(per_minute), &one)
    );
    assert_eq!(store.get_webhook(&ws, &created.id).await.unwrap(), changed);
    let id = created.id.clone();
    let h = h.reopen().await;
    let store = &*h.store;
    assert_eq!(store.get_webhook(&ws, &id).await.unwrap(), changed);
    let target = store.lane_target(&id).await.unwrap();
    assert_eq!(
        (target.rate_limit, &target.headers),
        (Some(per_minute), &one)
    );

    let clear = WebhookPatch {
        rate_limit: Some(None),
        headers: Some(CustomHeaders::default()),
        ..WebhookPatch::default()
    };
    let cleared = store.update_webhook(&ws, &id, clear).await.unwrap();
    assert_eq!(
        (cleared.rate_limit, cleared.headers.is_empty()),
        (None, true)
    );
    assert_eq!(store.get_webhook(&ws, &id).await.unwrap(), cleared);
    let target = store.lane_target(&id).await.unwrap();
    assert_eq!((target.rate_limit, target.headers.is_empty()), (None, true));
}

pub async fn webhooks_paginate_by_id(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let other = workspace(store, "b").await;
    webhook(store, &other, &["*"]).await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(webhook(store, &ws, &["*"]).await.id);
    }
    let listed: Vec<WebhookId> = collect_pages(3, |page| store.list_webhooks(&ws, page))
        .await
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(listed, ids);
}

pub async fn workspaces_cannot_see_each_other(h: Harness) {
    let store = &*h.store;
    let a = workspace(store, "a").await;
    let b = workspace(store, "b").await;
    let hook = webhook(store, &a, &["*"]).await;
    let event_id = publish_taken_up(store, &a, "user.created").await;
    let delivery = open_deliveries(store, &hook.id).await.remove(0).id;

    assert_err!(store.get_webhook(&b, &hook.id).await, StoreError::NotFound);
    assert_err!(
        store
            .update_webhook(&b, &hook.id, WebhookPatch::default())
            .await,
        StoreError::NotFound
    );
    assert_err!(
        store.delete_webhook(&b, &hook.id).await,
        StoreError::NotFound
    );
    assert!(
        store
            .list_webhooks(&b, PageRequest::default())
            .await
            .unwrap()
            .data
            .is_empty()
    );
    assert_err!(
        store
            .list_deliveries(
                &b,
                &hook.id,
                DeliveryFilter::default(),
                PageRequest::default()
            )
            .await,
        StoreError::NotFound
    );
    assert_err!(store.get_event(&b, &event_id).await, StoreError::NotFound);
    assert_err!(
        store.get_delivery(&b, &delivery).await,
        StoreError::NotFound
    );
    assert_err!(
        store.get_delivery(&a, &DeliveryId::generate()).await,
        StoreError::NotFound
    );

    let mut targeted = event(&b, "user.created");
    targeted.only_webhook = Some(hook.id.clone());
    assert_err!(store.publish(targeted).await, StoreError::NotFound);

    // B's events never reach A's endpoint, even one subscribed to everything.
    publish(store, &b, "user.created").await;
    assert_eq!(open_deliveries(store, &hook.id).await.len(), 1);
    // And A still has everything.
    assert_eq!(store.get_webhook(&a, &hook.id).await.unwrap(), hook);
    assert_eq!(store.get_event(&a, &event_id).await.unwrap().id, event_id);
}

pub async fn enabled_webhook_limit_is_enforced(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let other = workspace(store, "b").await;
    for _ in 0..50 {
        webhook(store, &ws, &["*"]).await;
    }
    match store.create_webhook(&ws, new_webhook(&["*"])).await {
        Err(StoreError::LimitReached { limit }) => assert_eq!(limit, 50),
        other => panic!("the 51st enabled webhook was not refused: {other:?}"),
    }
    // Disabled ones do not count, but enabling one past the limit is refused too.
    let mut disabled = new_webhook(&["*"]);
    disabled.enabled = false;
    let parked = store.create_webhook(&ws, disabled).await.unwrap();
    let enable = WebhookPatch {
        enabled: Some(true),
        ..WebhookPatch::default()
    };
    assert_err!(
        store.update_webhook(&ws, &parked.id, enable.clone()).await,
        StoreError::LimitReached { limit: 50 }
    );
    // Other changes to an enabled webhook at the limit still work.
    let first = store
        .list_webhooks(
            &ws,
            PageRequest {
                limit: 1,
                cursor: None,
            },
        )
        .await
        .unwrap()
        .data
        .remove(0);
    let rename = WebhookPatch {
        description: Some("renamed".into()),
        enabled: Some(true),
        ..WebhookPatch::default()
    };
    store.update_webhook(&ws, &first.id, rename).await.unwrap();
    // The limit is per workspace.
    webhook(store, &other, &["*"]).await;

    store.set_workspace_limit(&ws, 52).await.unwrap();
    store.update_webhook(&ws, &parked.id, enable).await.unwrap();
    webhook(store, &ws, &["*"]).await;
    assert_err!(
        store.create_webhook(&ws, new_webhook(&["*"])).await,
        StoreError::LimitReached { limit: 52 }
    );
    // Disabling frees a slot.
    let disable = WebhookPatch {
        enabled: Some(false),
        ..WebhookPatch::default()
    };
    store
        .update_webhook(&ws, &parked.id, disable)
        .await
        .unwrap();
    webhook(store, &ws, &["*"]).await;
}

pub async fn limit_holds_under_concurrent_creates(h: Harness) {
    let store = h.store.clone();
    let ws = workspace(&*store, "a").await;
    store.set_workspace_limit(&ws, 10).await.unwrap();
    for _ in 0..5 {
        webhook(&*store, &ws, &["*"]).await;
    }
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, ws) = (Arc::clone(&store), ws.clone());
            tokio::spawn(async move { store.create_webhook(&ws, new_webhook(&["*"])).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::LimitReached { limit: 10 }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(created, 5, "exactly the free slots were taken");
    let all = store
        .list_webhooks(
            &ws,
            PageRequest {
                limit: 100,
                cursor: None,
            },
        )
        .await
        .unwrap()
        .data;
    assert_eq!(all.iter().filter(|w| w.enabled).count(), 10);
}
