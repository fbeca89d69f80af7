//! Issue 14 over HTTP: `GET /v1/webhooks/{id}/stats/series` (every bucket of a window,
//! attempts by outcome, percentiles of the answered ones, and how it refuses bad
//! windows and buckets) and `GET /v1/webhooks/{id}/health`.

use chrono::{DateTime, Duration, Utc};
use domain::{AttemptId, DeliveryStatus, ErrorClass, WebhookId};
use serde_json::{Value, json};
use store::{AttemptLog, LaneStore, Outcome};

use crate::support::{App, setup, str_of};

/// One attempt of `d`: a 204, a 502 (answered, failed) or a refused connection (`None`).
fn tried(
    d: &store::DueDelivery,
    webhook: &WebhookId,
    attempts_before: u32,
    at: DateTime<Utc>,
    response_ms: u32,
    status: Option<u16>,
) -> Outcome {
    let ok = status == Some(204);
    let class = match status {
        Some(204) => None,
        Some(_) => Some(ErrorClass::HttpStatus),
        None => Some(ErrorClass::Connect),
    };
    Outcome {
        delivery_id: d.id.clone(),
        webhook_id: webhook.clone(),
        attempts_before,
        attempt: Some(AttemptLog {
            id: AttemptId::generate(),
            attempted_at: at,
            status_code: status,
            response_ms,
            error_class: class,
            error_message: class.map(|_| "the connection was refused".to_owned()),
            response_body: None,
            request_headers: None,
            response_headers: None,
        }),
        status: if ok {
            DeliveryStatus::Delivered
        } else {
            DeliveryStatus::Failed
        },
        next_attempt_at: (!ok).then(|| at + Duration::minutes(5)),
        disable_webhook: false,
    }
}

async fn record(app: &App, outcome: Outcome) {
    app.store
        .submit_outcome(outcome)
        .await
        .expect("ack")
        .expect("recorded");
}

fn field(bucket: &Value, name: &str) -> Value {
    bucket[name].clone()
}

