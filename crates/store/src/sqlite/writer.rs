//! The single writer: one thread owns the only write connection and commits every write
//! of the store in groups.
//!
//! The thread blocks for a first job, takes in whatever else is queued (a first job that
//! is a lane's outcome, with only outcomes queued behind it, waits a moment for more:
//! [`OUTCOME_LINGER`]), makes a group of up to [`MAX_BATCH`] jobs ([`waiting`]:
//! publishes first; while they wait long, only a few of the lanes' outcomes and take-ups
//! beside them), runs them in order inside ONE transaction — each inside its own
//! savepoint, so a job that fails rolls back only itself, except publishes and outcomes,
//! which refuse only before they write ([`guarded`]) — and commits once. One fsync then
//! covers the whole group; that is where publish throughput comes from. A group of only
//! the lanes' outcomes and take-ups, which answer nobody outside the service, commits
//! without one ([`durability`]).
//!
//! Invariants:
//! - A job's caller hears back only after the commit that holds its work succeeded; if
//!   that commit fails, every job of the group hears the failure (none of it was kept).
//! - Jobs run and commit in submission order, so what a caller submitted first is never
//!   visible after what it submitted later (outcomes of a lane, seqs of publishes), with
//!   one exception: a publish may pass jobs that are not publishes ([`waiting`]).
//! - Publishes write only their events (the log). A group that published announces the
//!   endpoints that subscribe to what it published ([`take_up::subscribers`]) and takes
//!   its events up for those whose lanes keep pace, in its own savepoint. The lanes of
//!   the others take up as they get to it, readers before they read, and the writer
//!   itself once no job came for [`IDLE`]: one batch of one workspace per group, so a job
//!   arriving meanwhile waits for one batch at most ([`super::take_up`]).
//! - What a group's jobs made deliverable or changed is announced ([`crate::announce`])
//!   after the group's commit succeeded and before any job's caller hears back; a job
//!   that failed, or a group whose commit failed, announces nothing.
//! - Once closed, nothing new is accepted (`Closed`); everything accepted before is
//!   committed before the thread ends.

mod durability;
mod waiting;

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use domain::{WebhookId, WorkspaceId};
use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use self::durability::Durability;
use self::waiting::{GroupSize, Kind, Waiting};
use super::take_up::{self, Grown};
use crate::announce::Announcer;
use crate::intake::{Intake, Msg};
use crate::timing::TimedReply;
use crate::work::{Work, WorkCounter};
use crate::{Result, StoreError, Wakeup};

/// The most jobs one transaction holds: enough to amortize an fsync well, few enough
/// that one commit never keeps callers waiting long.
const MAX_BATCH: usize = 512;

/// How the writer makes its groups ([`waiting`]): while a publish has waited more than
/// 2 ms for its group, and for 20 ms after, a group holds at most 8 of the lanes'
/// outcomes and take-ups (~60 µs each under load), not up to [`MAX_BATCH`]. Chosen by
/// measurement (BENCHMARKS.md, session 8): 64 kept publishing to 50 endpoints where it
/// was; a patience of 0.5 or 1 ms throttled deliveries that a steady 1,000 events/s to
/// 10 endpoints needs.
const GROUP_SIZE: GroupSize = GroupSize {
    max: MAX_BATCH,
    lanes_beside: 8,
    patience: Duration::from_millis(2),
    linger: Duration::from_millis(20),
};

/// How long a group of the lanes' outcomes alone, begun on an idle writer, waits for more
/// outcomes before it commits. Nobody waits on an outcome (a lane goes on to its next
/// attempt), but with one attempt in flight per endpoint each outcome came alone and
/// committed alone: a commit of its own, with its WAL frames and locks, per attempt. The
/// commit was most of the writer's time delivering to 1 endpoint in strict order
/// (BENCHMARKS.md, session 10).
const OUTCOME_LINGER: Duration = Duration::from_millis(2);

/// The most outcomes a group waits for ([`OUTCOME_LINGER`]).
const OUTCOME_GROUP: usize = 64;

/// How long the writer waits for a job before it takes up a batch of the log itself.
/// Under load jobs come faster than this, and the lanes take up at their own pace.
const IDLE: Duration = Duration::from_millis(5);

