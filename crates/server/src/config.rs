//! The configuration of `admin-webhooks serve`: one documented struct read from flags,
//! `ADMIN_WEBHOOKS_*` environment variables and an optional TOML file (`--config`), in
//! that order of precedence, then checked and turned into [`Settings`] before anything
//! starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use api::rate_limit::{Rate, RateLimit};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use usecases::FailureLimit;

#[derive(Debug, Parser)]
#[command(
    name = "admin-webhooks",
    version,
    about = "Admin Webhooks: signed, ordered, retried webhook delivery."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole service: HTTP API, dashboard and delivery workers.
    Serve(Box<ServeArgs>),
    /// Receive webhooks on this machine, check their signatures and print them (for trying
    /// the service with --dev).
    Receive(crate::receive::ReceiveArgs),
    /// The API from the command line (webhooks, events, deliveries, replay).
    #[command(flatten)]
    Api(crate::cli::ApiCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A duration written as people write them: `500ms`, `5s`, `15m`, `24h`, `30d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = domain::duration::DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        domain::duration::parse_duration(s).map(HumanDuration)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Every setting of `serve`. Each is optional here so the three sources can be layered;
/// [`ServeArgs::resolve`] fills in the defaults.
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServeArgs {
    /// Address the HTTP API and dashboard listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "ADMIN_WEBHOOKS_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Folder of the embedded SQLite store [default: ./data].
    #[arg(long, env = "ADMIN_WEBHOOKS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// A TOML file with any of these settings (keys are the flag names without `--`).
    #[arg(long, env = "ADMIN_WEBHOOKS_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Development mode: allow http:// URLs and loopback/private addresses for endpoints.
    /// Never use it in production.
    #[arg(long, env = "ADMIN_WEBHOOKS_DEV")]
    pub dev: bool,

    /// Log format [default: pretty].
    #[arg(long, env = "ADMIN_WEBHOOKS_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// A PEM file of extra trusted root certificates (a private CA), added to the public
    /// roots.
    #[arg(long, env = "ADMIN_WEBHOOKS_EXTRA_CA_FILE")]
    pub extra_ca_file: Option<PathBuf>,

    /// Time allowed for one whole attempt [default: 3s].
    #[arg(long, env = "ADMIN_WEBHOOKS_ATTEMPT_TIMEOUT")]
    pub attempt_timeout: Option<HumanDuration>,

    /// Delay before the first retry; it doubles on each failure [default: 5s].
    #[arg(long, env = "ADMIN_WEBHOOKS_RETRY_BASE")]
    pub retry_base: Option<HumanDuration>,

    /// Longest delay between retries [default: 15m].
    #[arg(long, env = "ADMIN_WEBHOOKS_RETRY_CAP")]
    pub retry_cap: Option<HumanDuration>,

    /// How long an event is retried before its deliveries expire [default: 24h].
    #[arg(long, env = "ADMIN_WEBHOOKS_RETENTION")]
    pub retention: Option<HumanDuration>,

    /// After a secret rotation, how long the replaced secret keeps signing (a second
    /// `webhook-signature` entry) [default: 24h].
    #[arg(long, env = "ADMIN_WEBHOOKS_SECRET_GRACE")]
    pub secret_grace: Option<HumanDuration>,

    /// How long the activity log keeps attempts, and delivered or expired deliveries with
    /// their events; older ones are pruned in the background [default: 30d].
    #[arg(long, env = "ADMIN_WEBHOOKS_LOG_RETENTION")]
    pub log_retention: Option<HumanDuration>,

    /// Largest accepted request body, in bytes [default: 262144].
    #[arg(long, env = "ADMIN_WEBHOOKS_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Deepest nesting of arrays and objects a published `data` or `metadata` may have;
    /// deeper payloads are refused with 422 [default: 64].
    #[arg(long, env = "ADMIN_WEBHOOKS_MAX_PAYLOAD_DEPTH")]
    pub max_payload_depth: Option<usize>,

    /// Time a client has to send a request's headers, from connecting or from the first
    /// byte of its next request; slower connections are closed [default: 10s].
    #[arg(long, env = "ADMIN_WEBHOOKS_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<HumanDuration>,

    /// A connection on which nothing is sent or received for this long is closed (a
    /// kept-alive connection waiting for its next request included) [default: 60s].
    #[arg(long, env = "ADMIN_WEBHOOKS_IDLE_TIMEOUT")]
    pub idle_timeout: Option<HumanDuration>,

    /// HTTP connections open at once; connections beyond it are closed as soon as they
    /// are accepted, those being served are kept. Keep the process's open-file limit
    /// (`ulimit -n`) above it [default: 10000].
    #[arg(long, env = "ADMIN_WEBHOOKS_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Attempts in flight at once across all endpoints [default: 512].
    #[arg(long, env = "ADMIN_WEBHOOKS_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,

    /// How much lower than the API's the CPU priority of the threads that send
    /// deliveries is, 0–19 (as `nice`): when the CPU is short, accepting events goes
    /// first and delivering them uses what is left. 0 shares the CPU evenly [default: 5].
    #[arg(long, env = "ADMIN_WEBHOOKS_DELIVERY_NICENESS")]
    pub delivery_niceness: Option<u8>,

    /// A PostgreSQL URL (`postgres://user@host/db`): store everything there instead of in
    /// the data folder, so that several `serve` processes can share the work.
    #[arg(long, env = "ADMIN_WEBHOOKS_DATABASE_URL")]
    pub database_url: Option<String>,

    /// A file of the keys that seal the webhooks' signing secrets in the store: one per
    /// line, each 32 bytes in base64 or hex (`head -c 32 /dev/urandom | base64`). The
    /// first seals; the others only open, for rotating keys. Instead of a file, the keys
    /// may be given comma-separated in ADMIN_WEBHOOKS_SECRET_KEY. Without either, SQLite
    /// keeps a key it generates in `<data-dir>/secret.key`; PostgreSQL needs one given.
    #[arg(long, env = "ADMIN_WEBHOOKS_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,

    /// Connections each process keeps to PostgreSQL [default: 16].
    #[arg(long, env = "ADMIN_WEBHOOKS_DATABASE_MAX_CONNECTIONS")]
    pub database_max_connections: Option<usize>,

    /// How long a process holds an endpoint's lane on PostgreSQL without renewing it; a
    /// process that dies hands its lanes to the others after at most this long
    /// [default: 15s].
    #[arg(long, env = "ADMIN_WEBHOOKS_LANE_LEASE")]
    pub lane_lease: Option<HumanDuration>,

    /// Requests each API key may make, sustained: `<n>/s`, `<n>/m`, `<n>/h`, or `off`.
    /// Beyond it (and its burst) the API answers 429 with `Retry-After`. Counted per
    /// process: with several processes a key may reach this rate on each
    /// [default: 1000/s].
    #[arg(long, env = "ADMIN_WEBHOOKS_RATE_LIMIT")]
    pub rate_limit: Option<Rate>,

    /// Requests an API key may make at once before the sustained rate applies
    /// [default: 2000].
    #[arg(long, env = "ADMIN_WEBHOOKS_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,

    /// Failed authentications (wrong API keys, wrong operator keys, failed dashboard
    /// sign-ins) each client address may make, sustained: `<n>/s`, `<n>/m`, `<n>/h`, or
    /// `off`. Beyond it (and its burst) its failed attempts get 429 with `Retry-After`
    /// instead of 401; valid keys are never refused. Counted per process, by TCP peer
    /// address (IPv6 by /64) [default: 20/m].
    #[arg(long, env = "ADMIN_WEBHOOKS_AUTH_FAILURE_LIMIT")]
    pub auth_failure_limit: Option<Rate>,

    /// Failed authentications a client address may make at once before the sustained
    /// rate applies [default: 20].
    #[arg(long, env = "ADMIN_WEBHOOKS_AUTH_FAILURE_BURST")]
    pub auth_failure_burst: Option<u32>,

    /// How long an endpoint must fail every attempt before a `system.alert` event says
    /// so [default: 1h].
    #[arg(long, env = "ADMIN_WEBHOOKS_ALERT_AFTER")]
    pub alert_after: Option<HumanDuration>,

    /// How often the backlog is measured, for the pending gauges of /metrics and the
    /// operational alerts [default: 15s].
    #[arg(long, env = "ADMIN_WEBHOOKS_MONITOR_INTERVAL")]
    pub monitor_interval: Option<HumanDuration>,

    /// How long a listener endpoint of `admin-webhooks listen` may go without a stream
    /// connected before it is removed with its backlog [default: 1h].
    #[arg(long, env = "ADMIN_WEBHOOKS_LISTENER_TTL")]
    pub listener_ttl: Option<HumanDuration>,

    /// Export the service's spans (API requests, delivery attempts) over OTLP/HTTP
    /// (protobuf) to this collector URL, e.g. http://127.0.0.1:4318; `/v1/traces` is
    /// added to it [default: off].
    #[arg(long, env = "ADMIN_WEBHOOKS_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

/// Settings after layering and checking: what the service runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub dev: bool,
    pub log_format: LogFormat,
    pub extra_ca_file: Option<PathBuf>,
    pub attempt_timeout: Duration,
    pub retry_base: Duration,
    pub retry_cap: Duration,
    pub retention: Duration,
    pub secret_grace: Duration,
    pub log_retention: Duration,
    pub max_body_bytes: usize,
    pub payload_rules: domain::PayloadRules,
    pub connection_limits: crate::http_server::ConnectionLimits,
    pub max_in_flight: usize,
    pub delivery_niceness: u8,
    pub database_url: Option<String>,
    pub database_max_connections: usize,
    pub lane_lease: Duration,
    /// `None` when `--rate-limit off`.
    pub rate_limit: Option<RateLimit>,
    /// `None` when `--auth-failure-limit off`.
    pub auth_failure_limit: Option<FailureLimit>,
    pub alert_after: Duration,
    pub monitor_interval: Duration,
    pub listener_ttl: Duration,
    /// `--otlp-endpoint`: where spans are exported; `None`: nowhere.
    pub otlp_endpoint: Option<url::Url>,
    /// `ADMIN_WEBHOOKS_BOOTSTRAP_KEY`: the value of the first API key, for automation.
    pub bootstrap_key: Option<Secret>,
    /// `ADMIN_WEBHOOKS_OPERATOR_KEY`: enables the operator API.
    pub operator_key: Option<Secret>,
    /// `--secret-key-file`: the keys that seal signing secrets, one per line.
    pub secret_key_file: Option<PathBuf>,
    /// `ADMIN_WEBHOOKS_SECRET_KEY`: the same keys given inline, comma-separated (an
    /// environment variable only, so that keys never show in a process list).
    pub secret_key: Option<Secret>,
}

