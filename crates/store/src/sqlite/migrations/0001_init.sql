-- Migration 1: the whole schema of the first release.
--
-- Times are integer milliseconds since the Unix epoch (UTC). Ids are the prefixed
-- text ids of the domain crate. Every table a workspace owns carries workspace_id so
-- that each workspace-scoped query can filter by it.

CREATE TABLE workspaces (
    id                   TEXT    PRIMARY KEY,
    name                 TEXT    NOT NULL,
    max_enabled_webhooks INTEGER NOT NULL,
    created_at           INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id),
    name         TEXT    NOT NULL,
    hint         TEXT    NOT NULL,
    -- SHA-256 of the key; every authenticated request looks it up.
    hash         BLOB    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, id);

CREATE TABLE event_types (
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id),
    name         TEXT    NOT NULL,
    category     TEXT    NOT NULL,
    description  TEXT    NOT NULL,
    builtin      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, name)
) WITHOUT ROWID;

CREATE TABLE webhooks (
    id                         TEXT    PRIMARY KEY,
    workspace_id               TEXT    NOT NULL REFERENCES workspaces (id),
    url                        TEXT    NOT NULL,
    description                TEXT    NOT NULL,
    -- JSON array of subscription strings (`user.created`, `user.*`, `*`).
    events                     TEXT    NOT NULL,
    enabled                    INTEGER NOT NULL,
    secret                     TEXT    NOT NULL,
    -- The secret before the last rotation, still signed with until it expires.
    previous_secret            TEXT,
    previous_secret_expires_at INTEGER,
    -- The seq the next delivery to this endpoint gets; bumped by publish only.
    next_seq                   INTEGER NOT NULL DEFAULT 1,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
);
CREATE INDEX webhooks_by_workspace ON webhooks (workspace_id, id);

CREATE TABLE events (
    id           TEXT    PRIMARY KEY,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id),
    type         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    -- The exact bytes delivered on every attempt.
    body         BLOB    NOT NULL
);

CREATE TABLE idempotency_keys (
    workspace_id TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    event_id     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key)
) WITHOUT ROWID;

-- Clustered by lane: (webhook_id, seq) is the key, so a lane's window, its activity log
-- (newest first) and the cascade of a webhook's deletion are range scans, and a delivery
-- insert touches three b-trees (table, id, open index) instead of four.
CREATE TABLE deliveries (
    webhook_id       TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    id               TEXT    NOT NULL UNIQUE,
    event_id         TEXT    NOT NULL,
    workspace_id     TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    status           TEXT    NOT NULL
        CHECK (status IN ('pending', 'delivered', 'failed', 'expired')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,
    last_status_code INTEGER,
    last_response_ms INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, seq)
) WITHOUT ROWID;
-- Only open deliveries: what lanes read and what tells which lanes have work. Queries
-- must spell the condition exactly like this for SQLite to use it.
CREATE INDEX deliveries_open ON deliveries (webhook_id, seq)
    WHERE status IN ('pending', 'failed');

-- Keyed by delivery first: get_delivery and the cascade read one range.
CREATE TABLE attempts (
    delivery_id   TEXT    NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    id            TEXT    NOT NULL,
    webhook_id    TEXT    NOT NULL,
    attempted_at  INTEGER NOT NULL,
    status_code   INTEGER,
    response_ms   INTEGER NOT NULL,
    error_class   TEXT,
    error_message TEXT,
    -- The first 4 KiB of the response body.
    response_body TEXT,
    PRIMARY KEY (delivery_id, id)
) WITHOUT ROWID;
