//! Operations (PostgreSQL): every endpoint's backlog, and the record of raised alerts.
//!
//! Invariants:
//! - Backlogs are one statement (one snapshot): per endpoint with open deliveries, its
//!   head and count from the partial index `deliveries_open`, and the latest attempt (a
//!   `410 Gone` that disabled it) and the run of failures from `attempts_by_webhook`
//!   read from its newest end.
//! - An alert is claimed by inserting its row (`ON CONFLICT DO NOTHING` on
//!   (webhook, condition)), so of several processes one claims it. Its event is then
//!   published through the ordinary publish path under [`alert_idempotency_key`], and the
//!   row is marked with the event's id. A claim whose publisher died before marking it is
//!   finished by the next raise, under the same key, so the event exists once: the
//!   publish answers the first event as a duplicate when it was made already.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use domain::{EventId, WebhookId};

use super::rows::{collect, ms, parse};
use crate::{AlertCondition, EndpointBacklog, NewAlert, Result, StoreError, alert_idempotency_key};

const BACKLOGS: &str = "SELECT w.id, w.workspace_id, w.url, w.enabled,
            h.created_at, COALESCE(h.open_since, h.created_at),
            (SELECT count(*) FROM deliveries d
             WHERE d.webhook_id = w.id AND d.status IN ('pending', 'failed')),
            CASE WHEN la.failed THEN fa.first END,
            (SELECT since FROM alerts WHERE webhook_id = w.id AND condition = 'endpoint_failing'),
            (SELECT since FROM alerts WHERE webhook_id = w.id AND condition = 'events_expiring'),
            CASE WHEN NOT w.enabled AND la.gone THEN la.attempted_at END,
            (SELECT since FROM alerts WHERE webhook_id = w.id AND condition = 'disabled_gone')
     FROM webhooks w
     JOIN LATERAL (SELECT d.created_at, d.open_since FROM deliveries d
                   WHERE d.webhook_id = w.id AND d.status IN ('pending', 'failed')
                   ORDER BY d.seq LIMIT 1) h ON true
     LEFT JOIN LATERAL (SELECT a.error_class IS NOT NULL AS failed,
                               a.error_class = 'gone' AS gone, a.attempted_at FROM attempts a
                        WHERE a.webhook_id = w.id
                        ORDER BY a.attempted_at DESC LIMIT 1) la ON true
     LEFT JOIN LATERAL (SELECT a.attempted_at FROM attempts a
                        WHERE a.webhook_id = w.id AND a.error_class IS NULL
                        ORDER BY a.attempted_at DESC LIMIT 1) ls ON true
     LEFT JOIN LATERAL (SELECT min(a.attempted_at) AS first FROM attempts a
                        WHERE a.webhook_id = w.id
                          AND a.attempted_at > COALESCE(ls.attempted_at, '-infinity')) fa
            ON la.failed
     ORDER BY w.id";

pub(super) async fn endpoint_backlogs(client: &impl GenericClient) -> Result<Vec<EndpointBacklog>> {
    let statement = client.prepare_cached(BACKLOGS).await?;
    let rows = client.query(&statement, &[]).await?;
    collect(&rows, |row| {
        Ok(EndpointBacklog {
            webhook_id: parse(row, 0)?,
            workspace_id: parse(row, 1)?,
            url: row.try_get(2)?,
            enabled: row.try_get(3)?,
            oldest_created_at: row.try_get(4)?,
            head_window_start: row.try_get(5)?,
            pending: u64::try_from(row.try_get::<_, i64>(6)?).unwrap_or(0),
            failing_since: row.try_get(7)?,
            gone_since: row.try_get(10)?,
            recorded_alerts: [
                (AlertCondition::EndpointFailing, row.try_get(8)?),
                (AlertCondition::EventsExpiring, row.try_get(9)?),
                (AlertCondition::DisabledGone, row.try_get(11)?),
            ]
            .into_iter()
            .filter_map(|(c, since): (_, Option<DateTime<Utc>>)| since.map(|s| (c, s)))
            .collect(),
        })
    })
}

/// What [`claim`] found: the alert to publish (with the `since` its key is made of), or
/// nothing to do.
pub(super) enum Claim {
    Publish { since: DateTime<Utc> },
    Done,
}

/// Claims the alert's row, or finds a claim left unpublished. `NotFound` when the
/// endpoint is not one of the alert's workspace.
pub(super) async fn claim(client: &impl GenericClient, alert: &NewAlert) -> Result<Claim> {
    let since = ms(alert.since);
    let inserted = client
        .query_opt(
            "INSERT INTO alerts (webhook_id, condition, since, raised_at)
             SELECT w.id, $2, $3, now() FROM webhooks w WHERE w.id = $1 AND w.workspace_id = $4
             ON CONFLICT (webhook_id, condition) DO NOTHING
             RETURNING since",
            &[
                &alert.webhook_id.as_str(),
                &alert.condition.as_str(),
                &since,
                &alert.workspace_id.as_str(),
            ],
        )
        .await?;
    if let Some(row) = inserted {
        return Ok(Claim::Publish {
            since: row.try_get(0)?,
        });
    }
    let existing = client
        .query_opt(
            "SELECT a.since, a.event_id FROM alerts a JOIN webhooks w ON w.id = a.webhook_id
             WHERE a.webhook_id = $1 AND a.condition = $2 AND w.workspace_id = $3",
            &[
                &alert.webhook_id.as_str(),
                &alert.condition.as_str(),
                &alert.workspace_id.as_str(),
            ],
        )
        .await?;
    match existing {
        Some(row) if row.try_get::<_, Option<&str>>(1)?.is_none() => Ok(Claim::Publish {
            since: row.try_get(0)?,
        }),
        Some(_) => Ok(Claim::Done),
        None => {
            let webhook_exists = client
                .query_opt(
                    "SELECT 1 FROM webhooks WHERE id = $1 AND workspace_id = $2",
                    &[&alert.webhook_id.as_str(), &alert.workspace_id.as_str()],
                )
                .await?
                .is_some();
            // Cleared between the insert and this read: someone else's business now.
            if webhook_exists {
                Ok(Claim::Done)
            } else {
                Err(StoreError::NotFound)
            }
        }
    }
}

pub(super) fn idempotency_key(alert: &NewAlert, since: DateTime<Utc>) -> String {
    alert_idempotency_key(&alert.webhook_id, alert.condition, since.timestamp_millis())
}

/// Marks a claimed alert as published.
pub(super) async fn mark_published(
    client: &impl GenericClient,
    alert: &NewAlert,
    event: &EventId,
) -> Result<()> {
    client
        .execute(
            "UPDATE alerts SET event_id = $3
             WHERE webhook_id = $1 AND condition = $2 AND event_id IS NULL",
            &[
                &alert.webhook_id.as_str(),
                &alert.condition.as_str(),
                &event.as_str(),
            ],
        )
        .await?;
    Ok(())
}

pub(super) async fn clear_alerts(
    client: &impl GenericClient,
    webhook: &WebhookId,
    condition: AlertCondition,
    before: DateTime<Utc>,
) -> Result<bool> {
    let deleted = client
        .execute(
            "DELETE FROM alerts WHERE webhook_id = $1 AND condition = $2 AND since < $3",
            &[&webhook.as_str(), &condition.as_str(), &before],
        )
        .await?;
    Ok(deleted > 0)
}
