//! The dispatcher: starts a lane for every endpoint with open deliveries and keeps at most
//! one lane per endpoint.
//!
//! Lanes are started by [`Dispatcher::wake`] (called after a publish commits, or after an
//! endpoint changed) and by a slow sweep of the store that catches anything a wake-up
//! missed (work left by a previous process, re-enabled endpoints). A lane that runs out of
//! work removes itself from the registry under the registry's lock, after checking that
//! no wake-up arrived since its last look at the store, so work is never stranded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::{Backoff, WebhookId};
use store::Store;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::lane;
use crate::sender::Sender;

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
        }
    }
}

/// What a running lane listens to.
pub(crate) struct LaneSignal {
    /// Set by a wake-up; cleared by the lane before it reads the store.
    pub(crate) dirty: AtomicBool,
    pub(crate) notify: Notify,
}

pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) sender: Sender,
    pub(crate) config: DispatchConfig,
    pub(crate) in_flight: Semaphore,
    pub(crate) shutdown: CancellationToken,
    lanes: Mutex<HashMap<WebhookId, Arc<LaneSignal>>>,
    tracker: TaskTracker,
}

/// Handle to the running dispatcher; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
}

impl Dispatcher {
    /// Starts the dispatcher: a lane for every endpoint the store has work for, and the
    /// sweep. Everything stops when `shutdown` is cancelled; see [`Dispatcher::stopped`].
    pub fn start(
        store: Arc<dyn Store>,
        sender: Sender,
        config: DispatchConfig,
        shutdown: CancellationToken,
    ) -> Dispatcher {
        let shared = Arc::new(Shared {
            store,
            sender,
            in_flight: Semaphore::new(config.max_in_flight),
            config,
            shutdown,
            lanes: Mutex::new(HashMap::new()),
            tracker: TaskTracker::new(),
        });
        let dispatcher = Dispatcher { shared };
        let sweeper = dispatcher.clone();
        dispatcher
            .shared
            .tracker
            .spawn(async move { sweeper.sweep_forever().await });
        dispatcher
    }

    /// Tells the lanes of these endpoints that their work or settings changed, starting
    /// lanes that are not running.
    pub fn wake(&self, webhooks: &[WebhookId]) {
        if self.shared.shutdown.is_cancelled() {
            return;
        }
        let mut lanes = self.shared.lanes.lock().unwrap_or_else(|p| p.into_inner());
        for id in webhooks {
            if let Some(signal) = lanes.get(id) {
                signal.dirty.store(true, Ordering::SeqCst);
                signal.notify.notify_one();
                continue;
            }
            let signal = Arc::new(LaneSignal {
                dirty: AtomicBool::new(false),
                notify: Notify::new(),
            });
            lanes.insert(id.clone(), signal.clone());
            let shared = self.shared.clone();
            let id = id.clone();
            self.shared.tracker.spawn(async move {
                lane::run(shared.clone(), id.clone(), signal).await;
            });
        }
    }

    /// Lanes currently running.
    pub fn active_lanes(&self) -> usize {
        self.shared
            .lanes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Resolves when every lane and the sweep have stopped after shutdown: attempts in
    /// flight finished and their outcomes committed.
    pub async fn stopped(&self) {
        self.shared.tracker.close();
        self.shared.tracker.wait().await;
    }

    async fn sweep_forever(&self) {
        loop {
            match self.shared.store.lanes_with_work().await {
                Ok(ids) => self.wake(&ids),
                Err(error) => {
                    tracing::warn!(%error, "sweeping the store for pending deliveries failed")
                }
            }
            tokio::select! {
                _ = self.shared.shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.shared.config.sweep_interval) => {}
            }
        }
    }
}

impl Shared {
    /// Called by a lane that found no work: leaves the registry unless a wake-up arrived
    /// since the lane last read the store. Returns whether the lane may stop.
    pub(crate) fn retire(&self, id: &WebhookId, signal: &Arc<LaneSignal>) -> bool {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if signal.dirty.load(Ordering::SeqCst) && !self.shutdown.is_cancelled() {
            return false;
        }
        if lanes.get(id).is_some_and(|s| Arc::ptr_eq(s, signal)) {
            lanes.remove(id);
        }
        true
    }
}
