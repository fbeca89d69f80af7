//! The harness every check gets, and factories for the records checks create.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use domain::{DeliveryStatus, EventId, Subscription, WebhookId, WorkspaceId};
use serde_json::value::RawValue;
use store::{
    DeliveryFilter, DueDelivery, NewApiKey, NewEvent, NewWebhook, Page, PageRequest, Store,
    StoreError, Webhook,
};

/// Drops the given store and opens the same database again.
pub type Reopen =
    Box<dyn FnMut(Arc<dyn Store>) -> Pin<Box<dyn Future<Output = Arc<dyn Store>> + Send>> + Send>;

/// A fresh, empty store, and how to open it again.
pub struct Harness {
    pub store: Arc<dyn Store>,
    reopen: Reopen,
    /// Whatever keeps the database alive (a temporary directory, a test database).
    _keep: Box<dyn Any + Send>,
}

impl Harness {
    pub fn new(store: Arc<dyn Store>, reopen: Reopen, keep: impl Any + Send) -> Harness {
        Harness {
            store,
            reopen,
            _keep: Box::new(keep),
        }
    }

    /// Closes this handle on the database (it must be the last) and opens a new one.
    pub async fn reopen(mut self) -> Harness {
        assert_eq!(
            Arc::strong_count(&self.store),
            1,
            "a check still holds the store"
        );
        self.store = (self.reopen)(self.store).await;
        self
    }
}

pub fn new_key(name: &str) -> NewApiKey {
    let key = domain::api_key::generate_key();
    NewApiKey {
        name: name.to_owned(),
        hash: domain::api_key::hash_key(&key),
        hint: domain::api_key::key_hint(&key),
    }
}

pub async fn workspace(store: &dyn Store, name: &str) -> WorkspaceId {
    store
        .create_workspace(name, new_key("first"))
        .await
        .expect("create workspace")
        .0
        .id
}

pub fn new_webhook(events: &[&str]) -> NewWebhook {
    NewWebhook {
        url: "https://receiver.example.com/hooks".to_owned(),
        description: String::new(),
        events: events
            .iter()
            .map(|e| Subscription::parse(e).expect("valid subscription"))
            .collect(),
        enabled: true,
        secret: domain::signature::generate_secret(),
        rate_limit: None,
        headers: domain::CustomHeaders::default(),
    }
}

pub async fn webhook(store: &dyn Store, ws: &WorkspaceId, events: &[&str]) -> Webhook {
    store
        .create_webhook(ws, new_webhook(events))
        .await
        .expect("create webhook")
}

pub fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("valid JSON")
}

pub fn event(ws: &WorkspaceId, event_type: &str) -> NewEvent {
    NewEvent {
        workspace_id: ws.clone(),
        event_type: event_type.to_owned(),
        data: raw(r#"{"user_id":"usr_1"}"#),
        metadata: None,
        idempotency_key: None,
        only_webhook: None,
        trace: None,
    }
}

pub async fn publish(store: &dyn Store, ws: &WorkspaceId, event_type: &str) -> EventId {
    store
        .publish(event(ws, event_type))
        .await
        .expect("publish")
        .event
        .id
}

/// How long a check waits for a published event's deliveries: they appear milliseconds
/// after the publish answered on PostgreSQL (at once on SQLite); generous for a loaded
/// machine.
pub const TAKE_UP_WITHIN: Duration = Duration::from_secs(20);

/// Waits until `event` has its deliveries, which a check must do before it reads them:
/// on PostgreSQL a publish answers at its commit and the store's take-up worker creates
/// the deliveries right after (on SQLite they exist when it answers). `event` must reach
/// at least one endpoint. The take-up reads a workspace's log in order, in one
/// transaction per workspace, so once `event` has its deliveries, every event published
/// to `ws` before it has its own too (and those that reach nobody are settled).
pub async fn taken_up(store: &dyn Store, ws: &WorkspaceId, event: &EventId) {
    test_support::eventually(
        TAKE_UP_WITHIN,
        "the deliveries of a published event",
        || async {
            !store
                .list_event_deliveries(ws, event)
                .await
                .expect("an event's deliveries")
                .is_empty()
        },
    )
    .await;
}

/// Publishes one event of `event_type` and waits until its deliveries exist (see
/// [`taken_up`]): it must reach at least one endpoint.
pub async fn publish_taken_up(store: &dyn Store, ws: &WorkspaceId, event_type: &str) -> EventId {
    let id = publish(store, ws, event_type).await;
    taken_up(store, ws, &id).await;
    id
}

/// The endpoints an event reached (got a delivery for).
pub async fn reached(store: &dyn Store, ws: &WorkspaceId, event: &EventId) -> Vec<WebhookId> {
    let mut reached: Vec<WebhookId> = store
        .list_event_deliveries(ws, event)
        .await
        .expect("an event's deliveries")
        .into_iter()
        .map(|d| d.webhook_id)
        .collect();
    reached.sort();
    reached
}

/// Every open delivery of a lane, in seq order.
pub async fn open_deliveries(store: &dyn Store, webhook: &WebhookId) -> Vec<DueDelivery> {
    store
        .lane_window(webhook, 0, 100_000)
        .await
        .expect("lane window")
}

/// Walks every page of a webhook's deliveries with `limit` per page.
pub async fn all_deliveries(
    store: &dyn Store,
    ws: &WorkspaceId,
    webhook: &WebhookId,
    filter: DeliveryFilter,
    limit: u32,
) -> Vec<store::Delivery> {
    collect_pages(limit, |page| {
        let filter = filter.clone();
        async move { store.list_deliveries(ws, webhook, filter, page).await }
    })
    .await
}

/// Follows `next_cursor` until the end, checking no page is larger than asked.
pub async fn collect_pages<T, F, Fut>(limit: u32, mut fetch: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>, StoreError>>,
{
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = fetch(PageRequest { limit, cursor })
            .await
            .expect("list page");
        assert!(
            page.data.len() <= limit as usize,
            "page larger than its limit"
        );
        all.extend(page.data);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

pub fn status_filter(status: DeliveryStatus) -> DeliveryFilter {
    DeliveryFilter {
        status: Some(status),
        ..DeliveryFilter::default()
    }
}

/// Asserts `result` is the given error variant (errors are not `PartialEq`).
#[macro_export]
macro_rules! assert_err {
    ($result:expr, $pattern:pat) => {
        match $result {
            Err($pattern) => {}
            other => panic!("expected {}, got {:?}", stringify!($pattern), other),
        }
    };
}
