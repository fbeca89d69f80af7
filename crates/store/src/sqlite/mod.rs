//! The embedded backend: one SQLite file, one writer thread with group commit, and a
//! few reader threads.
//!
//! Every write — publish ([`publish`]), webhook and key changes, outcomes ([`outcomes`])
//! — is a job for the single writer ([`writer`]), which commits queued jobs together in
//! one transaction (each in its own savepoint) and answers each only after that commit.
//! Reads go to a pool of read-only connections ([`readers`]) that WAL lets run beside
//! the writer. The writer's and the readers' replies are where every call is timed
//! ([`crate::timing`]): each entry point names its operation.
//!
//! The writer announces ([`crate::announce`]) what each group commit made deliverable or
//! changed: publishes, test events and alerts (work), webhook updates, deletions and
//! rotations, retries and replays (resync).
//!
//! Invariants (beyond the contract in the crate root):
//! - Only the writer thread ever writes the file, so the checks a write makes (limits,
//!   idempotency keys, seqs) cannot race with another write.
//! - Dropping or [`SqliteStore::close`]-ing the store commits every write accepted before.
//! - The folder it creates is 0700, and the database with its WAL and shared-memory files
//!   0600 ([`schema::create_private_file`]): the file holds API key hashes, event bodies
//!   and (sealed) signing secrets, none of which other local users should read.
//! - Signing secrets are sealed with the store's [`SecretCipher`]; opening a store
//!   re-seals any older value and fails when its keys cannot open a stored secret.

mod activity;
mod checkpointer;
mod deliveries;
mod health;
mod operations;
mod outcomes;
mod publish;
mod readers;
mod retention;
mod rows;
mod schema;
mod sessions;
mod stats;
mod take_up;
mod tenancy;
mod webhooks;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{ApiKeyId, DeliveryId, EventId, EventTypeDef, WebhookId, WorkspaceId};

use self::checkpointer::Checkpointer;
use self::readers::{Readers, snapshot};
use self::writer::Writer;
use crate::announce::{self, Announcer};
use crate::work::{WorkCounter, WorkDone};
use crate::{
    Ack, ApiKey, Attempt, Delivery, DeliveryFilter, DueDelivery, Event, EventFilter, EventType,
    EventTypePatch, LaneTarget, NewApiKey, NewEvent, NewSession, NewWebhook, Outcome, Page,
    PageRequest, PruneReport, Published, ReplayFilter, Result, SecretCipher, SecretRotation,
    Session, Wakeup, Webhook, WebhookHealth, WebhookPatch, WebhookStats, Workspace,
};
use crate::{ActivityStore, LaneStore, OperationsStore, TenancyStore};
use crate::{AlertCondition, EndpointBacklog, MigrationStatus, NewAlert};
use crate::{SeriesSpec, StatsBucket, StoreError};

/// The file name used under the service's data directory.
pub const DATABASE_FILE: &str = "admin-webhooks.db";

/// The key file [`SqliteStore::open`] keeps beside the database when no key is given.
pub const KEY_FILE: &str = "secret.key";

/// Read connections: enough for the API and the lanes' refills to overlap; reads are
/// short, and more connections than cores would only contend.
const READERS: usize = 4;

pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Readers,
    /// Seals the signing secrets written and opens those read.
    cipher: SecretCipher,
    /// Fed by the writer after each commit; handed out by `announcements`.
    announcer: Arc<Announcer>,
    /// What the writer's work cost, counted by the writer.
    work: Arc<WorkCounter>,
    /// Copies the WAL into the database file, nudged by the writer after each commit.
    checkpointer: Arc<Checkpointer>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The most batches a lane window that has rows takes up, beyond those its limit needs,
/// before it answers with them (a lane whose endpoint subscribes to little of a busy log
/// sends what it has rather than scanning on).
const LANE_TAKE_UPS: u32 = 4;

