//! The dashboard over plain HTTP (no browser): the session and CSRF rules, sign-in with
//! a bad key, expiry, revocation, and that forms answer with the API's own messages.
//!
//! Each test gets its own [`App`]: the API and the dashboard merged as the service merges
//! them, over a fresh SQLite store, on 127.0.0.1:0. Cookies are handled by hand so that
//! every test sees exactly what the browser would be told.

mod controls;
mod forms;
mod hygiene;
mod listeners;
mod lockout;
mod sessions;
mod signin;

use std::sync::Arc;
use std::time::Duration;
use test_support::announced::Announced;

use dashboard::{DashboardConfig, router};
use domain::api_key::{generate_key, hash_key, key_hint};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use reqwest::redirect::Policy;
use store::sqlite::SqliteStore;
use store::{LaneStore, NewApiKey, OperationsStore};
use tempfile::TempDir;

pub struct Options {
    pub dev: bool,
    pub session_ttl: Duration,
    pub secure_cookies: bool,
    /// Failed authentications allowed per client address, one budget for the dashboard
    /// and the API as in the service; `None`: counted, never refused.
    pub auth_failures: Option<usecases::FailureLimit>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dev: true,
            session_ttl: dashboard::DEFAULT_SESSION_TTL,
            secure_cookies: false,
            auth_failures: None,
        }
    }
}

pub struct App {
    pub base: String,
    pub client: reqwest::Client,
    /// The bootstrap API key of workspace `default`.
    pub key: String,
    pub store: Arc<SqliteStore>,
    /// Every lane wake-up (and resync) the handlers asked for, in order.
    pub woken: Arc<Announced>,
    _dir: TempDir,
}

/// An answer read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn location(&self) -> &str {
        self.header("location")
    }

    /// The `Set-Cookie` lines that set `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value a `Set-Cookie` gives `name`.
    pub fn cookie_value(&self, name: &str) -> Option<String> {
        let line = self.set_cookie(name)?;
        let value = line.split(';').next()?.split_once('=')?.1;
        Some(value.to_owned())
    }
}

pub async fn setup() -> App {
    setup_with(Options::default()).await
}

pub async fn setup_with(options: Options) -> App {
    let dir = TempDir::new().expect("temp dir");
    let store = Arc::new(SqliteStore::open_in_dir(dir.path()).expect("open store"));
    let key = generate_key();
    store
        .bootstrap(NewApiKey {
            name: "bootstrap".to_owned(),
            hash: hash_key(&key),
            hint: key_hint(&key),
        })
        .await
        .expect("bootstrap")
        .expect("a fresh store creates `default`");
    let woken = Arc::new(Announced::new(
        store.announcements().expect("handed out once"),
    ));
    let settings = usecases::Settings {
        dev: options.dev,
        ..usecases::Settings::default()
    };
    let application = usecases::Application::new(store.clone(), settings);
    let auth_failures = Arc::new(usecases::AuthFailureLimiter::new(options.auth_failures));
    let mut state = api::AppState::new(application.clone(), api::ApiConfig::default());
    state.auth_failures = auth_failures.clone();
    let dashboard = router(
        application,
        DashboardConfig {
            session_ttl: options.session_ttl,
            secure_cookies: options.secure_cookies,
            auth_failures,
        },
    );
    // With the peer's address, as the service's server gives it to handlers.
    let app = api::router(state)
        .merge(dashboard)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    App {
        base: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap(),
        key,
        store,
        woken,
        _dir: dir,
    }
}

/// The value of the first `name="csrf"` hidden field of a page.
pub fn csrf_field(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn read(response: reqwest::Response) -> Answer {
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    /// GET with the session cookie (if any) and extra headers.
    pub async fn get(&self, path: &str, session: Option<&str>) -> Answer {
        self.get_with(path, session, &[]).await
    }

    pub async fn get_with(
        &self,
        path: &str,
        session: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.client.get(self.url(path));
        if let Some(session) = session {
            request = request.header("cookie", format!("aw_session={session}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::read(request.send().await.unwrap()).await
    }

    /// POSTs a urlencoded form body with the given cookies.
    pub async fn post_form(&self, path: &str, cookie: Option<&str>, body: &str) -> Answer {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie.to_owned());
        }
        Self::read(request.send().await.unwrap()).await
    }

    /// POSTs a form as the session, with its CSRF token added.
    pub async fn post_as(&self, path: &str, session: &str, body: &str) -> Answer {
        let token = self.csrf(session).await;
        let body = if body.is_empty() {
            format!("csrf={token}")
        } else {
            format!("{body}&csrf={token}")
        };
        self.post_form(path, Some(&format!("aw_session={session}")), &body)
            .await
    }

    /// The session's CSRF token, as its pages carry it.
    pub async fn csrf(&self, session: &str) -> String {
        let page = self.get("/dashboard/webhooks", Some(session)).await;
        assert_eq!(page.status, 200, "{}", page.text);
        csrf_field(&page.text)
    }

    /// The sign-in form's answer to `key` (the form fetched first, as a browser does).
    pub async fn try_sign_in(&self, key: &str, headers: &[(&str, &str)]) -> Answer {
        let form = self.get_with("/dashboard/sign-in", None, headers).await;
        assert_eq!(form.status, 200);
        // `__Host-` prefixed where the cookie is Secure.
        let cookie_name = ["aw_sign_in", "__Host-aw_sign_in"]
            .into_iter()
            .find(|name| form.set_cookie(name).is_some())
            .expect("a sign-in cookie");
        let token = form.cookie_value(cookie_name).unwrap();
        assert_eq!(
            csrf_field(&form.text),
            token,
            "double submit: field = cookie"
        );
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &token)
            .append_pair("api_key", key)
            .append_pair("next", "/dashboard/webhooks")
            .finish();
        let mut request = self
            .client
            .post(self.url("/dashboard/sign-in"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("{cookie_name}={token}"))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::read(request.send().await.unwrap()).await
    }

    /// Signs in with `key` and returns the session cookie's value.
    pub async fn sign_in(&self, key: &str) -> String {
        let answer = self.try_sign_in(key, &[]).await;
        assert_eq!(answer.status, 303, "{}", answer.text);
        answer.cookie_value("aw_session").expect("a session cookie")
    }

    /// Creates another API key of workspace `default` through the API; `(id, value)`.
    pub async fn new_key(&self, name: &str) -> (String, String) {
        let res = self
            .client
            .post(self.url("/v1/api-keys"))
            .bearer_auth(&self.key)
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: serde_json::Value = res.json().await.unwrap();
        (
            body["id"].as_str().unwrap().to_owned(),
            body["key"].as_str().unwrap().to_owned(),
        )
    }

    /// Answers the API's problem `detail` for a JSON request.
    pub async fn api_problem(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, String) {
        let res = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let problem: serde_json::Value = res.json().await.unwrap();
        (status, problem["detail"].as_str().unwrap_or("").to_owned())
    }
}
