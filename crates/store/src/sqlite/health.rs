//! One endpoint's health now (SQLite), and a delivery's place in its lane.
//!
//! Invariants:
//! - Read from indexes only, in one snapshot (the caller's): the open-delivery index
//!   (`deliveries_open`) for the head, the count and a delivery's place, and
//!   `attempts_by_webhook` from its newest end for the latest attempts and the run of
//!   failures (the same reads as the backlog of [`super::operations`]).

use domain::{DeliveryId, WebhookId, WorkspaceId};
use rusqlite::{Connection, OptionalExtension};

use super::operations::{LAST_SUCCESS, LATEST_ATTEMPT, OPEN_COUNT, failing_since};
use super::rows::{from_ms, opt_time, parse, time};
use crate::{LaneHead, Result, WebhookHealth};

const HEAD: &str = "SELECT id, attempts, COALESCE(open_since, created_at), next_attempt_at
     FROM deliveries INDEXED BY deliveries_open
     WHERE webhook_id = ?1 AND status IN ('pending', 'failed') ORDER BY seq LIMIT 1";

pub(super) const AHEAD: &str = "SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_open
     WHERE webhook_id = ?1 AND status IN ('pending', 'failed') AND seq < ?2";

pub(super) fn webhook_health(
    conn: &Connection,
    workspace: &WorkspaceId,
    webhook: &WebhookId,
) -> Result<WebhookHealth> {
    let id = webhook.as_str();
    let enabled: bool = conn
        .prepare_cached("SELECT enabled FROM webhooks WHERE id = ?1 AND workspace_id = ?2")?
        .query_row([id, workspace.as_str()], |r| r.get(0))?;
    let head = conn
        .prepare_cached(HEAD)?
        .query_row([id], |r| {
            Ok(LaneHead {
                id: parse(r, 0)?,
                attempts: r.get(1)?,
                window_start: time(r, 2)?,
                next_attempt_at: opt_time(r, 3)?,
            })
        })
        .optional()?;
    let waiting: u64 = match head {
        Some(_) => conn
            .prepare_cached(OPEN_COUNT)?
            .query_row([id], |r| r.get(0))?,
        None => 0,
    };
    let latest: Option<(i64, Option<String>)> = conn
        .prepare_cached(LATEST_ATTEMPT)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let last_success_at: Option<i64> = conn
        .prepare_cached(LAST_SUCCESS)?
        .query_row([id], |r| r.get(0))
        .optional()?;
    let latest_failed = latest.as_ref().is_some_and(|(_, class)| class.is_some());
    Ok(WebhookHealth {
        enabled,
        waiting,
        head,
        failing_since: failing_since(conn, id, latest_failed)?,
        last_attempt: latest.map(|(at, class)| (from_ms(at), class.is_none())),
        last_success_at: last_success_at.map(from_ms),
    })
}

pub(super) fn deliveries_ahead(
    conn: &Connection,
    workspace: &WorkspaceId,
    delivery: &DeliveryId,
) -> Result<u64> {
    let (webhook, seq, status): (String, i64, String) = conn
        .prepare_cached(
            "SELECT webhook_id, seq, status FROM deliveries WHERE id = ?1 AND workspace_id = ?2",
        )?
        .query_row([delivery.as_str(), workspace.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if !matches!(status.as_str(), "pending" | "failed") {
        return Ok(0);
    }
    Ok(conn
        .prepare_cached(AHEAD)?
        .query_row(rusqlite::params![webhook, seq], |r| r.get(0))?)
}
