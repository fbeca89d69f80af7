-- Migration 3: dashboard sessions (issue 7).
--
-- Only the SHA-256 of a session id is kept: the id itself lives in the browser's cookie
-- alone. A session is alive while expires_at is in the future and its API key is not
-- revoked (the lookup joins api_keys), so revoking a key ends its sessions at once.
CREATE TABLE dashboard_sessions (
    id_hash      BLOB    PRIMARY KEY,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id),
    api_key_id   TEXT    NOT NULL REFERENCES api_keys (id),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- Housekeeping deletes expired sessions oldest first, a bounded batch at a time.
CREATE INDEX dashboard_sessions_by_expiry ON dashboard_sessions (expires_at);
