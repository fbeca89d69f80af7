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

/// Characters of the key's end that its hint shows.
pub const HINT_TAIL: usize = 4;

/// What lists show of a key so people can tell keys apart: its prefix and its last four
/// characters (`awk_...x7Qz`). The end, not the start, because the start is what someone
/// reading over a shoulder or a screenshot would need to begin guessing with, and the
/// last four is what people are used to matching against (card numbers, Stripe keys).
pub fn key_hint(key: &str) -> String {
    let prefix = if key.starts_with(KEY_PREFIX) {
        KEY_PREFIX
    } else {
        ""
    };
    let chars: Vec<char> = key[prefix.len()..].chars().collect();
    let tail: String = chars[chars.len().saturating_sub(HINT_TAIL)..]
        .iter()
        .collect();
    format!("{prefix}...{tail}")
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

    #[test]
    fn hints_show_the_prefix_and_the_last_four_characters_only() {
        let key = generate_key();
        let hint = key_hint(&key);
        let tail = &key[key.len() - HINT_TAIL..];
        assert_eq!(hint, format!("{KEY_PREFIX}...{tail}"));
        assert_eq!(key_hint("awk_STARTofTheRandomPart_ENDS"), "awk_...ENDS");
        assert_eq!(key_hint("awk_test_bootstrap_key_0123456789"), "awk_...6789");
        assert_eq!(key_hint("some-operator-chosen-key"), "...-key");
        assert_eq!(key_hint("awk_ab"), "awk_...ab");
    }
}
