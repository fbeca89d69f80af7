//! Killing the process with SIGKILL at a busy moment loses nothing that was accepted.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use test_support::eventually;

use crate::support::service::KEY;
use crate::support::{ADMIN_WEBHOOKS, Receiver, Recorded, Service};

/// Publishes from `workers` concurrent clients until `stop` is set or the service dies,
/// returning the ids of the events that got a 202.
fn publish_until_killed(
    service: &Service,
    workers: usize,
) -> (Arc<Mutex<Vec<String>>>, Vec<tokio::task::JoinHandle<()>>) {
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let client = reqwest::Client::new();
        let url = service.url("/v1/events");
        let accepted = accepted.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let res = client
                    .post(&url)
                    .bearer_auth(KEY)
                    .json(&json!({ "type": "user.created", "data": { "worker": w, "n": n } }))
                    .send()
                    .await;
                let Ok(res) = res else { return };
                if res.status() != 202 {
                    return;
                }
                let Ok(body) = res.json::<Value>().await else {
                    return;
                };
                accepted
                    .lock()
                    .unwrap()
                    .push(body["id"].as_str().unwrap().to_owned());
            }
        }));
    }
    (accepted, tasks)
}

async fn wait_for_accepted(accepted: &Mutex<Vec<String>>, count: usize) {
    eventually(
        Duration::from_secs(30),
        &format!("{count} events accepted"),
        || async { accepted.lock().unwrap().len() >= count },
    )
    .await;
}

/// Every delivery of a webhook, following the cursor through all pages.
async fn all_deliveries(service: &Service, webhook: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/webhooks/{webhook}/deliveries?limit=100");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = service.get(&path).await.json().await.unwrap();
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_accepted_publish_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &["--retry-base", "1h", "--retry-cap", "1h"]);
    // Endpoints that are down: deliveries stay pending, so the store is what we inspect.
    let down = Receiver::start().await.stop().await;
    let url = format!("http://{down}/webhook");
    let (a, _) = service.create_webhook(&url, &["user.*"]).await;
    let (b, _) = service.create_webhook(&url, &["*"]).await;

    let (accepted, tasks) = publish_until_killed(&service, 16);
    wait_for_accepted(&accepted, 300).await;
    service.kill9();
    for t in tasks {
        let _ = t.await;
    }
    let accepted: Vec<String> = accepted.lock().unwrap().clone();
    eprintln!("{} publishes got a 202 before SIGKILL", accepted.len());

    let service = ADMIN_WEBHOOKS.start(dir.path(), &["--retry-base", "1h", "--retry-cap", "1h"]);
    for id in &accepted {
        let res = service.get(&format!("/v1/events/{id}")).await;
        assert_eq!(res.status(), 200, "event {id} got a 202 and must survive");
    }
    for webhook in [&a, &b] {
        let stored: HashSet<String> = all_deliveries(&service, webhook)
            .await
            .iter()
            .map(|d| d["event_id"].as_str().unwrap().to_owned())
            .collect();
        let missing: Vec<&String> = accepted.iter().filter(|id| !stored.contains(*id)).collect();
        assert!(
            missing.is_empty(),
            "{} accepted events have no delivery to {webhook}",
            missing.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_delivery_loses_nothing_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let receivers = [
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    ];
    let service = ADMIN_WEBHOOKS.start(
        dir.path(),
        &["--retry-base", "20ms", "--retry-cap", "100ms"],
    );
    for r in &receivers {
        service
            .create_webhook(&r.webhook_url(), &["user.created"])
            .await;
    }
    let (accepted, tasks) = publish_until_killed(&service, 8);
    wait_for_accepted(&accepted, 400).await;
    // Kill while both publishing and delivering are in full swing.
    receivers[0].wait_for(50, Duration::from_secs(30)).await;
    service.kill9();
    let seen_before_kill: Vec<usize> = receivers.iter().map(|r| r.requests().len()).collect();
    for t in tasks {
        let _ = t.await;
    }
    let mut accepted: Vec<String> = accepted.lock().unwrap().clone();
    accepted.sort();

    let _service = ADMIN_WEBHOOKS.start(
        dir.path(),
        &["--retry-base", "20ms", "--retry-cap", "100ms"],
    );
    for (i, r) in receivers.iter().enumerate() {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let firsts = loop {
            let seen = r.requests();
            let firsts = first_receipts(&seen);
            let got: HashSet<&String> = firsts.iter().collect();
            if accepted.iter().all(|id| got.contains(id)) {
                break firsts;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "endpoint {i} is missing accepted events"
            );
            r.wait_for(
                seen.len() + 1,
                deadline.saturating_duration_since(std::time::Instant::now()),
            )
            .await;
        };
        let mut sorted = firsts.clone();
        sorted.sort();
        assert_eq!(
            firsts, sorted,
            "endpoint {i}: first receipts are in publish order"
        );
        // Receivers answer 200 to everything, so the only reason to see an event twice is
        // the crash: it was received before the kill, and its record did not commit.
        let seen = r.requests();
        let duplicates = seen.len() - firsts.len();
        let mut first_at = std::collections::HashMap::new();
        for (at, rec) in seen.iter().enumerate() {
            let first = *first_at.entry(rec.event_id()).or_insert(at);
            if first != at {
                assert!(
                    first < seen_before_kill[i],
                    "endpoint {i}: {} arrived twice, but not across the crash",
                    rec.event_id()
                );
            }
        }
        eprintln!(
            "endpoint {i}: {} events, {duplicates} duplicates from the crash window",
            firsts.len()
        );
    }
}

/// The event ids in the order they were first received.
fn first_receipts(seen: &[Recorded]) -> Vec<String> {
    let mut known = HashSet::new();
    seen.iter()
        .map(Recorded::event_id)
        .filter(|id| known.insert(id.clone()))
        .collect()
}