#[tokio::test]
async fn series_answer_every_bucket_with_outcomes_and_answered_percentiles() {
    let app = setup().await;
    let hook = app.webhook(&["*"]).await;
    let hook_id: WebhookId = str_of(&hook, "id").parse().unwrap();
    for _ in 0..4 {
        app.publish("user.created").await;
    }
    let open = app.store.lane_window(&hook_id, 0, 10).await.unwrap();
    let now = Utc::now();
    // Two hours ago: a 204 in 10 ms and a 502 in 30 ms; just now: a 204 in 20 ms and a
    // refused connection (no response time).
    let plan = [
        (now - Duration::hours(2), 10, Some(204)),
        (now - Duration::hours(2), 30, Some(502)),
        (now, 20, Some(204)),
        (now, 0, None),
    ];
    for (d, (at, ms, status)) in open.iter().zip(plan) {
        record(&app, tried(d, &hook_id, 0, at, ms, status)).await;
    }

    let path = format!("/v1/webhooks/{hook_id}/stats/series");
    let day = app.get(&path).await.expect(200);
    assert_eq!(
        (&day["window"], &day["bucket"], &day["webhook_id"]),
        (&json!("24h"), &json!("1h"), &json!(hook_id.to_string()))
    );
    let buckets = day["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 24);
    let start: DateTime<Utc> = str_of(&day, "start").parse().unwrap();
    let end: DateTime<Utc> = str_of(&day, "end").parse().unwrap();
    assert_eq!(end - start, Duration::hours(24));
    assert!(
        start <= now - Duration::hours(23) && end > now,
        "{start} {end}"
    );
    let last = &buckets[23];
    assert_eq!(
        ["attempts", "successes", "answered_failures", "unanswered"].map(|f| field(last, f)),
        [json!(2), json!(1), json!(0), json!(1)]
    );
    assert_eq!(
        (&last["success_rate"], &last["p50_ms"], &last["p95_ms"]),
        (&json!(0.5), &json!(20), &json!(20)),
        "the refused connection has no response time"
    );
    let earlier = &buckets[21];
    assert_eq!(
        (&earlier["attempts"], &earlier["answered_failures"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(
        (&earlier["p50_ms"], &earlier["p95_ms"]),
        (&json!(10), &json!(30))
    );
    let quiet = &buckets[0];
    assert_eq!(
        (&quiet["attempts"], &quiet["success_rate"], &quiet["p50_ms"]),
        (&json!(0), &Value::Null, &Value::Null)
    );

    let hour = app
        .get(&format!("{path}?window=1h&bucket=15m"))
        .await
        .expect(200);
    assert_eq!(hour["buckets"].as_array().unwrap().len(), 4);
    let week = app.get(&format!("{path}?window=7d")).await.expect(200);
    assert_eq!(
        (&week["bucket"], week["buckets"].as_array().unwrap().len()),
        (&json!("6h"), 28)
    );

    // The stats of the same attempts count the answered ones.
    let stats = app
        .get(&format!("/v1/webhooks/{hook_id}/stats"))
        .await
        .expect(200);
    assert_eq!(
        (&stats["attempts"], &stats["responses"]),
        (&json!(4), &json!(3))
    );

    // Unknown values are 400s, a combination that does not fit a 422 naming those that do.
    let detail = app.get(&format!("{path}?window=2h")).await.problem(400);
    assert!(detail.contains("`1h`, `24h`, `7d`"), "{detail}");
    let detail = app.get(&format!("{path}?bucket=2m")).await.problem(400);
    assert!(detail.contains("`bucket` must be one of"), "{detail}");
    let detail = app
        .get(&format!("{path}?window=7d&bucket=5m"))
        .await
        .problem(422);
    assert!(
        detail.contains("2016 buckets") && detail.contains("`1h`, `6h`, `1d`"),
        "{detail}"
    );
    let (_, other_key) = app.second_workspace("other").await;
    app.get_as(&other_key, &path).await.problem(404);
}

#[tokio::test]
async fn health_says_failing_since_and_what_waits() {
    let app = setup().await;
    let hook = app.webhook(&["*"]).await;
    let hook_id: WebhookId = str_of(&hook, "id").parse().unwrap();
    let path = format!("/v1/webhooks/{hook_id}/health");
    let new = app.get(&path).await.expect(200);
    assert_eq!(
        (&new["state"], &new["waiting"], &new["head_delivery_id"]),
        (&json!("new"), &json!(0), &Value::Null)
    );

    for _ in 0..3 {
        app.publish("user.created").await;
    }
    let open = app.store.lane_window(&hook_id, 0, 10).await.unwrap();
    let first = Utc::now() - Duration::minutes(20);
    record(&app, tried(&open[0], &hook_id, 0, first, 0, None)).await;
    record(
        &app,
        tried(&open[0], &hook_id, 1, first + Duration::minutes(5), 0, None),
    )
    .await;
    let failing = app.get(&path).await.expect(200);
    assert_eq!(
        (&failing["state"], &failing["waiting"]),
        (&json!("failing"), &json!(3))
    );
    assert_eq!(failing["head_delivery_id"], json!(open[0].id.to_string()));
    let since: DateTime<Utc> = str_of(&failing, "failing_since").parse().unwrap();
    assert_eq!(since.timestamp_millis(), first.timestamp_millis());
    let expires: DateTime<Utc> = str_of(&failing, "oldest_expires_at").parse().unwrap();
    assert_eq!(
        expires.timestamp_millis(),
        (open[0].event_created_at + Duration::hours(24)).timestamp_millis()
    );
    assert_eq!(
        (
            &failing["last_attempt_succeeded"],
            &failing["last_success_at"]
        ),
        (&json!(false), &Value::Null)
    );

    app.patch(
        &format!("/v1/webhooks/{hook_id}"),
        json!({"enabled": false}),
    )
    .await
    .expect(200);
    let disabled = app.get(&path).await.expect(200);
    assert_eq!(disabled["state"], "disabled");
    let (_, other_key) = app.second_workspace("other").await;
    app.get_as(&other_key, &path).await.problem(404);
}
