//! Workspaces, API keys and the event catalog.

use std::collections::BTreeSet;

use domain::{EventTypeDef, WorkspaceId};
use store::{EventTypePatch, PageRequest, StoreError};

use crate::assert_err;
use crate::support::{Harness, collect_pages, new_key, workspace};

pub async fn bootstrap_happens_once(h: Harness) {
    let store = &*h.store;
    let key = new_key("bootstrap");
    let ws = store
        .bootstrap(key.clone())
        .await
        .unwrap()
        .expect("first bootstrap creates");
    assert_eq!(ws.name, "default");
    assert_eq!(ws.max_enabled_webhooks, store::DEFAULT_MAX_ENABLED_WEBHOOKS);
    assert!(store.bootstrap(new_key("again")).await.unwrap().is_none());

    let found = store
        .find_api_key(&key.hash)
        .await
        .unwrap()
        .expect("bootstrap key is live");
    assert_eq!(found.workspace_id, ws.id);
    assert_eq!(found.hint, key.hint);
    let all = store.list_workspaces(PageRequest::default()).await.unwrap();
    assert_eq!(all.data, vec![ws.clone()]);
    assert_eq!(store.list_event_types(&ws.id).await.unwrap().len(), 5);
    store.ping().await.unwrap();
}

pub async fn new_workspace_has_the_builtin_catalog(h: Harness) {
    let store = &*h.store;
    let (ws, key) = store
        .create_workspace("acme", new_key("first"))
        .await
        .unwrap();
    assert_eq!(key.workspace_id, ws.id);
    assert_eq!(store.get_workspace(&ws.id).await.unwrap(), ws);

    let types = store.list_event_types(&ws.id).await.unwrap();
    assert!(types.iter().all(|t| t.builtin));
    let listed: BTreeSet<_> = types
        .iter()
        .map(|t| (t.category.as_str(), t.name.as_str(), t.description.as_str()))
        .collect();
    let expected: BTreeSet<_> = domain::BUILTIN_EVENT_TYPES.iter().copied().collect();
    assert_eq!(listed, expected);
}

