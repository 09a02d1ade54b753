-- PostgreSQL: the schema as SQLite has it after its migrations 1-12 (`schema*.sql`), written
-- once as a baseline, so "schema 12" means the same tables on both engines. SQLite's INTEGER is
-- BIGINT here, BLOB is BYTEA, TEXT sorts by byte as SQLite's does (COLLATE "C"), an
-- `INTEGER PRIMARY KEY` is an identity column, and the triggers are PL/pgSQL functions.
-- Backups differ on purpose: SQLite copies a backup into its row by incremental blob I/O;
-- PostgreSQL has none, so a backup's bytes are rows of `backup_chunks` (docs/decisions.md).

CREATE TABLE users (
    id         TEXT COLLATE "C" PRIMARY KEY,
    body       TEXT COLLATE "C" NOT NULL,
    hash       TEXT COLLATE "C" NOT NULL,
    photo      BYTEA,
    photo_hash TEXT COLLATE "C",
    updated_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX users_photo_hash ON users (photo_hash) WHERE photo_hash IS NOT NULL;

CREATE TABLE groups (
    id      TEXT COLLATE "C" PRIMARY KEY,
    name    TEXT COLLATE "C" NOT NULL UNIQUE,
    version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE memberships (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE policies (
    id                TEXT COLLATE "C" PRIMARY KEY,
    name              TEXT COLLATE "C" NOT NULL,
    basic_type        TEXT COLLATE "C" NOT NULL,
    additional_groups TEXT COLLATE "C" NOT NULL,
    sync_interval     TEXT COLLATE "C" NOT NULL,
    backup_interval   TEXT COLLATE "C" NOT NULL,
    updated_at        TEXT COLLATE "C" NOT NULL,
    fields            TEXT COLLATE "C",
    sync_window       TEXT COLLATE "C",
    rollout_minutes   BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE devices (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    name                  TEXT COLLATE "C" NOT NULL,
    user_id               TEXT COLLATE "C" REFERENCES users (id) ON DELETE SET NULL,
    policy_id             TEXT COLLATE "C" REFERENCES policies (id) ON DELETE SET NULL,
    policy_version        BIGINT NOT NULL DEFAULT 1,
    enrollment_code       TEXT COLLATE "C" UNIQUE,
    token_hash            TEXT COLLATE "C" UNIQUE,
    created_at            TEXT COLLATE "C" NOT NULL,
    enrolled_at           TEXT COLLATE "C",
    enrollment_expires_at TEXT COLLATE "C",
    revoked_token_hash    TEXT COLLATE "C",
    revoked_at            TEXT COLLATE "C",
    next_token_hash       TEXT COLLATE "C",
    retired_at            TEXT COLLATE "C",
    retire_requested_at   TEXT COLLATE "C",
    last_report_at        TEXT COLLATE "C",
    last_sync_at          TEXT COLLATE "C",
    next_sync_at          TEXT COLLATE "C",
    sync_failing          BIGINT NOT NULL DEFAULT 0,
    contacts_on_device    BIGINT NOT NULL DEFAULT 0,
    contacts_verified     BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX devices_next_token ON devices (next_token_hash) WHERE next_token_hash IS NOT NULL;
CREATE INDEX devices_revoked_token ON devices (revoked_token_hash) WHERE revoked_token_hash IS NOT NULL;
CREATE INDEX devices_by_name ON devices (name, id);
CREATE INDEX devices_by_created ON devices (created_at, id);
-- NULLs placed as SQLite sorts them (sql::Dialect::nulls_as_sqlite), so the pages use these.
CREATE INDEX devices_by_last_sync ON devices (last_sync_at DESC NULLS LAST, id DESC);
CREATE INDEX devices_by_next_sync ON devices (next_sync_at NULLS FIRST, id);
CREATE INDEX devices_by_policy ON devices (policy_id, name, id);
CREATE INDEX devices_by_user ON devices (user_id, name, id);
CREATE INDEX devices_failing ON devices (name, id) WHERE sync_failing = 1;

CREATE TABLE device_status (
    device_id   TEXT COLLATE "C" PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    report      TEXT COLLATE "C" NOT NULL,
    received_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE commands (
    id           TEXT COLLATE "C" PRIMARY KEY,
    device_id    TEXT COLLATE "C" NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    kind         TEXT COLLATE "C" NOT NULL,
    issued_at    TEXT COLLATE "C" NOT NULL,
    completed_at TEXT COLLATE "C",
    picked_up_at TEXT COLLATE "C",
    cancelled_at TEXT COLLATE "C"
);
CREATE INDEX commands_pending ON commands (device_id) WHERE completed_at IS NULL;

CREATE TABLE snapshots (
    token         TEXT COLLATE "C" PRIMARY KEY,
    device_id     TEXT COLLATE "C" NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    created_at    TEXT COLLATE "C" NOT NULL,
    entries       BYTEA NOT NULL,
    directory_seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX snapshots_device ON snapshots (device_id, seq);

CREATE TABLE meta (
    singleton     BIGINT PRIMARY KEY CHECK (singleton = 1),
    directory_seq BIGINT NOT NULL
);
INSERT INTO meta (singleton, directory_seq) VALUES (1, 1);

CREATE TABLE backups (
    id            TEXT COLLATE "C" PRIMARY KEY,
    device_id     TEXT COLLATE "C" NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    created_at    TEXT COLLATE "C" NOT NULL,
    size          BIGINT NOT NULL,
    contact_count BIGINT NOT NULL,
    checksum      TEXT COLLATE "C" NOT NULL,
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,   -- insertion order (SQLite's rowid)
    UNIQUE (device_id, checksum)
);
CREATE INDEX backups_device ON backups (device_id, created_at);

-- A backup's bytes in order, one row per piece (`sql::dialect::BACKUP_CHUNK` bytes each).
CREATE TABLE backup_chunks (
    backup_id TEXT COLLATE "C" NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
    n         BIGINT NOT NULL,
    data      BYTEA NOT NULL,
    PRIMARY KEY (backup_id, n)
);

CREATE TABLE console_sessions (
    id         TEXT COLLATE "C" PRIMARY KEY,
    csrf       TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    lang       TEXT COLLATE "C",
    tz         TEXT COLLATE "C"
);

CREATE TABLE console_login_failures (
    client       TEXT COLLATE "C" PRIMARY KEY,
    failures     BIGINT NOT NULL,
    last_failure BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);

CREATE TABLE contact_versions (
    hash TEXT COLLATE "C" PRIMARY KEY,
    body TEXT COLLATE "C" NOT NULL
);

CREATE TABLE entitled_sets (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    fingerprint TEXT COLLATE "C" NOT NULL UNIQUE,
    entries     BYTEA NOT NULL
);

CREATE TABLE entitlements (
    id     BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    key    TEXT COLLATE "C" NOT NULL UNIQUE,
    set_id BIGINT NOT NULL,
    stamp  BIGINT NOT NULL
);

CREATE TABLE sync_tokens (
    token          TEXT COLLATE "C" PRIMARY KEY,
    device_id      TEXT COLLATE "C" NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    seq            BIGINT NOT NULL,
    set_id         BIGINT NOT NULL,
    entitlement_id BIGINT,
    stamp          BIGINT NOT NULL
);
CREATE INDEX sync_tokens_device ON sync_tokens (device_id, seq);
CREATE INDEX sync_tokens_set ON sync_tokens (set_id);
CREATE INDEX sync_tokens_entitlement ON sync_tokens (entitlement_id);

CREATE TABLE set_deltas (
    base_id   BIGINT NOT NULL,
    target_id BIGINT NOT NULL,
    changes   BYTEA NOT NULL,
    PRIMARY KEY (base_id, target_id)
);

CREATE TABLE sync_runs (
    device_id      TEXT COLLATE "C" NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    at             TEXT COLLATE "C" NOT NULL,
    result         TEXT COLLATE "C",
    contacts       BIGINT NOT NULL,
    policy_version BIGINT,
    received_at    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (device_id, at)
);

-- The directory's version counter (schema_11_entitled_sets.sql): any change to a user's
-- contact, a membership or a group's name bumps it and stamps the groups concerned.
CREATE FUNCTION bump_directory() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE meta SET directory_seq = directory_seq + 1;
    IF TG_TABLE_NAME = 'users' THEN
        UPDATE groups SET version = (SELECT directory_seq FROM meta)
            WHERE id IN (SELECT group_id FROM memberships WHERE user_id = NEW.id);
    ELSIF TG_TABLE_NAME = 'memberships' AND TG_OP = 'DELETE' THEN
        UPDATE groups SET version = (SELECT directory_seq FROM meta) WHERE id = OLD.group_id;
    ELSIF TG_TABLE_NAME = 'memberships' THEN
        UPDATE groups SET version = (SELECT directory_seq FROM meta) WHERE id = NEW.group_id;
    ELSE
        UPDATE groups SET version = (SELECT directory_seq FROM meta) WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER users_upd AFTER UPDATE OF body, hash ON users FOR EACH ROW
    WHEN (OLD.body IS DISTINCT FROM NEW.body OR OLD.hash IS DISTINCT FROM NEW.hash)
    EXECUTE FUNCTION bump_directory();
CREATE TRIGGER memberships_ins AFTER INSERT ON memberships FOR EACH ROW
    EXECUTE FUNCTION bump_directory();
CREATE TRIGGER memberships_del AFTER DELETE ON memberships FOR EACH ROW
    EXECUTE FUNCTION bump_directory();
CREATE TRIGGER groups_name_upd AFTER UPDATE OF name ON groups FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION bump_directory();
