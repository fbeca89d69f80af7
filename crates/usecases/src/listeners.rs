//! Listener endpoints: what `admin-webhooks listen` does through the API — attach (create
//! or re-attach) a listener, open its stream of deliveries, report each attempt.
//!
//! Invariants:
//! - A listener is an endpoint of the workspace whose URL is `listen://<name>`
//!   (`domain::listener`): it subscribes, queues, retries and logs like any endpoint,
//!   does not count against the limit of enabled webhooks, and is never connected to.
//! - Re-attaching by id keeps the listener, its secret and its backlog; only a listener
//!   of the caller's workspace can be attached to, streamed or reported on.
//! - Opening a stream marks the listener seen and re-opens its waiting head for an
//!   attempt now (as a retry would), so a backlog that waited for the stream drains at
//!   once, in order, instead of after the head's backoff.

use std::sync::Arc;

use delivery::listeners::{Connection, Report, Switchboard};
use domain::listener::{check_listener_name, is_listener_url, listener_url};
use domain::signature::generate_secret;
use domain::{DeliveryId, DeliveryStatus, WebhookId, WorkspaceId};
use store::{DeliveryFilter, NewWebhook, PageRequest, Webhook, WebhookPatch};

use crate::error::{Conflict, FoundOr, Resource, UseCaseError, UseCaseResult};
use crate::{Application, fields};

const MAX_DESCRIPTION: usize = 500;

/// A listener to attach, as `listen` asks for it.
#[derive(Debug, Clone, Default)]
pub struct ListenerDraft {
    /// Re-attach to this listener; `None` creates one.
    pub id: Option<WebhookId>,
    /// The name in `listen://<name>` of a new listener; `listener` when absent.
    pub name: Option<String>,
    /// Subscriptions; a new listener takes `*` without, a re-attached one keeps its own.
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
}

/// The listener attached to, and whether this call created it.
#[derive(Debug, Clone)]
pub struct AttachedListener {
    pub webhook: Webhook,
    pub created: bool,
}

impl Application {
    /// The switchboard where lanes meet the streams of `listen` commands.
    pub fn listeners(&self) -> &Arc<Switchboard> {
        &self.listeners
    }

    /// Creates a listener, or re-attaches to one by id (changing its subscriptions when
    /// given), and marks it seen.
    pub async fn attach_listener(
        &self,
        workspace: &WorkspaceId,
        draft: ListenerDraft,
    ) -> UseCaseResult<AttachedListener> {
        let description = draft
            .description
            .as_deref()
            .map(|text| fields::optional("description", text, MAX_DESCRIPTION))
            .transpose()?;
        let events = match &draft.events {
            Some(events) => Some(self.subscriptions(workspace, events).await?),
            None => None,
        };
        if let Some(id) = &draft.id {
            let listener = self.listener(workspace, id).await?;
            let patch = WebhookPatch {
                events,
                description,
                ..WebhookPatch::default()
            };
            let webhook = if patch.events.is_some() || patch.description.is_some() {
                self.store
                    .update_webhook(workspace, id, patch)
                    .await
                    .found_or(Resource::Listener, id)?
            } else {
                listener
            };
            self.store.touch_listeners(std::slice::from_ref(id)).await?;
            return Ok(AttachedListener {
                webhook,
                created: false,
            });
        }
        let name = draft.name.unwrap_or_else(|| "listener".to_owned());
        check_listener_name(&name).map_err(|e| UseCaseError::validation("name", e.to_string()))?;
        let events = match events {
            Some(events) => events,
            None => self.subscriptions(workspace, &["*".to_owned()]).await?,
        };
        let new = NewWebhook {
            url: listener_url(&name),
            description: description.unwrap_or_default(),
            events,
            enabled: true,
            secret: generate_secret(),
            // A developer's own server: no pacing, no extra headers (both can be set on
            // the endpoint afterwards, like any other).
            rate_limit: None,
            headers: Default::default(),
        };
        let webhook = self.store.create_webhook(workspace, new).await?;
        Ok(AttachedListener {
            webhook,
            created: true,
        })
    }

    /// Connects a stream to a listener of the workspace (replacing the one it had), marks
    /// it seen and re-opens its waiting head so the backlog drains now.
    pub async fn open_listener_stream(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
    ) -> UseCaseResult<Connection> {
        self.listener(workspace, id).await?;
        // Connected before the head is re-opened, so its attempt finds the stream.
        let connection = self.listeners.connect(id);
        self.store.touch_listeners(std::slice::from_ref(id)).await?;
        let waiting = self
            .store
            .list_deliveries(
                workspace,
                id,
                DeliveryFilter {
                    status: Some(DeliveryStatus::Failed),
                    ..DeliveryFilter::default()
                },
                PageRequest {
                    limit: 1,
                    cursor: None,
                },
            )
            .await
            .found_or(Resource::Listener, id)?;
        // Only the head of a lane is ever `failed`: the rest wait `pending` behind it.
        if let Some(head) = waiting.data.first() {
            self.store
                .retry_delivery(workspace, &head.id)
                .await
                .found_or(Resource::Delivery, &head.id)?;
        }
        Ok(connection)
    }

    /// Hands a `listen` command's report of one attempt to the lane awaiting it.
    pub async fn report_listener_attempt(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
        delivery: &DeliveryId,
        attempt: u32,
        report: Report,
    ) -> UseCaseResult<()> {
        self.listener(workspace, id).await?;
        self.listeners
            .report(id, delivery, attempt, report)
            .map_err(|e| UseCaseError::Conflict(Conflict::AttemptNotAwaited(e.to_string())))
    }

    /// The listener `id` of the workspace; any other endpoint is not one.
    async fn listener(&self, workspace: &WorkspaceId, id: &WebhookId) -> UseCaseResult<Webhook> {
        let webhook = self
            .store
            .get_webhook(workspace, id)
            .await
            .found_or(Resource::Listener, id)?;
        if is_listener_url(&webhook.url) {
            Ok(webhook)
        } else {
            Err(UseCaseError::NotFound {
                kind: Resource::Listener,
                id: id.to_string(),
            })
        }
    }
}
