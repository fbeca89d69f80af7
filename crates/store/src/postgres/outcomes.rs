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
//! - Within a group, outcomes run in submission order (one pipelined burst, see
//!   `pipeline`), so outcomes of one lane, each fenced on the one before, all apply.
//! - An outcome's update, its attempt row and the disabling of its webhook (after a
//!   `410 Gone`) are one statement: all or nothing, and a stale outcome disables nothing.

use std::sync::Arc;

use deadpool_postgres::Pool;

use super::pipeline::{self, GroupError, Savepoints, Step};
use super::rows::{is_retryable, ms, now};
use crate::work::{Work, WorkCounter};
use crate::{Outcome, RecordedHeaders, Result, StoreError};

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
    let answers = loop {
        tries += 1;
        match run_group(&pool, &jobs).await {
            Ok((answers, statements)) => {
                count(&counter, &jobs, &answers, statements);
                break answers;
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

/// Runs the group in one transaction: each outcome's answer, and the statements sent.
async fn run_group(pool: &Pool, jobs: &[OutcomeJob]) -> Result<(Vec<Result<()>>, u64), GroupError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let savepoints = Savepoints::prepare(&tx).await?;
    let with_attempt = tx.prepare_cached(RECORD_ATTEMPT).await?;
    let without_attempt = tx.prepare_cached(RECORD_WITHOUT_ATTEMPT).await?;
    let updated_at = now();
    let steps: Vec<Step> = jobs
        .iter()
        .map(|job| {
            let o = &job.outcome;
            let next_attempt_at = o
                .status
                .is_open()
                .then(|| o.next_attempt_at.map_or(updated_at, ms));
            let attempts_before = i32::try_from(o.attempts_before).unwrap_or(i32::MAX);
            match &o.attempt {
                Some(a) => Step {
                    statement: with_attempt.clone(),
                    params: vec![
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
                },
                None => Step {
                    statement: without_attempt.clone(),
                    params: vec![
                        Box::new(o.status.as_str()),
                        Box::new(next_attempt_at),
                        Box::new(updated_at),
                        Box::new(o.delivery_id.to_string()),
                        Box::new(attempts_before),
                    ],
                },
            }
        })
        .collect();
    let ran = pipeline::run(&tx, &savepoints, &steps).await?;
    let (results, statements) = (ran.results, ran.statements);
    let answers = results
        .into_iter()
        .map(|result| {
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
        })
        .collect();
    tx.commit().await?;
    Ok((answers, statements))
}
