//! Issue 6 over HTTP without a dispatcher: time filters, the events list and detail,
//! retry and replay (what they answer and which lanes they resync), stats and secret
//! rotation, and how each refuses bad input. Deliveries reaching a real receiver are
//! tested in the server crate's whole-service tests.

use chrono::{DateTime, Utc};
use domain::{AttemptId, DeliveryStatus, WebhookId};
use serde_json::{Value, json};
use store::{AttemptLog, LaneStore, Outcome};
use test_support::instant_between;

use crate::support::{App, setup, str_of};

fn ids(list: &Value, field: &str) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| str_of(item, field).to_owned())
        .collect()
}

/// Follows `next_cursor` from `path` (which already has a `?`) to the end.
async fn walk(app: &App, path: &str, limit: u32) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get(&format!("{path}&limit={limit}&cursor={cursor}"))
            .await
            .expect(200);
        let items = page["data"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        all.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return all,
        }
    }
}

#[tokio::test]
async fn deliveries_filter_by_time_range() {
    let app = setup().await;
    let hook = app.webhook(&["*"]).await;
    let path = format!("/v1/webhooks/{}/deliveries", str_of(&hook, "id"));
    let early = app.publish("user.created").await;
    let cut = instant_between().await.to_rfc3339();
    let late = app.publish("user.created").await;
    let cut = urlencode(&cut);

    let since = app.get(&format!("{path}?since={cut}")).await.expect(200);
    assert_eq!(ids(&since, "event_id"), [str_of(&late, "id")]);
    let until = app.get(&format!("{path}?until={cut}")).await.expect(200);
    assert_eq!(ids(&until, "event_id"), [str_of(&early, "id")]);
    let item = &until["data"][0];
    for field in [
        "attempt_count",
        "last_status_code",
        "last_response_ms",
        "next_attempt_at",
    ] {
        assert!(item.get(field).is_some(), "{field} in {item}");
    }

    let detail = app
        .get(&format!("{path}?since=yesterday"))
        .await
        .problem(400);
    assert!(
        detail.contains("`since`") && detail.contains("RFC 3339"),
        "{detail}"
    );
    let detail = app
        .get(&format!("{path}?since={cut}&until={cut}"))
        .await
        .problem(400);
    assert!(detail.contains("later than `since`"), "{detail}");
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn events_list_pages_newest_first_with_filters() {
    let app = setup().await;
    let (_, other_key) = app.second_workspace("other").await;
    app.post_as(
        &other_key,
        "/v1/events",
        json!({"type": "user.created", "data": {}}),
    )
    .await
    .expect(202);
    let mut published = Vec::new();
    for i in 0..70 {
        let event_type = if i % 10 == 0 {
            "order.completed"
        } else {
            "user.created"
        };
        published.push(str_of(&app.publish(event_type).await, "id").to_owned());
    }
    let cut = instant_between().await.to_rfc3339();
    for _ in 0..50 {
        published.push(str_of(&app.publish("user.updated").await, "id").to_owned());
    }

    let all = walk(&app, "/v1/events?", 50).await;
    let newest_first: Vec<String> = published.iter().rev().cloned().collect();
    assert_eq!(
        all.iter()
            .map(|e| str_of(e, "id").to_owned())
            .collect::<Vec<_>>(),
        newest_first,
        "120 events in three pages, none of the other workspace"
    );
    assert_eq!(all[0]["data"], json!({"n": 1}), "items are whole events");

    let orders = walk(&app, "/v1/events?type=order.completed", 3).await;
    assert_eq!(orders.len(), 7);
    let recent = walk(&app, &format!("/v1/events?since={}", urlencode(&cut)), 20).await;
    assert_eq!(recent.len(), 50);
    assert!(recent.iter().all(|e| e["type"] == "user.updated"));
    let older = walk(&app, &format!("/v1/events?until={}", urlencode(&cut)), 100).await;
    assert_eq!(older.len(), 70);

    app.get("/v1/events?until=soon").await.problem(400);
    app.get("/v1/events?limit=0").await.problem(400);
}

#[tokio::test]
async fn an_event_shows_its_deliveries() {
    let app = setup().await;
    let users = app.webhook(&["user.*"]).await;
    let all = app.webhook(&["*"]).await;
    app.webhook(&["order.completed"]).await;
    let event = app.publish("user.created").await;
    let shown = app
        .get(&format!("/v1/events/{}", str_of(&event, "id")))
        .await
        .expect(200);
    assert_eq!(shown["id"], event["id"]);
    assert_eq!(shown["data"], event["data"]);
    let mut expected = vec![
        str_of(&users, "id").to_owned(),
        str_of(&all, "id").to_owned(),
    ];
    expected.sort();
    let deliveries = &shown["deliveries"];
    let mut webhooks: Vec<String> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .map(|d| str_of(d, "webhook_id").to_owned())
        .collect();
    webhooks.sort();
    assert_eq!(webhooks, expected);
    for d in deliveries.as_array().unwrap() {
        assert!(str_of(d, "id").starts_with("dlv_"));
        assert_eq!(
            (d["status"].clone(), d["attempt_count"].clone()),
            (json!("pending"), json!(0))
        );
        assert_eq!(d["last_status_code"], Value::Null);
    }
}

#[tokio::test]
async fn retry_reopens_and_resyncs_the_lane() {
    let app = setup().await;
    let hook = app.webhook(&["*"]).await;
    let hook_id = str_of(&hook, "id");
    app.publish("user.created").await;
    let delivery = app.delivery_ids(hook_id).await.remove(0);
    let before = app.published_calls().len();

    let retried = app
        .post(&format!("/v1/deliveries/{delivery}/retry"), json!({}))
        .await
        .expect(202);
    assert_eq!(retried["id"], delivery.as_str());
    assert_eq!(retried["status"], "pending");
    let calls = app.published_calls();
    assert_eq!(calls.len(), before + 1);
    assert_eq!(calls.last().unwrap(), &vec![hook_id.to_owned()]);

    let (_, other_key) = app.second_workspace("other").await;
    app.post_as(
        &other_key,
        &format!("/v1/deliveries/{delivery}/retry"),
        json!({}),
    )
    .await
    .problem(404);
    app.post("/v1/deliveries/dlv_nope/retry", json!({}))
        .await
        .problem(404);
    app.patch(
        &format!("/v1/webhooks/{hook_id}"),
        json!({"enabled": false}),
    )
    .await
    .expect(200);
    let detail = app
        .post(&format!("/v1/deliveries/{delivery}/retry"), json!({}))
        .await
        .problem(409);
    assert!(detail.contains("disabled"), "{detail}");
}

#[tokio::test]
async fn replay_reopens_a_range_and_checks_its_body() {
    let app = setup().await;
    let hook = app.webhook(&["*"]).await;
    let hook_id = str_of(&hook, "id");
    let path = format!("/v1/webhooks/{hook_id}/replay");
    let start = Utc::now().to_rfc3339();
    for _ in 0..3 {
        app.publish("user.created").await;
    }
    let before = app.published_calls().len();
    let answer = app.post(&path, json!({"since": start})).await.expect(202);
    assert_eq!(answer, json!({"replayed": 3}));
    assert_eq!(
        app.published_calls().len(),
        before + 1,
        "the lane was resynced"
    );
    let answer = app
        .post(&path, json!({"since": start, "status": "expired"}))
        .await
        .expect(202);
    assert_eq!(answer, json!({"replayed": 0}));
    assert_eq!(
        app.published_calls().len(),
        before + 1,
        "nothing re-opened, nothing to resync"
    );

    for (body, needle) in [
        (json!({}), "since"),
        (json!({"since": "last week"}), "`since`"),
        (json!({"since": start, "until": start}), "later than"),
        (json!({"since": start, "status": "done"}), "`status`"),
        (json!({"since": start, "extra": 1}), "extra"),
    ] {
        let detail = app.post(&path, body.clone()).await.problem(422);
        assert!(detail.contains(needle), "{body}: {detail}");
    }
    let (_, other_key) = app.second_workspace("other").await;
    app.post_as(&other_key, &path, json!({"since": start}))
        .await
        .problem(404);
}

fn attempt(
    delivery: &store::DueDelivery,
    webhook: &WebhookId,
    at: DateTime<Utc>,
    response_ms: u32,
    ok: bool,
) -> Outcome {
    Outcome {
        delivery_id: delivery.id.clone(),
        webhook_id: webhook.clone(),
        attempts_before: 0,
        attempt: Some(AttemptLog {
            id: AttemptId::generate(),
            attempted_at: at,
            status_code: Some(if ok { 204 } else { 502 }),
            response_ms,
            error_class: (!ok).then_some(domain::ErrorClass::HttpStatus),
            error_message: None,
            response_body: None,
            request_headers: None,
            response_headers: None,
        }),
        status: if ok {
            DeliveryStatus::Delivered
        } else {
            DeliveryStatus::Failed
        },
        next_attempt_at: (!ok).then(|| Utc::now() + chrono::Duration::hours(1)),
        disable_webhook: false,
    }
}

#[tokio::test]
async fn stats_answer_the_store_numbers_per_window() {
    let app = setup().await;
    let hook = app.webhook(&["*"]).await;
    let hook_id: WebhookId = str_of(&hook, "id").parse().unwrap();
    for _ in 0..4 {
        app.publish("user.created").await;
    }
    let open = app.store.lane_window(&hook_id, 0, 10).await.unwrap();
    let now = Utc::now();
    // Within the hour: 10, 20 (ok) and 30 (failed) ms; three hours ago: 400 ms.
    for (d, (minutes, ms, ok)) in open.iter().zip([
        (1, 10, true),
        (2, 20, true),
        (3, 30, false),
        (180, 400, true),
    ]) {
        let at = now - chrono::Duration::minutes(minutes);
        app.store
            .submit_outcome(attempt(d, &hook_id, at, ms, ok))
            .await
            .unwrap()
            .unwrap();
    }
    let path = format!("/v1/webhooks/{hook_id}/stats");
    let day = app.get(&path).await.expect(200);
    assert_eq!(day["window"], "24h");
    assert_eq!(
        (&day["attempts"], &day["successes"], &day["failures"]),
        (&json!(4), &json!(3), &json!(1))
    );
    assert_eq!(day["success_rate"], json!(0.75));
    assert_eq!(
        (&day["p50_ms"], &day["p95_ms"], &day["p99_ms"]),
        (&json!(20), &json!(400), &json!(400))
    );
    let since: DateTime<Utc> = str_of(&day, "since").parse().unwrap();
    assert!(
        (now - chrono::Duration::hours(24) - since)
            .num_seconds()
            .abs()
            < 5
    );

    let hour = app.get(&format!("{path}?window=1h")).await.expect(200);
    assert_eq!(
        (&hour["attempts"], &hour["p50_ms"]),
        (&json!(3), &json!(20))
    );
    assert_eq!(hour["p99_ms"], json!(30));

    let quiet = app.webhook(&["order.completed"]).await;
    let none = app
        .get(&format!("/v1/webhooks/{}/stats", str_of(&quiet, "id")))
        .await
        .expect(200);
    assert_eq!(
        (&none["attempts"], &none["success_rate"], &none["p50_ms"]),
        (&json!(0), &Value::Null, &Value::Null)
    );
    let detail = app.get(&format!("{path}?window=7d")).await.problem(400);
    assert!(detail.contains("`1h` or `24h`"), "{detail}");
    let (_, other_key) = app.second_workspace("other").await;
    app.get_as(&other_key, &path).await.problem(404);
}

#[tokio::test]
async fn rotation_answers_the_new_secret_and_the_grace_end() {
    let app = setup().await;
    let hook = app.webhook(&["*"]).await;
    let hook_id = str_of(&hook, "id");
    let before = app.published_calls().len();
    let rotated = app
        .post(&format!("/v1/webhooks/{hook_id}/secret/rotate"), json!({}))
        .await
        .expect(200);
    let secret = str_of(&rotated, "secret");
    assert!(secret.starts_with("whsec_") && secret != str_of(&hook, "secret"));
    assert_eq!(rotated["webhook_id"], hook_id);
    let until: DateTime<Utc> = str_of(&rotated, "previous_secret_expires_at")
        .parse()
        .unwrap();
    let expected = Utc::now() + chrono::Duration::hours(24);
    assert!((expected - until).num_seconds().abs() < 5, "{until}");
    assert_eq!(
        app.published_calls()[before..],
        [vec![hook_id.to_owned()]],
        "the lane re-reads its secrets"
    );
    let shown = app
        .get(&format!("/v1/webhooks/{hook_id}"))
        .await
        .expect(200);
    assert_eq!(shown["secret"], secret);
    let (_, other_key) = app.second_workspace("other").await;
    app.post_as(
        &other_key,
        &format!("/v1/webhooks/{hook_id}/secret/rotate"),
        json!({}),
    )
    .await
    .problem(404);
}
