//! API keys: random values shown once, stored only as SHA-256 hashes.
//!
//! Keys carry 32 random bytes, so a fast hash is enough (no password stretching needed):
//! nobody can guess a preimage, and lookups by hash stay cheap on every request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const KEY_PREFIX: &str = "awk_";

/// A new key value. Shown to its creator once and never stored.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of a key.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Compares a presented key with a stored hash in constant time.
pub fn key_matches(presented: &str, stored_hash: &[u8]) -> bool {
    hash_key(presented).ct_eq(stored_hash).into()
}

/// The first characters of a key, safe to show in lists so people can tell keys apart.
pub fn key_hint(key: &str) -> String {
    key.chars().take(KEY_PREFIX.len() + 6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_only_their_own_hash() {
        let a = generate_key();
        let b = generate_key();
        assert!(key_matches(&a, &hash_key(&a)));
        assert!(!key_matches(&b, &hash_key(&a)));
        assert!(!key_matches(&a, &[0u8; 5]));
        assert!(key_hint(&a).starts_with(KEY_PREFIX));
    }
}
