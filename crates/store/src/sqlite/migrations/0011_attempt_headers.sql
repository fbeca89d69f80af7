-- Migration 11: the headers of each attempt (issue 14, the delivery inspector).
--
-- The request headers as sent (both signatures included, never a secret) and the
-- response's headers, each a JSON list bounded to 8 KiB by the writer. NULL for attempts
-- recorded before this migration.
ALTER TABLE attempts ADD COLUMN request_headers TEXT;
ALTER TABLE attempts ADD COLUMN response_headers TEXT;
