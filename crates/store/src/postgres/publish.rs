//! Publishing (PostgreSQL): the publish writer's group commit, and reading events back.
//!
//! The publish writer drains queued publishes (up to [`MAX_BATCH`]) and commits them in
//! ONE transaction on one connection. A group runs in three moves:
//! 1. Resolve, with pipelined reads for the whole group: earlier events of idempotency
//!    keys, which types are in the catalogs, the endpoints test events name, the
//!    transaction's id and one log position per publish (from the sequence, in group
//!    order).
//! 2. Write, in savepoints so that a failing publish rolls back alone: the publishes
//!    without an idempotency key as ONE batch statement (its own savepoint; should it
//!    fail, they are written again one savepoint each, to find the culprit), each keyed
//!    publish as a statement of its own that first claims its key. All pipelined. Only
//!    events (log entries) are written: no endpoint row is read for update, so no
//!    publish waits for another, in this process or any other.
//! 3. Commit, hand the workspaces the group grew to the store's take-up worker
//!    ([`super::take_up_worker`]) and answer each caller at once. The deliveries come
//!    into being in the worker's next take-up, milliseconds later (or once an older
//!    transaction that holds the log back ended): a caller that hears back does not yet
//!    find them in the activity log. No publish waits for a take-up.
//!
//! Invariants:
//! - Per endpoint, seq order = log order `(xact, pos)`: the order the take-up reads the
//!   log in, which follows causality across processes and group order within one.
//! - Within this process, event ids (one monotonic generator) and log positions are
//!   made in group order, and groups commit one after the other, so event id order =
//!   seq order on every endpoint (ids of different processes are not ordered with each
//!   other).
//! - A group the server picks as a deadlock victim (idempotency keys raced by two
//!   processes) is run again.
//! - A repeated idempotency key younger than 24 h creates nothing; two publishes racing
//!   with one key (in one group or in two processes) create one event, and the other
//!   answers it as a duplicate.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use deadpool_postgres::{GenericClient, Pool, Transaction};
use domain::{EventId, WorkspaceId};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::pipeline::{self, GroupError, Savepoints, Step};
use super::rows::{is_retryable, now, parse};
use super::take_up_worker::TakeUps;
use crate::announce::Announcer;
use crate::work::{Work, WorkCounter};
use crate::{Event, NewEvent, Published, Result, StoreError};

/// The most publishes one transaction holds: enough to amortize a commit well, few enough
/// that one commit never keeps callers waiting long.
pub(super) const MAX_BATCH: usize = 256;

/// How often a whole group is run again after the server failed it to break a deadlock.
const GROUP_TRIES: usize = 3;

/// How long an idempotency key dedupes publishes (the contract says 24 h).
pub(super) const IDEMPOTENCY_WINDOW: TimeDelta = TimeDelta::hours(24);

/// What the publish writer works with besides its jobs.
pub(super) struct Publisher {
    pub(super) pool: Pool,
    /// For the take-ups and the outcomes, whose commits need not wait for the WAL flush
    /// ([`super::schema::unflushed_pool`]).
    pub(super) unflushed: Pool,
    /// One take-up at a time in this process (the take-up worker's and the sweep's): each
    /// covers what was committed before it, so queueing behind the previous one costs
    /// little.
    pub(super) taking_up: Arc<tokio::sync::Mutex<()>>,
    /// What publishing, taking up and recording outcomes cost.
    pub(super) counter: Arc<WorkCounter>,
    /// Where committed work is announced in this process.
    pub(super) announcer: std::sync::Arc<Announcer>,
    /// This store's mark on its notifications (`@` and its origin), which its own
    /// listener drops as echoes of what was announced already.
    pub(super) origin_suffix: String,
}

pub(super) struct PublishJob {
    pub(super) new: NewEvent,
    /// Records the job's time, from submission to its answer, as it answers.
    pub(super) reply: crate::timing::TimedReply<Published>,
}

pub(super) const EVENT_COLUMNS: &str = "e.id, e.workspace_id, e.type, e.created_at, e.body";

pub(super) fn event_row(row: &Row, from: usize) -> Result<Event> {
    Ok(Event {
        id: parse(row, from)?,
        workspace_id: parse(row, from + 1)?,
        event_type: row.try_get(from + 2)?,
        timestamp: row.try_get(from + 3)?,
        body: row.try_get(from + 4)?,
    })
}

