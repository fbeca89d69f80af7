//! One endpoint's lane: its open deliveries in `seq` order, one attempt at a time.
//!
//! Invariants:
//! - At most one attempt of this endpoint is in flight, and it is always the head: the
//!   lowest-`seq` open delivery. A failed head keeps its place and is retried after its
//!   backoff, so later events wait for it (or for its expiry). A delivery re-opened by
//!   hand keeps its `seq`; the resync signal makes the lane read it as its new head
//!   before its next attempt.
//! - Memory holds at most `window` deliveries; the next window is read from the store
//!   when this one is used up.
//! - Outcomes are submitted to the store without waiting for their commit; at most
//!   [`MAX_UNACKED`] are outstanding, and all are awaited before the lane stops.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{AttemptId, DeliveryStatus, WebhookId};
use store::{Ack, AttemptLog, DueDelivery, LaneTarget, Outcome, StoreError};

use crate::dispatcher::{LaneSignal, Shared};
use crate::sender::{AttemptOutcome, AttemptRequest, AttemptResult};

/// Outcomes a lane may have submitted but not yet seen committed.
const MAX_UNACKED: usize = 256;

/// How long a lane waits before reading the store again after the store failed.
const STORE_RETRY: Duration = Duration::from_secs(1);

struct Lane {
    shared: Arc<Shared>,
    id: WebhookId,
    signal: Arc<LaneSignal>,
    target: Option<LaneTarget>,
    window: VecDeque<DueDelivery>,
    /// The highest `seq` read into the window so far.
    last_seq: i64,
    unacked: VecDeque<Ack>,
    /// Our picture of the lane may be wrong: settle every outcome, then read the lane from
    /// its first open delivery.
    resync: bool,
}

pub(crate) async fn run(shared: Arc<Shared>, id: WebhookId, signal: Arc<LaneSignal>) {
    let mut lane = Lane {
        shared,
        id,
        signal,
        target: None,
        window: VecDeque::new(),
        last_seq: 0,
        unacked: VecDeque::new(),
        resync: false,
    };
    lane.run().await;
    // Stopped by shutdown or a lost lease, or left for want of work: either way, every
    // outcome is committed and the lease given back before the endpoint can get a new lane.
    lane.settle_all().await;
    let shared = &lane.shared;
    if let Err(error) = shared.store.release_lane(&shared.owner, &lane.id).await {
        tracing::warn!(webhook = %lane.id, %error, "giving back a lane's lease failed");
    }
    shared.forget_lane(&lane.id, &lane.signal);
}

enum Step {
    Continue,
    Stop,
}

impl Lane {
    async fn run(&mut self) {
        loop {
            if self.signal.stop.is_cancelled() {
                return;
            }
            let step = match self.step().await {
                Ok(step) => step,
                Err(error) => {
                    tracing::warn!(webhook = %self.id, %error, "lane could not reach the store; retrying");
                    self.forget();
                    self.pause(STORE_RETRY).await;
                    Step::Continue
                }
            };
            if let Step::Stop = step {
                return;
            }
        }
    }

    async fn step(&mut self) -> Result<Step, StoreError> {
        if self.signal.resync.swap(false, Ordering::SeqCst) {
            // A delivery below our window was re-opened by hand: read from the start.
            self.forget();
        }
        // A wake-up means new work, found when the window is next refilled; settings
        // changes (URL, secrets, enabled) come as a resync, which re-reads the target.
        self.signal.dirty.store(false, Ordering::SeqCst);
        if self.resync {
            self.settle_all().await;
            self.window.clear();
            self.last_seq = 0;
            self.resync = false;
        }
        if self.window.is_empty() {
            self.settle_acked();
            self.window = self
                .shared
                .store
                .lane_window(&self.id, self.last_seq, self.shared.config.window)
                .await?
                .into();
            match self.window.back() {
                Some(last) => self.last_seq = last.seq,
                None => {
                    return Ok(self.leave().await);
                }
            }
            // Read the target again once per window too: a rotated-out secret's grace
            // ends with time, not with a change anyone announces.
            self.target = None;
        }
        if self.target.is_none() {
            match self.shared.store.lane_target(&self.id).await {
                Ok(target) => self.target = Some(target),
                Err(StoreError::NotFound) => {
                    // Deleted: its deliveries went with it.
                    self.leave().await;
                    return Ok(Step::Stop);
                }
                Err(e) => return Err(e),
            }
        }
        let target = self.target.clone().expect("target was just read");
        if !target.enabled {
            // A disabled endpoint keeps its backlog; re-enabling wakes the lane again.
            self.forget();
            return Ok(self.leave().await);
        }

        let head = self.window.front().expect("window is not empty").clone();
        let now = Utc::now();
        let expires_at = head.event_created_at + retention(&self.shared);
        if now >= expires_at {
            self.submit(Outcome {
                delivery_id: head.id.clone(),
                webhook_id: self.id.clone(),
                attempts_before: head.attempts,
                attempt: None,
                status: DeliveryStatus::Expired,
                next_attempt_at: None,
            })
            .await;
            crate::metrics::expired();
            self.window.pop_front();
            return Ok(Step::Continue);
        }
        if head.next_attempt_at > now {
            let due = head.next_attempt_at.min(expires_at);
            self.pause(until(due)).await;
            return Ok(Step::Continue);
        }

        let shared = self.shared.clone();
        let Ok(permit) = shared.in_flight.acquire().await else {
            return Ok(Step::Stop);
        };
        let attempted_at = Utc::now();
        let result = shared
            .sender
            .send(&AttemptRequest {
                url: &target.url,
                secrets: &target.secrets,
                event_id: head.event_id.as_str(),
                event_type: &head.event_type,
                delivery_id: head.id.as_str(),
                body: &head.body,
            })
            .await;
        drop(permit);
        self.record(head, attempted_at, expires_at, result).await;
        Ok(Step::Continue)
    }

