//! The take-up worker (PostgreSQL): ONE task per store that takes up the log of the
//! workspaces its publish groups grew, so that no publish waits for a take-up.
//!
//! A publish group is answered as soon as its transaction committed; it hands the
//! workspaces it grew and its transaction's id to this worker ([`TakeUps::hand_over`])
//! and is done. The worker keeps the workspaces waiting to be taken up, each with the
//! highest committed transaction that grew it, and works in rounds: it takes in
//! everything that arrived while it was busy (so a round covers many groups), waits —
//! holding no lock, reading only the horizon — until every transaction older than the
//! newest of them has ended ([`wait_for_horizon`]), then takes the workspaces up under
//! the store's `taking_up` mutex and the workspaces' take-up locks ([`take_up`]),
//! announces the endpoints that got work, and starts over.
//!
//! Invariants:
//! - No publish waits for the worker, nor for the horizon, nor for a take-up lock: the
//!   hand-over is a send on an unbounded channel.
//! - A workspace leaves the worker's set only once a take-up read past its newest
//!   transaction, or failed (logged; the dispatcher's sweep, [`take_up::catch_up`],
//!   takes it up). One held back by an older transaction for [`HORIZON_PATIENCE`] stays
//!   in the set and is tried again with the next round: when more arrives, or after
//!   [`RETRY_PAUSE`].
//! - The worker ends once every sender is gone (the publish writer ended: the store was
//!   closed or dropped), after a last round over what was committed; closing the store
//!   waits for it. That last round is best effort, bounded by [`HORIZON_PATIENCE`]: what
//!   it leaves, the sweep of whichever process runs next takes up.

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

/// What the worker does next.
enum Next {
    /// Something was handed over (merged into the set already).
    Arrived,
    /// The pause after a held-back round is over: try the same workspaces again.
    Retry,
    /// Every sender is gone: one last round, then end.
    Closed,
}

async fn run(publisher: Arc<Publisher>, mut receiver: UnboundedReceiver<Grown>) {
    // Workspace → the newest committed transaction that grew it, not yet taken up.
    let mut waiting: BTreeMap<String, i64> = BTreeMap::new();
    loop {
        let next = if waiting.is_empty() {
            receive(&mut receiver, &mut waiting).await
        } else {
            tokio::time::timeout(RETRY_PAUSE, receive(&mut receiver, &mut waiting))
                .await
                .unwrap_or(Next::Retry)
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
        round(&publisher, &mut waiting).await;
        if closed {
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
    waiting: &mut BTreeMap<String, i64>,
) -> Next {
    match receiver.recv().await {
        Some(grown) => {
            merge(waiting, grown);
            Next::Arrived
        }
        None => Next::Closed,
    }
}

fn merge(waiting: &mut BTreeMap<String, i64>, grown: Grown) {
    for workspace in grown.workspaces {
        let newest = waiting.entry(workspace).or_insert(grown.xact);
        *newest = (*newest).max(grown.xact);
    }
}

/// Takes up every workspace in `waiting` once the horizon passed the newest transaction
/// among them (or [`HORIZON_PATIENCE`] ran out); leaves in `waiting` those a take-up
/// could not read up to their transaction yet.
async fn round(publisher: &Publisher, waiting: &mut BTreeMap<String, i64>) {
    let Some(&newest) = waiting.values().max() else {
        return;
    };
    let mut client = match publisher.pool.get().await {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "no connection to take up published events; trying again");
            return;
        }
    };
    // One cheap read per try, holding no lock; only then does the take-up lock, once.
    let deadline = Instant::now() + HORIZON_PATIENCE;
    if let Err(error) = wait_for_horizon(&client, newest, deadline).await {
        tracing::warn!(%error, "reading the transaction horizon failed; trying again");
        return;
    }
    let _one_at_a_time = publisher.taking_up.lock().await;
    for (workspace, xact) in std::mem::take(waiting) {
        match take_up::take_up(&mut client, &workspace, publisher).await {
            Ok((news, horizon)) => {
                take_up::announce(&publisher.announcer, &news);
                if horizon <= xact {
                    waiting.insert(workspace, xact);
                }
            }
            Err(error) => {
                tracing::warn!(%error, %workspace, "taking up published events failed; the sweep will");
            }
        }
    }
    if !waiting.is_empty() {
        tracing::info!(
            workspaces = waiting.len(),
            "an older transaction still holds published events back; trying again"
        );
    }
}

/// Waits until every transaction older than `xact` has ended (the horizon passed it),
/// or until `deadline`: a few tries at once (an older publish group of another process
/// commits within milliseconds), then every millisecond, then pauses growing to
/// [`MAX_PAUSE`].
async fn wait_for_horizon(client: &Client, xact: i64, deadline: Instant) -> Result<()> {
    let horizon_sql = client.prepare_cached(HORIZON).await?;
    let mut tries = 0u32;
    let mut pause = Duration::from_millis(1);
    loop {
        let horizon: i64 = client.query_one(&horizon_sql, &[]).await?.try_get(0)?;
        if horizon > xact || Instant::now() >= deadline {
            return Ok(());
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
