//! The rules of the use cases over a real SQLite store in a temporary directory: what is
//! refused and with which typed error, and what the store announces to the lanes after
//! each commit.
//!
//! No network: URLs are in `--dev` (no DNS) or are refused before any lookup; the DNS
//! rules themselves are tested beside the check (`destination`).

use std::sync::{Arc, Mutex};

use admin_webhooks_usecases::{
    Application, Conflict, EventDraft, EventTypeChanges, EventTypeDraft, RateLimitDraft, Refused,
    Resource, Settings, UseCaseError, WebhookChanges, WebhookDraft,
};
use chrono::{Duration, Utc};
use domain::api_key::{generate_key, hash_key, key_hint};
use domain::{RatePeriod, WebhookId, WorkspaceId};
use serde_json::value::RawValue;
use store::sqlite::SqliteStore;
use store::{
    ConflictKind, LaneStore, NewApiKey, OperationsStore, ReplayFilter, TenancyStore, Wakeup,
};
use tempfile::TempDir;
use tokio::sync::mpsc::UnboundedReceiver;

/// The store's announcements, as the dispatcher would hear them.
struct Announced(Mutex<UnboundedReceiver<Wakeup>>);

impl Announced {
    /// Every announcement made so far, in order: `("wake" | "resync", endpoints)`. The
    /// store announces a write before its caller hears back, so nothing is in flight.
    fn take(&self) -> Vec<(&'static str, Vec<WebhookId>)> {
        let mut stream = self.0.lock().unwrap();
        let mut taken = Vec::new();
        while let Ok(news) = stream.try_recv() {
            let kind = if news.resync { "resync" } else { "wake" };
            taken.push((kind, vec![news.webhook]));
        }
        taken
    }
}

struct Setup {
    app: Application,
    store: Arc<SqliteStore>,
    lanes: Announced,
    workspace: WorkspaceId,
    _dir: TempDir,
}

async fn setup(dev: bool) -> Setup {
    let dir = TempDir::new().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
    let key = generate_key();
    let workspace = store
        .bootstrap(NewApiKey {
            name: "bootstrap".to_owned(),
            hash: hash_key(&key),
            hint: key_hint(&key),
        })
        .await
        .unwrap()
        .expect("a fresh store creates `default`");
    let lanes = Announced(Mutex::new(store.announcements().expect("handed out once")));
    let settings = Settings {
        dev,
        ..Settings::default()
    };
    let app = Application::new(store.clone(), settings);
    Setup {
        app,
        store,
        lanes,
        workspace: workspace.id,
        _dir: dir,
    }
}

fn draft(url: &str, events: &[&str]) -> WebhookDraft {
    WebhookDraft {
        url: url.to_owned(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        description: String::new(),
        enabled: true,
        rate_limit: None,
        headers: Vec::new(),
    }
}

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap()
}

fn event(event_type: &str, key: Option<&str>) -> EventDraft {
    EventDraft {
        event_type: event_type.to_owned(),
        data: raw(r#"{"user_id":"usr_1"}"#),
        metadata: None,
        idempotency_key: key.map(str::to_owned),
        trace: None,
    }
}

#[track_caller]
fn field_of(error: UseCaseError) -> &'static str {
    match error {
        UseCaseError::Validation { field, .. } => field,
        other => panic!("not a validation error: {other:?}"),
    }
}

#[tokio::test]
async fn webhook_checks_run_in_order_with_typed_refusals() {
    let s = setup(true).await;
    let ws = &s.workspace;
    let mut long = draft("http://localhost/in", &[]);
    long.description = "d".repeat(501);
    let error = s.app.create_webhook(ws, long).await.unwrap_err();
    assert_eq!(field_of(error), "description", "checked before `events`");

    let error = s
        .app
        .create_webhook(ws, draft("http://localhost/in", &[]))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("at least one event type"),
        "{error}"
    );
    assert_eq!(field_of(error), "events");

    let error = s
        .app
        .create_webhook(ws, draft("http://localhost/in", &["nope.missing"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, UseCaseError::Conflict(Conflict::UnknownEventType(name)) if name == "nope.missing"),
        "{error:?}"
    );
    // A group may name types that do not exist yet.
    s.app
        .create_webhook(ws, draft("http://localhost/in", &["nope.*"]))
        .await
        .unwrap();
}

