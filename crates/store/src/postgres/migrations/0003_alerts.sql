-- Migration 3 (PostgreSQL): operational alerts (issue 8), the same records as the SQLite
-- backend's migration 4.
--
-- One row per alert raised and not yet cleared: an endpoint failing for too long, or its
-- open deliveries close to expiring. The row is what makes an alert fire once per
-- occurrence, across every process sharing the database; it goes with its webhook.
CREATE TABLE alerts (
    webhook_id TEXT COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    condition  TEXT        NOT NULL CHECK (condition IN ('endpoint_failing', 'events_expiring')),
    -- When the condition began; clearing compares against it, and it names the alert's
    -- idempotency key.
    since      TIMESTAMPTZ NOT NULL,
    -- The system.alert event, once published; NULL while a process publishes it (or
    -- died doing so: the next raise finishes it under the same idempotency key).
    event_id   TEXT COLLATE "C",
    raised_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (webhook_id, condition)
);
