//! Unit tests of the sender that need to reach inside it: a name lookup that the test
//! controls (to make a name resolve to loopback, as DNS rebinding would), and the
//! excerpt decoding. The sender against real receivers is tested in `tests/sender/`.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

#[test]
fn excerpt_drops_a_character_cut_in_half() {
    let text = "é".repeat(3000); // 6000 bytes
    let bytes = &text.as_bytes()[..RESPONSE_EXCERPT_BYTES - 1];
    let excerpt = lossy_excerpt(bytes, true);
    assert_eq!(excerpt, "é".repeat(2047));
}

#[test]
fn excerpt_marks_invalid_bytes() {
    assert_eq!(lossy_excerpt(b"ok\xffok", false), "ok\u{fffd}ok");
    assert_eq!(lossy_excerpt(b"ok\xff", false), "ok\u{fffd}");
}

#[test]
fn zero_timeout_and_bad_user_agent_are_refused() {
    let zero = SenderConfig {
        attempt_timeout: Duration::ZERO,
        ..SenderConfig::default()
    };
    assert!(matches!(Sender::new(zero), Err(SenderError::ZeroTimeout)));
    let bad = SenderConfig {
        user_agent: "a\nb".into(),
        ..SenderConfig::default()
    };
    assert!(matches!(
        Sender::new(bad),
        Err(SenderError::InvalidUserAgent(_))
    ));
}

/// A lookup that answers from a fixed table, and fails for every other name.
fn table(entries: &[(&str, IpAddr)]) -> Lookup {
    let table: HashMap<String, IpAddr> =
        entries.iter().map(|(n, ip)| (n.to_string(), *ip)).collect();
    Arc::new(move |host: String| {
        let found = table.get(&host).copied();
        Box::pin(async move {
            found
                .map(|ip| vec![ip])
                .ok_or_else(|| io::Error::new(ErrorKind::NotFound, "no such host"))
        })
    })
}

fn request<'a>(url: &'a str, secrets: &'a [String], body: &'a Arc<[u8]>) -> AttemptRequest<'a> {
    static WEBHOOK: std::sync::LazyLock<domain::WebhookId> =
        std::sync::LazyLock::new(domain::WebhookId::generate);
    AttemptRequest {
        url,
        webhook_id: &WEBHOOK,
        attempt: 1,
        secrets,
        event_id: "evt_01JH0000000000000000000000",
        event_type: "user.created",
        delivery_id: "dlv_01JH0000000000000000000000",
        body,
        headers: &NO_HEADERS,
    }
}

static NO_HEADERS: domain::CustomHeaders = domain::CustomHeaders::EMPTY;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_blocked_at_connect_time() {
    // A live listener on the address the name points to: if the guard failed, the
    // connection would land here.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let strict = SenderConfig {
        dev: false,
        ..SenderConfig::default()
    };
    let sender = Sender::with_lookup(strict, table(&[("rebind.test", LOOPBACK)])).unwrap();

    let (secrets, body) = (vec!["whsec_AAAA".to_owned()], Arc::from(&b"{}"[..]));
    let url = format!("https://rebind.test:{port}/webhook");
    let result = sender.send(&request(&url, &secrets, &body)).await;

    assert_eq!(
        result.outcome,
        AttemptOutcome::Failed(ErrorClass::SsrfBlocked),
        "{result:?}"
    );
    let message = result.error_message.unwrap();
    assert!(
        message.contains("rebind.test") && message.contains("loopback"),
        "{message}"
    );
    // The sender has returned, so a connection it had made would be queued by now.
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == ErrorKind::WouldBlock),
        "nothing connected: {accepted:?}"
    );
}

#[tokio::test]
async fn in_dev_a_name_connects_to_what_it_resolves_to() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        // Read the head and body (small, one segment is enough on loopback), then answer.
        let mut buffer = vec![0u8; 64 * 1024];
        let _ = stream.read(&mut buffer).await.unwrap();
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
    });
    let dev = SenderConfig {
        dev: true,
        ..SenderConfig::default()
    };
    let sender = Sender::with_lookup(dev, table(&[("receiver.test", LOOPBACK)])).unwrap();

    let (secrets, body) = (vec!["whsec_AAAA".to_owned()], Arc::from(&b"{}"[..]));
    let url = format!("http://receiver.test:{port}/");
    let result = sender.send(&request(&url, &secrets, &body)).await;
    server.await.unwrap();

    assert_eq!(result.outcome, AttemptOutcome::Succeeded, "{result:?}");
    assert_eq!(result.status_code, Some(204));
}

#[tokio::test]
async fn a_failed_lookup_is_a_connect_failure() {
    let sender = Sender::with_lookup(SenderConfig::default(), table(&[])).unwrap();
    let (secrets, body) = (vec!["whsec_AAAA".to_owned()], Arc::from(&b"{}"[..]));
    let result = sender
        .send(&request("https://unknown.test/", &secrets, &body))
        .await;

    assert_eq!(
        result.outcome,
        AttemptOutcome::Failed(ErrorClass::Connect),
        "{result:?}"
    );
    let message = result.error_message.unwrap();
    assert!(message.contains("could not be resolved"), "{message}");
}

#[test]
fn debug_output_never_shows_secrets_or_the_body() {
    let (secrets, body) = (
        vec!["whsec_TOPSECRET".to_owned()],
        Arc::from(&b"{\"card\":\"4242\"}"[..]),
    );
    let text = format!(
        "{:?}",
        request("https://example.com/?t=tok", &secrets, &body)
    );
    assert!(
        !text.contains("TOPSECRET") && !text.contains("4242"),
        "{text}"
    );
    assert!(text.contains("redacted"), "{text}");
}