fn header(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

#[tokio::test]
async fn rate_limits_and_custom_headers_are_checked_kept_and_changed() {
    let s = setup(true).await;
    let ws = &s.workspace;
    let per_second = |count| RateLimitDraft {
        period: RatePeriod::Second,
        count,
    };

    // Checked after the events and before the URL, which is not valid here.
    let mut bad = draft("ftp://nowhere", &["*"]);
    bad.rate_limit = Some(per_second(0));
    let error = s.app.create_webhook(ws, bad.clone()).await.unwrap_err();
    assert!(error.to_string().contains("from 1 to 10000"), "{error}");
    assert_eq!(field_of(error), "rate_limit");
    bad.rate_limit = Some(per_second(10_001));
    assert_eq!(
        field_of(s.app.create_webhook(ws, bad.clone()).await.unwrap_err()),
        "rate_limit"
    );
    bad.rate_limit = None;
    bad.headers = vec![header("X-Admin-Signature", "sha256=forged")];
    let error = s.app.create_webhook(ws, bad).await.unwrap_err();
    assert!(error.to_string().contains("`X-Admin-Signature`"), "{error}");
    assert_eq!(field_of(error), "headers");

    let mut good = draft("http://localhost/in", &["*"]);
    good.rate_limit = Some(per_second(20));
    good.headers = vec![header("Authorization", "Bearer gateway-token")];
    let hook = s.app.create_webhook(ws, good).await.unwrap();
    let read = s.app.get_webhook(ws, &hook.id).await.unwrap();
    assert_eq!(read.rate_limit.unwrap().to_string(), "20 per second");
    let headers: Vec<_> = read
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    assert_eq!(headers, [header("Authorization", "Bearer gateway-token")]);
    let target = s.store.lane_target(&hook.id).await.unwrap();
    assert_eq!(target.rate_limit, read.rate_limit);
    assert_eq!(target.headers, read.headers);

    // A change of something else keeps both; each can be changed and removed.
    let rename = WebhookChanges {
        description: Some("gateway".to_owned()),
        ..WebhookChanges::default()
    };
    let renamed = s.app.update_webhook(ws, &hook.id, rename).await.unwrap();
    assert_eq!(
        (renamed.rate_limit, &renamed.headers),
        (read.rate_limit, &read.headers)
    );
    let clear = WebhookChanges {
        rate_limit: Some(None),
        headers: Some(Vec::new()),
        ..WebhookChanges::default()
    };
    let cleared = s.app.update_webhook(ws, &hook.id, clear).await.unwrap();
    assert_eq!(cleared.rate_limit, None);
    assert!(cleared.headers.is_empty());
    let read = s.app.get_webhook(ws, &hook.id).await.unwrap();
    assert_eq!((read.rate_limit, read.headers.is_empty()), (None, true));
    let per_minute = WebhookChanges {
        rate_limit: Some(Some(RateLimitDraft {
            period: RatePeriod::Minute,
            count: 90,
        })),
        headers: Some(vec![header("X-Tenant", "t_1"), header("X-Region", "eu")]),
        ..WebhookChanges::default()
    };
    let changed = s
        .app
        .update_webhook(ws, &hook.id, per_minute)
        .await
        .unwrap();
    assert_eq!(changed, s.app.get_webhook(ws, &hook.id).await.unwrap());
    assert_eq!(changed.rate_limit.unwrap().to_string(), "90 per minute");
    assert_eq!(changed.headers.len(), 2);
    let refused = WebhookChanges {
        headers: Some(vec![header("Content-Type", "text/plain")]),
        ..WebhookChanges::default()
    };
    let error = s
        .app
        .update_webhook(ws, &hook.id, refused)
        .await
        .unwrap_err();
    assert_eq!(field_of(error), "headers");
    assert_eq!(
        s.app.get_webhook(ws, &hook.id).await.unwrap().headers.len(),
        2
    );
}

#[tokio::test]
async fn urls_outside_dev_are_checked_before_any_lookup() {
    let s = setup(false).await;
    let error = s
        .app
        .create_webhook(&s.workspace, draft("http://localhost/in", &["*"]))
        .await
        .unwrap_err();
    assert!(matches!(error, UseCaseError::UrlNotAllowed(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("The webhook URL is not allowed")
    );
}

#[tokio::test]
async fn the_store_announces_committed_changes_only() {
    let s = setup(true).await;
    let ws = &s.workspace;
    let hook = s
        .app
        .create_webhook(ws, draft("http://localhost/in", &["user.*"]))
        .await
        .unwrap();
    assert!(s.lanes.take().is_empty(), "a new endpoint has no work");

    let published = s
        .app
        .publish(ws, event("user.created", Some("k1")))
        .await
        .unwrap();
    assert_eq!(s.lanes.take(), vec![("wake", vec![hook.id.clone()])]);
    let again = s
        .app
        .publish(ws, event("user.created", Some("k1")))
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.event.id, published.event.id);
    assert!(s.lanes.take().is_empty(), "a repeated key wakes nothing");

    s.app
        .update_webhook(ws, &hook.id, WebhookChanges::default())
        .await
        .unwrap();
    assert!(s.lanes.take().is_empty(), "nothing changed");
    let changes = WebhookChanges {
        description: Some("billing".to_owned()),
        ..WebhookChanges::default()
    };
    s.app.update_webhook(ws, &hook.id, changes).await.unwrap();
    s.app.rotate_secret(ws, &hook.id).await.unwrap();
    let delivery = &s
        .app
        .event_deliveries(ws, &published.event.id)
        .await
        .unwrap()[0];
    s.app.retry_delivery(ws, &delivery.id).await.unwrap();
    s.app.delete_webhook(ws, &hook.id).await.unwrap();
    let resync = ("resync", vec![hook.id.clone()]);
    assert_eq!(s.lanes.take(), vec![resync.clone(); 4]);

    // Refused before the store: no notification.
    let error = s.app.delete_webhook(ws, &hook.id).await.unwrap_err();
    assert!(matches!(
        error,
        UseCaseError::NotFound {
            kind: Resource::Webhook,
            ..
        }
    ));
    assert!(s.lanes.take().is_empty());
}

#[tokio::test]
async fn a_disabled_webhook_refuses_tests_and_resends() {
    let s = setup(true).await;
    let ws = &s.workspace;
    let hook = s
        .app
        .create_webhook(ws, draft("http://localhost/in", &["*"]))
        .await
        .unwrap();
    let published = s
        .app
        .publish(ws, event("user.created", None))
        .await
        .unwrap();
    let disable = WebhookChanges {
        enabled: Some(false),
        ..WebhookChanges::default()
    };
    s.app.update_webhook(ws, &hook.id, disable).await.unwrap();
    s.lanes.take();

    let refused = |refused| {
        UseCaseError::Conflict(Conflict::WebhookDisabled {
            webhook: hook.id.clone(),
            refused,
        })
        .to_string()
    };
    let error = s.app.send_test_event(ws, &hook.id).await.unwrap_err();
    assert_eq!(error.to_string(), refused(Refused::TestEvent));
    assert!(error.to_string().contains("test events included"));

    let delivery = &s
        .app
        .event_deliveries(ws, &published.event.id)
        .await
        .unwrap()[0];
    let error = s.app.retry_delivery(ws, &delivery.id).await.unwrap_err();
    assert_eq!(error.to_string(), refused(Refused::Resend));
    let filter = ReplayFilter {
        since: Utc::now() - Duration::hours(1),
        until: None,
        status: None,
    };
    let error = s
        .app
        .replay_deliveries(ws, &hook.id, filter)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("re-sends included"), "{error}");
    assert!(s.lanes.take().is_empty());
}

#[tokio::test]
async fn the_limit_of_enabled_webhooks_is_a_typed_conflict() {
    let s = setup(true).await;
    let ws = &s.workspace;
    let error = s.app.set_webhook_limit(ws, 10_001).await.unwrap_err();
    assert_eq!(field_of(error), "max_enabled_webhooks");
    s.app.set_webhook_limit(ws, 1).await.unwrap();
    s.app
        .create_webhook(ws, draft("http://localhost/a", &["*"]))
        .await
        .unwrap();
    let error = s
        .app
        .create_webhook(ws, draft("http://localhost/b", &["*"]))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        UseCaseError::Conflict(Conflict::LimitReached { limit: 1 })
    ));
}

