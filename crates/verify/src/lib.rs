//! Receiver-side verification of the signatures Admin Webhooks puts on every delivery.
//!
//! A receiver can check either of the two signatures an attempt carries:
//!
//! - `X-Admin-Signature: sha256=<hex>` with [`verify_admin_signature`]: HMAC-SHA256 over
//!   the raw body bytes, keyed with the UTF-8 bytes of the whole secret string
//!   (`whsec_…`), the scheme of the user guide's Node.js snippet.
//! - The Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature`) with [`verify_standard`]: HMAC-SHA256 over
//!   `{id}.{timestamp}.{body}`, keyed with the base64-decoded part of the secret after
//!   `whsec_`, plus a timestamp window against replays.
//!
//! Invariants: every comparison of a signature is constant time; the body is never
//! parsed or normalised (verify the bytes exactly as received, before any JSON parsing);
//! this crate depends on nothing of the server, so it is also an independent check of the
//! server's signing code in its tests.
//!
//! ```
//! use admin_webhooks_verify::{verify_admin_signature, verify_standard, DEFAULT_TOLERANCE_SECS};
//!
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let body = br#"{"test": 2432232314}"#;
//!
//! // The value of the `X-Admin-Signature` header.
//! let header = "sha256=80ec8a89ce3cd22133a1066caecb4d04fea7467657c8514d717ec42c38a5c94c";
//! verify_admin_signature(secret, body, header)?;
//!
//! // The Standard Webhooks headers, checked against the receiver's clock (here fixed).
//! let now = 1614265330 + 10;
//! verify_standard(
//!     secret,
//!     "msg_p5jXN8AQM9LWM0D4loKWxJek",                     // webhook-id
//!     "1614265330",                                       // webhook-timestamp
//!     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", // webhook-signature
//!     body,
//!     now,
//!     DEFAULT_TOLERANCE_SECS,
//! )?;
//!
//! // A modified body fails.
//! assert!(verify_admin_signature(secret, b"{}", header).is_err());
//! # Ok::<(), admin_webhooks_verify::VerifyError>(())
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of every Admin Webhooks signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// The replay window Standard Webhooks recommends: five minutes either way.
pub const DEFAULT_TOLERANCE_SECS: i64 = 5 * 60;

/// Why a signature was refused. None of the variants carries the secret or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is not of the form `sha256=<64 hex digits>`")]
    MalformedAdminHeader,
    #[error("the webhook-signature header holds no `v1,<base64>` entry")]
    NoStandardSignature,
    #[error("the secret's part after `whsec_` is not valid base64")]
    InvalidSecret,
    #[error("the webhook-timestamp header is not a whole number of seconds")]
    InvalidTimestamp,
    #[error(
        "the message timestamp is {age_secs} s away from now, outside the tolerance of {tolerance_secs} s"
    )]
    TimestampOutOfTolerance { age_secs: i64, tolerance_secs: i64 },
    #[error("no signature matches the body and secret")]
    Mismatch,
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Checks `X-Admin-Signature` (`sha256=<hex>`) against the raw body.
///
/// `secret` is the whole secret string as the dashboard shows it, `whsec_` included.
pub fn verify_admin_signature(secret: &str, body: &[u8], header: &str) -> Result<(), VerifyError> {
    let hex_digest = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(VerifyError::MalformedAdminHeader)?;
    let mut given = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut given).map_err(|_| VerifyError::MalformedAdminHeader)?;
    let expected = mac(secret.as_bytes(), &[body]);
    if bool::from(expected.ct_eq(&given)) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Checks the Standard Webhooks signature of one message.
