//! Attempts that fail, and how they are classified: non-2xx answers (with the response
//! excerpt and `Retry-After`), redirects, timeouts, refused and dropped connections.

use std::time::Duration;

use admin_webhooks_delivery::sender::{AttemptOutcome, RESPONSE_EXCERPT_BYTES};
use domain::ErrorClass;
use tokio::io::AsyncReadExt;

use crate::{Delivery, dev_sender, sender};
use test_support::loopback::closed_port;
use test_support::receiver::{Receiver, Reply};

#[tokio::test]
async fn a_500_fails_with_its_status_and_body_excerpt() {
    let receiver = Receiver::http(Reply::status(500).body("database is down")).await;
    let result = dev_sender()
        .send(&Delivery::new().request(&receiver.url("/")))
        .await;

    assert_eq!(
        result.outcome,
        AttemptOutcome::Failed(ErrorClass::HttpStatus)
    );
    assert_eq!(result.status_code, Some(500));
    assert_eq!(result.response_body.as_deref(), Some("database is down"));
    assert_eq!(
        result.retry_after, None,
        "Retry-After only counts on 429 and 503"
    );
    let message = result.error_message.expect("a message");
    assert!(message.contains("500"), "{message}");
}

#[tokio::test]
async fn the_body_excerpt_stops_at_4_kib() {
    let big = "x".repeat(10 * 1024);
    let receiver = Receiver::http(Reply::status(400).body(big)).await;
    let result = dev_sender()
        .send(&Delivery::new().request(&receiver.url("/")))
        .await;

    assert_eq!(
        result.outcome,
        AttemptOutcome::Failed(ErrorClass::HttpStatus)
    );
    let excerpt = result.response_body.expect("an excerpt");
    assert_eq!(excerpt.len(), RESPONSE_EXCERPT_BYTES);
    assert_eq!(RESPONSE_EXCERPT_BYTES, 4096);
}

#[tokio::test]
async fn an_empty_body_is_no_excerpt() {
    let receiver = Receiver::http(Reply::status(204)).await;
    let result = dev_sender()
        .send(&Delivery::new().request(&receiver.url("/")))
        .await;
    assert_eq!(result.outcome, AttemptOutcome::Succeeded);
    assert_eq!(result.status_code, Some(204));
    assert_eq!(result.response_body, None);
}

#[tokio::test]
async fn a_redirect_fails_and_is_not_followed() {
    let target = Receiver::http(Reply::ok()).await;
    let location = target.url("/elsewhere?token=s3cr3t");
    let receiver = Receiver::http(Reply::status(302).header("location", &location)).await;
    let result = dev_sender()
        .send(&Delivery::new().request(&receiver.url("/")))
        .await;

    assert_eq!(
        result.outcome,
        AttemptOutcome::Failed(ErrorClass::HttpStatus)
    );
    assert_eq!(result.status_code, Some(302));
    assert_eq!(receiver.requests().len(), 1);
    assert!(
        target.requests().is_empty(),
        "the Location target received nothing"
    );
    assert_eq!(target.connections(), 0);
    let message = result.error_message.expect("a message");
    assert!(
        message.contains("302") && message.contains("not followed"),
        "{message}"
    );
    assert!(
        !message.contains("s3cr3t"),
        "no query strings in messages: {message}"
    );
}

#[tokio::test]
async fn a_slow_receiver_times_out_while_another_is_served() {
    let slow = Receiver::http(Reply::ok().after(Duration::from_secs(2))).await;
    let fast = Receiver::http(Reply::ok()).await;
    let sender = sender(true, None, Duration::from_millis(300));
    let delivery = Delivery::new();
    let (slow_url, fast_url) = (slow.url("/"), fast.url("/"));

    let (slow_request, fast_request) = (delivery.request(&slow_url), delivery.request(&fast_url));
    let slow_attempt = sender.send(&slow_request);
    tokio::pin!(slow_attempt);
    let fast_result = tokio::select! {
        biased;
        result = &mut slow_attempt => panic!("the slow attempt ended first: {result:?}"),
        result = sender.send(&fast_request) => result,
    };
    assert_eq!(
        fast_result.outcome,
        AttemptOutcome::Succeeded,
        "served while the other hangs"
    );

    let slow_result = slow_attempt.await;
    assert_eq!(
        slow_result.outcome,
        AttemptOutcome::Failed(ErrorClass::Timeout)
    );
    assert_eq!(slow_result.status_code, None);
    assert!(
        (300..1900).contains(&slow_result.response_ms),
        "ended at the timeout, not when the receiver answered: {} ms",
        slow_result.response_ms
    );
    let message = slow_result.error_message.expect("a message");
    assert!(message.contains("300ms"), "{message}");
    assert_eq!(slow.requests().len(), 1, "the request did arrive");
}

