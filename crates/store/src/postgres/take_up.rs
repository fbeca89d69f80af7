//! Taking events up from the log (PostgreSQL): the step that turns published events into
//! delivery rows, one per enabled endpoint that subscribes to each.
//!
//! A publish writes only its event, at log position `(xact, pos)`: its transaction's id
//! and a sequence number, neither of which takes a row lock, so publishers of any number
//! of processes never wait for each other. A publish group is answered at its commit;
//! the store's take-up worker ([`super::take_up_worker`]) then takes up the log of the
//! workspaces it published to ([`take_up`]), one transaction per workspace: it takes the
//! workspace's take-up lock, reads its enabled endpoints and the entries after the lowest
//! cursor, matches them against each endpoint's subscription (a test event only against
//! the endpoint it names), inserts the deliveries with each endpoint's next `seq`, moves
//! each cursor to the last entry read and notifies the endpoints that got work.
//! Processes taking up one workspace at once queue on its take-up lock, and each
//! take-up covers everything committed so far, so the later ones find little.
//!
//! Invariants:
//! - A take-up reads only entries whose `xact` is below the oldest transaction still
//!   running when it reads (`pg_snapshot_xmin`). Every transaction that may still add an
//!   entry has an id at least that high (ids only grow), so no entry can appear behind a
//!   cursor: entries are taken up in one order, `(xact, pos)`, exactly once. That order
//!   follows causality: a publish that began after another was answered has a higher
//!   transaction id. (Within one transaction, `pos` follows the group's order: the
//!   writer takes the group's positions from the sequence in one call.)
//! - An entry written by a transaction that is still younger than an older running one
//!   waits until that one ends: the take-up worker waits for the horizon before it takes
//!   up, and keeps trying while it is held back; the dispatcher's sweep catches up on
//!   whatever is left ([`catch_up`]), e.g. by a process that died between its commit and
//!   its take-up.
//! - Only enabled endpoints take events up; creating or enabling one moves its cursor to
//!   its own transaction's id: it gets nothing committed before.

use deadpool_postgres::Client;
use domain::{DeliveryId, Subscription, WebhookId};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::WAKE_CHANNEL;
use super::publish::Publisher;
use super::rows::is_retryable;
use super::webhooks::decode_events;
use crate::announce::Announcer;
use crate::work::{Work, WorkCounter};
use crate::{Result, StoreError};

/// The most log entries one transaction takes up: bounds how long it holds the locks.
const BATCH: i64 = 1000;

/// One take-up of a workspace at a time, across processes. An advisory lock, not the
/// endpoints' row locks: it gives the transaction no id, so a take-up waiting for
/// another does not hold back every other take-up's horizon (only its final write does,
/// briefly).
const LOCK_WORKSPACE: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('admin-webhooks take-up ' || $1, 0))";

pub(super) const TAKERS: &str = "SELECT id, events, log_xact, log_pos, next_seq FROM webhooks
     WHERE workspace_id = $1 AND enabled ORDER BY id";

pub(super) const HORIZON: &str = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// The entries after the lowest cursor of the workspace's enabled endpoints, below the
/// horizon of this statement's own snapshot (taken after the lock: see [`pass`]).
pub(super) const ENTRIES: &str = "SELECT xact, pos, id, type, created_at, only_webhook FROM events
     WHERE workspace_id = $1
       AND (xact, pos) > (SELECT log_xact, log_pos FROM webhooks
                          WHERE workspace_id = $1 AND enabled
                          ORDER BY log_xact, log_pos LIMIT 1)
       AND xact < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
     ORDER BY xact, pos LIMIT $2";

const WRITE: &str = "WITH queued AS (
         INSERT INTO deliveries (webhook_id, seq, id, event_id, workspace_id, event_type, status,
                                 attempts, next_attempt_at, created_at, updated_at)
         SELECT d.webhook_id, d.seq, d.id, d.event_id, $1, d.event_type, 'pending',
                0, d.at, d.at, d.at
         FROM unnest($2::text[], $3::int8[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[]) AS d(webhook_id, seq, id, event_id, event_type, at)
         RETURNING 1
     ), advanced AS (
         UPDATE webhooks w SET log_xact = $8, log_pos = $9, next_seq = v.next
         FROM unnest($10::text[], $11::int8[]) AS v(id, next)
         WHERE w.id = v.id
         RETURNING 1
     )
     SELECT (SELECT count(*) FROM queued), (SELECT count(*) FROM advanced)";

