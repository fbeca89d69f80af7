//! The service assembled: store, dispatcher, HTTP API and dashboard in one process.
//!
//! [`run`] takes its configuration, an already-bound listener and a shutdown token, so
//! tests start the real service on port 0 and stop it when they like. On shutdown the
//! API stops accepting requests, lanes start no new attempts, attempts in flight finish,
//! and their outcomes are committed before `run` returns. Beside them runs the log's
//! retention ([`prune_forever`]).

pub mod cli;
pub mod config;
pub mod delivery_runtime;
pub mod http_server;
pub mod listener_upkeep;
pub mod metrics;
pub mod monitor;
pub mod otlp;
pub mod receive;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use config::Settings;
use delivery::{DispatchConfig, Dispatcher, RoutedSender, Sender, SenderConfig, Switchboard};
use domain::Backoff;
use store::postgres::{PgOptions, PostgresStore};
use store::sqlite::{DATABASE_FILE, SqliteStore};
use store::{PruneReport, SecretCipher, Store};

/// mimalloc in place of glibc's malloc: under publish load glibc's allocator was 18 % of
/// the service's CPU (`malloc_consolidate` and `unlink_chunk` among it; BENCHMARKS.md,
/// session 9). Declared here rather than in `main.rs` so that every binary that runs the
/// service (this crate's, the bench's `__service`) runs it on the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub const USER_AGENT: &str = concat!("Admin-Webhooks/", env!("CARGO_PKG_VERSION"));

/// A token cancelled on SIGTERM or Ctrl-C.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing a SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down: finishing attempts in flight");
        cancel.cancel();
    });
    token
}

pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if settings.dev {
        tracing::warn!(
            "DEVELOPMENT MODE (--dev): http:// URLs and loopback/private addresses are allowed \
             for endpoints. Never run a production service with --dev."
        );
    }
    let metrics_handle = metrics::install();
    metrics::keep_tidy(metrics_handle.clone(), shutdown.clone());
    let backend = Backend::open(&settings).await?;
    // The backend times its own calls for /metrics; `backend` keeps the concrete store to close.
    let store: Arc<dyn Store> = backend.store();
    bootstrap(
        &*store,
        settings.bootstrap_key.as_ref().map(config::Secret::expose),
    )
    .await?;

    let extra_ca_pem = match &settings.extra_ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read --extra-ca-file {}", path.display()))?,
        ),
        None => None,
    };
    let sender = Sender::new(SenderConfig {
        dev: settings.dev,
        extra_ca_pem,
        attempt_timeout: settings.attempt_timeout,
        user_agent: USER_AGENT.to_owned(),
    })
    .context("cannot set up the HTTPS client")?;
    // Listener endpoints' attempts go down the streams of `listen` commands instead.
    let listeners = Switchboard::new(settings.attempt_timeout, USER_AGENT.to_owned());
    let delivery_runtime = delivery_runtime::DeliveryRuntime::start(settings.delivery_niceness)
        .context("cannot start the delivery threads")?;
    let dispatcher = Dispatcher::start(
        store.clone(),
        Arc::new(RoutedSender {
            http: sender,
            listeners: listeners.clone(),
        }),
        DispatchConfig {
            backoff: Backoff {
                base: settings.retry_base,
                cap: settings.retry_cap,
            },
            retention: settings.retention,
            max_in_flight: settings.max_in_flight,
            lease: settings.lane_lease,
            // Several processes: a lane whose owner died is taken over within about a
            // lease and a half. One process: wake-ups miss nothing, the sweep is a net.
            sweep_interval: if store.shares_lanes() {
                settings.lane_lease / 2
            } else {
                Duration::from_secs(30)
            },
            runtime: Some(delivery_runtime.handle().clone()),
            ..DispatchConfig::default()
        },
        shutdown.clone(),
    );

    let pruning = tokio::spawn(prune_forever(
        store.clone(),
        settings.log_retention,
        shutdown.clone(),
    ));
    let monitoring = tokio::spawn(monitor::monitor_forever(
        store.clone(),
        monitor::MonitorConfig {
            interval: settings.monitor_interval,
            alert_after: settings.alert_after,
            retention: settings.retention,
        },
        shutdown.clone(),
    ));

    // A stream that connects here gets its listener's lane here (started, or on a shared
    // store claimed from whichever process held it).
    tokio::spawn({
        let (mut connected, dispatcher) = (listeners.watch_connections(), dispatcher.clone());
        async move {
            while let Some(listener) = connected.recv().await {
                dispatcher.wake(&listener);
            }
        }
    });
    let listener_upkeep = tokio::spawn(listener_upkeep::keep_forever(
        store.clone(),
        listeners.clone(),
        settings.listener_ttl,
        shutdown.clone(),
    ));
    // Streams of `listen` are responses that never end by themselves: hang them up at
    // shutdown, or the server would wait for them forever.
    tokio::spawn({
        let (listeners, shutdown) = (listeners.clone(), shutdown.clone());
        async move {
            shutdown.cancelled().await;
            listeners.close();
        }
    });

    // Both edges share the use cases; the dispatcher hears what they committed from the
    // store's announcements, which it subscribed to at start.
    let application = usecases::Application::new(
        store.clone(),
        usecases::Settings {
            dev: settings.dev,
            secret_grace: settings.secret_grace,
            payload_rules: settings.payload_rules,
            retention: settings.retention,
        },
    )
    .with_listeners(listeners);
    // One budget of failed authentications per client address, whichever edge they hit.
    let auth_failures = Arc::new(usecases::AuthFailureLimiter::new(
        settings.auth_failure_limit,
    ));
    let state = api::AppState {
        app: application.clone(),
        config: api::ApiConfig {
            operator_key: settings
                .operator_key
                .as_ref()
                .map(|key| key.expose().to_owned()),
            max_body_bytes: settings.max_body_bytes,
            rate_limit: settings.rate_limit,
        },
        limiter: Arc::new(api::rate_limit::RateLimiter::new(settings.rate_limit)),
        auth_failures: auth_failures.clone(),
        dispatcher_alive: Some(dispatcher_liveness(dispatcher.clone())),
    };
    let dashboard = dashboard::router(
        application,
        dashboard::DashboardConfig {
            auth_failures,
            ..dashboard::DashboardConfig::for_service(settings.dev)
        },
    );
    let app = api::router_with(state, metrics::router(metrics_handle)).merge(dashboard);
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "Admin Webhooks is listening");
    http_server::serve(listener, app, settings.connection_limits, shutdown.clone()).await;
    shutdown.cancel();
    dispatcher.stopped().await;
    let _ = pruning.await;
    let _ = monitoring.await;
    let _ = listener_upkeep.await;
    backend.close().await;
    drop(delivery_runtime);
    tracing::info!("stopped");
    Ok(())
}