/// A key read from the environment. Its `Debug` never shows it, so that [`Settings`] can
/// be printed or logged whole without leaking a key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Read from a flag or an environment variable (`--api-key`), still never shown.
impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl ServeArgs {
    /// Layers flags/environment over the config file over the defaults, and checks the
    /// result.
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str::<ServeArgs>(&text).map_err(|source| ConfigError::Parse {
                    path: path.clone(),
                    source,
                })?
            }
            None => ServeArgs::default(),
        };
        let secs = |d: Option<HumanDuration>, f: Option<HumanDuration>, default: u64| {
            d.or(f).map_or(Duration::from_secs(default), |h| h.0)
        };
        let settings = Settings {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("literal")),
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./data")),
            dev: self.dev || file.dev,
            log_format: self
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Pretty),
            extra_ca_file: self.extra_ca_file.or(file.extra_ca_file),
            attempt_timeout: secs(self.attempt_timeout, file.attempt_timeout, 3),
            retry_base: secs(self.retry_base, file.retry_base, 5),
            retry_cap: secs(self.retry_cap, file.retry_cap, 15 * 60),
            retention: secs(self.retention, file.retention, 24 * 3600),
            secret_grace: secs(self.secret_grace, file.secret_grace, 24 * 3600),
            log_retention: secs(self.log_retention, file.log_retention, 30 * 24 * 3600),
            max_body_bytes: self
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(256 * 1024),
            payload_rules: domain::PayloadRules {
                max_depth: self
                    .max_payload_depth
                    .or(file.max_payload_depth)
                    .unwrap_or(domain::payload::DEFAULT_MAX_DEPTH),
            },
            connection_limits: crate::http_server::ConnectionLimits {
                header_read_timeout: secs(self.header_read_timeout, file.header_read_timeout, 10),
                idle_timeout: secs(self.idle_timeout, file.idle_timeout, 60),
                max_connections: self
                    .max_connections
                    .or(file.max_connections)
                    .unwrap_or(10_000),
            },
            max_in_flight: self.max_in_flight.or(file.max_in_flight).unwrap_or(512),
            delivery_niceness: self
                .delivery_niceness
                .or(file.delivery_niceness)
                .unwrap_or(DEFAULT_DELIVERY_NICENESS),
            database_url: self
                .database_url
                .or(file.database_url)
                .filter(|u| !u.trim().is_empty()),
            database_max_connections: self
                .database_max_connections
                .or(file.database_max_connections)
                .unwrap_or(16),
            lane_lease: secs(self.lane_lease, file.lane_lease, 15),
            rate_limit: rate_limit(
                self.rate_limit.or(file.rate_limit),
                self.rate_limit_burst.or(file.rate_limit_burst),
            )?,
            auth_failure_limit: auth_failure_limit(
                self.auth_failure_limit.or(file.auth_failure_limit),
                self.auth_failure_burst.or(file.auth_failure_burst),
            )?,
            alert_after: secs(self.alert_after, file.alert_after, 3600),
            monitor_interval: secs(self.monitor_interval, file.monitor_interval, 15),
            listener_ttl: secs(self.listener_ttl, file.listener_ttl, 3600),
            otlp_endpoint: otlp_endpoint(
                self.otlp_endpoint
                    .or(file.otlp_endpoint)
                    .filter(|u| !u.trim().is_empty()),
            )?,
            bootstrap_key: non_empty_env("ADMIN_WEBHOOKS_BOOTSTRAP_KEY").map(Secret),
            operator_key: non_empty_env("ADMIN_WEBHOOKS_OPERATOR_KEY").map(Secret),
            secret_key_file: self.secret_key_file.or(file.secret_key_file),
            secret_key: non_empty_env("ADMIN_WEBHOOKS_SECRET_KEY").map(Secret),
        };
        settings.check()?;
        Ok(settings)
    }
}

