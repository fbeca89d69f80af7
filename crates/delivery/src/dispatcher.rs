//! The dispatcher: starts a lane for every endpoint with open deliveries and keeps at most
//! one lane per endpoint — in this process, and, on a store shared by several processes,
//! across all of them through leases.
//!
//! Lanes are started and signalled by the store's announcements
//! ([`store::LaneStore::announcements`]: what each commit, of this process or another,
//! made deliverable or changed), to which the dispatcher subscribes once at start, and by
//! a sweep of the store that catches anything an announcement missed (work left by a
//! process that died, re-enabled endpoints). Nobody else wakes lanes.
//!
//! Invariants:
//! - A lane that runs out of work leaves the registry under the registry's lock, after
//!   checking that no wake-up arrived since its last look at the store, so work is never
//!   stranded.
//! - On a shared store a lane runs only while this process holds its lease. Leases are
//!   renewed every third of their length; a lane whose lease was lost is stopped before
//!   it starts another attempt, and if renewing keeps failing for half a lease every lane
//!   stops, so two processes never work one endpoint at once (beyond an attempt already
//!   in flight, which the store's attempt fence keeps from being recorded twice).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use domain::{Backoff, WebhookId};
use store::LaneStore;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::SystemClock;
use crate::lane::{self, LaneContext, LaneHost, LaneSignal};
use crate::sender::AttemptSender;

/// How late a sweep may be, beyond two intervals, before the dispatcher counts as dead:
/// a sweep waits for the store, which may be slow without being down.
const SWEEP_SLACK: Duration = Duration::from_secs(10);

/// How often a lane this process is the one to serve is claimed again while another
/// process holds it.
const CLAIM_RETRY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    pub backoff: Backoff,
    /// A delivery whose event is older than this is given up (`expired`).
    pub retention: Duration,
    /// Deliveries a lane keeps in memory at once.
    pub window: u32,
    /// Attempts in flight across all lanes.
    pub max_in_flight: usize,
    /// How often the store is swept for lanes with work that no wake-up announced.
    pub sweep_interval: Duration,
    /// How long a lane's lease lasts on a shared store; a process that dies gives its
    /// lanes up to others after at most this long.
    pub lease: Duration,
    /// Lanes claimed at most per sweep, so that processes share the work.
    pub claim_batch: u32,
    /// The runtime the lanes and the dispatcher's own tasks run on; the caller's when
    /// `None`. The service gives them one of their own whose threads yield the CPU to
    /// the API's, so that taking events in goes before sending them out.
    pub runtime: Option<tokio::runtime::Handle>,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            backoff: Backoff {
                base: Duration::from_secs(5),
                cap: Duration::from_secs(15 * 60),
            },
            retention: Duration::from_secs(24 * 3600),
            window: 64,
            max_in_flight: 512,
            sweep_interval: Duration::from_secs(30),
            lease: Duration::from_secs(15),
            claim_batch: 64,
            runtime: None,
        }
    }
}

#[derive(Default)]
struct Registry {
    lanes: HashMap<WebhookId, Arc<LaneSignal>>,
    /// Lanes whose lease is being claimed, so one wake-up burst makes one claim.
    claiming: HashSet<WebhookId>,
}

struct Shared {
    store: Arc<dyn LaneStore>,
    config: DispatchConfig,
    shutdown: CancellationToken,
    /// What every lane is started with; it holds this process's name in lane leases.
    lanes: Arc<LaneContext>,
    registry: Mutex<Registry>,
    tracker: TaskTracker,
    runtime: tokio::runtime::Handle,
    /// When the dispatcher started; heartbeats count from here.
    started: Instant,
    /// Milliseconds after `started` at which the sweep last finished a pass (whatever
    /// the store answered): the proof of life `/readyz` reads.
    last_sweep_ms: AtomicU64,
}

/// Handle to the running dispatcher; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
}

impl Dispatcher {
    /// Starts the dispatcher: a lane for every endpoint the store has work for, the sweep,
    /// the store's announcements, and on a shared store the lease renewal. Everything
    /// stops when `shutdown` is cancelled; see [`Dispatcher::stopped`].
    pub fn start(
        store: Arc<dyn LaneStore>,
        sender: Arc<dyn AttemptSender>,
        config: DispatchConfig,
        shutdown: CancellationToken,
    ) -> Dispatcher {
        // Before the first sweep, which covers whatever was committed before.
        let announcements = store.announcements();
        let lanes = Arc::new(LaneContext {
            store: store.clone(),
            sender,
            clock: Arc::new(SystemClock),
            in_flight: Semaphore::new(config.max_in_flight),
            backoff: config.backoff,
            retention: config.retention,
            window: config.window,
            owner: format!(
                "{}-{}",
                std::process::id(),
                domain::ids::AttemptId::generate()
                    .as_str()
                    .trim_start_matches("att_")
            ),
        });
        let runtime = config
            .runtime
            .clone()
            .unwrap_or_else(tokio::runtime::Handle::current);
        let shared = Arc::new(Shared {
            store,
            config,
            runtime,
            shutdown,
            lanes,
            registry: Mutex::new(Registry::default()),
            tracker: TaskTracker::new(),
            started: Instant::now(),
            last_sweep_ms: AtomicU64::new(0),
        });
        let dispatcher = Dispatcher { shared };
        let d = dispatcher.clone();
        dispatcher.spawn(async move { d.sweep_forever().await });
        if dispatcher.shared.store.shares_lanes() {
            let d = dispatcher.clone();
            dispatcher.spawn(async move { d.renew_forever().await });
        }
        if let Some(mut announcements) = announcements {
            let d = dispatcher.clone();
            dispatcher.spawn(async move {
                loop {
                    tokio::select! {
                        _ = d.shared.shutdown.cancelled() => return,
                        next = announcements.recv() => match next {
                            Some(news) => d.signal(std::slice::from_ref(&news.webhook), news.resync),
                            None => return,
                        },
                    }
                }
            });
        }
        dispatcher
    }

