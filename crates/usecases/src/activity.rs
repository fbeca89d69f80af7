//! Events and their deliveries: publishing (one event or a batch), the activity log,
//! manual re-sends (retry, replay) and an endpoint's numbers.
//!
//! Invariants:
//! - A publish is answered only after the store committed the event and its deliveries
//!   (and announced them to the lanes). A repeated idempotency key answers the first
//!   event and creates nothing.
//! - A batch holds 1 to [`MAX_BATCH_EVENTS`] events and is answered per item, in order: each
//!   item passes the same rules as a single publish or is refused alone; the valid ones
//!   go to the store in one call (one commit where the backend allows).
//! - `data` and `metadata` stay `RawValue`s to the store, so the bytes the producer sent
//!   are the bytes delivered; both must be JSON objects, and `data` must match its type's
//!   payload schema when the type has one (checked against schemas compiled once and
//!   cached, [`crate::schemas`]).
//! - A webhook or delivery of another workspace is `NotFound`, like one that does not
//!   exist; listing the deliveries of one is `NotFound`, not an empty list.
//! - A retried or replayed delivery goes back to its original place in the endpoint's
//!   order (its `seq`); the store announces the re-opening, resyncing the lane.
//!   A disabled endpoint receives nothing, so re-sending to one is refused.

use chrono::{DateTime, Utc};
use domain::{DeliveryId, EventId, WebhookId, WorkspaceId, validate_type_name};
use serde_json::value::RawValue;
use store::{
    Attempt, Delivery, DeliveryFilter, Event, EventFilter, NewEvent, Page, PageRequest, Published,
    ReplayFilter, WebhookStats,
};

use crate::Application;
use crate::error::{FoundOr, Resource, UseCaseError, UseCaseResult};
use crate::schemas::Lookup;

/// An event to publish, as the producer sent it.
#[derive(Debug)]
pub struct EventDraft {
    pub event_type: String,
    pub data: Box<RawValue>,
    /// Absent means none (delivered as `{}`).
    pub metadata: Option<Box<RawValue>>,
    pub idempotency_key: Option<String>,
    /// The trace the event joins (the publish request's, or a fresh one).
    pub trace: Option<domain::TraceContext>,
}

/// Refuses a value that is not a JSON object, naming the field and what it got.
/// Refuses a value that breaks the payload rules (which receivers could not read, so it
/// would block its endpoints' lanes), naming the field and the rule.
fn require_payload_rules(
    field: &'static str,
    value: &RawValue,
    rules: domain::PayloadRules,
) -> UseCaseResult<()> {
    domain::check_payload(value.get(), rules)
        .map_err(|rule| UseCaseError::validation(field, format!("`{field}` {rule}.")))
}

/// The longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Refuses an idempotency key that is empty, too long or not visible ASCII (spaces
/// allowed inside). The API checks its `Idempotency-Key` header by the same rule first.
fn require_idempotency_key(key: &str) -> UseCaseResult<()> {
    let trimmed = key.trim();
    if trimmed.is_empty()
        || trimmed.len() != key.len()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(UseCaseError::validation(
            "idempotency_key",
            format!(
                "`idempotency_key` must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters \
                 (a UUID works well)."
            ),
        ));
    }
    Ok(())
}

/// Refuses a value that is not a JSON object, naming the field and what it got.
fn require_object(field: &'static str, value: &RawValue) -> UseCaseResult<()> {
    let text = value.get().trim_start();
    let got = match text.as_bytes().first() {
        Some(b'{') => return Ok(()),
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    };
    Err(UseCaseError::validation(
        field,
        format!(
            "`{field}` must be a JSON object (for example {{\"user_id\": \"usr_9x2k4m7\"}}), not {got}."
        ),
    ))
}

/// The most events one batch publish holds.
pub const MAX_BATCH_EVENTS: usize = 100;