/// The collector URL of `--otlp-endpoint`: `http(s)://host[:port][/path]`, with
/// `/v1/traces` added (the OTLP/HTTP convention for a base URL) unless it ends with it.
fn otlp_endpoint(text: Option<String>) -> Result<Option<url::Url>, ConfigError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let invalid = |why: &str| {
        ConfigError::Invalid(format!(
            "--otlp-endpoint must be an http:// or https:// URL of an OTLP/HTTP collector \
             (such as http://127.0.0.1:4318): {why}"
        ))
    };
    let mut url = url::Url::parse(text.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("not an http(s) URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials in the URL would be logged; use a proxy or network policy",
        ));
    }
    if !url.path().ends_with("/v1/traces") {
        let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    Ok(Some(url))
}

/// The service's default limit per API key: generous for one producer (a thousand
/// publishes a second, two thousand at once), low enough that a runaway client cannot
/// take the whole store for itself.
pub const DEFAULT_RATE_PER_SECOND: f64 = 1000.0;
pub const DEFAULT_RATE_BURST: u32 = 2000;

fn rate_limit(rate: Option<Rate>, burst: Option<u32>) -> Result<Option<RateLimit>, ConfigError> {
    let defaults = (DEFAULT_RATE_PER_SECOND, DEFAULT_RATE_BURST);
    let limit = rate_and_burst(rate, burst, defaults, "--rate-limit-burst")?;
    Ok(limit.map(|(per_second, burst)| RateLimit { per_second, burst }))
}