    /// Tells the lanes of these endpoints that their work (`resync: false`) or settings
    /// changed, starting (on a shared store: claiming) lanes that are not running. With
    /// `resync`, for endpoints that changed or whose deliveries were re-opened by hand
    /// (retry, replay): a re-opened delivery keeps its `seq`, which may lie below what a
    /// running lane has read, so the lane drops its window and reads itself again from
    /// its first open delivery. A lane that is not running reads from there anyway.
    fn signal(&self, webhooks: &[WebhookId], resync: bool) {
        if self.shared.shutdown.is_cancelled() {
            return;
        }
        let shares = self.shared.store.shares_lanes();
        let mut registry = self.shared.registry();
        for id in webhooks {
            if let Some(signal) = registry.lanes.get(id) {
                signal.wake(resync);
            } else if !shares {
                self.spawn_lane(&mut registry, id.clone());
            } else if registry.claiming.insert(id.clone()) {
                let d = self.clone();
                let id = id.clone();
                self.spawn(async move { d.claim_and_start(id).await });
            }
        }
    }

    /// Starts (on a shared store: claims) the lane of `webhook` now and makes a running one
    /// read itself again: a listener's stream just connected to this process.
    pub fn wake(&self, webhook: &WebhookId) {
        self.signal(std::slice::from_ref(webhook), true);
    }

    /// How long ago the sweep last finished a pass. The sweep runs every
    /// `sweep_interval` for as long as the dispatcher lives, also while the store fails
    /// (that is reported by the store's own check), so a value well past the interval
    /// means the dispatcher is wedged or gone.
    pub fn since_last_sweep(&self) -> Duration {
        let elapsed = self.shared.started.elapsed();
        let last = Duration::from_millis(self.shared.last_sweep_ms.load(Ordering::Relaxed));
        elapsed.saturating_sub(last)
    }

    /// Whether the dispatcher is running: not shut down, and its sweep finished a pass
    /// within two sweep intervals (plus slack for a slow store).
    pub fn is_alive(&self) -> bool {
        !self.shared.shutdown.is_cancelled()
            && self.since_last_sweep() <= self.shared.config.sweep_interval * 2 + SWEEP_SLACK
    }

    /// Lanes currently running in this process.
    pub fn active_lanes(&self) -> usize {
        self.shared.registry().lanes.len()
    }

    /// Resolves when every lane and background task has stopped after shutdown: attempts
    /// in flight finished, their outcomes committed, and leases given back.
    pub async fn stopped(&self) {
        self.shared.tracker.close();
        self.shared.tracker.wait().await;
    }

    fn spawn_lane(&self, registry: &mut Registry, id: WebhookId) {
        let signal = Arc::new(LaneSignal::new(self.shared.shutdown.child_token()));
        registry.lanes.insert(id.clone(), signal.clone());
        crate::metrics::lanes_active(registry.lanes.len());
        let context = self.shared.lanes.clone();
        let host: Arc<dyn LaneHost> = Arc::new(self.clone());
        self.spawn(async move { lane::run(context, host, id, signal).await });
    }

