//! Issue 6, the activity log seen through the real service: every attempt of real
//! deliveries listed, paged and filtered; the events list and an event's deliveries; the
//! test event going the normal way; stats matching the attempts the log shows; and the
//! log's retention pruning old rows while keeping newer and open ones.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use test_support::{clock_past, continually, eventually, instant_between};

use crate::delivery::poll_deliveries_until;
use crate::resend::{delivery_of, json_of};
use crate::support::{ADMIN_WEBHOOKS, Receiver, Reply, Service};

const FAST_RETRY: [&str; 4] = ["--retry-base", "10ms", "--retry-cap", "40ms"];

/// Every item of a list, following `next_cursor` with pages of `limit`; also how many
/// pages it took.
async fn walk(service: &Service, path: &str, limit: u32) -> (Vec<Value>, usize) {
    let (mut all, mut pages, mut cursor) = (Vec::new(), 0, String::new());
    loop {
        let page = json_of(
            service
                .get(&format!("{path}limit={limit}&cursor={cursor}"))
                .await,
        )
        .await;
        pages += 1;
        all.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return (all, pages),
        }
    }
}

fn query_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn field<'a>(items: &'a [Value], name: &str) -> Vec<&'a str> {
    items.iter().map(|i| i[name].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_lists_pages_and_filters_real_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &FAST_RETRY);
    // Every tenth event fails once, then succeeds; the poisoned one always fails.
    let receiver = Receiver::start_with({
        let mut failed_once = HashSet::new();
        move |r| {
            let n = r.json()["data"]["n"].as_i64().unwrap();
            if n == 999 || (n % 10 == 0 && failed_once.insert(n)) {
                Reply::status(500).body("ok")
            } else {
                Reply::ok()
            }
        }
    })
    .await;
    let (hook, _) = service
        .create_webhook(&receiver.webhook_url(), &["user.*", "order.completed"])
        .await;
    let other = Receiver::start().await;
    let (other_hook, _) = service
        .create_webhook(&other.webhook_url(), &["order.*"])
        .await;

    let mut published = Vec::new();
    let mut cut = None;
    for n in 0..120 {
        if n == 60 {
            cut = Some(instant_between().await);
        }
        let event_type = if n % 4 == 0 {
            "order.completed"
        } else {
            "user.created"
        };
        published.push(service.publish(event_type, json!({"n": n})).await);
    }
    let cut = query_time(cut.unwrap());
    let poison = service.publish("user.created", json!({"n": 999})).await;
    // 120 events + 12 first failures + the poisoned one's first failure.
    receiver.wait_for(133, Duration::from_secs(30)).await;

    let log = format!("/v1/webhooks/{hook}/deliveries?");
    let (all, pages) = walk(&service, &log, 50).await;
    assert_eq!(pages, 3);
    let mut newest_first: Vec<&str> = published.iter().map(String::as_str).collect();
    newest_first.push(&poison);
    newest_first.reverse();
    assert_eq!(field(&all, "event_id"), newest_first);

    let (orders, _) = walk(&service, &format!("{log}type=order.completed&"), 7).await;
    assert_eq!(orders.len(), 30);
    let (later, _) = walk(&service, &format!("{log}since={cut}&"), 25).await;
    assert_eq!(later.len(), 61, "events 60..120 and the poisoned one");
    let (earlier_orders, _) = walk(
        &service,
        &format!("{log}until={cut}&type=order.completed&"),
        4,
    )
    .await;
    assert_eq!(earlier_orders.len(), 15);
    // Outcomes commit shortly after the receiver answers: wait until the last retried
    // event's success is on record and only the poisoned head is left failing.
    poll_deliveries_until(&service, &hook, |ds| {
        let failed: Vec<&Value> = ds.iter().filter(|d| d["status"] == "failed").collect();
        failed.len() == 1 && failed[0]["event_id"] == poison.as_str()
    })
    .await;
    let (failed, _) = walk(&service, &format!("{log}status=failed&"), 10).await;
    assert_eq!(field(&failed, "event_id"), [poison.as_str()]);
    let head = &failed[0];
    assert_eq!(head["last_status_code"], 500);
    assert!(head["last_response_ms"].is_u64() && head["next_attempt_at"].is_string());
    assert!(head["attempt_count"].as_u64().unwrap() >= 1);

    // One delivery with every attempt: a 500 then a 200.
    let tenth = delivery_of(&service, &hook, &published[10]).await;
    let detail = json_of(service.get(&format!("/v1/deliveries/{tenth}")).await).await;
    assert_eq!(
        (
            &detail["status"],
            &detail["attempt_count"],
            &detail["last_status_code"]
        ),
        (&json!("delivered"), &json!(2), &json!(200))
    );
    assert_eq!(detail["next_attempt_at"], Value::Null);
    let attempts = detail["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        (&attempts[0]["status_code"], &attempts[0]["error_class"]),
        (&json!(500), &json!("http_status"))
    );
    assert_eq!(
        attempts[0]["response_body"], "ok",
        "the receiver's body, kept"
    );
    assert!(attempts[0]["error_message"].is_string());
    assert_eq!(
        (&attempts[1]["status_code"], &attempts[1]["error_class"]),
        (&json!(200), &Value::Null)
    );
    for a in attempts {
        assert!(a["response_ms"].is_u64() && a["attempted_at"].is_string());
        // The headers as sent (both signatures) and as received, in the inspector's shape.
        let sent = a["request_headers"]["headers"]
            .as_array()
            .expect("recorded");
        let names: Vec<&str> = sent.iter().filter_map(|h| h["name"].as_str()).collect();
        for name in [
            "x-admin-signature",
            "webhook-signature",
            "webhook-timestamp",
        ] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        assert_eq!(a["request_headers"]["truncated"], false);
        assert!(a["response_headers"]["headers"].is_array(), "{a}");
    }

    // The events list: every event once, pages, filters; one event with both deliveries.
    let (events, pages) = walk(&service, "/v1/events?", 50).await;
    assert_eq!((events.len(), pages), (121, 3));
    assert_eq!(field(&events, "id"), newest_first);
    let (typed, _) = walk(&service, "/v1/events?type=order.completed&", 9).await;
    assert_eq!(typed.len(), 30);
    let (before, _) = walk(&service, &format!("/v1/events?until={cut}&"), 100).await;
    assert_eq!(field(&before, "id"), newest_first[61..]);
    let order = &published[20];
    let shown = json_of(service.get(&format!("/v1/events/{order}")).await).await;
    assert_eq!(shown["data"], json!({"n": 20}));
    let mut to: Vec<&str> = field(shown["deliveries"].as_array().unwrap(), "webhook_id");
    to.sort();
    let mut expected = vec![hook.as_str(), other_hook.as_str()];
    expected.sort();
    assert_eq!(to, expected);
    let mine = shown["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["webhook_id"] == hook.as_str())
        .unwrap();
    assert_eq!(
        (
            &mine["status"],
            &mine["attempt_count"],
            &mine["last_status_code"]
        ),
        (&json!("delivered"), &json!(2), &json!(200))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_test_event_goes_the_normal_way_and_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &FAST_RETRY);
    let receiver = Receiver::start().await;
    let bystander = Receiver::start().await;
    let (hook, secret) = service
        .create_webhook(&receiver.webhook_url(), &["user.*"])
        .await;
    service
        .create_webhook(&bystander.webhook_url(), &["*"])
        .await;

    let res = service
        .post(&format!("/v1/webhooks/{hook}/test"), json!({}))
        .await;
    assert_eq!(res.status(), 202);
    let event = json_of(res).await;
    let id = event["id"].as_str().unwrap();
    let seen = receiver
        .wait_for(1, Duration::from_secs(10))
        .await
        .remove(0);
    assert_eq!(seen.event_id(), id);
    assert_eq!(seen.header("x-admin-event"), "webhook.test");
    assert_eq!(seen.json()["data"], json!({"test": true}));
    verify::verify_admin_signature(&secret, &seen.body, seen.header("x-admin-signature"))
        .expect("signed like any other event");

    let logged = poll_deliveries_until(&service, &hook, |ds| {
        ds.iter().any(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(
        (
            &logged[0]["type"],
            &logged[0]["event_id"],
            &logged[0]["attempt_count"]
        ),
        (&json!("webhook.test"), &json!(id), &json!(1))
    );
    let listed = json_of(service.get("/v1/events?type=webhook.test").await).await;
    assert_eq!(listed["data"][0]["id"], id);
    let shown = json_of(service.get(&format!("/v1/events/{id}")).await).await;
    let deliveries = shown["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "to that endpoint alone");
    assert_eq!(deliveries[0]["webhook_id"], hook.as_str());
    assert_eq!(deliveries[0]["last_status_code"], 200);
    // Nothing to wait for: the test event went to its endpoint alone, so the only way to
    // see that is a bounded window in which the bystander stays untouched.
    continually(
        Duration::from_millis(300),
        "the bystander gets nothing",
        || async { bystander.requests().is_empty() },
    )
    .await;
    assert!(
        bystander.requests().is_empty(),
        "a `*` subscriber gets no test event"
    );
}

/// Nearest rank, as the store computes it.
fn percentile(sorted: &[u64], p: usize) -> u64 {
    sorted[(p * sorted.len()).div_ceil(100).max(1) - 1]
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_match_the_attempts_the_log_shows() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &FAST_RETRY);
    // Event n answers after n × 30 ms; event 10 fails once first.
    let receiver = Receiver::start_with({
        let mut failed = false;
        move |r| {
            let n = r.json()["data"]["n"].as_u64().unwrap();
            if n == 10 && !failed {
                failed = true;
                return Reply::status(503);
            }
            Reply::ok().after(Duration::from_millis(30 * n))
        }
    })
    .await;
    let (hook, _) = service
        .create_webhook(&receiver.webhook_url(), &["user.*"])
        .await;
    let mut events = Vec::new();
    for n in 0..=10 {
        events.push(service.publish("user.created", json!({"n": n})).await);
    }
    receiver.wait_for(12, Duration::from_secs(20)).await;
    poll_deliveries_until(&service, &hook, |ds| {
        ds.len() == 11 && ds.iter().all(|d| d["status"] == "delivered")
    })
    .await;

    let mut times = Vec::new();
    for event in &events {
        let delivery = delivery_of(&service, &hook, event).await;
        let detail = json_of(service.get(&format!("/v1/deliveries/{delivery}")).await).await;
        for a in detail["attempts"].as_array().unwrap() {
            times.push(a["response_ms"].as_u64().unwrap());
        }
    }
    times.sort_unstable();
    assert_eq!(times.len(), 12);
    assert!(
        times[11] >= 300,
        "the slowest answer took 300 ms: {times:?}"
    );

    for window in ["1h", "24h"] {
        let stats = json_of(
            service
                .get(&format!("/v1/webhooks/{hook}/stats?window={window}"))
                .await,
        )
        .await;
        assert_eq!(stats["window"], window);
        assert_eq!(
            (&stats["attempts"], &stats["successes"], &stats["failures"]),
            (&json!(12), &json!(11), &json!(1))
        );
        assert_eq!(stats["success_rate"].as_f64().unwrap(), 11.0 / 12.0);
        assert_eq!(
            (&stats["p50_ms"], &stats["p95_ms"], &stats["p99_ms"]),
            (
                &json!(percentile(&times, 50)),
                &json!(percentile(&times, 95)),
                &json!(percentile(&times, 99))
            ),
            "{times:?}"
        );
    }
    let stats = json_of(service.get(&format!("/v1/webhooks/{hook}/stats")).await).await;
    assert_eq!(stats["window"], "24h", "the default window");
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_prunes_old_rows_and_keeps_newer_and_open_ones() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(
        dir.path(),
        &[
            "--log-retention",
            "3s",
            "--retry-base",
            "1s",
            "--retry-cap",
            "1s",
        ],
    );
    let good = Receiver::start().await;
    let down = Receiver::start_with(|_| Reply::status(503)).await;
    let (good_hook, _) = service
        .create_webhook(&good.webhook_url(), &["user.*"])
        .await;
    let (down_hook, _) = service
        .create_webhook(&down.webhook_url(), &["order.completed"])
        .await;

    let old = service.publish("user.created", json!({"n": 1})).await;
    let stuck = service.publish("order.completed", json!({"n": 2})).await;
    good.wait_for(1, Duration::from_secs(10)).await;
    down.wait_for(1, Duration::from_secs(10)).await;
    let old_delivery = delivery_of(&service, &good_hook, &old).await;
    let stuck_delivery = delivery_of(&service, &down_hook, &stuck).await;

    // The old rows must be older than the 3 s retention when the new one arrives.
    let old_at: DateTime<Utc> =
        json_of(service.get(&format!("/v1/events/{old}")).await).await["timestamp"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
    clock_past(old_at + chrono::Duration::milliseconds(3500)).await;
    let new = service.publish("user.created", json!({"n": 3})).await;
    good.wait_for(2, Duration::from_secs(10)).await;
    let new_delivery = delivery_of(&service, &good_hook, &new).await;

    // Pruning runs every second with a 3 s retention; the old rows go within a few.
    eventually(
        Duration::from_secs(15),
        "the old delivery pruned",
        || async {
            service
                .get(&format!("/v1/deliveries/{old_delivery}"))
                .await
                .status()
                == 404
        },
    )
    .await;
    assert_eq!(
        service.get(&format!("/v1/events/{old}")).await.status(),
        404
    );

    // Newer than the retention: kept whole.
    let kept = json_of(service.get(&format!("/v1/deliveries/{new_delivery}")).await).await;
    assert_eq!(kept["status"], "delivered");
    assert_eq!(kept["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(
        service.get(&format!("/v1/events/{new}")).await.status(),
        200
    );
    // Open, however old: kept with its event, still being retried.
    let open = json_of(
        service
            .get(&format!("/v1/deliveries/{stuck_delivery}"))
            .await,
    )
    .await;
    assert_eq!(open["status"], "failed");
    assert_eq!(
        service.get(&format!("/v1/events/{stuck}")).await.status(),
        200
    );
    let shown = json_of(service.get(&format!("/v1/events/{stuck}")).await).await;
    assert_eq!(shown["deliveries"][0]["id"], stuck_delivery.as_str());
}