/// The delivery threads' default niceness: measured on 2 cores (BENCHMARKS.md, session 7),
/// publishing to 50 endpoints while they are delivered to takes 3–10× the events of level
/// priority, and a drain with nothing published alongside runs 0.7–0.9× as fast; 10 takes
/// a little more for intake and costs the drain more.
pub const DEFAULT_DELIVERY_NICENESS: u8 = 5;

/// The service's default limit of failed authentications per address: a person mistyping
/// a key never meets it, a script guessing keys is slowed to one guess every 3 s.
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: f64 = 20.0;
pub const DEFAULT_AUTH_FAILURE_BURST: u32 = 20;

fn auth_failure_limit(
    rate: Option<Rate>,
    burst: Option<u32>,
) -> Result<Option<FailureLimit>, ConfigError> {
    let defaults = (
        DEFAULT_AUTH_FAILURES_PER_MINUTE / 60.0,
        DEFAULT_AUTH_FAILURE_BURST,
    );
    let limit = rate_and_burst(rate, burst, defaults, "--auth-failure-burst")?;
    Ok(limit.map(|(per_second, burst)| FailureLimit { per_second, burst }))
}

/// A sustained rate and a burst with their `defaults`; `None` when the rate is `off`.
fn rate_and_burst(
    rate: Option<Rate>,
    burst: Option<u32>,
    (default_per_second, default_burst): (f64, u32),
    burst_flag: &str,
) -> Result<Option<(f64, u32)>, ConfigError> {
    let burst = burst.unwrap_or(default_burst);
    if burst == 0 {
        return Err(ConfigError::Invalid(format!(
            "{burst_flag} must be at least 1"
        )));
    }
    Ok(match rate {
        None => Some((default_per_second, burst)),
        Some(Rate(None)) => None,
        Some(Rate(Some(per_second))) => Some((per_second, burst)),
    })
}

