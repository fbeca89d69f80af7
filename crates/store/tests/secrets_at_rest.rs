//! Signing secrets and custom header values at rest, on both backends: what the store's files and columns hold
//! after webhooks are created and rotated (no `whsec_`, no secret bytes), that the store
//! still hands every secret out, that plaintext of an older version and values sealed
//! with a retired key are re-sealed when a store opens, that a wrong key is refused then,
//! and that SQLite's folder and files are owner-only.
//!
//! PostgreSQL tests get a fresh schema each (see `conformance/postgres.rs`) and skip
//! loudly when PostgreSQL is unreachable, unless `ADMIN_WEBHOOKS_REQUIRE_POSTGRES` is set.

extern crate admin_webhooks_store as store;

#[allow(dead_code)]
#[path = "conformance/support.rs"]
mod support;

#[allow(dead_code)]
#[path = "conformance/postgres.rs"]
mod postgres;

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::signature::{SECRET_PREFIX, generate_secret};
use domain::{CustomHeaders, WebhookId};
use postgres::TestSchema;
use store::sealing::generate_key;
use store::sqlite::{DATABASE_FILE, KEY_FILE, SqliteStore};
use store::{LaneStore, SecretCipher, Store, StoreError, TenancyStore};
use support::{webhook, workspace};
use tempfile::TempDir;

const GRACE: Duration = Duration::from_secs(3600);

fn fresh_cipher() -> SecretCipher {
    SecretCipher::parse(&generate_key()).unwrap()
}

/// Writes secrets every way a store writes one — two webhooks created, one of them
/// rotated twice, so `previous_secret` holds one too — checks the store hands each out
/// where it should, and returns every secret written.
async fn write_secrets(store: &dyn Store) -> Vec<String> {
    let ws = workspace(store, "a").await;
    let kept = webhook(store, &ws, &["*"]).await;
    let rotated = webhook(store, &ws, &["*"]).await;
    let mut written = vec![kept.secret.clone(), rotated.secret.clone()];
    for _ in 0..2 {
        let fresh = generate_secret();
        let rotation = store
            .rotate_secret(&ws, &rotated.id, fresh.clone(), GRACE)
            .await
            .unwrap();
        assert_eq!(rotation.webhook.secret, fresh);
        written.push(fresh);
    }
    let shown = store.get_webhook(&ws, &kept.id).await.unwrap();
    assert_eq!(shown.secret, kept.secret);
    let listed = store
        .list_webhooks(&ws, store::PageRequest::default())
        .await
        .unwrap();
    assert!(listed.data.iter().any(|w| w.secret == kept.secret));
    let target = store.lane_target(&rotated.id).await.unwrap();
    assert_eq!(
        target.secrets,
        written[2..].iter().rev().cloned().collect::<Vec<_>>()
    );
    written
}

/// What of `secrets` shows in `bytes`: the `whsec_` prefix, a whole secret, its base64
/// part, or the 32 bytes it encodes.
fn leaks(bytes: &[u8], secrets: &[String]) -> Vec<String> {
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    let mut found = Vec::new();
    if contains(SECRET_PREFIX.as_bytes()) {
        found.push(SECRET_PREFIX.to_owned());
    }
    for secret in secrets {
        let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap();
        let key = STANDARD.decode(encoded).unwrap();
        if contains(encoded.as_bytes()) || contains(&key) {
            found.push(secret.clone());
        }
    }
    found
}