/// Earlier live events of the keys asked for: `(workspace, key)` → event.
pub(super) const EARLIER_EVENTS: &str =
    "SELECT q.ws, q.key, e.id, e.workspace_id, e.type, e.created_at, e.body
     FROM unnest($1::text[], $2::text[]) AS q(ws, key)
     JOIN idempotency_keys k ON k.workspace_id = q.ws AND k.key = q.key
     JOIN events e ON e.id = k.event_id
     WHERE k.created_at > $3::timestamptz";

/// The `(workspace, type)` pairs asked for that are in their workspace's catalog.
pub(super) const KNOWN_TYPES: &str =
    "SELECT q.ws, q.name FROM unnest($1::text[], $2::text[]) AS q(ws, name)
     WHERE EXISTS (SELECT 1 FROM event_types t WHERE t.workspace_id = q.ws AND t.name = q.name)";

/// The endpoints test events name, with their workspace.
pub(super) const NAMED: &str = "SELECT id, workspace_id FROM webhooks WHERE id = ANY($1::text[])";

/// One log position per publish, in group order. (Taking numbers from a sequence gives
/// the transaction no id yet: its first write does, so it holds back other processes'
/// take-ups only while it writes and commits.)
const POSITIONS: &str =
    "SELECT ARRAY(SELECT nextval('events_pos_seq') FROM generate_series(1, $1::int) ORDER BY 1)";

/// Publishes without an idempotency key, all at once.
const WRITE_BATCH: &str = "WITH stored AS (
         INSERT INTO events (id, workspace_id, type, created_at, body, pos, only_webhook,
                             traceparent, tracestate)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bytea[],
                              $6::int8[], $7::text[], $8::text[], $9::text[])
         RETURNING 1
     )
     SELECT TRUE, (SELECT count(*) FROM stored), pg_current_xact_id()::text::bigint";

/// One publish: claims its idempotency key (unless a live one exists: then nothing else
/// happens and the first column is false) and stores the event.
const WRITE_ONE: &str = "WITH claim AS (
         INSERT INTO idempotency_keys (workspace_id, key, event_id, created_at)
         SELECT $2::text, $6::text, $1::text, $4::timestamptz WHERE $6::text IS NOT NULL
         ON CONFLICT (workspace_id, key) DO UPDATE
             SET event_id = EXCLUDED.event_id, created_at = EXCLUDED.created_at
             WHERE idempotency_keys.created_at <= $7::timestamptz
         RETURNING 1
     ), go AS (
         SELECT 1 WHERE $6::text IS NULL OR EXISTS (SELECT 1 FROM claim)
     ), stored AS (
         INSERT INTO events (id, workspace_id, type, created_at, body, pos, only_webhook,
                             traceparent, tracestate)
         SELECT $1::text, $2::text, $3::text, $4::timestamptz, $5::bytea, $8::int8, $9::text,
                $10::text, $11::text
         FROM go
         RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM go), (SELECT count(*) FROM stored),
            pg_current_xact_id()::text::bigint";

/// The live event of a key another publish claimed first.
const KEY_WINNER: &str = "SELECT e.id, e.workspace_id, e.type, e.created_at, e.body
     FROM idempotency_keys k JOIN events e ON e.id = k.event_id
     WHERE k.workspace_id = $1 AND k.key = $2";

/// Commits one group of publishes, hands what it grew to the take-up worker and answers
/// each: at once, without waiting for the take-up.
pub(super) async fn commit_group(publisher: &Publisher, take_ups: &TakeUps, jobs: Vec<PublishJob>) {
    let mut tries = 0;
    let (answers, committed) = loop {
        tries += 1;
        let mut answers: Vec<Option<Result<Published>>> = jobs.iter().map(|_| None).collect();
        match run_group(publisher, &jobs, &mut answers).await {
            Ok(xact) => break (answers, Some(xact)),
            Err(GroupError::Db(e)) if is_retryable(&e) && tries < GROUP_TRIES => {
                tracing::debug!(error = %e, "a publish group was chosen as a deadlock victim; running it again");
            }
            Err(error) => {
                let message = error.to_string();
                tracing::error!(error = %message, publishes = jobs.len(), "committing publishes failed");
                // A publish refused on its own merits keeps its own answer; the others
                // hear that nothing of theirs was kept.
                let answers = answers
                    .into_iter()
                    .map(|answer| match answer {
                        Some(Err(own)) => Some(Err(own)),
                        _ => Some(Err(StoreError::Backend(
                            format!("commit failed: {message}").into(),
                        ))),
                    })
                    .collect();
                break (answers, None);
            }
        }
    };
    if let Some(xact) = committed {
        let grown: BTreeSet<String> = answers
            .iter()
            .flatten()
            .flatten()
            .filter(|p| !p.duplicate)
            .map(|p| p.event.workspace_id.to_string())
            .collect();
        // Before the answers: a store closed after its last publish answered still
        // takes that publish up.
        take_ups.hand_over(grown.into_iter().collect(), xact);
    }
    for (job, answer) in jobs.into_iter().zip(answers) {
        let answer = answer
            .unwrap_or_else(|| Err(StoreError::Backend("a publish was left unanswered".into())));
        job.reply.send(answer);
    }
}

