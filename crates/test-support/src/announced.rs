//! What the store announced to the lanes, as tests of the edges observe it: the use
//! cases no longer wake lanes themselves, so a test that checks "this request made that
//! endpoint's work known" reads the store's announcement stream.

use std::sync::{LockResult, Mutex, MutexGuard};

use domain::WebhookId;
use store::Wakeup;
use tokio::sync::mpsc::UnboundedReceiver;

/// What the store announced to the lanes, one entry per look that found news: the
/// endpoints announced since the previous look. The store announces a write before its
/// caller hears back, so after a request its news is all here; one request's news makes
/// one entry as long as each request is followed by a look.
pub struct Announced {
    stream: Mutex<UnboundedReceiver<Wakeup>>,
    seen: Mutex<Vec<Vec<WebhookId>>>,
}

impl Announced {
    pub fn new(stream: UnboundedReceiver<Wakeup>) -> Announced {
        Announced {
            stream: Mutex::new(stream),
            seen: Mutex::new(Vec::new()),
        }
    }

    /// Every entry so far, after taking in what arrived since the last look.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, Vec<Vec<WebhookId>>>> {
        let mut stream = self.stream.lock().unwrap();
        let mut fresh = Vec::new();
        while let Ok(news) = stream.try_recv() {
            fresh.push(news.webhook);
        }
        let mut seen = self.seen.lock().unwrap();
        if !fresh.is_empty() {
            seen.push(fresh);
        }
        Ok(seen)
    }
}