#[tokio::test]
async fn the_timeout_covers_reading_the_response_body() {
    let sender = sender(true, None, Duration::from_millis(300));

    // A 2xx head within the timeout is a success even if the body then hangs: the
    // receiver has accepted the event.
    let hangs_after_ok = Receiver::http(Reply::ok().body("Received").stalling_body()).await;
    let result = sender
        .send(&Delivery::new().request(&hangs_after_ok.url("/")))
        .await;
    assert_eq!(result.outcome, AttemptOutcome::Succeeded);
    assert_eq!(result.response_body.as_deref(), Some("Received"));
    assert!(result.response_ms < 1900, "{} ms", result.response_ms);
    let note = result.error_message.expect("a note about the body");
    assert!(note.contains("did not finish"), "{note}");

    let hangs_after_error = Receiver::http(Reply::status(503).body("busy").stalling_body()).await;
    let result = sender
        .send(&Delivery::new().request(&hangs_after_error.url("/")))
        .await;
    assert_eq!(
        result.outcome,
        AttemptOutcome::Failed(ErrorClass::HttpStatus)
    );
    assert_eq!(result.response_body.as_deref(), Some("busy"));
    assert!(result.response_ms < 1900, "{} ms", result.response_ms);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_failure() {
    let url = format!("http://127.0.0.1:{}/hook?token=s3cr3t", closed_port());
    let result = dev_sender().send(&Delivery::new().request(&url)).await;

    assert_eq!(result.outcome, AttemptOutcome::Failed(ErrorClass::Connect));
    assert_eq!(result.status_code, None);
    let sent = result
        .request_headers
        .as_ref()
        .expect("what it tried to send");
    assert!(sent.get("webhook-signature").is_some());
    assert_eq!(
        result.response_headers, None,
        "no answer, no response headers"
    );
    let message = result.error_message.expect("a message");
    assert!(message.contains("refused"), "{message}");
    assert!(
        !message.contains("s3cr3t") && !message.contains("127.0.0.1"),
        "no URL: {message}"
    );
}

#[tokio::test]
async fn a_connection_closed_without_an_answer_is_a_connect_failure() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    // Reads the start of the request, then hangs up without a word.
    let hang_up = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buffer = [0u8; 64];
        let _ = stream.read(&mut buffer).await;
    });
    let result = dev_sender().send(&Delivery::new().request(&url)).await;
    hang_up.await.unwrap();

    assert_eq!(
        result.outcome,
        AttemptOutcome::Failed(ErrorClass::Connect),
        "{result:?}"
    );
    assert!(result.error_message.is_some());
}

#[tokio::test]
async fn retry_after_is_read_from_429_and_503() {
    let receiver = Receiver::http(Reply::status(429).header("retry-after", "7")).await;
    let result = dev_sender()
        .send(&Delivery::new().request(&receiver.url("/")))
        .await;
    assert_eq!(
        result.outcome,
        AttemptOutcome::Failed(ErrorClass::HttpStatus)
    );
    assert_eq!(result.status_code, Some(429));
    assert_eq!(result.retry_after, Some(Duration::from_secs(7)));

    let in_an_hour =
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
    let receiver = Receiver::http(Reply::status(503).header("retry-after", &in_an_hour)).await;
    let result = dev_sender()
        .send(&Delivery::new().request(&receiver.url("/")))
        .await;
    let wait = result.retry_after.expect("an HTTP date is understood");
    assert!(
        wait <= Duration::from_secs(3600) && wait >= Duration::from_secs(3590),
        "{wait:?}"
    );

    let receiver = Receiver::http(Reply::status(429).header("retry-after", "later")).await;
    let result = dev_sender()
        .send(&Delivery::new().request(&receiver.url("/")))
        .await;
    assert_eq!(result.retry_after, None, "an unreadable value is ignored");
}
