//! Many statements of one transaction sent as one pipelined burst — the engine of both
//! group-commit writers.
//!
//! A group of N publishes (or outcomes) is first sent as N statements inside ONE
//! savepoint. Only if one of them fails is the savepoint rolled back and the group sent
//! again as 3·N statements (`SAVEPOINT`, the work, `RELEASE`), each in its own savepoint,
//! so that the failing one fails alone. Why not a savepoint per step every time: each
//! savepoint that writes is a subtransaction with an id of its own, and a transaction
//! with more than 64 of them overflows the server's per-backend cache of them. Then every
//! snapshot taken anywhere on the server, while it runs, is "suboverflowed" and its
//! visibility checks read `pg_subtrans` — groups of 512 outcomes ran for 30–650 ms and
//! held back the take-up's horizon for as long. Sent pipelined, a burst costs about one
//! network round trip, and the server's own work is what remains.
//!
//! Invariants:
//! - Statements reach the server in slice order. tokio-postgres sends a request when its
//!   future is first polled and executes requests in that order (its documented
//!   behaviour); [`burst`] polls every future once, in order, before awaiting any, and
//!   only prepared statements are used, so no hidden `prepare` round trip reorders them.
//! - A step that fails is rolled back alone (to its savepoint) and answered with its
//!   error; steps before it stand, steps after it are sent again. A step the server gave
//!   up on to break a deadlock is run again, a bounded number of times.
//! - An `Err` from [`run`] means the transaction itself is unusable (the connection
//!   broke, or rolling back to a savepoint failed); the caller abandons the whole group.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use futures::FutureExt;
use futures::future::{BoxFuture, MaybeDone, maybe_done};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement, Transaction};

use super::rows::is_retryable;

/// Why a whole group failed: nothing of it was kept.
#[derive(Debug, thiserror::Error)]
pub(super) enum GroupError {
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Store(#[from] crate::StoreError),
}

impl From<deadpool_postgres::PoolError> for GroupError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        GroupError::Store(error.into())
    }
}

/// How often one step is run again after the server broke a deadlock by failing it.
const STEP_RETRIES: usize = 2;

/// One statement to run in its own savepoint, with its parameters.
pub(super) struct Step {
    pub(super) statement: Statement,
    pub(super) params: Vec<Box<dyn ToSql + Sync + Send>>,
}

/// The savepoint statements, prepared on the group's connection.
pub(super) struct Savepoints {
    begin: Statement,
    release: Statement,
    rollback: Statement,
}

impl Savepoints {
    pub(super) async fn prepare(
        tx: &deadpool_postgres::Transaction<'_>,
    ) -> Result<Savepoints, tokio_postgres::Error> {
        // Every step releases its savepoint before the next one is taken, so one name
        // serves them all.
        Ok(Savepoints {
            begin: tx.prepare_cached("SAVEPOINT step").await?,
            release: tx.prepare_cached("RELEASE SAVEPOINT step").await?,
            rollback: tx.prepare_cached("ROLLBACK TO SAVEPOINT step").await?,
        })
    }
}

type StepResult = Result<Vec<Row>, tokio_postgres::Error>;

/// What [`run`] answered: one result per step, and how many statements it sent.
pub(super) struct Ran {
    pub(super) results: Vec<StepResult>,
    pub(super) statements: u64,
}

/// Runs `steps` in order inside `tx`; one result per step. All in one savepoint when
/// none fails; otherwise (rolled back) each in its own savepoint, see the module's docs.
pub(super) async fn run(
    tx: &Transaction<'_>,
    savepoints: &Savepoints,
    steps: &[Step],
) -> Result<Ran, tokio_postgres::Error> {
    let together = steps.len() as u64 + 2;
    if let Some(results) = run_together(tx, savepoints, steps).await? {
        return Ok(Ran {
            results,
            statements: together,
        });
    }
    let results = run_apart(tx, savepoints, steps).await?;
    Ok(Ran {
        results,
        // The rollback and release of the first try, then a savepoint, the statement and
        // a release per step (a step run again is not counted twice).
        statements: together + 2 + 3 * steps.len() as u64,
    })
}

