//! Endpoints ("webhooks"): register, list, read, change, delete, rotate the signing
//! secret, and send a test event.
//!
//! Invariants:
//! - A stored URL has passed [`crate::destination`] (https and public addresses outside
//!   `--dev`); a change of URL passes the same check.
//! - Checks run in one order, description, events, rate limit, headers, URL (the one that
//!   reaches DNS last), so the first rule broken is the one reported, whichever edge
//!   asked.
//! - A rate limit is 1..=10,000 attempts per second or per minute
//!   ([`domain::RateLimit`]); custom headers follow [`domain::custom_headers`] (at most
//!   10, no header of the service's own, single-line values of at most 1 KiB). Refusals
//!   name the field and the header, never a header's value.
//! - `events` is a non-empty list of subscriptions (`user.created`, `user.*`, `*`); an
//!   exact type must be in the workspace's catalog, a group may name types that do not
//!   exist yet (it matches types added later).
//! - The signing secret is generated here (`whsec_` + base64 of 32 random bytes).
//! - The limit of enabled webhooks is enforced by the store ([`Conflict::LimitReached`]).
//! - Every committed change is announced by the store as a resync of the endpoint's lane
//!   (nothing here wakes it): the lane re-reads its URL and secrets, starts again when
//!   re-enabled, stops when deleted.

use std::collections::HashSet;

use domain::catalog::TEST_EVENT_TYPE;
use domain::signature::generate_secret;
use domain::{CustomHeaders, RateLimit, RatePeriod, Subscription, WebhookId, WorkspaceId};
use serde_json::value::RawValue;
use store::{
    NewEvent, NewWebhook, Page, PageRequest, Published, SecretRotation, Webhook, WebhookPatch,
};

use crate::destination::check_destination;
use crate::error::{Conflict, FoundOr, Refused, Resource, UseCaseError, UseCaseResult};
use crate::{Application, fields};

const MAX_DESCRIPTION: usize = 500;
/// More subscriptions than this is a mistake; `*` or groups say it shorter.
const MAX_SUBSCRIPTIONS: usize = 100;

/// A webhook to register, as the user entered it.
#[derive(Debug, Clone)]
pub struct WebhookDraft {
    pub url: String,
    pub events: Vec<String>,
    pub description: String,
    pub enabled: bool,
    /// `None`: no limit.
    pub rate_limit: Option<RateLimitDraft>,
    /// `(name, value)` pairs, in the order they are to be sent.
    pub headers: Vec<(String, String)>,
}

/// A rate limit as entered: `count` attempts per `period`, not yet checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitDraft {
    pub period: RatePeriod,
    pub count: u64,
}

/// Changes to a webhook; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    /// `Some(None)` removes the limit.
    pub rate_limit: Option<Option<RateLimitDraft>>,
    /// Replaces every custom header; `Some` of an empty list removes them all.
    pub headers: Option<Vec<(String, String)>>,
}

/// Checks a rate limit as entered.
fn rate_limit(draft: Option<RateLimitDraft>) -> UseCaseResult<Option<RateLimit>> {
    draft
        .map(|d| RateLimit::new(d.period, d.count))
        .transpose()
        .map_err(|e| UseCaseError::validation("rate_limit", format!("{e}.")))
}

/// Checks custom headers as entered.
fn custom_headers(headers: Vec<(String, String)>) -> UseCaseResult<CustomHeaders> {
    CustomHeaders::parse(headers)
        .map_err(|e| UseCaseError::validation("headers", format!("In `headers`: {e}.")))
}

impl Application {
    /// Parses `events` and checks that every exact type is in the workspace's catalog.
    pub(crate) async fn subscriptions(
        &self,
        workspace: &WorkspaceId,
        events: &[String],
    ) -> UseCaseResult<Vec<Subscription>> {
        if events.is_empty() {
            return Err(UseCaseError::validation(
                "events",
                "`events` must list at least one event type (`user.created`), group (`user.*`) or `*`.",
            ));
        }
        if events.len() > MAX_SUBSCRIPTIONS {
            return Err(UseCaseError::validation(
                "events",
                format!(
                    "`events` lists more than {MAX_SUBSCRIPTIONS} entries; subscribe to groups (`user.*`) or `*` instead."
                ),
            ));
        }
        let mut seen = HashSet::new();
        let mut parsed = Vec::with_capacity(events.len());
        for text in events {
            let subscription = Subscription::parse(text)
                .map_err(|e| UseCaseError::validation("events", format!("In `events`: {e}.")))?;
            if seen.insert(subscription.clone()) {
                parsed.push(subscription);
            }
        }
        if parsed.iter().any(|s| s.exact().is_some()) {
            let catalog = self.store.list_event_types(workspace).await?;
            let known: HashSet<&str> = catalog.iter().map(|t| t.name.as_str()).collect();
            if let Some(unknown) = parsed
                .iter()
                .filter_map(Subscription::exact)
                .find(|name| !known.contains(name))
            {
                return Err(UseCaseError::Conflict(Conflict::UnknownEventType(
                    unknown.to_owned(),
                )));
            }
        }
        Ok(parsed)
    }

