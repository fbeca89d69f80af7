//! Trace context end to end: a publisher's W3C `traceparent` reaches the receiver on every
//! attempt as a child of the publisher's trace (same trace id, a new span each attempt);
//! an event published without a valid one starts a trace of its own; and with
//! `--otlp-endpoint` the service exports its spans to a collector (here a loopback
//! receiver that records what the exporter posts).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use test_support::eventually;

use crate::support::service::KEY;
use crate::support::{ADMIN_WEBHOOKS, Receiver, Recorded, Reply, Service};

const FAST_RETRY: [&str; 4] = ["--retry-base", "10ms", "--retry-cap", "40ms"];
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// Publishes with the given trace headers and returns the event id.
async fn publish_traced(service: &Service, headers: &[(&str, &str)]) -> String {
    let mut request = service
        .client
        .post(service.url("/v1/events"))
        .bearer_auth(KEY)
        .json(&json!({"type": "user.created", "data": {"user_id": "usr_1"}}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().await.unwrap();
    assert_eq!(answer.status(), 202);
    let body: Value = answer.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// `(trace id, parent id, flags)` of a request's `traceparent`.
fn traceparent(request: &Recorded) -> (String, String, String) {
    let value = request.header("traceparent");
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value}");
    assert_eq!(parts[0], "00", "{value}");
    assert_eq!((parts[1].len(), parts[2].len()), (32, 16), "{value}");
    (parts[1].into(), parts[2].into(), parts[3].into())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_attempt_continues_the_publishers_trace_with_a_span_of_its_own() {
    // The first attempt of each event fails, so each is sent twice.
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let receiver = Receiver::start_with(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            Reply::status(500)
        } else {
            Reply::ok()
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &FAST_RETRY);
    service
        .create_webhook(&receiver.webhook_url(), &["user.created"])
        .await;

    let caller = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    let traced = publish_traced(
        &service,
        &[
            ("traceparent", &caller),
            ("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        ],
    )
    .await;
    let invalid = publish_traced(
        &service,
        &[
            (
                "traceparent",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            ),
            ("tracestate", "rojo=1"),
        ],
    )
    .await;
    let untraced = publish_traced(&service, &[]).await;

    let requests = receiver.wait_for(6, Duration::from_secs(30)).await;
    let of = |event: &str| -> Vec<&Recorded> {
        requests.iter().filter(|r| r.event_id() == event).collect()
    };

    let attempts = of(&traced);
    assert_eq!(attempts.len(), 2, "a failed attempt and its retry");
    assert_eq!((attempts[0].status, attempts[1].status), (500, 200));
    let (first, second) = (traceparent(attempts[0]), traceparent(attempts[1]));
    for (trace_id, parent_id, flags) in [&first, &second] {
        assert_eq!(trace_id, TRACE_ID, "the publisher's trace");
        assert_ne!(parent_id, CALLER_SPAN, "a span of ours, not the caller's");
        assert_eq!(flags, "01", "the caller's sampling decision");
    }
    assert_ne!(first.1, second.1, "each attempt is a span of its own");
    for attempt in &attempts {
        assert_eq!(
            attempt.header("tracestate"),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
        );
    }

    // Without a valid traceparent the event starts its own trace (and sends no state).
    let mut fresh_traces = Vec::new();
    for event in [&invalid, &untraced] {
        let attempts = of(event);
        assert_eq!(attempts.len(), 2);
        let (a, b) = (traceparent(attempts[0]), traceparent(attempts[1]));
        assert_eq!(a.0, b.0, "one trace for the event's attempts");
        assert_ne!(a.1, b.1);
        assert!(a.0 != TRACE_ID && a.0 != "0".repeat(32), "{a:?}");
        assert!(attempts[0].headers.get("tracestate").is_none());
        fresh_traces.push(a.0);
    }
    assert_ne!(fresh_traces[0], fresh_traces[1], "a new trace per event");
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_are_exported_over_otlp_when_asked() {
    let collector = Receiver::start().await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let endpoint = collector.url("/");
    let service = ADMIN_WEBHOOKS.start_with_env(
        dir.path(),
        &["--otlp-endpoint", &endpoint],
        // Export batches every 100 ms instead of every 5 s (the SDK's variable).
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    service
        .create_webhook(&receiver.webhook_url(), &["user.created"])
        .await;
    let caller = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    publish_traced(&service, &[("traceparent", &caller)]).await;
    let delivered = receiver.wait_for(1, Duration::from_secs(30)).await;
    let (_, attempt_span, _) = traceparent(&delivered[0]);

    // Protobuf carries ids as raw bytes: the trace id and the attempt's span id appear
    // in the exported spans as they are.
    let trace_id = hex::decode(TRACE_ID).unwrap();
    let span_id = hex::decode(&attempt_span).unwrap();
    let exported = eventually(
        Duration::from_secs(30),
        "the collector to receive the attempt's span",
        || {
            let found = collector
                .requests()
                .into_iter()
                .find(|post| contains(&post.body, &trace_id) && contains(&post.body, &span_id));
            async move { found }
        },
    )
    .await;
    assert_eq!(exported.method, "POST");
    assert_eq!(exported.path, "/v1/traces");
    assert_eq!(exported.header("content-type"), "application/x-protobuf");
    assert!(
        contains(&exported.body, b"admin-webhooks"),
        "the service names itself"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
