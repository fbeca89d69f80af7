//! Listener endpoints (`listen://…`): outside the limit of enabled webhooks, marked seen,
//! found once unseen, removed with their backlog.

use std::time::Duration;

use domain::listener::listener_url;
use store::{StoreError, WebhookPatch};

use crate::support::{Harness, new_webhook, open_deliveries, publish_taken_up, webhook, workspace};

pub async fn listeners_are_outside_the_limit_and_found_once_unseen(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "dev").await;
    store.set_workspace_limit(&ws, 1).await.unwrap();
    let plain = webhook(store, &ws, &["*"]).await;
    match store.create_webhook(&ws, new_webhook(&["*"])).await {
        Err(StoreError::LimitReached { limit: 1 }) => {}
        other => panic!("the limit of one was not enforced: {other:?}"),
    }
    let mut new = new_webhook(&["user.*"]);
    new.url = listener_url("laptop");
    let listener = store.create_webhook(&ws, new.clone()).await.unwrap();
    let mut idle = new;
    idle.url = listener_url("idle");
    let idle = store.create_webhook(&ws, idle).await.unwrap();
    // A listener counts as neither when created nor when enabled again.
    let off = WebhookPatch {
        enabled: Some(false),
        ..WebhookPatch::default()
    };
    let on = WebhookPatch {
        enabled: Some(true),
        ..WebhookPatch::default()
    };
    store.update_webhook(&ws, &listener.id, off).await.unwrap();
    store.update_webhook(&ws, &listener.id, on).await.unwrap();

    // Listeners get deliveries like any endpoint.
    publish_taken_up(store, &ws, "user.created").await;
    assert_eq!(open_deliveries(store, &listener.id).await.len(), 1);

    // Nothing is stale before its time; a listener marked seen later than the cutoff is
    // not, the other one is; other endpoints never are.
    let created = listener.created_at;
    assert!(
        store
            .stale_listeners(created - chrono::Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    let later = chrono::Utc::now() + chrono::Duration::milliseconds(20);
    // The store keeps times to the millisecond: a touch within `later`'s own millisecond
    // would be stored before it.
    let touched_after = later + chrono::Duration::milliseconds(1);
    while chrono::Utc::now() <= touched_after {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    store
        .touch_listeners(&[listener.id.clone(), plain.id.clone()])
        .await
        .unwrap();
    let stale = store.stale_listeners(later).await.unwrap();
    assert_eq!(stale, vec![(ws.clone(), idle.id.clone())]);
    let all = store
        .stale_listeners(chrono::Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        all,
        vec![
            (ws.clone(), idle.id.clone()),
            (ws.clone(), listener.id.clone())
        ],
        "oldest seen first, and never the plain endpoint"
    );

    // Removal is the deletion of the endpoint, its backlog with it.
    store.delete_webhook(&ws, &listener.id).await.unwrap();
    assert!(open_deliveries(store, &listener.id).await.is_empty());
    store.touch_listeners(&[]).await.unwrap();
}