impl Application {
    /// Publishes an event to every matching enabled endpoint of the workspace.
    pub async fn publish(
        &self,
        workspace: &WorkspaceId,
        draft: EventDraft,
    ) -> UseCaseResult<Published> {
        let new = self.checked_event(workspace, draft)?;
        self.check_schema(&new).await?;
        Ok(self.store.publish(new).await?)
    }

    /// Publishes up to [`MAX_BATCH_EVENTS`] events, each as [`Application::publish`] would, and
    /// answers each item in order. Too many (or no) events refuse the whole batch; an
    /// item that breaks a rule or that the store refuses is refused alone.
    pub async fn publish_batch(
        &self,
        workspace: &WorkspaceId,
        drafts: Vec<EventDraft>,
    ) -> UseCaseResult<Vec<UseCaseResult<Published>>> {
        if drafts.is_empty() || drafts.len() > MAX_BATCH_EVENTS {
            return Err(UseCaseError::validation(
                "events",
                format!(
                    "`events` must hold 1 to {MAX_BATCH_EVENTS} events; this batch has {}.",
                    drafts.len()
                ),
            ));
        }
        let mut checked: Vec<UseCaseResult<NewEvent>> = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let item = match self.checked_event(workspace, draft) {
                Ok(new) => self.check_schema(&new).await.map(|()| new),
                Err(refused) => Err(refused),
            };
            checked.push(item);
        }
        let mut news = Vec::with_capacity(checked.len());
        let mut answers: Vec<Option<UseCaseResult<Published>>> = Vec::with_capacity(checked.len());
        for item in checked {
            match item {
                Ok(new) => {
                    news.push(new);
                    answers.push(None);
                }
                Err(refused) => answers.push(Some(Err(refused))),
            }
        }
        let mut stored = self.store.publish_batch(news).await.into_iter();
        Ok(answers
            .into_iter()
            .map(|answer| match answer {
                Some(refused) => refused,
                None => match stored.next() {
                    Some(result) => result.map_err(UseCaseError::from),
                    None => Err(UseCaseError::from(store::StoreError::Backend(
                        "the store answered fewer items than it was given".into(),
                    ))),
                },
            })
            .collect())
    }

    /// Refuses an event whose `data` does not match its type's payload schema (types
    /// without one pass as they are).
    async fn check_schema(&self, new: &NewEvent) -> UseCaseResult<()> {
        let schema = match self.schemas.lookup(&new.workspace_id, &new.event_type) {
            Lookup::Known(schema) => schema,
            Lookup::Unknown => {
                let catalog = self.store.list_event_types(&new.workspace_id).await?;
                self.schemas
                    .refresh(&new.workspace_id, &catalog, &new.event_type)
            }
        };
        let Some(schema) = schema else {
            return Ok(());
        };
        let data: serde_json::Value = serde_json::from_str(new.data.get())
            .map_err(|e| UseCaseError::validation("data", format!("`data` is not JSON: {e}.")))?;
        schema
            .check(&data)
            .map_err(|violations| UseCaseError::SchemaMismatch {
                event_type: new.event_type.clone(),
                violations,
            })
    }

    /// The event to store for `draft`, once it passed every rule of a publish.
    fn checked_event(&self, workspace: &WorkspaceId, draft: EventDraft) -> UseCaseResult<NewEvent> {
        // A malformed name could never be added to the catalog, so say what is wrong with
        // it rather than suggesting to add it.
        validate_type_name(&draft.event_type)
            .map_err(|e| UseCaseError::validation("type", e.to_string()))?;
        let rules = self.settings().payload_rules;
        require_object("data", &draft.data)?;
        require_payload_rules("data", &draft.data, rules)?;
        if let Some(metadata) = &draft.metadata {
            require_object("metadata", metadata)?;
            require_payload_rules("metadata", metadata, rules)?;
        }
        if let Some(key) = &draft.idempotency_key {
            require_idempotency_key(key)?;
        }
        Ok(NewEvent {
            workspace_id: workspace.clone(),
            event_type: draft.event_type,
            data: draft.data,
            metadata: draft.metadata,
            idempotency_key: draft.idempotency_key,
            only_webhook: None,
            trace: draft.trace,
        })
    }

    /// The workspace's events, newest first.
    pub async fn list_events(
        &self,
        workspace: &WorkspaceId,
        filter: EventFilter,
        page: PageRequest,
    ) -> UseCaseResult<Page<Event>> {
        page.check_cursor::<EventId>()?;
        Ok(self.store.list_events(workspace, filter, page).await?)
    }

    /// One event with its deliveries (one per endpoint it went to, fewer once the log's
    /// retention pruned some).
    pub async fn get_event(
        &self,
        workspace: &WorkspaceId,
        id: &EventId,
    ) -> UseCaseResult<(Event, Vec<Delivery>)> {
        let event = self
            .store
            .get_event(workspace, id)
            .await
            .found_or(Resource::Event, id)?;
        Ok((event, self.event_deliveries(workspace, id).await?))
    }

    /// The deliveries of one event.
    pub async fn event_deliveries(
        &self,
        workspace: &WorkspaceId,
        id: &EventId,
    ) -> UseCaseResult<Vec<Delivery>> {
        self.store
            .list_event_deliveries(workspace, id)
            .await
            .found_or(Resource::Event, id)
    }

    /// An endpoint's deliveries, newest first: the activity log.
    pub async fn list_deliveries(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> UseCaseResult<Page<Delivery>> {
        page.check_cursor::<DeliveryId>()?;
        // Looked up first so that a foreign or deleted webhook is not an empty list.
        self.get_webhook(workspace, webhook).await?;
        self.store
            .list_deliveries(workspace, webhook, filter, page)
            .await
            .found_or(Resource::Webhook, webhook)
    }

    /// One delivery with all its attempts, oldest first.
    pub async fn get_delivery(
        &self,
        workspace: &WorkspaceId,
        id: &DeliveryId,
    ) -> UseCaseResult<(Delivery, Vec<Attempt>)> {
        self.store
            .get_delivery(workspace, id)
            .await
            .found_or(Resource::Delivery, id)
    }

    /// Re-sends one delivery now, whatever its status (delivered and expired ones too).
    pub async fn retry_delivery(
        &self,
        workspace: &WorkspaceId,
        id: &DeliveryId,
    ) -> UseCaseResult<Delivery> {
        let (delivery, _) = self.get_delivery(workspace, id).await?;
        self.require_enabled(workspace, &delivery.webhook_id)
            .await?;
        self.store
            .retry_delivery(workspace, id)
            .await
            .found_or(Resource::Delivery, id)
    }

    /// Re-sends every delivery of one endpoint that `filter` selects, in their original
    /// order; answers how many were re-opened.
    pub async fn replay_deliveries(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        filter: ReplayFilter,
    ) -> UseCaseResult<u64> {
        self.require_enabled(workspace, webhook).await?;
        self.store
            .replay_deliveries(workspace, webhook, filter)
            .await
            .found_or(Resource::Webhook, webhook)
    }

    /// One endpoint's attempts made at or after `since`: counts, success rate, percentiles.
    pub async fn webhook_stats(
        &self,
        workspace: &WorkspaceId,
        webhook: &WebhookId,
        since: DateTime<Utc>,
    ) -> UseCaseResult<WebhookStats> {
        self.store
            .webhook_stats(workspace, webhook, since)
            .await
            .found_or(Resource::Webhook, webhook)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn only_objects_pass() {
        require_object("data", &raw(r#"{"a":1}"#)).unwrap();
        for (text, got) in [
            ("[1]", "an array"),
            ("\"x\"", "a string"),
            ("true", "a boolean"),
            ("null", "null"),
            ("-1", "a number"),
        ] {
            let error = require_object("data", &raw(text)).unwrap_err().to_string();
            assert!(error.ends_with(&format!("not {got}.")), "{error}");
        }
    }
}
