//! Several `serve` processes on one PostgreSQL database: they share the delivery work,
//! keep each endpoint's order, and lose nothing when one of them is killed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::eventually;

use crate::support::postgres::TestDatabase;
use crate::support::service::KEY;
use crate::support::{ADMIN_WEBHOOKS, Receiver, Recorded};

const ENDPOINTS: usize = 4;
const EVENTS_PER_ENDPOINT: usize = 150;

#[tokio::test(flavor = "multi_thread")]
async fn three_processes_share_the_work_and_survive_a_sigkill() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let flags = [
        "--lane-lease",
        "2s",
        "--retry-base",
        "50ms",
        "--retry-cap",
        "200ms",
    ];
    // The first process creates the schema and the workspace; the others join it.
    let first = ADMIN_WEBHOOKS.start_on_database(&db.url, &flags);
    let services = vec![
        Arc::new(first),
        Arc::new(ADMIN_WEBHOOKS.start_on_database(&db.url, &flags)),
        Arc::new(ADMIN_WEBHOOKS.start_on_database(&db.url, &flags)),
    ];
    let alive: Arc<Vec<AtomicBool>> = Arc::new((0..3).map(|_| AtomicBool::new(true)).collect());

    // Each endpoint gets its own event type, so one publisher per type defines its order.
    let mut receivers = Vec::new();
    for e in 0..ENDPOINTS {
        let res = services[0]
            .post("/v1/event-types", json!({ "type": format!("it.e{e}"), "category": "Test", "description": "multi-process test" }))
            .await;
        assert_eq!(res.status(), 201);
        let receiver = Receiver::start().await;
        services[e % 3]
            .create_webhook(&receiver.webhook_url(), &[&format!("it.e{e}")])
            .await;
        receivers.push(receiver);
    }

    // Publishers go round the processes, skipping dead ones; an answer lost to the kill
    // is not counted as accepted.
    let accepted: Arc<Vec<Mutex<Vec<String>>>> =
        Arc::new((0..ENDPOINTS).map(|_| Mutex::new(Vec::new())).collect());
    let progress = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut publishers = Vec::new();
    for e in 0..ENDPOINTS {
        let (services, alive, accepted, progress) = (
            services.clone(),
            alive.clone(),
            accepted.clone(),
            progress.clone(),
        );
        publishers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for n in 0..EVENTS_PER_ENDPOINT {
                let pick = (n + e) % 3;
                let pick = (0..3)
                    .map(|k| (pick + k) % 3)
                    .find(|k| alive[*k].load(Ordering::SeqCst))
                    .unwrap();
                let res = client
                    .post(services[pick].url("/v1/events"))
                    .bearer_auth(KEY)
                    .json(&json!({ "type": format!("it.e{e}"), "data": { "n": n } }))
                    .send()
                    .await;
                if let Ok(res) = res
                    && res.status() == 202
                {
                    let body: Value = res.json().await.unwrap();
                    accepted[e]
                        .lock()
                        .unwrap()
                        .push(body["id"].as_str().unwrap().to_owned());
                }
                progress.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }

    // Kill one process in the middle of publishing and delivering.
    eventually(
        Duration::from_secs(60),
        "a third of the events published",
        || async { progress.load(Ordering::SeqCst) >= ENDPOINTS * EVENTS_PER_ENDPOINT / 3 },
    )
    .await;
    alive[1].store(false, Ordering::SeqCst);
    let victim = services[1].pid();
    std::process::Command::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status()
        .unwrap();
    for p in publishers {
        p.await.unwrap();
    }

    let mut total_duplicates = 0;
    for (e, receiver) in receivers.iter().enumerate() {
        let accepted = accepted[e].lock().unwrap().clone();
        let wanted: HashSet<&String> = accepted.iter().collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        let seen = loop {
            let seen = receiver.requests();
            let got: HashSet<String> = seen.iter().map(Recorded::event_id).collect();
            if wanted.iter().all(|id| got.contains(*id)) {
                break seen;
            }
            assert!(
                Instant::now() < deadline,
                "endpoint {e}: accepted events missing after 60 s"
            );
            receiver
                .wait_for(
                    seen.len() + 1,
                    deadline.saturating_duration_since(Instant::now()),
                )
                .await;
        };
        // First receipts, restricted to what was accepted, come in publish order.
        let mut first_seen = HashSet::new();
        let firsts: Vec<String> = seen
            .iter()
            .map(Recorded::event_id)
            .filter(|id| first_seen.insert(id.clone()))
            .filter(|id| wanted.contains(id))
            .collect();
        assert_eq!(
            firsts, accepted,
            "endpoint {e}: first receipts in publish order"
        );
        let mut counts: HashMap<String, usize> = HashMap::new();
        for r in &seen {
            *counts.entry(r.event_id()).or_default() += 1;
        }
        let duplicates: usize = counts.values().map(|c| c - 1).sum();
        total_duplicates += duplicates;
        eprintln!(
            "endpoint {e}: {} accepted, {} received, {duplicates} duplicates",
            accepted.len(),
            seen.len()
        );
    }
    eprintln!("duplicates from the crash window in all: {total_duplicates}");
    drop(services);
    drop(db);
}
