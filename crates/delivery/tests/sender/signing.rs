//! A successful attempt: the exact headers of SPEC §4, and signatures that verify with
//! three verifiers written independently of the server (the `admin-webhooks-verify`
//! crate, the `standardwebhooks` crate, the guide's Node.js snippet); secret rotation;
//! HTTP/2 and connection reuse.

use std::process::Command;
use std::time::Duration;

use admin_webhooks_delivery::sender::AttemptOutcome;
use http::Version;
use verify::{DEFAULT_TOLERANCE_SECS, verify_admin_signature, verify_standard};

use crate::NODE_VERIFY_SCRIPT;
use crate::{Delivery, dev_sender, now_unix, sender};
use test_support::certs::{LOOPBACK_NAMES, TestCa, Validity};
use test_support::receiver::{Receiver, Recorded, Reply};

/// Sends `delivery` once to a fresh HTTP receiver answering 200 and returns what it saw.
async fn deliver_once(delivery: &Delivery) -> Recorded {
    let receiver = Receiver::http(Reply::ok()).await;
    let result = dev_sender()
        .send(&delivery.request(&receiver.url("/webhook")))
        .await;
    assert_eq!(result.outcome, AttemptOutcome::Succeeded, "{result:?}");
    let mut requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    requests.remove(0)
}

#[tokio::test]
async fn a_2xx_succeeds_and_carries_every_header_of_the_contract() {
    let delivery = Delivery::new();
    let receiver = Receiver::http(Reply::ok().body("Received")).await;
    let before = now_unix();
    let result = dev_sender()
        .send(&delivery.request(&receiver.url("/webhook")))
        .await;
    let after = now_unix();

    assert_eq!(result.outcome, AttemptOutcome::Succeeded);
    assert_eq!(result.outcome.error_class(), None);
    assert_eq!(result.status_code, Some(200));
    assert_eq!(result.response_body.as_deref(), Some("Received"));
    assert_eq!(result.error_message, None);
    assert_eq!(result.retry_after, None);

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "exactly one POST per attempt");
    let seen = &requests[0];
    assert_eq!(seen.method, http::Method::POST);
    assert_eq!(seen.path, "/webhook");
    assert_eq!(
        seen.version,
        Version::HTTP_11,
        "plain HTTP stays on HTTP/1.1"
    );
    assert_eq!(
        &seen.body[..],
        &delivery.body[..],
        "body bytes exactly as given"
    );

    let event_id = delivery.event_id.as_str();
    assert_eq!(seen.header("content-type"), "application/json");
    assert_eq!(seen.header("idempotency-key"), event_id);
    assert_eq!(seen.header("x-admin-event"), "user.created");
    assert_eq!(
        seen.header("x-admin-delivery"),
        delivery.delivery_id.as_str()
    );
    assert_eq!(seen.header("webhook-id"), event_id);
    assert_eq!(
        seen.header("user-agent"),
        format!("Admin-Webhooks/{}", env!("CARGO_PKG_VERSION"))
    );
    let timestamp: i64 = seen
        .header("webhook-timestamp")
        .parse()
        .expect("unix seconds");
    assert!(
        (before..=after).contains(&timestamp),
        "{before} <= {timestamp} <= {after}"
    );

    let secret = &delivery.secrets[0];
    let admin = seen.header("x-admin-signature");
    assert!(
        admin.starts_with("sha256=") && admin.len() == 7 + 64,
        "{admin}"
    );
    assert_eq!(
        admin,
        domain::signature::admin_signature(secret, &delivery.body)
    );
    let standard = seen.header("webhook-signature");
    assert_eq!(
        standard.split(' ').count(),
        1,
        "one secret, one entry: {standard}"
    );
    assert!(standard.starts_with("v1,"), "{standard}");
}

