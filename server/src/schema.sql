-- Reference MDM server. Users are the company's people and, at the same time, the contacts
-- that devices receive. Times are RFC 3339 UTC.
CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    body       TEXT NOT NULL,          -- ContactData as JSON
    hash       TEXT NOT NULL,          -- content_hash(body)
    photo      BLOB,
    photo_hash TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX users_photo_hash ON users (photo_hash) WHERE photo_hash IS NOT NULL;

CREATE TABLE groups (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE memberships (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE policies (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    basic_type        TEXT NOT NULL,
    additional_groups TEXT NOT NULL,   -- JSON array of group ids
    sync_interval     TEXT NOT NULL,
    backup_interval   TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    user_id         TEXT REFERENCES users (id) ON DELETE SET NULL,
    policy_id       TEXT REFERENCES policies (id) ON DELETE SET NULL,
    -- Bumped whenever what the device must apply changes (assignment or policy edit).
    policy_version  INTEGER NOT NULL DEFAULT 1,
    enrollment_code TEXT UNIQUE,
    token_hash      TEXT UNIQUE,
    created_at      TEXT NOT NULL,
    enrolled_at     TEXT
);

CREATE TABLE device_status (
    device_id   TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    report      TEXT NOT NULL,
    received_at TEXT NOT NULL
);

CREATE TABLE commands (
    id           TEXT PRIMARY KEY,
    device_id    TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    issued_at    TEXT NOT NULL,
    completed_at TEXT
);
CREATE INDEX commands_pending ON commands (device_id) WHERE completed_at IS NULL;

-- What a device was sent up to a sync token: sorted "id\0hash\n" lines.
CREATE TABLE snapshots (
    token      TEXT PRIMARY KEY,
    device_id  TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    entries    BLOB NOT NULL
);
CREATE INDEX snapshots_device ON snapshots (device_id, seq);

-- One counter for "anything that can change what some device is entitled to". A sync
-- token whose snapshot was taken at the current value needs no recomputation: the
-- no-change sync is a primary-key lookup.
CREATE TABLE meta (
    singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
    directory_seq INTEGER NOT NULL
);
INSERT INTO meta (singleton, directory_seq) VALUES (1, 1);
ALTER TABLE snapshots ADD COLUMN directory_seq INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER users_ins AFTER INSERT ON users BEGIN UPDATE meta SET directory_seq = directory_seq + 1; END;
CREATE TRIGGER users_upd AFTER UPDATE ON users BEGIN UPDATE meta SET directory_seq = directory_seq + 1; END;
CREATE TRIGGER users_del AFTER DELETE ON users BEGIN UPDATE meta SET directory_seq = directory_seq + 1; END;
CREATE TRIGGER groups_del AFTER DELETE ON groups BEGIN UPDATE meta SET directory_seq = directory_seq + 1; END;
CREATE TRIGGER memberships_ins AFTER INSERT ON memberships BEGIN UPDATE meta SET directory_seq = directory_seq + 1; END;
CREATE TRIGGER memberships_del AFTER DELETE ON memberships BEGIN UPDATE meta SET directory_seq = directory_seq + 1; END;
CREATE TRIGGER policies_upd AFTER UPDATE ON policies BEGIN UPDATE meta SET directory_seq = directory_seq + 1; END;
CREATE TRIGGER devices_upd AFTER UPDATE OF user_id, policy_id, policy_version ON devices
    BEGIN UPDATE meta SET directory_seq = directory_seq + 1; END;
