//! In-memory stand-ins for a lane's collaborators, for the lane's unit tests: the store's
//! lane part (with the attempt fence and in-order commits of the real backends), a sender
//! that answers from a script, and a host that records what the lane told it.
//!
//! The real store and real HTTP are covered by the integration tests; these fakes exist so
//! that the lane's own logic runs under paused time in milliseconds.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    CustomHeaders, DeliveryId, DeliveryStatus, ErrorClass, EventId, RateLimit, WebhookId,
};
use store::{Ack, DueDelivery, LaneStore, LaneTarget, Outcome, StoreError};
use tokio::sync::{mpsc, oneshot};

use super::{LaneHost, LaneSignal};
use crate::clock::Clock;
use crate::sender::{AttemptOutcome, AttemptRequest, AttemptResult, AttemptSender};

/// Something the store did, in the order it did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StoreEvent {
    Committed(DeliveryId, DeliveryStatus),
    Refused(DeliveryId),
    Released,
}

/// A write waiting for the committer.
enum Write {
    Outcome(Box<Outcome>, oneshot::Sender<store::Result<()>>),
    Reopen { seq: i64, at: DateTime<Utc> },
}

struct StoredDelivery {
    due: DueDelivery,
    status: DeliveryStatus,
}

#[derive(Default)]
struct StoreState {
    /// `None` once deleted.
    target: Option<LaneTarget>,
    deliveries: BTreeMap<i64, StoredDelivery>,
    /// Every outcome committed, in commit order.
    committed: Vec<Outcome>,
    /// The next outcome of this delivery is refused, as if it had changed meanwhile.
    refuse_next: Option<DeliveryId>,
    /// `after_seq` of every window read.
    window_reads: Vec<i64>,
    events: Vec<StoreEvent>,
}

/// The store's lane part in memory. Writes are committed one after another by a committer
/// task, each after `commit_delay`, like a backend's single writer.
pub(super) struct FakeLaneStore {
    webhook: WebhookId,
    state: Mutex<StoreState>,
    writes: mpsc::UnboundedSender<Write>,
}

impl FakeLaneStore {
    /// A store holding `webhook`, enabled, with no deliveries. Call inside the runtime.
    pub(super) fn new(webhook: WebhookId, commit_delay: Duration) -> Arc<Self> {
        let (writes, mut queue) = mpsc::unbounded_channel();
        let store = Arc::new(Self {
            state: Mutex::new(StoreState {
                target: Some(LaneTarget {
                    webhook_id: webhook.clone(),
                    url: "https://receiver.example/hook".to_owned(),
                    enabled: true,
                    secrets: vec!["whsec_test".to_owned()],
                    rate_limit: None,
                    headers: CustomHeaders::default(),
                }),
                ..StoreState::default()
            }),
            webhook,
            writes,
        });
        let committer = Arc::downgrade(&store);
        tokio::spawn(async move {
            while let Some(write) = queue.recv().await {
                tokio::time::sleep(commit_delay).await;
                let Some(store) = committer.upgrade() else {
                    return;
                };
                match write {
                    Write::Outcome(outcome, ack) => {
                        let _ = ack.send(store.commit(*outcome));
                    }
                    Write::Reopen { seq, at } => store.apply_reopen(seq, at),
                }
            }
        });
        store
    }

    fn state(&self) -> MutexGuard<'_, StoreState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an open delivery published at `published_at`, due then, and returns its id.
    pub(super) fn publish(&self, seq: i64, published_at: DateTime<Utc>) -> DeliveryId {
        let id = DeliveryId::generate();
        let due = DueDelivery {
            id: id.clone(),
            event_id: EventId::generate(),
            event_type: "order.created".to_owned(),
            seq,
            attempts: 0,
            next_attempt_at: published_at,
            event_created_at: published_at,
            body: Arc::from(&b"{}"[..]),
        };
        let status = DeliveryStatus::Pending;
        self.state()
            .deliveries
            .insert(seq, StoredDelivery { due, status });
        id
    }

    /// Re-opens a delivery by hand at `at`, keeping its `seq`, like a retry from the API:
    /// a write queued behind the outcomes submitted before it.
    pub(super) fn reopen(&self, seq: i64, at: DateTime<Utc>) {
        let _ = self.writes.send(Write::Reopen { seq, at });
    }

    fn apply_reopen(&self, seq: i64, now: DateTime<Utc>) {
        let mut state = self.state();
        let stored = state.deliveries.get_mut(&seq).expect("a stored delivery");
        stored.status = DeliveryStatus::Pending;
        stored.due.next_attempt_at = now;
        stored.due.event_created_at = now;
    }

