-- Migration 1 (PostgreSQL): the whole schema of the first release, the same records as
-- the SQLite backend's migration 1.
--
-- Times are timestamptz (the store writes them truncated to milliseconds, like SQLite's
-- integer milliseconds). Ids are the prefixed text ids of the domain crate, compared
-- byte-wise (COLLATE "C") so that id order and cursors mean the same as on SQLite,
-- whatever the database's default collation. Every table a workspace owns carries
-- workspace_id so that each workspace-scoped query can filter by it.

CREATE TABLE workspaces (
    id                   TEXT COLLATE "C" PRIMARY KEY,
    name                 TEXT        NOT NULL,
    max_enabled_webhooks BIGINT      NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
    name         TEXT        NOT NULL,
    hint         TEXT        NOT NULL,
    -- SHA-256 of the key; every authenticated request looks it up.
    hash         BYTEA       NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, id);

CREATE TABLE event_types (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
    name         TEXT COLLATE "C" NOT NULL,
    category     TEXT COLLATE "C" NOT NULL,
    description  TEXT        NOT NULL,
    builtin      BOOLEAN     NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, name)
);

CREATE TABLE webhooks (
    id                         TEXT COLLATE "C" PRIMARY KEY,
    workspace_id               TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
    url                        TEXT        NOT NULL,
    description                TEXT        NOT NULL,
    -- Subscription strings (`user.created`, `user.*`, `*`).
    events                     TEXT[]      NOT NULL,
    enabled                    BOOLEAN     NOT NULL,
    secret                     TEXT        NOT NULL,
    -- The secret before the last rotation, still signed with until it expires.
    previous_secret            TEXT,
    previous_secret_expires_at TIMESTAMPTZ,
    -- The seq the next delivery to this endpoint gets; bumped by publish only, under
    -- this row's lock, which is what orders publishers of several processes.
    next_seq                   BIGINT      NOT NULL DEFAULT 1,
    created_at                 TIMESTAMPTZ NOT NULL,
    updated_at                 TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhooks_by_workspace ON webhooks (workspace_id, id);

CREATE TABLE events (
    id           TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
    type         TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    -- The exact bytes delivered on every attempt.
    body         BYTEA       NOT NULL
);
-- GET /v1/events: one workspace's events, newest first, by time range; and retention.
CREATE INDEX events_by_workspace ON events (workspace_id, created_at, id);

CREATE TABLE idempotency_keys (
    workspace_id TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    event_id     TEXT COLLATE "C" NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
-- Retention of keys past their 24 h window.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

-- Keyed by lane: (webhook_id, seq) is the primary key, so a lane's window and its
-- activity log (newest first, by seq like on SQLite) are range scans of one index.
CREATE TABLE deliveries (
    webhook_id       TEXT COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    seq              BIGINT      NOT NULL,
    id               TEXT COLLATE "C" NOT NULL UNIQUE,
    event_id         TEXT COLLATE "C" NOT NULL,
    workspace_id     TEXT COLLATE "C" NOT NULL,
    event_type       TEXT COLLATE "C" NOT NULL,
    status           TEXT        NOT NULL
        CHECK (status IN ('pending', 'delivered', 'failed', 'expired')),
    attempts         INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ,
    last_status_code INTEGER,
    last_response_ms BIGINT,
    last_error       TEXT,
    -- When the delivery was last re-opened by hand (retry, replay); NULL if never. Expiry
    -- counts from here instead of from the event's publication.
    open_since       TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (webhook_id, seq)
);
-- Only open deliveries: what lanes read and what tells which lanes have work. Queries
-- spell the condition exactly like this so the planner can prove they fit it.
CREATE INDEX deliveries_open ON deliveries (webhook_id, seq)
    WHERE status IN ('pending', 'failed');
-- The activity log filtered by status=expired, which is rare: without it that filter
-- walks an endpoint's whole history.
CREATE INDEX deliveries_expired ON deliveries (webhook_id, seq) WHERE status = 'expired';
-- An event's deliveries (GET /v1/events/{id}) and retention's "does any delivery still
-- refer to this event" check.
CREATE INDEX deliveries_by_event ON deliveries (event_id);
-- Retention of closed deliveries by age: reads only what it deletes. (A closing outcome
-- changes `status`, which the partial indexes depend on, so it writes every index
-- anyway; this is one more entry per closed delivery.)
CREATE INDEX deliveries_closed_by_age ON deliveries (updated_at)
    WHERE status IN ('delivered', 'expired');

-- Keyed by delivery first: get_delivery and the cascade read one range.
CREATE TABLE attempts (
    delivery_id   TEXT COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    id            TEXT COLLATE "C" NOT NULL,
    webhook_id    TEXT COLLATE "C" NOT NULL,
    attempted_at  TIMESTAMPTZ NOT NULL,
    status_code   INTEGER,
    response_ms   BIGINT      NOT NULL,
    error_class   TEXT,
    error_message TEXT,
    -- The first 4 KiB of the response body.
    response_body TEXT,
    PRIMARY KEY (delivery_id, id)
);
-- Stats over a time window and retention by age; the included columns let stats read
-- the index alone.
CREATE INDEX attempts_by_webhook ON attempts (webhook_id, attempted_at)
    INCLUDE (response_ms, error_class);

-- Which process works which lane (DESIGN.md, "Several processes"). A row is a lease
-- until expires_at, on the database's clock; the owner renews it, anyone may take it
-- over once it expired. Goes with its webhook.
CREATE TABLE lane_leases (
    webhook_id TEXT COLLATE "C" PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    owner      TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX lane_leases_by_owner ON lane_leases (owner);
