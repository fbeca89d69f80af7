-- Migration 8: listener endpoints (issue 15).
--
-- A listener is the endpoint `admin-webhooks listen` attaches to: a webhook row whose URL
-- is `listen://<name>`, delivered to over the command's stream instead of an outbound
-- request. `listener_seen_at` is when a `listen` was last connected to it; it is set for
-- listeners only (NULL for every other endpoint), so "is a listener" is also
-- `listener_seen_at IS NOT NULL`. A listener unseen for `--listener-ttl` is removed.
ALTER TABLE webhooks ADD COLUMN listener_seen_at INTEGER;

-- The removal of unseen listeners reads the few listeners there are, oldest first,
-- instead of every endpoint of every workspace.
CREATE INDEX webhooks_listeners ON webhooks (listener_seen_at)
    WHERE listener_seen_at IS NOT NULL;