const NOTIFY: &str = "SELECT pg_notify($1, id || $2) FROM unnest($3::text[]) AS id";

/// Workspaces with an enabled endpoint that has not taken up all the entries it can see.
const BEHIND: &str = "SELECT DISTINCT w.workspace_id FROM webhooks w
     WHERE w.enabled AND EXISTS (SELECT 1 FROM events e
                                 WHERE e.workspace_id = w.workspace_id
                                   AND (e.xact, e.pos) > (w.log_xact, w.log_pos))";

/// What one take-up transaction did.
struct Pass {
    /// Endpoints that got deliveries.
    news: Vec<String>,
    /// Every entry below this transaction id was taken up (as far as `more` allows).
    horizon: i64,
    /// It stopped at [`BATCH`]: entries below the horizon are left.
    more: bool,
}

/// An enabled endpoint as the take-up reads it.
struct Taker {
    id: String,
    events: Vec<Subscription>,
    cursor: (i64, i64),
    next_seq: i64,
    taken: u64,
}

impl Taker {
    fn from_row(row: &Row) -> Result<Taker> {
        Ok(Taker {
            id: row.try_get(0)?,
            events: decode_events(row.try_get(1)?)?,
            cursor: (row.try_get(2)?, row.try_get(3)?),
            next_seq: row.try_get(4)?,
            taken: 0,
        })
    }

    fn takes(&self, entry: &Row) -> Result<bool> {
        let at: (i64, i64) = (entry.try_get(0)?, entry.try_get(1)?);
        if at <= self.cursor {
            return Ok(false);
        }
        Ok(match entry.try_get::<_, Option<&str>>(5)? {
            Some(only) => only == self.id,
            None => domain::subscription::any_matches(&self.events, entry.try_get(3)?),
        })
    }
}

