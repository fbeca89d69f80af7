//! Queries for endpoints ("webhooks") and for what a lane needs to send to one
//! (PostgreSQL).
//!
//! Invariants:
//! - A workspace never holds more enabled webhooks than its `max_enabled_webhooks` through
//!   a create or an update: the workspace row is locked (`FOR NO KEY UPDATE`) before the
//!   enabled ones are counted, in the transaction that inserts or enables, so concurrent
//!   requests — of any process — take turns and cannot both take the last slot. The count
//!   is a statement of its own, after the lock: in READ COMMITTED a new statement sees
//!   what the previous lock holder committed. (Lowering the limit below the current count
//!   leaves existing webhooks enabled; it only refuses further enabling.)
//! - `NO KEY UPDATE`, not `UPDATE`: the foreign-key checks of concurrent publishes take
//!   `KEY SHARE` on the workspace row, which this does not block.
//! - An update or a delete notifies `admin_webhooks_wake` in its own transaction, so the
//!   lane of that endpoint in whichever process re-reads its settings.
//! - At most two secrets sign: a rotation moves the current secret to `previous_secret`
//!   with its grace deadline, replacing any earlier previous one; [`lane_target`] hands
//!   the previous one out only before its deadline.
//! - Listener endpoints (`listen://…`, see `domain::listener`) do not count against the
//!   limit and carry `listener_seen_at`; no other endpoint does.
//! - Secrets and custom headers are stored sealed ([`SecretCipher`]): every write seals,
//!   every read opens,
//!   and [`seal_stored_secrets`] re-seals what an older version or an older key left,
//!   compare-and-set, so processes starting together (or a rotation meanwhile) never
//!   overwrite each other's newer value.
//! - Lock order is webhook row, then workspace row; publishes lock webhook rows only,
//!   and creates lock the workspace row only, so these never wait for each other in a
//!   cycle.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use domain::listener::is_listener_url;
use domain::{Subscription, WebhookId, WorkspaceId};
use tokio_postgres::Row;

use super::rows::{collect, now, parse, unsigned};
use super::{RESYNC_PREFIX, WAKE_CHANNEL};
use crate::records::{grace_deadline, rate_limit_columns, signing_secrets, stored_rate_limit};
use crate::{
    LaneTarget, NewWebhook, Page, PageRequest, Result, SecretCipher, SecretRotation, StoreError,
    Webhook, WebhookPatch,
};

const WEBHOOK_COLUMNS: &str = "id, workspace_id, url, description, events, enabled, secret, \
     created_at, updated_at, rate_limit, rate_limit_period, headers";

/// The webhook in `row` (of [`WEBHOOK_COLUMNS`]), its secret and headers opened.
fn webhook_row(row: &Row, cipher: &SecretCipher) -> Result<Webhook> {
    let id: WebhookId = parse(row, 0)?;
    let rate_limit = stored_rate_limit(
        row.try_get::<_, Option<i32>>(9)?.map(i64::from),
        row.try_get(10)?,
    )?;
    let headers = cipher.open_headers(&id, row.try_get(11)?)?;
    let webhook = Webhook {
        id,
        workspace_id: parse(row, 1)?,
        url: row.try_get(2)?,
        description: row.try_get(3)?,
        events: decode_events(row.try_get(4)?)?,
        enabled: row.try_get(5)?,
        secret: row.try_get(6)?,
        rate_limit,
        headers,
        created_at: row.try_get(7)?,
        updated_at: row.try_get(8)?,
    };
    Ok(cipher.open_webhook(webhook)?)
}

pub(super) fn encode_events(events: &[Subscription]) -> Vec<String> {
    events.iter().map(ToString::to_string).collect()
}

pub(super) fn decode_events(events: Vec<String>) -> Result<Vec<Subscription>> {
    events
        .into_iter()
        .map(|e| Subscription::try_from(e).map_err(|e| StoreError::Backend(Box::new(e))))
        .collect()
}

