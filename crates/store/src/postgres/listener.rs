//! Wake-ups from other processes: a dedicated connection (not from the pool) that
//! `LISTEN`s on `admin_webhooks_wake` and announces each payload's endpoint on the
//! store's announcement stream ([`crate::announce`]), beside this process's own news.
//!
//! Publishes notify for every endpoint that got a delivery, updates and deletes for the
//! endpoint they changed; PostgreSQL delivers a notification at its transaction's commit
//! to every listening session, this process's included.
//!
//! Invariants:
//! - The first `LISTEN` has succeeded before the store is handed out, so everything
//!   committed after `connect` returned is heard (while the connection stays up).
//! - A publish's notification that carries this store's own origin (`id@origin`) is an
//!   echo of work the publish writer announced at its commit, and is dropped: one string
//!   comparison, no state. Other notifications of this process (changes, re-sends, whose
//!   statements carry no origin) are announced a second time, which costs the lane one
//!   more read and nothing else.
//! - If the connection drops, it is made again with backoff and `LISTEN` re-issued;
//!   notifications sent meanwhile are lost, and the dispatcher's periodic sweep is the
//!   safety net for them.

use std::sync::Arc;
use std::time::Duration;

use domain::WebhookId;
use futures::StreamExt;
use tokio::sync::mpsc::{self, UnboundedReceiver};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, NoTls, Notification};

use super::{ORIGIN_MARK, RESYNC_PREFIX, WAKE_CHANNEL};
use crate::Result;
use crate::announce::Announcer;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The task that announces other processes' news.
pub(super) struct Wakeups {
    task: JoinHandle<()>,
}

impl Wakeups {
    /// Connects, listens, and starts announcing what it hears, except echoes of
    /// `origin`'s own publishes.
    pub(super) async fn start(
        config: tokio_postgres::Config,
        announcer: Arc<Announcer>,
        origin: String,
    ) -> Result<Wakeups> {
        let first = listen(&config).await?;
        let task = tokio::spawn(run(config, first, announcer, origin));
        Ok(Wakeups { task })
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
    announcer: Arc<Announcer>,
    origin: String,
) {
    let mut session = Some(first);
    let mut backoff = FIRST_BACKOFF;
    loop {
        if let Some((client, mut heard)) = session.take() {
            backoff = FIRST_BACKOFF;
            while let Some(notification) = heard.recv().await {
                if notification.channel() != WAKE_CHANNEL {
                    continue;
                }
                let (payload, sender) = match notification.payload().split_once(ORIGIN_MARK) {
                    Some((payload, sender)) => (payload, Some(sender)),
                    None => (notification.payload(), None),
                };
                if sender == Some(origin.as_str()) {
                    continue;
                }
                let (resync, id) = match payload.strip_prefix(RESYNC_PREFIX) {
                    Some(id) => (true, id),
                    None => (false, payload),
                };
                match WebhookId::parse(id) {
                    Ok(webhook) => announcer.announce([&webhook], resync),
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