/// One take-up transaction over `workspace`, counted as it commits.
async fn pass(
    client: &mut Client,
    workspace: &str,
    origin_suffix: &str,
    counter: &WorkCounter,
) -> Result<Pass> {
    let tx = client.transaction().await?;
    let lock = tx.prepare_cached(LOCK_WORKSPACE).await?;
    let takers_sql = tx.prepare_cached(TAKERS).await?;
    let horizon_sql = tx.prepare_cached(HORIZON).await?;
    let entries_sql = tx.prepare_cached(ENTRIES).await?;
    // Pipelined, and run in this order: the lock first, so the reads (each with a
    // snapshot of its own, taken after the lock) see what a take-up it waited for
    // wrote. The horizon read first is at most the one the entries were read below.
    let workspace_params: [&(dyn ToSql + Sync); 1] = [&workspace];
    let entries_params: [&(dyn ToSql + Sync); 2] = [&workspace, &BATCH];
    let (_, locked, horizon, entries) = futures::try_join!(
        tx.query(&lock, &workspace_params),
        tx.query(&takers_sql, &workspace_params),
        tx.query_one(&horizon_sql, &[]),
        tx.query(&entries_sql, &entries_params),
    )?;
    let mut takers = locked
        .iter()
        .map(Taker::from_row)
        .collect::<Result<Vec<_>>>()?;
    let horizon: i64 = if takers.is_empty() {
        i64::MAX
    } else {
        horizon.try_get(0)?
    };
    let Some(last) = entries.last() else {
        tx.commit().await?;
        counter.add(Work::TakeUp, 4, 0);
        return Ok(Pass {
            news: Vec::new(),
            horizon,
            more: false,
        });
    };
    let last: (i64, i64) = (last.try_get(0)?, last.try_get(1)?);

    let (mut webhooks, mut seqs, mut ids, mut events, mut types, mut times) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for entry in &entries {
        for taker in takers.iter_mut() {
            if !taker.takes(entry)? {
                continue;
            }
            webhooks.push(taker.id.clone());
            seqs.push(taker.next_seq);
            ids.push(DeliveryId::generate().to_string());
            events.push(entry.try_get::<_, String>(2)?);
            types.push(entry.try_get::<_, String>(3)?);
            times.push(entry.try_get::<_, chrono::DateTime<chrono::Utc>>(4)?);
            taker.next_seq += 1;
            taker.taken += 1;
        }
    }
    let (advanced, nexts): (Vec<String>, Vec<i64>) = takers
        .iter()
        .filter(|t| t.cursor < last)
        .map(|t| (t.id.clone(), t.next_seq))
        .unzip();
    let news: Vec<String> = takers
        .iter()
        .filter(|t| t.taken > 0)
        .map(|t| t.id.clone())
        .collect();
    let write = tx.prepare_cached(WRITE).await?;
    let notify = tx.prepare_cached(NOTIFY).await?;
    let write_params: [&(dyn ToSql + Sync); 11] = [
        &workspace, &webhooks, &seqs, &ids, &events, &types, &times, &last.0, &last.1, &advanced,
        &nexts,
    ];
    let notify_params: [&(dyn ToSql + Sync); 3] = [&WAKE_CHANNEL, &origin_suffix, &news];
    // Sent at commit: other processes hear of work they can read. Pipelined with the
    // write (an empty list notifies nobody).
    let (row, _) = futures::try_join!(
        tx.query_one(&write, &write_params),
        tx.query(&notify, &notify_params),
    )?;
    let (queued, moved): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    if queued as usize != webhooks.len() || moved as usize != advanced.len() {
        return Err(StoreError::Backend(
            format!(
                "a take-up wrote {queued} of {} deliveries and moved {moved} of {} cursors",
                webhooks.len(),
                advanced.len()
            )
            .into(),
        ));
    }
    tx.commit().await?;
    counter.add(Work::TakeUp, 6, (queued + moved) as u64);
    Ok(Pass {
        news,
        horizon,
        more: entries.len() as i64 == BATCH,
    })
}

/// Whether a statement referred to a row deleted meanwhile.
fn is_gone(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
}

/// Takes `workspace` up as far as the horizon lets, batch after batch (a deadlock
/// victim tries again); the endpoints that got work and the horizon reached.
pub(super) async fn take_up(
    client: &mut Client,
    workspace: &str,
    publisher: &Publisher,
) -> Result<(Vec<String>, i64)> {
    let mut news = Vec::new();
    let mut victims = 0;
    loop {
        let origin = &publisher.origin_suffix;
        match pass(client, workspace, origin, &publisher.counter).await {
            Ok(pass) => {
                news.extend(pass.news);
                if !pass.more {
                    return Ok((news, pass.horizon));
                }
            }
            // A deadlock victim, or an endpoint deleted while it was taken up (its
            // deliveries' foreign key): the next pass reads the endpoints again.
            Err(StoreError::Backend(e))
                if victims < 3
                    && e.downcast_ref::<tokio_postgres::Error>()
                        .is_some_and(|e| is_retryable(e) || is_gone(e)) =>
            {
                victims += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Takes up every workspace that has entries its enabled endpoints have not taken up:
/// what a process that died between its publish and its take-up left, or what an older
/// transaction held back.
pub(super) async fn catch_up(publisher: &Publisher) -> Result<()> {
    let mut client = publisher.unflushed.get().await?;
    let behind = client.prepare_cached(BEHIND).await?;
    let workspaces: Vec<String> = client
        .query(&behind, &[])
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    for workspace in workspaces {
        let (news, _) = take_up(&mut client, &workspace, publisher).await?;
        announce(&publisher.announcer, &news);
    }
    Ok(())
}

pub(super) fn announce(announcer: &Announcer, news: &[String]) {
    let woken: Vec<WebhookId> = news.iter().filter_map(|id| id.parse().ok()).collect();
    announcer.announce(&woken, false);
}
