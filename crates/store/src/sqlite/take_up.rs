//! Taking events up from the log: the step that turns a published event into delivery
//! rows, one per enabled endpoint that subscribes to it.
//!
//! A publish writes only its event (its log entry, at position `pos`); its group
//! announces the endpoints that subscribe to what it published ([`subscribers`]) and
//! takes its events up only for those whose lanes keep pace (nothing left to take up
//! from before the group, few deliveries open), so that a lane that keeps up finds its
//! rows at once. The rest is taken up when a delivery row is needed: when a lane's window
//! runs short (for its endpoint, a batch at a time), when someone reads the workspace's
//! deliveries or changes an endpoint (everything up to the head first), and when the
//! writer has been idle for a moment ([`super::writer`]). A take-up reads the entries
//! after the endpoint's `log_cursor`, matches them against the endpoint's subscription (a
//! test event only against the endpoint it names), gives each match a delivery with the
//! endpoint's next `seq`, and moves the cursor to the last entry read. So under load a
//! publish costs the same rows for 1 or 50 endpoints, and delivery rows are written at
//! the pace the lanes use them.
//!
//! Invariants:
//! - Entries are taken up in `pos` order, which is commit order (one writer), so an
//!   endpoint's seqs follow publish order; a cursor only moves forward, past every entry
//!   it read, matched or not, so no entry is taken up twice.
//! - Only enabled endpoints take events up. A disabled endpoint's cursor stays where it
//!   was; enabling it moves the cursor to the head ([`move_to_head`]), so, as before the
//!   log existed, it gets nothing published while it was disabled. A new endpoint starts
//!   at the head: it gets nothing published before it existed.
//! - One call reads at most [`BATCH`] entries and says whether more are left; callers
//!   go on until none are ([`take_up_all`]).

use std::collections::BTreeSet;

use domain::{DeliveryId, Subscription, WebhookId, WorkspaceId};
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::parse;
use super::webhooks::decode_events;
use crate::{Result, Wakeup};

/// The most log entries of one workspace read at once: bounds the memory a take-up holds.
pub(super) const BATCH: i64 = 1000;

/// An enabled endpoint as the take-up reads it.
struct Taker {
    id: WebhookId,
    events: Vec<Subscription>,
    cursor: i64,
    next_seq: i64,
}

/// A log entry as the take-up reads it.
struct Entry {
    pos: i64,
    event_id: String,
    event_type: String,
    created_at: i64,
    only_webhook: Option<String>,
}

impl Taker {
    fn takes(&self, entry: &Entry) -> bool {
        entry.pos > self.cursor
            && match &entry.only_webhook {
                Some(only) => only == self.id.as_str(),
                None => domain::subscription::any_matches(&self.events, &entry.event_type),
            }
    }
}

/// Takes up to [`BATCH`] log entries of `workspace` for its enabled endpoints (or only
/// for `only`, when given); whether the workspace has entries left past them.
pub(super) fn take_up(
    conn: &Connection,
    workspace: &WorkspaceId,
    only: Option<&WebhookId>,
) -> Result<bool> {
    let whom = match only {
        Some(webhook) => Whom::Only(webhook),
        None => Whom::All,
    };
    take_up_some(conn, workspace, whom, BATCH)
}

/// Takes up to `entries` log entries of `workspace` for the endpoints of `live` alone (a
/// publish group's own take-up, see [`subscribers`]).
pub(super) fn take_up_live(
    conn: &Connection,
    workspace: &WorkspaceId,
    live: &[WebhookId],
    entries: i64,
) -> Result<bool> {
    take_up_some(conn, workspace, Whom::Among(live), entries)
}

/// A lane's take-up: a batch of `workspace`'s log after `cursor`, where its endpoint
/// `webhook` stood when the lane found its window short, for it and every endpoint at or
/// ahead of that cursor. Fifty lanes of one workspace that run short together so cost one
/// pass over the log, not fifty, and whichever comes first does it: when `webhook`'s
/// cursor has moved since, another lane took its batch up and this one does nothing.
pub(super) fn take_up_lane(
    conn: &Connection,
    workspace: &WorkspaceId,
    webhook: &WebhookId,
    cursor: i64,
) -> Result<bool> {
    let now: Option<i64> = conn
        .prepare_cached("SELECT log_cursor FROM webhooks WHERE id = ?1 AND enabled")?
        .query_row([webhook.as_str()], |r| r.get(0))
        .optional()?;
    if now != Some(cursor) {
        return Ok(false);
    }
    take_up_some(conn, workspace, Whom::From(cursor), BATCH)
}

