//! The test harness: a real server on 127.0.0.1:0 over a real SQLite store in a fresh
//! temporary directory, driven with reqwest. Each test gets its own [`App`].

use std::sync::Arc;
use test_support::announced::Announced;

use admin_webhooks_api::{ApiConfig, AppState, router};
use domain::api_key::{generate_key, hash_key, key_hint};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use store::sqlite::SqliteStore;
use store::{LaneStore, NewApiKey, OperationsStore};
use tempfile::TempDir;

pub const OPERATOR_KEY: &str = "operator-key-for-tests-0123456789";

/// How a test's server is configured; the default is strict (not `--dev`) with an
/// operator key and the default body limit.
pub struct Options {
    pub dev: bool,
    pub operator_key: Option<String>,
    /// What `/readyz` hears from the dispatcher; `None`: no dispatcher runs.
    pub dispatcher_alive: Option<admin_webhooks_api::health::Liveness>,
    /// Failed authentications allowed per client address; `None`: counted, never refused.
    pub auth_failures: Option<usecases::FailureLimit>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dev: false,
            operator_key: Some(OPERATOR_KEY.to_owned()),
            dispatcher_alive: None,
            auth_failures: None,
        }
    }
}

pub struct App {
    pub base: String,
    pub client: reqwest::Client,
    /// The API key of the bootstrapped workspace `default`.
    pub key: String,
    pub store: Arc<SqliteStore>,
    /// Every call of `wake_lanes`, in order.
    pub published: Arc<Announced>,
    _dir: TempDir,
}

/// An answer, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with this status; returns its `detail`.
    #[track_caller]
    pub fn problem(&self, status: u16) -> String {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["status"], status, "{}", self.text);
        assert!(
            body["type"].is_string() && body["title"].is_string(),
            "{}",
            self.text
        );
        body["detail"].as_str().expect("detail").to_owned()
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        if self.text.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

pub async fn setup() -> App {
    setup_with(Options::default()).await
}

pub async fn setup_with(options: Options) -> App {
    let dir = TempDir::new().expect("temp dir");
    let store = Arc::new(SqliteStore::open_in_dir(dir.path()).expect("open store"));
    let key = generate_key();
    let first = NewApiKey {
        name: "bootstrap".to_owned(),
        hash: hash_key(&key),
        hint: key_hint(&key),
    };
    store
        .bootstrap(first)
        .await
        .expect("bootstrap")
        .expect("a fresh store creates `default`");

    let published = Arc::new(Announced::new(
        store.announcements().expect("handed out once"),
    ));
    let settings = usecases::Settings {
        dev: options.dev,
        ..usecases::Settings::default()
    };
    let app = usecases::Application::new(store.clone(), settings);
    let config = ApiConfig {
        operator_key: options.operator_key,
        ..ApiConfig::default()
    };
    let mut state = AppState::new(app, config);
    state.dispatcher_alive = options.dispatcher_alive;
    state.auth_failures = Arc::new(usecases::AuthFailureLimiter::new(options.auth_failures));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    // With the peer's address, as the service's server gives it to handlers.
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    // No proxy: the environment may name one, and the server is on loopback.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    App {
        base: format!("http://{addr}"),
        client,
        key,
        store,
        published,
        _dir: dir,
    }
}

impl App {
    /// A request with an optional bearer key and optional raw body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        Answer {
            status,
            headers,
            text,
        }
    }

    pub async fn get_as(&self, key: &str, path: &str) -> Answer {
        self.send(Method::GET, path, Some(key), None, &[]).await
    }

    pub async fn post_as(&self, key: &str, path: &str, body: Value) -> Answer {
        self.send(
            Method::POST,
            path,
            Some(key),
            Some(body.to_string().into_bytes()),
            &[],
        )
        .await
    }

    pub async fn patch_as(&self, key: &str, path: &str, body: Value) -> Answer {
        self.send(
            Method::PATCH,
            path,
            Some(key),
            Some(body.to_string().into_bytes()),
            &[],
        )
        .await
    }

    pub async fn delete_as(&self, key: &str, path: &str) -> Answer {
        self.send(Method::DELETE, path, Some(key), None, &[]).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.get_as(&self.key, path).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.post_as(&self.key, path, body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.patch_as(&self.key, path, body).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.delete_as(&self.key, path).await
    }

    /// Creates an enabled webhook on a public literal address; returns its JSON.
    pub async fn webhook(&self, events: &[&str]) -> Value {
        self.webhook_as(&self.key, events).await
    }

    pub async fn webhook_as(&self, key: &str, events: &[&str]) -> Value {
        self.post_as(
            key,
            "/v1/webhooks",
            json!({"url": PUBLIC_URL, "events": events}),
        )
        .await
        .expect(201)
    }

    /// Publishes an event of `event_type`; returns its JSON.
    pub async fn publish(&self, event_type: &str) -> Value {
        self.post("/v1/events", json!({"type": event_type, "data": {"n": 1}}))
            .await
            .expect(202)
    }

    /// The operator creates a workspace; returns (workspace id, its first API key).
    pub async fn second_workspace(&self, name: &str) -> (String, String) {
        let created = self
            .post_as(OPERATOR_KEY, "/v1/workspaces", json!({"name": name}))
            .await
            .expect(201);
        let id = created["workspace"]["id"].as_str().unwrap().to_owned();
        let key = created["api_key"]["key"].as_str().unwrap().to_owned();
        (id, key)
    }

    /// The ids of `GET /v1/webhooks/{id}/deliveries`, newest first.
    pub async fn delivery_ids(&self, webhook: &str) -> Vec<String> {
        let page = self
            .get(&format!("/v1/webhooks/{webhook}/deliveries"))
            .await
            .expect(200);
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    }

    pub fn published_calls(&self) -> Vec<Vec<String>> {
        let calls = self.published.lock().unwrap();
        calls
            .iter()
            .map(|ids| ids.iter().map(|id| id.to_string()).collect())
            .collect()
    }
}

/// A public IPv4 literal: accepted in strict mode without DNS. Nothing is sent to it
/// (no dispatcher runs in these tests).
pub const PUBLIC_URL: &str = "https://93.184.215.14/hook";

pub fn str_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` in {value}"))
}