/// One unit of write work with its reply, type-erased so jobs of any result type share
/// the channel.
trait Job: Send {
    /// Runs the work against the open transaction; whether it succeeded.
    fn run(&mut self, tx: &Transaction<'_>) -> bool;
    /// What the work, if it succeeded, made deliverable or changed; empty after the
    /// first call.
    fn news(&mut self) -> Vec<Wakeup>;
    /// What the work, if it succeeded, added to workspaces' logs (one per event); empty
    /// after the first call.
    fn grown(&mut self) -> Vec<Grown>;
    /// What kind of work it is, for the store's counts; `None`: not counted.
    fn work(&self) -> Option<Work>;
    /// Whether it runs in a savepoint of its own (see [`guarded`]).
    fn guarded(&self) -> bool;
    /// What it is to the making of groups ([`waiting`]).
    fn kind(&self) -> Kind;
    /// When it was submitted.
    fn queued(&self) -> Instant;
    /// Answers the caller once the group's fate is known (`Err` holds the commit error).
    fn finish(self: Box<Self>, commit: Result<(), &str>);
}

/// What a job's work leaves for its group besides its value.
#[derive(Default)]
pub(super) struct Effects {
    /// To announce once the group committed.
    pub(super) news: Vec<Wakeup>,
    /// What was added to workspaces' logs, for the group to announce.
    pub(super) grown: Vec<Grown>,
}

struct Typed<F, T> {
    operation: &'static str,
    work: Option<F>,
    result: Option<Result<T>>,
    effects: Effects,
    /// Records the job's time, from submission to its answer, as it answers.
    reply: TimedReply<T>,
}

impl<F, T> Job for Typed<F, T>
where
    F: FnOnce(&Transaction<'_>) -> Result<(T, Effects)> + Send,
    T: Send,
{
    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        // A panicking job must not take the writer (and every later write) down with it.
        let result = catch_unwind(AssertUnwindSafe(|| work(tx))).unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "a store write panicked; it was rolled back".into(),
            ))
        });
        let ok = result.is_ok();
        self.result = Some(result.map(|(value, effects)| {
            self.effects = effects;
            value
        }));
        ok
    }

    fn news(&mut self) -> Vec<Wakeup> {
        std::mem::take(&mut self.effects.news)
    }

    fn grown(&mut self) -> Vec<Grown> {
        std::mem::take(&mut self.effects.grown)
    }

    fn work(&self) -> Option<Work> {
        match self.operation {
            "publish" | "publish_batch" | "raise_alert" => Some(Work::Publish),
            "submit_outcome" => Some(Work::Outcome),
            "take_up" | "take_up_lane" => Some(Work::TakeUp),
            _ => None,
        }
    }

    fn guarded(&self) -> bool {
        guarded(self.operation)
    }

    fn kind(&self) -> Kind {
        match self.operation {
            "publish" | "publish_batch" => Kind::Publish,
            "submit_outcome" | "take_up_lane" => Kind::Lane,
            _ => Kind::InOrder,
        }
    }

    fn queued(&self) -> Instant {
        self.reply.queued()
    }

    fn finish(self: Box<Self>, commit: Result<(), &str>) {
        let result = match (self.result, commit) {
            // Never ran: its group failed before reaching it.
            (None, Err(e)) => Err(StoreError::Backend(format!("commit failed: {e}").into())),
            // Never ran: refused because the store closed.
            (None, Ok(())) => Err(StoreError::Closed),
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(e)) => Err(StoreError::Backend(format!("commit failed: {e}").into())),
        };
        self.reply.send(result);
    }
}

