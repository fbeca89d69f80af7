//! Recording attempt outcomes (PostgreSQL): the outcome writer's group commit.
//!
//! Lanes hand outcomes over without waiting ([`crate::Store::submit_outcome`]); the
//! outcome writer commits what queued up in one transaction, in submission order, and
//! then resolves each [`crate::Ack`].
//!
//! Invariants:
//! - The fence: an outcome changes its delivery only while the delivery is open and still
//!   has the attempt count the outcome was decided on (`attempts_before`). Otherwise
//!   nothing changes, no attempt is recorded, and the answer is `StaleAttempt` — also
//!   when another process's lane recorded first.
//! - Within a group, outcomes of one delivery run in submission order, so outcomes of one
//!   lane, each fenced on the one before, all apply. The group is cut into rounds, the
//!   n-th outcome of each delivery in round n; a round's ordinary outcomes (an attempt,
//!   no disabling) are ONE set-based statement ([`RECORD_ATTEMPTS`]), the rest one
//!   statement each, all sent as one pipelined burst (see `pipeline`), rounds in order.
//! - Outcomes of different deliveries are independent (each is fenced on its own row), so
//!   their order inside a round does not matter.
//! - If a set-based statement fails, the group is rolled back and run again with one
//!   statement per outcome, so that a failing outcome fails alone.
//! - An outcome's update, its attempt row and the disabling of its webhook (after a
//!   `410 Gone`) are one statement: all or nothing, and a stale outcome disables nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio_postgres::types::ToSql;

use super::pipeline::{self, GroupError, Savepoints, Step};
use super::rows::{is_retryable, ms, now};
use crate::work::{Work, WorkCounter};
use crate::{AttemptLog, Outcome, RecordedHeaders, Result, StoreError};

/// The most outcomes one transaction holds.
pub(super) const MAX_BATCH: usize = 512;

/// How often a whole group is run again after the server failed it to break a deadlock.
const GROUP_TRIES: usize = 3;

pub(super) struct OutcomeJob {
    pub(super) outcome: Outcome,
    /// Records the job's time, from submission to its answer, as it answers.
    pub(super) reply: crate::timing::TimedReply<()>,
}

/// Records an attempt's result together with the attempt, and disables the webhook when
/// `$14` says so, if the fence holds.
///
/// The delivery is found by its id alone, and the attempt and the disabling take the
/// webhook from the row: with `webhook_id = …` in the condition, the planner of a fresh
/// database (no statistics yet) picked `deliveries_open` and walked every open delivery
/// of the endpoint per outcome, so recording slowed down as the backlog grew.
pub(super) const RECORD_ATTEMPT: &str = "WITH changed AS (
         UPDATE deliveries
         SET attempts = attempts + 1, status = $1::text, next_attempt_at = $2::timestamptz,
             last_status_code = $3::int4, last_response_ms = $4::int8, last_error = $5::text,
             updated_at = $6::timestamptz
         WHERE id = $7::text AND attempts = $8::int4 AND status IN ('pending', 'failed')
         RETURNING id, webhook_id
     ), logged AS (
         INSERT INTO attempts (delivery_id, id, webhook_id, attempted_at, status_code, response_ms,
                               error_class, error_message, response_body,
                               request_headers, response_headers)
         SELECT changed.id, $9::text, changed.webhook_id, $10::timestamptz, $3::int4, $4::int8,
                $11::text, $12::text, $13::text, $15::text, $16::text
         FROM changed
         RETURNING 1
     ), disabled AS (
         UPDATE webhooks SET enabled = false, updated_at = $6::timestamptz
         WHERE $14::bool AND id IN (SELECT webhook_id FROM changed)
         RETURNING 1
     )
     SELECT count(*) FROM changed";

