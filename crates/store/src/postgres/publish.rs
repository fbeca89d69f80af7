//! Publishing (PostgreSQL): the publish writer's group commit, and reading events back.
//!
//! The publish writer drains queued publishes (up to [`MAX_BATCH`]) and commits them in
//! ONE transaction on one connection, then answers each. A group runs in four moves:
//! 1. Resolve, with three pipelined reads for the whole group: earlier events of
//!    idempotency keys, which types are in the catalogs, and the candidate endpoints.
//! 2. Lock the endpoints that will get deliveries, all at once, in id order
//!    (`FOR NO KEY UPDATE`), re-check them as they are now (a concurrent update may have
//!    disabled one or changed what it subscribes to), and read their `next_seq`.
//! 3. Write, in savepoints so that a failing publish rolls back alone: the publishes
//!    without an idempotency key as ONE batch statement (its own savepoint; should it
//!    fail, they are written again one savepoint each, to find the culprit), each keyed
//!    publish as a statement of its own that first claims its key. All pipelined.
//! 4. Store each endpoint's new `next_seq` and `pg_notify` once per endpoint that got a
//!    delivery, in one statement; commit. Notifications leave at commit, so a listener
//!    never hears of work it cannot read yet. Once committed, the group's work is
//!    announced in this process at once ([`crate::announce`]), before any caller hears
//!    back; the notifications carry this store's origin (`id@origin`), so its own
//!    listener knows them as echoes and drops them.
//!
//! Invariants:
//! - Per endpoint, seq order = commit order, across processes. An endpoint's seqs are
//!   handed out from its `next_seq`, read under the endpoint's row lock, and the counter
//!   is written back before commit. The lock is held until the transaction ends, so a
//!   publisher of another process that wants the same endpoint waits until this one
//!   committed (and then reads the advanced counter) or rolled back (and reuses the
//!   seqs). A reader therefore never sees seq n+1 before seq n. (Bumping the counter once
//!   per group rather than once per publish is measured, not taste: every UPDATE of one
//!   row inside one transaction adds a row version the next must walk past.)
//! - Seqs are strictly increasing per endpoint, but a publish refused after its seqs were
//!   handed out (a racing idempotency key, a failed statement) leaves them unused: the
//!   order is the contract, not contiguity.
//! - Within this process, event ids (one monotonic generator) and seqs are made in group
//!   order, and groups commit one after the other, so event id order = seq order on every
//!   endpoint (ids of different processes are not ordered with each other).
//! - Groups lock endpoints in id order before writing anything, so two groups of two
//!   processes cannot deadlock on endpoints; a group the server still picks as a
//!   deadlock victim (idempotency keys raced by two processes) is run again.
//! - A repeated idempotency key younger than 24 h creates nothing; two publishes racing
//!   with one key (in one group or in two processes) create one event, and the other
//!   answers it as a duplicate.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use deadpool_postgres::{GenericClient, Pool, Transaction};
use domain::{DeliveryId, EventId, Subscription, WebhookId, WorkspaceId};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::WAKE_CHANNEL;
use super::pipeline::{self, GroupError, Savepoints, Step};
use super::rows::{is_retryable, now, parse};
use super::webhooks::decode_events;
use crate::announce::Announcer;
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

/// Enabled endpoints of the workspaces asked for, and the named endpoints of test events.
pub(super) const CANDIDATES: &str =
    "SELECT id, workspace_id, enabled, events, next_seq FROM webhooks
     WHERE (workspace_id = ANY($1::text[]) AND enabled) OR id = ANY($2::text[])";

/// Locks the group's endpoints in id order (the order every group takes them in) and
/// returns them as they are once locked.
pub(super) const LOCK_TARGETS: &str =
    "SELECT id, workspace_id, enabled, events, next_seq FROM webhooks
     WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE";

/// Publishes without an idempotency key, all at once: the events, then the deliveries.
const WRITE_BATCH: &str = "WITH stored AS (
         INSERT INTO events (id, workspace_id, type, created_at, body)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bytea[])
         RETURNING 1
     ), queued AS (
         INSERT INTO deliveries (webhook_id, seq, id, event_id, workspace_id, event_type, status,
                                 attempts, next_attempt_at, created_at, updated_at)
         SELECT d.webhook_id, d.seq, d.id, d.event_id, d.workspace_id, d.event_type, 'pending',
                0, d.at, d.at, d.at
         FROM unnest($6::text[], $7::int8[], $8::text[], $9::text[], $10::text[], $11::text[],
                     $12::timestamptz[])
              AS d(webhook_id, seq, id, event_id, workspace_id, event_type, at)
         RETURNING 1
     )
     SELECT TRUE, (SELECT count(*) FROM stored), (SELECT count(*) FROM queued)";

