//! The take-up worker (PostgreSQL): ONE task per store that takes up the log of the
//! workspaces its publish groups grew, so that no publish waits for a take-up.
//!
//! A publish group is answered as soon as its transaction committed; it hands the
//! workspaces it grew and its transaction's id to this worker ([`TakeUps::hand_over`])
//! and is done. The worker keeps the workspaces waiting to be taken up, each with the
//! span of committed transactions that grew it since its last take-up ([`Unread`]), and
//! works in rounds: it takes in everything that arrived while it was busy (so a round
//! covers many groups), waits — holding no lock, reading only the horizon — until the
//! oldest of those transactions is readable ([`wait_for_horizon`]), then takes the
//! workspaces up under the store's `taking_up` mutex and the workspaces' take-up locks
//! ([`take_up`]), announces the endpoints that got work, and starts over. Waiting for
//! the oldest, not the newest, keeps the deliveries flowing while another process's
//! transaction holds back only the newest entries.
//!
//! Invariants:
//! - No publish waits for the worker, nor for the horizon, nor for a take-up lock: the
//!   hand-over is a send on an unbounded channel.
//! - A workspace leaves the worker's set only once a take-up read past its newest
//!   transaction, or failed (logged; the dispatcher's sweep, [`take_up::catch_up`],
//!   takes it up). One held back by an older transaction for [`HORIZON_PATIENCE`] stays
//!   in the set and is tried again: when more arrives, or after [`RETRY_PAUSE`].
//! - The worker ends once every sender is gone (the publish writer ended: the store was
//!   closed or dropped), after taking up what was committed; closing the store waits for
//!   it. That is best effort, bounded by about [`HORIZON_PATIENCE`]: what an older
//!   transaction still holds back then, the sweep of whichever process runs next takes
//!   up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Client;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::publish::Publisher;
use super::take_up::{self, HORIZON};
use crate::Result;

/// How long a round waits while an older transaction holds its entries back, before it
/// gives up on them for now.
const HORIZON_PATIENCE: Duration = Duration::from_secs(2);

/// The longest pause between two reads of the horizon while held back.
const MAX_PAUSE: Duration = Duration::from_millis(20);

/// After a round that was held back (or failed to connect), how long the worker waits for
/// more to arrive before it tries the same workspaces again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// What one committed publish group grew.
struct Grown {
    workspaces: Vec<String>,
    /// The group's transaction: its entries can be read once the horizon passed it.
    xact: i64,
}

/// Where publish groups hand over what they grew. The worker ends once every clone is
/// gone, so only the publish writer holds one.
#[derive(Clone)]
pub(super) struct TakeUps {
    sender: UnboundedSender<Grown>,
}

impl TakeUps {
    /// Queues `workspaces`, grown by the committed transaction `xact`, for take-up.
    /// Never waits.
    pub(super) fn hand_over(&self, workspaces: Vec<String>, xact: i64) {
        if workspaces.is_empty() {
            return;
        }
        if self.sender.send(Grown { workspaces, xact }).is_err() {
            tracing::warn!("the take-up worker has ended; the sweep will take up");
        }
    }
}

/// Spawns the worker on the current runtime: where to hand over, and the task to wait
/// for when closing.
pub(super) fn start(publisher: Arc<Publisher>) -> (TakeUps, JoinHandle<()>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let worker = tokio::spawn(run(publisher, receiver));
    (TakeUps { sender }, worker)
}

/// What publish groups committed into one workspace that may not be taken up yet.
#[derive(Clone, Copy)]
struct Unread {
    /// No entry of a transaction below this is waiting: the oldest group handed over
    /// since, or the horizon the last take-up read up to.
    oldest: i64,
    /// The newest group handed over: once a take-up read past it, nothing is waiting.
    newest: i64,
}

/// What the worker does next.
enum Next {
    /// Something was handed over (merged into the set already).
    Arrived,
    /// Try the same workspaces again: at once after a round that got part of the way,
    /// after [`RETRY_PAUSE`] (or a hand-over) after one that was held back or failed.
    Retry,
    /// Every sender is gone: one last round, then end.
    Closed,
}

