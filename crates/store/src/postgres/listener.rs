//! Wake-ups from other processes: a dedicated connection (not from the pool) that
//! `LISTEN`s on `admin_webhooks_wake` and forwards each payload as a [`WebhookId`].
//!
//! Publishes notify for every endpoint that got a delivery, updates and deletes for the
//! endpoint they changed; PostgreSQL delivers a notification at its transaction's commit
//! to every listening session, this process's included.
//!
//! Invariants:
//! - The first `LISTEN` has succeeded before the store is handed out, so everything
//!   committed after `connect` returned is heard (while the connection stays up).
//! - Notifications are forwarded only once [`Wakeups::take`] handed the receiver out;
//!   before that they are dropped, so a store whose wake-ups nobody reads does not pile
//!   them up. The dispatcher takes the receiver before its first sweep, which covers
//!   whatever came before.
//! - If the connection drops, it is made again with backoff and `LISTEN` re-issued;
//!   notifications sent meanwhile are lost, and the dispatcher's periodic sweep is the
//!   safety net for them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use domain::WebhookId;
use futures::StreamExt;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, NoTls, Notification};

use super::{RESYNC_PREFIX, WAKE_CHANNEL};
use crate::Result;
use crate::Wakeup;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The receiving end of the store's wake-ups, and the task that feeds it.
pub(super) struct Wakeups {
    receiver: Mutex<Option<UnboundedReceiver<Wakeup>>>,
    taken: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Wakeups {
    /// Connects, listens, and starts forwarding (once taken).
    pub(super) async fn start(config: tokio_postgres::Config) -> Result<Wakeups> {
        let first = listen(&config).await?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let taken = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(run(config, first, sender, taken.clone()));
        Ok(Wakeups {
            receiver: Mutex::new(Some(receiver)),
            taken,
            task,
        })
    }

    /// The receiver, the first time; `None` after.
    pub(super) fn take(&self) -> Option<UnboundedReceiver<Wakeup>> {
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

    /// Stops listening (the connection closes with the task).
    pub(super) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Wakeups {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A listening session: the client (kept to keep the connection open) and what it hears.
type Session = (Client, UnboundedReceiver<Notification>);

async fn listen(config: &tokio_postgres::Config) -> Result<Session> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (sender, receiver) = mpsc::unbounded_channel();
    // The connection must be driven for LISTEN to complete; this task also collects the
    // notifications, and ends when the connection closes (or the session is dropped).
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if sender.send(n).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the store's LISTEN connection failed");
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {WAKE_CHANNEL}"))
        .await?;
    Ok((client, receiver))
}

async fn run(
    config: tokio_postgres::Config,
    first: Session,
    forward: UnboundedSender<Wakeup>,
    taken: Arc<AtomicBool>,
) {
    let mut session = Some(first);
    let mut backoff = FIRST_BACKOFF;
    loop {
        if let Some((client, mut heard)) = session.take() {
            backoff = FIRST_BACKOFF;
            while let Some(notification) = heard.recv().await {
                if notification.channel() != WAKE_CHANNEL || !taken.load(Ordering::SeqCst) {
                    continue;
                }
                let payload = notification.payload();
                let (resync, id) = match payload.strip_prefix(RESYNC_PREFIX) {
                    Some(id) => (true, id),
                    None => (false, payload),
                };
                match WebhookId::parse(id) {
                    // A receiver that went away just means nobody wants wake-ups now.
                    Ok(webhook) => drop(forward.send(Wakeup { webhook, resync })),
                    Err(error) => tracing::debug!(%error, "ignoring a malformed wake-up"),
                }
            }
            drop(client);
            tracing::warn!("the store's LISTEN connection closed; reconnecting");
        }
        // Backoff between reconnection attempts, not a poll: nothing else to wait on.
        tokio::time::sleep(backoff).await;
        match listen(&config).await {
            Ok(next) => {
                tracing::info!("the store's LISTEN connection is back");
                session = Some(next);
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "reconnecting the store's LISTEN connection failed");
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