/// One publish: claims its idempotency key (unless a live one exists: then nothing else
/// happens and the first column is false), stores the event and its deliveries.
const WRITE_ONE: &str = "WITH claim AS (
         INSERT INTO idempotency_keys (workspace_id, key, event_id, created_at)
         SELECT $2::text, $7::text, $1::text, $4::timestamptz WHERE $7::text IS NOT NULL
         ON CONFLICT (workspace_id, key) DO UPDATE
             SET event_id = EXCLUDED.event_id, created_at = EXCLUDED.created_at
             WHERE idempotency_keys.created_at <= $8::timestamptz
         RETURNING 1
     ), go AS (
         SELECT 1 WHERE $7::text IS NULL OR EXISTS (SELECT 1 FROM claim)
     ), stored AS (
         INSERT INTO events (id, workspace_id, type, created_at, body)
         SELECT $1::text, $2::text, $3::text, $4::timestamptz, $5::bytea FROM go
         RETURNING 1
     ), queued AS (
         INSERT INTO deliveries (webhook_id, seq, id, event_id, workspace_id, event_type, status,
                                 attempts, next_attempt_at, created_at, updated_at)
         SELECT d.webhook_id, d.seq, d.id, $1::text, $2::text, $3::text, 'pending',
                0, $4::timestamptz, $4::timestamptz, $4::timestamptz
         FROM go, unnest($6::text[], $9::int8[], $10::text[]) AS d(webhook_id, seq, id)
         RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM go), (SELECT count(*) FROM stored), (SELECT count(*) FROM queued)";

/// The live event of a key another publish claimed first.
const KEY_WINNER: &str = "SELECT e.id, e.workspace_id, e.type, e.created_at, e.body
     FROM idempotency_keys k JOIN events e ON e.id = k.event_id
     WHERE k.workspace_id = $1 AND k.key = $2";

/// Stores the endpoints' advanced counters and wakes the lanes that got work.
const FINISH: &str = "WITH bumped AS (
         UPDATE webhooks w SET next_seq = v.next
         FROM unnest($1::text[], $2::int8[]) AS v(id, next)
         WHERE w.id = v.id
         RETURNING w.id
     )
     SELECT pg_notify($3::text, id || $5::text) FROM bumped WHERE id = ANY($4::text[])";

/// Commits one group of publishes, announces what it committed and answers each.
pub(super) async fn commit_group(publisher: &Publisher, jobs: Vec<PublishJob>) {
    let mut tries = 0;
    let answers = loop {
        tries += 1;
        let mut answers: Vec<Option<Result<Published>>> = jobs.iter().map(|_| None).collect();
        match run_group(publisher, &jobs, &mut answers).await {
            Ok(woken) => {
                // Before the answers: a caller that heard back finds its news announced.
                publisher.announcer.announce(&woken, false);
                break answers;
            }
            Err(GroupError::Db(e)) if is_retryable(&e) && tries < GROUP_TRIES => {
                tracing::debug!(error = %e, "a publish group was chosen as a deadlock victim; running it again");
            }
            Err(error) => {
                let message = error.to_string();
                tracing::error!(error = %message, publishes = jobs.len(), "committing publishes failed");
                // A publish refused on its own merits keeps its own answer; the others
                // hear that nothing of theirs was kept.
                break answers
                    .into_iter()
                    .map(|answer| match answer {
                        Some(Err(own)) => Some(Err(own)),
                        _ => Some(Err(StoreError::Backend(
                            format!("commit failed: {message}").into(),
                        ))),
                    })
                    .collect();
            }
        }
    };
    for (job, answer) in jobs.into_iter().zip(answers) {
        let answer = answer
            .unwrap_or_else(|| Err(StoreError::Backend("a publish was left unanswered".into())));
        job.reply.send(answer);
    }
}