/// [`RECORD_ATTEMPT`] for many deliveries at once, each at most once: the parameters are
/// arrays, one element per outcome. Answers the ids of the deliveries it changed; the
/// others were stale. The deliveries are reached by the id index only: "open" is spelled
/// as "neither closed status" (the same, by the table's CHECK), which the planner cannot
/// match to `deliveries_open`; spelled like that index's predicate, a fresh database's
/// planner walked every open delivery for each group. One statement instead of one per
/// outcome: PostgreSQL's own work per statement (bind, executor start, the CTE's three
/// parts) was most of an outcome's cost.
pub(super) const RECORD_ATTEMPTS: &str = "WITH input AS (
         SELECT * FROM unnest($1::text[], $2::int4[], $3::text[], $4::timestamptz[],
                              $5::int4[], $6::int8[], $7::text[], $8::text[],
                              $9::timestamptz[], $10::text[], $11::text[], $12::text[],
                              $13::text[], $14::text[])
             AS i(delivery_id, attempts_before, status, next_attempt_at,
                  status_code, response_ms, last_error, attempt_id,
                  attempted_at, error_class, error_message, response_body,
                  request_headers, response_headers)
     ), changed AS (
         UPDATE deliveries d
         SET attempts = d.attempts + 1, status = i.status, next_attempt_at = i.next_attempt_at,
             last_status_code = i.status_code, last_response_ms = i.response_ms,
             last_error = i.last_error, updated_at = $15::timestamptz
         FROM input i
         WHERE d.id = ANY($1::text[]) AND d.id = i.delivery_id
           AND d.attempts = i.attempts_before
           AND d.status <> 'delivered' AND d.status <> 'expired'
         RETURNING d.id, d.webhook_id
     ), logged AS (
         INSERT INTO attempts (delivery_id, id, webhook_id, attempted_at, status_code, response_ms,
                               error_class, error_message, response_body,
                               request_headers, response_headers)
         SELECT c.id, i.attempt_id, c.webhook_id, i.attempted_at, i.status_code, i.response_ms,
                i.error_class, i.error_message, i.response_body,
                i.request_headers, i.response_headers
         FROM changed c JOIN input i ON i.delivery_id = c.id
         RETURNING 1
     )
     SELECT id FROM changed";

/// Changes the status without an attempt (an expiry), if the fence holds. Found by id
/// alone, like [`RECORD_ATTEMPT`].
pub(super) const RECORD_WITHOUT_ATTEMPT: &str = "WITH changed AS (
         UPDATE deliveries SET status = $1::text, next_attempt_at = $2::timestamptz,
                               updated_at = $3::timestamptz
         WHERE id = $4::text AND attempts = $5::int4 AND status IN ('pending', 'failed')
         RETURNING 1
     )
     SELECT count(*) FROM changed";

/// Commits one group of outcomes and answers each.
pub(super) async fn commit_group(pool: Pool, counter: Arc<WorkCounter>, jobs: Vec<OutcomeJob>) {
    let mut tries = 0;
    let mut shape = Shape::Rounds;
    let answers = loop {
        tries += 1;
        match run_group(&pool, &jobs, shape).await {
            Ok(Some((answers, statements))) => {
                count(&counter, &jobs, &answers, statements);
                break answers;
            }
            Ok(None) => {
                tracing::debug!(
                    "a set of outcomes failed; running the group one outcome at a time"
                );
                shape = Shape::OneByOne;
                tries -= 1;
            }
            Err(GroupError::Db(e)) if is_retryable(&e) && tries < GROUP_TRIES => {
                tracing::debug!(error = %e, "an outcome group was chosen as a deadlock victim; running it again");
            }
            Err(error) => {
                let message = error.to_string();
                tracing::error!(error = %message, outcomes = jobs.len(), "committing outcomes failed");
                break jobs
                    .iter()
                    .map(|_| {
                        Err(StoreError::Backend(
                            format!("commit failed: {message}").into(),
                        ))
                    })
                    .collect();
            }
        }
    };
    for (job, answer) in jobs.into_iter().zip(answers) {
        job.reply.send(answer);
    }
}

/// How a group's outcomes become statements.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Rounds, each with one set-based statement for its ordinary outcomes.
    Rounds,
    /// One statement per outcome: after a set failed, so that a failing outcome fails alone.
    OneByOne,
}

