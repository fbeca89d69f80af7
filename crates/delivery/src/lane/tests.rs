//! The lane's logic under tokio's paused time, with in-memory collaborators: order after
//! failures, retries in place, Retry-After, expiry, stopping, resync, refused outcomes,
//! targets that go away and rate limits. Hours of schedule run in milliseconds.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{Backoff, DeliveryId, DeliveryStatus, RateLimit, RatePeriod, WebhookId};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::fakes::{
    FakeLaneStore, RecordingHost, ScriptedSender, StoreEvent, failed, gone, succeeded,
    too_many_requests,
};
use super::{LaneContext, LaneSignal};
use crate::clock::{Clock, TokioClock};

/// Far longer than any schedule below: a lane still running by then never stops.
const LANE_DEADLINE: Duration = Duration::from_secs(7 * 24 * 3600);

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_735_689_600, 0).unwrap()
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// One lane's world. Build it inside the (paused) runtime.
struct World {
    id: WebhookId,
    clock: Arc<TokioClock>,
    store: Arc<FakeLaneStore>,
    sender: Arc<ScriptedSender>,
    host: Arc<RecordingHost>,
    signal: Arc<LaneSignal>,
    backoff: Backoff,
    retention: Duration,
    window: u32,
}

impl World {
    fn new() -> Self {
        Self::with_commit_delay(Duration::ZERO)
    }

    fn with_commit_delay(commit_delay: Duration) -> Self {
        let id = WebhookId::generate();
        let clock = Arc::new(TokioClock::starting_at(start()));
        Self {
            store: FakeLaneStore::new(id.clone(), commit_delay),
            sender: ScriptedSender::new(clock.clone()),
            host: Arc::new(RecordingHost::default()),
            signal: Arc::new(LaneSignal::new(CancellationToken::new())),
            backoff: Backoff {
                base: Duration::from_secs(5),
                cap: Duration::from_secs(900),
            },
            retention: Duration::from_secs(24 * 3600),
            window: 64,
            clock,
            id,
        }
    }

    /// Runs the lane until it stops by itself.
    async fn run_lane(&self) {
        let context = Arc::new(LaneContext {
            store: self.store.clone(),
            sender: self.sender.clone(),
            clock: self.clock.clone(),
            in_flight: Semaphore::new(4),
            backoff: self.backoff,
            retention: self.retention,
            window: self.window,
            owner: "test-owner".to_owned(),
        });
        let lane = super::run(
            context,
            self.host.clone(),
            self.id.clone(),
            self.signal.clone(),
        );
        tokio::time::timeout(LANE_DEADLINE, lane)
            .await
            .expect("the lane stops by itself");
    }

    fn statuses(&self, deliveries: &[&DeliveryId]) -> Vec<DeliveryStatus> {
        deliveries.iter().map(|d| self.store.status(d)).collect()
    }
}

fn ids(deliveries: &[&DeliveryId]) -> Vec<String> {
    deliveries.iter().map(|d| d.as_str().to_owned()).collect()
}

fn statuses_of(store: &FakeLaneStore, delivery: &DeliveryId) -> Vec<DeliveryStatus> {
    let outcomes = store.outcomes_of(delivery);
    outcomes.into_iter().map(|o| o.status).collect()
}