    /// Registers an endpoint with a fresh signing secret.
    pub async fn create_webhook(
        &self,
        workspace: &WorkspaceId,
        draft: WebhookDraft,
    ) -> UseCaseResult<Webhook> {
        let description = fields::optional("description", &draft.description, MAX_DESCRIPTION)?;
        let events = self.subscriptions(workspace, &draft.events).await?;
        let rate_limit = rate_limit(draft.rate_limit)?;
        let headers = custom_headers(draft.headers)?;
        let url = check_destination(self.url_policy(), &draft.url).await?;
        let new = NewWebhook {
            url: url.into(),
            description,
            events,
            enabled: draft.enabled,
            secret: generate_secret(),
            rate_limit,
            headers,
        };
        Ok(self.store.create_webhook(workspace, new).await?)
    }

    /// One page of the workspace's endpoints, by id.
    pub async fn list_webhooks(
        &self,
        workspace: &WorkspaceId,
        page: PageRequest,
    ) -> UseCaseResult<Page<Webhook>> {
        page.check_cursor::<WebhookId>()?;
        Ok(self.store.list_webhooks(workspace, page).await?)
    }

    /// One endpoint of the workspace, with its signing secret.
    pub async fn get_webhook(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
    ) -> UseCaseResult<Webhook> {
        self.store
            .get_webhook(workspace, id)
            .await
            .found_or(Resource::Webhook, id)
    }

    /// Changes an endpoint; with no change at all it answers the endpoint as it is.
    pub async fn update_webhook(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
        changes: WebhookChanges,
    ) -> UseCaseResult<Webhook> {
        let mut patch = WebhookPatch {
            enabled: changes.enabled,
            ..WebhookPatch::default()
        };
        if let Some(text) = &changes.description {
            patch.description = Some(fields::optional("description", text, MAX_DESCRIPTION)?);
        }
        if let Some(events) = &changes.events {
            patch.events = Some(self.subscriptions(workspace, events).await?);
        }
        if let Some(draft) = changes.rate_limit {
            patch.rate_limit = Some(rate_limit(draft)?);
        }
        if let Some(headers) = changes.headers {
            patch.headers = Some(custom_headers(headers)?);
        }
        if let Some(url) = &changes.url {
            let current = self.get_webhook(workspace, id).await?;
            if domain::listener::is_listener_url(&current.url) {
                return Err(UseCaseError::validation(
                    "url",
                    "This endpoint is a listener of `admin-webhooks listen`: its URL \
                     (`listen://…`) cannot change. Register a webhook with your URL instead.",
                ));
            }
            patch.url = Some(check_destination(self.url_policy(), url).await?.into());
        }
        let unchanged = patch.url.is_none()
            && patch.description.is_none()
            && patch.events.is_none()
            && patch.enabled.is_none()
            && patch.rate_limit.is_none()
            && patch.headers.is_none();
        if unchanged {
            return self.get_webhook(workspace, id).await;
        }
        let hook = self
            .store
            .update_webhook(workspace, id, patch)
            .await
            .found_or(Resource::Webhook, id)?;
        Ok(hook)
    }

    /// Deletes an endpoint with its deliveries and their log.
    pub async fn delete_webhook(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
    ) -> UseCaseResult<()> {
        self.store
            .delete_webhook(workspace, id)
            .await
            .found_or(Resource::Webhook, id)
    }

    /// A new signing secret; the replaced one keeps signing for `--secret-grace`.
    pub async fn rotate_secret(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
    ) -> UseCaseResult<SecretRotation> {
        self.store
            .rotate_secret(workspace, id, generate_secret(), self.settings.secret_grace)
            .await
            .found_or(Resource::Webhook, id)
    }

    /// Publishes a `webhook.test` event (`{"test": true}`) to this endpoint alone, through
    /// the normal delivery path, so it shows in the activity log like any other.
    pub async fn send_test_event(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
    ) -> UseCaseResult<Published> {
        let hook = self.get_webhook(workspace, id).await?;
        if !hook.enabled {
            return Err(UseCaseError::Conflict(Conflict::WebhookDisabled {
                webhook: id.clone(),
                refused: Refused::TestEvent,
            }));
        }
        let data = RawValue::from_string(r#"{"test":true}"#.to_owned()).expect("literal JSON");
        let new = NewEvent {
            workspace_id: workspace.clone(),
            event_type: TEST_EVENT_TYPE.to_owned(),
            data,
            metadata: None,
            idempotency_key: None,
            only_webhook: Some(id.clone()),
        };
        self.store
            .publish(new)
            .await
            .found_or(Resource::Webhook, id)
    }

    /// Refuses to re-send to a disabled endpoint: it would sit unsent until re-enabled.
    pub(crate) async fn require_enabled(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
    ) -> UseCaseResult<()> {
        if self.get_webhook(workspace, webhook).await?.enabled {
            Ok(())
        } else {
            Err(UseCaseError::Conflict(Conflict::WebhookDisabled {
                webhook: webhook.clone(),
                refused: Refused::Resend,
            }))
        }
    }
}
