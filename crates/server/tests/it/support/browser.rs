//! A real headless Chromium driven over WebDriver (fantoccini), for the dashboard tests.
//!
//! [`Browser::start`] starts `/usr/bin/chromedriver` on a free port and opens a session
//! in `/usr/bin/chromium` with a fresh profile and the flags that work on a closed
//! network (no background connections, no component updates, no QUIC). When Chromium is
//! missing it fails if `ADMIN_WEBHOOKS_REQUIRE_BROWSER` or `CI` is set (CI installs it,
//! see `.ci/run`), and otherwise returns `None` after a loud notice.
//!
//! Waiting is always polling against a deadline (`test_support::poll_until`, through
//! [`Browser::wait_for`]), never a fixed sleep. Screenshots go to
//! `target/dashboard-screenshots/` ([`screenshot_dir`]).

use std::future::Future;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use test_support::poll_until;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    screenshots: PathBuf,
}

/// Where the screenshots go: `<target>/dashboard-screenshots`, next to the test binary's
/// `debug/deps` folder, so it follows `CARGO_TARGET_DIR`.
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("dashboard-screenshots")
}

fn required() -> bool {
    std::env::var_os("ADMIN_WEBHOOKS_REQUIRE_BROWSER").is_some() || std::env::var_os("CI").is_some()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Browser {
    /// A browser at 1280×900, or `None` (said loudly) when Chromium is not installed and
    /// not required.
    pub async fn start() -> Option<Browser> {
        let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
            .into_iter()
            .filter(|path| !Path::new(path).exists())
            .collect();
        if !missing.is_empty() {
            if required() {
                panic!(
                    "the dashboard's browser tests need Chromium, and {missing:?} is missing \
                     (ADMIN_WEBHOOKS_REQUIRE_BROWSER or CI is set): apt-get install -y \
                     chromium chromium-driver, as .ci/run does"
                );
            }
            eprintln!(
                "\n!!!!!!!!!! SKIPPED: the dashboard's browser tests need {missing:?}.\n\
                 !!!!!!!!!! Install them with `apt-get install -y chromium chromium-driver`\n\
                 !!!!!!!!!! (.ci/run does); set ADMIN_WEBHOOKS_REQUIRE_BROWSER=1 to make this\n\
                 !!!!!!!!!! a failure.\n"
            );
            return None;
        }
        let port = free_port();
        // Its own process group, which Chromium joins: a failing test (which never
        // reaches `close`) can then end chromedriver and every Chromium process at once.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::TempDir::new().expect("a profile folder");
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("an object literal"),
        };
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen: retry the session until the deadline.
        let last_error = Mutex::new(String::new());
        let session = poll_until(DEADLINE, || async {
            let attempt = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            attempt
                .map_err(|e| *last_error.lock().unwrap() = e.to_string())
                .ok()
        })
        .await;
        let Some(client) = session else {
            panic!(
                "cannot open a Chromium session through chromedriver: {}",
                last_error.lock().unwrap()
            );
        };
        let screenshots = screenshot_dir();
        std::fs::create_dir_all(&screenshots).expect("the screenshot folder");
        Some(Browser {
            client,
            driver,
            _profile: profile,
            screenshots,
        })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub async fn find(&self, css: &str) -> Element {
        let found = self
            .client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element,
            Err(e) => panic!("no element `{css}` on {}: {e}", self.url().await),
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear a field");
        field.send_keys(text).await.expect("type into a field");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("read text")
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Polls `probe` until it answers `Some`, failing the test after [`DEADLINE`].
    pub async fn wait_for<T, F, Fut>(&self, what: &str, probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        if let Some(found) = poll_until(DEADLINE, probe).await {
            return found;
        }
        let page = self.client.source().await.unwrap_or_default();
        panic!(
            "waited {DEADLINE:?} for {what}; the page at {} holds:\n{page}",
            self.url().await
        );
    }

    /// Waits for the page's text (of `css`) to contain `needle`; returns that text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        self.wait_for(&format!("`{needle}` in `{css}`"), || async {
            let element = self.client.find(Locator::Css(css)).await.ok()?;
            let text = element.text().await.ok()?;
            text.contains(needle).then_some(text)
        })
        .await
    }

    /// Saves a PNG of the viewport as `<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Saves a PNG of the whole page, however long, by growing the window to fit first.
    pub async fn screenshot_full(&self, name: &str, width: u32) -> PathBuf {
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(900)
            .clamp(600, 4000) as u32;
        // The window includes a little browser chrome even headless; add room for it.
        self.client
            .set_window_size(width, height + 120)
            .await
            .expect("resize the window");
        // A page opened at an anchor (`#activity`) is scrolled: show it from the top.
        let _ = self.client.execute("window.scrollTo(0, 0);", vec![]).await;
        self.screenshot(name).await
    }

    /// Ends the WebDriver session (closing Chromium) and stops chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failing test never reaches `close`: neither chromedriver nor the Chromium it
        // started may outlive it. The group is the one `start` made for chromedriver.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