/// The shortest operator or bootstrap key accepted: as many characters as a generated
/// key has random bytes, so a chosen key is not the weakest way in.
pub const MIN_CHOSEN_KEY_CHARS: usize = 32;

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Settings {
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.attempt_timeout.is_zero() {
            return invalid("--attempt-timeout must be longer than 0");
        }
        if self.retry_base.is_zero() || self.retry_cap < self.retry_base {
            return invalid("--retry-base must be longer than 0 and not longer than --retry-cap");
        }
        if self.retention.is_zero() {
            return invalid("--retention must be longer than 0");
        }
        // Pruning rows every few milliseconds would only burn the writer; a second is the
        // shortest that makes sense (tests use a few seconds).
        if self.log_retention < Duration::from_secs(1) {
            return invalid("--log-retention must be at least 1s");
        }
        if self.max_body_bytes < 1024 {
            return invalid("--max-body-bytes must be at least 1024");
        }
        if self.payload_rules.max_depth == 0 {
            return invalid("--max-payload-depth must be at least 1");
        }
        let limits = &self.connection_limits;
        if limits.header_read_timeout.is_zero() || limits.idle_timeout.is_zero() {
            return invalid("--header-read-timeout and --idle-timeout must be longer than 0");
        }
        if limits.max_connections == 0 {
            return invalid("--max-connections must be at least 1");
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return invalid("--database-url must be a postgres:// or postgresql:// URL");
        }
        if self.database_max_connections == 0 {
            return invalid("--database-max-connections must be at least 1");
        }
        if self.lane_lease < Duration::from_secs(1) {
            return invalid("--lane-lease must be at least 1s");
        }
        if self.alert_after.is_zero() {
            return invalid("--alert-after must be longer than 0");
        }
        // Each check reads every endpoint's backlog; more often than this only loads the
        // store (tests use a fraction of a second).
        if self.monitor_interval < Duration::from_millis(100) {
            return invalid("--monitor-interval must be at least 100ms");
        }
        if self.listener_ttl < Duration::from_secs(1) {
            return invalid("--listener-ttl must be at least 1s");
        }
        if self.max_in_flight == 0 {
            return invalid("--max-in-flight must be at least 1");
        }
        if self.delivery_niceness > 19 {
            return invalid("--delivery-niceness must be between 0 and 19");
        }
        for (name, key) in [
            ("ADMIN_WEBHOOKS_BOOTSTRAP_KEY", &self.bootstrap_key),
            ("ADMIN_WEBHOOKS_OPERATOR_KEY", &self.operator_key),
        ] {
            if let Some(key) = key
                && key.expose().chars().count() < MIN_CHOSEN_KEY_CHARS
            {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be at least {MIN_CHOSEN_KEY_CHARS} characters long (it has {}); \
                     use a long random value, such as the output of `openssl rand -hex 32`",
                    key.expose().chars().count()
                )));
            }
        }
        if self.secret_key.is_some() && self.secret_key_file.is_some() {
            return invalid(
                "give the secret keys either in ADMIN_WEBHOOKS_SECRET_KEY or in \
                 --secret-key-file (ADMIN_WEBHOOKS_SECRET_KEY_FILE), not both",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn serve_args(argv: &[&str]) -> ServeArgs {
        let mut all = vec!["admin-webhooks", "serve"];
        all.extend_from_slice(argv);
        match Cli::try_parse_from(all).unwrap().command {
            Command::Serve(args) => *args,
            Command::Receive(_) | Command::Api(_) => unreachable!(),
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let s = serve_args(&[]).resolve().unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.attempt_timeout, Duration::from_secs(3));
        assert_eq!(s.retry_base, Duration::from_secs(5));
        assert_eq!(s.retry_cap, Duration::from_secs(900));
        assert_eq!(s.retention, Duration::from_secs(86_400));
        assert_eq!(s.secret_grace, Duration::from_secs(86_400));
        assert_eq!(s.log_retention, Duration::from_secs(30 * 86_400));
        assert_eq!(
            s.rate_limit,
            Some(RateLimit {
                per_second: 1000.0,
                burst: 2000
            })
        );
        assert_eq!(s.alert_after, Duration::from_secs(3600));
        assert_eq!(s.monitor_interval, Duration::from_secs(15));
        assert_eq!(s.listener_ttl, Duration::from_secs(3600));
        assert_eq!(
            s.auth_failure_limit,
            Some(FailureLimit {
                per_second: 20.0 / 60.0,
                burst: 20
            })
        );
        assert_eq!(s.delivery_niceness, 5);
        assert_eq!(s.payload_rules.max_depth, 64);
        assert_eq!(
            s.connection_limits,
            crate::http_server::ConnectionLimits {
                header_read_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                max_connections: 10_000,
            }
        );
        assert!(!s.dev);
    }

    #[test]
    fn connection_and_payload_limits_are_set_and_checked() {
        let s = serve_args(&[
            "--max-payload-depth",
            "8",
            "--header-read-timeout",
            "1s",
            "--idle-timeout",
            "2s",
            "--max-connections",
            "50",
            "--delivery-niceness",
            "12",
        ])
        .resolve()
        .unwrap();
        assert_eq!(s.delivery_niceness, 12);
        assert_eq!(s.payload_rules.max_depth, 8);
        assert_eq!(
            s.connection_limits.header_read_timeout,
            Duration::from_secs(1)
        );
        assert_eq!(s.connection_limits.idle_timeout, Duration::from_secs(2));
        assert_eq!(s.connection_limits.max_connections, 50);
        for (flag, value) in [
            ("--max-payload-depth", "0"),
            ("--header-read-timeout", "0s"),
            ("--idle-timeout", "0s"),
            ("--max-connections", "0"),
            ("--delivery-niceness", "20"),
        ] {
            let err = serve_args(&[flag, value]).resolve().unwrap_err();
            assert!(err.to_string().contains(flag), "{flag}: {err}");
        }
    }

    #[test]
    fn keys_never_show_in_the_settings_debug_output() {
        let settings = Settings {
            bootstrap_key: Some(Secret("awk_very_secret_bootstrap_0123".into())),
            operator_key: Some(Secret("operator_very_secret_0123456".into())),
            secret_key: Some(Secret("very_secret_sealing_key".into())),
            ..serve_args(&[]).resolve().unwrap()
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("very_secret"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn rate_limits_parse_or_turn_off() {
        let s = serve_args(&["--rate-limit", "5/s", "--rate-limit-burst", "3"])
            .resolve()
            .unwrap();
        assert_eq!(
            s.rate_limit,
            Some(RateLimit {
                per_second: 5.0,
                burst: 3
            })
        );
        let s = serve_args(&["--rate-limit", "off"]).resolve().unwrap();
        assert_eq!(s.rate_limit, None);
        assert!(Cli::try_parse_from(["admin-webhooks", "serve", "--rate-limit", "lots"]).is_err());
        let err = serve_args(&["--rate-limit-burst", "0"])
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("--rate-limit-burst"), "{err}");
    }

    #[test]
    fn auth_failure_limits_parse_or_turn_off() {
        let s = serve_args(&["--auth-failure-limit", "5/m", "--auth-failure-burst", "3"])
            .resolve()
            .unwrap();
        assert_eq!(
            s.auth_failure_limit,
            Some(FailureLimit {
                per_second: 5.0 / 60.0,
                burst: 3
            })
        );
        let s = serve_args(&["--auth-failure-limit", "off"])
            .resolve()
            .unwrap();
        assert_eq!(s.auth_failure_limit, None);
        let err = serve_args(&["--auth-failure-burst", "0"])
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("--auth-failure-burst"), "{err}");
    }

    #[test]
    fn chosen_keys_must_have_32_characters() {
        let base = serve_args(&[]).resolve().unwrap();
        let short = "awk_my_local_trial_key_123456"; // 29: the README's old example
        let long = "awk_my_local_trial_key_0123456789";
        for (bootstrap, operator, refused) in [
            (Some(short), None, Some("ADMIN_WEBHOOKS_BOOTSTRAP_KEY")),
            (None, Some(short), Some("ADMIN_WEBHOOKS_OPERATOR_KEY")),
            (Some(long), Some(long), None),
        ] {
            let settings = Settings {
                bootstrap_key: bootstrap.map(|k| Secret(k.to_owned())),
                operator_key: operator.map(|k| Secret(k.to_owned())),
                ..base.clone()
            };
            match (settings.check(), refused) {
                (Ok(()), None) => {}
                (Err(err), Some(name)) => {
                    let text = err.to_string();
                    assert!(text.contains(name) && text.contains("32"), "{text}");
                    assert!(!text.contains(short), "the key is not echoed: {text}");
                }
                (other, _) => panic!("{bootstrap:?}/{operator:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin-webhooks.toml");
        std::fs::write(
            &file,
            "retry-base = \"1s\"\nretention = \"2h\"\ndev = true\n",
        )
        .unwrap();
        let s = serve_args(&[
            "--config",
            file.to_str().unwrap(),
            "--retry-base",
            "250ms",
            "--secret-grace",
            "0s",
            "--log-retention",
            "7d",
        ])
        .resolve()
        .unwrap();
        assert_eq!(s.retry_base, Duration::from_millis(250));
        assert_eq!(s.secret_grace, Duration::ZERO);
        assert_eq!(s.log_retention, Duration::from_secs(7 * 86_400));
        assert_eq!(s.retention, Duration::from_secs(7200));
        assert!(s.dev);
    }

    #[test]
    fn bad_settings_are_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "retry-bse = \"1s\"\n").unwrap();
        let err = serve_args(&["--config", file.to_str().unwrap()])
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("retry-bse"), "{err}");
        let err = serve_args(&["--retry-base", "1m", "--retry-cap", "10s"])
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("--retry-cap"), "{err}");
        assert!(
            Cli::try_parse_from(["admin-webhooks", "serve", "--retention", "forever"]).is_err()
        );
        let err = serve_args(&["--log-retention", "500ms"])
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("--log-retention"), "{err}");
        let err = serve_args(&["--database-url", "mysql://x"])
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("postgres://"), "{err}");
        let err = Settings {
            secret_key: Some(Secret("k".into())),
            secret_key_file: Some(PathBuf::from("secret.key")),
            ..serve_args(&[]).resolve().unwrap()
        }
        .check()
        .unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
    }
}

