//! `admin-webhooks listen` and `trigger` (issue 15): the real binary, connected out to a
//! service running WITHOUT `--dev`, forwarding to a receiver on loopback — which that
//! service itself would refuse to deliver to.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use test_support::{continually, eventually};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::service::{KEY, OPERATOR_KEY};
use crate::support::{ADMIN_WEBHOOKS, Receiver, Recorded, Reply, Service};

const WITHIN: Duration = Duration::from_secs(20);

/// The guide's Node.js verification snippet (the delivery crate's test copy).
const NODE_VERIFY_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../delivery/tests/support/verify_admin_signature.js"
);

/// A running `admin-webhooks listen`, its output collected line by line.
struct Listen {
    child: tokio::process::Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Listen {
    /// Starts `listen --json --forward-to <forward_to>` with `extra` flags against
    /// `service`, and waits until its stream is connected.
    async fn start(service: &Service, forward_to: &str, extra: &[&str]) -> Listen {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_admin-webhooks"))
            .args(["listen", "--json", "--forward-to", forward_to])
            .args(extra)
            .env("ADMIN_WEBHOOKS_API_URL", &service.base)
            .env("ADMIN_WEBHOOKS_API_KEY", KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let collect = |stream: Box<dyn tokio::io::AsyncRead + Unpin + Send>, name: &'static str| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let kept = lines.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    eprintln!("[listen {name}] {line}");
                    kept.lock().unwrap().push(line);
                }
            });
            lines
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()), "stdout");
        let stderr = collect(Box::new(child.stderr.take().unwrap()), "stderr");
        let listen = Listen {
            child,
            stdout,
            stderr,
        };
        listen.wait_connected(1).await;
        listen
    }

    async fn wait_connected(&self, times: usize) {
        eventually(WITHIN, "listen to connect its stream", || async {
            self.stderr
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains("connected; waiting for events"))
                .count()
                >= times
        })
        .await;
    }

    /// The value after `label` on the banner's lines (`Listening as wh_…`).
    fn banner(&self, label: &str) -> String {
        let lines = self.stderr.lock().unwrap();
        let line = lines
            .iter()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no `{label}` in listen's output: {lines:?}"));
        let rest = &line[line.find(label).unwrap() + label.len()..];
        rest.split_whitespace().next().unwrap().to_owned()
    }

    fn listener_id(&self) -> String {
        self.banner("Listening as ")
    }

    fn secret(&self) -> String {
        self.banner("webhook-signature with it): ")
    }

    /// The JSON lines printed so far, one per forwarded delivery.
    fn printed(&self) -> Vec<Value> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// SIGKILL: no chance to report what is in flight.
    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

fn production(dir: &std::path::Path, extra: &[&str]) -> Service {
    ADMIN_WEBHOOKS.start_production(dir, extra)
}

/// The `n` of each event the receiver got, in arrival order.
fn numbers(requests: &[Recorded]) -> Vec<i64> {
    requests
        .iter()
        .map(|r| r.json()["data"]["n"].as_i64().unwrap())
        .collect()
}

fn node_verifies(body: &[u8], signature: &str, secret: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("body"), body).unwrap();
    std::fs::write(path("signature"), signature).unwrap();
    std::fs::write(path("secret"), secret).unwrap();
    let output = std::process::Command::new("node")
        .arg(NODE_VERIFY_SCRIPT)
        .args([path("body"), path("signature"), path("secret")])
        .output()
        .expect("node runs (install Node.js)");
    String::from_utf8_lossy(&output.stdout).trim() == "ok"
}

