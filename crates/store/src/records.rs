//! Records a write makes, built once for both backends: fresh typed ids, the time the
//! backend passes in (already at the store's millisecond precision), patches applied,
//! secret grace deadlines and which secrets sign, rate limits as columns. The backends only
//! store and read them.
//!
//! Invariant: every time a record carries is one the caller passed in, or one derived
//! from it and truncated to milliseconds here, so a record returned by a write equals the
//! same record read back on either backend.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{ApiKeyId, RateLimit, RatePeriod, WebhookId, WorkspaceId};

use crate::{
    ApiKey, DEFAULT_MAX_ENABLED_WEBHOOKS, NewApiKey, NewWebhook, StoreError, Webhook, WebhookPatch,
    Workspace,
};

impl Workspace {
    /// A new workspace named `name`, with the default limit.
    pub(crate) fn created(name: &str, at: DateTime<Utc>) -> Workspace {
        Workspace {
            id: WorkspaceId::generate(),
            name: name.to_owned(),
            max_enabled_webhooks: DEFAULT_MAX_ENABLED_WEBHOOKS,
            created_at: at,
        }
    }
}

impl ApiKey {
    /// The record of `key`, a new key of `workspace`.
    pub(crate) fn created(workspace: &WorkspaceId, key: &NewApiKey, at: DateTime<Utc>) -> ApiKey {
        ApiKey {
            id: ApiKeyId::generate(),
            workspace_id: workspace.clone(),
            name: key.name.clone(),
            hint: key.hint.clone(),
            created_at: at,
        }
    }
}

impl NewWebhook {
    /// The record of this webhook, new in `workspace`.
    pub(crate) fn created(&self, workspace: &WorkspaceId, at: DateTime<Utc>) -> Webhook {
        Webhook {
            id: WebhookId::generate(),
            workspace_id: workspace.clone(),
            url: self.url.clone(),
            description: self.description.clone(),
            events: self.events.clone(),
            enabled: self.enabled,
            secret: self.secret.clone(),
            rate_limit: self.rate_limit,
            headers: self.headers.clone(),
            created_at: at,
            updated_at: at,
        }
    }
}

impl WebhookPatch {
    /// Whether applying the patch turns a disabled `webhook` on (and so needs room under
    /// the workspace's limit).
    pub(crate) fn enables(&self, webhook: &Webhook) -> bool {
        self.enabled == Some(true) && !webhook.enabled
    }

    /// Applies the patch's fields to `webhook`, changed at `at`.
    pub(crate) fn apply(self, webhook: &mut Webhook, at: DateTime<Utc>) {
        if let Some(url) = self.url {
            webhook.url = url;
        }
        if let Some(description) = self.description {
            webhook.description = description;
        }
        if let Some(events) = self.events {
            webhook.events = events;
        }
        if let Some(enabled) = self.enabled {
            webhook.enabled = enabled;
        }
        if let Some(rate_limit) = self.rate_limit {
            webhook.rate_limit = rate_limit;
        }
        if let Some(headers) = self.headers {
            webhook.headers = headers;
        }
        webhook.updated_at = at;
    }
}

/// Until when a secret replaced at `at` keeps signing: `at + grace`, saturating, at
/// millisecond precision (as stored, so the answer equals what is read back).
pub(crate) fn grace_deadline(at: DateTime<Utc>, grace: Duration) -> DateTime<Utc> {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let until = at
        .checked_add_signed(grace)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    DateTime::from_timestamp_millis(until.timestamp_millis()).unwrap_or(until)
}

/// The secrets that sign a lane's requests at `now`: the current one, then the replaced
/// one while its grace deadline is ahead.
pub(crate) fn signing_secrets(
    current: String,
    previous: Option<String>,
    previous_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut secrets = vec![current];
    if let (Some(previous), Some(until)) = (previous, previous_until)
        && until > now
    {
        secrets.push(previous);
    }
    secrets
}

/// A rate limit as both backends store it: `(rate_limit, rate_limit_period)`, both
/// `NULL` for none.
pub(crate) fn rate_limit_columns(limit: Option<RateLimit>) -> (Option<i32>, Option<&'static str>) {
    match limit {
        Some(limit) => (
            // At most `domain::rate_limit::MAX_RATE`, so it always fits.
            Some(i32::try_from(limit.count()).unwrap_or(i32::MAX)),
            Some(limit.period().as_str()),
        ),
        None => (None, None),
    }
}

/// The rate limit stored as `(rate_limit, rate_limit_period)`.
pub(crate) fn stored_rate_limit(
    count: Option<i64>,
    period: Option<&str>,
) -> Result<Option<RateLimit>, StoreError> {
    match (count, period) {
        (None, None) => Ok(None),
        (Some(count), Some(period)) => {
            let limit = RatePeriod::parse(period)
                .zip(u64::try_from(count).ok())
                .and_then(|(period, count)| RateLimit::new(period, count).ok());
            limit.map(Some).ok_or_else(|| {
                StoreError::Backend(
                    format!("a stored rate limit is malformed: {count} per {period:?}").into(),
                )
            })
        }
        _ => Err(StoreError::Backend(
            "a stored rate limit has a count without a period, or a period without a count".into(),
        )),
    }
}