/// Counts a committed group: the statements it sent, and per outcome the rows it wrote
/// (the delivery, its attempt, the endpoint it disabled).
fn count(counter: &WorkCounter, jobs: &[OutcomeJob], answers: &[Result<()>], statements: u64) {
    counter.add(Work::Outcome, statements, 0);
    for (job, answer) in jobs.iter().zip(answers) {
        let o = &job.outcome;
        let rows = match answer {
            Ok(()) => 1 + u64::from(o.attempt.is_some()) + u64::from(o.disable_webhook),
            Err(_) => 0,
        };
        counter.add(Work::Outcome, 0, rows);
        counter.recorded(u64::from(answer.is_ok()));
    }
    counter.group();
}

/// Which outcomes one step answers.
enum Answers {
    /// One outcome, by the count its statement returns.
    One(usize),
    /// Several outcomes (their indexes in the group), by the delivery ids returned.
    Set(Vec<usize>),
}

/// Whether `outcome` can go into a set-based statement.
fn ordinary(outcome: &Outcome) -> bool {
    outcome.attempt.is_some() && !outcome.disable_webhook
}

/// The group cut into rounds (see the module's invariants): indexes into `jobs`.
fn rounds(jobs: &[OutcomeJob]) -> Vec<Vec<usize>> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(jobs.len());
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (index, job) in jobs.iter().enumerate() {
        let round = seen.entry(job.outcome.delivery_id.as_str()).or_insert(0);
        if rounds.len() <= *round {
            rounds.push(Vec::new());
        }
        rounds[*round].push(index);
        *round += 1;
    }
    rounds
}

/// Runs the group in one transaction: each outcome's answer, and the statements sent.
/// `None` (and nothing kept) when a set-based statement failed.
async fn run_group(
    pool: &Pool,
    jobs: &[OutcomeJob],
    shape: Shape,
) -> Result<Option<(Vec<Result<()>>, u64)>, GroupError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let savepoints = Savepoints::prepare(&tx).await?;
    let with_attempt = tx.prepare_cached(RECORD_ATTEMPT).await?;
    let with_attempts = tx.prepare_cached(RECORD_ATTEMPTS).await?;
    let without_attempt = tx.prepare_cached(RECORD_WITHOUT_ATTEMPT).await?;
    let updated_at = now();
    let mut steps = Vec::new();
    let mut answering = Vec::new();
    let single = |index: usize| {
        let o = &jobs[index].outcome;
        let statement = if o.attempt.is_some() {
            &with_attempt
        } else {
            &without_attempt
        };
        Step {
            statement: statement.clone(),
            params: one_params(o, updated_at),
        }
    };
    match shape {
        Shape::OneByOne => {
            for index in 0..jobs.len() {
                steps.push(single(index));
                answering.push(Answers::One(index));
            }
        }
        Shape::Rounds => {
            for round in rounds(jobs) {
                let (set, rest): (Vec<usize>, Vec<usize>) =
                    round.into_iter().partition(|&i| ordinary(&jobs[i].outcome));
                if !set.is_empty() {
                    let outcomes = set.iter().map(|&i| &jobs[i].outcome);
                    steps.push(Step {
                        statement: with_attempts.clone(),
                        params: set_params(outcomes, updated_at),
                    });
                    answering.push(Answers::Set(set));
                }
                for index in rest {
                    steps.push(single(index));
                    answering.push(Answers::One(index));
                }
            }
        }
    }
    let ran = pipeline::run(&tx, &savepoints, &steps).await?;
    let mut answers: Vec<Option<Result<()>>> = jobs.iter().map(|_| None).collect();
    for (result, answering) in ran.results.into_iter().zip(answering) {
        match answering {
            Answers::One(index) => {
                answers[index] = Some(one_answer(result));
            }
            Answers::Set(indexes) => {
                let Ok(rows) = result else {
                    return Ok(None);
                };
                let changed = rows
                    .iter()
                    .map(|row| row.try_get::<_, &str>(0))
                    .collect::<Result<HashSet<&str>, _>>()?;
                for index in indexes {
                    let id = jobs[index].outcome.delivery_id.as_str();
                    answers[index] = Some(if changed.contains(id) {
                        Ok(())
                    } else {
                        Err(StoreError::StaleAttempt)
                    });
                }
            }
        }
    }
    tx.commit().await?;
    let answers = answers
        .into_iter()
        .map(|a| a.expect("every outcome is in one step"))
        .collect();
    Ok(Some((answers, ran.statements)))
}

