//! The API's command line (`admin-webhooks webhooks|events|deliveries|replay`): the real
//! binary run against a live service, each verb's `--json` output parsed, and errors
//! told on stderr with exit status 1.

use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::support::service::KEY;
use crate::support::{ADMIN_WEBHOOKS, Receiver, Service};
use test_support::eventually;

/// Runs the binary with `args` against `service`, authenticated with `key`.
async fn run_with_key(service: &Service, key: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_admin-webhooks"))
        .args(args)
        .env("ADMIN_WEBHOOKS_API_URL", &service.base)
        .env("ADMIN_WEBHOOKS_API_KEY", key)
        .output()
        .await
        .unwrap()
}

/// Runs a verb with `--json` and returns its parsed output; fails the test on an error.
async fn json(service: &Service, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = run_with_key(service, KEY, &all).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {stdout}"))
}

/// Runs a verb that must fail; returns its stderr.
async fn fails(service: &Service, key: &str, args: &[&str]) -> String {
    let out = run_with_key(service, key, args).await;
    assert_eq!(out.status.code(), Some(1), "{args:?} exit status");
    assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
    String::from_utf8(out.stderr).unwrap()
}

fn ids(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_verb_works_against_a_live_service_and_prints_the_apis_json() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &[]);
    let receiver = Receiver::start().await;
    let url = receiver.webhook_url();
    let before = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();

    // webhooks create | list | get | update
    let created = json(
        &service,
        &[
            "webhooks",
            "create",
            "--url",
            &url,
            "--event",
            "user.created,order.completed",
            "--description",
            "from the CLI",
        ],
    )
    .await;
    let webhook = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        webhook.starts_with("wh_") && secret.starts_with("whsec_"),
        "{created}"
    );
    assert_eq!(
        created["events"],
        serde_json::json!(["user.created", "order.completed"])
    );
    assert_eq!(created["enabled"], true);

    let listed = json(&service, &["webhooks", "list", "--limit", "10"]).await;
    assert_eq!(ids(&listed), [webhook.as_str()]);
    assert!(
        listed["data"][0].get("secret").is_none(),
        "lists leave secrets out"
    );
    assert!(listed["next_cursor"].is_null());

    let got = json(&service, &["webhooks", "get", &webhook]).await;
    assert_eq!(got["secret"], secret.as_str());
    assert_eq!(got["description"], "from the CLI");

    let paused = json(
        &service,
        &[
            "webhooks",
            "update",
            &webhook,
            "--disable",
            "--description",
            "paused",
        ],
    )
    .await;
    assert_eq!(paused["enabled"], false);
    assert_eq!(paused["description"], "paused");
    let resumed = json(&service, &["webhooks", "update", &webhook, "--enable"]).await;
    assert_eq!(resumed["enabled"], true);
    assert_eq!(resumed["description"], "paused", "what is not given stays");

    // webhooks test
    let test = json(&service, &["webhooks", "test", &webhook]).await;
    assert_eq!(test["type"], "webhook.test");

    // events publish | list | get
    let data = r#"{"user_id":"usr_1","email":"a@example.com"}"#;
    let publish = [
        "events",
        "publish",
        "--type",
        "user.created",
        "--data",
        data,
        "--idempotency-key",
        "cli-order-1",
    ];
    let published = json(&service, &publish).await;
    let event = published["id"].as_str().unwrap().to_owned();
    assert_eq!(
        published["data"],
        serde_json::from_str::<Value>(data).unwrap()
    );
    let again = json(&service, &publish).await;
    assert_eq!(
        again["id"],
        event.as_str(),
        "the key answers the first event"
    );

    let events = json(&service, &["events", "list", "--type", "user.created"]).await;
    assert_eq!(ids(&events), [event.as_str()]);
    let detail = json(&service, &["events", "get", &event]).await;
    assert_eq!(detail["type"], "user.created");
    let deliveries = detail["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{detail}");
    assert_eq!(deliveries[0]["webhook_id"], webhook.as_str());
    let delivery = deliveries[0]["id"].as_str().unwrap().to_owned();

    // deliveries list | get | retry
    receiver.wait_for(2, Duration::from_secs(10)).await;
    let delivered = eventually(
        Duration::from_secs(10),
        "the delivery to be delivered",
        || async {
            let got = json(&service, &["deliveries", "get", &delivery]).await;
            (got["status"] == "delivered").then_some(got)
        },
    )
    .await;
    assert_eq!(
        delivered["attempts"].as_array().unwrap().len(),
        1,
        "{delivered}"
    );
    assert_eq!(delivered["attempts"][0]["status_code"], 200);
    let log = json(
        &service,
        &[
            "deliveries",
            "list",
            &webhook,
            "--type",
            "user.created",
            "--status",
            "delivered",
        ],
    )
    .await;
    assert_eq!(ids(&log), [delivery.as_str()]);
    let retried = json(&service, &["deliveries", "retry", &delivery]).await;
    assert_eq!(retried["id"], delivery.as_str());
    assert_eq!(retried["status"], "pending");
    receiver.wait_for(3, Duration::from_secs(10)).await;

    // replay
    let replayed = json(&service, &["replay", &webhook, "--since", &before]).await;
    assert!(replayed["replayed"].as_u64().unwrap() >= 2, "{replayed}");

    // webhooks rotate-secret | delete
    let rotated = json(&service, &["webhooks", "rotate-secret", &webhook]).await;
    assert_eq!(rotated["webhook_id"], webhook.as_str());
    assert_ne!(rotated["secret"], secret.as_str());
    assert!(rotated["previous_secret_expires_at"].is_string());

    let out = run_with_key(&service, KEY, &["webhooks", "delete", &webhook, "--json"]).await;
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "a 204 has nothing to print");
    let gone = fails(&service, KEY, &["webhooks", "get", &webhook]).await;
    assert!(gone.contains("404"), "{gone}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_error_exits_1_with_the_problems_detail_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &[]);

    let missing = domain::WebhookId::generate().to_string();
    let stderr = fails(&service, KEY, &["webhooks", "get", &missing, "--json"]).await;
    assert!(stderr.contains("404 Not Found"), "{stderr}");
    assert!(
        stderr.contains(&format!("There is no webhook `{missing}`")),
        "{stderr}"
    );
    assert!(stderr.contains("request id req_"), "{stderr}");

    let stderr = fails(
        &service,
        KEY,
        &[
            "events",
            "publish",
            "--type",
            "no.such.type",
            "--data",
            "{}",
        ],
    )
    .await;
    assert!(stderr.contains("422"), "{stderr}");

    let wrong_key = "awk_not_a_key_of_this_service_0123456789";
    let stderr = fails(&service, wrong_key, &["webhooks", "list"]).await;
    assert!(stderr.contains("401"), "{stderr}");
    assert!(
        !stderr.contains(wrong_key),
        "the key is never printed: {stderr}"
    );

    // Nothing listening: said on stderr, exit 1 too.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_admin-webhooks"))
        .args(["webhooks", "list", "--api-url", "http://127.0.0.1:9"])
        .env("ADMIN_WEBHOOKS_API_KEY", KEY)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the API at http://127.0.0.1:9"),
        "{stderr}"
    );
    assert!(!stderr.contains(KEY), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_json_lists_print_a_table_for_people() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &[]);
    let receiver = Receiver::start().await;
    let (webhook, _) = service
        .create_webhook(&receiver.webhook_url(), &["user.*"])
        .await;

    let out = run_with_key(&service, KEY, &["webhooks", "list"]).await;
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("URL"),
        "{table}"
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with(&webhook) && row.contains(&receiver.webhook_url()),
        "{table}"
    );
    assert!(
        serde_json::from_str::<Value>(&table).is_err(),
        "a table, not JSON"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_take_a_rate_limit_and_custom_headers() {
    let dir = tempfile::tempdir().unwrap();
    let service = ADMIN_WEBHOOKS.start(dir.path(), &[]);
    let receiver = Receiver::start().await;
    let url = receiver.webhook_url();
    let created = json(
        &service,
        &[
            "webhooks",
            "create",
            "--url",
            &url,
            "--event",
            "*",
            "--rate-limit",
            "20/s",
            "--header",
            "Authorization: Bearer cli-token-123",
            "--header",
            "X-Tenant: t_1",
        ],
    )
    .await;
    assert_eq!(
        created["rate_limit"],
        serde_json::json!({ "per_second": 20 })
    );
    assert_eq!(
        created["headers"],
        serde_json::json!({ "Authorization": "Bear…(20 chars)", "X-Tenant": "…(3 chars)" })
    );
    let id = created["id"].as_str().unwrap().to_owned();

    let out = run_with_key(&service, KEY, &["webhooks", "get", &id]).await;
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains("20 per second"), "{shown}");
    assert!(shown.contains("Authorization: Bear…(20 chars)"), "{shown}");
    assert!(!shown.contains("cli-token"), "{shown}");

    let changed = json(
        &service,
        &[
            "webhooks",
            "update",
            &id,
            "--rate-limit",
            "600/m",
            "--clear-headers",
        ],
    )
    .await;
    assert_eq!(
        changed["rate_limit"],
        serde_json::json!({ "per_minute": 600 })
    );
    assert_eq!(changed["headers"], serde_json::json!({}));
    let removed = json(
        &service,
        &["webhooks", "update", &id, "--rate-limit", "none"],
    )
    .await;
    assert!(removed["rate_limit"].is_null(), "{removed}");

    let refused = fails(
        &service,
        KEY,
        &[
            "webhooks",
            "update",
            &id,
            "--header",
            "Host: elsewhere.example",
        ],
    )
    .await;
    assert!(refused.contains("header `Host` cannot be set"), "{refused}");
}