    /// Runs `task` on the dispatcher's runtime, tracked so that shutdown waits for it.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.shared.tracker.spawn_on(task, &self.shared.runtime);
    }

    async fn claim_and_start(&self, id: WebhookId) {
        let shared = &self.shared;
        // A lane only this process can serve (a listener whose stream is connected here)
        // is claimed again while another process holds it briefly: that process leaves
        // such a lane at its next step, without attempting.
        let insist_until = shared
            .lanes
            .sender
            .prefers(&id)
            .then(|| Instant::now() + shared.config.lease);
        let claimed = loop {
            let claimed = shared
                .store
                .claim_lane(&shared.lanes.owner, &id, shared.config.lease)
                .await;
            let insist = insist_until.is_some_and(|until| Instant::now() < until);
            if !matches!(claimed, Ok(false)) || !insist {
                break claimed;
            }
            tokio::select! {
                _ = shared.shutdown.cancelled() => break claimed,
                _ = tokio::time::sleep(CLAIM_RETRY) => {}
            }
        };
        let mut registry = shared.registry();
        registry.claiming.remove(&id);
        match claimed {
            Ok(true) if !shared.shutdown.is_cancelled() => {
                if !registry.lanes.contains_key(&id) {
                    self.spawn_lane(&mut registry, id);
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(webhook = %id, %error, "claiming a lane failed; the sweep will try again")
            }
        }
    }

    async fn sweep_forever(&self) {
        let shared = &self.shared;
        loop {
            let found = if shared.store.shares_lanes() {
                shared
                    .store
                    .claim_lanes(
                        &shared.lanes.owner,
                        shared.config.lease,
                        shared.config.claim_batch,
                    )
                    .await
            } else {
                shared.store.lanes_with_work().await
            };
            match found {
                Ok(ids) if !shared.shutdown.is_cancelled() => {
                    let mut registry = shared.registry();
                    for id in ids {
                        if !registry.lanes.contains_key(&id) {
                            self.spawn_lane(&mut registry, id);
                        }
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "sweeping the store for pending deliveries failed")
                }
            }
            let beat = shared.started.elapsed().as_millis();
            shared
                .last_sweep_ms
                .store(u64::try_from(beat).unwrap_or(u64::MAX), Ordering::Relaxed);
            tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                _ = tokio::time::sleep(shared.config.sweep_interval) => {}
            }
        }
    }

    /// Keeps this process's leases alive and stops lanes whose lease was lost.
    async fn renew_forever(&self) {
        let shared = &self.shared;
        let every = shared.config.lease / 3;
        let mut last_renewed = Instant::now();
        loop {
            tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let running: Vec<WebhookId> = shared.registry().lanes.keys().cloned().collect();
            match shared
                .store
                .renew_leases(&shared.lanes.owner, &running, shared.config.lease)
                .await
            {
                Ok(held) => {
                    last_renewed = Instant::now();
                    let held: HashSet<WebhookId> = held.into_iter().collect();
                    let registry = shared.registry();
                    for id in running.iter().filter(|id| !held.contains(*id)) {
                        if let Some(signal) = registry.lanes.get(id) {
                            tracing::warn!(webhook = %id, "lost the lease of a lane; another process works it now");
                            signal.stop();
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "renewing lane leases failed");
                    if last_renewed.elapsed() > shared.config.lease / 2 {
                        tracing::error!(
                            "cannot renew lane leases; stopping every lane until the store answers again"
                        );
                        for signal in shared.registry().lanes.values() {
                            signal.stop();
                        }
                    }
                }
            }
        }
    }
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LaneHost for Dispatcher {
    /// Once this says yes, wake-ups of this endpoint wait behind the registry lock until
    /// the lane is gone from the registry, and then start a new lane.
    fn may_retire(&self, signal: &LaneSignal) -> bool {
        let _registry = self.shared.registry();
        signal.retire_unless_woken()
    }

    /// Removes a stopped lane from the registry. A wake-up that found the lane already
    /// stopping gets a new lane here.
    fn retired(&self, id: &WebhookId, signal: &Arc<LaneSignal>) {
        let mut registry = self.shared.registry();
        if registry
            .lanes
            .get(id)
            .is_some_and(|s| Arc::ptr_eq(s, signal))
        {
            registry.lanes.remove(id);
            crate::metrics::lanes_active(registry.lanes.len());
        }
        let woken = signal.was_woken();
        drop(registry);
        if woken && !self.shared.shutdown.is_cancelled() {
            self.signal(std::slice::from_ref(id), false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Sender, SenderConfig};

    #[tokio::test(flavor = "multi_thread")]
    async fn the_heartbeat_follows_the_sweep_until_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(store::sqlite::SqliteStore::open(&dir.path().join("db")).unwrap());
        let sender = Sender::new(SenderConfig {
            dev: true,
            extra_ca_pem: None,
            attempt_timeout: Duration::from_secs(1),
            user_agent: "test".to_owned(),
        })
        .unwrap();
        let shutdown = CancellationToken::new();
        let config = DispatchConfig {
            sweep_interval: Duration::from_millis(20),
            ..DispatchConfig::default()
        };
        let dispatcher = Dispatcher::start(store, Arc::new(sender), config, shutdown.clone());
        // A pass that finished two intervals in shows the sweep beats on its own.
        let deadline = Instant::now() + Duration::from_secs(10);
        while dispatcher.shared.last_sweep_ms.load(Ordering::Relaxed) < 40 {
            assert!(Instant::now() < deadline, "the sweep stopped beating");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(dispatcher.is_alive());
        assert!(dispatcher.since_last_sweep() < Duration::from_secs(1));
        shutdown.cancel();
        dispatcher.stopped().await;
        assert!(!dispatcher.is_alive(), "a stopped dispatcher is not alive");
    }
}