#[tokio::test]
async fn custom_headers_are_sent_and_never_replace_the_services_own() {
    let mut delivery = Delivery::new();
    delivery.headers = domain::CustomHeaders::parse([
        (
            "Authorization".to_owned(),
            "Bearer gateway-token-0123".to_owned(),
        ),
        ("X-Tenant".to_owned(), "t_42".to_owned()),
    ])
    .unwrap();
    let seen = deliver_once(&delivery).await;
    assert_eq!(seen.header("authorization"), "Bearer gateway-token-0123");
    assert_eq!(seen.header("x-tenant"), "t_42");

    // Registration refuses the service's own names; a stored set that holds them anyway
    // (read straight from JSON, past the rules) still cannot replace one.
    let mut delivery = Delivery::new();
    delivery.headers = serde_json::from_value(serde_json::json!([
        { "name": "User-Agent", "value": "evil" },
        { "name": "Content-Type", "value": "text/plain" },
        { "name": "X-Admin-Signature", "value": "sha256=forged" },
        { "name": "webhook-id", "value": "evt_forged" },
        { "name": "Host", "value": "elsewhere.example" },
        { "name": "X-Kept", "value": "yes" },
    ]))
    .unwrap();
    let seen = deliver_once(&delivery).await;
    assert_eq!(
        seen.header("user-agent"),
        format!("Admin-Webhooks/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(seen.header("content-type"), "application/json");
    assert_eq!(
        seen.header("x-admin-signature"),
        domain::signature::admin_signature(&delivery.secrets[0], &delivery.body)
    );
    assert_eq!(seen.header("webhook-id"), delivery.event_id.as_str());
    assert_ne!(seen.header("host"), "elsewhere.example");
    assert_eq!(seen.header("x-kept"), "yes");
}

#[tokio::test]
async fn signatures_verify_with_the_verify_crate() {
    let delivery = Delivery::new();
    let seen = deliver_once(&delivery).await;
    let secret = &delivery.secrets[0];

    verify_admin_signature(secret, &seen.body, seen.header("x-admin-signature")).unwrap();
    verify_standard(
        secret,
        seen.header("webhook-id"),
        seen.header("webhook-timestamp"),
        seen.header("webhook-signature"),
        &seen.body,
        now_unix(),
        DEFAULT_TOLERANCE_SECS,
    )
    .unwrap();

    // And they mean something: another secret or a changed body fails.
    let other = domain::signature::generate_secret();
    assert!(verify_admin_signature(&other, &seen.body, seen.header("x-admin-signature")).is_err());
    assert!(verify_admin_signature(secret, b"{}", seen.header("x-admin-signature")).is_err());
}

#[tokio::test]
async fn the_standard_signature_verifies_with_the_standardwebhooks_crate() {
    let delivery = Delivery::new();
    let seen = deliver_once(&delivery).await;

    let webhook = standardwebhooks::Webhook::new(&delivery.secrets[0]).expect("secret decodes");
    webhook
        .verify(&seen.body, &seen.headers)
        .expect("standardwebhooks accepts it");

    let other = standardwebhooks::Webhook::new(&domain::signature::generate_secret()).unwrap();
    assert!(other.verify(&seen.body, &seen.headers).is_err());
}

/// Runs the guide's `verifyWebhookSignature` under Node and returns its verdict.
fn node_verifies(body: &[u8], signature: &str, secret: &str) -> bool {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("body"), body).unwrap();
    std::fs::write(path("signature"), signature).unwrap();
    std::fs::write(path("secret"), secret).unwrap();
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    let output = Command::new(&node)
        .arg(NODE_VERIFY_SCRIPT)
        .args([path("body"), path("signature"), path("secret")])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{node}` (install Node.js or set NODE): {e}"));
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    match String::from_utf8_lossy(&output.stdout).trim() {
        "ok" => true,
        "fail" => false,
        other => panic!("unexpected output from the script: {other}"),
    }
}

#[tokio::test]
async fn the_admin_signature_verifies_with_the_guides_node_snippet() {
    let delivery = Delivery::new();
    assert!(!delivery.body.is_ascii(), "the body exercises UTF-8");
    let seen = deliver_once(&delivery).await;
    let signature = seen.header("x-admin-signature");
    let secret = &delivery.secrets[0];

    assert!(
        node_verifies(&seen.body, signature, secret),
        "the guide's snippet must verify unchanged"
    );
    assert!(!node_verifies(b"{\"tampered\":true}", signature, secret));
    assert!(!node_verifies(
        &seen.body,
        signature,
        &domain::signature::generate_secret()
    ));
}

#[tokio::test]
async fn during_rotation_both_secrets_verify() {
    let mut delivery = Delivery::new();
    let previous = delivery.secrets[0].clone();
    let current = domain::signature::generate_secret();
    delivery.secrets = vec![current.clone(), previous.clone()];
    let seen = deliver_once(&delivery).await;

    let header = seen.header("webhook-signature");
    let entries: Vec<&str> = header.split(' ').collect();
    assert_eq!(entries.len(), 2, "one entry per secret: {header}");
    let (id, ts) = (seen.header("webhook-id"), seen.header("webhook-timestamp"));
    let now = now_unix();
    // Each entry verifies with its own secret, in order: current first.
    verify_standard(&current, id, ts, entries[0], &seen.body, now, 300).unwrap();
    verify_standard(&previous, id, ts, entries[1], &seen.body, now, 300).unwrap();
    assert!(verify_standard(&current, id, ts, entries[1], &seen.body, now, 300).is_err());
    // A receiver on either secret accepts the whole header.
    for secret in [&current, &previous] {
        verify_standard(secret, id, ts, header, &seen.body, now, 300).unwrap();
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&seen.body, &seen.headers)
            .unwrap();
    }
    // X-Admin-Signature has room for one signature: the current secret's.
    verify_admin_signature(&current, &seen.body, seen.header("x-admin-signature")).unwrap();
    assert!(
        verify_admin_signature(&previous, &seen.body, seen.header("x-admin-signature")).is_err()
    );
}

#[tokio::test]
async fn http2_is_used_when_the_receiver_offers_it_and_connections_are_reused() {
    let ca = TestCa::new("Admin Webhooks test CA");
    let receiver = Receiver::https(Reply::ok(), ca.leaf(LOOPBACK_NAMES, Validity::Current)).await;
    let sender = sender(true, Some(&ca), Duration::from_secs(3));
    let delivery = Delivery::new();
    let url = receiver.url("/webhook");

    for _ in 0..3 {
        let result = sender.send(&delivery.request(&url)).await;
        assert_eq!(result.outcome, AttemptOutcome::Succeeded, "{result:?}");
    }
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests.iter().all(|r| r.version == Version::HTTP_2),
        "ALPN picked h2"
    );
    assert_eq!(
        receiver.connections(),
        1,
        "one pooled connection serves every attempt"
    );

    // A clone shares the pool.
    let result = sender.clone().send(&delivery.request(&url)).await;
    assert_eq!(result.outcome, AttemptOutcome::Succeeded);
    assert_eq!(receiver.connections(), 1);
}

#[tokio::test]
async fn http1_is_used_when_the_receiver_offers_only_http1() {
    let ca = TestCa::new("Admin Webhooks test CA");
    let identity = ca.leaf(LOOPBACK_NAMES, Validity::Current);
    let receiver = Receiver::https_with_alpn(Reply::ok(), identity, &[b"http/1.1"]).await;
    let result = sender(true, Some(&ca), Duration::from_secs(3))
        .send(&Delivery::new().request(&receiver.url("/")))
        .await;
    assert_eq!(result.outcome, AttemptOutcome::Succeeded, "{result:?}");
    assert_eq!(receiver.requests()[0].version, Version::HTTP_11);
}

#[tokio::test]
async fn the_attempt_records_the_headers_it_sent_and_received() {
    let delivery = Delivery::new();
    let receiver = Receiver::http(Reply::ok().header("x-receiver", "seen").body("Received")).await;
    let result = dev_sender()
        .send(&delivery.request(&receiver.url("/webhook")))
        .await;
    assert_eq!(result.outcome, AttemptOutcome::Succeeded, "{result:?}");
    let seen = receiver.requests().remove(0);

    let sent = result.request_headers.expect("request headers recorded");
    assert!(!sent.truncated);
    for name in [
        "content-type",
        "x-admin-signature",
        "idempotency-key",
        "x-admin-event",
        "x-admin-delivery",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "user-agent",
        "content-length",
    ] {
        assert_eq!(
            sent.get(name),
            Some(seen.header(name)),
            "{name}: recorded as the receiver saw it"
        );
    }
    let recorded = sent
        .headers
        .iter()
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !recorded.contains(&delivery.secrets[0]),
        "the secret is never recorded"
    );

    let received = result.response_headers.expect("response headers recorded");
    assert_eq!(received.get("x-receiver"), Some("seen"));
    assert_eq!(received.get("content-length"), Some("8"));
}

#[tokio::test]
async fn an_attempt_records_custom_header_values_masked_only() {
    let mut delivery = Delivery::new();
    delivery.headers = domain::CustomHeaders::parse([(
        "Authorization".to_owned(),
        "Bearer gateway-token-0123".to_owned(),
    )])
    .unwrap();
    let receiver = Receiver::http(Reply::ok()).await;
    let result = dev_sender()
        .send(&delivery.request(&receiver.url("/webhook")))
        .await;
    assert_eq!(result.outcome, AttemptOutcome::Succeeded, "{result:?}");
    assert_eq!(
        receiver.requests()[0].header("authorization"),
        "Bearer gateway-token-0123",
        "the receiver gets the value itself"
    );

    let sent = result.request_headers.expect("request headers recorded");
    assert_eq!(
        sent.get("authorization"),
        Some(domain::custom_headers::masked("Bearer gateway-token-0123").as_str()),
        "the record shows the header, masked as the API shows it"
    );
    assert!(
        sent.headers
            .iter()
            .all(|(_, v)| !v.contains("gateway-token")),
        "the value never reaches the activity log"
    );
}