///
/// `msg_id`, `timestamp` and `signature_header` are the values of `webhook-id`,
/// `webhook-timestamp` and `webhook-signature`. The header may hold several
/// space-separated `v1,<base64>` entries (two while the sender rotates its secret): one
/// matching entry is enough; entries of other versions are ignored. A timestamp more than
/// `tolerance_secs` away from `now_unix`, in either direction, is refused even when the
/// signature matches, so a captured request cannot be replayed later.
pub fn verify_standard(
    secret: &str,
    msg_id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::InvalidTimestamp)?;
    let age_secs = now_unix.saturating_sub(ts);
    if age_secs.saturating_abs() > tolerance_secs {
        return Err(VerifyError::TimestampOutOfTolerance {
            age_secs,
            tolerance_secs,
        });
    }

    let encoded_key = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD
        .decode(encoded_key)
        .map_err(|_| VerifyError::InvalidSecret)?;
    let expected = mac(
        &key,
        &[
            msg_id.as_bytes(),
            b".",
            ts.to_string().as_bytes(),
            b".",
            body,
        ],
    );

    let mut saw_v1 = false;
    let mut matched = subtle::Choice::from(0u8);
    for entry in signature_header.split(' ').filter(|e| !e.is_empty()) {
        let Some(("v1", encoded)) = entry.split_once(',') else {
            continue;
        };
        saw_v1 = true;
        // An entry that is not base64 of 32 bytes simply does not match.
        if let Ok(given) = STANDARD.decode(encoded) {
            // Every entry is compared, so the time taken does not tell which one matched.
            matched |= expected.as_slice().ct_eq(&given);
        }
    }
    if !saw_v1 {
        Err(VerifyError::NoStandardSignature)
    } else if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OTHER: &str = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBvZiAzMiBieXRlcyE=";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const ADMIN: &str = "sha256=80ec8a89ce3cd22133a1066caecb4d04fea7467657c8514d717ec42c38a5c94c";

    fn standard(secret: &str, header: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        verify_standard(
            secret,
            MSG_ID,
            &TS.to_string(),
            header,
            body,
            now,
            DEFAULT_TOLERANCE_SECS,
        )
    }

    #[test]
    fn admin_signature_accepts_the_right_body_and_secret() {
        verify_admin_signature(SECRET, BODY, ADMIN).unwrap();
        // Hex case does not matter; surrounding whitespace from a header parser neither.
        verify_admin_signature(
            SECRET,
            BODY,
            &format!(" {} ", ADMIN.to_uppercase().replace("SHA256=", "sha256=")),
        )
        .unwrap();
    }

    #[test]
    fn admin_signature_refuses_changes() {
        assert_eq!(
            verify_admin_signature(SECRET, b"{\"test\": 1}", ADMIN),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify_admin_signature(OTHER, BODY, ADMIN),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn admin_signature_refuses_malformed_headers() {
        for header in [
            "",
            "sha256=",
            "80ec8a89",
            "sha1=80ec",
            &ADMIN[..ADMIN.len() - 2],
            &format!("{ADMIN}00"),
            "sha256=zz",
        ] {
            assert_eq!(
                verify_admin_signature(SECRET, BODY, header),
                Err(VerifyError::MalformedAdminHeader),
                "{header}"
            );
        }
    }

    #[test]
    fn standard_accepts_the_specification_example() {
        standard(SECRET, SIG, BODY, TS).unwrap();
    }

    #[test]
    fn standard_accepts_any_entry_of_a_rotation() {
        let bogus = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        standard(SECRET, &format!("{bogus} {SIG}"), BODY, TS).unwrap();
        standard(SECRET, &format!("{SIG} {bogus}"), BODY, TS).unwrap();
        // Other versions are skipped, not errors.
        standard(SECRET, &format!("v2,xyz {SIG}"), BODY, TS).unwrap();
        assert_eq!(
            standard(OTHER, &format!("{bogus} {SIG}"), BODY, TS),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn standard_refuses_changed_parts() {
        assert_eq!(standard(SECRET, SIG, b"{}", TS), Err(VerifyError::Mismatch));
        assert_eq!(
            verify_standard(SECRET, "msg_other", &TS.to_string(), SIG, BODY, TS, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify_standard(SECRET, MSG_ID, &(TS + 1).to_string(), SIG, BODY, TS, 300),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn standard_refuses_replays_and_future_timestamps() {
        standard(SECRET, SIG, BODY, TS + DEFAULT_TOLERANCE_SECS).unwrap();
        standard(SECRET, SIG, BODY, TS - DEFAULT_TOLERANCE_SECS).unwrap();
        assert_eq!(
            standard(SECRET, SIG, BODY, TS + DEFAULT_TOLERANCE_SECS + 1),
            Err(VerifyError::TimestampOutOfTolerance {
                age_secs: 301,
                tolerance_secs: 300
            })
        );
        assert!(matches!(
            standard(SECRET, SIG, BODY, TS - DEFAULT_TOLERANCE_SECS - 1),
            Err(VerifyError::TimestampOutOfTolerance { age_secs: -301, .. })
        ));
        // Extreme values do not overflow.
        assert!(standard(SECRET, SIG, BODY, i64::MIN).is_err());
        assert!(
            verify_standard(
                SECRET,
                MSG_ID,
                &i64::MIN.to_string(),
                SIG,
                BODY,
                i64::MAX,
                300
            )
            .is_err()
        );
    }

    #[test]
    fn standard_refuses_malformed_input() {
        assert_eq!(
            verify_standard(SECRET, MSG_ID, "yesterday", SIG, BODY, TS, 300),
            Err(VerifyError::InvalidTimestamp)
        );
        assert_eq!(
            standard(SECRET, "", BODY, TS),
            Err(VerifyError::NoStandardSignature)
        );
        assert_eq!(
            standard(SECRET, "v2,abc", BODY, TS),
            Err(VerifyError::NoStandardSignature)
        );
        assert_eq!(
            standard(SECRET, "v1,not-base64!", BODY, TS),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            standard("whsec_%%%", SIG, BODY, TS),
            Err(VerifyError::InvalidSecret)
        );
    }
}
