//! Signing secrets and custom headers sealed at rest: what keeps `webhooks.secret`,
//! `webhooks.previous_secret` and `webhooks.headers` unreadable in a copied database
//! file, a backup or a read-only SQL session.
//!
//! A [`SecretCipher`] holds one or more 32-byte keys. It seals with the first and opens
//! with whichever key sealed the value, so keys rotate by putting a new key first and
//! keeping the old ones after it until every value is re-sealed (each store does that
//! when it opens, see [`SecretCipher::reseal`]).
//!
//! A sealed value reads `sealed:v1:<key id>:<base64url(nonce ‖ ciphertext)>`:
//! XChaCha20-Poly1305 with a random 24-byte nonce (random nonces of that size never
//! repeat in practice, so no counter has to be kept across processes). The key id is the
//! first 4 bytes of a SHA-256 of the key, in hex: enough to pick the key, too little to
//! learn anything about it.
//!
//! Invariants:
//! - The associated data is the webhook's id, so a sealed value copied onto another
//!   webhook's row does not open. For signing secrets it is not the column: a rotation
//!   moves the current secret to `previous_secret` inside one SQL statement, without
//!   opening it, and both columns hold secrets of the same webhook, so swapping them
//!   gains an attacker nothing. Custom headers add their kind ([`Sealed`]), so a header
//!   set and a secret cannot be swapped either.
//! - A stored value without the `sealed:` prefix is a plaintext secret written before
//!   sealing existed; it opens as itself. Stores re-seal such values when they open, so
//!   plaintext only survives until the first start of this version.
//! - Nothing here logs or formats a key or a secret; `Debug` shows key ids only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload, rand_core::RngCore};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use domain::{CustomHeaders, WebhookId};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// What every sealed value starts with, followed by the format version.
const SEALED_PREFIX: &str = "sealed:v1:";

/// XChaCha20-Poly1305's nonce length.
const NONCE_LEN: usize = 24;

/// Why keys cannot be had, or a stored secret cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    #[error("no secret key was given")]
    NoKeys,
    #[error("secret key {position} is not 32 bytes written in base64 or hex")]
    InvalidKey { position: usize },
    #[error("cannot read the secret key file {path}: {source}")]
    ReadKeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the secret key file {path}: {source}")]
    WriteKeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the {what} of webhook {webhook} are sealed with secret key {key_id}, which is \
         not among the keys given (their ids: {given}); give that key too, after the one that \
         seals new secrets"
    )]
    UnknownKey {
        webhook: WebhookId,
        what: Sealed,
        key_id: String,
        given: String,
    },
    #[error(
        "the sealed {what} of webhook {webhook} do not open with secret key {key_id}: they \
         were altered, or copied from another webhook"
    )]
    NotAuthentic {
        webhook: WebhookId,
        what: Sealed,
        key_id: String,
    },
    #[error("the sealed {what} of webhook {webhook} are malformed")]
    Malformed { webhook: WebhookId, what: Sealed },
}

/// What a sealed value holds. It is bound into the value's associated data with the
/// webhook id, so a value of one kind copied into a column of the other does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    /// `webhooks.secret` and `webhooks.previous_secret`. Their associated data is the bare
    /// webhook id, as it was before any other kind existed.
    SigningSecrets,
    /// `webhooks.headers`: the custom headers as JSON.
    CustomHeaders,
}

impl Sealed {
    fn associated_data(self, webhook: &WebhookId) -> Vec<u8> {
        match self {
            Self::SigningSecrets => webhook.as_str().as_bytes().to_vec(),
            Self::CustomHeaders => format!("{webhook}/headers").into_bytes(),
        }
    }
}

impl std::fmt::Display for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SigningSecrets => "signing secrets",
            Self::CustomHeaders => "custom headers",
        })
    }
}

impl From<SealingError> for StoreError {
    fn from(error: SealingError) -> Self {
        StoreError::Backend(Box::new(error))
    }
}

/// One key and the id sealed values name it by.
struct SealingKey {
    id: String,
    aead: XChaCha20Poly1305,
}

/// Seals signing secrets with the first of its keys and opens them with any. Cheap to
/// clone (the keys are shared).
#[derive(Clone)]
pub struct SecretCipher {
    keys: Arc<[SealingKey]>,
}

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCipher")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

