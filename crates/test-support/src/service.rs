//! The real `admin-webhooks` binary, started on a fresh data folder on 127.0.0.1:0 and
//! driven over HTTP; it can be stopped gracefully or killed with SIGKILL mid-flight.
//!
//! The binary's path is a parameter ([`Binary`]): only the server crate's own tests know
//! it, through `env!("CARGO_BIN_EXE_admin-webhooks")`. The service is ready once it has
//! logged the address it listens on; nothing here guesses with a delay.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

pub const KEY: &str = "awk_test_bootstrap_key_0123456789";
pub const OPERATOR_KEY: &str = "operator_test_key_0123456789abcdef";

pub struct Service {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
    /// Everything the service printed on stdout so far (the bootstrap banner).
    stdout: Arc<Mutex<String>>,
    /// Every log line (stderr) so far.
    log: Arc<Mutex<String>>,
}

/// The secret key of every service started on PostgreSQL (base64 of 32 bytes).
const DATABASE_SECRET_KEY: &str = "c2VjcmV0LWtleS1vZi10ZXN0LXNlcnZpY2VzLTMyYiE=";

/// The `admin-webhooks` executable a test starts, by path.
#[derive(Clone, Copy, Debug)]
pub struct Binary(pub &'static str);

impl Binary {
    /// Starts the binary in `--dev` (receivers live on loopback) with the given extra flags.
    pub fn start(self, data_dir: &Path, extra: &[&str]) -> Service {
        self.start_with_env(data_dir, extra, &[])
    }

    /// Like [`Binary::start`], with environment variables set over the defaults (e.g. a
    /// `RUST_LOG` that logs everything).
    pub fn start_with_env(self, data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Service {
        let mut command = self.dev_command();
        command.arg("--data-dir").arg(data_dir).args(extra);
        Service::spawn_with(command, env)
    }

    /// Starts the binary as production runs it: without `--dev` (endpoints must be public
    /// `https://` URLs, so loopback receivers are refused), with the test's bootstrap key.
    pub fn start_production(self, data_dir: &Path, extra: &[&str]) -> Service {
        let mut command = Command::new(self.0);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("ADMIN_WEBHOOKS_BOOTSTRAP_KEY", KEY);
        Service::spawn(command)
    }

    /// Starts the binary on a PostgreSQL database shared with other processes.
    pub fn start_on_database(self, url: &str, extra: &[&str]) -> Service {
        let mut command = self.dev_command();
        command.args(["--database-url", url]).args(extra);
        // PostgreSQL needs the key that seals signing secrets given, the same in every
        // process on the database.
        command.env("ADMIN_WEBHOOKS_SECRET_KEY", DATABASE_SECRET_KEY);
        Service::spawn(command)
    }

    /// Starts the binary as the README does: no key given, so it makes one and prints it.
    pub fn start_unconfigured(self, data_dir: &Path) -> Service {
        let mut command = Command::new(self.0);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("ADMIN_WEBHOOKS_BOOTSTRAP_KEY");
        Service::spawn(command)
    }

    /// `serve` on 127.0.0.1:0 in `--dev` with JSON logs and the test's bootstrap key.
    fn dev_command(self) -> Command {
        let mut command = Command::new(self.0);
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--dev",
            ])
            .env("ADMIN_WEBHOOKS_BOOTSTRAP_KEY", KEY);
        command
    }
}

impl Service {
    fn spawn(command: Command) -> Service {
        Service::spawn_with(command, &[])
    }

    fn spawn_with(mut command: Command, env: &[(&str, &str)]) -> Service {
        command
            .env("ADMIN_WEBHOOKS_OPERATOR_KEY", OPERATOR_KEY)
            .env("RUST_LOG", "info,admin_webhooks_delivery=debug")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the admin-webhooks binary starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(String::new()));
        let logged = log.clone();
        // Reads the log to learn the bound address, then keeps draining it so the pipe
        // never fills; lines are echoed for a failing test's output and kept.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[service] {line}");
                {
                    let mut all = logged.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
                if let Some(addr) = listening_addr(&line)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the service reports its address");
        let stdout = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let collected = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let mut all = collected.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        Service {
            child,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            stdout,
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
    }

    /// Registers an endpoint and returns `(id, secret)`.
    pub async fn create_webhook(&self, url: &str, events: &[&str]) -> (String, String) {
        let res = self
            .post("/v1/webhooks", json!({ "url": url, "events": events }))
            .await;
        assert_eq!(res.status(), 201, "creating a webhook");
        let body: Value = res.json().await.unwrap();
        (
            body["id"].as_str().unwrap().to_owned(),
            body["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// Publishes an event and returns its id.
    pub async fn publish(&self, event_type: &str, data: Value) -> String {
        let res = self
            .post("/v1/events", json!({ "type": event_type, "data": data }))
            .await;
        assert_eq!(res.status(), 202, "publishing an event");
        let body: Value = res.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process gets no chance to finish anything.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the process to exit on its own.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }

    /// Every log line the service wrote so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// What the service printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening_addr(line: &str) -> Option<String> {
    let v: Value = serde_json::from_str(line).ok()?;
    let fields = v.get("fields")?;
    if fields.get("message")?.as_str()? != "Admin Webhooks is listening" {
        return None;
    }
    fields.get("addr")?.as_str().map(str::to_owned)
}