#[tokio::test]
async fn catalog_keys_and_events_keep_their_rules() {
    let s = setup(true).await;
    let ws = &s.workspace;
    let reserved = EventTypeDraft {
        name: "webhook.test".to_owned(),
        category: "Tests".to_owned(),
        description: String::new(),
        schema: None,
    };
    let error = s.app.add_event_type(ws, &reserved).await.unwrap_err();
    assert!(
        error.to_string().contains("reserved for test events"),
        "{error}"
    );
    let paid = EventTypeDraft {
        name: "invoice.paid".to_owned(),
        category: " ".to_owned(),
        description: String::new(),
        schema: None,
    };
    assert_eq!(
        field_of(s.app.add_event_type(ws, &paid).await.unwrap_err()),
        "category"
    );
    let paid = EventTypeDraft {
        category: "Billing".to_owned(),
        ..paid
    };
    s.app.add_event_type(ws, &paid).await.unwrap();
    let error = s.app.add_event_type(ws, &paid).await.unwrap_err();
    assert!(matches!(
        &error,
        UseCaseError::Conflict(Conflict::Store(ConflictKind::EventTypeExists(name))) if name == "invoice.paid"
    ));

    assert_eq!(
        field_of(s.app.create_api_key(ws, "  ").await.unwrap_err()),
        "name"
    );
    let created = s.app.create_api_key(ws, " ci ").await.unwrap();
    assert_eq!(created.key.name, "ci");
    let found = s.app.recognise_key(&created.value).await.unwrap();
    assert_eq!(found.map(|k| k.id), Some(created.key.id.clone()));
    s.app.revoke_api_key(ws, &created.key.id).await.unwrap();
    assert!(s.app.recognise_key(&created.value).await.unwrap().is_none());

    let mut array = event("user.created", None);
    array.data = raw("[1]");
    assert_eq!(
        field_of(s.app.publish(ws, array).await.unwrap_err()),
        "data"
    );
    assert_eq!(
        field_of(
            s.app
                .publish(ws, event("Bad Type", None))
                .await
                .unwrap_err()
        ),
        "type"
    );
    let error = s
        .app
        .publish(ws, event("nope.missing", None))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        UseCaseError::Conflict(Conflict::UnknownEventType(_))
    ));
}

