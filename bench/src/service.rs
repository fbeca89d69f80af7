//! The service under test, as a separate process.
//!
//! The bench binary re-executes itself with the hidden subcommand [`SUBCOMMAND`], which
//! parses `ServeArgs` exactly like `admin-webhooks serve` and calls
//! `admin_webhooks::run`. A separate process gives the service its own runtime and
//! threads (it does not share the load generator's) and its own RSS, read from
//! `/proc/<pid>/status`; re-executing ourselves means no second binary to build.
//!
//! Each [`Service`] gets a fresh data directory, removed when it is dropped; dropping it
//! also kills the process (also when the bench panics). The child watches its stdin and
//! exits when the bench goes away without dropping it (killed by a signal), so a service
//! is never left running.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use hyper::{Method, StatusCode};

use admin_webhooks::config::ServeArgs;

use crate::load::Conn;

/// The hidden subcommand that runs the service in a child process.
pub const SUBCOMMAND: &str = "__service";

/// The fixed API key of the bench's workspace (ADMIN_WEBHOOKS_BOOTSTRAP_KEY).
pub const KEY: &str = "awk_bench_bootstrap_key_0123456789";

/// The key sealing signing secrets in every service the bench starts (base64 of 32 bytes).
const SECRET_KEY: &str = "c2VjcmV0LWtleS1vZi10aGUtYmVuY2gtcnVucy0zMiE=";

/// What the child prints on stdout once it listens, followed by the address.
const LISTENING: &str = "bench-service-listening ";

/// Service log lines echoed to the bench's stderr before the rest are only counted.
const ECHOED_LOG_LINES: usize = 20;

#[derive(Debug, Parser)]
#[command(name = "admin-webhooks-bench __service")]
struct ServiceCli {
    #[command(flatten)]
    serve: ServeArgs,
}

/// The child side: `admin-webhooks-bench __service <serve flags>`.
pub fn child_main() -> anyhow::Result<()> {
    // argv[1] is the subcommand; clap takes it for the program name.
    let cli = ServiceCli::parse_from(std::env::args_os().skip(1));
    let settings = cli.serve.resolve()?;
    // The bench measures the service without exporting spans (no collector to send to).
    let _telemetry = admin_webhooks::telemetry::init(settings.log_format, None)
        .map_err(|e| anyhow::anyhow!(e))?;
    std::thread::spawn(|| {
        // The bench holds our stdin open; end of file means it is gone.
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    // The same runtime `admin-webhooks serve` gets from `#[tokio::main]`.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        // Bound here and reported before serving: the bench needs no racy free-port guess.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{LISTENING}{}", listener.local_addr()?)?;
        stdout.flush()?;
        drop(stdout);
        let shutdown = admin_webhooks::shutdown_on_signal();
        admin_webhooks::run(settings, listener, shutdown).await
    })
}

