//! The sealed format's promises: round trips, key rotation, refusals, key parsing.

use super::*;

fn cipher(keys: &[[u8; 32]]) -> SecretCipher {
    SecretCipher::new(keys).unwrap()
}

fn webhook() -> WebhookId {
    WebhookId::generate()
}

const OLD: [u8; 32] = [1; 32];
const NEW: [u8; 32] = [2; 32];

#[test]
fn a_sealed_secret_opens_to_itself_and_shows_nothing_of_it() {
    let sealing = cipher(&[NEW]);
    let hook = webhook();
    let sealed = sealing.seal(&hook, "whsec_abcdef");
    assert!(sealed.starts_with("sealed:v1:"), "{sealed}");
    assert!(!sealed.contains("whsec_"), "{sealed}");
    assert_eq!(sealing.open(&hook, &sealed).unwrap(), "whsec_abcdef");
    // A fresh nonce each time: the same secret never seals to the same text.
    assert_ne!(sealing.seal(&hook, "whsec_abcdef"), sealed);
}

#[test]
fn plaintext_of_an_older_version_opens_as_it_is_and_is_resealed() {
    let sealing = cipher(&[NEW]);
    let hook = webhook();
    assert_eq!(sealing.open(&hook, "whsec_legacy").unwrap(), "whsec_legacy");
    let resealed = sealing.reseal(&hook, "whsec_legacy").unwrap().unwrap();
    assert_eq!(sealing.open(&hook, &resealed).unwrap(), "whsec_legacy");
    assert_eq!(sealing.reseal(&hook, &resealed).unwrap(), None);
}

#[test]
fn new_keys_seal_and_old_keys_still_open_until_resealed() {
    let hook = webhook();
    let old_sealed = cipher(&[OLD]).seal(&hook, "whsec_old");
    let rotated = cipher(&[NEW, OLD]);
    assert_eq!(rotated.open(&hook, &old_sealed).unwrap(), "whsec_old");
    let resealed = rotated.reseal(&hook, &old_sealed).unwrap().unwrap();
    let new_only = cipher(&[NEW]);
    assert_eq!(new_only.open(&hook, &resealed).unwrap(), "whsec_old");
    assert!(matches!(
        new_only.open(&hook, &old_sealed),
        Err(SealingError::UnknownKey { .. })
    ));
}

#[test]
fn a_wrong_key_or_another_webhook_cannot_open() {
    let hook = webhook();
    let sealed = cipher(&[OLD]).seal(&hook, "whsec_x");
    let err = cipher(&[NEW]).open(&hook, &sealed).unwrap_err();
    assert!(
        err.to_string().contains("not among the keys given"),
        "{err}"
    );
    assert!(matches!(
        cipher(&[OLD]).open(&webhook(), &sealed),
        Err(SealingError::NotAuthentic { .. })
    ));
    let (head, body) = sealed.rsplit_once(':').unwrap();
    let tampered = format!("{head}:A{}", &body[1..]);
    assert!(matches!(
        cipher(&[OLD]).open(&hook, &tampered),
        Err(SealingError::NotAuthentic { .. } | SealingError::Malformed { .. })
    ));
    assert!(matches!(
        cipher(&[OLD]).open(&hook, "sealed:v1:nokeyid"),
        Err(SealingError::Malformed { .. })
    ));
}

#[test]
fn keys_parse_from_base64_or_hex_lines_or_commas() {
    let b64 = STANDARD.encode(NEW);
    let hex: String = OLD.iter().map(|b| format!("{b:02x}")).collect();
    let from_lines = SecretCipher::parse(&format!("# rotated in May\n{b64}\n\n{hex}\n")).unwrap();
    let from_commas = SecretCipher::parse(&format!("{b64}, {hex}")).unwrap();
    let expected = cipher(&[NEW, OLD]);
    assert_eq!(from_lines.key_ids(), expected.key_ids());
    assert_eq!(from_commas.key_ids(), expected.key_ids());
    assert!(matches!(
        SecretCipher::parse(" \n# nothing\n"),
        Err(SealingError::NoKeys)
    ));
    assert!(matches!(
        SecretCipher::parse(&format!("{b64}\nc2hvcnQ=")),
        Err(SealingError::InvalidKey { position: 2 })
    ));
    assert!(SecretCipher::parse(&generate_key()).is_ok());
}

#[test]
fn debug_shows_key_ids_only() {
    let shown = format!("{:?}", cipher(&[NEW]));
    assert!(shown.contains(&key_id(&NEW)), "{shown}");
    assert!(!shown.contains(&STANDARD.encode(NEW)), "{shown}");
}

#[cfg(unix)]
#[test]
fn a_created_key_file_is_private_and_read_back_the_next_time() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret.key");
    let (first, created) = SecretCipher::load_or_create(&path).unwrap();
    assert!(created);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let (again, created) = SecretCipher::load_or_create(&path).unwrap();
    assert!(!created);
    assert_eq!(first.key_ids(), again.key_ids());
}