#[tokio::test]
async fn another_workspace_sees_nothing() {
    let s = setup(true).await;
    let hook = s
        .app
        .create_webhook(&s.workspace, draft("http://localhost/in", &["*"]))
        .await
        .unwrap();
    let other = s.app.create_workspace("Other").await.unwrap();
    assert_eq!(other.first_key.key.name, "Initial key");
    let error = s
        .app
        .get_webhook(&other.workspace.id, &hook.id)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, UseCaseError::NotFound { kind: Resource::Webhook, id } if *id == hook.id.to_string()),
        "{error:?}"
    );
    let page = store::PageRequest {
        limit: 10,
        cursor: None,
    };
    let error = s
        .app
        .list_deliveries(&other.workspace.id, &hook.id, Default::default(), page)
        .await
        .unwrap_err();
    assert!(
        matches!(error, UseCaseError::NotFound { .. }),
        "not an empty list"
    );
}

#[tokio::test]
async fn a_batch_is_checked_item_by_item_and_stored_in_one_call() {
    let s = setup(true).await;
    let ws = &s.workspace;
    let hook = s
        .app
        .create_webhook(ws, draft("http://localhost/in", &["user.*"]))
        .await
        .unwrap();
    let too_many = (0..101).map(|_| event("user.created", None)).collect();
    let error = s.app.publish_batch(ws, too_many).await.unwrap_err();
    assert_eq!(field_of(error), "events", "the whole batch is refused");
    let error = s.app.publish_batch(ws, Vec::new()).await.unwrap_err();
    assert_eq!(field_of(error), "events");

    let mut array = event("user.created", None);
    array.data = raw("[1]");
    let answers = s
        .app
        .publish_batch(
            ws,
            vec![
                event("user.created", Some("k1")),
                array,
                event("Bad Type", None),
                event("user.created", Some(" padded")),
                event("nope.missing", None),
                event("user.created", Some("k1")),
                event("user.updated", None),
            ],
        )
        .await
        .unwrap();
    assert_eq!(answers.len(), 7);
    let mut answers = answers.into_iter();
    let first = answers.next().unwrap().unwrap();
    assert_eq!(field_of(answers.next().unwrap().unwrap_err()), "data");
    assert_eq!(field_of(answers.next().unwrap().unwrap_err()), "type");
    assert_eq!(
        field_of(answers.next().unwrap().unwrap_err()),
        "idempotency_key"
    );
    assert!(matches!(
        answers.next().unwrap(),
        Err(UseCaseError::Conflict(Conflict::UnknownEventType(_)))
    ));
    let again = answers.next().unwrap().unwrap();
    assert!(again.duplicate && again.event.id == first.event.id);
    let last = answers.next().unwrap().unwrap();
    assert!(!last.duplicate);
    let wake = ("wake", vec![hook.id.clone()]);
    assert_eq!(
        s.lanes.take(),
        vec![wake],
        "one per endpoint that took the batch's new events up in its commit"
    );
}

