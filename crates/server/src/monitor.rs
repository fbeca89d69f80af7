//! The backlog monitor: every `--monitor-interval` it reads every endpoint's backlog
//! once (`Store::endpoint_backlogs`) and from that
//! - sets the gauges of pending deliveries and of the oldest pending delivery's age per
//!   workspace (`/metrics`), and
//! - raises operational alerts: `system.alert` events published into the affected
//!   workspace's own stream, so they reach its endpoints subscribed to `system.alert`
//!   and show in its event log.
//!
//! Alerts (the README's "Operations" says the same for users):
//! - `endpoint_failing`: the endpoint's attempts have all failed for at least
//!   `--alert-after`. One alert per run of failures: a run starts at the first failed
//!   attempt after a success, so the alert re-arms when the endpoint succeeds again.
//! - `events_expiring`: the endpoint's oldest open delivery expires (`--retention`)
//!   within [`EXPIRY_WARNING`]. One alert per backlog: it re-arms once a delivery
//!   published (or re-opened) after the alert heads the backlog.
//! - `disabled_gone`: the receiver answered `410 Gone`, which disabled the endpoint (the
//!   lane does that with the attempt's outcome). One alert per such answer: its `since`
//!   is the answer's time, so a later 410 after re-enabling raises a new one. The event
//!   says how to re-enable the endpoint.
//!
//! Invariants:
//! - Once per occurrence, not per check, attempt or process: the store records each
//!   alert with the alert's event (`Store::raise_alert`), so several processes sharing a
//!   PostgreSQL database raise it once between them, and a restart does not raise it
//!   again. An occurrence is named by its `since` (the run's first failure; the
//!   backlog's first observation), and a recorded alert whose `since` is older than the
//!   current occurrence is cleared first.
//! - Alerts are delivered like any event (the store announces their deliveries to the
//!   lanes as it does every publish's). An endpoint that subscribes to `system.alert`
//!   and is itself failing gets its own alert queued behind its backlog; that cannot
//!   feed itself, because the alert is raised once per run of failures, not per attempt.
//! - The event names the endpoint by id and URL, never its secret; the log names only
//!   ids (URLs may carry credentials).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::WorkspaceId;
use serde_json::json;
use serde_json::value::RawValue;
use store::{AlertCondition, EndpointBacklog, NewAlert, NewEvent, Store, StoreError};
use tokio_util::sync::CancellationToken;

/// How close to expiring a backlog's oldest delivery must be for an alert.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(3600);

/// The catalog type of operational alerts (one of the built-in five).
pub const ALERT_TYPE: &str = "system.alert";

pub const PENDING: &str = "admin_webhooks_deliveries_pending";
pub const OLDEST_PENDING_AGE: &str = "admin_webhooks_oldest_pending_age_seconds";
pub const ALERTS_RAISED: &str = "admin_webhooks_alerts_raised_total";

pub fn describe() {
    metrics::describe_gauge!(
        PENDING,
        "Open (pending or failed) deliveries, by workspace; measured every --monitor-interval."
    );
    metrics::describe_gauge!(
        OLDEST_PENDING_AGE,
        metrics::Unit::Seconds,
        "Age of the oldest open delivery's event, by workspace."
    );
    metrics::describe_counter!(
        ALERTS_RAISED,
        "Operational alerts this process published, by condition."
    );
}

#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub interval: Duration,
    /// `--alert-after`: how long an endpoint fails before `endpoint_failing`.
    pub alert_after: Duration,
    /// `--retention`: when open deliveries expire.
    pub retention: Duration,
}

