//! Dashboard sessions: found only while unexpired and while their API key is live.

use chrono::{Duration, Utc};
use domain::ApiKeyId;
use store::{NewSession, StoreError};

use crate::assert_err;
use crate::support::{Harness, new_key, workspace};

fn session_hash(n: u8) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash[0] = n;
    hash[31] = 0xa5;
    hash
}

pub async fn sessions_live_until_expiry_sign_out_or_revocation(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "a").await;
    let other = workspace(store, "b").await;
    let key = store.create_api_key(&ws, new_key("dash")).await.unwrap();
    let new = |n: u8, key: &ApiKeyId, hours: i64| NewSession {
        id_hash: session_hash(n),
        workspace_id: ws.clone(),
        api_key_id: key.clone(),
        expires_at: Utc::now() + Duration::hours(hours),
    };

    let created = store.create_session(new(1, &key.id, 12)).await.unwrap();
    assert_eq!(created.workspace_id, ws);
    assert_eq!(created.api_key_id, key.id);
    assert!(created.expires_at > created.created_at);
    let found = store.find_session(&session_hash(1)).await.unwrap();
    assert_eq!(found.as_ref(), Some(&created), "read back as written");
    assert_eq!(store.find_session(&session_hash(9)).await.unwrap(), None);

    // The same id twice is a conflict, not a second session.
    assert_err!(
        store.create_session(new(1, &key.id, 12)).await,
        StoreError::Conflict(_)
    );

    // Sign-out ends it; ending it again is harmless.
    store.delete_session(&session_hash(1)).await.unwrap();
    assert_eq!(store.find_session(&session_hash(1)).await.unwrap(), None);
    store.delete_session(&session_hash(1)).await.unwrap();

    // An expired session is never found.
    store.create_session(new(2, &key.id, -1)).await.unwrap();
    assert_eq!(store.find_session(&session_hash(2)).await.unwrap(), None);

    // Another workspace's key, or an unknown one, opens nothing.
    let foreign = store.create_api_key(&other, new_key("b")).await.unwrap();
    assert_err!(
        store.create_session(new(3, &foreign.id, 12)).await,
        StoreError::NotFound
    );
    assert_err!(
        store
            .create_session(new(3, &ApiKeyId::generate(), 12))
            .await,
        StoreError::NotFound
    );

    // Revoking the key ends every session it opened, and opens no new one.
    store.create_session(new(4, &key.id, 12)).await.unwrap();
    store.create_session(new(5, &key.id, 12)).await.unwrap();
    let bystander = store.create_api_key(&ws, new_key("other")).await.unwrap();
    store
        .create_session(new(6, &bystander.id, 12))
        .await
        .unwrap();
    store.revoke_api_key(&ws, &key.id).await.unwrap();
    assert_eq!(store.find_session(&session_hash(4)).await.unwrap(), None);
    assert_eq!(store.find_session(&session_hash(5)).await.unwrap(), None);
    assert!(
        store
            .find_session(&session_hash(6))
            .await
            .unwrap()
            .is_some(),
        "sessions of other keys live on"
    );
    assert_err!(
        store.create_session(new(7, &key.id, 12)).await,
        StoreError::NotFound
    );
}

pub async fn sessions_survive_reopening(h: Harness) {
    let ws = workspace(&*h.store, "a").await;
    let key = h.store.create_api_key(&ws, new_key("dash")).await.unwrap();
    let created = h
        .store
        .create_session(NewSession {
            id_hash: session_hash(1),
            workspace_id: ws,
            api_key_id: key.id,
            expires_at: Utc::now() + Duration::hours(1),
        })
        .await
        .unwrap();
    let h = h.reopen().await;
    assert_eq!(
        h.store.find_session(&session_hash(1)).await.unwrap(),
        Some(created)
    );
}