/// The enabled endpoints of a workspace that one take-up is for.
#[derive(Clone, Copy)]
enum Whom<'a> {
    All,
    Only(&'a WebhookId),
    Among(&'a [WebhookId]),
    /// Those whose cursor is at or past this one, so the batch starts there.
    From(i64),
}

impl Whom<'_> {
    fn includes(&self, id: &WebhookId, cursor: i64) -> bool {
        match self {
            Whom::All => true,
            Whom::Only(only) => *only == id,
            Whom::Among(among) => among.contains(id),
            Whom::From(from) => cursor >= *from,
        }
    }
}

/// The enabled endpoints of a workspace (`?1`), or the one of them `?2` names, with what
/// a take-up needs of each.
const TAKERS: &str = "SELECT id, events, log_cursor, next_seq FROM webhooks
                      WHERE workspace_id = ?1 AND enabled AND (?2 IS NULL OR id = ?2) ORDER BY id";

/// Up to `?3` entries of a workspace's (`?1`) log after position `?2` (`+ 0`: see
/// [`super::deliveries::LANE_WINDOW`]).
const LOG_AFTER: &str =
    "SELECT pos, id, type, created_at, only_webhook FROM events INDEXED BY events_log
                         WHERE workspace_id = ?1 AND pos > ?2 ORDER BY pos LIMIT ?3 + 0";