/// An endpoint as the group reads it.
struct Endpoint {
    workspace: String,
    enabled: bool,
    events: Vec<Subscription>,
    next_seq: i64,
}

fn endpoint_row(row: &Row) -> Result<(String, Endpoint)> {
    Ok((
        row.try_get(0)?,
        Endpoint {
            workspace: row.try_get(1)?,
            enabled: row.try_get(2)?,
            events: decode_events(row.try_get(3)?)?,
            next_seq: row.try_get(4)?,
        },
    ))
}

impl Endpoint {
    /// Whether a publish of `new` goes to this endpoint.
    fn receives(&self, new: &NewEvent, id: &str) -> bool {
        self.workspace == new.workspace_id.as_str()
            && match &new.only_webhook {
                Some(only) => only.as_str() == id,
                None => {
                    self.enabled && domain::subscription::any_matches(&self.events, &new.event_type)
                }
            }
    }
}

/// A publish on its way into the transaction.
struct Write {
    /// Its index in the group.
    job: usize,
    event: Event,
    targets: Vec<String>,
    seqs: Vec<i64>,
    deliveries: Vec<String>,
}

/// Runs the group in one transaction, filling `answers`; `Err` when the transaction as a
/// whole failed (then nothing of it was kept).
async fn run_group(
    publisher: &Publisher,
    jobs: &[PublishJob],
    answers: &mut [Option<Result<Published>>],
) -> Result<Vec<WebhookId>, GroupError> {
    let mut client = publisher.pool.get().await?;
    let tx = client.transaction().await?;

    let targets = resolve(&tx, jobs, answers).await?;
    let (targets, mut counters) = lock(&tx, jobs, answers, targets).await?;

    // Event ids, bodies and seqs, in group order.
    let mut writes = Vec::new();
    for (i, (job, mine)) in jobs.iter().zip(targets).enumerate() {
        let Some(targets) = mine else { continue };
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
        let seqs = targets
            .iter()
            .map(|t| {
                let next = counters.get_mut(t).expect("every target was locked");
                *next += 1;
                *next - 1
            })
            .collect();
        writes.push(Write {
            job: i,
            event: Event {
                id,
                workspace_id: new.workspace_id.clone(),
                event_type: new.event_type.clone(),
                timestamp: at,
                body,
            },
            deliveries: targets
                .iter()
                .map(|_| DeliveryId::generate().to_string())
                .collect(),
            targets,
            seqs,
        });
    }

    let written = write(&tx, jobs, &writes).await?;
    let mut woken: BTreeSet<&str> = BTreeSet::new();
    for (w, went) in writes.iter().zip(written) {
        let new = &jobs[w.job].new;
        answers[w.job] = Some(match went {
            Err(e) => Err(e),
            Ok(false) => key_winner(&tx, &new.workspace_id, new.idempotency_key.as_deref()).await,
            Ok(true) => {
                woken.extend(w.targets.iter().map(String::as_str));
                Ok(Published {
                    event: w.event.clone(),
                    duplicate: false,
                })
            }
        });
    }

    let woken: Vec<&str> = woken.into_iter().collect();
    if !counters.is_empty() {
        let finish = tx.prepare_cached(FINISH).await?;
        let (ids, nexts): (Vec<String>, Vec<i64>) = counters.into_iter().unzip();
        let origin = &publisher.origin_suffix;
        tx.query(&finish, &[&ids, &nexts, &WAKE_CHANNEL, &woken, origin])
            .await?;
    }
    let woken = woken
        .into_iter()
        .map(|id| id.parse().map_err(|e| StoreError::Backend(Box::new(e))))
        .collect::<Result<Vec<WebhookId>>>()?;
    tx.commit().await?;
    Ok(woken)
}

