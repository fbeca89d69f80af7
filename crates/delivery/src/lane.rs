//! One endpoint's lane: its open deliveries in `seq` order, one attempt at a time.
//!
//! Invariants:
//! - At most one attempt of this endpoint is in flight, and it is always the head: the
//!   lowest-`seq` open delivery. A failed head keeps its place and is retried after its
//!   backoff, so later events wait for it (or for its expiry). A delivery re-opened by
//!   hand keeps its `seq`; the resync signal makes the lane read it as its new head
//!   before its next attempt.
//! - On a store shared by several processes, a lane this process cannot send for (a
//!   listener whose stream is connected to another process, or to none) is left before
//!   its attempt, nothing recorded, to the process that can.
//! - A `410 Gone` disables the endpoint in the commit of its outcome; the lane then
//!   leaves, its head still open, like the lane of any disabled endpoint.
//! - With a rate limit, two attempts start at least its spacing apart (the period over
//!   the count): a due head waits for the spacing in its place, and a lane that runs out
//!   of work stays until the spacing since its last attempt has passed, so a new event
//!   right after cannot be sent sooner by a fresh lane. (On PostgreSQL a lane that moves
//!   to another process starts its spacing afresh there.)
//! - Memory holds at most `window` deliveries; the next window is read from the store
//!   when this one is used up.
//! - Outcomes are submitted to the store without waiting for their commit; at most
//!   [`MAX_UNACKED`] are outstanding, and all are awaited before the lane stops. An
//!   outcome the store refused makes the lane read itself again from its first open
//!   delivery before its next attempt.
//!
//! The lane decides nothing about time itself ([`domain::HeadSchedule`] does) and reaches
//! everything through traits: the store's lane part, the sender, the clock and its host,
//! so its logic is unit-tested under paused time with in-memory collaborators.

mod control;
#[cfg(test)]
mod fakes;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{
    AttemptId, AttemptVerdict, Backoff, DeliveryStatus, ErrorClass, HeadSchedule, NextState,
    RateLimit, Readiness, WebhookId,
};
use rand::Rng;
use store::{Ack, AttemptLog, DueDelivery, LaneStore, LaneTarget, Outcome, StoreError};
use tokio::sync::Semaphore;

pub(crate) use self::control::{LaneHost, LaneSignal};
use crate::clock::Clock;
use crate::sender::{AttemptOutcome, AttemptRequest, AttemptResult, AttemptSender};

/// Outcomes a lane may have submitted but not yet seen committed.
const MAX_UNACKED: usize = 256;

/// How long a lane waits before reading the store again after the store failed.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// What every lane of one dispatcher shares.
pub(crate) struct LaneContext {
    pub(crate) store: Arc<dyn LaneStore>,
    pub(crate) sender: Arc<dyn AttemptSender>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Bounds the attempts in flight across all lanes.
    pub(crate) in_flight: Semaphore,
    pub(crate) backoff: Backoff,
    /// A delivery open for longer than this is given up.
    pub(crate) retention: Duration,
    /// Deliveries a lane keeps in memory at once.
    pub(crate) window: u32,
    /// This process's name in lane leases.
    pub(crate) owner: String,
}

struct Lane {
    context: Arc<LaneContext>,
    host: Arc<dyn LaneHost>,
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
    /// The least time between the starts of two attempts, from the endpoint's rate limit
    /// as last read (kept when the target is dropped, so that it still holds while the
    /// lane decides whether to leave).
    spacing: Option<Duration>,
    /// When the last attempt started.
    last_attempt_at: Option<DateTime<Utc>>,
}

/// Works one endpoint's lane until it runs out of work, its target is disabled or
/// deleted, or its signal stops it; then settles its outcomes, gives back its lease and
/// tells `host`.
pub(crate) async fn run(
    context: Arc<LaneContext>,
    host: Arc<dyn LaneHost>,
    id: WebhookId,
    signal: Arc<LaneSignal>,
) {
    let mut lane = Lane {
        context,
        host,
        id,
        signal,
        target: None,
        window: VecDeque::new(),
        last_seq: 0,
        unacked: VecDeque::new(),
        resync: false,
        spacing: None,
        last_attempt_at: None,
    };
    lane.run().await;
    // Stopped by shutdown or a lost lease, or left for want of work: either way, every
    // outcome is committed and the lease given back before the endpoint can get a new lane.
    lane.settle_all().await;
    let context = &lane.context;
    if let Err(error) = context.store.release_lane(&context.owner, &lane.id).await {
        tracing::warn!(webhook = %lane.id, %error, "giving back a lane's lease failed");
    }
    lane.host.retired(&lane.id, &lane.signal);
}

enum Step {
    Continue,
    Stop,
}