/// Takes up to `entries` log entries of `workspace`, as [`take_up`] does, for the enabled
/// endpoints of `whom`.
fn take_up_some(
    conn: &Connection,
    workspace: &WorkspaceId,
    whom: Whom<'_>,
    entries: i64,
) -> Result<bool> {
    let batch = entries.clamp(1, BATCH);
    let only = match whom {
        Whom::Only(webhook) => Some(webhook.as_str()),
        _ => None,
    };
    let mut takers = {
        let mut statement = conn.prepare_cached(TAKERS)?;
        let mut rows = statement.query(params![workspace.as_str(), only])?;
        let mut takers = Vec::new();
        while let Some(row) = rows.next()? {
            let id: WebhookId = parse(row, 0)?;
            let cursor: i64 = row.get(2)?;
            if !whom.includes(&id, cursor) {
                continue;
            }
            takers.push(Taker {
                id,
                events: decode_events(row, 1)?,
                cursor,
                next_seq: row.get(3)?,
            });
        }
        takers
    };
    let Some(from) = takers.iter().map(|t| t.cursor).min() else {
        return Ok(false);
    };
    let entries = conn
        .prepare_cached(LOG_AFTER)?
        .query_map(params![workspace.as_str(), from, batch], |r| {
            Ok(Entry {
                pos: r.get(0)?,
                event_id: r.get(1)?,
                event_type: r.get(2)?,
                created_at: r.get(3)?,
                only_webhook: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let Some(last) = entries.last().map(|e| e.pos) else {
        return Ok(false);
    };

    let mut insert = conn.prepare_cached(
        "INSERT INTO deliveries (webhook_id, seq, id, event_id, workspace_id, event_type, status,
                                 attempts, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7, ?7)",
    )?;
    for entry in &entries {
        for taker in takers.iter_mut().filter(|t| t.takes(entry)) {
            insert.execute(params![
                taker.id.as_str(),
                taker.next_seq,
                DeliveryId::generate().as_str(),
                entry.event_id,
                workspace.as_str(),
                entry.event_type,
                entry.created_at
            ])?;
            taker.next_seq += 1;
        }
    }

    let mut advance = conn.prepare_cached(
        "UPDATE webhooks SET log_cursor = ?1, next_seq = ?2 WHERE id = ?3 AND log_cursor < ?1",
    )?;
    for taker in takers.iter().filter(|t| t.cursor < last) {
        advance.execute(params![last, taker.next_seq, taker.id.as_str()])?;
    }
    Ok(entries.len() as i64 == batch)
}

/// Takes up everything of `workspace` (for `only`, when given), however many batches that
/// is.
pub(super) fn take_up_all(
    conn: &Connection,
    workspace: &WorkspaceId,
    only: Option<&WebhookId>,
) -> Result<()> {
    while take_up(conn, workspace, only)? {}
    Ok(())
}

/// Moves an endpoint's cursor to the log's head: it takes up nothing published before.
pub(super) fn move_to_head(conn: &Connection, webhook: &WebhookId) -> Result<()> {
    conn.prepare_cached(
        "UPDATE webhooks SET log_cursor = (SELECT COALESCE(MAX(pos), 0) FROM events) WHERE id = ?1",
    )?
    .execute([webhook.as_str()])?;
    Ok(())
}

/// Workspaces with an enabled endpoint that has not taken up the whole log (read when the
/// store opens: the writer takes them up when idle).
pub(super) fn behind(conn: &Connection) -> Result<BTreeSet<WorkspaceId>> {
    let mut statement = conn.prepare_cached(
        "SELECT DISTINCT w.workspace_id FROM webhooks AS w
         WHERE w.enabled AND EXISTS (SELECT 1 FROM events AS e INDEXED BY events_log
                                     WHERE e.workspace_id = w.workspace_id
                                       AND e.pos > w.log_cursor)",
    )?;
    let mut rows = statement.query([])?;
    let mut behind = BTreeSet::new();
    while let Some(row) = rows.next()? {
        behind.insert(parse(row, 0)?);
    }
    Ok(behind)
}

/// An endpoint "behind": enabled, with log entries of its workspace after its cursor.
const BEHIND: &str = "w.enabled AND EXISTS (SELECT 1 FROM events AS e INDEXED BY events_log
                                            WHERE e.workspace_id = w.workspace_id
                                              AND e.pos > w.log_cursor)";

/// The workspace of `webhook` and its cursor if the endpoint is behind, for its lane's
/// take-up ([`take_up_lane`]).
pub(super) fn endpoint_behind(
    conn: &Connection,
    webhook: &WebhookId,
) -> Result<Option<(WorkspaceId, i64)>> {
    let sql = format!(
        "SELECT w.workspace_id, w.log_cursor FROM webhooks AS w WHERE w.id = ?1 AND {BEHIND}"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query([webhook.as_str()])?;
    Ok(match rows.next()? {
        Some(row) => Some((parse(row, 0)?, row.get(1)?)),
        None => None,
    })
}

/// Whether an endpoint of `workspace` is behind: its deliveries are not all rows yet.
pub(super) fn workspace_behind(conn: &Connection, workspace: &WorkspaceId) -> Result<bool> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM webhooks AS w WHERE w.workspace_id = ?1 AND {BEHIND})"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([workspace.as_str()], |r| r.get(0))?)
}

/// Endpoints that are behind, for the dispatcher's sweep.
pub(super) fn endpoints_behind(conn: &Connection) -> Result<Vec<WebhookId>> {
    let sql = format!("SELECT w.id FROM webhooks AS w WHERE {BEHIND} ORDER BY w.id");
    let ids = conn
        .prepare_cached(&sql)?
        .query_map([], |row| parse(row, 0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ids)
}

/// What a publish added to a workspace's log, for its group's announcement.
#[derive(Debug, Clone)]
pub(super) struct Grown {
    pub(super) workspace: WorkspaceId,
    pub(super) event_type: String,
    /// A test event's one endpoint.
    pub(super) only: Option<WebhookId>,
}

/// Delivery rows still open below which an endpoint's lane counts as keeping pace.
const LIVE_OPEN: i64 = 64;

/// Whom a publish group wakes, and for whom it takes up itself.
#[derive(Debug, Default)]
pub(super) struct Subscribers {
    /// The enabled endpoints of the workspace that would take up one of the group's
    /// events: their lanes are woken once the group committed.
    pub(super) news: Vec<Wakeup>,
    /// Those of them whose lanes keep pace: everything before the group taken up, and
    /// fewer than [`LIVE_OPEN`] deliveries open. The group takes its events up for them,
    /// so their lanes find the rows at once; the others' lanes take up as they get to it.
    pub(super) live: Vec<WebhookId>,
}

/// The enabled endpoints of a workspace (`?1`) with their subscriptions and, for those
/// that took up everything to log position `?2`, how many deliveries are open (to `?3`).
/// `LIMIT ?3 + 0`, not `LIMIT ?3`: see [`super::deliveries::LANE_WINDOW`].
const SUBSCRIBERS: &str = "SELECT w.id, w.events,
        CASE WHEN NOT EXISTS (SELECT 1 FROM events AS e INDEXED BY events_log
                              WHERE e.workspace_id = w.workspace_id
                                AND e.pos > w.log_cursor AND e.pos <= ?2)
             THEN (SELECT COUNT(*) FROM (SELECT 1 FROM deliveries AS d INDEXED BY deliveries_open
                                         WHERE d.webhook_id = w.id
                                           AND d.status IN ('pending', 'failed') LIMIT ?3 + 0))
        END
 FROM webhooks AS w WHERE w.workspace_id = ?1 AND w.enabled ORDER BY w.id";

/// The endpoints of `workspace` that subscribe to what a group published (`grown`, all of
/// the workspace, all after log position `head_before`).
pub(super) fn subscribers(
    conn: &Connection,
    workspace: &WorkspaceId,
    grown: &[&Grown],
    head_before: i64,
) -> Result<Subscribers> {
    let types: BTreeSet<&str> = grown
        .iter()
        .filter(|g| g.only.is_none())
        .map(|g| g.event_type.as_str())
        .collect();
    let only: BTreeSet<&str> = grown
        .iter()
        .filter_map(|g| g.only.as_ref())
        .map(|w| w.as_str())
        .collect();
    let mut statement = conn.prepare_cached(SUBSCRIBERS)?;
    let mut rows = statement.query(params![workspace.as_str(), head_before, LIVE_OPEN])?;
    let mut subscribers = Subscribers::default();
    while let Some(row) = rows.next()? {
        let id: WebhookId = parse(row, 0)?;
        let events = decode_events(row, 1)?;
        if only.contains(id.as_str())
            || types
                .iter()
                .any(|t| domain::subscription::any_matches(&events, t))
        {
            // Open deliveries, counted only once everything before the group is taken up.
            let open: Option<i64> = row.get(2)?;
            if open.is_some_and(|open| open < LIVE_OPEN) {
                subscribers.live.push(id.clone());
            }
            subscribers.news.push(Wakeup {
                webhook: id,
                resync: false,
            });
        }
    }
    Ok(subscribers)
}

/// The log's head: the position of its last entry, of any workspace.
pub(super) fn head(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT COALESCE(MAX(pos), 0) FROM events")?
        .query_row([], |r| r.get(0))
}

/// The deliveries of `webhook` not taken up yet: how many, and when the oldest was
/// published (for the backlog monitor, which must not write).
pub(super) fn untaken(conn: &Connection, webhook: &WebhookId) -> Result<(u64, Option<i64>)> {
    let Some((workspace, events, cursor)) = conn
        .prepare_cached(
            "SELECT workspace_id, events, log_cursor FROM webhooks WHERE id = ?1 AND enabled",
        )?
        .query_row([webhook.as_str()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                decode_events(row, 1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .optional()?
    else {
        return Ok((0, None));
    };
    let mut statement = conn.prepare_cached(
        "SELECT type, only_webhook, created_at FROM events INDEXED BY events_log
         WHERE workspace_id = ?1 AND pos > ?2 ORDER BY pos",
    )?;
    let mut rows = statement.query(params![workspace, cursor])?;
    let (mut count, mut oldest) = (0, None);
    while let Some(row) = rows.next()? {
        let takes = match row.get::<_, Option<String>>(1)? {
            Some(only) => only == webhook.as_str(),
            None => domain::subscription::any_matches(&events, &row.get::<_, String>(0)?),
        };
        if takes {
            count += 1;
            oldest.get_or_insert(row.get::<_, i64>(2)?);
        }
    }
    Ok((count, oldest))
}

#[cfg(test)]
mod tests {
    use domain::Subscription;
    use serde_json::value::RawValue;

    use super::*;
    use crate::sqlite::{SqliteStore, deliveries};
    use crate::{ActivityStore, NewApiKey, NewEvent, NewWebhook, TenancyStore};

    fn new_webhook(events: &[&str]) -> NewWebhook {
        NewWebhook {
            url: "https://receiver.example.com/hooks".to_owned(),
            description: String::new(),
            events: events
                .iter()
                .map(|e| Subscription::parse(e).unwrap())
                .collect(),
            enabled: true,
            secret: domain::signature::generate_secret(),
            rate_limit: None,
            headers: domain::CustomHeaders::default(),
        }
    }

    fn event(workspace: &WorkspaceId, event_type: &str, only: Option<&WebhookId>) -> NewEvent {
        NewEvent {
            workspace_id: workspace.clone(),
            event_type: event_type.to_owned(),
            data: RawValue::from_string("{}".to_owned()).unwrap(),
            metadata: None,
            idempotency_key: None,
            only_webhook: only.cloned(),
            trace: None,
        }
    }

    /// A store's file whose log holds, for endpoint `users` ("user.*"), three `user.created`
    /// and a test event for `orders` ("order.*"), none of them taken up: the store writes
    /// them, then its deliveries are removed and the cursors put back to the start (the
    /// store's own idle take-up would otherwise race the checks).
    async fn untaken_log() -> (
        tempfile::TempDir,
        Connection,
        WorkspaceId,
        WebhookId,
        WebhookId,
    ) {
        let dir = tempfile::TempDir::new().unwrap();
        let store = SqliteStore::open_in_dir(dir.path()).unwrap();
        let key = domain::api_key::generate_key();
        let (workspace, _) = store
            .create_workspace(
                "a",
                NewApiKey {
                    name: "k".into(),
                    hash: domain::api_key::hash_key(&key),
                    hint: domain::api_key::key_hint(&key),
                },
            )
            .await
            .unwrap();
        let ws = workspace.id;
        let users = store
            .create_webhook(&ws, new_webhook(&["user.*"]))
            .await
            .unwrap()
            .id;
        let orders = store
            .create_webhook(&ws, new_webhook(&["order.*"]))
            .await
            .unwrap()
            .id;
        for _ in 0..3 {
            store
                .publish(event(&ws, "user.created", None))
                .await
                .unwrap();
        }
        store
            .publish(event(&ws, "user.created", Some(&orders)))
            .await
            .unwrap();
        store.close().await;
        drop(store);
        let conn = Connection::open(dir.path().join(crate::sqlite::DATABASE_FILE)).unwrap();
        conn.execute_batch("DELETE FROM deliveries; UPDATE webhooks SET log_cursor = 0;")
            .unwrap();
        (dir, conn, ws, users, orders)
    }

    /// What the backlog monitor reads as pending for each of `webhooks`.
    fn pending(conn: &Connection, webhooks: &[&WebhookId]) -> Vec<u64> {
        let backlogs = super::super::operations::endpoint_backlogs(conn).unwrap();
        let of = |id: &WebhookId| {
            backlogs
                .iter()
                .find(|b| &b.webhook_id == id)
                .unwrap()
                .pending
        };
        webhooks.iter().map(|id| of(id)).collect()
    }

    #[tokio::test]
    async fn what_is_not_taken_up_is_counted_and_found() {
        let (_dir, conn, ws, users, orders) = untaken_log().await;
        assert_eq!(untaken(&conn, &users).unwrap().0, 3);
        assert_eq!(
            untaken(&conn, &orders).unwrap().0,
            1,
            "the test event is for it alone"
        );
        assert!(untaken(&conn, &users).unwrap().1.is_some());
        assert!(workspace_behind(&conn, &ws).unwrap());
        assert_eq!(
            endpoint_behind(&conn, &users).unwrap(),
            Some((ws.clone(), 0))
        );
        let mut both = vec![users.clone(), orders.clone()];
        both.sort();
        assert_eq!(endpoints_behind(&conn).unwrap(), both);
        // The monitor sees them as pending, with no delivery row yet.
        assert_eq!(pending(&conn, &[&users, &orders]), [3, 1]);

        // One endpoint's take-up leaves the other's cursor where it was.
        assert!(!take_up(&conn, &ws, Some(&users)).unwrap(), "nothing left");
        assert_eq!(untaken(&conn, &users).unwrap().0, 0);
        assert_eq!(endpoint_behind(&conn, &users).unwrap(), None);
        assert_eq!(untaken(&conn, &orders).unwrap().0, 1);
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM deliveries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 3);
        assert_eq!(
            pending(&conn, &[&users, &orders]),
            [3, 1],
            "rows and entries alike"
        );
    }

    /// An endpoint's cursor and its delivery rows.
    fn taken(conn: &Connection, webhook: &WebhookId) -> (i64, i64) {
        conn.query_row(
            "SELECT log_cursor, (SELECT COUNT(*) FROM deliveries WHERE webhook_id = ?1)
             FROM webhooks WHERE id = ?1",
            [webhook.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_lane_takes_up_for_the_lanes_level_with_it_once() {
        let (_dir, conn, ws, users, orders) = untaken_log().await;
        let head = head(&conn).unwrap();

        // A lane whose cursor moved since it looked finds its batch taken up already.
        take_up_lane(&conn, &ws, &users, head).unwrap();
        assert_eq!(taken(&conn, &users), (0, 0));

        // The first lane to ask takes up for both endpoints at its cursor…
        take_up_lane(&conn, &ws, &orders, 0).unwrap();
        assert_eq!(taken(&conn, &users), (head, 3));
        assert_eq!(taken(&conn, &orders), (head, 1));
        // …and the other, asking from the same cursor, takes up nothing again.
        take_up_lane(&conn, &ws, &users, 0).unwrap();
        assert_eq!(taken(&conn, &users).1, 3);

        // An endpoint behind the lane's cursor is left to its own lane: it would start the
        // batch before the lane's.
        conn.execute_batch("DELETE FROM deliveries; UPDATE webhooks SET log_cursor = 0;")
            .unwrap();
        let first: i64 = conn
            .query_row("SELECT MIN(pos) FROM events", [], |r| r.get(0))
            .unwrap();
        conn.execute(
            "UPDATE webhooks SET log_cursor = ?1 WHERE id = ?2",
            params![first, users.as_str()],
        )
        .unwrap();
        take_up_lane(&conn, &ws, &users, first).unwrap();
        assert_eq!(taken(&conn, &users), (head, 2));
        assert_eq!(taken(&conn, &orders), (0, 0));
    }

    #[tokio::test]
    async fn a_group_announces_the_endpoints_that_subscribe_to_what_it_published() {
        let (_dir, conn, ws, users, orders) = untaken_log().await;
        let grown = |event_type: &str, only: Option<&WebhookId>| Grown {
            workspace: ws.clone(),
            event_type: event_type.to_owned(),
            only: only.cloned(),
        };
        let woken = |grown: &[Grown]| -> Vec<WebhookId> {
            let refs: Vec<&Grown> = grown.iter().collect();
            subscribers(&conn, &ws, &refs, 0)
                .unwrap()
                .news
                .into_iter()
                .map(|w| w.webhook)
                .collect()
        };
        // Who the group takes up for: an endpoint that took up everything before it.
        let live = |head_before: i64| -> Vec<WebhookId> {
            let user = grown("user.created", None);
            subscribers(&conn, &ws, &[&user], head_before).unwrap().live
        };
        let head = head(&conn).unwrap();
        assert_eq!(live(0), vec![users.clone()], "nothing before the group");
        assert!(live(head).is_empty(), "its earlier events are not taken up");
        take_up(&conn, &ws, Some(&users)).unwrap();
        assert_eq!(
            live(head),
            vec![users.clone()],
            "three open, taken up to the head"
        );
        assert_eq!(woken(&[grown("user.created", None)]), vec![users.clone()]);
        assert!(woken(&[grown("invoice.paid", None)]).is_empty());
        assert_eq!(
            woken(&[grown("user.created", Some(&orders))]),
            vec![orders.clone()]
        );
        let mut both = vec![users.clone(), orders.clone()];
        both.sort();
        assert_eq!(
            woken(&[grown("order.paid", None), grown("user.x", None)]),
            both
        );
    }

    /// A bare `LIMIT ?` had SQLite prepare these statements again on every run (14 % of
    /// the writer's samples, for the subscribers; 4 % at 1,000 events/s, for the log's
    /// entries a take-up reads).
    #[tokio::test]
    async fn the_statements_run_per_group_and_per_lane_are_not_prepared_again() {
        let (_dir, conn, ws, users, _) = untaken_log().await;
        let grown = Grown {
            workspace: ws.clone(),
            event_type: "user.created".to_owned(),
            only: None,
        };
        for n in 1..=3 {
            subscribers(&conn, &ws, &[&grown], n).unwrap();
            deliveries::lane_window(&conn, &users, n, 10).unwrap();
            deliveries::open_after(&conn, &users, n, 10).unwrap();
            take_up_some(&conn, &ws, Whom::All, n).unwrap();
            take_up_some(&conn, &ws, Whom::Only(&users), n).unwrap();
        }
        for sql in [
            SUBSCRIBERS,
            deliveries::LANE_WINDOW,
            deliveries::OPEN_AFTER,
            TAKERS,
            LOG_AFTER,
        ] {
            let statement = conn.prepare_cached(sql).unwrap();
            assert_eq!(
                statement.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
        }
    }
}
