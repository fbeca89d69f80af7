//! The sender against real receivers on 127.0.0.1: headers and signatures (checked by
//! three independent verifiers), failure classes, TLS policy and the SSRF guard.
//!
//! Loopback is not a public address, so every test that must reach a receiver runs the
//! sender with `dev: true`; `dev` relaxes only the address and scheme rules, never
//! certificate checks, which the TLS tests assert. The strict-mode tests check that
//! nothing reaches the receiver at all.

mod failures;
mod signing;
mod ssrf;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use admin_webhooks_delivery::sender::{AttemptRequest, Sender, SenderConfig};
use domain::{CustomHeaders, DeliveryId, EventId};

use test_support::certs::TestCa;

/// The guide's Node.js verification script (see the file for its contract).
const NODE_VERIFY_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/verify_admin_signature.js"
);

/// A sender for tests: `dev` as given, trusting `ca` besides the public roots.
fn sender(dev: bool, ca: Option<&TestCa>, attempt_timeout: Duration) -> Sender {
    Sender::new(SenderConfig {
        dev,
        extra_ca_pem: ca.map(|ca| ca.pem().into_bytes()),
        attempt_timeout,
        user_agent: SenderConfig::default_user_agent(),
    })
    .expect("sender")
}

/// A dev-mode sender with the default 3 s timeout and no extra CA.
fn dev_sender() -> Sender {
    sender(true, None, Duration::from_secs(3))
}

/// One delivery's data, owned, so tests can borrow an [`AttemptRequest`] from it.
struct Delivery {
    secrets: Vec<String>,
    webhook_id: domain::WebhookId,
    event_id: EventId,
    delivery_id: DeliveryId,
    event_type: String,
    body: Arc<[u8]>,
    headers: CustomHeaders,
}

impl Delivery {
    fn new() -> Self {
        Self::with_body(
            // Non-ASCII on purpose: signatures cover bytes, not characters.
            r#"{"id":"evt_x","type":"user.created","timestamp":"2025-01-15T14:32:00Z","data":{"user_id":"usr_9x2k4m7","name":"Zoë ☃"},"metadata":{}}"#
                .as_bytes(),
        )
    }

    fn with_body(body: &[u8]) -> Self {
        Self {
            secrets: vec![domain::signature::generate_secret()],
            webhook_id: domain::WebhookId::generate(),
            event_id: EventId::generate(),
            delivery_id: DeliveryId::generate(),
            event_type: "user.created".to_owned(),
            body: Arc::from(body),
            headers: CustomHeaders::default(),
        }
    }

    fn request<'a>(&'a self, url: &'a str) -> AttemptRequest<'a> {
        AttemptRequest {
            url,
            webhook_id: &self.webhook_id,
            attempt: 1,
            secrets: &self.secrets,
            event_id: self.event_id.as_str(),
            event_type: &self.event_type,
            delivery_id: self.delivery_id.as_str(),
            body: &self.body,
            headers: &self.headers,
        }
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}
