//! One-time notices that survive the redirect after a POST (Post/Redirect/Get), for what
//! must be shown once and never again: a new API key's value.
//!
//! Design: the POST seals the text into a short-lived cookie ([`FLASH_COOKIE`], scoped
//! to the page that shows it) and redirects; that page's GET opens it, shows it and
//! clears the cookie in the same answer. A reload finds no cookie: it shows nothing and
//! creates nothing. Nothing is kept on the server, so any process of a shared store can
//! answer the GET.
//!
//! Invariants:
//! - The text is sealed with XChaCha20-Poly1305 under a key derived from the session id
//!   (which only the browser holds; the store keeps its hash): the cookie alone, or the
//!   cookie with a copy of the database, reveals nothing, and another session cannot
//!   open it. The notice's purpose is bound in as associated data.
//! - The cookie is HttpOnly, SameSite=Strict, `Secure` where the session's is, and
//!   expires after [`FLASH_TTL_SECS`] even if never read.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use http::HeaderValue;
use rand::RngCore;

use crate::session::set_cookie;

/// The cookie's name.
pub const FLASH_COOKIE: &str = "aw_flash";

/// How long an unread notice lives: long enough for a slow redirect.
pub const FLASH_TTL_SECS: u64 = 120;

const NONCE_BYTES: usize = 24;

/// Seals `text` for the session whose flash key is `key`, for `purpose`.
pub fn seal(key: &[u8; 32], purpose: &str, text: &str) -> String {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::thread_rng().fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(key.into());
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: text.as_bytes(),
                aad: purpose.as_bytes(),
            },
        )
        .expect("sealing a short text cannot fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    URL_SAFE_NO_PAD.encode(out)
}

/// Opens what [`seal`] made with the same key and purpose; anything else is `None`.
pub fn open(key: &[u8; 32], purpose: &str, sealed: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() <= NONCE_BYTES {
        return None;
    }
    let (nonce, body) = bytes.split_at(NONCE_BYTES);
    let cipher = XChaCha20Poly1305::new(key.into());
    let text = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: purpose.as_bytes(),
            },
        )
        .ok()?;
    String::from_utf8(text).ok()
}

/// The `Set-Cookie` that carries a sealed notice to the page at `path`.
pub fn cookie(sealed: &str, path: &str, secure: bool) -> HeaderValue {
    set_cookie(FLASH_COOKIE, sealed, path, FLASH_TTL_SECS, secure)
}

/// The `Set-Cookie` that clears the notice once shown.
pub fn clear(path: &str, secure: bool) -> HeaderValue {
    set_cookie(FLASH_COOKIE, "", path, 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_session_and_purpose_open_a_notice() {
        let (key, other) = ([1u8; 32], [2u8; 32]);
        let sealed = seal(&key, "api-key", "awk_secret");
        assert!(!sealed.contains("awk_secret"));
        assert_eq!(
            open(&key, "api-key", &sealed).as_deref(),
            Some("awk_secret")
        );
        assert_eq!(open(&other, "api-key", &sealed), None);
        assert_eq!(open(&key, "other", &sealed), None);
        assert_ne!(sealed, seal(&key, "api-key", "awk_secret"), "fresh nonce");
        for forged in ["", "AAAA", "not base64!", &sealed[..sealed.len() - 2]] {
            assert_eq!(open(&key, "api-key", forged), None, "{forged}");
        }
    }
}