#[tokio::test(flavor = "multi_thread")]
async fn listen_receives_signed_events_in_order_from_a_service_without_dev() {
    let dir = tempfile::tempdir().unwrap();
    let service = production(dir.path(), &[]);
    let receiver = Receiver::start().await;
    // The service itself refuses the loopback receiver: only `listen` can reach it.
    let refused = service
        .post(
            "/v1/webhooks",
            json!({ "url": receiver.webhook_url(), "events": ["*"] }),
        )
        .await;
    assert_eq!(refused.status(), 422);

    let listen = Listen::start(&service, &receiver.webhook_url(), &["--events", "user.*"]).await;
    let listener = listen.listener_id();
    let secret = listen.secret();
    for n in 0..5 {
        service.publish("user.created", json!({ "n": n })).await;
    }
    // Not subscribed: never forwarded.
    service.publish("order.completed", json!({ "n": 99 })).await;

    let got = receiver.wait_for(5, WITHIN).await;
    assert_eq!(numbers(&got), vec![0, 1, 2, 3, 4]);
    for request in &got {
        let signature = request.header("x-admin-signature");
        verify::verify_admin_signature(&secret, &request.body, signature)
            .expect("the verify crate accepts X-Admin-Signature");
        verify::verify_standard(
            &secret,
            request.header("webhook-id"),
            request.header("webhook-timestamp"),
            request.header("webhook-signature"),
            &request.body,
            chrono::Utc::now().timestamp(),
            300,
        )
        .expect("the verify crate accepts webhook-signature");
        assert_eq!(request.header("idempotency-key"), request.event_id());
        assert_eq!(request.header("x-admin-event"), "user.created");
        assert!(request.header("user-agent").starts_with("Admin-Webhooks/"));
    }
    assert!(
        node_verifies(&got[0].body, got[0].header("x-admin-signature"), &secret),
        "the guide's Node.js snippet accepts it"
    );

    // The listener is an endpoint of the workspace, shown as a listener.
    let hook: Value = service
        .get(&format!("/v1/webhooks/{listener}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hook["kind"], "listener");
    assert!(hook["url"].as_str().unwrap().starts_with("listen://"));
    assert_eq!(hook["events"], json!(["user.*"]));

    // The activity log has each attempt with its status and response time, and listen
    // printed one line per event.
    let log: Value = eventually(WITHIN, "every delivery recorded as delivered", || async {
        let log: Value = service
            .get(&format!("/v1/webhooks/{listener}/deliveries"))
            .await
            .json()
            .await
            .unwrap();
        let data = log["data"].as_array().unwrap();
        (data.len() == 5 && data.iter().all(|d| d["status"] == "delivered")).then_some(log)
    })
    .await;
    for delivery in log["data"].as_array().unwrap() {
        assert_eq!(delivery["last_status_code"], 200);
        assert!(delivery["last_response_ms"].is_u64(), "{delivery}");
    }
    let printed = listen.printed();
    assert_eq!(printed.len(), 5);

    // "Send test event" goes through the listener like any endpoint's.
    let test = service
        .post(&format!("/v1/webhooks/{listener}/test"), json!({}))
        .await;
    assert_eq!(test.status(), 202);
    let got = receiver.wait_for(6, WITHIN).await;
    assert_eq!(got[5].json()["type"], "webhook.test");
    assert!(
        printed
            .iter()
            .all(|p| p["status_code"] == 200 && p["type"] == "user.created")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_server_answering_500_then_200_is_retried_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let service = production(
        dir.path(),
        &["--retry-base", "100ms", "--retry-cap", "200ms"],
    );
    let mut answered = 0;
    let receiver = Receiver::start_with(move |_| {
        answered += 1;
        if answered == 1 {
            Reply::status(500).body("not yet")
        } else {
            Reply::ok()
        }
    })
    .await;
    let listen = Listen::start(&service, &receiver.webhook_url(), &[]).await;
    let listener = listen.listener_id();
    service.publish("user.created", json!({ "n": 1 })).await;
    service.publish("user.created", json!({ "n": 2 })).await;

    let got = receiver.wait_for(3, WITHIN).await;
    assert_eq!(
        numbers(&got),
        vec![1, 1, 2],
        "the failed head holds its place"
    );
    assert_eq!(got[0].event_id(), got[1].event_id());
    let first = eventually(WITHIN, "the retried delivery recorded", || async {
        let log: Value = service
            .get(&format!("/v1/webhooks/{listener}/deliveries"))
            .await
            .json()
            .await
            .unwrap();
        let oldest = log["data"].as_array().unwrap().last()?.clone();
        (oldest["status"] == "delivered").then_some(oldest)
    })
    .await;
    assert_eq!(first["attempt_count"], 2);
    let detail: Value = service
        .get(&format!("/v1/deliveries/{}", first["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    let attempts = detail["attempts"].as_array().unwrap();
    let codes: Vec<&Value> = attempts.iter().map(|a| &a["status_code"]).collect();
    assert!(
        codes.contains(&&json!(500)) && codes.contains(&&json!(200)),
        "{detail}"
    );
    let failed = attempts.iter().find(|a| a["status_code"] == 500).unwrap();
    assert_eq!(failed["error_class"], "http_status");
    assert_eq!(failed["response_body"], "not yet");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_listen_started_again_on_the_same_listener_gets_every_event_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let service = production(dir.path(), &[]);
    // The first forward of event 2 hangs, so that listen dies with it in flight.
    let mut hung = false;
    let receiver = Receiver::start_with(move |request| {
        if request.json()["data"]["n"] == 2 && !hung {
            hung = true;
            Reply::ok().after(Duration::from_secs(60))
        } else {
            Reply::ok()
        }
    })
    .await;
    let listen = Listen::start(&service, &receiver.webhook_url(), &[]).await;
    let listener = listen.listener_id();
    for n in 0..5 {
        service.publish("user.created", json!({ "n": n })).await;
    }
    receiver.wait_for(3, WITHIN).await;
    listen.kill().await;

    // Published while nobody listens: they wait, as for an endpoint that is down.
    for n in 5..8 {
        service.publish("user.created", json!({ "n": n })).await;
    }
    let again = Listen::start(
        &service,
        &receiver.webhook_url(),
        &["--listener", &listener],
    )
    .await;
    assert_eq!(again.listener_id(), listener);
    let got = eventually(WITHIN, "all eight events", || async {
        let requests = receiver.requests();
        let mut seen = numbers(&requests);
        seen.dedup();
        (seen.len() >= 8).then_some(requests)
    })
    .await;
    let arrived = numbers(&got);
    let mut unique = arrived.clone();
    unique.dedup();
    assert_eq!(unique, (0..8).collect::<Vec<_>>(), "in order: {arrived:?}");
    // The one in flight when listen died comes again, right after itself; nothing else.
    assert_eq!(arrived, vec![0, 1, 2, 2, 3, 4, 5, 6, 7]);
}

#[tokio::test(flavor = "multi_thread")]
async fn trigger_publishes_the_catalogs_example_and_listeners_do_not_count_against_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let service = production(dir.path(), &[]);
    let catalog: Value = service.get("/v1/event-types").await.json().await.unwrap();
    let user_created = catalog["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "user.created")
        .unwrap();
    let example = user_created["example"].clone();
    assert!(example.is_object(), "{user_created}");

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_admin-webhooks"))
        .args(["trigger", "user.created", "--json"])
        .env("ADMIN_WEBHOOKS_API_URL", &service.base)
        .env("ADMIN_WEBHOOKS_API_KEY", KEY)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["type"], "user.created");
    assert_eq!(event["data"], example);

    // A workspace at its limit of one enabled webhook still gets listeners.
    let workspace = service
        .client
        .get(service.url("/v1/workspaces"))
        .bearer_auth(OPERATOR_KEY)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let limited = service
        .client
        .patch(service.url(&format!("/v1/workspaces/{workspace}")))
        .bearer_auth(OPERATOR_KEY)
        .json(&json!({ "max_enabled_webhooks": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 200);
    let created = service
        .post(
            "/v1/listeners",
            json!({ "name": "ci", "events": ["user.*"] }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["url"], "listen://ci");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    // Re-attaching answers the same listener, with its secret.
    let again = service
        .post("/v1/listeners", json!({ "id": created["id"] }))
        .await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (&again["id"], &again["secret"]),
        (&created["id"], &created["secret"])
    );
    // A listener's URL is fixed.
    let moved = service
        .client
        .patch(service.url(&format!("/v1/webhooks/{}", created["id"].as_str().unwrap())))
        .bearer_auth(KEY)
        .json(&json!({ "url": "https://example.com/hooks" }))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 422);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unseen_listener_is_removed_after_the_ttl_and_a_connected_one_stays() {
    let dir = tempfile::tempdir().unwrap();
    let service = production(dir.path(), &["--listener-ttl", "1s"]);
    let receiver = Receiver::start().await;
    let listen = Listen::start(&service, &receiver.webhook_url(), &[]).await;
    let kept = listen.listener_id();

    let orphan: Value = service
        .post("/v1/listeners", json!({ "name": "orphan" }))
        .await
        .json()
        .await
        .unwrap();
    let orphan = orphan["id"].as_str().unwrap().to_owned();
    // A backlog for both; the orphan's goes with it.
    service.publish("user.created", json!({ "n": 1 })).await;
    eventually(WITHIN, "the unseen listener removed", || async {
        service
            .get(&format!("/v1/webhooks/{orphan}"))
            .await
            .status()
            == 404
    })
    .await;
    let stream = service.get(&format!("/v1/listeners/{orphan}/stream")).await;
    assert_eq!(stream.status(), 404);
    continually(
        Duration::from_secs(3),
        "the connected listener kept past its TTL",
        || async { service.get(&format!("/v1/webhooks/{kept}")).await.status() == 200 },
    )
    .await;
    assert_eq!(numbers(&receiver.wait_for(1, WITHIN).await), vec![1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn listen_receives_in_order_from_a_service_on_postgresql() {
    let Some(db) = crate::support::postgres::TestDatabase::create().await else {
        return;
    };
    let service = ADMIN_WEBHOOKS.start_on_database(&db.url, &[]);
    let receiver = Receiver::start().await;
    let listen = Listen::start(&service, &receiver.webhook_url(), &[]).await;
    let secret = listen.secret();
    for n in 0..4 {
        service.publish("order.completed", json!({ "n": n })).await;
    }
    let got = receiver.wait_for(4, WITHIN).await;
    assert_eq!(numbers(&got), vec![0, 1, 2, 3]);
    for request in &got {
        verify::verify_admin_signature(&secret, &request.body, request.header("x-admin-signature"))
            .unwrap();
    }
    let listener = listen.listener_id();
    eventually(WITHIN, "the attempts recorded on PostgreSQL", || async {
        let log: Value = service
            .get(&format!(
                "/v1/webhooks/{listener}/deliveries?status=delivered"
            ))
            .await
            .json()
            .await
            .unwrap();
        log["data"].as_array().unwrap().len() == 4
    })
    .await;
}

/// Two processes on one database: the lane of a listener goes to the process its stream
/// is connected to, also when the stream moves to the other process.
#[tokio::test(flavor = "multi_thread")]
async fn on_postgresql_the_listeners_lane_follows_its_stream_between_processes() {
    let Some(db) = crate::support::postgres::TestDatabase::create().await else {
        return;
    };
    let flags = ["--lane-lease", "2s"];
    let a = ADMIN_WEBHOOKS.start_on_database(&db.url, &flags);
    let b = ADMIN_WEBHOOKS.start_on_database(&db.url, &flags);
    let receiver = Receiver::start().await;
    let listen = Listen::start(&b, &receiver.webhook_url(), &[]).await;
    let listener = listen.listener_id();
    // Published through the other process, which hears its own commit first.
    for n in 0..5 {
        a.publish("user.created", json!({ "n": n })).await;
    }
    assert_eq!(
        numbers(&receiver.wait_for(5, WITHIN).await),
        vec![0, 1, 2, 3, 4]
    );

    // The stream moves to the other process; the lane follows it.
    listen.kill().await;
    for n in 5..8 {
        b.publish("user.created", json!({ "n": n })).await;
    }
    let _moved = Listen::start(&a, &receiver.webhook_url(), &["--listener", &listener]).await;
    let got = eventually(WITHIN, "the events published meanwhile", || async {
        let requests = receiver.requests();
        let mut seen = numbers(&requests);
        seen.dedup();
        (seen.len() >= 8).then_some(requests)
    })
    .await;
    let mut arrived = numbers(&got);
    arrived.dedup();
    assert_eq!(arrived, (0..8).collect::<Vec<_>>());
}
