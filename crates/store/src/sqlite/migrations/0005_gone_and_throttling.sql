-- Migration 5: Standard Webhooks answers (issue 13, item 9).
--
-- A receiver answering 410 Gone disables its endpoint and raises the alert
-- `disabled_gone`, once per such answer: the alerts' CHECK learns the new condition.
-- SQLite cannot change a CHECK in place, so the table is copied into a new one.
CREATE TABLE alerts_new (
    webhook_id TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    condition  TEXT    NOT NULL
        CHECK (condition IN ('endpoint_failing', 'events_expiring', 'disabled_gone')),
    -- When the condition began (ms); clearing compares against it.
    since      INTEGER NOT NULL,
    -- The system.alert event published for it.
    event_id   TEXT,
    raised_at  INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, condition)
) WITHOUT ROWID;
INSERT INTO alerts_new (webhook_id, condition, since, event_id, raised_at)
    SELECT webhook_id, condition, since, event_id, raised_at FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;

-- Stats count throttled attempts (429, 502, 503, 504) by their status code, so the code
-- joins the covering index: counts, successes, throttling and response times are still
-- read from the index alone.
DROP INDEX attempts_by_webhook;
CREATE INDEX attempts_by_webhook
    ON attempts (webhook_id, attempted_at, response_ms, error_class, status_code);