impl SqliteStore {
    /// Takes up every entry of `workspace`'s log, a batch per writer job, so that a read
    /// after it finds every delivery published before as a row.
    async fn caught_up(&self, workspace: &WorkspaceId) -> Result<()> {
        loop {
            let workspace_ = workspace.clone();
            let behind = self
                .readers
                .read("take_up_check", move |conn| {
                    take_up::workspace_behind(conn, &workspace_)
                })
                .await?;
            if !behind {
                return Ok(());
            }
            let workspace_ = workspace.clone();
            // Announces nothing: the publishes announced these endpoints already.
            let more = self
                .writer
                .write("take_up", move |tx| take_up::take_up(tx, &workspace_, None))
                .await?;
            if !more {
                return Ok(());
            }
        }
    }

    /// Queues the take-up of a batch of `webhook`'s log (of `workspace`, after `cursor`)
    /// for its lane, and for the lanes level with it or ahead ([`take_up::take_up_lane`]).
    fn take_up_lane(
        &self,
        (workspace, cursor): (WorkspaceId, i64),
        webhook: &WebhookId,
    ) -> tokio::sync::oneshot::Receiver<Result<()>> {
        let webhook = webhook.clone();
        self.writer.submit("take_up_lane", move |tx| {
            take_up::take_up_lane(tx, &workspace, &webhook, cursor).map(drop)
        })
    }

    /// Opens the database at `path` like [`SqliteStore::open_with_cipher`], sealing
    /// signing secrets with the keys of [`KEY_FILE`] beside it, a key file it creates
    /// (0600, one fresh key) on first open. A key file created for a database its key
    /// cannot open is removed again, so that restoring the right one is not in the way.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let folder = schema::create_private_folder(path)?;
        let key_file = folder.join(KEY_FILE);
        let (cipher, created) = SecretCipher::load_or_create(&key_file)?;
        let opened = Self::open_with_cipher(path, cipher);
        if created {
            match &opened {
                Ok(_) => tracing::info!(
                    key_file = %key_file.display(),
                    "created a secret key file to seal the signing secrets with; back it up \
                     with the database, which cannot be used without it"
                ),
                Err(_) => {
                    let _ = std::fs::remove_file(&key_file);
                }
            }
        }
        opened
    }

    /// Opens (creating if needed, with its parent directory) the database at `path`,
    /// brings its schema up to date, and re-seals with `cipher`'s first key every stored
    /// signing secret that is plaintext or sealed with an older key. Fails when `cipher`
    /// cannot open a stored secret (a wrong or missing key).
    pub fn open_with_cipher(path: &Path, cipher: SecretCipher) -> Result<SqliteStore> {
        schema::create_private_folder(path)?;
        schema::create_private_file(path)?;
        let mut writer_conn = schema::open_writer(path)?;
        let resealed = webhooks::seal_stored_secrets(&mut writer_conn, &cipher)?;
        if resealed > 0 {
            tracing::info!(
                resealed,
                "sealed stored signing secrets with the first secret key"
            );
        }
        // What a writer that stopped mid-way left untaken: its first group takes it up.
        let behind = take_up::behind(&writer_conn)?;
        let reader_conns = (0..READERS)
            .map(|_| schema::open_reader(path))
            .collect::<Result<Vec<_>>>()?;
        let announcer = Arc::new(Announcer::new());
        let work = Arc::new(WorkCounter::default());
        let checkpointer = Arc::new(Checkpointer::start(path)?);
        // What the migrations and the re-sealing wrote.
        checkpointer.nudge();
        Ok(SqliteStore {
            path: path.to_owned(),
            writer: Writer::start(
                writer_conn,
                announcer.clone(),
                behind,
                work.clone(),
                Box::new({
                    let checkpointer = checkpointer.clone();
                    move |conn| checkpointer.committed(conn)
                }),
            )?,
            checkpointer,
            readers: Readers::start(reader_conns)?,
            cipher,
            announcer,
            work,
        })
    }

    /// Opens `admin-webhooks.db` inside the service's data directory.
    pub fn open_in_dir(data_dir: &Path) -> Result<SqliteStore> {
        Self::open(&data_dir.join(DATABASE_FILE))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting work and waits until every write accepted before is committed.
    /// Later calls fail with `Closed`. Dropping the store does the same, blocking.
    pub async fn close(&self) {
        self.readers.close();
        self.writer.close().await;
        self.checkpointer.stop();
    }

    /// Statements run and rows written by publishing, taking up and recording outcomes
    /// since the store was opened (see [`crate::work`]).
    pub fn work_done(&self) -> WorkDone {
        self.work.snapshot()
    }

    /// Makes [`SqliteStore::work_done`] count statements too, from now on (rows are always
    /// counted). Off by default: counting costs the writer a twentieth of its work.
    pub async fn count_statements(&self) -> Result<()> {
        self.writer.count_statements().await
    }

    /// The highest schema migration applied to the file.
    pub async fn schema_version(&self) -> Result<i64> {
        self.readers
            .read("schema_version", schema::schema_version)
            .await
    }

    /// `EXPLAIN QUERY PLAN` of the activity log's, stats' and retention's statements, by
    /// name: what SQLite does on this file, for measurements (`examples/activity_scale.rs`).
    pub async fn activity_query_plans(&self) -> Result<Vec<(&'static str, String)>> {
        self.readers
            .read("activity_query_plans", activity::query_plans)
            .await
    }
}