/// A publish on its way into the transaction.
struct Write {
    /// Its index in the group.
    job: usize,
    event: Event,
    /// Its log position.
    pos: i64,
}

/// Runs the group in one transaction, filling `answers`; the transaction's id once
/// committed, `Err` when the transaction as a whole failed (then nothing of it was kept).
async fn run_group(
    publisher: &Publisher,
    jobs: &[PublishJob],
    answers: &mut [Option<Result<Published>>],
) -> Result<i64, GroupError> {
    let mut client = publisher.pool.get().await?;
    let tx = client.transaction().await?;

    let (going, positions) = resolve(&tx, jobs, answers).await?;

    // Event ids, bodies and positions, in group order.
    let mut writes = Vec::new();
    for (i, (job, goes)) in jobs.iter().zip(going).enumerate() {
        if !goes {
            continue;
        }
        let new = &job.new;
        let at = now();
        let id = EventId::generate();
        let body = domain::event::render_body(
            &id,
            &new.event_type,
            at,
            &new.data,
            new.metadata.as_deref(),
        );
        writes.push(Write {
            job: i,
            event: Event {
                id,
                workspace_id: new.workspace_id.clone(),
                event_type: new.event_type.clone(),
                timestamp: at,
                body,
            },
            pos: positions[i],
        });
    }

    let (written, statements, xact) = write(&tx, jobs, &writes).await?;
    // No write went out (all duplicates or refused): nothing to take up.
    let xact = xact.unwrap_or(0);
    // The resolving reads, the writes with their savepoints, and a claimed key's row.
    let keyed = |w: &Write| jobs[w.job].new.idempotency_key.is_some();
    let rows: u64 = writes
        .iter()
        .zip(&written)
        .filter(|(_, went)| matches!(went, Ok(true)))
        .map(|(w, _)| 1 + u64::from(keyed(w)))
        .sum();
    let events = written
        .iter()
        .filter(|went| matches!(went, Ok(true)))
        .count();
    publisher.counter.add(Work::Publish, 4 + statements, rows);
    for (w, went) in writes.iter().zip(written) {
        let new = &jobs[w.job].new;
        answers[w.job] = Some(match went {
            Err(e) => Err(e),
            Ok(false) => {
                publisher.counter.add(Work::Publish, 1, 0);
                key_winner(&tx, &new.workspace_id, new.idempotency_key.as_deref()).await
            }
            Ok(true) => Ok(Published {
                event: w.event.clone(),
                duplicate: false,
            }),
        });
    }
    tx.commit().await?;
    publisher.counter.published(events as u64);
    publisher.counter.group();
    Ok(xact)
}