/// Move 1: answers duplicates and refusals, and names each other publish's endpoints (in
/// id order, as on SQLite).
async fn resolve(
    tx: &Transaction<'_>,
    jobs: &[PublishJob],
    answers: &mut [Option<Result<Published>>],
) -> Result<Vec<Option<Vec<String>>>, GroupError> {
    let (mut key_ws, mut keys) = (Vec::new(), Vec::new());
    let (mut type_ws, mut types) = (Vec::new(), Vec::new());
    let (mut workspaces, mut only) = (BTreeSet::new(), BTreeSet::new());
    for job in jobs {
        let new = &job.new;
        if let Some(key) = &new.idempotency_key {
            key_ws.push(new.workspace_id.as_str());
            keys.push(key.as_str());
        }
        match &new.only_webhook {
            Some(id) => {
                only.insert(id.as_str());
            }
            None => {
                type_ws.push(new.workspace_id.as_str());
                types.push(new.event_type.as_str());
                workspaces.insert(new.workspace_id.as_str());
            }
        }
    }
    let (workspaces, only): (Vec<&str>, Vec<&str>) =
        (workspaces.into_iter().collect(), only.into_iter().collect());
    let earlier_sql = tx.prepare_cached(EARLIER_EVENTS).await?;
    let known_sql = tx.prepare_cached(KNOWN_TYPES).await?;
    let candidates_sql = tx.prepare_cached(CANDIDATES).await?;
    let cutoff = now() - IDEMPOTENCY_WINDOW;
    let earlier_params: [&(dyn ToSql + Sync); 3] = [&key_ws, &keys, &cutoff];
    let known_params: [&(dyn ToSql + Sync); 2] = [&type_ws, &types];
    let candidates_params: [&(dyn ToSql + Sync); 2] = [&workspaces, &only];
    // Independent reads: polled together, they travel pipelined.
    let (earlier, known, candidates) = futures::try_join!(
        tx.query(&earlier_sql, &earlier_params),
        tx.query(&known_sql, &known_params),
        tx.query(&candidates_sql, &candidates_params),
    )?;
    let mut earlier_events: HashMap<(String, String), Event> = HashMap::new();
    for row in &earlier {
        earlier_events.insert((row.try_get(0)?, row.try_get(1)?), event_row(row, 2)?);
    }
    let mut known_types: HashSet<(String, String)> = HashSet::new();
    for row in &known {
        known_types.insert((row.try_get(0)?, row.try_get(1)?));
    }
    let mut endpoints: Vec<(String, Endpoint)> =
        candidates.iter().map(endpoint_row).collect::<Result<_>>()?;
    endpoints.sort_by(|a, b| a.0.cmp(&b.0));

    let mut targets = Vec::with_capacity(jobs.len());
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
            targets.push(None);
            continue;
        }
        if new.only_webhook.is_none()
            && !known_types.contains(&(new.workspace_id.to_string(), new.event_type.clone()))
        {
            *answer = Some(Err(StoreError::UnknownEventType(new.event_type.clone())));
            targets.push(None);
            continue;
        }
        let mine: Vec<String> = endpoints
            .iter()
            .filter(|(id, endpoint)| endpoint.receives(new, id))
            .map(|(id, _)| id.clone())
            .collect();
        if new.only_webhook.is_some() && mine.is_empty() {
            *answer = Some(Err(StoreError::NotFound));
            targets.push(None);
            continue;
        }
        targets.push(Some(mine));
    }
    Ok(targets)
}

/// Move 2: locks every target at once, in id order, re-checks each publish's endpoints
/// as they are now, and returns them with each endpoint's `next_seq`.
async fn lock(
    tx: &Transaction<'_>,
    jobs: &[PublishJob],
    answers: &mut [Option<Result<Published>>],
    mut targets: Vec<Option<Vec<String>>>,
) -> Result<(Vec<Option<Vec<String>>>, BTreeMap<String, i64>), GroupError> {
    let union: Vec<&str> = targets
        .iter()
        .flatten()
        .flatten()
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if union.is_empty() {
        return Ok((targets, BTreeMap::new()));
    }
    let lock_sql = tx.prepare_cached(LOCK_TARGETS).await?;
    let locked: HashMap<String, Endpoint> = tx
        .query(&lock_sql, &[&union])
        .await?
        .iter()
        .map(endpoint_row)
        .collect::<Result<_>>()?;
    for ((job, answer), mine) in jobs.iter().zip(answers.iter_mut()).zip(targets.iter_mut()) {
        let Some(list) = mine else { continue };
        list.retain(|id| locked.get(id).is_some_and(|e| e.receives(&job.new, id)));
        if job.new.only_webhook.is_some() && list.is_empty() {
            *answer = Some(Err(StoreError::NotFound));
            *mine = None;
        }
    }
    let counters = locked.into_iter().map(|(id, e)| (id, e.next_seq)).collect();
    Ok((targets, counters))
}

