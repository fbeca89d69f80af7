//! Queries for endpoints ("webhooks") and for what a lane needs to send to one.
//!
//! Invariants:
//! - A workspace never holds more enabled webhooks than its `max_enabled_webhooks` through
//!   a create or an update: the count and the write happen in the same writer job, so
//!   concurrent requests cannot both take the last slot. (Lowering the limit below the
//!   current count leaves existing webhooks enabled; it only refuses further enabling.)
//! - Subscriptions are stored as a JSON array of their string forms and parsed back with
//!   the domain's rules.
//! - Listener endpoints (`listen://…`, see `domain::listener`) do not count against the
//!   limit and carry `listener_seen_at`; no other endpoint does.
//! - Every call but the lane's and the listeners' upkeep filters by workspace id.
//! - At most two secrets sign: a rotation moves the current secret to `previous_secret`
//!   with its grace deadline, replacing any earlier previous one; [`lane_target`] hands the
//!   previous one out only before its deadline.
//! - Secrets and custom headers are stored sealed ([`SecretCipher`]): every write seals,
//!   every read opens, and [`seal_stored_secrets`] re-seals what an older version or an
//!   older key left.

use domain::listener::is_listener_url;
use domain::{CustomHeaders, Subscription, WebhookId, WorkspaceId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::{from_ms, now, parse, time, to_ms};
use super::take_up;
use crate::records::{grace_deadline, rate_limit_columns, signing_secrets, stored_rate_limit};
use crate::{
    LaneTarget, NewWebhook, Page, PageRequest, Result, SecretCipher, SecretRotation, StoreError,
    Webhook, WebhookPatch,
};

const WEBHOOK_COLUMNS: &str = "id, workspace_id, url, description, events, enabled, secret, \
     created_at, updated_at, rate_limit, rate_limit_period, headers";

/// A webhook row as stored: its secret and headers still sealed.
struct StoredWebhook {
    webhook: Webhook,
    rate_limit: (Option<i64>, Option<String>),
    headers: Option<String>,
}

impl StoredWebhook {
    /// The webhook, its secret and headers opened.
    fn open(self, cipher: &SecretCipher) -> Result<Webhook> {
        let mut webhook = cipher.open_webhook(self.webhook)?;
        let (count, period) = self.rate_limit;
        webhook.rate_limit = stored_rate_limit(count, period.as_deref())?;
        webhook.headers = cipher.open_headers(&webhook.id, self.headers.as_deref())?;
        Ok(webhook)
    }
}

fn webhook_row(row: &Row<'_>) -> rusqlite::Result<StoredWebhook> {
    Ok(StoredWebhook {
        webhook: Webhook {
            id: parse(row, 0)?,
            workspace_id: parse(row, 1)?,
            url: row.get(2)?,
            description: row.get(3)?,
            events: decode_events(row, 4)?,
            enabled: row.get(5)?,
            secret: row.get(6)?,
            rate_limit: None,
            headers: CustomHeaders::default(),
            created_at: time(row, 7)?,
            updated_at: time(row, 8)?,
        },
        rate_limit: (row.get(9)?, row.get(10)?),
        headers: row.get(11)?,
    })
}

pub(super) fn encode_events(events: &[Subscription]) -> String {
    let strings: Vec<String> = events.iter().map(ToString::to_string).collect();
    serde_json::to_string(&strings).expect("a list of strings always serializes")
}

pub(super) fn decode_events(row: &Row<'_>, idx: usize) -> rusqlite::Result<Vec<Subscription>> {
    let text = row.get_ref(idx)?.as_str()?;
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Refuses to add one more enabled webhook to `workspace` past its limit.
fn check_room_for_enabled(conn: &Connection, workspace: &WorkspaceId) -> Result<()> {
    let (limit, enabled): (u32, u32) = conn
        .prepare_cached(
            "SELECT w.max_enabled_webhooks,
                    (SELECT COUNT(*) FROM webhooks h
                     WHERE h.workspace_id = w.id AND h.enabled AND h.listener_seen_at IS NULL)
             FROM workspaces w WHERE w.id = ?1",
        )?
        .query_row([workspace.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or(StoreError::NotFound)?;
    if enabled >= limit {
        return Err(StoreError::LimitReached { limit });
    }
    Ok(())
}

pub(super) fn create_webhook(
    conn: &Connection,
    cipher: &SecretCipher,
    workspace: &WorkspaceId,
    new: &NewWebhook,
) -> Result<Webhook> {
    let listener = is_listener_url(&new.url);
    if new.enabled && !listener {
        check_room_for_enabled(conn, workspace)?;
    } else {
        // Still refuse an unknown workspace (the foreign key would, less legibly).
        conn.prepare_cached("SELECT 1 FROM workspaces WHERE id = ?1")?
            .query_row([workspace.as_str()], |_| Ok(()))?;
    }
    let at = now();
    let webhook = new.created(workspace, at);
    let (rate_limit, rate_limit_period) = rate_limit_columns(webhook.rate_limit);
    conn.prepare_cached(
        "INSERT INTO webhooks (id, workspace_id, url, description, events, enabled, secret,
                               created_at, updated_at, rate_limit, rate_limit_period, headers,
                               listener_seen_at, log_cursor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12,
                 (SELECT COALESCE(MAX(pos), 0) FROM events))",
    )?
    .execute(params![
        webhook.id.as_str(),
        workspace.as_str(),
        webhook.url,
        webhook.description,
        encode_events(&webhook.events),
        webhook.enabled,
        cipher.seal(&webhook.id, &webhook.secret),
        to_ms(at),
        rate_limit,
        rate_limit_period,
        cipher.seal_headers(&webhook.id, &webhook.headers),
        listener.then(|| to_ms(at)),
    ])?;
    Ok(webhook)
}

pub(super) fn list_webhooks(
    conn: &Connection,
    cipher: &SecretCipher,
    workspace: &WorkspaceId,
    page: &PageRequest,
) -> Result<Page<Webhook>> {
    let sql = format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workspace_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(
            params![
                workspace.as_str(),
                page.cursor_or_start(),
                page.fetch_limit()
            ],
            webhook_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .map(|w| w.open(cipher))
        .collect::<Result<Vec<_>>>()?;
    Ok(page.cut(rows, |w| w.id.to_string()))
}

pub(super) fn get_webhook(
    conn: &Connection,
    cipher: &SecretCipher,
    workspace: &WorkspaceId,
    id: &WebhookId,
) -> Result<Webhook> {
    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1 AND workspace_id = ?2");
    let webhook = conn
        .prepare_cached(&sql)?
        .query_row([id.as_str(), workspace.as_str()], webhook_row)?;
    webhook.open(cipher)
}

pub(super) fn update_webhook(
    conn: &Connection,
    cipher: &SecretCipher,
    workspace: &WorkspaceId,
    id: &WebhookId,
    patch: WebhookPatch,
) -> Result<Webhook> {
    let mut webhook = get_webhook(conn, cipher, workspace, id)?;
    let enables = patch.enables(&webhook);
    if enables && !is_listener_url(&webhook.url) {
        check_room_for_enabled(conn, workspace)?;
    }
    if enables {
        // Nothing published while it was disabled reaches it.
        take_up::move_to_head(conn, id)?;
    }
    let reseal_headers = patch.headers.is_some();
    patch.apply(&mut webhook, now());
    let (rate_limit, rate_limit_period) = rate_limit_columns(webhook.rate_limit);
    conn.prepare_cached(
        "UPDATE webhooks SET url = ?1, description = ?2, events = ?3, enabled = ?4, updated_at = ?5,
                             rate_limit = ?6, rate_limit_period = ?7
         WHERE id = ?8 AND workspace_id = ?9",
    )?
    .execute(params![
        webhook.url,
        webhook.description,
        encode_events(&webhook.events),
        webhook.enabled,
        to_ms(webhook.updated_at),
        rate_limit,
        rate_limit_period,
        id.as_str(),
        workspace.as_str()
    ])?;
    // Sealed again only when they change: a fresh nonce for every write would be harmless,
    // but leaving the column alone keeps an unrelated change from touching a secret.
    if reseal_headers {
        conn.prepare_cached(
            "UPDATE webhooks SET headers = ?1 WHERE id = ?2 AND workspace_id = ?3",
        )?
        .execute(params![
            cipher.seal_headers(id, &webhook.headers),
            id.as_str(),
            workspace.as_str()
        ])?;
    }
    Ok(webhook)
}

pub(super) fn delete_webhook(
    conn: &Connection,
    workspace: &WorkspaceId,
    id: &WebhookId,
) -> Result<()> {
    // Deliveries and their attempts go with it (ON DELETE CASCADE).
    let changed = conn
        .prepare_cached("DELETE FROM webhooks WHERE id = ?1 AND workspace_id = ?2")?
        .execute([id.as_str(), workspace.as_str()])?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Marks the listeners among `ids` as seen at `at`; other ids are skipped.
pub(super) fn touch_listeners(conn: &Connection, ids: &[WebhookId], at: i64) -> Result<()> {
    let mut touch = conn.prepare_cached(
        "UPDATE webhooks SET listener_seen_at = ?1
         WHERE id = ?2 AND listener_seen_at IS NOT NULL AND listener_seen_at < ?1",
    )?;
    for id in ids {
        touch.execute(params![at, id.as_str()])?;
    }
    Ok(())
}

/// Listeners of every workspace last seen before `before` (ms), oldest first.
pub(super) fn stale_listeners(
    conn: &Connection,
    before: i64,
) -> Result<Vec<(WorkspaceId, WebhookId)>> {
    Ok(conn
        .prepare_cached(
            "SELECT workspace_id, id FROM webhooks
             WHERE listener_seen_at IS NOT NULL AND listener_seen_at < ?1
             ORDER BY listener_seen_at",
        )?
        .query_map([before], |r| Ok((parse(r, 0)?, parse(r, 1)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Makes `new_secret` current and keeps the replaced one until now + `grace`.
pub(super) fn rotate_secret(
    conn: &Connection,
    cipher: &SecretCipher,
    workspace: &WorkspaceId,
    id: &WebhookId,
    new_secret: &str,
    grace: std::time::Duration,
) -> Result<SecretRotation> {
    let at = now();
    let until = grace_deadline(at, grace);
    let changed = conn
        .prepare_cached(
            "UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = ?1,
                                 secret = ?2, updated_at = ?3
             WHERE id = ?4 AND workspace_id = ?5",
        )?
        .execute(params![
            to_ms(until),
            cipher.seal(id, new_secret),
            to_ms(at),
            id.as_str(),
            workspace.as_str()
        ])?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(SecretRotation {
        webhook: get_webhook(conn, cipher, workspace, id)?,
        previous_secret_expires_at: until,
    })
}

pub(super) fn lane_target(
    conn: &Connection,
    cipher: &SecretCipher,
    id: &WebhookId,
) -> Result<LaneTarget> {
    type Columns = (
        String,
        bool,
        String,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let (url, enabled, secret, previous, previous_until, rate_limit, period, headers): Columns =
        conn.prepare_cached(
            "SELECT url, enabled, secret, previous_secret, previous_secret_expires_at,
                    rate_limit, rate_limit_period, headers
             FROM webhooks WHERE id = ?1",
        )?
        .query_row([id.as_str()], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })?;
    Ok(LaneTarget {
        webhook_id: id.clone(),
        url,
        enabled,
        secrets: signing_secrets(
            cipher.open(id, &secret)?,
            previous.map(|p| cipher.open(id, &p)).transpose()?,
            previous_until.map(from_ms),
            now(),
        ),
        rate_limit: stored_rate_limit(rate_limit, period.as_deref())?,
        headers: cipher.open_headers(id, headers.as_deref())?,
    })
}

/// Re-seals, with the cipher's first key, every stored secret that is plaintext (written
/// by an older version) or sealed with another of its keys, and so proves at startup that
/// the keys open every stored secret. Runs on the writer connection before the writer
/// starts; returns how many secrets it re-sealed.
pub(super) fn seal_stored_secrets(conn: &mut Connection, cipher: &SecretCipher) -> Result<usize> {
    let tx = conn.transaction()?;
    let rows: Vec<(WebhookId, String, Option<String>, Option<String>)> = tx
        .prepare("SELECT id, secret, previous_secret, headers FROM webhooks")?
        .query_map([], |r| Ok((parse(r, 0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut resealed = 0;
    for (id, secret, previous, headers) in rows {
        if let Some(headers) = headers
            && let Some(sealed) = cipher.reseal_headers(&id, &headers)?
        {
            tx.execute(
                "UPDATE webhooks SET headers = ?1 WHERE id = ?2",
                params![sealed, id.as_str()],
            )?;
            resealed += 1;
        }
        if let Some(sealed) = cipher.reseal(&id, &secret)? {
            tx.execute(
                "UPDATE webhooks SET secret = ?1 WHERE id = ?2",
                params![sealed, id.as_str()],
            )?;
            resealed += 1;
        }
        if let Some(previous) = previous
            && let Some(sealed) = cipher.reseal(&id, &previous)?
        {
            tx.execute(
                "UPDATE webhooks SET previous_secret = ?1 WHERE id = ?2",
                params![sealed, id.as_str()],
            )?;
            resealed += 1;
        }
    }
    tx.commit()?;
    Ok(resealed)
}