#[async_trait]
impl LaneStore for SqliteStore {
    async fn lanes_with_work(&self) -> Result<Vec<WebhookId>> {
        self.readers
            .read("lanes_with_work", |conn| {
                let mut ids = deliveries::lanes_with_work(conn)?;
                ids.extend(take_up::endpoints_behind(conn)?);
                ids.sort();
                ids.dedup();
                Ok(ids)
            })
            .await
    }

    async fn lane_target(&self, webhook: &WebhookId) -> Result<LaneTarget> {
        let (webhook, cipher) = (webhook.clone(), self.cipher.clone());
        self.readers
            .read("lane_target", move |conn| {
                webhooks::lane_target(conn, &cipher, &webhook)
            })
            .await
    }

    /// The open deliveries after `after_seq`; a window that is short while the endpoint
    /// has log entries not taken up takes up a batch of them first (a writer job), until
    /// it is full or the endpoint caught up, or, once it has rows, for at most
    /// [`LANE_TAKE_UPS`] batches beyond those its limit needs. A full window with fewer
    /// rows after it than another window would hold starts the next batch's take-up
    /// without waiting for it.
    async fn lane_window(
        &self,
        webhook: &WebhookId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        let most = LANE_TAKE_UPS + limit / take_up::BATCH as u32;
        let mut take_ups = 0;
        loop {
            let webhook_ = webhook.clone();
            let (window, behind, ahead) = self
                .readers
                .read("lane_window", move |conn| {
                    // The cursor first: a window read after it holds every row taken up
                    // before the cursor was read, whatever the writer commits between.
                    let behind = take_up::endpoint_behind(conn, &webhook_)?;
                    let window = deliveries::lane_window(conn, &webhook_, after_seq, limit)?;
                    // A full window of a lane that is behind: are rows left for the next?
                    let ahead = match (&behind, window.last()) {
                        (Some(_), Some(last)) if window.len() == limit as usize => {
                            deliveries::open_after(conn, &webhook_, last.seq, limit)?
                        }
                        _ => u32::MAX,
                    };
                    Ok((window, behind, ahead))
                })
                .await?;
            let short = window.len() < limit as usize;
            if !short && ahead < limit {
                // Fewer rows left than one more window: take up the next batch now, while
                // the lane sends this one, so the lane does not wait for it later.
                if let Some(at) = behind {
                    drop(self.take_up_lane(at, webhook));
                }
                return Ok(window);
            }
            // An empty window takes up until it has rows or the endpoint caught up, so a
            // lane never leaves work it was told about.
            let go_on = short && (window.is_empty() || take_ups < most);
            let Some(at) = behind.filter(|_| go_on) else {
                return Ok(window);
            };
            take_ups += 1;
            self.take_up_lane(at, webhook)
                .await
                .unwrap_or(Err(StoreError::Closed))?;
        }
    }