#[cfg(test)]
mod example_file {
    use super::*;
    use clap::CommandFactory;

    const EXAMPLE: &str = include_str!("../../../admin-webhooks.example.toml");

    #[test]
    fn otlp_endpoints_are_collector_urls() {
        let resolved = |u: &str| otlp_endpoint(Some(u.to_owned())).map(|u| u.map(String::from));
        assert_eq!(
            resolved("http://127.0.0.1:4318").unwrap().as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(
            resolved("https://otel.example.com/base/")
                .unwrap()
                .as_deref(),
            Some("https://otel.example.com/base/v1/traces")
        );
        assert_eq!(
            resolved("http://c:4318/v1/traces").unwrap().as_deref(),
            Some("http://c:4318/v1/traces")
        );
        for bad in [
            "localhost:4318",
            "ftp://c/x",
            "http://user:pw@c:4318",
            "not a url",
        ] {
            assert!(resolved(bad).is_err(), "{bad}");
        }
        assert_eq!(otlp_endpoint(None).unwrap(), None);
    }

    #[test]
    fn the_example_config_parses_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("example.toml");
        std::fs::write(&file, EXAMPLE).unwrap();
        let args = ServeArgs {
            config: Some(file),
            ..ServeArgs::default()
        };
        let from_file = args.resolve().unwrap();
        let defaults = ServeArgs::default().resolve().unwrap();
        assert_eq!(format!("{from_file:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn the_example_config_lists_every_setting() {
        let cli = Cli::command();
        let serve = cli.find_subcommand("serve").unwrap();
        for arg in serve.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "config" | "help") {
                continue;
            }
            assert!(
                EXAMPLE.contains(&format!("{long} =")),
                "admin-webhooks.example.toml lacks `{long}`"
            );
        }
    }
}
