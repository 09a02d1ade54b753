-- The agent's own memory, separate from the phone's contact store. Times are RFC 3339 UTC.
CREATE TABLE enrollment (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    server_url  TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    token       TEXT NOT NULL,
    enrolled_at TEXT NOT NULL
);

CREATE TABLE policy (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    version     INTEGER NOT NULL,
    etag        TEXT,
    body        TEXT NOT NULL,
    received_at TEXT NOT NULL
);

-- One clock per kind of run ('sync', 'backup').
CREATE TABLE clocks (
    kind                 TEXT PRIMARY KEY,
    last_success         TEXT,
    anchor               TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_failure         TEXT,
    last_attempt         TEXT,
    last_result          TEXT
);

CREATE TABLE sync_state (
    singleton             INTEGER PRIMARY KEY CHECK (singleton = 1),
    sync_token            TEXT,
    store_fingerprint     TEXT,
    synced_policy_version INTEGER,
    managed_count         INTEGER NOT NULL DEFAULT 0
);
INSERT INTO sync_state (singleton) VALUES (1);

CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,
    reason         TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    ended_at       TEXT,
    outcome        TEXT NOT NULL DEFAULT 'running', -- running | ok | failed | interrupted
    error          TEXT,
    inserted       INTEGER NOT NULL DEFAULT 0,
    updated        INTEGER NOT NULL DEFAULT 0,
    deleted        INTEGER NOT NULL DEFAULT 0,
    unchanged      INTEGER NOT NULL DEFAULT 0,
    ignored        INTEGER NOT NULL DEFAULT 0,
    full_fetch     INTEGER NOT NULL DEFAULT 0,
    bytes_received INTEGER NOT NULL DEFAULT 0
);

-- Status reports not yet delivered (server unreachable); sent oldest first.
CREATE TABLE pending_reports (
    id         INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    body       TEXT NOT NULL
);