    fn submit_outcome(&self, outcome: Outcome) -> Ack {
        self.writer.submit("submit_outcome", move |tx| {
            outcomes::record_outcome(tx, &outcome)
        })
    }

    fn announcements(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Wakeup>> {
        self.announcer.take()
    }
}

#[async_trait]
impl TenancyStore for SqliteStore {
    async fn create_workspace(
        &self,
        name: &str,
        first_key: NewApiKey,
    ) -> Result<(Workspace, ApiKey)> {
        let name = name.to_owned();
        self.writer
            .write("create_workspace", move |tx| {
                tenancy::create_workspace(tx, &name, &first_key)
            })
            .await
    }

    async fn list_workspaces(&self, page: PageRequest) -> Result<Page<Workspace>> {
        self.readers
            .read("list_workspaces", move |conn| {
                tenancy::list_workspaces(conn, &page)
            })
            .await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Workspace> {
        let id = id.clone();
        self.readers
            .read("get_workspace", move |conn| {
                tenancy::get_workspace(conn, &id)
            })
            .await
    }

    async fn set_workspace_limit(
        &self,
        id: &WorkspaceId,
        max_enabled_webhooks: u32,
    ) -> Result<Workspace> {
        let id = id.clone();
        self.writer
            .write("set_workspace_limit", move |tx| {
                tenancy::set_workspace_limit(tx, &id, max_enabled_webhooks)
            })
            .await
    }

    async fn find_api_key(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>> {
        let hash = *hash;
        self.readers
            .read("find_api_key", move |conn| {
                tenancy::find_api_key(conn, &hash)
            })
            .await
    }

    async fn create_api_key(&self, workspace: &WorkspaceId, key: NewApiKey) -> Result<ApiKey> {
        let workspace = workspace.clone();
        self.writer
            .write("create_api_key", move |tx| {
                tenancy::insert_api_key(tx, &workspace, &key)
            })
            .await
    }

    async fn list_api_keys(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<Page<ApiKey>> {
        let workspace = workspace.clone();
        self.readers
            .read("list_api_keys", move |conn| {
                tenancy::list_api_keys(conn, &workspace, &page)
            })
            .await
    }

    async fn revoke_api_key(&self, workspace: &WorkspaceId, id: &ApiKeyId) -> Result<()> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.writer
            .write("revoke_api_key", move |tx| {
                tenancy::revoke_api_key(tx, &workspace, &id)
            })
            .await
    }

    async fn shared_secret(&self, name: &str, candidate: [u8; 32]) -> Result<[u8; 32]> {
        let name = name.to_owned();
        self.writer
            .write("shared_secret", move |tx| {
                tenancy::shared_secret(tx, &name, &candidate)
            })
            .await
    }

    async fn create_session(&self, new: NewSession) -> Result<Session> {
        self.writer
            .write("create_session", move |tx| {
                sessions::create_session(tx, &new)
            })
            .await
    }

    async fn find_session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>> {
        let id_hash = *id_hash;
        self.readers
            .read("find_session", move |conn| {
                sessions::find_session(conn, &id_hash)
            })
            .await
    }

    async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<()> {
        let id_hash = *id_hash;
        self.writer
            .write("delete_session", move |tx| {
                sessions::delete_session(tx, &id_hash)
            })
            .await
    }

    async fn list_event_types(&self, workspace: &WorkspaceId) -> Result<Vec<EventType>> {
        let workspace = workspace.clone();
        self.readers
            .read("list_event_types", move |conn| {
                tenancy::list_event_types(conn, &workspace)
            })
            .await
    }

    async fn create_event_type(
        &self,
        workspace: &WorkspaceId,
        def: EventTypeDef,
        schema: Option<String>,
    ) -> Result<EventType> {
        let workspace = workspace.clone();
        self.writer
            .write("create_event_type", move |tx| {
                tenancy::create_event_type(tx, &workspace, &def, schema.as_deref())
            })
            .await
    }

    async fn update_event_type(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        patch: EventTypePatch,
    ) -> Result<EventType> {
        let (workspace, name) = (workspace.clone(), name.to_owned());
        self.writer
            .write("update_event_type", move |tx| {
                tenancy::update_event_type(tx, &workspace, &name, &patch)
            })
            .await
    }

    async fn create_webhook(&self, workspace: &WorkspaceId, new: NewWebhook) -> Result<Webhook> {
        let (workspace, cipher) = (workspace.clone(), self.cipher.clone());
        self.writer
            .write("create_webhook", move |tx| {
                webhooks::create_webhook(tx, &cipher, &workspace, &new)
            })
            .await
    }

    async fn list_webhooks(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> Result<Page<Webhook>> {
        let (workspace, cipher) = (workspace.clone(), self.cipher.clone());
        self.readers
            .read("list_webhooks", move |conn| {
                webhooks::list_webhooks(conn, &cipher, &workspace, &page)
            })
            .await
    }

    async fn get_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> Result<Webhook> {
        let (workspace, id, cipher) = (workspace.clone(), id.clone(), self.cipher.clone());
        self.readers
            .read("get_webhook", move |conn| {
                webhooks::get_webhook(conn, &cipher, &workspace, &id)
            })
            .await
    }

    async fn update_webhook(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
        patch: WebhookPatch,
    ) -> Result<Webhook> {
        let (workspace, id, cipher) = (workspace.clone(), id.clone(), self.cipher.clone());
        self.writer
            .write_announcing("update_webhook", move |tx| {
                // What was published before the change goes by the settings it was
                // published under. The resync tells its lane to read it all again.
                take_up::take_up_all(tx, &workspace, Some(&id))?;
                let hook = webhooks::update_webhook(tx, &cipher, &workspace, &id, patch)?;
                Ok((hook, announce::resync_of(&id)))
            })
            .await
    }

    async fn delete_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> Result<()> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.writer
            .write_announcing("delete_webhook", move |tx| {
                webhooks::delete_webhook(tx, &workspace, &id)?;
                // A lane sleeping in backoff learns that its endpoint is gone.
                Ok(((), announce::resync_of(&id)))
            })
            .await
    }

    async fn touch_listeners(&self, listeners: &[WebhookId]) -> Result<()> {
        if listeners.is_empty() {
            return Ok(());
        }
        let (listeners, at) = (listeners.to_vec(), rows::now_ms());
        self.writer
            .write("touch_listeners", move |tx| {
                webhooks::touch_listeners(tx, &listeners, at)
            })
            .await
    }

    async fn stale_listeners(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<(WorkspaceId, WebhookId)>> {
        let before = before.timestamp_millis();
        self.readers
            .read("stale_listeners", move |conn| {
                webhooks::stale_listeners(conn, before)
            })
            .await
    }

    async fn rotate_secret(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        new_secret: String,
        grace: Duration,
    ) -> Result<SecretRotation> {
        let (workspace, webhook) = (workspace.clone(), webhook.clone());
        let cipher = self.cipher.clone();
        self.writer
            .write_announcing("rotate_secret", move |tx| {
                let rotation =
                    webhooks::rotate_secret(tx, &cipher, &workspace, &webhook, &new_secret, grace)?;
                Ok((rotation, announce::resync_of(&webhook)))
            })
            .await
    }
}

#[async_trait]
impl ActivityStore for SqliteStore {
    async fn publish(&self, new: NewEvent) -> Result<Published> {
        self.writer
            .write_publishing("publish", move |tx| {
                let published = publish::publish(tx, &new)?;
                let grown = publish::grown(&published, &new).into_iter().collect();
                Ok((published, grown))
            })
            .await
    }

    async fn publish_batch(&self, new: Vec<NewEvent>) -> Vec<Result<Published>> {
        let count = new.len();
        if count == 0 {
            return Vec::new();
        }
        // One job: the whole batch commits (and is fsynced) once.
        self.writer
            .write_publishing("publish_batch", move |tx| {
                let answers = publish::publish_batch(tx, &new)?;
                let grown = answers
                    .iter()
                    .zip(&new)
                    .filter_map(|(answer, new)| publish::grown(answer.as_ref().ok()?, new));
                let grown = grown.collect();
                Ok((answers, grown))
            })
            .await
            .unwrap_or_else(|error| crate::batch_failed(count, error))
    }

    async fn get_event(&self, workspace: &WorkspaceId, id: &EventId) -> Result<Event> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.readers
            .read("get_event", move |conn| {
                publish::get_event(conn, &workspace, &id)
            })
            .await
    }

    async fn list_deliveries(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<Delivery>> {
        self.caught_up(workspace).await?;
        let (workspace, webhook) = (workspace.clone(), webhook.clone());
        self.readers
            .read("list_deliveries", move |conn| {
                snapshot(conn, |conn| {
                    activity::list_deliveries(conn, &workspace, &webhook, &filter, &page)
                })
            })
            .await
    }

    async fn get_delivery(
        &self,
        workspace: &WorkspaceId,
        id: &DeliveryId,
    ) -> Result<(Delivery, Vec<Attempt>)> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.readers
            .read("get_delivery", move |conn| {
                snapshot(conn, |conn| deliveries::get_delivery(conn, &workspace, &id))
            })
            .await
    }

    async fn list_events(
        &self,
        workspace: &WorkspaceId,
        filter: EventFilter,
        page: PageRequest,
    ) -> Result<Page<Event>> {
        let workspace = workspace.clone();
        self.readers
            .read("list_events", move |conn| {
                snapshot(conn, |conn| {
                    activity::list_events(conn, &workspace, &filter, &page)
                })
            })
            .await
    }

    async fn list_event_deliveries(
        &self,
        workspace: &WorkspaceId,
        event: &EventId,
    ) -> Result<Vec<Delivery>> {
        self.caught_up(workspace).await?;
        let (workspace, event) = (workspace.clone(), event.clone());
        self.readers
            .read("list_event_deliveries", move |conn| {
                snapshot(conn, |conn| {
                    activity::list_event_deliveries(conn, &workspace, &event)
                })
            })
            .await
    }

    async fn retry_delivery(&self, workspace: &WorkspaceId, id: &DeliveryId) -> Result<Delivery> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.writer
            .write_announcing("retry_delivery", move |tx| {
                let delivery = activity::retry_delivery(tx, &workspace, &id)?;
                let news = announce::resync_of(&delivery.webhook_id);
                Ok((delivery, news))
            })
            .await
    }

    async fn replay_deliveries(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        filter: ReplayFilter,
    ) -> Result<u64> {
        self.caught_up(workspace).await?;
        let (workspace, webhook) = (workspace.clone(), webhook.clone());
        let filter = std::sync::Arc::new(filter);
        // Seqs only grow and never move, so bounds read beforehand stay right.
        let (from, to) = {
            let (workspace, webhook, filter) = (workspace.clone(), webhook.clone(), filter.clone());
            self.readers
                .read("replay_deliveries", move |conn| {
                    snapshot(conn, |conn| {
                        activity::replay_bounds(conn, &workspace, &webhook, &filter)
                    })
                })
                .await?
        };
        // One time for every chunk, as if it were one write.
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut replayed = 0;
        for lo in (from..to).step_by(activity::REPLAY_CHUNK as usize) {
            let range = (lo, (lo + activity::REPLAY_CHUNK).min(to));
            let (workspace, webhook, filter) = (workspace.clone(), webhook.clone(), filter.clone());
            replayed += self
                .writer
                .write_announcing("replay_deliveries", move |tx| {
                    let count =
                        activity::replay_chunk(tx, &workspace, &webhook, &filter, range, now_ms)?;
                    let news = if count > 0 {
                        announce::resync_of(&webhook)
                    } else {
                        Vec::new()
                    };
                    Ok((count, news))
                })
                .await?;
        }
        Ok(replayed)
    }

    async fn webhook_stats(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        since: DateTime<Utc>,
    ) -> Result<WebhookStats> {
        let (workspace, webhook) = (workspace.clone(), webhook.clone());
        self.readers
            .read("webhook_stats", move |conn| {
                snapshot(conn, |conn| {
                    stats::webhook_stats(conn, &workspace, &webhook, since)
                })
            })
            .await
    }

    async fn webhook_series(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        spec: SeriesSpec,
    ) -> Result<Vec<StatsBucket>> {
        let (workspace, webhook) = (workspace.clone(), webhook.clone());
        self.readers
            .read("webhook_series", move |conn| {
                snapshot(conn, |conn| {
                    stats::webhook_series(conn, &workspace, &webhook, &spec)
                })
            })
            .await
    }

    async fn webhook_health(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
    ) -> Result<WebhookHealth> {
        self.caught_up(workspace).await?;
        let (workspace, webhook) = (workspace.clone(), webhook.clone());
        self.readers
            .read("webhook_health", move |conn| {
                snapshot(conn, |conn| {
                    health::webhook_health(conn, &workspace, &webhook)
                })
            })
            .await
    }

    async fn deliveries_ahead(&self, workspace: &WorkspaceId, id: &DeliveryId) -> Result<u64> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.readers
            .read("deliveries_ahead", move |conn| {
                snapshot(conn, |conn| health::deliveries_ahead(conn, &workspace, &id))
            })
            .await
    }
}

#[async_trait]
impl OperationsStore for SqliteStore {
    async fn bootstrap(&self, first_key: NewApiKey) -> Result<Option<Workspace>> {
        self.writer
            .write("bootstrap", move |tx| tenancy::bootstrap(tx, &first_key))
            .await
    }

