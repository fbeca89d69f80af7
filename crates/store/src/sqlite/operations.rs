//! Operations (SQLite): the schema version, every endpoint's backlog, and the record of
//! raised alerts.
//!
//! Invariants:
//! - Backlogs read indexes only: the open-delivery index (`deliveries_open`) for the head
//!   and the count, and `attempts_by_webhook` from its newest end for the latest attempt
//!   (a `410 Gone` that disabled the endpoint) and the run of failures (an endpoint being
//!   retried makes a few attempts an hour, so that walk is short).
//! - Raising an alert is one writer job: the check that it is not recorded, the publish
//!   of its event and its row commit together or not at all, and the single writer
//!   serializes two raises of one alert.

use domain::{ErrorClass, EventId, WebhookId};
use rusqlite::{Connection, OptionalExtension, params};

use super::publish;
use super::rows::{now_ms, parse, time, to_ms};
use super::schema;
use super::take_up;
use crate::{
    AlertCondition, EndpointBacklog, MigrationStatus, NewAlert, NewEvent, Published, Result,
};

pub(super) fn migrations(conn: &Connection) -> Result<MigrationStatus> {
    Ok(MigrationStatus {
        applied: schema::schema_version(conn)?,
        latest: schema::LATEST,
    })
}

const WEBHOOKS_WITH_WORK: &str = "SELECT w.id, w.workspace_id, w.url, w.enabled FROM webhooks w
     WHERE EXISTS (SELECT 1 FROM deliveries d INDEXED BY deliveries_open
                   WHERE d.webhook_id = w.id AND d.status IN ('pending', 'failed'))
     ORDER BY w.id";

const HEAD: &str = "SELECT created_at, COALESCE(open_since, created_at)
     FROM deliveries INDEXED BY deliveries_open
     WHERE webhook_id = ?1 AND status IN ('pending', 'failed') ORDER BY seq LIMIT 1";

pub(super) const OPEN_COUNT: &str = "SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_open
     WHERE webhook_id = ?1 AND status IN ('pending', 'failed')";

pub(super) const LATEST_ATTEMPT: &str = "SELECT attempted_at, error_class
     FROM attempts INDEXED BY attempts_by_webhook
     WHERE webhook_id = ?1 ORDER BY attempted_at DESC LIMIT 1";

pub(super) const LAST_SUCCESS: &str =
    "SELECT attempted_at FROM attempts INDEXED BY attempts_by_webhook
     WHERE webhook_id = ?1 AND error_class IS NULL ORDER BY attempted_at DESC LIMIT 1";

const FIRST_ATTEMPT_AFTER: &str =
    "SELECT MIN(attempted_at) FROM attempts INDEXED BY attempts_by_webhook
     WHERE webhook_id = ?1 AND attempted_at > ?2";

