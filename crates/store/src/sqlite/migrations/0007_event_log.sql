-- Migration 7: the event log (issue 12).
--
-- A publish writes only its event; each endpoint takes the events up from the log
-- through its subscription, from its own cursor, and only then gets delivery rows.
-- `pos` is the event's place in the log: AUTOINCREMENT never hands out a position
-- twice, not even once retention removed the newest events, so a cursor never points
-- at a position a later event could take. The single writer inserts events in commit
-- order, so pos order = commit order. SQLite cannot add such a key in place, so the
-- table is copied into a new one, in its old row order.
CREATE TABLE events_new (
    pos          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id),
    type         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    -- The exact bytes delivered on every attempt.
    body         BLOB    NOT NULL,
    -- A test event goes to this endpoint alone (whatever it subscribes to); NULL for
    -- every other event.
    only_webhook TEXT
);
INSERT INTO events_new (id, workspace_id, type, created_at, body)
    SELECT id, workspace_id, type, created_at, body FROM events ORDER BY rowid;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;

-- As before the copy (migration 2).
CREATE INDEX events_by_workspace ON events (workspace_id, created_at, id, type);
-- The take-up reads one workspace's log after a cursor, with what it matches on.
CREATE INDEX events_log ON events (workspace_id, pos, type, only_webhook);

-- The log position up to which an endpoint has taken events up. Only enabled endpoints
-- take events up; one created or re-enabled starts at the log's head. Existing endpoints
-- got their deliveries at publish: they start at the head too.
ALTER TABLE webhooks ADD COLUMN log_cursor INTEGER NOT NULL DEFAULT 0;
UPDATE webhooks SET log_cursor = (SELECT COALESCE(MAX(pos), 0) FROM events);