impl Lane {
    async fn run(&mut self) {
        loop {
            if self.signal.is_stopped() {
                return;
            }
            let step = match self.step().await {
                Ok(step) => step,
                Err(error) => {
                    tracing::warn!(webhook = %self.id, %error, "lane could not reach the store; retrying");
                    self.forget();
                    self.pause_until(self.context.clock.now() + STORE_RETRY)
                        .await;
                    Step::Continue
                }
            };
            if let Step::Stop = step {
                return;
            }
        }
    }

    async fn step(&mut self) -> Result<Step, StoreError> {
        if self.signal.take_resync() {
            // A delivery below our window was re-opened by hand: read from the start.
            self.forget();
        }
        // A wake-up means new work, found when the window is next refilled; settings
        // changes (URL, secrets, enabled) come as a resync, which re-reads the target.
        self.signal.clear_woken();
        if self.window.is_empty() {
            // Before reading on: a refused outcome means reading from the start instead.
            self.settle_acked();
        }
        if self.resync {
            self.settle_all().await;
            self.window.clear();
            self.last_seq = 0;
            self.resync = false;
        }
        if self.window.is_empty() {
            self.window = self
                .context
                .store
                .lane_window(&self.id, self.last_seq, self.context.window)
                .await?
                .into();
            match self.window.back() {
                Some(last) => self.last_seq = last.seq,
                None => {
                    if let Some(at) = self.paced_until() {
                        // Linger until the spacing since the last attempt has passed: a
                        // lane started afresh for the next event would not know when this
                        // one last sent, and could send sooner than the limit allows.
                        self.pause_until(at).await;
                        return Ok(Step::Continue);
                    }
                    return Ok(self.leave().await);
                }
            }
            // Read the target again once per window too: a rotated-out secret's grace
            // ends with time, not with a change anyone announces.
            self.target = None;
        }
        if self.target.is_none() {
            match self.context.store.lane_target(&self.id).await {
                Ok(target) => {
                    self.spacing = target.rate_limit.map(RateLimit::spacing);
                    self.target = Some(target);
                }
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
        let schedule = HeadSchedule::new(
            head.attempts,
            head.next_attempt_at,
            head.event_created_at,
            self.context.retention,
        );
        match schedule.readiness(self.context.clock.now()) {
            Readiness::Expired => self.expire(head).await,
            Readiness::WaitUntil(at) => self.pause_until(at).await,
            Readiness::Due => {
                if self.context.store.shares_lanes()
                    && !self.context.sender.sends_here(&target.url, &self.id)
                {
                    // Another process serves this endpoint (a listener whose stream is
                    // connected there): leave the lane to it, recording nothing.
                    tracing::debug!(webhook = %self.id, "leaving a lane this process cannot send for");
                    self.forget();
                    return Ok(self.leave().await);
                }
                // Due, but the rate limit says not yet: the head keeps its place and
                // waits, so pacing never changes the order.
                match self.paced_until() {
                    Some(at) => self.pause_until(at).await,
                    None => return Ok(self.attempt(head, schedule, target).await),
                }
            }
        }
        Ok(Step::Continue)
    }

    /// When the rate limit lets the next attempt start, if that is still ahead.
    fn paced_until(&self) -> Option<DateTime<Utc>> {
        let spacing = chrono::Duration::from_std(self.spacing?).ok()?;
        let at = self.last_attempt_at?.checked_add_signed(spacing)?;
        (at > self.context.clock.now()).then_some(at)
    }

    /// Gives up the head, whose retention is over, without an attempt.
    async fn expire(&mut self, head: DueDelivery) {
        self.submit(Outcome {
            delivery_id: head.id,
            webhook_id: self.id.clone(),
            attempts_before: head.attempts,
            attempt: None,
            status: DeliveryStatus::Expired,
            next_attempt_at: None,
            disable_webhook: false,
        })
        .await;
        crate::metrics::expired();
        self.window.pop_front();
    }

    /// Attempts the head, which is due, and records what came of it.
    async fn attempt(
        &mut self,
        head: DueDelivery,
        schedule: HeadSchedule,
        target: LaneTarget,
    ) -> Step {
        let context = self.context.clone();
        let Ok(permit) = context.in_flight.acquire().await else {
            return Step::Stop;
        };
        let attempted_at = context.clock.now();
        self.last_attempt_at = Some(attempted_at);
        let result = context
            .sender
            .send(&AttemptRequest {
                url: &target.url,
                webhook_id: &self.id,
                attempt: head.attempts + 1,
                secrets: &target.secrets,
                event_id: head.event_id.as_str(),
                event_type: &head.event_type,
                delivery_id: head.id.as_str(),
                body: &head.body,
                headers: &target.headers,
            })
            .await;
        drop(permit);
        self.record(head, schedule, attempted_at, result).await
    }

    /// Turns an attempt's result into the next state of the head and hands it to the
    /// store; the lane leaves once that disabled the endpoint.
    async fn record(
        &mut self,
        head: DueDelivery,
        schedule: HeadSchedule,
        attempted_at: DateTime<Utc>,
        result: AttemptResult,
    ) -> Step {
        let attempts = head.attempts + 1;
        tracing::debug!(webhook = %self.id, delivery = %head.id, outcome = ?result.outcome, "attempt finished");
        // Failures at info: an operator tailing the log sees why an endpoint falls behind.
        if let AttemptOutcome::Failed(class) = result.outcome {
            tracing::info!(
                webhook = %self.id,
                delivery = %head.id,
                attempt = attempts,
                error_class = class.as_str(),
                status_code = result.status_code,
                error = result.error_message.as_deref().unwrap_or(""),
                "attempt failed"
            );
        }
        crate::metrics::attempt(
            result.outcome.error_class(),
            Duration::from_millis(result.response_ms.into()),
        );
        if result.outcome == AttemptOutcome::Succeeded {
            crate::metrics::delivered(
                (self.context.clock.now() - head.event_created_at)
                    .to_std()
                    .unwrap_or_default(),
            );
        }
        let verdict = match result.outcome {
            AttemptOutcome::Succeeded => AttemptVerdict::Succeeded,
            AttemptOutcome::Failed(ErrorClass::Gone) => AttemptVerdict::Gone,
            AttemptOutcome::Failed(_) => AttemptVerdict::Failed {
                retry_after: result.retry_after,
            },
        };
        let jitter = rand::thread_rng().gen_range(0.0..1.0);
        let next = schedule.after_attempt(attempted_at, verdict, &self.context.backoff, jitter);
        let (status, next_attempt_at) = match next {
            NextState::Delivered => (DeliveryStatus::Delivered, None),
            NextState::RetryAt(at) | NextState::DisableEndpoint { retry_at: at } => {
                (DeliveryStatus::Failed, Some(at))
            }
            NextState::Expire => {
                crate::metrics::expired();
                (DeliveryStatus::Expired, None)
            }
        };
        let disable_webhook = matches!(next, NextState::DisableEndpoint { .. });
        self.submit(Outcome {
            delivery_id: head.id.clone(),
            webhook_id: self.id.clone(),
            attempts_before: head.attempts,
            attempt: Some(AttemptLog {
                id: AttemptId::generate(),
                attempted_at,
                status_code: result.status_code,
                response_ms: result.response_ms,
                error_class: result.outcome.error_class(),
                error_message: result.error_message,
                response_body: result.response_body,
                request_headers: result.request_headers,
                response_headers: result.response_headers,
            }),
            status,
            next_attempt_at,
            disable_webhook,
        })
        .await;
        if disable_webhook {
            tracing::warn!(webhook = %self.id, delivery = %head.id, "the receiver answered 410 Gone; disabling the endpoint");
            // Read again on the way out: unless the outcome is refused (then the lane goes
            // on), the store now says disabled, like any disabled endpoint's.
            self.forget();
            return self.leave().await;
        }
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
        Step::Continue
    }

    /// Decides whether the lane stops for want of work: it does unless a wake-up arrived
    /// since it last read the store. Every outcome is committed first, because a lane
    /// started after this one reads the store from the start.
    async fn leave(&mut self) -> Step {
        if self.settle_all().await && !self.signal.is_stopped() {
            // An outcome was refused: the store may hold work this lane has not seen.
            return Step::Continue;
        }
        if self.host.may_retire(&self.signal) {
            Step::Stop
        } else {
            Step::Continue
        }
    }

    async fn submit(&mut self, outcome: Outcome) {
        self.unacked
            .push_back(self.context.store.submit_outcome(outcome));
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

    /// Awaits every outstanding acknowledgement; whether an outcome was refused or lost.
    async fn settle_all(&mut self) -> bool {
        let mut refused = false;
        while let Some(ack) = self.unacked.pop_front() {
            refused |= self.check(ack.await);
        }
        refused
    }

    /// A refused or lost outcome means our picture of the lane is stale: read it again
    /// from the store (the delivery is then attempted again — at-least-once). Whether it
    /// was refused or lost.
    fn check<E: std::fmt::Display>(&mut self, ack: Result<Result<(), StoreError>, E>) -> bool {
        let problem = match ack {
            Ok(Ok(())) => return false,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(webhook = %self.id, error = %problem, "an outcome was not recorded; re-reading the lane");
        self.forget();
        true
    }

    /// Drops what the lane holds in memory so the next step reads it from the store.
    fn forget(&mut self) {
        self.window.clear();
        self.target = None;
        self.resync = true;
    }

    /// Waits until `at`, a wake-up, or a stop, whichever comes first.
    async fn pause_until(&self, at: DateTime<Utc>) {
        tokio::select! {
            _ = self.context.clock.sleep_until(at) => {}
            _ = self.signal.interrupted() => {}
        }
    }
}