/// Move 1: answers duplicates and refusals; says which publishes go on, with a log
/// position per publish.
async fn resolve(
    tx: &Transaction<'_>,
    jobs: &[PublishJob],
    answers: &mut [Option<Result<Published>>],
) -> Result<(Vec<bool>, Vec<i64>), GroupError> {
    let (mut key_ws, mut keys) = (Vec::new(), Vec::new());
    let (mut type_ws, mut types) = (Vec::new(), Vec::new());
    let mut named = BTreeSet::new();
    for job in jobs {
        let new = &job.new;
        if let Some(key) = &new.idempotency_key {
            key_ws.push(new.workspace_id.as_str());
            keys.push(key.as_str());
        }
        match &new.only_webhook {
            Some(id) => {
                named.insert(id.as_str());
            }
            None => {
                type_ws.push(new.workspace_id.as_str());
                types.push(new.event_type.as_str());
            }
        }
    }
    let named: Vec<&str> = named.into_iter().collect();
    let count = i32::try_from(jobs.len()).unwrap_or(i32::MAX);
    let earlier_sql = tx.prepare_cached(EARLIER_EVENTS).await?;
    let known_sql = tx.prepare_cached(KNOWN_TYPES).await?;
    let named_sql = tx.prepare_cached(NAMED).await?;
    let positions_sql = tx.prepare_cached(POSITIONS).await?;
    let cutoff = now() - IDEMPOTENCY_WINDOW;
    let earlier_params: [&(dyn ToSql + Sync); 3] = [&key_ws, &keys, &cutoff];
    let known_params: [&(dyn ToSql + Sync); 2] = [&type_ws, &types];
    let named_params: [&(dyn ToSql + Sync); 1] = [&named];
    let positions_params: [&(dyn ToSql + Sync); 1] = [&count];
    // Independent reads: polled together, they travel pipelined.
    let (earlier, known, named, positions) = futures::try_join!(
        tx.query(&earlier_sql, &earlier_params),
        tx.query(&known_sql, &known_params),
        tx.query(&named_sql, &named_params),
        tx.query_one(&positions_sql, &positions_params),
    )?;
    let mut earlier_events: HashMap<(String, String), Event> = HashMap::new();
    for row in &earlier {
        earlier_events.insert((row.try_get(0)?, row.try_get(1)?), event_row(row, 2)?);
    }
    let mut known_types: HashSet<(String, String)> = HashSet::new();
    for row in &known {
        known_types.insert((row.try_get(0)?, row.try_get(1)?));
    }
    let mut endpoints: HashSet<(String, String)> = HashSet::new();
    for row in &named {
        endpoints.insert((row.try_get(0)?, row.try_get(1)?));
    }
    let positions: Vec<i64> = positions.try_get(0)?;

    let mut going = Vec::with_capacity(jobs.len());
    for (job, answer) in jobs.iter().zip(answers.iter_mut()) {
        let new = &job.new;
        let key = new
            .idempotency_key
            .as_ref()
            .map(|key| (new.workspace_id.to_string(), key.clone()));
        // Same order of checks as SQLite: a known key first, then the catalog.
        if let Some(event) = key.as_ref().and_then(|k| earlier_events.get(k)) {
            *answer = Some(Ok(Published {
                event: event.clone(),
                duplicate: true,
            }));
            going.push(false);
            continue;
        }
        let refusal = match &new.only_webhook {
            Some(id) => (!endpoints.contains(&(id.to_string(), new.workspace_id.to_string())))
                .then_some(StoreError::NotFound),
            None => (!known_types
                .contains(&(new.workspace_id.to_string(), new.event_type.clone())))
            .then(|| StoreError::UnknownEventType(new.event_type.clone())),
        };
        if let Some(refusal) = refusal {
            *answer = Some(Err(refusal));
            going.push(false);
            continue;
        }
        going.push(true);
    }
    Ok((going, positions))
}

/// Move 2: writes every publish, each failing alone; per publish, whether it went in
/// (`false`: its idempotency key was claimed first by a concurrent publish), and how
/// many statements that took ([`pipeline::run`] counts them), and
/// the transaction's id, which its writes report.
async fn write(
    tx: &Transaction<'_>,
    jobs: &[PublishJob],
    writes: &[Write],
) -> Result<(Vec<Result<bool>>, u64, Option<i64>), GroupError> {
    let savepoints = Savepoints::prepare(tx).await?;
    let one_sql = tx.prepare_cached(WRITE_ONE).await?;
    let one = |w: &Write| {
        let new = &jobs[w.job].new;
        Step {
            statement: one_sql.clone(),
            params: vec![
                Box::new(w.event.id.to_string()),
                Box::new(new.workspace_id.to_string()),
                Box::new(new.event_type.clone()),
                Box::new(w.event.timestamp),
                Box::new(w.event.body.clone()),
                Box::new(new.idempotency_key.clone()),
                Box::new(w.event.timestamp - IDEMPOTENCY_WINDOW),
                Box::new(w.pos),
                Box::new(new.only_webhook.as_ref().map(|id| id.to_string())),
                Box::new(new.trace.as_ref().map(|t| t.traceparent())),
                Box::new(new.trace.as_ref().and_then(|t| t.state.clone())),
            ],
        }
    };
    let (plain, keyed): (Vec<&Write>, Vec<&Write>) = writes
        .iter()
        .partition(|w| jobs[w.job].new.idempotency_key.is_none());
    let mut steps = Vec::with_capacity(keyed.len() + 1);
    if !plain.is_empty() {
        steps.push(batch(tx, jobs, &plain).await?);
    }
    steps.extend(keyed.iter().map(|w| one(w)));
    let ran = pipeline::run(tx, &savepoints, &steps).await?;
    let mut statements = ran.statements;
    let results = ran.results;
    let mut xact = results.iter().find_map(xact_of);
    let mut results = results.into_iter();

    let mut went: HashMap<usize, Result<bool>> = HashMap::with_capacity(writes.len());
    if !plain.is_empty() {
        let batch_ok = results
            .next()
            .expect("one result per step")
            .map_err(StoreError::from)
            .and_then(|rows| counts(&rows))
            .is_ok_and(|(_, stored)| stored == plain.len());
        if batch_ok {
            went.extend(plain.iter().map(|w| (w.job, Ok(true))));
        } else {
            // Something in the batch failed (and was rolled back): one savepoint each.
            let steps: Vec<Step> = plain.iter().map(|w| one(w)).collect();
            let ran = pipeline::run(tx, &savepoints, &steps).await?;
            statements += ran.statements;
            let results = ran.results;
            xact = xact.or_else(|| results.iter().find_map(xact_of));
            for (w, result) in plain.iter().zip(results) {
                went.insert(w.job, went_in(result));
            }
        }
    }
    for (w, result) in keyed.iter().zip(results) {
        went.insert(w.job, went_in(result));
    }
    let went = writes
        .iter()
        .map(|w| went.remove(&w.job).expect("every write was answered"))
        .collect();
    Ok((went, statements, xact))
}