impl SecretCipher {
    /// A cipher over `keys`; the first seals. Refuses an empty list.
    pub fn new(keys: &[[u8; 32]]) -> Result<SecretCipher, SealingError> {
        if keys.is_empty() {
            return Err(SealingError::NoKeys);
        }
        let keys = keys
            .iter()
            .map(|key| SealingKey {
                id: key_id(key),
                aead: XChaCha20Poly1305::new(key.into()),
            })
            .collect();
        Ok(SecretCipher { keys })
    }

    /// Keys written as text: one per line or comma-separated, each 32 bytes in base64 or
    /// hex. Blank lines and lines starting with `#` are skipped.
    pub fn parse(text: &str) -> Result<SecretCipher, SealingError> {
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.starts_with('#'))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .enumerate()
            .map(|(index, key)| {
                decode_key(key).ok_or(SealingError::InvalidKey {
                    position: index + 1,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        SecretCipher::new(&keys)
    }

    /// The keys in the file at `path` (see [`SecretCipher::parse`]).
    pub fn from_file(path: &Path) -> Result<SecretCipher, SealingError> {
        let text = std::fs::read_to_string(path).map_err(|source| SealingError::ReadKeyFile {
            path: path.to_owned(),
            source,
        })?;
        SecretCipher::parse(&text)
    }

    /// The keys in the file at `path`, creating it first (mode 0600, one fresh key) when
    /// there is none. Says whether it created the file.
    pub fn load_or_create(path: &Path) -> Result<(SecretCipher, bool), SealingError> {
        let write_error = |source| SealingError::WriteKeyFile {
            path: path.to_owned(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                let line = format!("{}\n", generate_key());
                file.write_all(line.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(write_error)?;
                Ok((SecretCipher::parse(&line)?, true))
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((SecretCipher::from_file(path)?, false))
            }
            Err(error) => Err(write_error(error)),
        }
    }

    /// The ids of the keys, the sealing one first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// `secret` of `webhook`, sealed with the first key.
    pub(crate) fn seal(&self, webhook: &WebhookId, secret: &str) -> String {
        self.seal_as(Sealed::SigningSecrets, webhook, secret)
    }

    /// `plain`, a value of kind `what` of `webhook`, sealed with the first key.
    fn seal_as(&self, what: Sealed, webhook: &WebhookId, plain: &str) -> String {
        let key = &self.keys[0];
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = what.associated_data(webhook);
        let payload = Payload {
            msg: plain.as_bytes(),
            aad: &aad,
        };
        let ciphertext = key
            .aead
            .encrypt(&nonce, payload)
            .expect("XChaCha20-Poly1305 seals any message of a secret's size");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        format!(
            "{SEALED_PREFIX}{}:{}",
            key.id,
            URL_SAFE_NO_PAD.encode(sealed)
        )
    }

    /// The secret `stored` holds for `webhook`: opened when sealed, as it is when it is a
    /// plaintext secret of an older version.
    pub(crate) fn open(&self, webhook: &WebhookId, stored: &str) -> Result<String, SealingError> {
        if !stored.starts_with(SEALED_PREFIX) {
            return Ok(stored.to_owned());
        }
        self.open_as(Sealed::SigningSecrets, webhook, stored)
    }

    /// The value of kind `what` that `stored`, a sealed value, holds for `webhook`.
    fn open_as(
        &self,
        what: Sealed,
        webhook: &WebhookId,
        stored: &str,
    ) -> Result<String, SealingError> {
        let malformed = || SealingError::Malformed {
            webhook: webhook.clone(),
            what,
        };
        let sealed = stored.strip_prefix(SEALED_PREFIX).ok_or_else(malformed)?;
        let (key_id, body) = sealed.split_once(':').ok_or_else(malformed)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| malformed())?;
        if bytes.len() < NONCE_LEN {
            return Err(malformed());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let mut candidates = self.keys.iter().filter(|k| k.id == key_id).peekable();
        if candidates.peek().is_none() {
            return Err(SealingError::UnknownKey {
                webhook: webhook.clone(),
                what,
                key_id: key_id.to_owned(),
                given: self.key_ids().join(", "),
            });
        }
        let aad = what.associated_data(webhook);
        let payload = || Payload {
            msg: ciphertext,
            aad: &aad,
        };
        let plain = candidates
            .find_map(|key| key.aead.decrypt(XNonce::from_slice(nonce), payload()).ok())
            .ok_or_else(|| SealingError::NotAuthentic {
                webhook: webhook.clone(),
                what,
                key_id: key_id.to_owned(),
            })?;
        String::from_utf8(plain).map_err(|_| malformed())
    }

    /// What `stored` should become when a store opens: `None` when it is sealed with the
    /// first key already (and opens), else the secret sealed with the first key — for a
    /// plaintext value of an older version, or one sealed with a key being retired. Fails
    /// like [`SecretCipher::open`], which is how a wrong key is caught at startup.
    pub(crate) fn reseal(
        &self,
        webhook: &WebhookId,
        stored: &str,
    ) -> Result<Option<String>, SealingError> {
        let secret = self.open(webhook, stored)?;
        Ok((!self.sealed_with_first_key(stored)).then(|| self.seal(webhook, &secret)))
    }

    fn sealed_with_first_key(&self, stored: &str) -> bool {
        stored.starts_with(&format!("{SEALED_PREFIX}{}:", self.keys[0].id))
    }

    /// [`SecretCipher::open`] for a webhook read back, whose `secret` is as stored.
    pub(crate) fn open_webhook(
        &self,
        mut webhook: crate::Webhook,
    ) -> Result<crate::Webhook, SealingError> {
        webhook.secret = self.open(&webhook.id, &webhook.secret)?;
        Ok(webhook)
    }

    /// `headers` of `webhook` as stored: `None` for none, else their JSON sealed with the
    /// first key (bound to the webhook and to being headers).
    pub(crate) fn seal_headers(
        &self,
        webhook: &WebhookId,
        headers: &CustomHeaders,
    ) -> Option<String> {
        if headers.is_empty() {
            return None;
        }
        let json = serde_json::to_string(headers).expect("header names and values serialize");
        Some(self.seal_as(Sealed::CustomHeaders, webhook, &json))
    }

    /// The custom headers `stored` holds for `webhook` (none for `None`). Headers were
    /// sealed from the start, so a value that is not sealed is refused as malformed.
    pub(crate) fn open_headers(
        &self,
        webhook: &WebhookId,
        stored: Option<&str>,
    ) -> Result<CustomHeaders, SealingError> {
        let Some(stored) = stored else {
            return Ok(CustomHeaders::default());
        };
        let json = self.open_as(Sealed::CustomHeaders, webhook, stored)?;
        serde_json::from_str(&json).map_err(|_| SealingError::Malformed {
            webhook: webhook.clone(),
            what: Sealed::CustomHeaders,
        })
    }

    /// [`SecretCipher::reseal`] for a stored header set.
    pub(crate) fn reseal_headers(
        &self,
        webhook: &WebhookId,
        stored: &str,
    ) -> Result<Option<String>, SealingError> {
        let headers = self.open_headers(webhook, Some(stored))?;
        Ok(if self.sealed_with_first_key(stored) {
            None
        } else {
            self.seal_headers(webhook, &headers)
        })
    }
}

/// A fresh random key, as a key file holds it (base64 of 32 bytes).
pub fn generate_key() -> String {
    let mut key = [0u8; 32];
    OsRng.fill_bytes(&mut key);
    STANDARD.encode(key)
}

/// 32 bytes from 64 hex digits, or from base64 (standard or URL-safe, padded or not).
fn decode_key(text: &str) -> Option<[u8; 32]> {
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        let unpadded = text.trim_end_matches('=');
        STANDARD_NO_PAD
            .decode(unpadded)
            .or_else(|_| URL_SAFE_NO_PAD.decode(unpadded))
            .ok()?
    };
    bytes.try_into().ok()
}

/// The short public name of `key`: the first 4 bytes of SHA-256 over a label and the key.
fn key_id(key: &[u8; 32]) -> String {
    let digest = Sha256::new()
        .chain_update(b"admin-webhooks secret key id\0")
        .chain_update(key)
        .finalize();
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