pub(super) fn endpoint_backlogs(conn: &Connection) -> Result<Vec<EndpointBacklog>> {
    let mut webhooks = conn
        .prepare_cached(WEBHOOKS_WITH_WORK)?
        .query_map([], |r| {
            Ok((
                parse::<WebhookId>(r, 0)?,
                parse(r, 1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for id in take_up::endpoints_behind(conn)? {
        if !webhooks.iter().any(|w| w.0 == id) {
            let (workspace, url): (domain::WorkspaceId, String) = conn
                .prepare_cached("SELECT workspace_id, url FROM webhooks WHERE id = ?1")?
                .query_row([id.as_str()], |r| Ok((parse(r, 0)?, r.get(1)?)))?;
            webhooks.push((id, workspace, url, true));
        }
    }
    let mut backlogs = Vec::with_capacity(webhooks.len());
    for (webhook_id, workspace_id, url, enabled) in webhooks {
        let id = webhook_id.as_str();
        // Read in one snapshot with the list. Deliveries not taken up yet are pending
        // too; they are all younger than every row.
        let head: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> = conn
            .prepare_cached(HEAD)?
            .query_row([id], |r| Ok((time(r, 0)?, time(r, 1)?)))
            .optional()?;
        let (untaken, oldest_untaken) = take_up::untaken(conn, &webhook_id)?;
        let oldest_untaken = oldest_untaken.and_then(chrono::DateTime::from_timestamp_millis);
        let Some((oldest_created_at, head_window_start)) =
            head.or(oldest_untaken.map(|at| (at, at)))
        else {
            continue;
        };
        let open: u64 = conn
            .prepare_cached(OPEN_COUNT)?
            .query_row([id], |r| r.get(0))?;
        let pending = open + untaken;
        let latest: Option<(i64, Option<String>)> = conn
            .prepare_cached(LATEST_ATTEMPT)?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let gone_since = match &latest {
            Some((at, Some(class))) if !enabled && class == ErrorClass::Gone.as_str() => {
                chrono::DateTime::from_timestamp_millis(*at)
            }
            _ => None,
        };
        let latest_failed = latest.is_some_and(|(_, class)| class.is_some());
        backlogs.push(EndpointBacklog {
            workspace_id,
            webhook_id: webhook_id.clone(),
            url,
            enabled,
            pending,
            oldest_created_at,
            head_window_start,
            failing_since: failing_since(conn, id, latest_failed)?,
            gone_since,
            recorded_alerts: recorded_alerts(conn, id)?,
        });
    }
    Ok(backlogs)
}

fn recorded_alerts(
    conn: &Connection,
    webhook: &str,
) -> Result<Vec<(AlertCondition, chrono::DateTime<chrono::Utc>)>> {
    let rows = conn
        .prepare_cached("SELECT condition, since FROM alerts WHERE webhook_id = ?1")?
        .query_map([webhook], |r| Ok((r.get::<_, String>(0)?, time(r, 1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(c, since)| AlertCondition::parse(&c).map(|c| (c, since)))
        .collect())
}

/// The first attempt after the endpoint's last success, if its latest attempt failed.
pub(super) fn failing_since(
    conn: &Connection,
    webhook: &str,
    latest_failed: bool,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    if !latest_failed {
        return Ok(None);
    }
    let last_success: i64 = conn
        .prepare_cached(LAST_SUCCESS)?
        .query_row([webhook], |r| r.get(0))
        .optional()?
        .unwrap_or(i64::MIN);
    let first: Option<i64> = conn
        .prepare_cached(FIRST_ATTEMPT_AFTER)?
        .query_row(params![webhook, last_success], |r| r.get(0))?;
    Ok(first.and_then(chrono::DateTime::from_timestamp_millis))
}

pub(super) fn raise_alert(
    conn: &Connection,
    alert: &NewAlert,
    event: &NewEvent,
) -> Result<Option<Published>> {
    // `NotFound` for an endpoint deleted (or of another workspace) since it was read.
    conn.prepare_cached("SELECT 1 FROM webhooks WHERE id = ?1 AND workspace_id = ?2")?
        .query_row(
            [alert.webhook_id.as_str(), alert.workspace_id.as_str()],
            |_| Ok(()),
        )?;
    let recorded = conn
        .prepare_cached("SELECT 1 FROM alerts WHERE webhook_id = ?1 AND condition = ?2")?
        .query_row(
            [alert.webhook_id.as_str(), alert.condition.as_str()],
            |_| Ok(()),
        )
        .optional()?;
    if recorded.is_some() {
        return Ok(None);
    }
    let published = publish::publish(conn, event)?;
    let event_id: &EventId = &published.event.id;
    conn.prepare_cached(
        "INSERT INTO alerts (webhook_id, condition, since, event_id, raised_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        alert.webhook_id.as_str(),
        alert.condition.as_str(),
        to_ms(alert.since),
        event_id.as_str(),
        now_ms(),
    ])?;
    Ok(Some(published))
}

pub(super) fn clear_alerts(
    conn: &Connection,
    webhook: &WebhookId,
    condition: AlertCondition,
    before_ms: i64,
) -> Result<bool> {
    let deleted = conn
        .prepare_cached(
            "DELETE FROM alerts WHERE webhook_id = ?1 AND condition = ?2 AND since < ?3",
        )?
        .execute(params![webhook.as_str(), condition.as_str(), before_ms])?;
    Ok(deleted > 0)
}