async fn run(publisher: Arc<Publisher>, mut receiver: UnboundedReceiver<Grown>) {
    let mut waiting: BTreeMap<String, Unread> = BTreeMap::new();
    let mut held_back = false;
    loop {
        let next = if waiting.is_empty() {
            receive(&mut receiver, &mut waiting).await
        } else if held_back {
            tokio::time::timeout(RETRY_PAUSE, receive(&mut receiver, &mut waiting))
                .await
                .unwrap_or(Next::Retry)
        } else {
            // Taken up part of the way: the rest as soon as the horizon moves on.
            Next::Retry
        };
        // Everything that arrived meanwhile joins this round.
        let mut closed = matches!(next, Next::Closed);
        while !closed {
            match receiver.try_recv() {
                Ok(grown) => merge(&mut waiting, grown),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => closed = true,
            }
        }
        held_back = !round(&publisher, &mut waiting).await;
        if closed {
            // What the last groups committed, as far as the horizon lets within the
            // patience: closing waits for this.
            let deadline = Instant::now() + HORIZON_PATIENCE;
            while !held_back && !waiting.is_empty() && Instant::now() < deadline {
                held_back = !round(&publisher, &mut waiting).await;
            }
            if !waiting.is_empty() {
                tracing::info!(
                    workspaces = waiting.len(),
                    "closing with published events an older transaction still holds back; \
                     the next sweep takes them up"
                );
            }
            return;
        }
    }
}

/// Waits for the next hand-over and merges it in.
async fn receive(
    receiver: &mut UnboundedReceiver<Grown>,
    waiting: &mut BTreeMap<String, Unread>,
) -> Next {
    match receiver.recv().await {
        Some(grown) => {
            merge(waiting, grown);
            Next::Arrived
        }
        None => Next::Closed,
    }
}

fn merge(waiting: &mut BTreeMap<String, Unread>, grown: Grown) {
    for workspace in grown.workspaces {
        let unread = waiting.entry(workspace).or_insert(Unread {
            oldest: grown.xact,
            newest: grown.xact,
        });
        unread.oldest = unread.oldest.min(grown.xact);
        unread.newest = unread.newest.max(grown.xact);
    }
}

/// Waits until the horizon passed the oldest transaction waiting (so a take-up finds
/// something: not the newest, so an older transaction holding back the newest entries
/// does not hold back those before it), or [`HORIZON_PATIENCE`] ran out; then takes up
/// every workspace in `waiting`, and leaves in it those whose newest transaction a
/// take-up could not read past yet. False when held back or failed, so the worker
/// pauses before it tries again.
async fn round(publisher: &Publisher, waiting: &mut BTreeMap<String, Unread>) -> bool {
    let Some(oldest) = waiting.values().map(|unread| unread.oldest).min() else {
        return true;
    };
    let mut client = match publisher.unflushed.get().await {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "no connection to take up published events; trying again");
            return false;
        }
    };
    // One cheap read per try, holding no lock; only then does the take-up lock, once.
    let deadline = Instant::now() + HORIZON_PATIENCE;
    let passed = match wait_for_horizon(&client, oldest, deadline).await {
        Ok(passed) => passed,
        Err(error) => {
            tracing::warn!(%error, "reading the transaction horizon failed; trying again");
            return false;
        }
    };
    if !passed {
        tracing::info!(
            workspaces = waiting.len(),
            "an older transaction still holds published events back; trying again"
        );
        return false;
    }
    let _one_at_a_time = publisher.taking_up.lock().await;
    let mut failed = false;
    for (workspace, mut unread) in std::mem::take(waiting) {
        match take_up::take_up(&mut client, &workspace, publisher).await {
            Ok((news, horizon)) => {
                take_up::announce(&publisher.announcer, &news);
                if horizon <= unread.newest {
                    unread.oldest = unread.oldest.max(horizon);
                    waiting.insert(workspace, unread);
                }
            }
            Err(error) => {
                failed = true;
                tracing::warn!(%error, %workspace, "taking up published events failed; the sweep will");
            }
        }
    }
    !failed
}

/// Waits until every transaction up to `xact` has ended (the horizon passed it): true,
/// or until `deadline`: false. A few tries at once (an older publish group of another process
/// commits within milliseconds), then every millisecond, then pauses growing to
/// [`MAX_PAUSE`].
async fn wait_for_horizon(client: &Client, xact: i64, deadline: Instant) -> Result<bool> {
    let horizon_sql = client.prepare_cached(HORIZON).await?;
    let mut tries = 0u32;
    let mut pause = Duration::from_millis(1);
    loop {
        let horizon: i64 = client.query_one(&horizon_sql, &[]).await?.try_get(0)?;
        if horizon > xact {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tries += 1;
        if tries > 8 {
            tokio::time::sleep(pause).await;
            // Slowly: what holds it back is most often another process's publish group,
            // which commits within milliseconds.
            if tries > 100 {
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}
