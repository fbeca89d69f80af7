//! Taking events up from the log: the step that turns a published event into delivery
//! rows, one per enabled endpoint that subscribes to it.
//!
//! A publish writes only its event (its log entry, at position `pos`). The writer then
//! takes up the log of every workspace its group published to, once for the whole group,
//! in the same transaction ([`super::writer`]): for each enabled endpoint of the
//! workspace it reads the entries after the endpoint's `log_cursor`, matches them against
//! the endpoint's subscription (a test event only against the endpoint it names), gives
//! each match a delivery with the endpoint's next `seq`, and moves the cursor to the last
//! entry read. The endpoints' subscriptions are decoded once per group instead of once
//! per publish, and each endpoint's counters are written once per group.
//!
//! Invariants:
//! - Entries are taken up in `pos` order, which is commit order (one writer), so an
//!   endpoint's seqs follow publish order; a cursor only moves forward, past every entry
//!   it read, matched or not, so no entry is taken up twice.
//! - Only enabled endpoints take events up. A disabled endpoint's cursor stays where it
//!   was; enabling it moves the cursor to the head ([`move_to_head`]), so, as before the
//!   log existed, it gets nothing published while it was disabled. A new endpoint starts
//!   at the head: it gets nothing published before it existed.
//! - One call reads at most [`BATCH`] entries and says whether more are left; callers
//!   go on until none are ([`take_up_all`]).

use std::collections::BTreeSet;

use domain::{DeliveryId, Subscription, WebhookId, WorkspaceId};
use rusqlite::{Connection, params};

use super::rows::parse;
use super::webhooks::decode_events;
use crate::{Result, Wakeup};

/// The most log entries of one workspace read at once: bounds the memory a take-up holds.
pub(super) const BATCH: i64 = 1000;

/// What one call took up.
#[derive(Debug, Default)]
pub(super) struct TakenUp {
    /// Endpoints that got deliveries, to wake their lanes once committed.
    pub(super) news: Vec<Wakeup>,
    /// The workspace has entries left past the batch.
    pub(super) more: bool,
}

/// An enabled endpoint as the take-up reads it.
struct Taker {
    id: WebhookId,
    events: Vec<Subscription>,
    cursor: i64,
    next_seq: i64,
    /// Deliveries this call gave it.
    taken: u64,
}

/// A log entry as the take-up reads it.
struct Entry {
    pos: i64,
    event_id: String,
    event_type: String,
    created_at: i64,
    only_webhook: Option<String>,
}

impl Taker {
    fn takes(&self, entry: &Entry) -> bool {
        entry.pos > self.cursor
            && match &entry.only_webhook {
                Some(only) => only == self.id.as_str(),
                None => domain::subscription::any_matches(&self.events, &entry.event_type),
            }
    }
}

/// Takes up to [`BATCH`] log entries of `workspace` for its enabled endpoints (or only
/// for `only`, when given).
pub(super) fn take_up(
    conn: &Connection,
    workspace: &WorkspaceId,
    only: Option<&WebhookId>,
) -> Result<TakenUp> {
    let mut takers = {
        let mut statement = conn.prepare_cached(
            "SELECT id, events, log_cursor, next_seq FROM webhooks
             WHERE workspace_id = ?1 AND enabled AND (?2 IS NULL OR id = ?2) ORDER BY id",
        )?;
        let mut rows = statement.query(params![workspace.as_str(), only.map(|w| w.as_str())])?;
        let mut takers = Vec::new();
        while let Some(row) = rows.next()? {
            takers.push(Taker {
                id: parse(row, 0)?,
                events: decode_events(row, 1)?,
                cursor: row.get(2)?,
                next_seq: row.get(3)?,
                taken: 0,
            });
        }
        takers
    };
    let Some(from) = takers.iter().map(|t| t.cursor).min() else {
        return Ok(TakenUp::default());
    };
    let entries = conn
        .prepare_cached(
            "SELECT pos, id, type, created_at, only_webhook FROM events INDEXED BY events_log
             WHERE workspace_id = ?1 AND pos > ?2 ORDER BY pos LIMIT ?3",
        )?
        .query_map(params![workspace.as_str(), from, BATCH], |r| {
            Ok(Entry {
                pos: r.get(0)?,
                event_id: r.get(1)?,
                event_type: r.get(2)?,
                created_at: r.get(3)?,
                only_webhook: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let Some(last) = entries.last().map(|e| e.pos) else {
        return Ok(TakenUp::default());
    };

    let mut insert = conn.prepare_cached(
        "INSERT INTO deliveries (webhook_id, seq, id, event_id, workspace_id, event_type, status,
                                 attempts, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7, ?7)",
    )?;
    for entry in &entries {
        for taker in takers.iter_mut().filter(|t| t.takes(entry)) {
            insert.execute(params![
                taker.id.as_str(),
                taker.next_seq,
                DeliveryId::generate().as_str(),
                entry.event_id,
                workspace.as_str(),
                entry.event_type,
                entry.created_at
            ])?;
            taker.next_seq += 1;
            taker.taken += 1;
        }
    }

    let mut advance = conn.prepare_cached(
        "UPDATE webhooks SET log_cursor = ?1, next_seq = ?2 WHERE id = ?3 AND log_cursor < ?1",
    )?;
    let mut news = Vec::new();
    for taker in takers.iter().filter(|t| t.cursor < last) {
        advance.execute(params![last, taker.next_seq, taker.id.as_str()])?;
        if taker.taken > 0 {
            news.push(Wakeup {
                webhook: taker.id.clone(),
                resync: false,
            });
        }
    }
    Ok(TakenUp {
        news,
        more: entries.len() as i64 == BATCH,
    })
}

/// Takes up everything of `workspace` (for `only`, when given), however many batches that
/// is; the endpoints that got work.
pub(super) fn take_up_all(
    conn: &Connection,
    workspace: &WorkspaceId,
    only: Option<&WebhookId>,
) -> Result<Vec<Wakeup>> {
    let mut news = Vec::new();
    loop {
        let taken = take_up(conn, workspace, only)?;
        news.extend(taken.news);
        if !taken.more {
            return Ok(news);
        }
    }
}

/// Moves an endpoint's cursor to the log's head: it takes up nothing published before.
pub(super) fn move_to_head(conn: &Connection, webhook: &WebhookId) -> Result<()> {
    conn.prepare_cached(
        "UPDATE webhooks SET log_cursor = (SELECT COALESCE(MAX(pos), 0) FROM events) WHERE id = ?1",
    )?
    .execute([webhook.as_str()])?;
    Ok(())
}

/// Workspaces with an enabled endpoint that has not taken up the whole log: what a
/// writer that stopped before finishing left (read when the store opens).
pub(super) fn behind(conn: &Connection) -> Result<BTreeSet<WorkspaceId>> {
    let mut statement = conn.prepare_cached(
        "SELECT DISTINCT w.workspace_id FROM webhooks AS w
         WHERE w.enabled AND EXISTS (SELECT 1 FROM events AS e INDEXED BY events_log
                                     WHERE e.workspace_id = w.workspace_id
                                       AND e.pos > w.log_cursor)",
    )?;
    let mut rows = statement.query([])?;
    let mut behind = BTreeSet::new();
    while let Some(row) = rows.next()? {
        behind.insert(parse(row, 0)?);
    }
    Ok(behind)
}