/// An outcome's answer from its own statement's count of changed deliveries.
fn one_answer(
    result: std::result::Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>,
) -> Result<()> {
    let rows = result?;
    let changed: i64 = rows
        .first()
        .map(|row| row.try_get(0))
        .transpose()?
        .unwrap_or(0);
    if changed == 0 {
        Err(StoreError::StaleAttempt)
    } else {
        Ok(())
    }
}

/// When an open outcome is next due: stored, or (none asked for) now.
fn next_attempt_at(o: &Outcome, updated_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    o.status
        .is_open()
        .then(|| o.next_attempt_at.map_or(updated_at, ms))
}

/// The parameters of [`RECORD_ATTEMPT`] or [`RECORD_WITHOUT_ATTEMPT`] for one outcome.
fn one_params(o: &Outcome, updated_at: DateTime<Utc>) -> Vec<Box<dyn ToSql + Sync + Send>> {
    let next_attempt_at = next_attempt_at(o, updated_at);
    let attempts_before = i32::try_from(o.attempts_before).unwrap_or(i32::MAX);
    match &o.attempt {
        Some(a) => vec![
            Box::new(o.status.as_str()),
            Box::new(next_attempt_at),
            Box::new(a.status_code.map(i32::from)),
            Box::new(i64::from(a.response_ms)),
            Box::new(a.error_summary()),
            Box::new(updated_at),
            Box::new(o.delivery_id.to_string()),
            Box::new(attempts_before),
            Box::new(a.id.to_string()),
            Box::new(ms(a.attempted_at)),
            Box::new(a.error_class.map(|c| c.as_str())),
            Box::new(a.error_message.clone()),
            Box::new(a.response_body.clone()),
            Box::new(o.disable_webhook),
            Box::new(a.request_headers.as_ref().map(RecordedHeaders::to_json)),
            Box::new(a.response_headers.as_ref().map(RecordedHeaders::to_json)),
        ],
        None => vec![
            Box::new(o.status.as_str()),
            Box::new(next_attempt_at),
            Box::new(updated_at),
            Box::new(o.delivery_id.to_string()),
            Box::new(attempts_before),
        ],
    }
}

/// The parameters of [`RECORD_ATTEMPTS`]: one array per column, in the statement's order.
fn set_params<'a>(
    outcomes: impl Iterator<Item = &'a Outcome> + Clone,
    updated_at: DateTime<Utc>,
) -> Vec<Box<dyn ToSql + Sync + Send>> {
    fn column<'a, T>(
        outcomes: &(impl Iterator<Item = &'a Outcome> + Clone),
        value: impl Fn(&'a Outcome, &'a AttemptLog) -> T,
    ) -> Vec<T> {
        outcomes
            .clone()
            .filter_map(|o| o.attempt.as_ref().map(|a| value(o, a)))
            .collect()
    }
    vec![
        Box::new(column(&outcomes, |o, _| o.delivery_id.to_string())),
        Box::new(column(&outcomes, |o, _| {
            i32::try_from(o.attempts_before).unwrap_or(i32::MAX)
        })),
        Box::new(column(&outcomes, |o, _| o.status.as_str())),
        Box::new(column(&outcomes, |o, _| next_attempt_at(o, updated_at))),
        Box::new(column(&outcomes, |_, a| a.status_code.map(i32::from))),
        Box::new(column(&outcomes, |_, a| i64::from(a.response_ms))),
        Box::new(column(&outcomes, |_, a| a.error_summary())),
        Box::new(column(&outcomes, |_, a| a.id.to_string())),
        Box::new(column(&outcomes, |_, a| ms(a.attempted_at))),
        Box::new(column(&outcomes, |_, a| a.error_class.map(|c| c.as_str()))),
        Box::new(column(&outcomes, |_, a| a.error_message.clone())),
        Box::new(column(&outcomes, |_, a| a.response_body.clone())),
        Box::new(column(&outcomes, |_, a| {
            a.request_headers.as_ref().map(RecordedHeaders::to_json)
        })),
        Box::new(column(&outcomes, |_, a| {
            a.response_headers.as_ref().map(RecordedHeaders::to_json)
        })),
        Box::new(updated_at),
    ]
}