/// Runs until `shutdown`.
pub async fn monitor_forever(
    store: Arc<dyn Store>,
    config: MonitorConfig,
    shutdown: CancellationToken,
) {
    let mut gauges = Gauges::default();
    loop {
        let observed = store_time(Utc::now());
        match store.endpoint_backlogs().await {
            Ok(backlogs) => {
                gauges.set(&backlogs, observed);
                for backlog in &backlogs {
                    for due in due_alerts(backlog, &config, observed) {
                        raise(&*store, backlog, due).await;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "reading the backlog for gauges and alerts failed")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(config.interval) => {}
        }
    }
}

/// Times as the store keeps them (milliseconds), so that a `since` written and read back
/// compares equal.
fn store_time(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// The per-workspace gauges; workspaces whose backlog emptied are set back to 0 rather
/// than left at their last value.
#[derive(Default)]
struct Gauges {
    seen: HashMap<WorkspaceId, ()>,
}

impl Gauges {
    fn set(&mut self, backlogs: &[EndpointBacklog], now: DateTime<Utc>) {
        let mut per_workspace: HashMap<WorkspaceId, (u64, DateTime<Utc>)> = HashMap::new();
        for b in backlogs {
            let entry = per_workspace
                .entry(b.workspace_id.clone())
                .or_insert((0, b.oldest_created_at));
            entry.0 += b.pending;
            entry.1 = entry.1.min(b.oldest_created_at);
        }
        for workspace in self.seen.keys() {
            if !per_workspace.contains_key(workspace) {
                let label = workspace.to_string();
                metrics::gauge!(PENDING, "workspace_id" => label.clone()).set(0.0);
                metrics::gauge!(OLDEST_PENDING_AGE, "workspace_id" => label).set(0.0);
            }
        }
        for (workspace, (pending, oldest)) in per_workspace {
            let age = (now - oldest).to_std().unwrap_or_default();
            let label = workspace.to_string();
            metrics::gauge!(PENDING, "workspace_id" => label.clone()).set(pending as f64);
            metrics::gauge!(OLDEST_PENDING_AGE, "workspace_id" => label).set(age.as_secs_f64());
            self.seen.insert(workspace, ());
        }
    }
}

/// An alert whose condition holds and that is not recorded for this occurrence.
#[derive(Debug, Clone, PartialEq)]
struct Due {
    condition: AlertCondition,
    /// What names this occurrence (stored with the alert).
    since: DateTime<Utc>,
    /// A recorded alert older than this belongs to an earlier occurrence: clear it.
    stale_before: DateTime<Utc>,
    /// When the condition began, as the event says it.
    began: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

fn due_alerts(b: &EndpointBacklog, config: &MonitorConfig, now: DateTime<Utc>) -> Vec<Due> {
    let mut due = Vec::new();
    let alert_after =
        chrono::Duration::from_std(config.alert_after).unwrap_or(chrono::Duration::MAX);
    if let Some(since) = b.failing_since
        && now - since >= alert_after
        && b.recorded(AlertCondition::EndpointFailing)
            .is_none_or(|s| s < since)
    {
        due.push(Due {
            condition: AlertCondition::EndpointFailing,
            since,
            stale_before: since,
            began: since,
            expires_at: None,
        });
    }
    let retention = chrono::Duration::from_std(config.retention).unwrap_or(chrono::Duration::MAX);
    let warning = chrono::Duration::from_std(EXPIRY_WARNING).unwrap_or(chrono::Duration::MAX);
    let expires_at = b.head_window_start.checked_add_signed(retention);
    if let Some(expires_at) = expires_at
        && expires_at - now <= warning
        && b.recorded(AlertCondition::EventsExpiring)
            .is_none_or(|s| s < b.head_window_start)
    {
        due.push(Due {
            condition: AlertCondition::EventsExpiring,
            since: now,
            stale_before: b.head_window_start,
            began: b.head_window_start,
            expires_at: Some(expires_at),
        });
    }
    if let Some(gone_at) = b.gone_since
        && b.recorded(AlertCondition::DisabledGone)
            .is_none_or(|s| s < gone_at)
    {
        due.push(Due {
            condition: AlertCondition::DisabledGone,
            since: gone_at,
            stale_before: gone_at,
            began: gone_at,
            expires_at: None,
        });
    }
    due
}

fn alert_data(b: &EndpointBacklog, due: &Due) -> serde_json::Value {
    let message = match due.condition {
        AlertCondition::EndpointFailing => format!(
            "Webhook {} has failed every delivery attempt since {}; {} deliveries are waiting \
             for it.",
            b.webhook_id,
            domain::event::format_timestamp(due.began),
            b.pending
        ),
        AlertCondition::EventsExpiring => format!(
            "Webhook {} has {} deliveries waiting; the oldest expires at {} unless it is \
             delivered before.",
            b.webhook_id,
            b.pending,
            due.expires_at
                .map(domain::event::format_timestamp)
                .unwrap_or_default()
        ),
        AlertCondition::DisabledGone => format!(
            "Webhook {} answered 410 Gone at {} and was disabled; {} deliveries are waiting \
             for it. Once its receiver accepts deliveries again, re-enable it with \
             PATCH /v1/webhooks/{} {{\"enabled\": true}}.",
            b.webhook_id,
            domain::event::format_timestamp(due.began),
            b.pending,
            b.webhook_id,
        ),
    };
    let mut data = json!({
        "alert": due.condition.as_str(),
        "message": message,
        "webhook": { "id": b.webhook_id.as_str(), "url": b.url },
        "since": domain::event::format_timestamp(due.began),
        "pending": b.pending,
        "expires_at": due.expires_at.map(domain::event::format_timestamp),
    });
    if due.condition == AlertCondition::DisabledGone {
        data["reenable"] = json!({
            "method": "PATCH",
            "path": format!("/v1/webhooks/{}", b.webhook_id),
            "body": { "enabled": true },
        });
    }
    data
}

async fn raise(store: &dyn Store, b: &EndpointBacklog, due: Due) {
    if b.recorded(due.condition).is_some()
        && let Err(error) = store
            .clear_alerts(&b.webhook_id, due.condition, due.stale_before)
            .await
    {
        tracing::warn!(webhook = %b.webhook_id, %error, "clearing a stale alert failed");
        return;
    }
    let data = RawValue::from_string(alert_data(b, &due).to_string())
        .expect("serde_json writes valid JSON");
    let event = NewEvent {
        workspace_id: b.workspace_id.clone(),
        event_type: ALERT_TYPE.to_owned(),
        data,
        metadata: None,
        idempotency_key: None,
        only_webhook: None,
        trace: None,
    };
    let alert = NewAlert {
        workspace_id: b.workspace_id.clone(),
        webhook_id: b.webhook_id.clone(),
        condition: due.condition,
        since: due.since,
    };
    match store.raise_alert(alert, event).await {
        Ok(Some(published)) => {
            metrics::counter!(ALERTS_RAISED, "condition" => due.condition.as_str()).increment(1);
            tracing::warn!(
                alert = due.condition.as_str(),
                webhook = %b.webhook_id,
                workspace = %b.workspace_id,
                event = %published.event.id,
                pending = b.pending,
                "raised an operational alert"
            );
        }
        Ok(None) => {}
        // Deleted since the backlog was read: nothing to alert about.
        Err(StoreError::NotFound) => {}
        Err(error) => {
            tracing::warn!(webhook = %b.webhook_id, %error, "raising an alert failed; next check tries again")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backlog(failing_since: Option<DateTime<Utc>>, head: DateTime<Utc>) -> EndpointBacklog {
        EndpointBacklog {
            workspace_id: WorkspaceId::generate(),
            webhook_id: domain::WebhookId::generate(),
            url: "https://x.example/hook".into(),
            enabled: true,
            pending: 3,
            oldest_created_at: head,
            head_window_start: head,
            failing_since,
            gone_since: None,
            recorded_alerts: Vec::new(),
        }
    }

    const CONFIG: MonitorConfig = MonitorConfig {
        interval: Duration::from_secs(15),
        alert_after: Duration::from_secs(3600),
        retention: Duration::from_secs(24 * 3600),
    };

    fn conditions(due: &[Due]) -> Vec<AlertCondition> {
        due.iter().map(|d| d.condition).collect()
    }

    #[test]
    fn a_failing_endpoint_is_due_once_per_run() {
        let now = store_time(Utc::now());
        let since = now - chrono::Duration::minutes(61);
        let mut b = backlog(Some(since), now - chrono::Duration::minutes(70));
        assert_eq!(
            conditions(&due_alerts(&b, &CONFIG, now)),
            [AlertCondition::EndpointFailing]
        );
        b.recorded_alerts = vec![(AlertCondition::EndpointFailing, since)];
        assert!(
            due_alerts(&b, &CONFIG, now).is_empty(),
            "recorded for this run"
        );
        // A success and a new run: not due before it lasted --alert-after, and then the
        // old record is stale.
        let run = now + chrono::Duration::minutes(1);
        b.failing_since = Some(run);
        assert!(due_alerts(&b, &CONFIG, now + chrono::Duration::minutes(30)).is_empty());
        let due = due_alerts(&b, &CONFIG, run + chrono::Duration::minutes(60));
        assert_eq!(conditions(&due), [AlertCondition::EndpointFailing]);
        assert_eq!(due[0].stale_before, run);
        // Failing for less than --alert-after, or not failing: nothing.
        b.recorded_alerts.clear();
        b.failing_since = Some(now - chrono::Duration::minutes(59));
        assert!(due_alerts(&b, &CONFIG, now).is_empty());
        b.failing_since = None;
        assert!(due_alerts(&b, &CONFIG, now).is_empty());
    }

    #[test]
    fn a_backlog_near_expiry_is_due_once_until_a_younger_head() {
        let now = store_time(Utc::now());
        let head = now - chrono::Duration::hours(23) - chrono::Duration::minutes(1);
        let mut b = backlog(None, head);
        let due = due_alerts(&b, &CONFIG, now);
        assert_eq!(conditions(&due), [AlertCondition::EventsExpiring]);
        assert_eq!(due[0].expires_at, Some(head + chrono::Duration::hours(24)));
        b.recorded_alerts = vec![(AlertCondition::EventsExpiring, now)];
        // Heads that expire one after another, all older than the alert: no new alert.
        b.head_window_start = head + chrono::Duration::minutes(30);
        assert!(due_alerts(&b, &CONFIG, now + chrono::Duration::minutes(30)).is_empty());
        // A head published after the alert reaching the last hour is a new backlog.
        b.head_window_start = now + chrono::Duration::minutes(1);
        let later = now + chrono::Duration::hours(23) + chrono::Duration::minutes(2);
        assert_eq!(
            conditions(&due_alerts(&b, &CONFIG, later)),
            [AlertCondition::EventsExpiring]
        );
        // Far from expiry: nothing.
        let young = backlog(None, now - chrono::Duration::hours(1));
        assert!(due_alerts(&young, &CONFIG, now).is_empty());
    }

    #[test]
    fn an_endpoint_disabled_by_410_is_due_once_per_answer() {
        let now = store_time(Utc::now());
        let mut b = backlog(None, now - chrono::Duration::minutes(5));
        b.enabled = false;
        assert!(due_alerts(&b, &CONFIG, now).is_empty(), "disabled by hand");
        let answered = now - chrono::Duration::seconds(10);
        b.gone_since = Some(answered);
        let due = due_alerts(&b, &CONFIG, now);
        assert_eq!(conditions(&due), [AlertCondition::DisabledGone]);
        assert_eq!((due[0].since, due[0].stale_before), (answered, answered));
        let data = alert_data(&b, &due[0]);
        assert_eq!(data["alert"], "disabled_gone");
        assert_eq!(data["reenable"]["method"], "PATCH");
        assert_eq!(
            data["reenable"]["path"],
            format!("/v1/webhooks/{}", b.webhook_id)
        );
        assert_eq!(data["reenable"]["body"]["enabled"], true);
        assert!(data["message"].as_str().unwrap().contains("410 Gone"));
        b.recorded_alerts = vec![(AlertCondition::DisabledGone, answered)];
        assert!(due_alerts(&b, &CONFIG, now).is_empty(), "raised already");
        // Re-enabled, then gone again: a new answer, a new alert.
        let again = now + chrono::Duration::minutes(1);
        b.gone_since = Some(again);
        let due = due_alerts(&b, &CONFIG, again);
        assert_eq!(conditions(&due), [AlertCondition::DisabledGone]);
        assert_eq!(due[0].stale_before, again);
    }

    #[test]
    fn alert_data_names_the_endpoint_and_never_its_secret() {
        let now = store_time(Utc::now());
        let b = backlog(
            Some(now - chrono::Duration::hours(2)),
            now - chrono::Duration::hours(2),
        );
        let due = &due_alerts(&b, &CONFIG, now)[0];
        let data = alert_data(&b, due);
        assert_eq!(data["alert"], "endpoint_failing");
        assert_eq!(data["webhook"]["id"], b.webhook_id.as_str());
        assert_eq!(data["webhook"]["url"], "https://x.example/hook");
        assert_eq!(data["pending"], 3);
        assert!(data["since"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn every_alert_matches_the_built_in_system_alert_schema() {
        let schema = domain::catalog::builtin_schema("system.alert").unwrap();
        let schema = domain::EventSchema::compile(&schema).unwrap();
        let now = store_time(Utc::now());
        let old = now - chrono::Duration::hours(23) - chrono::Duration::minutes(30);
        let mut b = backlog(Some(old), old);
        b.gone_since = Some(now);
        let due = due_alerts(&b, &CONFIG, now);
        assert_eq!(due.len(), 3, "one of each condition");
        for due in &due {
            schema.check(&alert_data(&b, due)).unwrap();
        }
    }
}