/// `/readyz`'s view of the dispatcher: alive while its sweep keeps running.
fn dispatcher_liveness(dispatcher: Dispatcher) -> api::health::Liveness {
    Arc::new(move || {
        if dispatcher.is_alive() {
            Ok(())
        } else {
            Err(format!(
                "the dispatcher has not swept the store for {} s",
                dispatcher.since_last_sweep().as_secs()
            ))
        }
    })
}

/// Rows of each kind one pruning pass removes: one short transaction on the store's
/// writer, so publishes and outcomes queued behind it wait milliseconds, not seconds.
const PRUNE_BATCH: u32 = 1_000;

/// The pause between passes while old rows remain, leaving the writer to other work.
const PRUNE_PAUSE: Duration = Duration::from_millis(100);

/// The log's retention: every tenth of `retention` (between 1 s and 10 min), prunes what
/// is older than `retention`, pass after pass with a pause between, until nothing old is
/// left. Stops at shutdown, or for good on a backend that cannot prune yet.
async fn prune_forever(store: Arc<dyn Store>, retention: Duration, shutdown: CancellationToken) {
    let every = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(600));
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    loop {
        loop {
            let cutoff = chrono::Utc::now()
                .checked_sub_signed(retention)
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
            match store.prune(cutoff, PRUNE_BATCH).await {
                Ok(report) => {
                    if report != PruneReport::default() {
                        tracing::info!(
                            attempts = report.attempts,
                            deliveries = report.deliveries,
                            events = report.events,
                            idempotency_keys = report.idempotency_keys,
                            "pruned the activity log"
                        );
                    }
                    if !report.more {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "pruning the activity log failed; trying again later");
                    break;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(PRUNE_PAUSE) => {}
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// The store the service runs on, kept concretely so it can be closed (every queued
/// write committed) before the process exits.
enum Backend {
    Sqlite {
        store: Arc<SqliteStore>,
        _lock: std::fs::File,
    },
    Postgres(Arc<PostgresStore>),
}

impl Backend {
    /// Opens the configured store with the configured secret keys. Without keys, SQLite
    /// uses (creating it on first start) the key file in the data folder; PostgreSQL,
    /// shared by processes that must all hold the same key, refuses to start.
    async fn open(settings: &Settings) -> anyhow::Result<Backend> {
        let cipher = secret_cipher(settings)?;
        match &settings.database_url {
            Some(url) => {
                let options = PgOptions {
                    max_connections: settings.database_max_connections,
                    ..PgOptions::default()
                };
                let cipher = cipher.ok_or_else(|| {
                    anyhow::anyhow!(
                        "PostgreSQL needs a secret key to seal the webhooks' signing secrets, the \
                         same in every process: create one with `head -c 32 /dev/urandom | base64 \
                         > secret.key && chmod 600 secret.key` and pass it with --secret-key-file \
                         secret.key (or ADMIN_WEBHOOKS_SECRET_KEY_FILE), or put the key itself in \
                         ADMIN_WEBHOOKS_SECRET_KEY"
                    )
                })?;
                let store = PostgresStore::connect(url, options, cipher)
                    .await
                    .context("cannot open the PostgreSQL store given by --database-url")?;
                tracing::info!(
                    "storing in PostgreSQL; other processes on this database share the work"
                );
                Ok(Backend::Postgres(Arc::new(store)))
            }
            None => {
                let lock = lock_data_dir(&settings.data_dir)?;
                let store = match cipher {
                    Some(cipher) => SqliteStore::open_with_cipher(
                        &settings.data_dir.join(DATABASE_FILE),
                        cipher,
                    ),
                    None => SqliteStore::open_in_dir(&settings.data_dir),
                }
                .with_context(|| {
                    format!("cannot open the store in {}", settings.data_dir.display())
                })?;
                Ok(Backend::Sqlite {
                    store: Arc::new(store),
                    _lock: lock,
                })
            }
        }
    }

    fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite { store, .. } => store.clone(),
            Backend::Postgres(store) => store.clone(),
        }
    }

    async fn close(&self) {
        match self {
            Backend::Sqlite { store, .. } => store.close().await,
            Backend::Postgres(store) => store.close().await,
        }
    }
}

/// The secret keys given by `ADMIN_WEBHOOKS_SECRET_KEY` or `--secret-key-file`, if any.
fn secret_cipher(settings: &Settings) -> anyhow::Result<Option<SecretCipher>> {
    if let Some(keys) = &settings.secret_key {
        return SecretCipher::parse(keys.expose())
            .map(Some)
            .context("ADMIN_WEBHOOKS_SECRET_KEY is not usable");
    }
    settings
        .secret_key_file
        .as_deref()
        .map(SecretCipher::from_file)
        .transpose()
        .context("--secret-key-file is not usable")
}

/// Holds an exclusive lock on the data folder for the life of the process: SQLite is
/// shared by one `serve` process only (several processes share PostgreSQL instead), and
/// two processes delivering from one file would break per-endpoint order.
///
/// The folder holds every event and endpoint secret, so a new one is created for its
/// owner only (0700, the lock file 0600); an existing one is left as the operator set it,
/// with a warning when other users can read it.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
        folder.mode(0o700);
        options.mode(0o600);
        if let Ok(meta) = std::fs::metadata(dir)
            && meta.mode() & 0o077 != 0
        {
            tracing::warn!(
                folder = %dir.display(),
                mode = format!("{:o}", meta.mode() & 0o777),
                "other users can open the data folder; `chmod 700` it"
            );
        }
    }
    folder
        .create(dir)
        .with_context(|| format!("cannot create the data folder {}", dir.display()))?;
    let path = dir.join("admin-webhooks.lock");
    let file = options
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "another admin-webhooks process is using the data folder {}; stop it first, or run \
             several processes on PostgreSQL (--database-url)",
            dir.display()
        )
    })?;
    Ok(file)
}