    pub(super) fn is_enabled(&self) -> bool {
        self.state().target.as_ref().is_some_and(|t| t.enabled)
    }

    pub(super) fn set_rate_limit(&self, limit: Option<RateLimit>) {
        if let Some(target) = &mut self.state().target {
            target.rate_limit = limit;
        }
    }

    pub(super) fn set_enabled(&self, enabled: bool) {
        if let Some(target) = &mut self.state().target {
            target.enabled = enabled;
        }
    }

    /// Deletes the webhook's settings only, so that a lane that has already read its
    /// window meets `NotFound` on its next read of the target.
    pub(super) fn delete_target(&self) {
        self.state().target = None;
    }

    pub(super) fn refuse_next_outcome_of(&self, delivery: &DeliveryId) {
        self.state().refuse_next = Some(delivery.clone());
    }

    pub(super) fn status(&self, delivery: &DeliveryId) -> DeliveryStatus {
        let state = self.state();
        let stored = state.deliveries.values().find(|d| &d.due.id == delivery);
        stored.expect("a stored delivery").status
    }

    /// The outcomes committed for one delivery, in commit order.
    pub(super) fn outcomes_of(&self, delivery: &DeliveryId) -> Vec<Outcome> {
        let state = self.state();
        let mine = state
            .committed
            .iter()
            .filter(|o| &o.delivery_id == delivery);
        mine.cloned().collect()
    }

    pub(super) fn events(&self) -> Vec<StoreEvent> {
        self.state().events.clone()
    }

    pub(super) fn window_reads(&self) -> Vec<i64> {
        self.state().window_reads.clone()
    }

    /// Applies an outcome behind the attempt fence, as the real backends do.
    fn commit(&self, outcome: Outcome) -> store::Result<()> {
        let mut state = self.state();
        let id = outcome.delivery_id.clone();
        if state.refuse_next.as_ref() == Some(&id) {
            state.refuse_next = None;
            state.events.push(StoreEvent::Refused(id));
            return Err(StoreError::StaleAttempt);
        }
        let stored = state.deliveries.values_mut().find(|d| d.due.id == id);
        let Some(stored) =
            stored.filter(|d| d.status.is_open() && d.due.attempts == outcome.attempts_before)
        else {
            state.events.push(StoreEvent::Refused(id));
            return Err(StoreError::StaleAttempt);
        };
        if outcome.attempt.is_some() {
            stored.due.attempts += 1;
        }
        stored.status = outcome.status;
        if let Some(next) = outcome.next_attempt_at {
            stored.due.next_attempt_at = next;
        }
        state.events.push(StoreEvent::Committed(id, outcome.status));
        if outcome.disable_webhook
            && outcome.attempt.is_some()
            && let Some(target) = &mut state.target
        {
            target.enabled = false;
        }
        state.committed.push(outcome);
        Ok(())
    }
}

#[async_trait]
impl LaneStore for FakeLaneStore {
    async fn lanes_with_work(&self) -> store::Result<Vec<WebhookId>> {
        let state = self.state();
        let open = state.deliveries.values().any(|d| d.status.is_open());
        Ok(open.then(|| self.webhook.clone()).into_iter().collect())
    }

    async fn lane_target(&self, webhook: &WebhookId) -> store::Result<LaneTarget> {
        assert_eq!(webhook, &self.webhook);
        self.state().target.clone().ok_or(StoreError::NotFound)
    }

    async fn lane_window(
        &self,
        webhook: &WebhookId,
        after_seq: i64,
        limit: u32,
    ) -> store::Result<Vec<DueDelivery>> {
        assert_eq!(webhook, &self.webhook);
        let mut state = self.state();
        state.window_reads.push(after_seq);
        let open = state.deliveries.range(after_seq + 1..);
        let open = open.filter(|(_, d)| d.status.is_open());
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(open.take(limit).map(|(_, d)| d.due.clone()).collect())
    }

    fn submit_outcome(&self, outcome: Outcome) -> Ack {
        let (ack, acked) = oneshot::channel();
        // The committer lives as long as the store, so the queue is open.
        let _ = self.writes.send(Write::Outcome(Box::new(outcome), ack));
        acked
    }

    async fn release_lane(&self, _owner: &str, webhook: &WebhookId) -> store::Result<()> {
        assert_eq!(webhook, &self.webhook);
        self.state().events.push(StoreEvent::Released);
        Ok(())
    }
}

/// One attempt as the sender saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sent {
    pub(super) delivery: String,
    pub(super) at: DateTime<Utc>,
}

/// Runs inside an attempt, to change the world while it is in flight.
type DuringAttempt = Box<dyn FnMut(&str) + Send>;

