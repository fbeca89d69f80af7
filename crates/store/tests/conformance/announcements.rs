//! The store's announcements: every committed write that gives an endpoint work or
//! changes it is announced, and only once what it wrote is readable.
//!
//! Each check reads the store the moment an announcement arrives, while the write that
//! caused it runs in another task: news sent before its commit would find the old state.

use std::sync::Arc;
use std::time::Duration;

use domain::WebhookId;
use store::{Store, StoreError, Wakeup, WebhookPatch};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::dispatch::delivered;
use crate::support::{Harness, open_deliveries, publish, webhook, workspace};

const PATIENCE: Duration = Duration::from_secs(10);

/// The next announcement about `webhook` of the kind asked for. Others are skipped: a
/// shared store may repeat a change it heard back from the database, and hears the news
/// of every other test on the same database.
async fn next_about(news: &mut UnboundedReceiver<Wakeup>, webhook: &WebhookId, resync: bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let heard = tokio::time::timeout_at(deadline, news.recv())
            .await
            .unwrap_or_else(|_| panic!("no announcement about {webhook} (resync: {resync})"))
            .expect("the stream stays open while the store lives");
        if &heard.webhook == webhook && heard.resync == resync {
            return;
        }
    }
}

/// Whether an announcement about one of `webhooks` is waiting (without waiting for one).
fn pending_about(news: &mut UnboundedReceiver<Wakeup>, webhooks: &[&WebhookId]) -> bool {
    let mut found = false;
    while let Ok(heard) = news.try_recv() {
        found |= webhooks.contains(&&heard.webhook);
    }
    found
}

pub async fn publishes_are_announced_once_readable(h: Harness) {
    let store = h.store.clone();
    let mut news = store.announcements().expect("the first call hands it out");
    assert!(store.announcements().is_none(), "handed out once");
    let ws = workspace(&*store, "a").await;
    let hook = webhook(&*store, &ws, &["user.*"]).await.id;
    let quiet = webhook(&*store, &ws, &["order.completed"]).await.id;
    assert!(
        !pending_about(&mut news, &[&hook, &quiet]),
        "a new endpoint has no work"
    );

    const TASKS: usize = 4;
    const EACH: usize = 25;
    let publishers: Vec<_> = (0..TASKS)
        .map(|_| {
            let (store, ws) = (store.clone(), ws.clone());
            tokio::spawn(async move {
                for _ in 0..EACH {
                    publish(&*store, &ws, "user.created").await;
                }
            })
        })
        .collect();
    // One commit may hold several publishes and announce them once; each announcement
    // is of a commit that made at least one more delivery readable.
    let mut heard = 0;
    let mut readable = 0;
    while readable < TASKS * EACH {
        next_about(&mut news, &hook, false).await;
        heard += 1;
        readable = open_deliveries(&*store, &hook).await.len();
        assert!(
            readable >= heard,
            "announcement {heard} came while only {readable} deliveries were readable"
        );
    }
    for publisher in publishers {
        publisher.await.unwrap();
    }
    assert!(
        !pending_about(&mut news, &[&quiet]),
        "no announcement for an endpoint without work"
    );

    // A repeated idempotency key creates nothing and announces nothing.
    let mut keyed = crate::support::event(&ws, "user.created");
    keyed.idempotency_key = Some("k1".to_owned());
    store.publish(keyed).await.unwrap();
    next_about(&mut news, &hook, false).await;
    let mut again = crate::support::event(&ws, "user.created");
    again.idempotency_key = Some("k1".to_owned());
    assert!(store.publish(again).await.unwrap().duplicate);
    assert!(
        !pending_about(&mut news, &[&hook]),
        "a duplicate announces nothing"
    );
}

pub async fn changes_and_resends_are_announced_once_readable(h: Harness) {
    let store: Arc<dyn Store> = h.store.clone();
    let mut news = store.announcements().expect("the first call hands it out");
    let ws = workspace(&*store, "a").await;
    // One endpoint per step: a shared store may hear a step's news again, later.
    let (hook, resent, deleted) = (
        webhook(&*store, &ws, &["*"]).await.id,
        webhook(&*store, &ws, &["*"]).await.id,
        webhook(&*store, &ws, &["*"]).await.id,
    );

    // An update: the lane re-reads its target, which must be the new one.
    let patch = WebhookPatch {
        url: Some("https://moved.example.com/in".into()),
        ..WebhookPatch::default()
    };
    let update = spawn_write(&store, {
        let (ws, hook) = (ws.clone(), hook.clone());
        move |store| async move { store.update_webhook(&ws, &hook, patch).await.map(drop) }
    });
    next_about(&mut news, &hook, true).await;
    let target = store.lane_target(&hook).await.unwrap();
    assert_eq!(target.url, "https://moved.example.com/in");
    update.await.unwrap().unwrap();

    // A retry of a delivered delivery: the lane must find it open again.
    publish(&*store, &ws, "user.created").await;
    next_about(&mut news, &resent, false).await;
    let due = open_deliveries(&*store, &resent).await.remove(0);
    store
        .submit_outcome(delivered(&due, &resent, 0))
        .await
        .unwrap()
        .unwrap();
    assert!(open_deliveries(&*store, &resent).await.is_empty());
    let retry = spawn_write(&store, {
        let (ws, id) = (ws.clone(), due.id.clone());
        move |store| async move { store.retry_delivery(&ws, &id).await.map(drop) }
    });
    next_about(&mut news, &resent, true).await;
    assert_eq!(open_deliveries(&*store, &resent).await.len(), 1);
    retry.await.unwrap().unwrap();

    // A deletion: the lane must find its endpoint gone.
    let delete = spawn_write(&store, {
        let (ws, hook) = (ws.clone(), deleted.clone());
        move |store| async move { store.delete_webhook(&ws, &hook).await }
    });
    next_about(&mut news, &deleted, true).await;
    assert!(matches!(
        store.lane_target(&deleted).await,
        Err(StoreError::NotFound)
    ));
    delete.await.unwrap().unwrap();
}

/// Runs one write in its own task, so the check can read as soon as it is announced.
fn spawn_write<F, Fut>(
    store: &Arc<dyn Store>,
    write: F,
) -> tokio::task::JoinHandle<store::Result<()>>
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = store::Result<()>> + Send + 'static,
{
    tokio::spawn(write(store.clone()))
}