/// A job of `operation` doing `work`, and where its result will arrive.
fn job<T, F>(operation: &'static str, work: F) -> (Box<dyn Job>, oneshot::Receiver<Result<T>>)
where
    F: FnOnce(&Transaction<'_>) -> Result<(T, Effects)> + Send + 'static,
    T: Send + 'static,
{
    let (reply, receiver) = TimedReply::new(operation);
    let job = Box::new(Typed {
        operation,
        work: Some(work),
        result: None,
        effects: Effects::default(),
        reply,
    });
    (job, receiver)
}

/// Whether a job of `operation` runs inside a savepoint of its own, so that failing
/// rolls back only itself.
///
/// Publishes and attempt outcomes, the writer's bulk, run without one: a savepoint makes
/// SQLite copy every page the job touches first into a statement journal (measured: a
/// tenth of the writer's time in batch publishes), and these jobs only refuse before
/// they write (an unknown type, a stale attempt), so a refusal leaves nothing to undo.
/// Should one fail after writing (a disk error), the whole group is rolled back and
/// every job in it hears the failure, as when its commit fails.
fn guarded(operation: &str) -> bool {
    !matches!(operation, "publish" | "publish_batch" | "submit_outcome")
}

pub(super) struct Writer {
    /// The queue the thread drains (shared in shape with the PostgreSQL writers).
    intake: Intake<Box<dyn Job>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the thread; what committed jobs made deliverable goes to `announcer`, what
    /// they cost to `counter`. `behind`: workspaces whose log is not wholly taken up yet,
    /// taken up when idle.
    pub(super) fn start(
        conn: Connection,
        announcer: Arc<Announcer>,
        behind: BTreeSet<WorkspaceId>,
        counter: Arc<WorkCounter>,
        after_commit: AfterCommit,
    ) -> Result<Writer> {
        let (intake, receiver) = Intake::open();
        let context = Context {
            announcer,
            counter,
            after_commit,
        };
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(conn, receiver, &context, behind))
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(Writer {
            intake,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `work` and returns where its result will arrive, without waiting. The job is
    /// timed as `operation` (see [`crate::timing`]).
    pub(super) fn submit<T, F>(
        &self,
        operation: &'static str,
        work: F,
    ) -> oneshot::Receiver<Result<T>>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.submit_with_effects(operation, move |tx| Ok((work(tx)?, Effects::default())))
    }

    /// Like [`Writer::submit`], for work that also says what it made deliverable or
    /// changed: that is announced once the work is committed.
    pub(super) fn submit_announcing<T, F>(
        &self,
        operation: &'static str,
        work: F,
    ) -> oneshot::Receiver<Result<T>>
    where
        F: FnOnce(&Transaction<'_>) -> Result<(T, Vec<Wakeup>)> + Send + 'static,
        T: Send + 'static,
    {
        self.submit_with_effects(operation, move |tx| {
            let (value, news) = work(tx)?;
            let effects = Effects {
                news,
                ..Effects::default()
            };
            Ok((value, effects))
        })
    }

    /// Like [`Writer::submit`], for work that says what it made deliverable or changed
    /// and whose logs it made grow.
    pub(super) fn submit_with_effects<T, F>(
        &self,
        operation: &'static str,
        work: F,
    ) -> oneshot::Receiver<Result<T>>
    where
        F: FnOnce(&Transaction<'_>) -> Result<(T, Effects)> + Send + 'static,
        T: Send + 'static,
    {
        let (job, receiver) = job(operation, work);
        if let Err(job) = self.intake.send(job) {
            // A job that never ran, with no failed group to blame: `Closed`.
            job.finish(Ok(()));
        }
        receiver
    }

    /// Queues `work` and waits until it is committed (or refused).
    pub(super) async fn write<T, F>(&self, operation: &'static str, work: F) -> Result<T>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.submit(operation, work)
            .await
            .unwrap_or(Err(StoreError::Closed))
    }

    /// Queues `work`, which says what it made deliverable or changed, and waits until it
    /// is committed (and announced) or refused.
    pub(super) async fn write_announcing<T, F>(&self, operation: &'static str, work: F) -> Result<T>
    where
        F: FnOnce(&Transaction<'_>) -> Result<(T, Vec<Wakeup>)> + Send + 'static,
        T: Send + 'static,
    {
        self.submit_announcing(operation, work)
            .await
            .unwrap_or(Err(StoreError::Closed))
    }

    /// Queues `work`, which says what it added to workspaces' logs (publishes), and waits
    /// until it is committed (and its subscribers announced) or refused.
    pub(super) async fn write_publishing<T, F>(&self, operation: &'static str, work: F) -> Result<T>
    where
        F: FnOnce(&Transaction<'_>) -> Result<(T, Vec<Grown>)> + Send + 'static,
        T: Send + 'static,
    {
        self.submit_with_effects(operation, move |tx| {
            let (value, grown) = work(tx)?;
            let effects = Effects {
                grown,
                ..Effects::default()
            };
            Ok((value, effects))
        })
        .await
        .unwrap_or(Err(StoreError::Closed))
    }

    /// From now on, counts every statement the connection begins (see [`count_statement`]).
    /// Off until asked: the hook has rusqlite copy each statement's text, which cost a
    /// twentieth of the writer's instructions.
    pub(super) async fn count_statements(&self) -> Result<()> {
        self.write("count_statements", |tx| {
            tx.trace_v2(TraceEventCodes::SQLITE_TRACE_STMT, Some(count_statement));
            Ok(())
        })
        .await
    }

    /// Stops accepting writes and waits until everything accepted is committed.
    pub(super) async fn close(&self) {
        self.intake.close().await;
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Dropping the only sender lets the thread drain the queue and end.
        drop(self.intake.stop());
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

thread_local! {
    /// Statements the writer thread's connection began running (see [`count_statement`]).
    static STATEMENTS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts a statement the writer's connection begins running.
fn count_statement(_: TraceEvent<'_>) {
    STATEMENTS.with(|count| count.set(count.get() + 1));
}

/// Statements and rows written on this thread's connection so far.
fn spent(conn: &Connection) -> (u64, u64) {
    (STATEMENTS.with(std::cell::Cell::get), conn.total_changes())
}

/// Where a group's news and costs go.
struct Context {
    announcer: Arc<Announcer>,
    counter: Arc<WorkCounter>,
    after_commit: AfterCommit,
}

/// Called on the writer thread with its connection after each commit, outside any
/// transaction (the store nudges its checkpointer, which may start the WAL over).
pub(super) type AfterCommit = Box<dyn Fn(&Connection) + Send + Sync>;

impl Context {
    /// Counts what was spent on `work` since `before` (from [`spent`]).
    fn count(&self, conn: &Connection, work: Option<Work>, before: (u64, u64)) {
        if let Some(work) = work {
            let now = spent(conn);
            self.counter.add(work, now.0 - before.0, now.1 - before.1);
        }
    }
}

/// Workspaces whose log the writer takes up when idle.
type Backlog = BTreeSet<WorkspaceId>;

fn run(
    mut conn: Connection,
    receiver: flume::Receiver<Msg<Box<dyn Job>>>,
    context: &Context,
    behind: BTreeSet<WorkspaceId>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut waiting = Waiting::default();
    let mut closing: Option<oneshot::Sender<()>> = None;
    let mut backlog: Backlog = behind;
    let mut durability = Durability::default();
    loop {
        // Whether the group so far is of outcomes alone, begun on an idle writer.
        let mut outcomes_alone = false;
        if waiting.is_empty() {
            if let Some(done) = closing.take() {
                drop(conn);
                let _ = done.send(());
                return;
            }
            let first = if backlog.is_empty() {
                match receiver.recv() {
                    Ok(first) => first,
                    Err(_) => return,
                }
            } else {
                match receiver.recv_timeout(IDLE) {
                    Ok(first) => first,
                    Err(flume::RecvTimeoutError::Timeout) => {
                        take_up_idle(&mut conn, context, &mut backlog, &mut durability);
                        continue;
                    }
                    Err(flume::RecvTimeoutError::Disconnected) => return,
                }
            };
            outcomes_alone = admit(first, &mut waiting, &mut closing);
        }
        let (queued, all_outcomes) = take_queued(&receiver, &mut waiting, &mut closing);
        if outcomes_alone && all_outcomes {
            let deadline = Instant::now() + OUTCOME_LINGER;
            linger_for_outcomes(&receiver, &mut waiting, &mut closing, 1 + queued, deadline);
            take_queued(&receiver, &mut waiting, &mut closing);
        }
        waiting.next_group(&mut batch, GROUP_SIZE, Instant::now());
        if !batch.is_empty() {
            commit_group(
                &mut conn,
                &mut batch,
                context,
                &mut backlog,
                &mut durability,
            );
        }
    }
}

/// Sorts what came from the intake: a job waits with its kind, a close request is kept
/// until everything before it is committed. Whether it was a lane's outcome.
fn admit(
    msg: Msg<Box<dyn Job>>,
    waiting: &mut Waiting<Box<dyn Job>>,
    closing: &mut Option<oneshot::Sender<()>>,
) -> bool {
    match msg {
        Msg::Job(job) => {
            let (kind, queued) = (job.kind(), job.queued());
            let outcome = job.work() == Some(Work::Outcome);
            waiting.push(job, kind, queued);
            outcome
        }
        Msg::Close(done) => {
            *closing = Some(done);
            false
        }
    }
}

/// Takes in everything queued, up to a close request (nothing comes after one): how many
/// messages, and whether all were the lanes' outcomes.
fn take_queued(
    receiver: &flume::Receiver<Msg<Box<dyn Job>>>,
    waiting: &mut Waiting<Box<dyn Job>>,
    closing: &mut Option<oneshot::Sender<()>>,
) -> (usize, bool) {
    let (mut taken, mut all_outcomes) = (0, true);
    while closing.is_none() {
        let Ok(msg) = receiver.try_recv() else {
            break;
        };
        taken += 1;
        all_outcomes &= admit(msg, waiting, closing);
    }
    (taken, all_outcomes)
}

/// Takes in more of the lanes' outcomes for a group that holds `held` of them and nothing
/// else, until `deadline`, a group of [`OUTCOME_GROUP`], or anything that is not an
/// outcome (which joins the group and ends the wait: a publish or a lane's take-up has a
/// caller waiting on it).
fn linger_for_outcomes(
    receiver: &flume::Receiver<Msg<Box<dyn Job>>>,
    waiting: &mut Waiting<Box<dyn Job>>,
    closing: &mut Option<oneshot::Sender<()>>,
    mut held: usize,
    deadline: Instant,
) {
    while held < OUTCOME_GROUP && closing.is_none() {
        let Ok(msg) = receiver.recv_deadline(deadline) else {
            return;
        };
        held += 1;
        if !admit(msg, waiting, closing) {
            return;
        }
    }
}

/// One batch of the first workspace of the backlog, taken up in a group of its own.
fn take_up_idle(
    conn: &mut Connection,
    context: &Context,
    backlog: &mut Backlog,
    durability: &mut Durability,
) {
    let Some(workspace) = backlog.first().cloned() else {
        return;
    };
    let more = (|| -> Result<bool> {
        durability.prepare_internal(conn)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let before = spent(&tx);
        let more = take_up::take_up(&tx, &workspace, None)?;
        context.count(&tx, Some(Work::TakeUp), before);
        tx.commit()?;
        (context.after_commit)(conn);
        context.counter.group();
        Ok(more)
    })();
    // Announces nothing: the publishes announced these endpoints, and their lanes take
    // up until they caught up before they leave.
    match more {
        Ok(more) => {
            if more {
                return;
            }
        }
        // The lanes and readers take it up when they need it.
        Err(error) => {
            tracing::warn!(%error, workspace = %workspace, "taking up published events failed");
        }
    }
    backlog.remove(&workspace);
}

/// Takes up what the group published to `workspace` for the endpoints of `live`, in the
/// group's transaction and a savepoint: a take-up that fails rolls back alone and is left
/// to the lanes and readers.
fn take_up_live(
    tx: &Transaction<'_>,
    context: &Context,
    workspace: &WorkspaceId,
    live: &[WebhookId],
) -> rusqlite::Result<()> {
    let before = spent(tx);
    tx.prepare_cached("SAVEPOINT take_up")?.execute([])?;
    let taken = (|| -> Result<()> {
        while take_up::take_up_live(tx, workspace, live, take_up::BATCH)? {}
        Ok(())
    })();
    if let Err(error) = taken {
        tracing::warn!(%error, workspace = %workspace, "taking up published events failed; the lanes take them up");
        tx.prepare_cached("ROLLBACK TO take_up")?.execute([])?;
    }
    tx.prepare_cached("RELEASE take_up")?.execute([])?;
    context.count(tx, Some(Work::TakeUp), before);
    Ok(())
}

/// Runs `batch` in one transaction, announces what it committed (with the subscribers of
/// what it published) and answers every job.
fn commit_group(
    conn: &mut Connection,
    batch: &mut Vec<Box<dyn Job>>,
    context: &Context,
    backlog: &mut Backlog,
    durability: &mut Durability,
) {
    let size = batch.len();
    let outcome = durability
        .prepare(conn, batch.iter().map(|job| job.kind()))
        .and_then(|()| run_group(conn, batch, context, backlog));
    match &outcome {
        // Before the answers: a caller that heard back finds its news already announced.
        Ok(taken) => context.announcer.announce_all(
            batch
                .iter_mut()
                .flat_map(|job| job.news())
                .chain(taken.iter().cloned()),
        ),
        Err(e) => tracing::error!(error = %e, jobs = size, "store group commit failed"),
    }
    let message = outcome.as_ref().err().map(ToString::to_string);
    for job in batch.drain(..) {
        job.finish(match &message {
            None => Ok(()),
            Some(m) => Err(m),
        });
    }
}

/// Runs the jobs in one transaction; the subscribers of what they published.
fn run_group(
    conn: &mut Connection,
    batch: &mut [Box<dyn Job>],
    context: &Context,
    backlog: &mut Backlog,
) -> rusqlite::Result<Vec<Wakeup>> {
    // Immediate: take the write lock up front, so another process on the same file
    // makes us wait (busy timeout) here rather than fail at commit.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut grown = Vec::new();
    for job in batch.iter_mut() {
        let before = spent(&tx);
        let guarded = job.guarded();
        if guarded {
            tx.prepare_cached("SAVEPOINT job")?.execute([])?;
        }
        let ok = job.run(&tx);
        if guarded {
            if !ok {
                tx.prepare_cached("ROLLBACK TO job")?.execute([])?;
            }
            tx.prepare_cached("RELEASE job")?.execute([])?;
        } else if !ok && tx.total_changes() != before.1 {
            // Nothing but the whole transaction can undo its half-done work.
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                Some(
                    "a publish or outcome failed after writing; nothing of its group was kept"
                        .into(),
                ),
            ));
        }
        context.count(&tx, job.work(), before);
        let events = job.grown();
        context.counter.published(events.len() as u64);
        if ok && job.work() == Some(Work::Outcome) {
            context.counter.recorded(1);
        }
        grown.extend(events);
    }
    let mut news = Vec::new();
    let mut by_workspace: std::collections::BTreeMap<&WorkspaceId, Vec<&Grown>> =
        std::collections::BTreeMap::new();
    for entry in &grown {
        by_workspace
            .entry(&entry.workspace)
            .or_default()
            .push(entry);
    }
    // Where the log ended before the group: the group's entries are the log's last (one
    // writer; a job rolled back takes its positions back with it). An endpoint that took
    // up everything to here is one whose lane keeps pace (see `take_up::subscribers`).
    let head_before = if grown.is_empty() {
        0
    } else {
        take_up::head(&tx)? - grown.len() as i64
    };
    for (workspace, entries) in by_workspace {
        let before = spent(&tx);
        let subscribers = match take_up::subscribers(&tx, workspace, &entries, head_before) {
            Ok(subscribers) => subscribers,
            // Only a wake-up is lost: the dispatcher's sweep finds the endpoints behind.
            Err(error) => {
                tracing::warn!(%error, workspace = %workspace, "reading the subscribers of published events failed");
                take_up::Subscribers::default()
            }
        };
        context.count(&tx, Some(Work::Publish), before);
        if !subscribers.live.is_empty() {
            take_up_live(&tx, context, workspace, &subscribers.live)?;
        }
        news.extend(subscribers.news);
    }
    match tx.commit() {
        Ok(()) => {
            (context.after_commit)(conn);
            context.counter.group();
            backlog.extend(grown.into_iter().map(|g| g.workspace));
            Ok(news)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> Writer {
        announcing_writer().0
    }

    /// A writer with its announcement stream.
    fn announcing_writer() -> (Writer, tokio::sync::mpsc::UnboundedReceiver<Wakeup>) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY,
                                 parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TABLE t (v INTEGER NOT NULL);",
        )
        .unwrap();
        let announcer = Arc::new(Announcer::new());
        let news = announcer.take().unwrap();
        (
            Writer::start(
                conn,
                announcer,
                BTreeSet::new(),
                Arc::default(),
                Box::new(|_| {}),
            )
            .unwrap(),
            news,
        )
    }

    /// A job that inserts `v` and says it gave `webhook` work.
    fn announced(
        v: i64,
        webhook: &domain::WebhookId,
    ) -> impl FnOnce(&Transaction<'_>) -> Result<((), Vec<Wakeup>)> + Send + 'static {
        let news = vec![Wakeup {
            webhook: webhook.clone(),
            resync: false,
        }];
        move |tx| Ok((insert(v)(tx)?, news))
    }

    fn insert(v: i64) -> impl FnOnce(&Transaction<'_>) -> Result<()> + Send + 'static {
        move |tx| {
            tx.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
            Ok(())
        }
    }

    async fn values(writer: &Writer) -> Vec<i64> {
        select(writer, "SELECT v FROM t ORDER BY v").await
    }

    /// The values in the order their jobs ran.
    async fn values_as_run(writer: &Writer) -> Vec<i64> {
        select(writer, "SELECT v FROM t ORDER BY rowid").await
    }

    async fn select(writer: &Writer, sql: &'static str) -> Vec<i64> {
        writer
            .write("test", move |tx| {
                let mut stmt = tx.prepare(sql)?;
                Ok(stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<i64>>>()?)
            })
            .await
            .unwrap()
    }

    /// Holds the writer inside a job until the returned sender fires, so that what is
    /// submitted meanwhile forms the next group.
    async fn hold(writer: &Writer) -> (std::sync::mpsc::Sender<()>, oneshot::Receiver<Result<()>>) {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let held = writer.submit("test", move |_| {
            let _ = started.send(());
            let _ = wait.recv();
            Ok(())
        });
        running.await.unwrap();
        (release, held)
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_job_of_its_group() {
        let writer = writer();
        let (release, held) = hold(&writer).await;
        let before = writer.submit("test", insert(1));
        // Valid for the job, refused at COMMIT: the deferred key has no parent.
        let orphan = writer.submit("test", |tx| {
            tx.execute("INSERT INTO child (id, parent) VALUES (1, 42)", [])?;
            Ok(())
        });
        let after = writer.submit("test", insert(2));
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        for ack in [before, orphan, after] {
            assert!(matches!(ack.await.unwrap(), Err(StoreError::Backend(_))));
        }
        assert!(
            values(&writer).await.is_empty(),
            "nothing of the failed group was kept"
        );
        writer.write("test", insert(3)).await.unwrap();
        assert_eq!(values(&writer).await, [3]);
    }

    #[tokio::test]
    async fn a_failing_or_panicking_job_rolls_back_only_itself() {
        let writer = writer();
        let (release, held) = hold(&writer).await;
        let first = writer.submit("test", insert(1));
        let failing = writer.submit("test", |tx| {
            tx.execute("INSERT INTO t (v) VALUES (100)", [])?;
            Err::<(), _>(StoreError::Conflict(crate::ConflictKind::SessionExists))
        });
        let panicking = writer.submit("test", |tx| -> Result<()> {
            tx.execute("INSERT INTO t (v) VALUES (200)", [])?;
            panic!("a bug in a job");
        });
        let last = writer.submit("test", insert(2));
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        first.await.unwrap().unwrap();
        assert!(matches!(
            failing.await.unwrap(),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            panicking.await.unwrap(),
            Err(StoreError::Backend(_))
        ));
        last.await.unwrap().unwrap();
        assert_eq!(values(&writer).await, [1, 2]);
    }

    #[tokio::test]
    async fn a_publish_refused_before_writing_leaves_its_group_alone() {
        let writer = writer();
        let (release, held) = hold(&writer).await;
        let first = writer.submit("publish", insert(1));
        let refused = writer.submit("publish", |_| {
            Err::<(), _>(StoreError::UnknownEventType("nope".into()))
        });
        let last = writer.submit("submit_outcome", insert(2));
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        first.await.unwrap().unwrap();
        assert!(matches!(
            refused.await.unwrap(),
            Err(StoreError::UnknownEventType(_))
        ));
        last.await.unwrap().unwrap();
        assert_eq!(values(&writer).await, [1, 2]);
    }

    #[tokio::test]
    async fn a_publish_failing_after_writing_fails_its_whole_group() {
        let writer = writer();
        let (release, held) = hold(&writer).await;
        let first = writer.submit("publish", insert(1));
        // No savepoint of its own: its half-done insert can only go with the group.
        let half_done = writer.submit("publish", |tx| {
            tx.execute("INSERT INTO t (v) VALUES (100)", [])?;
            Err::<(), _>(StoreError::Backend("the disk is full".into()))
        });
        let last = writer.submit("test", insert(2));
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        assert!(matches!(first.await.unwrap(), Err(StoreError::Backend(_))));
        assert!(matches!(
            half_done.await.unwrap(),
            Err(StoreError::Backend(e)) if e.to_string() == "the disk is full"
        ));
        assert!(matches!(last.await.unwrap(), Err(StoreError::Backend(_))));
        assert!(
            values(&writer).await.is_empty(),
            "nothing of the group was kept"
        );
        writer.write("test", insert(3)).await.unwrap();
        assert_eq!(values(&writer).await, [3]);
    }

    #[tokio::test]
    async fn news_is_announced_after_its_commit_and_only_when_kept() {
        let (writer, mut news) = announcing_writer();
        let (kept, refused, orphaned) = (
            domain::WebhookId::generate(),
            domain::WebhookId::generate(),
            domain::WebhookId::generate(),
        );
        let (release, held) = hold(&writer).await;
        let ok = writer.submit_announcing("test", announced(1, &kept));
        let failing = writer.submit_announcing("test", move |tx| {
            announced(2, &refused)(tx)?;
            Err::<((), Vec<Wakeup>), _>(StoreError::StaleAttempt)
        });
        // Last of the same group: holds it open after the others ran, before its commit.
        let (release_group, waiting) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let last = writer.submit("test", move |_| {
            let _ = started.send(());
            let _ = waiting.recv();
            Ok(())
        });
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        running.await.unwrap();
        assert!(news.try_recv().is_err(), "nothing before the commit");
        release_group.send(()).unwrap();
        ok.await.unwrap().unwrap();
        assert_eq!(
            news.try_recv().unwrap(),
            Wakeup {
                webhook: kept,
                resync: false
            },
            "announced by the time its caller hears back"
        );
        assert!(failing.await.unwrap().is_err());
        last.await.unwrap().unwrap();
        assert!(news.try_recv().is_err(), "a failed job announces nothing");

        // Valid for the job, refused at COMMIT: the deferred key has no parent.
        let orphan = writer.submit_announcing("test", move |tx| {
            tx.execute("INSERT INTO child (id, parent) VALUES (1, 42)", [])?;
            announced(3, &orphaned)(tx)
        });
        assert!(orphan.await.unwrap().is_err());
        assert!(
            news.try_recv().is_err(),
            "a failed commit announces nothing"
        );
        assert_eq!(values(&writer).await, [1]);
    }

    #[tokio::test]
    async fn a_publish_passes_the_lanes_jobs_and_other_jobs_keep_their_place() {
        let writer = writer();
        let (release, held) = hold(&writer).await;
        let mut queued: Vec<_> = (0..20)
            .map(|v| writer.submit("submit_outcome", insert(v)))
            .collect();
        queued.push(writer.submit("test", insert(100)));
        queued.extend((20..40).map(|v| writer.submit("take_up_lane", insert(v))));
        queued.push(writer.submit("publish", insert(200)));
        // Not waiting for anything: the publish must have waited past the writer's
        // patience, so that the writer counts as congested.
        std::thread::sleep(GROUP_SIZE.patience + Duration::from_millis(1));
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        for ack in queued {
            ack.await.unwrap().unwrap();
        }
        let order = values_as_run(&writer).await;
        let expected: Vec<i64> = [200]
            .into_iter()
            .chain(0..20)
            .chain([100])
            .chain(20..40)
            .collect();
        assert_eq!(order, expected);
    }

    /// A job that answers the `synchronous` setting its group commits with.
    fn synchronous() -> impl FnOnce(&Transaction<'_>) -> Result<i64> + Send + 'static {
        |tx| Ok(tx.query_row("PRAGMA synchronous", [], |r| r.get(0))?)
    }

    const NORMAL: i64 = 1;
    const FULL: i64 = 2;

    #[tokio::test]
    async fn only_a_group_of_the_lanes_jobs_alone_commits_without_its_fsync() {
        let writer = writer();
        for (operation, expected) in [
            ("submit_outcome", NORMAL),
            ("publish", FULL),
            ("take_up_lane", NORMAL),
            ("create_webhook", FULL),
            ("submit_outcome", NORMAL),
        ] {
            let setting = writer.write(operation, synchronous()).await.unwrap();
            assert_eq!(setting, expected, "{operation}");
        }
        // One job that answers to someone outside makes its whole group wait for the fsync.
        let (release, held) = hold(&writer).await;
        let outcome = writer.submit("submit_outcome", synchronous());
        let retry = writer.submit("retry_delivery", synchronous());
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        assert_eq!(outcome.await.unwrap().unwrap(), FULL);
        assert_eq!(retry.await.unwrap().unwrap(), FULL);
    }

    /// A queue of jobs of `operations`, in order, for the writer's loop to take in.
    fn queued(operations: &[&'static str]) -> flume::Receiver<Msg<Box<dyn Job>>> {
        let (sender, receiver) = flume::unbounded();
        for &operation in operations {
            let (job, _) = job(operation, |_| Ok(((), Effects::default())));
            sender.send(Msg::Job(job)).unwrap();
        }
        receiver
    }

    /// What a lingering group of one outcome took in from `queue`, with a deadline far
    /// enough that it never ends the wait here.
    fn lingered(queue: &flume::Receiver<Msg<Box<dyn Job>>>) -> Vec<&'static str> {
        let mut waiting = Waiting::default();
        let mut closing = None;
        let far = Instant::now() + Duration::from_secs(3600);
        linger_for_outcomes(queue, &mut waiting, &mut closing, 1, far);
        let mut group = Vec::new();
        waiting.next_group(&mut group, GROUP_SIZE, Instant::now());
        group
            .iter()
            .map(|job| {
                if job.work() == Some(Work::Outcome) {
                    "submit_outcome"
                } else {
                    "other"
                }
            })
            .collect()
    }

    #[test]
    fn a_group_of_outcomes_alone_takes_in_outcomes_until_anything_else_comes() {
        let queue = queued(&[
            "submit_outcome",
            "submit_outcome",
            "take_up_lane",
            "submit_outcome",
        ]);
        assert_eq!(
            lingered(&queue),
            ["submit_outcome", "submit_outcome", "other"],
            "the lane waiting on its take-up ends the wait, and joins the group"
        );
        assert_eq!(queue.len(), 1, "what came after it is left for the loop");
        let queue = queued(&["submit_outcome", "publish", "submit_outcome"]);
        assert_eq!(lingered(&queue), ["other", "submit_outcome"]);
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn a_lingering_group_stops_at_its_size() {
        let queue = queued(&["submit_outcome"; OUTCOME_GROUP + 5]);
        assert_eq!(lingered(&queue).len(), OUTCOME_GROUP - 1);
        assert_eq!(queue.len(), 6);
    }

    #[test]
    fn a_lingering_group_stops_at_its_deadline_and_at_a_close() {
        let (sender, receiver) = flume::unbounded::<Msg<Box<dyn Job>>>();
        let mut waiting = Waiting::default();
        let mut closing = None;
        // Nothing comes: the wait ends at the deadline (here already past).
        linger_for_outcomes(&receiver, &mut waiting, &mut closing, 1, Instant::now());
        assert!(waiting.is_empty());
        let (done, _) = oneshot::channel();
        sender.send(Msg::Close(done)).unwrap();
        let (job, _) = job("submit_outcome", |_| Ok(((), Effects::default())));
        sender.send(Msg::Job(job)).unwrap();
        let far = Instant::now() + Duration::from_secs(3600);
        linger_for_outcomes(&receiver, &mut waiting, &mut closing, 1, far);
        assert!(closing.is_some());
        assert!(
            waiting.is_empty(),
            "nothing is taken in after a close request"
        );
    }

    #[tokio::test]
    async fn close_commits_what_was_queued_and_refuses_the_rest() {
        let writer = writer();
        let (release, held) = hold(&writer).await;
        let queued: Vec<_> = (0..10).map(|v| writer.submit("test", insert(v))).collect();
        // Start closing while the queue is still full: from here on nothing is accepted.
        let mut closing = std::pin::pin!(writer.close());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(closing.as_mut().poll(&mut cx).is_pending());
        assert!(matches!(
            writer.write("test", insert(99)).await,
            Err(StoreError::Closed)
        ));
        release.send(()).unwrap();
        closing.await;
        held.await.unwrap().unwrap();
        for ack in queued {
            ack.await.unwrap().unwrap();
        }
    }
}