/// Every byte of every file in the data folder but the key file.
fn data_folder_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != KEY_FILE {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

/// The stored `(secret, previous_secret)` of `id`, as the file holds them.
fn sqlite_columns(path: &Path, id: &WebhookId) -> (String, Option<String>) {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT secret, previous_secret FROM webhooks WHERE id = ?1",
            [id.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

/// Asserts a store refused to open because its keys cannot open a stored secret.
fn assert_refused_for_its_keys<T: std::fmt::Debug>(opened: store::Result<T>) {
    match opened {
        Err(StoreError::Backend(e)) => {
            assert!(e.to_string().contains("not among the keys given"), "{e}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn sealed_with(cipher: &SecretCipher, stored: &str) -> bool {
    stored.starts_with(&format!("sealed:v1:{}:", cipher.key_ids()[0]))
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_files_hold_no_secret() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let store = SqliteStore::open_in_dir(&data).unwrap();
    let secrets = write_secrets(&store).await;
    // While open, the latest writes sit in the WAL; after closing, in the database.
    assert_eq!(
        leaks(&data_folder_bytes(&data), &secrets),
        [] as [String; 0]
    );
    store.close().await;
    drop(store);
    assert_eq!(
        leaks(&data_folder_bytes(&data), &secrets),
        [] as [String; 0]
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_folder_and_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let store = SqliteStore::open_in_dir(&data).unwrap();
    write_secrets(&store).await;
    assert_eq!(mode(&data), 0o700);
    for name in [
        DATABASE_FILE,
        "admin-webhooks.db-wal",
        "admin-webhooks.db-shm",
        KEY_FILE,
    ] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    store.close().await;
    drop(store);

    // A database of an older version, world-readable, is narrowed when opened.
    let db = data.join(DATABASE_FILE);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = SqliteStore::open_in_dir(&data).unwrap();
    assert_eq!(mode(&db), 0o600);
    drop(store);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_reseals_plaintext_and_retired_keys_and_refuses_a_wrong_key() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let (old_key, new_key) = (generate_key(), generate_key());
    let old = SecretCipher::parse(&old_key).unwrap();
    let new = SecretCipher::parse(&new_key).unwrap();
    let both = SecretCipher::parse(&format!("{new_key}\n{old_key}")).unwrap();
    let store = SqliteStore::open_with_cipher(&path, old.clone()).unwrap();
    let ws = workspace(&store, "a").await;
    let hook = webhook(&store, &ws, &["*"]).await;
    drop(store);

    // Plaintext, as an older version wrote it, in both columns.
    let (legacy, legacy_previous) = (generate_secret(), generate_secret());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE webhooks SET secret = ?1, previous_secret = ?2,
                                 previous_secret_expires_at = 32503680000000
             WHERE id = ?3",
            [&legacy, &legacy_previous, hook.id.as_str()],
        )
        .unwrap();
    let store = SqliteStore::open_with_cipher(&path, old.clone()).unwrap();
    assert_eq!(
        store.get_webhook(&ws, &hook.id).await.unwrap().secret,
        legacy
    );
    drop(store);
    let (secret, previous) = sqlite_columns(&path, &hook.id);
    assert!(sealed_with(&old, &secret), "{secret}");
    assert!(sealed_with(&old, previous.as_deref().unwrap()));

    // A new key first: values sealed with the old one open, and are re-sealed with it.
    let store = SqliteStore::open_with_cipher(&path, both).unwrap();
    assert_eq!(
        store.lane_target(&hook.id).await.unwrap().secrets,
        [legacy.clone(), legacy_previous.clone()]
    );
    drop(store);
    let (secret, previous) = sqlite_columns(&path, &hook.id);
    assert!(sealed_with(&new, &secret), "{secret}");
    assert!(sealed_with(&new, previous.as_deref().unwrap()));

    // The old key alone no longer opens them: refused at open, naming the problem.
    assert_refused_for_its_keys(SqliteStore::open_with_cipher(&path, old));
    let store = SqliteStore::open_with_cipher(&path, new).unwrap();
    assert_eq!(
        store.get_webhook(&ws, &hook.id).await.unwrap().secret,
        legacy
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_without_its_key_file_is_refused_and_no_new_key_is_left() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open_in_dir(dir.path()).unwrap();
    write_secrets(&store).await;
    drop(store);
    let key_file = dir.path().join(KEY_FILE);
    std::fs::remove_file(&key_file).unwrap();
    assert_refused_for_its_keys(SqliteStore::open_in_dir(dir.path()));
    assert!(
        !key_file.exists(),
        "a key that opens nothing stays in the way"
    );
}

/// Every stored `(id, secret, previous_secret)` of the schema, as its columns hold them.
async fn postgres_columns(schema: &TestSchema) -> Vec<(String, String, Option<String>)> {
    let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let sql = format!(
        "SELECT id, secret, previous_secret FROM {}.webhooks",
        schema.name
    );
    client
        .query(&sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_columns_hold_no_secret() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let store = schema.connect().await;
    let secrets = write_secrets(&store).await;
    let columns = postgres_columns(&schema).await;
    assert_eq!(columns.len(), 2);
    let mut bytes = Vec::new();
    for (_, secret, previous) in &columns {
        for stored in std::iter::once(secret).chain(previous) {
            assert!(sealed_with(&schema.cipher, stored), "{stored}");
            bytes.extend(stored.as_bytes());
        }
    }
    assert_eq!(leaks(&bytes, &secrets), [] as [String; 0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_reseals_plaintext_and_retired_keys_and_refuses_a_wrong_key() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let (old_key, new_key) = (generate_key(), generate_key());
    let old = SecretCipher::parse(&old_key).unwrap();
    let new = SecretCipher::parse(&new_key).unwrap();
    let both = SecretCipher::parse(&format!("{new_key},{old_key}")).unwrap();
    let store = schema.connect_with(old.clone()).await.unwrap();
    let ws = workspace(&store, "a").await;
    let hook = webhook(&store, &ws, &["*"]).await;
    store.close().await;

    // Plaintext, as an older version wrote it, in both columns.
    let (legacy, legacy_previous) = (generate_secret(), generate_secret());
    let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute(
            &format!(
                "UPDATE {}.webhooks SET secret = $1, previous_secret = $2,
                        previous_secret_expires_at = now() + interval '1 day'
                 WHERE id = $3",
                schema.name
            ),
            &[&legacy, &legacy_previous, &hook.id.as_str()],
        )
        .await
        .unwrap();
    let store = schema.connect_with(old.clone()).await.unwrap();
    assert_eq!(
        store.get_webhook(&ws, &hook.id).await.unwrap().secret,
        legacy
    );
    store.close().await;
    for (_, secret, previous) in postgres_columns(&schema).await {
        assert!(sealed_with(&old, &secret), "{secret}");
        assert!(sealed_with(&old, previous.as_deref().unwrap()));
    }

    // A new key first: values sealed with the old one open, and are re-sealed with it.
    let store = schema.connect_with(both).await.unwrap();
    assert_eq!(
        store.lane_target(&hook.id).await.unwrap().secrets,
        [legacy.clone(), legacy_previous]
    );
    store.close().await;
    for (_, secret, previous) in postgres_columns(&schema).await {
        assert!(sealed_with(&new, &secret), "{secret}");
        assert!(sealed_with(&new, previous.as_deref().unwrap()));
    }

    // The old key alone no longer opens them: refused at connect, naming the problem.
    assert_refused_for_its_keys(schema.connect_with(old).await);
    let store = schema.connect_with(fresh_cipher()).await;
    assert!(store.is_err(), "an unrelated key is refused too");
    let store = schema.connect_with(new).await.unwrap();
    assert_eq!(
        store.get_webhook(&ws, &hook.id).await.unwrap().secret,
        legacy
    );
}

/// Custom header values written every way a store writes them (a create, an update)
/// and read back; returns the values.
async fn write_header_values(store: &dyn Store) -> (WebhookId, Vec<String>) {
    let values = vec![
        "Bearer gateway-token-6e1f0c2a9b".to_owned(),
        "tenant-secret-77d41e".to_owned(),
    ];
    let ws = workspace(store, "a").await;
    let mut new = support::new_webhook(&["*"]);
    new.headers = CustomHeaders::parse([("Authorization".to_owned(), values[0].clone())]).unwrap();
    let hook = store.create_webhook(&ws, new).await.unwrap();
    let patch = store::WebhookPatch {
        headers: Some(
            CustomHeaders::parse([
                ("Authorization".to_owned(), values[0].clone()),
                ("X-Tenant-Key".to_owned(), values[1].clone()),
            ])
            .unwrap(),
        ),
        ..store::WebhookPatch::default()
    };
    store.update_webhook(&ws, &hook.id, patch).await.unwrap();
    let target = store.lane_target(&hook.id).await.unwrap();
    let sent: Vec<&str> = target.headers.iter().map(|h| h.value.as_str()).collect();
    assert_eq!(sent, [values[0].as_str(), values[1].as_str()]);
    (hook.id, values)
}

/// What of `values` shows in `bytes`.
fn header_leaks(bytes: &[u8], values: &[String]) -> Vec<String> {
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    values
        .iter()
        .filter(|v| contains(v.as_bytes()))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_files_hold_no_custom_header_value() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let store = SqliteStore::open_in_dir(&data).unwrap();
    let (id, values) = write_header_values(&store).await;
    assert_eq!(
        header_leaks(&data_folder_bytes(&data), &values),
        [] as [String; 0]
    );
    store.close().await;
    drop(store);
    assert_eq!(
        header_leaks(&data_folder_bytes(&data), &values),
        [] as [String; 0]
    );
    let stored: String = rusqlite::Connection::open(data.join(DATABASE_FILE))
        .unwrap()
        .query_row(
            "SELECT headers FROM webhooks WHERE id = ?1",
            [id.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert!(stored.starts_with("sealed:v1:"), "{stored}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_reseals_custom_headers_under_a_new_key() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let (old_key, new_key) = (generate_key(), generate_key());
    let old = SecretCipher::parse(&old_key).unwrap();
    let new = SecretCipher::parse(&new_key).unwrap();
    let both = SecretCipher::parse(&format!("{new_key}\n{old_key}")).unwrap();
    let store = SqliteStore::open_with_cipher(&path, old.clone()).unwrap();
    let (id, values) = write_header_values(&store).await;
    drop(store);
    let stored = |path: &Path| -> String {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row(
                "SELECT headers FROM webhooks WHERE id = ?1",
                [id.as_str()],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert!(sealed_with(&old, &stored(&path)));

    drop(SqliteStore::open_with_cipher(&path, both).unwrap());
    assert!(
        sealed_with(&new, &stored(&path)),
        "re-sealed with the new key"
    );
    let store = SqliteStore::open_with_cipher(&path, new).unwrap();
    let target = store.lane_target(&id).await.unwrap();
    assert_eq!(
        target
            .headers
            .iter()
            .map(|h| h.value.clone())
            .collect::<Vec<_>>(),
        values
    );
    drop(store);

    // Copied onto the secret column (same webhook, same key) it does not open: headers
    // are sealed as headers.
    let sealed_headers = stored(&path);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE webhooks SET secret = ?1 WHERE id = ?2",
            [&sealed_headers, id.as_str()],
        )
        .unwrap();
    let reopened = SqliteStore::open_with_cipher(&path, SecretCipher::parse(&new_key).unwrap());
    assert!(reopened.is_err(), "a header set is not a signing secret");
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_columns_hold_no_custom_header_value() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let store = schema.connect().await;
    let (id, values) = write_header_values(&store).await;
    let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let sql = format!("SELECT headers FROM {}.webhooks WHERE id = $1", schema.name);
    let stored: String = client
        .query_one(&sql, &[&id.as_str()])
        .await
        .unwrap()
        .get(0);
    assert!(sealed_with(&schema.cipher, &stored), "{stored}");
    assert_eq!(header_leaks(stored.as_bytes(), &values), [] as [String; 0]);
}
