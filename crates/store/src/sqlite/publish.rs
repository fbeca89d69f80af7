//! Publishing events (the event row alone, its log entry, in one writer job; a batch of
//! them in one job) and reading them back. The deliveries come from the take-up
//! ([`super::take_up`]), when they are needed.
//!
//! Invariants:
//! - The event id and timestamp are made inside the writer job. The writer runs jobs one
//!   at a time in commit order, so event id order = commit order = log order (`pos`) =
//!   seq order on every endpoint.
//! - A publish writes the same rows however many endpoints subscribe: the event and, with
//!   an idempotency key, the key.
//! - The body is rendered once here; the stored bytes are what every attempt sends.
//! - A repeated idempotency key younger than [`IDEMPOTENCY_WINDOW_MS`] creates nothing.

use std::collections::{HashMap, HashSet};

use domain::{EventId, WorkspaceId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::{now, parse, time, to_ms};
use super::take_up::Grown;
use super::tenancy::event_type_exists;
use crate::{Event, NewEvent, Published, Result, StoreError};

/// How long an idempotency key dedupes publishes (the contract says 24 h).
pub(super) const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

pub(super) const EVENT_COLUMNS: &str = "id, workspace_id, type, created_at, body";

pub(super) fn event_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        id: parse(row, 0)?,
        workspace_id: parse(row, 1)?,
        event_type: row.get(2)?,
        timestamp: time(row, 3)?,
        body: row.get(4)?,
    })
}

pub(super) fn publish(conn: &Connection, new: &NewEvent) -> Result<Published> {
    publish_known(conn, new, &mut KnownTypes::default())
}

/// Event types of the catalog a batch already found, so that its items of one type read
/// the catalog once (the read was a tenth of the writer's time per item).
#[derive(Default)]
struct KnownTypes(HashMap<WorkspaceId, HashSet<String>>);

impl KnownTypes {
    fn check(
        &mut self,
        conn: &Connection,
        workspace: &WorkspaceId,
        event_type: &str,
    ) -> Result<()> {
        if self
            .0
            .get(workspace)
            .is_some_and(|types| types.contains(event_type))
        {
            return Ok(());
        }
        if !event_type_exists(conn, workspace, event_type)? {
            return Err(StoreError::UnknownEventType(event_type.to_owned()));
        }
        self.0
            .entry(workspace.clone())
            .or_default()
            .insert(event_type.to_owned());
        Ok(())
    }
}

fn publish_known(conn: &Connection, new: &NewEvent, known: &mut KnownTypes) -> Result<Published> {
    let at = now();
    if let Some(key) = &new.idempotency_key
        && let Some(event) = earlier_event_for_key(conn, &new.workspace_id, key, to_ms(at))?
    {
        return Ok(Published {
            event,
            duplicate: true,
        });
    }

    match &new.only_webhook {
        Some(id) => {
            conn.prepare_cached("SELECT 1 FROM webhooks WHERE id = ?1 AND workspace_id = ?2")?
                .query_row([id.as_str(), new.workspace_id.as_str()], |_| Ok(()))?;
        }
        None => known.check(conn, &new.workspace_id, &new.event_type)?,
    }

    let id = EventId::generate();
    let body =
        domain::event::render_body(&id, &new.event_type, at, &new.data, new.metadata.as_deref());
    conn.prepare_cached(
        "INSERT INTO events (id, workspace_id, type, created_at, body, only_webhook, traceparent,
                             tracestate)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        id.as_str(),
        new.workspace_id.as_str(),
        new.event_type,
        to_ms(at),
        body,
        new.only_webhook.as_ref().map(|w| w.as_str()),
        new.trace.as_ref().map(|t| t.traceparent()),
        new.trace.as_ref().and_then(|t| t.state.as_deref())
    ])?;

    if let Some(key) = &new.idempotency_key {
        // Replaces a row older than the window, which no longer dedupes.
        conn.prepare_cached(
            "INSERT OR REPLACE INTO idempotency_keys (workspace_id, key, event_id, created_at)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            new.workspace_id.as_str(),
            key,
            id.as_str(),
            to_ms(at)
        ])?;
    }

    let event = Event {
        id,
        workspace_id: new.workspace_id.clone(),
        event_type: new.event_type.clone(),
        timestamp: at,
        body,
    };
    Ok(Published {
        event,
        duplicate: false,
    })
}

/// What a publish of `new` added to its workspace's log, for the writer to announce: none
/// for a repeated idempotency key.
pub(super) fn grown(published: &Published, new: &NewEvent) -> Option<Grown> {
    (!published.duplicate).then(|| Grown {
        workspace: published.event.workspace_id.clone(),
        event_type: published.event.event_type.clone(),
        only: new.only_webhook.clone(),
    })
}

/// Publishes each of `batch` as [`publish`] does; answers each, in order.
///
/// A publish refuses only before it writes (an unknown type or endpoint), so a refused
/// item leaves nothing behind and needs no savepoint of its own (a savepoint per item
/// made SQLite journal every page each item touched). An item that fails after writing
/// (a disk error) fails the whole job, and with it the writer's group.
pub(super) fn publish_batch(
    conn: &Connection,
    batch: &[NewEvent],
) -> Result<Vec<Result<Published>>> {
    let mut answers = Vec::with_capacity(batch.len());
    let mut known = KnownTypes::default();
    for new in batch {
        let before = conn.total_changes();
        let answer = publish_known(conn, new, &mut known);
        if let Err(error) = &answer
            && conn.total_changes() != before
        {
            return Err(StoreError::Backend(
                format!("a publish of the batch failed after writing: {error}").into(),
            ));
        }
        answers.push(answer);
    }
    Ok(answers)
}

fn earlier_event_for_key(
    conn: &Connection,
    workspace: &WorkspaceId,
    key: &str,
    now_ms: i64,
) -> Result<Option<Event>> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events
         WHERE id = (SELECT event_id FROM idempotency_keys
                     WHERE workspace_id = ?1 AND key = ?2 AND created_at > ?3)"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(
            params![workspace.as_str(), key, now_ms - IDEMPOTENCY_WINDOW_MS],
            event_row,
        )
        .optional()?)
}

pub(super) fn get_event(conn: &Connection, workspace: &WorkspaceId, id: &EventId) -> Result<Event> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1 AND workspace_id = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id.as_str(), workspace.as_str()], event_row)?)
}