/// Runs `steps` in order inside one savepoint; `None` (and nothing kept) if any failed.
async fn run_together(
    tx: &Transaction<'_>,
    savepoints: &Savepoints,
    steps: &[Step],
) -> Result<Option<Vec<StepResult>>, tokio_postgres::Error> {
    let mut futures: Vec<MaybeDone<BoxFuture<'_, StepResult>>> =
        Vec::with_capacity(steps.len() + 2);
    futures.push(maybe_done(tx.query(&savepoints.begin, &[]).boxed()));
    for step in steps {
        futures.push(maybe_done(work(tx, step).boxed()));
    }
    futures.push(maybe_done(tx.query(&savepoints.release, &[]).boxed()));
    let outputs = send_in_order(futures).await;
    if outputs.iter().all(Result::is_ok) {
        let work = outputs.into_iter().skip(1).take(steps.len());
        return Ok(Some(work.collect()));
    }
    tx.query(&savepoints.rollback, &[]).await?;
    tx.query(&savepoints.release, &[]).await?;
    Ok(None)
}

/// Runs `steps` in order inside `tx`, each in its own savepoint; one result per step.
async fn run_apart(
    tx: &Transaction<'_>,
    savepoints: &Savepoints,
    steps: &[Step],
) -> Result<Vec<StepResult>, tokio_postgres::Error> {
    let mut results = Vec::with_capacity(steps.len());
    let mut retries = 0;
    while results.len() < steps.len() {
        let from = results.len();
        let sent = burst(tx, savepoints, &steps[from..]).await;
        let mut failed = None;
        for (begin, work, release) in sent {
            match (begin, work, release) {
                (Ok(_), Ok(rows), Ok(_)) => {
                    results.push(Ok(rows));
                    retries = 0;
                }
                (begin, work, release) => {
                    // The first failure: everything sent after it failed too, as the
                    // transaction was aborted; those steps are sent again below.
                    failed = Some(begin.and(work).and(release).expect_err("one failed"));
                    break;
                }
            }
        }
        let Some(error) = failed else { continue };
        tx.query(&savepoints.rollback, &[]).await?;
        tx.query(&savepoints.release, &[]).await?;
        if is_retryable(&error) && retries < STEP_RETRIES {
            retries += 1;
            tracing::debug!(%error, "a grouped write was chosen as a deadlock victim; running it again");
        } else {
            results.push(Err(error));
            retries = 0;
        }
    }
    Ok(results)
}

type Sent = (StepResult, StepResult, StepResult);

/// Sends every step (savepoint, work, release) at once and collects the answers.
async fn burst(tx: &Transaction<'_>, savepoints: &Savepoints, steps: &[Step]) -> Vec<Sent> {
    let mut futures: Vec<MaybeDone<BoxFuture<'_, StepResult>>> =
        Vec::with_capacity(steps.len() * 3);
    for step in steps {
        futures.push(maybe_done(tx.query(&savepoints.begin, &[]).boxed()));
        futures.push(maybe_done(work(tx, step).boxed()));
        futures.push(maybe_done(tx.query(&savepoints.release, &[]).boxed()));
    }
    let mut outputs = send_in_order(futures).await.into_iter();
    let mut sent = Vec::with_capacity(steps.len());
    while let (Some(begin), Some(work), Some(release)) =
        (outputs.next(), outputs.next(), outputs.next())
    {
        sent.push((begin, work, release));
    }
    sent
}

/// A step's statement with its parameters.
async fn work(tx: &Transaction<'_>, step: &Step) -> StepResult {
    let params: Vec<&(dyn ToSql + Sync)> = step
        .params
        .iter()
        .map(|p| &**p as &(dyn ToSql + Sync))
        .collect();
    tx.query(&step.statement, &params).await
}

/// Puts every request on the wire in order, then collects the answers in order.
async fn send_in_order(mut futures: Vec<MaybeDone<BoxFuture<'_, StepResult>>>) -> Vec<StepResult> {
    // One poll each, in order: this is what puts the requests on the wire in this order.
    poll_fn(|cx| {
        for future in &mut futures {
            let _ = Pin::new(future).poll(cx);
        }
        Poll::Ready(())
    })
    .await;
    // Answers come back in the same order, so waiting in order wakes once per answer.
    for future in &mut futures {
        future.await;
    }
    futures
        .iter_mut()
        .map(|f| Pin::new(f).take_output().expect("every future was awaited"))
        .collect()
}