/// The transaction id a write statement reported.
fn xact_of(result: &Result<Vec<Row>, tokio_postgres::Error>) -> Option<i64> {
    let row = result.as_ref().ok()?.first()?;
    row.try_get(2).ok()
}

/// The batch statement's parameters: one array per column.
#[derive(Default)]
struct Columns {
    event_ids: Vec<String>,
    workspaces: Vec<String>,
    types: Vec<String>,
    times: Vec<DateTime<Utc>>,
    bodies: Vec<Vec<u8>>,
    positions: Vec<i64>,
    only: Vec<Option<String>>,
    traceparents: Vec<Option<String>>,
    tracestates: Vec<Option<String>>,
}

/// The batch statement for the publishes without an idempotency key.
async fn batch(
    tx: &Transaction<'_>,
    jobs: &[PublishJob],
    plain: &[&Write],
) -> Result<Step, GroupError> {
    let mut c = Columns::default();
    for w in plain {
        let new = &jobs[w.job].new;
        c.event_ids.push(w.event.id.to_string());
        c.workspaces.push(new.workspace_id.to_string());
        c.types.push(new.event_type.clone());
        c.times.push(w.event.timestamp);
        c.bodies.push(w.event.body.clone());
        c.positions.push(w.pos);
        c.only
            .push(new.only_webhook.as_ref().map(|id| id.to_string()));
        c.traceparents
            .push(new.trace.as_ref().map(|t| t.traceparent()));
        c.tracestates
            .push(new.trace.as_ref().and_then(|t| t.state.clone()));
    }
    Ok(Step {
        statement: tx.prepare_cached(WRITE_BATCH).await?,
        params: vec![
            Box::new(c.event_ids),
            Box::new(c.workspaces),
            Box::new(c.types),
            Box::new(c.times),
            Box::new(c.bodies),
            Box::new(c.positions),
            Box::new(c.only),
            Box::new(c.traceparents),
            Box::new(c.tracestates),
        ],
    })
}

/// `(went, events stored)` of a write statement.
fn counts(rows: &[Row]) -> Result<(bool, usize)> {
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Backend("a publish statement returned no row".into()))?;
    let (went, stored): (bool, i64) = (row.try_get(0)?, row.try_get(1)?);
    Ok((went, stored as usize))
}

/// Whether one publish's statement went in, checked against what it had to write.
fn went_in(result: Result<Vec<Row>, tokio_postgres::Error>) -> Result<bool> {
    match counts(&result?)? {
        (false, _) => Ok(false),
        (true, 1) => Ok(true),
        (true, stored) => Err(StoreError::Backend(
            format!("a publish stored {stored} events instead of one").into(),
        )),
    }
}

/// The event of a key that a concurrent publish claimed first: answered as a duplicate.
async fn key_winner(
    tx: &Transaction<'_>,
    workspace: &WorkspaceId,
    key: Option<&str>,
) -> Result<Published> {
    let statement = tx.prepare_cached(KEY_WINNER).await?;
    let row = tx
        .query_opt(&statement, &[&workspace.as_str(), &key])
        .await?
        .ok_or_else(|| StoreError::Backend("an idempotency key without its event".into()))?;
    Ok(Published {
        event: event_row(&row, 0)?,
        duplicate: true,
    })
}

pub(super) async fn get_event(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    id: &EventId,
) -> Result<Event> {
    let sql =
        format!("SELECT {EVENT_COLUMNS} FROM events e WHERE e.id = $1 AND e.workspace_id = $2");
    let statement = client.prepare_cached(&sql).await?;
    let row = client
        .query_opt(&statement, &[&id.as_str(), &workspace.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    event_row(&row, 0)
}
