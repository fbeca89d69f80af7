//! Strict mode (no `--dev`): internal addresses are never connected to.
//!
//! Every URL here points at a live HTTPS receiver whose certificate the sender trusts, so
//! the only thing that can stop the attempt is the address policy; the receiver must see
//! no connection at all. Names that resolve to internal addresses (DNS rebinding) are
//! covered by the unit tests of `sender`, which can make a name resolve to loopback.

use std::time::Duration;

use admin_webhooks_delivery::sender::AttemptOutcome;
use domain::ErrorClass;

use crate::{Delivery, sender};
use test_support::certs::{LOOPBACK_NAMES, TestCa, Validity};
use test_support::receiver::{Receiver, Reply};

#[tokio::test]
async fn loopback_urls_are_blocked_and_never_connected_to() {
    let ca = TestCa::new("Admin Webhooks test CA");
    let receiver = Receiver::https(Reply::ok(), ca.leaf(LOOPBACK_NAMES, Validity::Current)).await;
    let strict = sender(false, Some(&ca), Duration::from_secs(3));
    let port = receiver.port();
    let delivery = Delivery::new();

    for url in [
        format!("https://127.0.0.1:{port}/"),
        format!("https://[::1]:{port}/"),
        format!("https://localhost:{port}/"),
        format!("https://LOCALHOST.:{port}/"),
        format!("https://[::ffff:127.0.0.1]:{port}/"),
        format!("https://0.0.0.0:{port}/"),
        format!("http://127.0.0.1:{port}/"),
    ] {
        let result = strict.send(&delivery.request(&url)).await;
        assert_eq!(
            result.outcome,
            AttemptOutcome::Failed(ErrorClass::SsrfBlocked),
            "{url}: {result:?}"
        );
        assert_eq!(result.status_code, None);
        let message = result.error_message.expect("a message");
        assert!(message.starts_with("not sent"), "{message}");
    }
    assert!(receiver.requests().is_empty(), "the receiver saw nothing");
    assert_eq!(receiver.connections(), 0, "not even a connection");
}

#[tokio::test]
async fn internal_addresses_of_every_kind_are_blocked() {
    let strict = sender(false, None, Duration::from_secs(3));
    let delivery = Delivery::new();
    for host in [
        "10.0.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "[fd00::1]",
        "[fe80::1]",
    ] {
        let url = format!("https://{host}/webhook");
        let result = strict.send(&delivery.request(&url)).await;
        assert_eq!(
            result.outcome,
            AttemptOutcome::Failed(ErrorClass::SsrfBlocked),
            "{url}"
        );
        // Refused before any connection attempt, so well within the timeout.
        assert!(
            result.response_ms < 1000,
            "{url}: {} ms",
            result.response_ms
        );
    }
}

#[tokio::test]
async fn the_same_receiver_is_reached_in_dev_through_the_resolver() {
    // The control for the test above: in dev the very same URL by name works, so what
    // blocked it in strict mode was the policy, not the receiver.
    let ca = TestCa::new("Admin Webhooks test CA");
    let receiver = Receiver::https(Reply::ok(), ca.leaf(LOOPBACK_NAMES, Validity::Current)).await;
    let dev = sender(true, Some(&ca), Duration::from_secs(3));
    let url = format!("https://localhost:{}/", receiver.port());
    let result = dev.send(&Delivery::new().request(&url)).await;
    assert_eq!(result.outcome, AttemptOutcome::Succeeded, "{result:?}");
    assert_eq!(receiver.requests().len(), 1);
}
