//! API keys recognised lately, so that an API request usually costs no store read for
//! its key (on SQLite that read was a hand-over to a reader thread and back on every
//! publish).
//!
//! Invariants:
//! - Only live keys are kept. A key the store does not know is looked up again on every
//!   request: a key just created (by any process) works at once, and a refusal is
//!   never remembered.
//! - Revoking through this process forgets the key before the revocation is answered, so
//!   the next request made here with it is refused.
//! - An entry is used for at most [`FRESH_FOR`]: a key revoked by another process
//!   sharing the store (PostgreSQL) is refused here within that time.
//! - At most [`MAX_KEYS`] keys are kept; past that the cache starts over.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use domain::ApiKeyId;
use store::ApiKey;

/// How long a recognised key is trusted before the store is asked again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// The most keys kept at once.
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
pub(crate) struct KnownKeys {
    /// Key hash → the key and when the store last said it was live.
    keys: Mutex<HashMap<[u8; 32], (ApiKey, Instant)>>,
}

impl KnownKeys {
    /// The live key with `hash`, if the store said so less than [`FRESH_FOR`] ago.
    pub(crate) fn get(&self, hash: &[u8; 32]) -> Option<ApiKey> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.get(hash)
            .filter(|(_, checked)| checked.elapsed() < FRESH_FOR)
            .map(|(key, _)| key.clone())
    }

    /// Remembers that the store just found `key` live under `hash`.
    pub(crate) fn live(&self, hash: [u8; 32], key: &ApiKey) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= MAX_KEYS && !keys.contains_key(&hash) {
            keys.clear();
        }
        keys.insert(hash, (key.clone(), Instant::now()));
    }

    /// Forgets the key `id` (revoked).
    pub(crate) fn forget(&self, id: &ApiKeyId) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.retain(|_, (key, _)| key.id != *id);
    }
}
