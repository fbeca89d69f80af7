-- Migration 6: the event log (issue 12).
--
-- A publish writes only its event; each endpoint takes the events up from the log
-- through its subscription, from its own cursor, and only then gets delivery rows.
--
-- An entry's place in the log is (xact, pos): the id of the transaction that wrote it
-- and a number from a sequence. Neither needs a row lock, so publishers never wait for
-- each other. A reader takes up only entries with xact below the oldest transaction
-- still running (pg_snapshot_xmin of its snapshot): every transaction that could still
-- add an entry has an id at least that high, so nothing can appear behind a cursor.
-- Existing rows (delivered at publish, as before) keep (0, 0), behind every cursor.
ALTER TABLE events ADD COLUMN xact BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ALTER COLUMN xact SET DEFAULT (pg_current_xact_id()::text::bigint);
ALTER TABLE events ADD COLUMN pos BIGINT NOT NULL DEFAULT 0;
CREATE SEQUENCE events_pos_seq OWNED BY events.pos;
ALTER TABLE events ALTER COLUMN pos SET DEFAULT nextval('events_pos_seq');
-- A test event goes to this endpoint alone (whatever it subscribes to); NULL otherwise.
ALTER TABLE events ADD COLUMN only_webhook TEXT COLLATE "C";
-- The take-up reads one workspace's log after a cursor.
CREATE INDEX events_log ON events (workspace_id, xact, pos);

-- The log position up to which an endpoint has taken events up. Only enabled endpoints
-- take events up; one created or re-enabled starts at its own transaction's id, so it
-- takes up nothing published (committed) before it.
ALTER TABLE webhooks ADD COLUMN log_xact BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN log_pos BIGINT NOT NULL DEFAULT 0;
