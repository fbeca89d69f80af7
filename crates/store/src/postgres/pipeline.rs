//! Many statements of one transaction sent as one pipelined burst, each inside its own
//! savepoint — the engine of both group-commit writers.
//!
//! A group of N publishes (or outcomes) is 3·N statements (`SAVEPOINT`, the work,
//! `RELEASE`). Sent one after the other they would cost 3·N network round trips; sent
//! pipelined they cost about one, and the server's own work is what remains.
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

/// Runs `steps` in order inside `tx`, each in its own savepoint; one result per step.
pub(super) async fn run(
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
        futures.push(maybe_done(
            async move {
                let params: Vec<&(dyn ToSql + Sync)> = step
                    .params
                    .iter()
                    .map(|p| &**p as &(dyn ToSql + Sync))
                    .collect();
                tx.query(&step.statement, &params).await
            }
            .boxed(),
        ));
        futures.push(maybe_done(tx.query(&savepoints.release, &[]).boxed()));
    }
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
    let mut outputs = futures
        .iter_mut()
        .map(|f| Pin::new(f).take_output().expect("every future was awaited"));
    let mut sent = Vec::with_capacity(steps.len());
    while let (Some(begin), Some(work), Some(release)) =
        (outputs.next(), outputs.next(), outputs.next())
    {
        sent.push((begin, work, release));
    }
    sent
}
