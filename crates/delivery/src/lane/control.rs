//! How a lane and whoever runs it (the dispatcher) speak: the signal the dispatcher raises
//! (wake, resync, stop) and what the lane asks back (may I stop? I have stopped).
//!
//! Invariants:
//! - A resync is flagged before the wake-up that carries it, so a lane that sees the
//!   wake-up also sees the resync.
//! - Once a lane is allowed to retire its signal is stopped, so no later wake-up can be
//!   lost to the departing lane: whoever runs it starts a new one instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use domain::WebhookId;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What a running lane listens to.
pub(crate) struct LaneSignal {
    /// Set by a wake-up; cleared by the lane before it reads the store.
    woken: AtomicBool,
    /// Deliveries below the lane's window were re-opened, so it must read itself again
    /// from its first open delivery.
    resync: AtomicBool,
    notify: Notify,
    /// Cancelled at shutdown, when the lane's lease was lost, or when it retires.
    stop: CancellationToken,
}

impl LaneSignal {
    pub(crate) fn new(stop: CancellationToken) -> Self {
        Self {
            woken: AtomicBool::new(false),
            resync: AtomicBool::new(false),
            notify: Notify::new(),
            stop,
        }
    }

    /// The lane's endpoint has new work or changed settings; with `resync`, deliveries
    /// were re-opened in place and the lane must read itself from the start.
    pub(crate) fn wake(&self, resync: bool) {
        if resync {
            self.resync.store(true, Ordering::SeqCst);
        }
        self.woken.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Stops the lane before its next attempt.
    pub(crate) fn stop(&self) {
        self.stop.cancel();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Whether a wake-up arrived since the lane last cleared it.
    pub(crate) fn was_woken(&self) -> bool {
        self.woken.load(Ordering::SeqCst)
    }

    pub(crate) fn clear_woken(&self) {
        self.woken.store(false, Ordering::SeqCst);
    }

    /// Whether a resync was asked for since the last call.
    pub(crate) fn take_resync(&self) -> bool {
        self.resync.swap(false, Ordering::SeqCst)
    }

    /// The rule for a lane that found no work: it may stop unless a wake-up arrived since
    /// it last read the store (a stopped lane may always stop). Saying yes stops it.
    /// Whoever runs lanes calls this under the lock that wake-ups take.
    pub(crate) fn retire_unless_woken(&self) -> bool {
        if self.was_woken() && !self.is_stopped() {
            return false;
        }
        self.stop();
        true
    }

    /// Completes at the next wake-up or stop.
    pub(crate) async fn interrupted(&self) {
        tokio::select! {
            _ = self.notify.notified() => {}
            _ = self.stop.cancelled() => {}
        }
    }
}

/// What a lane asks of whoever runs it.
pub(crate) trait LaneHost: Send + Sync + 'static {
    /// The lane found no work: whether it may stop (see
    /// [`LaneSignal::retire_unless_woken`]).
    fn may_retire(&self, signal: &LaneSignal) -> bool;

    /// The lane has stopped, its outcomes committed and its lease given back.
    fn retired(&self, id: &WebhookId, signal: &Arc<LaneSignal>);
}