    /// Turns an attempt's result into the next state of the head and hands it to the store.
    async fn record(
        &mut self,
        head: DueDelivery,
        attempted_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        result: AttemptResult,
    ) {
        let attempts = head.attempts + 1;
        tracing::debug!(webhook = %self.id, delivery = %head.id, outcome = ?result.outcome, "attempt finished");
        crate::metrics::attempt(
            result.outcome.error_class(),
            Duration::from_millis(result.response_ms.into()),
        );
        if result.outcome == AttemptOutcome::Succeeded {
            crate::metrics::delivered(
                (Utc::now() - head.event_created_at)
                    .to_std()
                    .unwrap_or_default(),
            );
        }
        let (status, next_attempt_at, error_class) = match result.outcome {
            AttemptOutcome::Succeeded => (DeliveryStatus::Delivered, None, None),
            AttemptOutcome::Failed(class) => {
                let delay = self
                    .shared
                    .config
                    .backoff
                    .delay_honouring(attempts, result.retry_after);
                let next = attempted_at
                    + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                (
                    DeliveryStatus::Failed,
                    Some(next.min(expires_at)),
                    Some(class),
                )
            }
        };
        self.submit(Outcome {
            delivery_id: head.id.clone(),
            webhook_id: self.id.clone(),
            attempts_before: head.attempts,
            attempt: Some(AttemptLog {
                id: AttemptId::generate(),
                attempted_at,
                status_code: result.status_code,
                response_ms: result.response_ms,
                error_class,
                error_message: result.error_message,
                response_body: result.response_body,
            }),
            status,
            next_attempt_at,
        })
        .await;
        match next_attempt_at {
            None => {
                self.window.pop_front();
            }
            Some(next) => {
                if let Some(front) = self.window.front_mut() {
                    front.attempts = attempts;
                    front.next_attempt_at = next;
                }
            }
        }
    }

    /// Decides whether the lane stops for want of work: it does unless a wake-up arrived
    /// since it last read the store. Every outcome is committed first, because a lane
    /// started after this one reads the store from the start.
    async fn leave(&mut self) -> Step {
        self.settle_all().await;
        if self.shared.may_retire(&self.signal) {
            Step::Stop
        } else {
            Step::Continue
        }
    }

    async fn submit(&mut self, outcome: Outcome) {
        self.unacked
            .push_back(self.shared.store.submit_outcome(outcome));
        while self.unacked.len() > MAX_UNACKED {
            if let Some(ack) = self.unacked.pop_front() {
                self.check(ack.await);
            }
        }
    }

    /// Collects the acknowledgements that have already arrived.
    fn settle_acked(&mut self) {
        while let Some(ack) = self.unacked.front_mut() {
            match ack.try_recv() {
                Ok(result) => {
                    self.unacked.pop_front();
                    self.check::<std::convert::Infallible>(Ok(result));
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => break,
                Err(closed) => {
                    self.unacked.pop_front();
                    self.check(Err(closed));
                }
            }
        }
    }

    async fn settle_all(&mut self) {
        while let Some(ack) = self.unacked.pop_front() {
            self.check(ack.await);
        }
    }

    /// A refused or lost outcome means our picture of the lane is stale: read it again
    /// from the store (the delivery is then attempted again — at-least-once).
    fn check<E: std::fmt::Display>(&mut self, ack: Result<Result<(), StoreError>, E>) {
        let problem = match ack {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(webhook = %self.id, error = %problem, "an outcome was not recorded; re-reading the lane");
        self.forget();
    }

    /// Drops what the lane holds in memory so the next step reads it from the store.
    fn forget(&mut self) {
        self.window.clear();
        self.target = None;
        self.resync = true;
    }

    /// Waits for `delay`, a wake-up, or shutdown, whichever comes first.
    async fn pause(&self, delay: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = self.signal.notify.notified() => {}
            _ = self.signal.stop.cancelled() => {}
        }
    }
}

fn retention(shared: &Shared) -> chrono::Duration {
    chrono::Duration::from_std(shared.config.retention).unwrap_or(chrono::Duration::MAX)
}

fn until(at: DateTime<Utc>) -> Duration {
    (at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}