    async fn ping(&self) -> Result<()> {
        self.readers
            .read("ping", |conn| {
                Ok(conn.prepare_cached("SELECT 1")?.query_row([], |_| Ok(()))?)
            })
            .await
    }

    async fn migrations(&self) -> Result<MigrationStatus> {
        self.readers
            .read("migrations", operations::migrations)
            .await
    }

    async fn endpoint_backlogs(&self) -> Result<Vec<EndpointBacklog>> {
        self.readers
            .read("endpoint_backlogs", |conn| {
                snapshot(conn, operations::endpoint_backlogs)
            })
            .await
    }

    async fn raise_alert(&self, alert: NewAlert, event: NewEvent) -> Result<Option<Published>> {
        self.writer
            .write_publishing("raise_alert", move |tx| {
                let published = operations::raise_alert(tx, &alert, &event)?;
                let grown = published
                    .iter()
                    .filter_map(|p| publish::grown(p, &event))
                    .collect();
                Ok((published, grown))
            })
            .await
    }

    async fn clear_alerts(
        &self,
        webhook: &WebhookId,
        condition: AlertCondition,
        before: DateTime<Utc>,
    ) -> Result<bool> {
        let webhook = webhook.clone();
        let before = before.timestamp_millis();
        self.writer
            .write("clear_alerts", move |tx| {
                operations::clear_alerts(tx, &webhook, condition, before)
            })
            .await
    }

    async fn prune(&self, older_than: DateTime<Utc>, batch: u32) -> Result<PruneReport> {
        let older_than = older_than.timestamp_millis();
        self.writer
            .write("prune", move |tx| retention::prune(tx, older_than, batch))
            .await
    }
}
