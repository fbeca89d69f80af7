-- Migration 4 (PostgreSQL): Standard Webhooks answers (issue 13, item 9), the same
-- records as the SQLite backend's migration 5.
--
-- A receiver answering 410 Gone disables its endpoint and raises the alert
-- `disabled_gone`, once per such answer: the alerts' CHECK learns the new condition.
ALTER TABLE alerts DROP CONSTRAINT alerts_condition_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_condition_check
    CHECK (condition IN ('endpoint_failing', 'events_expiring', 'disabled_gone'));

-- Stats count throttled attempts (429, 502, 503, 504) by their status code, so the code
-- joins the index's payload: the counts stay an index-only scan.
DROP INDEX attempts_by_webhook;
CREATE INDEX attempts_by_webhook ON attempts (webhook_id, attempted_at)
    INCLUDE (response_ms, error_class, status_code);