/// Refuses to add one more enabled webhook to `workspace` past its limit. Locks the
/// workspace row until the caller's transaction ends.
async fn check_room_for_enabled(
    tx: &deadpool_postgres::Transaction<'_>,
    workspace: &WorkspaceId,
) -> Result<()> {
    let lock = tx
        .prepare_cached(
            "SELECT max_enabled_webhooks FROM workspaces WHERE id = $1 FOR NO KEY UPDATE",
        )
        .await?;
    let row = tx
        .query_opt(&lock, &[&workspace.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    let limit: u32 = unsigned::<u32, i64>(&row, 0)?;
    let count = tx
        .prepare_cached(
            "SELECT count(*) FROM webhooks
             WHERE workspace_id = $1 AND enabled AND listener_seen_at IS NULL",
        )
        .await?;
    let enabled: i64 = tx
        .query_one(&count, &[&workspace.as_str()])
        .await?
        .try_get(0)?;
    if enabled >= i64::from(limit) {
        return Err(StoreError::LimitReached { limit });
    }
    Ok(())
}

pub(super) async fn create_webhook(
    client: &mut deadpool_postgres::Client,
    cipher: &SecretCipher,
    workspace: &WorkspaceId,
    new: &NewWebhook,
) -> Result<Webhook> {
    let tx = client.transaction().await?;
    let listener = is_listener_url(&new.url);
    if new.enabled && !listener {
        check_room_for_enabled(&tx, workspace).await?;
    } else {
        // Still refuse an unknown workspace (the foreign key would, less legibly).
        let exists = tx
            .prepare_cached("SELECT 1 FROM workspaces WHERE id = $1")
            .await?;
        tx.query_opt(&exists, &[&workspace.as_str()])
            .await?
            .ok_or(StoreError::NotFound)?;
    }
    let at = now();
    let webhook = new.created(workspace, at);
    let (rate_limit, rate_limit_period) = rate_limit_columns(webhook.rate_limit);
    let insert = tx
        .prepare_cached(
            "INSERT INTO webhooks (id, workspace_id, url, description, events, enabled, secret,
                                   created_at, updated_at, rate_limit, rate_limit_period,
                                   headers, listener_seen_at, log_xact)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12,
                     pg_current_xact_id()::text::bigint)",
        )
        .await?;
    tx.execute(
        &insert,
        &[
            &webhook.id.as_str(),
            &workspace.as_str(),
            &webhook.url,
            &webhook.description,
            &encode_events(&webhook.events),
            &webhook.enabled,
            &cipher.seal(&webhook.id, &webhook.secret),
            &at,
            &rate_limit,
            &rate_limit_period,
            &cipher.seal_headers(&webhook.id, &webhook.headers),
            &listener.then_some(at),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(webhook)
}

pub(super) async fn list_webhooks(
    client: &impl GenericClient,
    cipher: &SecretCipher,
    workspace: &WorkspaceId,
    page: &PageRequest,
) -> Result<Page<Webhook>> {
    let sql = format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    );
    let statement = client.prepare_cached(&sql).await?;
    let rows = client
        .query(
            &statement,
            &[
                &workspace.as_str(),
                &page.cursor_or_start(),
                &page.fetch_limit(),
            ],
        )
        .await?;
    Ok(
        page.cut(collect(&rows, |row| webhook_row(row, cipher))?, |w| {
            w.id.to_string()
        }),
    )
}

pub(super) async fn get_webhook(
    client: &impl GenericClient,
    cipher: &SecretCipher,
    workspace: &WorkspaceId,
    id: &WebhookId,
) -> Result<Webhook> {
    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND workspace_id = $2");
    let statement = client.prepare_cached(&sql).await?;
    let row = client
        .query_opt(&statement, &[&id.as_str(), &workspace.as_str()])
        .await?;
    row.as_ref()
        .map(|row| webhook_row(row, cipher))
        .unwrap_or(Err(StoreError::NotFound))
}

pub(super) async fn update_webhook(
    client: &mut deadpool_postgres::Client,
    cipher: &SecretCipher,
    workspace: &WorkspaceId,
    id: &WebhookId,
    patch: WebhookPatch,
) -> Result<Webhook> {
    let tx = client.transaction().await?;
    let sql = format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND workspace_id = $2 FOR NO KEY UPDATE"
    );
    let lock = tx.prepare_cached(&sql).await?;
    let row = tx
        .query_opt(&lock, &[&id.as_str(), &workspace.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut webhook = webhook_row(&row, cipher)?;
    let enables = patch.enables(&webhook);
    if enables && !is_listener_url(&webhook.url) {
        check_room_for_enabled(&tx, workspace).await?;
    }
    let reseal_headers = patch.headers.is_some();
    patch.apply(&mut webhook, now());
    let (rate_limit, rate_limit_period) = rate_limit_columns(webhook.rate_limit);
    // Headers are sealed again only when they change ($10 says whether; $11 is the new
    // value), so that an unrelated change leaves the sealed column as it is. Enabling
    // moves the log cursor past everything committed before this transaction: nothing
    // published while it was disabled reaches it.
    let sql = format!(
        "WITH changed AS (
             UPDATE webhooks SET url = $1, description = $2, events = $3, enabled = $4,
                                 updated_at = $5, rate_limit = $8, rate_limit_period = $9,
                                 headers = CASE WHEN $10 THEN $11 ELSE headers END,
                 log_xact = CASE WHEN $12 THEN pg_current_xact_id()::text::bigint ELSE log_xact END,
                 log_pos = CASE WHEN $12 THEN 0 ELSE log_pos END
             WHERE id = $6 AND workspace_id = $7
             RETURNING id
         )
         SELECT pg_notify('{WAKE_CHANNEL}', '{RESYNC_PREFIX}' || id) FROM changed"
    );
    let update = tx.prepare_cached(&sql).await?;
    let sealed_headers = reseal_headers
        .then(|| cipher.seal_headers(id, &webhook.headers))
        .flatten();
    tx.query(
        &update,
        &[
            &webhook.url,
            &webhook.description,
            &encode_events(&webhook.events),
            &webhook.enabled,
            &webhook.updated_at,
            &id.as_str(),
            &workspace.as_str(),
            &rate_limit,
            &rate_limit_period,
            &reseal_headers,
            &sealed_headers,
            &enables,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(webhook)
}

/// Marks the listeners among `ids` as seen at `at`; other ids are skipped.
pub(super) async fn touch_listeners(
    client: &impl GenericClient,
    ids: &[WebhookId],
    at: DateTime<Utc>,
) -> Result<()> {
    let ids: Vec<&str> = ids.iter().map(WebhookId::as_str).collect();
    let touch = client
        .prepare_cached(
            "UPDATE webhooks SET listener_seen_at = $1
             WHERE id = ANY($2) AND listener_seen_at IS NOT NULL AND listener_seen_at < $1",
        )
        .await?;
    client.execute(&touch, &[&at, &ids]).await?;
    Ok(())
}

/// Listeners of every workspace last seen before `before`, oldest first.
pub(super) async fn stale_listeners(
    client: &impl GenericClient,
    before: DateTime<Utc>,
) -> Result<Vec<(WorkspaceId, WebhookId)>> {
    let select = client
        .prepare_cached(
            "SELECT workspace_id, id FROM webhooks
             WHERE listener_seen_at IS NOT NULL AND listener_seen_at < $1
             ORDER BY listener_seen_at",
        )
        .await?;
    let rows = client.query(&select, &[&before]).await?;
    collect(&rows, |row| Ok((parse(row, 0)?, parse(row, 1)?)))
}

pub(super) async fn delete_webhook(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    id: &WebhookId,
) -> Result<()> {
    // Deliveries, their attempts and the lane's lease go with it (ON DELETE CASCADE); the
    // notification tells the lane, wherever it runs, to find it gone.
    let sql = format!(
        "WITH gone AS (DELETE FROM webhooks WHERE id = $1 AND workspace_id = $2 RETURNING id)
         SELECT pg_notify('{WAKE_CHANNEL}', '{RESYNC_PREFIX}' || id) FROM gone"
    );
    let statement = client.prepare_cached(&sql).await?;
    let rows = client
        .query(&statement, &[&id.as_str(), &workspace.as_str()])
        .await?;
    if rows.is_empty() {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Makes `new_secret` current and keeps the replaced one until now + `grace`.
pub(super) async fn rotate_secret(
    client: &impl GenericClient,
    cipher: &SecretCipher,
    workspace: &WorkspaceId,
    id: &WebhookId,
    new_secret: &str,
    grace: std::time::Duration,
) -> Result<SecretRotation> {
    let at = now();
    let until = grace_deadline(at, grace);
    let sql = format!(
        "WITH rotated AS (
             UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = $1,
                                 secret = $2, updated_at = $3
             WHERE id = $4 AND workspace_id = $5
             RETURNING {WEBHOOK_COLUMNS}
         ), woken AS (
             SELECT pg_notify('{WAKE_CHANNEL}', '{RESYNC_PREFIX}' || id) FROM rotated
         )
         SELECT {WEBHOOK_COLUMNS} FROM rotated, (SELECT count(*) FROM woken) AS w"
    );
    let statement = client.prepare_cached(&sql).await?;
    let row = client
        .query_opt(
            &statement,
            &[
                &until,
                &cipher.seal(id, new_secret),
                &at,
                &id.as_str(),
                &workspace.as_str(),
            ],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(SecretRotation {
        webhook: webhook_row(&row, cipher)?,
        previous_secret_expires_at: until,
    })
}

pub(super) async fn lane_target(
    client: &impl GenericClient,
    cipher: &SecretCipher,
    id: &WebhookId,
) -> Result<LaneTarget> {
    let statement = client
        .prepare_cached(
            "SELECT url, enabled, secret, previous_secret, previous_secret_expires_at,
                    rate_limit, rate_limit_period, headers
             FROM webhooks WHERE id = $1",
        )
        .await?;
    let row = client
        .query_opt(&statement, &[&id.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(LaneTarget {
        webhook_id: id.clone(),
        url: row.try_get(0)?,
        enabled: row.try_get(1)?,
        secrets: signing_secrets(
            cipher.open(id, row.try_get(2)?)?,
            row.try_get::<_, Option<&str>>(3)?
                .map(|previous| cipher.open(id, previous))
                .transpose()?,
            row.try_get(4)?,
            now(),
        ),
        rate_limit: stored_rate_limit(
            row.try_get::<_, Option<i32>>(5)?.map(i64::from),
            row.try_get(6)?,
        )?,
        headers: cipher.open_headers(id, row.try_get(7)?)?,
    })
}

/// Re-seals, with the cipher's first key, every stored secret that is plaintext (written
/// by an older version) or sealed with another of its keys, and so proves at startup that
/// the keys open every stored secret; returns how many it re-sealed. Each value is
/// replaced only if it is still the one read, so a concurrent rotation, or another
/// process doing the same, wins.
pub(super) async fn seal_stored_secrets(
    client: &impl GenericClient,
    cipher: &SecretCipher,
) -> Result<u64> {
    let rows = client
        .query(
            "SELECT id, secret, previous_secret, headers FROM webhooks",
            &[],
        )
        .await?;
    let replace_headers = client
        .prepare("UPDATE webhooks SET headers = $1 WHERE id = $2 AND headers = $3")
        .await?;
    let replace_secret = client
        .prepare("UPDATE webhooks SET secret = $1 WHERE id = $2 AND secret = $3")
        .await?;
    let replace_previous = client
        .prepare("UPDATE webhooks SET previous_secret = $1 WHERE id = $2 AND previous_secret = $3")
        .await?;
    let mut resealed = 0;
    for row in &rows {
        let id: WebhookId = parse(row, 0)?;
        if let Some(headers) = row.try_get::<_, Option<&str>>(3)?
            && let Some(sealed) = cipher.reseal_headers(&id, headers)?
        {
            resealed += client
                .execute(&replace_headers, &[&sealed, &id.as_str(), &headers])
                .await?;
        }
        let secret: &str = row.try_get(1)?;
        if let Some(sealed) = cipher.reseal(&id, secret)? {
            resealed += client
                .execute(&replace_secret, &[&sealed, &id.as_str(), &secret])
                .await?;
        }
        if let Some(previous) = row.try_get::<_, Option<&str>>(2)?
            && let Some(sealed) = cipher.reseal(&id, previous)?
        {
            resealed += client
                .execute(&replace_previous, &[&sealed, &id.as_str(), &previous])
                .await?;
        }
    }
    Ok(resealed)
}
