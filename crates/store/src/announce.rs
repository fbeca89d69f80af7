//! The store's announcements: the one stream on which a store says which endpoints its
//! committed writes gave work to or changed ([`crate::LaneStore::announcements`]).
//!
//! Each backend feeds it from where its commits happen — the SQLite writer after each
//! group commit, the PostgreSQL publish writer after each group's commit and the other
//! writes after theirs, and on PostgreSQL the listener with other processes' news.
//!
//! Invariants:
//! - Nothing is announced before the commit that made it readable; a write that failed
//!   or rolled back announces nothing.
//! - Announcements are kept only once the stream was handed out (once, to the
//!   dispatcher, before its first sweep, which covers what came before); until then they
//!   are dropped, so a store nobody listens to does not pile them up.
//! - Announcing never blocks a writer: the channel is unbounded, and a receiver that went
//!   away just means nobody wants the news now.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use domain::WebhookId;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use crate::Wakeup;

pub(crate) struct Announcer {
    sender: UnboundedSender<Wakeup>,
    /// Until handed out.
    receiver: Mutex<Option<UnboundedReceiver<Wakeup>>>,
    /// Whether the receiver was handed out: only then is anything sent.
    taken: AtomicBool,
}

impl Announcer {
    pub(crate) fn new() -> Announcer {
        let (sender, receiver) = mpsc::unbounded_channel();
        Announcer {
            sender,
            receiver: Mutex::new(Some(receiver)),
            taken: AtomicBool::new(false),
        }
    }

    /// The stream, the first time; `None` after.
    pub(crate) fn take(&self) -> Option<UnboundedReceiver<Wakeup>> {
        let receiver = self
            .receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if receiver.is_some() {
            self.taken.store(true, Ordering::SeqCst);
        }
        receiver
    }

    /// Announces news about each of `webhooks` (call only after the commit).
    pub(crate) fn announce<'a>(
        &self,
        webhooks: impl IntoIterator<Item = &'a WebhookId>,
        resync: bool,
    ) {
        if !self.taken.load(Ordering::SeqCst) {
            return;
        }
        for webhook in webhooks {
            let news = Wakeup {
                webhook: webhook.clone(),
                resync,
            };
            if self.sender.send(news).is_err() {
                return;
            }
        }
    }

    /// Announces wake-ups as they are.
    pub(crate) fn announce_all(&self, news: impl IntoIterator<Item = Wakeup>) {
        if !self.taken.load(Ordering::SeqCst) {
            return;
        }
        for wakeup in news {
            if self.sender.send(wakeup).is_err() {
                return;
            }
        }
    }
}

/// News that `webhook` changed or had deliveries re-opened in place.
pub(crate) fn resync_of(webhook: &WebhookId) -> Vec<Wakeup> {
    vec![Wakeup {
        webhook: webhook.clone(),
        resync: true,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn news_is_kept_only_once_the_stream_was_handed_out() {
        let announcer = Announcer::new();
        let early = WebhookId::generate();
        announcer.announce([&early], false);
        let mut stream = announcer.take().expect("the first call hands it out");
        assert!(announcer.take().is_none(), "only once");
        let later = WebhookId::generate();
        announcer.announce([&later], true);
        assert_eq!(
            stream.try_recv().unwrap(),
            Wakeup {
                webhook: later,
                resync: true
            }
        );
        assert!(stream.try_recv().is_err(), "nothing from before");
    }
}