fn data_event(event_type: &str, data: &str) -> EventDraft {
    EventDraft {
        data: raw(data),
        ..event(event_type, None)
    }
}

#[track_caller]
fn paths_of(error: UseCaseError) -> Vec<String> {
    match error {
        UseCaseError::SchemaMismatch { violations, .. } => {
            violations.into_iter().map(|v| v.path).collect()
        }
        other => panic!("not a schema mismatch: {other:?}"),
    }
}

#[tokio::test]
async fn payload_schemas_refuse_what_does_not_match_from_the_next_publish_on() {
    let s = setup(true).await;
    let ws = &s.workspace;
    let invoice = EventTypeDraft {
        name: "invoice.paid".to_owned(),
        category: "Billing".to_owned(),
        description: String::new(),
        schema: Some(serde_json::json!({"type": "object", "minLength": -1})),
    };
    let error = s.app.add_event_type(ws, &invoice).await.unwrap_err();
    assert!(
        error.to_string().contains("not a valid JSON Schema"),
        "{error}"
    );
    assert_eq!(field_of(error), "schema");

    let invoice = EventTypeDraft {
        schema: Some(serde_json::json!({
            "type": "object",
            "required": ["invoice_id"],
            "properties": {"invoice_id": {"type": "string"}, "amount": {"type": "integer"}}
        })),
        ..invoice
    };
    let created = s.app.add_event_type(ws, &invoice).await.unwrap();
    assert!(created.schema.is_some());
    s.app
        .publish(
            ws,
            data_event("invoice.paid", r#"{"invoice_id":"inv_1","amount":5}"#),
        )
        .await
        .unwrap();
    let error = s
        .app
        .publish(
            ws,
            data_event("invoice.paid", r#"{"invoice_id":7,"amount":"5"}"#),
        )
        .await
        .unwrap_err();
    assert_eq!(error.http_status(), 422);
    assert!(error.to_string().contains("`/data/invoice_id`"), "{error}");
    let mut paths = paths_of(error);
    paths.sort();
    assert_eq!(paths, ["/amount", "/invoice_id"]);

    // A change applies to the very next publish (the cached schema is dropped).
    let loosen = EventTypeChanges {
        schema: Some(None),
        ..Default::default()
    };
    s.app
        .change_event_type(ws, "invoice.paid", &loosen)
        .await
        .unwrap();
    s.app
        .publish(ws, data_event("invoice.paid", r#"{"anything":true}"#))
        .await
        .unwrap();

    // In a batch, only the item that does not match is refused.
    let mut answers = s
        .app
        .publish_batch(
            ws,
            vec![
                data_event("user.created", r#"{"email":42}"#),
                data_event("user.created", r#"{"email":"a@example.com","n":1}"#),
            ],
        )
        .await
        .unwrap();
    assert!(answers[1].is_ok());
    assert_eq!(paths_of(answers.remove(0).unwrap_err()), ["/email"]);
}

#[tokio::test]
async fn built_in_types_change_only_their_schema() {
    let s = setup(true).await;
    let ws = &s.workspace;
    let strict = EventTypeChanges {
        schema: Some(Some(serde_json::json!({"required": ["user_id"]}))),
        ..Default::default()
    };
    let changed = s
        .app
        .change_event_type(ws, "user.created", &strict)
        .await
        .unwrap();
    assert!(changed.builtin);
    let error = s
        .app
        .publish(ws, data_event("user.created", "{}"))
        .await
        .unwrap_err();
    assert_eq!(paths_of(error), [""]);
    // Back to the built-in schema, which requires nothing.
    let reset = EventTypeChanges {
        schema: Some(None),
        ..Default::default()
    };
    s.app
        .change_event_type(ws, "user.created", &reset)
        .await
        .unwrap();
    s.app
        .publish(ws, data_event("user.created", "{}"))
        .await
        .unwrap();

    let rename = EventTypeChanges {
        category: Some("Mine".to_owned()),
        ..Default::default()
    };
    let error = s
        .app
        .change_event_type(ws, "user.created", &rename)
        .await
        .unwrap_err();
    assert_eq!(field_of(error), "category");
    let error = s
        .app
        .change_event_type(ws, "no.such", &reset)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            UseCaseError::NotFound {
                kind: Resource::EventType,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn keys_are_recognised_from_memory_but_never_after_revoking_or_before_creating() {
    let s = setup(false).await;
    let created = s.app.create_api_key(&s.workspace, "ci").await.unwrap();
    let recognised = s.app.recognise_key(&created.value).await.unwrap();
    assert_eq!(recognised.map(|k| k.id), Some(created.key.id.clone()));
    // Recognised again, now from memory: still the same key.
    let again = s.app.recognise_key(&created.value).await.unwrap();
    assert_eq!(again.map(|k| k.id), Some(created.key.id.clone()));

    s.app
        .revoke_api_key(&s.workspace, &created.key.id)
        .await
        .unwrap();
    assert!(
        s.app.recognise_key(&created.value).await.unwrap().is_none(),
        "refused on the next request after revoking"
    );

    // A refusal is not remembered: a key the store learns of later works at once.
    let value = generate_key();
    assert!(s.app.recognise_key(&value).await.unwrap().is_none());
    let stored = s
        .store
        .create_api_key(
            &s.workspace,
            NewApiKey {
                name: "made elsewhere".to_owned(),
                hash: hash_key(&value),
                hint: key_hint(&value),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        s.app.recognise_key(&value).await.unwrap().map(|k| k.id),
        Some(stored.id)
    );
}