/// On an empty store, creates the workspace `default` and its first API key, and prints
/// the key once (unless it came from `ADMIN_WEBHOOKS_BOOTSTRAP_KEY`). On a store that
/// already has workspaces a given bootstrap key is ignored, with a warning that says why:
/// silently, it reads as a key that should work and answers 401.
async fn bootstrap(store: &dyn Store, fixed_key: Option<&str>) -> anyhow::Result<()> {
    let key = fixed_key.map_or_else(domain::api_key::generate_key, str::to_owned);
    let new_key = store::NewApiKey {
        name: "bootstrap".to_owned(),
        hash: domain::api_key::hash_key(&key),
        hint: domain::api_key::key_hint(&key),
    };
    if let Some(workspace) = store
        .bootstrap(new_key)
        .await
        .context("cannot create the first workspace")?
    {
        if fixed_key.is_some() {
            tracing::info!(workspace = %workspace.id, "created workspace `default` with the key from ADMIN_WEBHOOKS_BOOTSTRAP_KEY");
        } else {
            // Printed, not logged: the one time anyone sees this key.
            println!(
                "\nCreated workspace `default` ({}).\nIts API key, shown this once — keep it safe:\n\n    {key}\n",
                workspace.id
            );
        }
    } else if fixed_key.is_some() {
        tracing::warn!(
            "ignoring ADMIN_WEBHOOKS_BOOTSTRAP_KEY: the store already has a workspace, and \
             the bootstrap key only creates the first one on an empty store. Use the key \
             printed at the first start, create one in the dashboard or with \
             POST /v1/api-keys, or start on an empty data folder"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use config::ServeArgs;

    fn settings(args: ServeArgs) -> Settings {
        args.resolve().expect("valid settings")
    }

    /// Everything that goes wrong in an error, causes included, as the process prints it.
    fn chain(error: &anyhow::Error) -> String {
        format!("{error:#}")
    }

    #[tokio::test]
    async fn postgres_without_a_secret_key_refuses_to_start_saying_how_to_make_one() {
        // Refused before connecting: no database is needed to see it.
        let settings = settings(ServeArgs {
            database_url: Some("postgres://nobody@127.0.0.1:9/none".to_owned()),
            ..ServeArgs::default()
        });
        let Err(error) = Backend::open(&settings).await else {
            panic!("started without a secret key");
        };
        let shown = chain(&error);
        assert!(shown.contains("--secret-key-file"), "{shown}");
        assert!(shown.contains("head -c 32 /dev/urandom"), "{shown}");
    }

    #[tokio::test]
    async fn sqlite_with_a_key_that_opens_nothing_stored_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let first = settings(ServeArgs {
            data_dir: Some(data_dir.clone()),
            ..ServeArgs::default()
        });
        let backend = Backend::open(&first).await.unwrap();
        let store = backend.store();
        let (workspace, _) = store
            .create_workspace("a", bootstrap_key_record())
            .await
            .unwrap();
        store
            .create_webhook(
                &workspace.id,
                store::NewWebhook {
                    url: "https://receiver.example.com/".to_owned(),
                    description: String::new(),
                    events: Vec::new(),
                    enabled: false,
                    secret: domain::signature::generate_secret(),
                    rate_limit: None,
                    headers: domain::CustomHeaders::default(),
                },
            )
            .await
            .unwrap();
        backend.close().await;
        drop((store, backend));
        assert!(data_dir.join(store::sqlite::KEY_FILE).is_file());

        let other_key = dir.path().join("other.key");
        std::fs::write(&other_key, store::sealing::generate_key()).unwrap();
        let wrong = settings(ServeArgs {
            data_dir: Some(data_dir),
            secret_key_file: Some(other_key),
            ..ServeArgs::default()
        });
        let Err(error) = Backend::open(&wrong).await else {
            panic!("started with a key that opens no stored secret");
        };
        let shown = chain(&error);
        assert!(shown.contains("not among the keys given"), "{shown}");
    }

    fn bootstrap_key_record() -> store::NewApiKey {
        let key = domain::api_key::generate_key();
        store::NewApiKey {
            name: "first".to_owned(),
            hash: domain::api_key::hash_key(&key),
            hint: domain::api_key::key_hint(&key),
        }
    }
}
