//! What the delivery inspector reads back: each attempt's request and response headers,
//! as recorded, in order and with repeats; `None` where nothing was recorded.

use chrono::{Duration, Utc};
use domain::{DeliveryStatus, ErrorClass};
use store::{Outcome, RecordedHeaders};

use crate::dispatch::{attempt, ms};
use crate::support::{Harness, open_deliveries, publish_taken_up, webhook, workspace};

pub async fn attempt_headers_round_trip(h: Harness) {
    let store = &*h.store;
    let ws = workspace(store, "inspector").await;
    let hook = webhook(store, &ws, &["*"]).await.id;
    publish_taken_up(store, &ws, "user.created").await;
    let d = open_deliveries(store, &hook).await.remove(0);

    // A refused connection: the request is known, no response came.
    let sent = RecordedHeaders::bounded([
        ("x-admin-signature", "sha256=ab12"),
        ("webhook-signature", "v1,new= v1,old="),
        ("content-type", "application/json"),
    ]);
    let mut first = attempt(None, Some(ErrorClass::Connect), ms(Utc::now()));
    first.request_headers = Some(sent.clone());
    store
        .submit_outcome(Outcome {
            delivery_id: d.id.clone(),
            webhook_id: hook.clone(),
            attempts_before: 0,
            attempt: Some(first),
            status: DeliveryStatus::Failed,
            next_attempt_at: Some(Utc::now() + Duration::seconds(5)),
            disable_webhook: false,
        })
        .await
        .unwrap()
        .unwrap();

    // An answer with a repeated header and a header list cut at the bound.
    let big = "c".repeat(store::MAX_RECORDED_HEADER_BYTES);
    let received = RecordedHeaders::bounded([
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("x-huge", big.as_str()),
    ]);
    assert!(received.truncated);
    let mut second = attempt(Some(200), None, ms(Utc::now()));
    second.request_headers = Some(sent.clone());
    second.response_headers = Some(received.clone());
    store
        .submit_outcome(Outcome {
            delivery_id: d.id.clone(),
            webhook_id: hook.clone(),
            attempts_before: 1,
            attempt: Some(second),
            status: DeliveryStatus::Delivered,
            next_attempt_at: None,
            disable_webhook: false,
        })
        .await
        .unwrap()
        .unwrap();

    let (_, attempts) = store.get_delivery(&ws, &d.id).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].request_headers.as_ref(), Some(&sent));
    assert_eq!(attempts[0].response_headers, None);
    assert_eq!(attempts[1].request_headers.as_ref(), Some(&sent));
    let back = attempts[1].response_headers.clone().expect("recorded");
    assert_eq!(back, received);
    assert_eq!(
        back.headers.len(),
        2,
        "repeats kept, the oversized one dropped"
    );
    assert!(back.truncated);
    assert_eq!(
        attempts[1]
            .request_headers
            .as_ref()
            .unwrap()
            .get("Webhook-Signature"),
        Some("v1,new= v1,old=")
    );
}