/// A fresh directory under the system's temp folder, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> anyhow::Result<TempDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "admin-webhooks-bench-{}-{n}-{name}",
            std::process::id()
        ));
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        // Private, as the service makes its own data folder (it warns about any other).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl TempDir {
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Memory of the service process, from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmHWM`: the peak resident set since the process started.
    pub peak_kib: u64,
    /// `VmRSS`: the resident set now.
    pub now_kib: u64,
}

pub struct Service {
    child: Child,
    /// Held open so the child knows we are alive; dropped with us.
    _stdin: Option<ChildStdin>,
    pub addr: SocketAddr,
    log_lines: Arc<AtomicUsize>,
    /// Removed after `drop` has killed the process.
    data_dir: TempDir,
}

impl Service {
    /// Starts the service on a fresh store on 127.0.0.1 with `--dev` and `extra` flags.
    pub fn start(name: &str, extra: &[&str]) -> anyhow::Result<Service> {
        let data_dir = TempDir::new(name)?;
        let exe = std::env::current_exe().context("cannot find the bench's own binary")?;
        let mut command = Command::new(exe);
        command
            .arg(SUBCOMMAND)
            // The load generator is one client on purpose: the per-key rate limit
            // would measure itself, not the service.
            .args(["--listen", "127.0.0.1:0", "--dev", "--log-format", "json"])
            .args(["--rate-limit", "off"])
            .arg("--data-dir")
            .arg(&data_dir.0)
            .args(extra)
            .env("ADMIN_WEBHOOKS_BOOTSTRAP_KEY", KEY)
            // Processes sharing a PostgreSQL database need the same secret key given.
            .env("ADMIN_WEBHOOKS_SECRET_KEY", SECRET_KEY)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().context("cannot start the service")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");

        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Reads on after the address so the pipe never fills.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix(LISTENING) {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let log_lines = Arc::new(AtomicUsize::new(0));
        let counted = log_lines.clone();
        std::thread::spawn(move || {
            // RUST_LOG=warn: whatever arrives is worth a look. The first lines are
            // echoed; the rest only counted, so a noisy failure cannot flood the table.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // The warning `--dev` always gives is expected here.
                if line.contains("DEVELOPMENT MODE (--dev)") {
                    continue;
                }
                if counted.fetch_add(1, Ordering::Relaxed) < ECHOED_LOG_LINES {
                    eprintln!("[service] {line}");
                }
            }
        });

        let mut service = Service {
            child,
            _stdin: stdin,
            addr: "127.0.0.1:0".parse().expect("literal"),
            log_lines,
            data_dir,
        };
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let status = service.child.try_wait().ok().flatten();
                bail!("the service did not report its address within 30 s (exit: {status:?})");
            }
        };
        service.addr = addr.parse().context("the service's address")?;
        Ok(service)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir.0
    }

    /// Log lines (warnings and errors) the service wrote so far.
    pub fn log_lines(&self) -> usize {
        self.log_lines.load(Ordering::Relaxed)
    }

    /// CPU time (user + system) the service used so far.
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        cpu_of(&self.pid().to_string())
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        let mut status = String::new();
        std::fs::File::open(format!("/proc/{}/status", self.pid()))?.read_to_string(&mut status)?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .with_context(|| format!("no {name} in /proc/<pid>/status"))
        };
        Ok(Memory {
            peak_kib: field("VmHWM:")?,
            now_kib: field("VmRSS:")?,
        })
    }

    /// Registers endpoints `0..count` of `receiver_addr`, subscribed to every type.
    pub async fn create_endpoints(
        &self,
        receiver_addr: SocketAddr,
        count: usize,
    ) -> anyhow::Result<()> {
        let mut conn = Conn::connect(self.addr).await?;
        let auth = hyper::header::HeaderValue::from_str(&format!("Bearer {KEY}"))?;
        for i in 0..count {
            let url = crate::receiver::endpoint_url(receiver_addr, i);
            let body = serde_json::json!({ "url": url, "events": ["*"] }).to_string();
            let (status, answer) = conn
                .send(Method::POST, "/v1/webhooks", Some(&auth), Bytes::from(body))
                .await?;
            if status != StatusCode::CREATED {
                bail!(
                    "creating endpoint {i} answered {status}: {}",
                    String::from_utf8_lossy(&answer)
                );
            }
        }
        Ok(())
    }

    /// Bytes the store occupies on disk (database, WAL and shared memory files).
    pub fn store_bytes(&self) -> u64 {
        std::fs::read_dir(self.data_dir())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) of a process (`"self"` or a pid) from `/proc/<pid>/stat`.
pub fn cpu_of(pid: &str) -> anyhow::Result<Duration> {
    /// Clock ticks per second of `/proc` times; 100 on every Linux we run on.
    const TICKS_PER_SECOND: u64 = 100;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold spaces; fields follow the last `)`.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the line, 12th and 13th after the name.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .context("unexpected /proc/<pid>/stat")
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_millis(total * 1000 / TICKS_PER_SECOND))
}
