-- Warbler's initial schema.
--
-- Portable on purpose (SQLite now, PostgreSQL later): ids are hyphenated lower-case UUIDs as
-- TEXT, timestamps are INTEGER milliseconds since the Unix epoch supplied by the application
-- (never a database clock), JSON is stored as TEXT. The one SQLite-specific construct is
-- AUTOINCREMENT on webhook_deliveries.sequence (an identity column in PostgreSQL).

CREATE TABLE organizations (
    id TEXT NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL
);

CREATE TABLE workspaces (
    id TEXT NOT NULL PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    created_at INTEGER NOT NULL,
    -- Target of composite foreign keys (a row's workspace is in the row's organization).
    UNIQUE (organization_id, id)
);

CREATE INDEX workspaces_by_age ON workspaces (created_at, id);

CREATE TABLE access_keys (
    id TEXT NOT NULL PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    -- Lower-case hex SHA-256 of the secret; the secret itself is never stored.
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE INDEX access_keys_by_workspace ON access_keys (workspace_id);

CREATE TABLE channels (
    id TEXT NOT NULL PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    -- Position of the channel in the configuration file (NULL for a channel not declared there).
    config_position INTEGER,
    -- JSON array of strings.
    numbers TEXT NOT NULL,
    trunk TEXT,
    trunk_username TEXT,
    trunk_password TEXT,
    -- JSON, as configured.
    call_flow TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (workspace_id, config_position),
    -- Target of the calls' composite foreign key (a call's channel is in the call's workspace).
    UNIQUE (workspace_id, id)
);

CREATE TABLE calls (
    id TEXT NOT NULL PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    -- The call exactly as the API shows it (JSON).
    body TEXT NOT NULL,
    FOREIGN KEY (workspace_id, channel_id) REFERENCES channels (workspace_id, id)
);

CREATE INDEX calls_by_channel ON calls (workspace_id, channel_id, created_at DESC, id DESC);
CREATE INDEX calls_by_status ON calls (status);

CREATE TABLE webhook_subscriptions (
    id TEXT NOT NULL PRIMARY KEY,
    organization_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    service TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    signing_key TEXT NOT NULL,
    -- JSON array of {"key", "value"} objects.
    event_filters TEXT NOT NULL,
    template TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    FOREIGN KEY (organization_id, workspace_id) REFERENCES workspaces (organization_id, id)
);

CREATE INDEX webhook_subscriptions_by_workspace ON webhook_subscriptions (workspace_id, created_at, id);

-- The webhook outbox: one row per (event, subscription), written in the transaction that
-- changes the call. `id` is the event id sent as messagebird-request-id on every attempt.
CREATE TABLE webhook_deliveries (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id),
    call_id TEXT NOT NULL REFERENCES calls (id),
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    -- The exact JSON bytes to POST.
    body TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER,
    -- When the delivery was given up on (state 'dead').
    dead_at INTEGER,
    last_error TEXT
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
-- Finds the head (lowest sequence) of each (subscription, call) queue.
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (subscription_id, call_id, state, sequence);
