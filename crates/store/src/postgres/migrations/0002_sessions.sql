-- Migration 2 (PostgreSQL): dashboard sessions (issue 7), the same records as the SQLite
-- backend's migration 3.
--
-- Only the SHA-256 of a session id is kept: the id itself lives in the browser's cookie
-- alone. A session is alive while expires_at is in the future and its API key is not
-- revoked (the lookup joins api_keys), so revoking a key ends its sessions at once, in
-- every process sharing this database.
CREATE TABLE dashboard_sessions (
    id_hash      BYTEA            PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
    api_key_id   TEXT COLLATE "C" NOT NULL REFERENCES api_keys (id),
    created_at   TIMESTAMPTZ      NOT NULL,
    expires_at   TIMESTAMPTZ      NOT NULL
);

-- Housekeeping deletes expired sessions oldest first, a bounded batch at a time.
CREATE INDEX dashboard_sessions_by_expiry ON dashboard_sessions (expires_at);