#[tokio::test(start_paused = true)]
async fn later_deliveries_wait_for_a_failing_head_and_go_out_in_order() {
    let mut world = World::new();
    // Three deliveries in two windows: order holds across a refill too.
    world.window = 2;
    let d1 = world.store.publish(1, start());
    let d2 = world.store.publish(2, start());
    let d3 = world.store.publish(3, start());
    world
        .sender
        .answer(&d1, vec![failed(), failed(), succeeded()]);

    let real = std::time::Instant::now();
    world.run_lane().await;

    assert_eq!(
        world.sender.sent_ids(),
        ids(&[&d1, &d1, &d1, &d2, &d3]),
        "the head is retried in place; later deliveries wait for it"
    );
    use DeliveryStatus::{Delivered, Failed};
    assert_eq!(statuses_of(&world.store, &d1), [Failed, Failed, Delivered]);
    assert_eq!(world.statuses(&[&d1, &d2, &d3]), [Delivered; 3]);
    let d2_sent = world.sender.attempts_of(&d2)[0];
    assert!(d2_sent >= *world.sender.attempts_of(&d1).last().unwrap());
    assert_eq!(world.host.retired(), std::slice::from_ref(&world.id));
    assert!(
        real.elapsed() < Duration::from_secs(5),
        "15 s of backoff ran on the paused clock, not in real time"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_head_is_retried_after_its_backoff() {
    let world = World::new();
    let d1 = world.store.publish(1, start());
    world
        .sender
        .answer(&d1, vec![failed(), failed(), failed(), succeeded()]);

    world.run_lane().await;

    let sent = world.sender.attempts_of(&d1);
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[0], start(), "a due delivery is sent at once");
    // Nominal delays 5 s, 10 s, 20 s, each with ±20 % jitter; timers tick in ms.
    for (n, nominal) in [(1, 5_000), (2, 10_000), (3, 20_000)] {
        let waited = (sent[n] - sent[n - 1]).num_milliseconds();
        assert!(
            waited >= nominal * 8 / 10 && waited <= nominal * 12 / 10 + 1,
            "retry {n} waited {waited} ms"
        );
    }
    // Each retry went out when the recorded outcome said it would.
    let outcomes = world.store.outcomes_of(&d1);
    for (outcome, retried_at) in outcomes.iter().zip(&sent[1..]) {
        let scheduled = outcome
            .next_attempt_at
            .expect("a failure schedules a retry");
        assert!(*retried_at >= scheduled);
        assert!(*retried_at - scheduled <= chrono::Duration::milliseconds(1));
    }
    assert_eq!(world.statuses(&[&d1]), [DeliveryStatus::Delivered]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_longer_than_the_backoff_is_honoured() {
    let mut world = World::new();
    world.backoff.base = Duration::from_secs(1);
    let d1 = world.store.publish(1, start());
    let wish = Duration::from_secs(120);
    world
        .sender
        .answer(&d1, vec![too_many_requests(wish), succeeded()]);

    world.run_lane().await;

    let sent = world.sender.attempts_of(&d1);
    let waited = (sent[1] - sent[0]).to_std().unwrap();
    assert!(waited >= wish, "waited {waited:?}");
    assert!(
        waited <= wish + Duration::from_millis(1),
        "waited {waited:?}"
    );
    let first = &world.store.outcomes_of(&d1)[0];
    assert_eq!(first.next_attempt_at, Some(sent[0] + secs(120)));
}

#[tokio::test(start_paused = true)]
async fn a_head_that_keeps_failing_expires_and_the_next_moves_up() {
    let mut world = World::new();
    world.backoff.base = Duration::from_secs(10);
    world.retention = Duration::from_secs(60);
    let expiry = start() + secs(60);
    let d1 = world.store.publish(1, start());
    let d2 = world.store.publish(2, start() + secs(30));
    world.sender.always_fail(&d1);

    world.run_lane().await;

    let tries = world.sender.attempts_of(&d1);
    assert!(tries.len() >= 2, "retried before giving up: {tries:?}");
    assert!(tries.iter().all(|at| *at < expiry), "{tries:?}");
    let outcomes = world.store.outcomes_of(&d1);
    let (last, failures) = outcomes.split_last().unwrap();
    assert!(failures.iter().all(|o| o.status == DeliveryStatus::Failed
        && o.next_attempt_at.is_some_and(|next| next <= expiry)));
    assert_eq!(last.status, DeliveryStatus::Expired);
    assert!(last.attempt.is_none(), "an expired head is not attempted");
    assert_eq!(last.attempts_before as usize, tries.len());

    let d2_sent = world.sender.attempts_of(&d2);
    assert_eq!(d2_sent.len(), 1);
    assert!(d2_sent[0] >= expiry, "d2 waited for d1 to expire");
    assert!(d2_sent[0] - expiry <= chrono::Duration::milliseconds(1));
    let statuses = world.statuses(&[&d1, &d2]);
    assert_eq!(
        statuses,
        [DeliveryStatus::Expired, DeliveryStatus::Delivered]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stopped_lane_makes_no_further_attempt_and_settles_its_outcomes_first() {
    // Commits take a while, so a lane that did not wait for them would release first.
    let world = World::with_commit_delay(Duration::from_millis(50));
    let d1 = world.store.publish(1, start());
    let d2 = world.store.publish(2, start());
    let signal = world.signal.clone();
    // The lease is lost while the attempt is in flight.
    world.sender.during_attempt(move |_| signal.stop());

    world.run_lane().await;

    assert_eq!(world.sender.sent_ids(), ids(&[&d1]));
    assert_eq!(
        world.store.events(),
        [
            StoreEvent::Committed(d1.clone(), DeliveryStatus::Delivered),
            StoreEvent::Released,
        ]
    );
    assert_eq!(world.statuses(&[&d2]), [DeliveryStatus::Pending]);
    assert_eq!(world.host.retired(), std::slice::from_ref(&world.id));
}

#[tokio::test(start_paused = true)]
async fn a_delivery_reopened_below_the_window_is_sent_next() {
    let world = World::new();
    let d1 = world.store.publish(1, start());
    let d2 = world.store.publish(2, start());
    let d3 = world.store.publish(3, start());
    world.sender.answer(&d2, vec![failed(), succeeded()]);
    let (store, signal, clock) = (
        world.store.clone(),
        world.signal.clone(),
        world.clock.clone(),
    );
    let first_of_d2 = d2.as_str().to_owned();
    let mut reopened = false;
    // While d2's first attempt is in flight, d1 (delivered already) is retried by hand.
    world.sender.during_attempt(move |delivery| {
        if delivery == first_of_d2 && !reopened {
            reopened = true;
            store.reopen(1, clock.now());
            signal.wake(true);
        }
    });

    world.run_lane().await;

    assert_eq!(
        world.sender.sent_ids(),
        ids(&[&d1, &d2, &d1, &d2, &d3]),
        "the re-opened d1 goes out before d2's retry and d3"
    );
    let statuses = world.statuses(&[&d1, &d2, &d3]);
    assert_eq!(statuses, [DeliveryStatus::Delivered; 3]);
}

#[tokio::test(start_paused = true)]
async fn a_refused_outcome_makes_the_lane_read_itself_again() {
    let world = World::new();
    let d1 = world.store.publish(1, start());
    let d2 = world.store.publish(2, start());
    world.store.refuse_next_outcome_of(&d1);

    world.run_lane().await;

    assert_eq!(
        world.sender.sent_ids(),
        ids(&[&d1, &d2, &d1]),
        "d1 is attempted again once its outcome was refused (at-least-once)"
    );
    assert!(
        world
            .store
            .events()
            .contains(&StoreEvent::Refused(d1.clone()))
    );
    assert_eq!(
        world
            .store
            .window_reads()
            .iter()
            .filter(|after| **after == 0)
            .count(),
        2,
        "the lane read itself from the start a second time"
    );
    let statuses = world.statuses(&[&d1, &d2]);
    assert_eq!(statuses, [DeliveryStatus::Delivered; 2]);
}

#[tokio::test(start_paused = true)]
async fn a_disabled_endpoint_keeps_its_backlog_and_the_lane_leaves() {
    let world = World::new();
    let d1 = world.store.publish(1, start());
    world.store.set_enabled(false);

    world.run_lane().await;

    assert!(world.sender.sent().is_empty());
    assert!(world.store.outcomes_of(&d1).is_empty());
    assert_eq!(world.statuses(&[&d1]), [DeliveryStatus::Pending]);
    assert_eq!(world.store.events(), [StoreEvent::Released]);
    assert_eq!(world.host.retired(), std::slice::from_ref(&world.id));
}

#[tokio::test(start_paused = true)]
async fn a_410_disables_the_endpoint_with_its_outcome_and_the_lane_leaves() {
    let mut world = World::new();
    let d1 = world.store.publish(1, start());
    let d2 = world.store.publish(2, start());
    world.sender.answer(&d1, vec![gone()]);

    world.run_lane().await;

    assert_eq!(world.sender.sent_ids(), ids(&[&d1]), "d2 waits, unsent");
    let outcomes = world.store.outcomes_of(&d1);
    let [outcome] = outcomes.as_slice() else {
        panic!("one outcome: {outcomes:?}");
    };
    assert!(outcome.disable_webhook);
    assert_eq!(outcome.status, DeliveryStatus::Failed);
    assert_eq!(
        outcome.next_attempt_at,
        Some(start()),
        "due again once re-enabled"
    );
    let attempt = outcome.attempt.as_ref().expect("the 410 is recorded");
    assert_eq!(attempt.status_code, Some(410));
    assert_eq!(attempt.error_class, Some(domain::ErrorClass::Gone));
    assert!(!world.store.is_enabled());
    assert_eq!(
        world.statuses(&[&d1, &d2]),
        [DeliveryStatus::Failed, DeliveryStatus::Pending]
    );
    assert_eq!(
        world.store.events(),
        [
            StoreEvent::Committed(d1.clone(), DeliveryStatus::Failed),
            StoreEvent::Released,
        ]
    );
    assert_eq!(world.host.retired(), std::slice::from_ref(&world.id));

    // Re-enabled: a new lane sends the same deliveries in order, the head at once.
    world.store.set_enabled(true);
    world.signal = Arc::new(LaneSignal::new(CancellationToken::new()));
    world.run_lane().await;
    assert_eq!(world.sender.sent_ids(), ids(&[&d1, &d1, &d2]));
    assert_eq!(world.sender.attempts_of(&d1)[1], start());
    assert_eq!(world.statuses(&[&d1, &d2]), [DeliveryStatus::Delivered; 2]);
}

#[tokio::test(start_paused = true)]
async fn a_refused_410_outcome_disables_nothing_and_the_lane_goes_on() {
    let world = World::new();
    let d1 = world.store.publish(1, start());
    world.sender.answer(&d1, vec![gone()]);
    world.store.refuse_next_outcome_of(&d1);

    world.run_lane().await;

    assert!(world.store.is_enabled());
    assert_eq!(world.sender.sent_ids(), ids(&[&d1, &d1]));
    assert_eq!(world.statuses(&[&d1]), [DeliveryStatus::Delivered]);
}

#[tokio::test(start_paused = true)]
async fn a_deleted_endpoint_stops_its_lane() {
    let world = World::new();
    let d1 = world.store.publish(1, start());
    let d2 = world.store.publish(2, start());
    let (store, signal) = (world.store.clone(), world.signal.clone());
    // Deleted while d1's attempt is in flight; settings changes arrive as a resync.
    world.sender.during_attempt(move |_| {
        store.delete_target();
        signal.wake(true);
    });

    world.run_lane().await;

    assert_eq!(world.sender.sent_ids(), ids(&[&d1]));
    assert_eq!(world.statuses(&[&d2]), [DeliveryStatus::Pending]);
    assert_eq!(world.host.retired(), std::slice::from_ref(&world.id));
}

fn millis(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_spaces_attempts_exactly_and_keeps_the_order() {
    let mut world = World::new();
    world
        .store
        .set_rate_limit(Some(RateLimit::new(RatePeriod::Second, 20).unwrap()));
    let deliveries: Vec<DeliveryId> = (1..=6)
        .map(|seq| world.store.publish(seq, start()))
        .collect();
    // The third fails once: its retry is paced like any attempt, and holds its place.
    world
        .sender
        .answer(&deliveries[2], vec![failed(), succeeded()]);
    world.backoff.base = Duration::from_millis(10);

    world.run_lane().await;

    let sent = world.sender.sent();
    let order: Vec<&str> = sent.iter().map(|s| s.delivery.as_str()).collect();
    let d: Vec<&str> = deliveries.iter().map(DeliveryId::as_str).collect();
    assert_eq!(order, [d[0], d[1], d[2], d[2], d[3], d[4], d[5]]);
    let offsets: Vec<i64> = sent
        .iter()
        .map(|s| (s.at - start()).num_milliseconds())
        .collect();
    assert_eq!(
        offsets,
        [0, 50, 100, 150, 200, 250, 300],
        "one attempt every 50 ms: the retry's 10 ms backoff is stretched to the spacing"
    );
    assert_eq!(
        world.statuses(&[&deliveries[5]]),
        [DeliveryStatus::Delivered]
    );
}

#[tokio::test(start_paused = true)]
async fn a_backoff_longer_than_the_spacing_is_not_shortened() {
    let world = World::new();
    world
        .store
        .set_rate_limit(Some(RateLimit::new(RatePeriod::Second, 20).unwrap()));
    let d1 = world.store.publish(1, start());
    let d2 = world.store.publish(2, start());
    world.sender.answer(&d1, vec![failed(), succeeded()]);

    world.run_lane().await;

    let retried = world.sender.attempts_of(&d1)[1];
    assert!(retried - start() >= secs(4), "a ~5 s backoff, not 50 ms");
    assert_eq!(world.sender.attempts_of(&d2)[0] - retried, millis(50));
}

#[tokio::test(start_paused = true)]
async fn an_idle_lane_stays_for_its_spacing_so_the_next_event_waits_for_it() {
    let world = World::new();
    // 6 per minute: 10 s apart.
    world
        .store
        .set_rate_limit(Some(RateLimit::new(RatePeriod::Minute, 6).unwrap()));
    let d1 = world.store.publish(1, start());
    let (store, signal) = (world.store.clone(), world.signal.clone());
    // Two seconds after the first attempt, with the lane out of work, the next event comes.
    let publish_later = async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let d2 = store.publish(2, start() + secs(2));
        signal.wake(false);
        d2
    };

    let ((), d2) = tokio::join!(world.run_lane(), publish_later);

    assert_eq!(world.sender.sent_ids(), ids(&[&d1, &d2]));
    assert_eq!(world.sender.attempts_of(&d1), [start()]);
    assert_eq!(world.sender.attempts_of(&d2), [start() + secs(10)]);
    assert_eq!(world.host.retired(), std::slice::from_ref(&world.id));
}

#[tokio::test(start_paused = true)]
async fn removing_the_rate_limit_lets_the_backlog_go_at_once() {
    let world = World::new();
    world
        .store
        .set_rate_limit(Some(RateLimit::new(RatePeriod::Minute, 1).unwrap()));
    let d1 = world.store.publish(1, start());
    let d2 = world.store.publish(2, start());
    let (store, signal) = (world.store.clone(), world.signal.clone());
    // A minute's spacing, lifted after a second: a settings change comes as a resync.
    let lift = async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        store.set_rate_limit(None);
        signal.wake(true);
    };

    tokio::join!(world.run_lane(), lift);

    assert_eq!(world.sender.attempts_of(&d1), [start()]);
    assert_eq!(world.sender.attempts_of(&d2), [start() + secs(1)]);
}