/// A sender that answers each delivery's attempts from a script, and succeeds once a
/// delivery's script runs out.
pub(super) struct ScriptedSender {
    clock: Arc<dyn Clock>,
    script: Mutex<HashMap<String, VecDeque<AttemptResult>>>,
    /// Deliveries that fail every attempt.
    always_failing: Mutex<Vec<String>>,
    sent: Mutex<Vec<Sent>>,
    during_attempt: Mutex<Option<DuringAttempt>>,
}

impl ScriptedSender {
    pub(super) fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            clock,
            script: Mutex::default(),
            always_failing: Mutex::default(),
            sent: Mutex::default(),
            during_attempt: Mutex::default(),
        })
    }

    /// The answers to the next attempts of `delivery`, in order.
    pub(super) fn answer(&self, delivery: &DeliveryId, answers: Vec<AttemptResult>) {
        let mut script = self.script.lock().unwrap();
        script.insert(delivery.as_str().to_owned(), answers.into());
    }

    pub(super) fn always_fail(&self, delivery: &DeliveryId) {
        let mut failing = self.always_failing.lock().unwrap();
        failing.push(delivery.as_str().to_owned());
    }

    /// Runs `action` with the delivery id inside every later attempt.
    pub(super) fn during_attempt(&self, action: impl FnMut(&str) + Send + 'static) {
        *self.during_attempt.lock().unwrap() = Some(Box::new(action));
    }

    pub(super) fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    /// The ids of the deliveries attempted, in order.
    pub(super) fn sent_ids(&self) -> Vec<String> {
        self.sent().into_iter().map(|s| s.delivery).collect()
    }

    /// When each attempt of `delivery` was made.
    pub(super) fn attempts_of(&self, delivery: &DeliveryId) -> Vec<DateTime<Utc>> {
        let sent = self.sent().into_iter();
        let mine = sent.filter(|s| s.delivery == delivery.as_str());
        mine.map(|s| s.at).collect()
    }
}

#[async_trait]
impl AttemptSender for ScriptedSender {
    async fn send(&self, request: &AttemptRequest<'_>) -> AttemptResult {
        let delivery = request.delivery_id.to_owned();
        let at = self.clock.now();
        self.sent.lock().unwrap().push(Sent {
            delivery: delivery.clone(),
            at,
        });
        if let Some(action) = self.during_attempt.lock().unwrap().as_mut() {
            action(&delivery);
        }
        if self.always_failing.lock().unwrap().contains(&delivery) {
            return failed();
        }
        let mut script = self.script.lock().unwrap();
        let next = script.get_mut(&delivery).and_then(VecDeque::pop_front);
        next.unwrap_or_else(succeeded)
    }
}

pub(super) fn succeeded() -> AttemptResult {
    AttemptResult {
        outcome: AttemptOutcome::Succeeded,
        status_code: Some(204),
        response_ms: 3,
        response_body: None,
        request_headers: None,
        response_headers: None,
        retry_after: None,
        error_message: None,
    }
}

pub(super) fn failed() -> AttemptResult {
    AttemptResult {
        outcome: AttemptOutcome::Failed(ErrorClass::HttpStatus),
        status_code: Some(500),
        response_ms: 3,
        response_body: None,
        request_headers: None,
        response_headers: None,
        retry_after: None,
        error_message: Some("the receiver answered 500".to_owned()),
    }
}

/// A 429 whose `Retry-After` asked for `wish`.
pub(super) fn too_many_requests(wish: Duration) -> AttemptResult {
    AttemptResult {
        status_code: Some(429),
        retry_after: Some(wish),
        error_message: Some("the receiver answered 429".to_owned()),
        ..failed()
    }
}

/// A `410 Gone`, as the sender classifies it.
pub(super) fn gone() -> AttemptResult {
    AttemptResult {
        outcome: AttemptOutcome::Failed(ErrorClass::Gone),
        status_code: Some(410),
        error_message: Some("the receiver answered 410 Gone; the endpoint was disabled".into()),
        ..failed()
    }
}

/// A host that lets the lane retire by the dispatcher's rule and records that it did.
#[derive(Default)]
pub(super) struct RecordingHost {
    retired: Mutex<Vec<WebhookId>>,
}

impl RecordingHost {
    pub(super) fn retired(&self) -> Vec<WebhookId> {
        self.retired.lock().unwrap().clone()
    }
}

impl LaneHost for RecordingHost {
    fn may_retire(&self, signal: &LaneSignal) -> bool {
        signal.retire_unless_woken()
    }

    fn retired(&self, id: &WebhookId, _signal: &Arc<LaneSignal>) {
        self.retired.lock().unwrap().push(id.clone());
    }
}