pub async fn custom_event_types_add_and_conflict(h: Harness) {
    let store = &*h.store;
    let a = workspace(store, "a").await;
    let b = workspace(store, "b").await;
    let def = EventTypeDef {
        name: "invoice.paid".into(),
        category: "Billing".into(),
        description: "An invoice was paid".into(),
    };
    let created = store
        .create_event_type(&a, def.clone(), None)
        .await
        .unwrap();
    assert!(!created.builtin);
    assert_eq!(created.name, "invoice.paid");

    let types = store.list_event_types(&a).await.unwrap();
    assert_eq!(types.len(), 6);
    assert!(types.contains(&created));
    // Another workspace's catalog is its own.
    assert_eq!(store.list_event_types(&b).await.unwrap().len(), 5);
    store
        .create_event_type(&b, def.clone(), None)
        .await
        .unwrap();

    match store.create_event_type(&a, def, None).await {
        Err(StoreError::Conflict(message)) => {
            assert!(message.to_string().contains("invoice.paid"), "{message}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let builtin = EventTypeDef {
        name: "user.created".into(),
        category: "X".into(),
        description: String::new(),
    };
    assert_err!(
        store.create_event_type(&a, builtin, None).await,
        StoreError::Conflict(_)
    );
    let nowhere = WorkspaceId::generate();
    let def = EventTypeDef {
        name: "x.y".into(),
        category: "X".into(),
        description: String::new(),
    };
    assert_err!(
        store.create_event_type(&nowhere, def, None).await,
        StoreError::NotFound
    );
}

pub async fn api_keys_are_scoped_and_revocable(h: Harness) {
    let store = &*h.store;
    let a = workspace(store, "a").await;
    let b = workspace(store, "b").await;
    let extra = new_key("ci");
    let created = store.create_api_key(&a, extra.clone()).await.unwrap();
    assert_eq!(created.workspace_id, a);
    assert_eq!(created.name, "ci");
    assert_eq!(
        store.find_api_key(&extra.hash).await.unwrap(),
        Some(created.clone())
    );

    assert_eq!(
        store
            .list_api_keys(&a, PageRequest::default())
            .await
            .unwrap()
            .data
            .len(),
        2
    );
    assert_eq!(
        store
            .list_api_keys(&b, PageRequest::default())
            .await
            .unwrap()
            .data
            .len(),
        1
    );

    // Another workspace cannot revoke it.
    assert_err!(
        store.revoke_api_key(&b, &created.id).await,
        StoreError::NotFound
    );
    assert!(store.find_api_key(&extra.hash).await.unwrap().is_some());

    store.revoke_api_key(&a, &created.id).await.unwrap();
    assert!(store.find_api_key(&extra.hash).await.unwrap().is_none());
    let live = store
        .list_api_keys(&a, PageRequest::default())
        .await
        .unwrap()
        .data;
    assert_eq!(live.len(), 1);
    assert!(live.iter().all(|k| k.id != created.id));
    assert_err!(
        store.revoke_api_key(&a, &created.id).await,
        StoreError::NotFound
    );
    assert_err!(
        store
            .create_api_key(&WorkspaceId::generate(), new_key("x"))
            .await,
        StoreError::NotFound
    );

    for i in 0..5 {
        store
            .create_api_key(&b, new_key(&format!("k{i}")))
            .await
            .unwrap();
    }
    let keys = collect_pages(2, |page| store.list_api_keys(&b, page)).await;
    assert_eq!(keys.len(), 6);
    assert!(
        keys.windows(2).all(|w| w[0].id < w[1].id),
        "ascending by id"
    );
    assert!(keys.iter().all(|k| k.workspace_id == b));
}

pub async fn workspaces_paginate_and_take_limits(h: Harness) {
    let store = &*h.store;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(workspace(store, &format!("ws{i}")).await);
    }
    let listed: Vec<WorkspaceId> = collect_pages(2, |page| store.list_workspaces(page))
        .await
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(listed, created, "ascending by id, each once");

    let raised = store.set_workspace_limit(&created[1], 500).await.unwrap();
    assert_eq!(raised.max_enabled_webhooks, 500);
    assert_eq!(store.get_workspace(&created[1]).await.unwrap(), raised);
    let unknown = WorkspaceId::generate();
    assert_err!(
        store.set_workspace_limit(&unknown, 5).await,
        StoreError::NotFound
    );
    assert_err!(store.get_workspace(&unknown).await, StoreError::NotFound);
}

pub async fn a_failed_write_leaves_nothing_behind(h: Harness) {
    let store = &*h.store;
    let key = new_key("first");
    let a = store.create_workspace("a", key.clone()).await.unwrap().0.id;
    // The workspace row is written before the key collides; the whole call must undo.
    match store.create_workspace("b", key.clone()).await {
        Err(StoreError::Conflict(message)) => {
            assert!(message.to_string().contains("API key"), "{message}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_err!(
        store.create_api_key(&a, key.clone()).await,
        StoreError::Conflict(_)
    );
    let all = store
        .list_workspaces(PageRequest::default())
        .await
        .unwrap()
        .data;
    assert_eq!(
        all.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!(
        store
            .list_api_keys(&a, PageRequest::default())
            .await
            .unwrap()
            .data
            .len(),
        1
    );
    let (c, _) = store.create_workspace("c", new_key("first")).await.unwrap();
    assert_eq!(store.list_event_types(&c.id).await.unwrap().len(), 5);
}

pub async fn the_last_live_key_cannot_be_revoked(h: Harness) {
    let store = &*h.store;
    let (ws, first) = store.create_workspace("a", new_key("first")).await.unwrap();
    assert_err!(
        store.revoke_api_key(&ws.id, &first.id).await,
        StoreError::Conflict(store::ConflictKind::LastApiKey)
    );
    assert_eq!(
        live_keys(store, &ws.id).await,
        1,
        "the refusal changed nothing"
    );
    // Another workspace's key is still unknown here, not a conflict.
    let other = workspace(store, "b").await;
    assert_err!(
        store.revoke_api_key(&other, &first.id).await,
        StoreError::NotFound
    );

    // Of two concurrent revokes of the last two keys, exactly one succeeds, every time.
    for round in 0..10 {
        store
            .create_api_key(&ws.id, new_key(&format!("second {round}")))
            .await
            .unwrap();
        let keys = store
            .list_api_keys(&ws.id, PageRequest::default())
            .await
            .unwrap()
            .data;
        assert_eq!(keys.len(), 2);
        let (a, b) = (h.store.clone(), h.store.clone());
        let (ka, kb) = (keys[0].id.clone(), keys[1].id.clone());
        let (wa, wb) = (ws.id.clone(), ws.id.clone());
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { a.revoke_api_key(&wa, &ka).await }),
            tokio::spawn(async move { b.revoke_api_key(&wb, &kb).await }),
        );
        let results = [ra.unwrap(), rb.unwrap()];
        let succeeded = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(succeeded, 1, "round {round}: {results:?}");
        assert!(
            results.iter().any(|r| matches!(
                r,
                Err(StoreError::Conflict(store::ConflictKind::LastApiKey))
            )),
            "round {round}: {results:?}"
        );
        assert_eq!(live_keys(store, &ws.id).await, 1, "round {round}");
    }
}

async fn live_keys(store: &dyn store::Store, ws: &WorkspaceId) -> usize {
    store
        .list_api_keys(ws, PageRequest::default())
        .await
        .unwrap()
        .data
        .len()
}

pub async fn shared_secrets_are_written_once(h: Harness) {
    let store = &*h.store;
    let first = store.shared_secret("sign-in", [1; 32]).await.unwrap();
    assert_eq!(first, [1; 32], "the first offer is stored");
    assert_eq!(
        store.shared_secret("sign-in", [2; 32]).await.unwrap(),
        [1; 32]
    );
    assert_eq!(
        store.shared_secret("other", [3; 32]).await.unwrap(),
        [3; 32],
        "names are separate"
    );
    // Racing first offers all get the one value that was stored.
    let offers = (10u8..20).map(|i| {
        let store = h.store.clone();
        tokio::spawn(async move { store.shared_secret("raced", [i; 32]).await.unwrap() })
    });
    let answers: Vec<[u8; 32]> = futures::future::join_all(offers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    let h = h.reopen().await;
    assert_eq!(
        h.store.shared_secret("sign-in", [4; 32]).await.unwrap(),
        [1; 32]
    );
}

pub async fn event_type_schemas_are_stored_and_changed(h: Harness) {
    let store = &*h.store;
    let a = workspace(store, "a").await;
    let b = workspace(store, "b").await;
    let schema = r#"{"type":"object","required":["invoice_id"]}"#;
    let def = EventTypeDef {
        name: "invoice.paid".into(),
        category: "Billing".into(),
        description: "An invoice was paid".into(),
    };
    let created = store
        .create_event_type(&a, def, Some(schema.to_owned()))
        .await
        .unwrap();
    assert_eq!(created.schema.as_deref(), Some(schema));
    let listed = store.list_event_types(&a).await.unwrap();
    let found = listed.iter().find(|t| t.name == "invoice.paid").unwrap();
    assert_eq!(found, &created);
    assert!(
        listed
            .iter()
            .filter(|t| t.builtin)
            .all(|t| t.schema.is_none()),
        "built-in types store no schema of their own until one is set"
    );

    // Only what the patch names changes.
    let tighter = r#"{"type":"object","required":["invoice_id","amount"]}"#;
    let changed = store
        .update_event_type(
            &a,
            "invoice.paid",
            EventTypePatch {
                schema: Some(Some(tighter.to_owned())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.schema.as_deref(), Some(tighter));
    assert_eq!(changed.category, "Billing");
    let renamed = store
        .update_event_type(
            &a,
            "invoice.paid",
            EventTypePatch {
                category: Some("Payments".into()),
                description: Some("Paid".into()),
                schema: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (renamed.category.as_str(), renamed.description.as_str()),
        ("Payments", "Paid")
    );
    assert_eq!(renamed.schema.as_deref(), Some(tighter), "schema kept");
    let cleared = store
        .update_event_type(
            &a,
            "invoice.paid",
            EventTypePatch {
                schema: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.schema, None);
    // A built-in type takes a schema too.
    let builtin = store
        .update_event_type(
            &a,
            "user.created",
            EventTypePatch {
                schema: Some(Some(schema.to_owned())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(builtin.builtin);
    assert_eq!(builtin.schema.as_deref(), Some(schema));
    // Another workspace's types and missing ones are not found.
    assert_err!(
        store
            .update_event_type(&b, "invoice.paid", EventTypePatch::default())
            .await,
        StoreError::NotFound
    );
    assert_err!(
        store
            .update_event_type(&a, "no.such", EventTypePatch::default())
            .await,
        StoreError::NotFound
    );
    let in_b = store.list_event_types(&b).await.unwrap();
    assert!(in_b.iter().all(|t| t.schema.is_none()), "{in_b:?}");
}
