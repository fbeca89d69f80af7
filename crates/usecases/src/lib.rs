//! The application layer of Admin Webhooks: every use case, written once, between the
//! edges (the JSON API, the dashboard) and the store.
//!
//! An edge parses its request, calls one method of [`Application`] and renders what it
//! gets back; it never speaks to the store itself. Validation rules and their messages
//! (field lengths, subscriptions, the destination URL check with its DNS resolution and
//! SSRF policy, key names, event type definitions and payload schemas, "the webhook is
//! disabled") live here,
//! so the API and the dashboard refuse the same things with the same words.
//!
//! Invariants:
//! - Every refusal is a typed [`UseCaseError`]; conflicts are [`Conflict`] kinds.
//! - No use case wakes the dispatcher's lanes: the store announces what each commit made
//!   deliverable or changed (`store::LaneStore::announcements`), and the dispatcher
//!   listens.

mod activity;
mod api_keys;
pub mod auth_failures;
mod catalog;
pub mod destination;
mod error;
mod fields;
mod health;
mod known_keys;
mod listeners;
mod replay;
pub mod schemas;
pub mod time_range;
mod webhooks;
mod workspaces;

use std::sync::Arc;
use std::time::Duration;

use domain::UrlPolicy;
use store::{MigrationStatus, Store};

pub use activity::{EventDraft, MAX_BATCH_EVENTS, MAX_IDEMPOTENCY_KEY};
pub use api_keys::CreatedKey;
pub use auth_failures::{AuthEdge, AuthFailureLimiter, FailureLimit, TooManyFailures};
pub use catalog::{EventTypeChanges, EventTypeDraft};
pub use delivery::listeners::{
    Connection as ListenerStream, Push as ListenerPush, Report as ListenerReport,
};
pub use error::{
    Conflict, ErrorCategory, Refused, Resource, Truncated, UseCaseError, UseCaseResult,
    source_chain,
};
pub use health::{
    EndpointHealth, HealthState, MAX_BUCKETS, MIN_BUCKETS, SERIES_BUCKETS, SERIES_WINDOWS, Series,
    SeriesBucket, SeriesWindow, Span,
};
pub use listeners::{AttachedListener, ListenerDraft};
pub use replay::ReplayDraft;
pub use webhooks::{RateLimitDraft, WebhookChanges, WebhookDraft};
pub use workspaces::{CreatedWorkspace, MAX_WEBHOOK_LIMIT};

/// How long registering a webhook may wait for its host name to resolve.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a replaced signing secret keeps signing after a rotation, by default (SPEC §3).
pub const DEFAULT_SECRET_GRACE: Duration = Duration::from_secs(24 * 3600);

/// How long deliveries are retried before they expire, by default (SPEC §4).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// The parts of the service's configuration the rules depend on.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--dev`: allow `http://` and non-public addresses for webhook URLs.
    pub dev: bool,
    /// `--secret-grace`: how long the secret replaced by a rotation keeps signing.
    pub secret_grace: Duration,
    /// `--max-payload-depth` and the other rules a published payload must follow.
    pub payload_rules: domain::PayloadRules,
    /// `--retention`: how long a delivery is retried before it expires (to say when the
    /// oldest waiting one will).
    pub retention: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            dev: false,
            secret_grace: DEFAULT_SECRET_GRACE,
            payload_rules: domain::PayloadRules::default(),
            retention: DEFAULT_RETENTION,
        }
    }
}

/// The application: the store and the settings the rules need. Cheap to clone; every
/// edge holds one.
#[derive(Clone)]
pub struct Application {
    store: Arc<dyn Store>,
    settings: Settings,
    /// Compiled payload schemas of the catalogs, shared by every clone.
    schemas: Arc<schemas::SchemaCache>,
    /// API keys recognised lately, shared by every clone.
    known_keys: Arc<known_keys::KnownKeys>,
    /// Where the streams of `listen` commands meet the lanes of their listeners.
    listeners: Arc<delivery::Switchboard>,
}

impl Application {
    /// The application with a switchboard of its own (for tests of the edges; a service
    /// shares its dispatcher's with [`Application::with_listeners`]).
    pub fn new(store: Arc<dyn Store>, settings: Settings) -> Self {
        let listeners = delivery::Switchboard::new(
            Duration::from_secs(3),
            delivery::SenderConfig::default_user_agent(),
        );
        Self {
            store,
            settings,
            schemas: Arc::default(),
            known_keys: Arc::default(),
            listeners,
        }
    }

    /// The same application, its listeners' streams met at `listeners`: the switchboard
    /// the dispatcher's lanes send through.
    pub fn with_listeners(mut self, listeners: Arc<delivery::Switchboard>) -> Self {
        self.listeners = listeners;
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn url_policy(&self) -> UrlPolicy {
        UrlPolicy {
            dev: self.settings.dev,
        }
    }

    /// The store's schema against what this binary knows (for readiness probes).
    pub async fn schema_status(&self) -> UseCaseResult<MigrationStatus> {
        Ok(self.store.migrations().await?)
    }
}
