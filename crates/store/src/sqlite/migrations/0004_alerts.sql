-- Migration 4: operational alerts (issue 8).
--
-- One row per alert raised and not yet cleared: an endpoint failing for too long, or its
-- open deliveries close to expiring. The row is what makes an alert fire once per
-- occurrence rather than once per check; it goes with its webhook.
CREATE TABLE alerts (
    webhook_id TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    condition  TEXT    NOT NULL CHECK (condition IN ('endpoint_failing', 'events_expiring')),
    -- When the condition began (ms); clearing compares against it.
    since      INTEGER NOT NULL,
    -- The system.alert event published for it.
    event_id   TEXT,
    raised_at  INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, condition)
) WITHOUT ROWID;