/// Move 3: writes every publish, each failing alone; per publish, whether it went in
/// (`false`: its idempotency key was claimed first by a concurrent publish).
async fn write(
    tx: &Transaction<'_>,
    jobs: &[PublishJob],
    writes: &[Write],
) -> Result<Vec<Result<bool>>, GroupError> {
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
                Box::new(w.targets.clone()),
                Box::new(new.idempotency_key.clone()),
                Box::new(w.event.timestamp - IDEMPOTENCY_WINDOW),
                Box::new(w.seqs.clone()),
                Box::new(w.deliveries.clone()),
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
    let mut results = pipeline::run(tx, &savepoints, &steps).await?.into_iter();

    let mut went: HashMap<usize, Result<bool>> = HashMap::with_capacity(writes.len());
    if !plain.is_empty() {
        let expected = (plain.len(), plain.iter().map(|w| w.targets.len()).sum());
        let batch_ok = results
            .next()
            .expect("one result per step")
            .map_err(StoreError::from)
            .and_then(|rows| counts(&rows))
            .is_ok_and(|(_, stored, queued)| (stored, queued) == expected);
        if batch_ok {
            went.extend(plain.iter().map(|w| (w.job, Ok(true))));
        } else {
            // Something in the batch failed (and was rolled back): one savepoint each.
            let steps: Vec<Step> = plain.iter().map(|w| one(w)).collect();
            for (w, result) in plain
                .iter()
                .zip(pipeline::run(tx, &savepoints, &steps).await?)
            {
                went.insert(w.job, went_in(result, w));
            }
        }
    }
    for (w, result) in keyed.iter().zip(results) {
        went.insert(w.job, went_in(result, w));
    }
    Ok(writes
        .iter()
        .map(|w| went.remove(&w.job).expect("every write was answered"))
        .collect())
}

/// The batch statement's parameters: one array per column.
#[derive(Default)]
struct Columns {
    event_ids: Vec<String>,
    workspaces: Vec<String>,
    types: Vec<String>,
    times: Vec<DateTime<Utc>>,
    bodies: Vec<Vec<u8>>,
    delivery_webhooks: Vec<String>,
    delivery_seqs: Vec<i64>,
    delivery_ids: Vec<String>,
    delivery_events: Vec<String>,
    delivery_workspaces: Vec<String>,
    delivery_types: Vec<String>,
    delivery_times: Vec<DateTime<Utc>>,
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
        for ((target, seq), id) in w.targets.iter().zip(&w.seqs).zip(&w.deliveries) {
            c.delivery_webhooks.push(target.clone());
            c.delivery_seqs.push(*seq);
            c.delivery_ids.push(id.clone());
            c.delivery_events.push(w.event.id.to_string());
            c.delivery_workspaces.push(new.workspace_id.to_string());
            c.delivery_types.push(new.event_type.clone());
            c.delivery_times.push(w.event.timestamp);
        }
    }
    Ok(Step {
        statement: tx.prepare_cached(WRITE_BATCH).await?,
        params: vec![
            Box::new(c.event_ids),
            Box::new(c.workspaces),
            Box::new(c.types),
            Box::new(c.times),
            Box::new(c.bodies),
            Box::new(c.delivery_webhooks),
            Box::new(c.delivery_seqs),
            Box::new(c.delivery_ids),
            Box::new(c.delivery_events),
            Box::new(c.delivery_workspaces),
            Box::new(c.delivery_types),
            Box::new(c.delivery_times),
        ],
    })
}

/// `(went, events stored, deliveries queued)` of a write statement.
fn counts(rows: &[Row]) -> Result<(bool, usize, usize)> {
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Backend("a publish statement returned no row".into()))?;
    let (went, stored, queued): (bool, i64, i64) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    Ok((went, stored as usize, queued as usize))
}

/// Whether one publish's statement went in, checked against what it had to write.
fn went_in(result: Result<Vec<Row>, tokio_postgres::Error>, w: &Write) -> Result<bool> {
    match counts(&result?)? {
        (false, _, _) => Ok(false),
        (true, 1, queued) if queued == w.targets.len() => Ok(true),
        (true, stored, queued) => Err(StoreError::Backend(
            format!(
                "a publish stored {stored} events and {queued} deliveries for {} endpoints",
                w.targets.len()
            )
            .into(),
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
