//! Certificate policy: every bad certificate fails the attempt as `tls` before a request
//! is sent, also in `--dev`; a private CA given as extra roots is trusted; a broken CA
//! file is refused at start.
//!
//! Not covered: a server offering only TLS 1.0/1.1. rustls (the only TLS stack in the
//! test dependencies) cannot speak those versions, so such a server cannot be built here;
//! the client side is pinned by `min_tls_version(TLS 1.2)`, and rustls itself implements
//! nothing older.

use std::time::Duration;

use admin_webhooks_delivery::sender::{
    AttemptOutcome, AttemptResult, Sender, SenderConfig, SenderError,
};
use domain::ErrorClass;

use crate::{Delivery, sender};
use test_support::certs::{LOOPBACK_NAMES, ServerIdentity, TestCa, Validity, self_signed};
use test_support::receiver::{Receiver, Reply};

/// Sends one attempt with a dev-mode sender that trusts `ca` to an HTTPS receiver
/// presenting `identity`; returns the result and the receiver.
async fn attempt(ca: &TestCa, identity: ServerIdentity) -> (AttemptResult, Receiver) {
    let receiver = Receiver::https(Reply::ok(), identity).await;
    let result = sender(true, Some(ca), Duration::from_secs(3))
        .send(&Delivery::new().request(&receiver.url("/webhook")))
        .await;
    (result, receiver)
}

fn assert_tls_failure(result: &AttemptResult, receiver: &Receiver, reason: &str) {
    assert_eq!(
        result.outcome,
        AttemptOutcome::Failed(ErrorClass::Tls),
        "{result:?}"
    );
    assert_eq!(result.status_code, None);
    let message = result.error_message.as_deref().expect("a message");
    assert!(
        message.contains(reason),
        "`{message}` should mention `{reason}`"
    );
    assert!(
        receiver.requests().is_empty(),
        "no request goes over a refused handshake"
    );
}

#[tokio::test]
async fn a_certificate_from_the_extra_ca_is_trusted() {
    let ca = TestCa::new("Admin Webhooks test CA");
    let (result, receiver) = attempt(&ca, ca.leaf(LOOPBACK_NAMES, Validity::Current)).await;
    assert_eq!(result.outcome, AttemptOutcome::Succeeded, "{result:?}");
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn the_same_certificate_fails_without_the_extra_ca() {
    let ca = TestCa::new("Admin Webhooks test CA");
    let receiver = Receiver::https(Reply::ok(), ca.leaf(LOOPBACK_NAMES, Validity::Current)).await;
    let result = sender(true, None, Duration::from_secs(3))
        .send(&Delivery::new().request(&receiver.url("/")))
        .await;
    assert_tls_failure(&result, &receiver, "trusted authority");
}

#[tokio::test]
async fn a_self_signed_certificate_fails_even_in_dev() {
    let ca = TestCa::new("Admin Webhooks test CA");
    let (result, receiver) = attempt(&ca, self_signed(LOOPBACK_NAMES)).await;
    assert_tls_failure(&result, &receiver, "trusted authority");
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_fails() {
    let trusted = TestCa::new("Admin Webhooks test CA");
    let unknown = TestCa::new("Somebody else's CA");
    let (result, receiver) =
        attempt(&trusted, unknown.leaf(LOOPBACK_NAMES, Validity::Current)).await;
    assert_tls_failure(&result, &receiver, "trusted authority");
}

#[tokio::test]
async fn a_certificate_for_another_host_fails() {
    let ca = TestCa::new("Admin Webhooks test CA");
    let (result, receiver) = attempt(&ca, ca.leaf(&["wrong.example"], Validity::Current)).await;
    assert_tls_failure(&result, &receiver, "host name");
}

#[tokio::test]
async fn an_expired_certificate_fails() {
    let ca = TestCa::new("Admin Webhooks test CA");
    let (result, receiver) = attempt(&ca, ca.leaf(LOOPBACK_NAMES, Validity::Expired)).await;
    assert_tls_failure(&result, &receiver, "expired");
}

#[tokio::test]
async fn https_to_a_plain_http_port_is_a_tls_failure() {
    let receiver = Receiver::http(Reply::ok()).await;
    let url = receiver.url("/").replacen("http://", "https://", 1);
    let result = sender(true, None, Duration::from_secs(3))
        .send(&Delivery::new().request(&url))
        .await;
    assert_tls_failure(&result, &receiver, "TLS");
}

#[tokio::test]
async fn every_certificate_of_the_extra_ca_file_is_trusted() {
    let first = TestCa::new("First private CA");
    let second = TestCa::new("Second private CA");
    let bundle = format!("{}\n{}", first.pem(), second.pem());
    let sender = Sender::new(SenderConfig {
        dev: true,
        extra_ca_pem: Some(bundle.into_bytes()),
        ..SenderConfig::default()
    })
    .expect("a bundle of two CAs");
    for ca in [&first, &second] {
        let receiver =
            Receiver::https(Reply::ok(), ca.leaf(LOOPBACK_NAMES, Validity::Current)).await;
        let result = sender
            .send(&Delivery::new().request(&receiver.url("/")))
            .await;
        assert_eq!(result.outcome, AttemptOutcome::Succeeded, "{result:?}");
    }
}

#[test]
fn a_broken_extra_ca_file_is_refused_with_a_clear_error() {
    let config = |pem: &str| SenderConfig {
        extra_ca_pem: Some(pem.as_bytes().to_vec()),
        ..SenderConfig::default()
    };
    let error = Sender::new(config("not a certificate")).unwrap_err();
    assert!(matches!(error, SenderError::NoCertificates), "{error}");
    assert!(error.to_string().contains("no PEM certificate"), "{error}");

    let truncated = TestCa::new("CA").pem();
    let truncated = &truncated[..truncated.len() / 2];
    let error = Sender::new(config(truncated)).unwrap_err();
    assert!(matches!(error, SenderError::InvalidPem(_)), "{error}");

    let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let error = Sender::new(config(garbage)).unwrap_err();
    assert!(
        matches!(error, SenderError::InvalidCertificate { index: 1, .. }),
        "{error}"
    );
}
