-- Content-addressed entitled sets (issue 15). What a device was sent is a sorted (id, hash)
-- set; devices with the same entitlement are sent the same one, so each distinct set is kept
-- once, keyed by its fingerprint (what a phone reports), and a sync token is a small row
-- pointing at it. Sets no token or entitlement points at are collected
-- (`entitled_sets::collect`), with the cached deltas and contact versions only they used.
CREATE TABLE entitled_sets (
    id          INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,   -- set_fingerprint of its entries
    entries     BLOB NOT NULL           -- sorted "id\0hash\n" lines
);

-- An entitlement is what decides a set: the groups a device is sent and its policy's
-- allow-list, keyed by the SHA-256 of their canonical JSON. `set_id` is its set as of
-- `stamp`, so the devices sharing it compute it once per directory version.
CREATE TABLE entitlements (
    id     INTEGER PRIMARY KEY,
    key    TEXT NOT NULL UNIQUE,
    set_id INTEGER NOT NULL,
    stamp  INTEGER NOT NULL
);

-- A sync token names a set (no foreign key: a token whose set was collected answers 410),
-- and the entitlement and stamp at which that set was last known to be the device's: when
-- both still hold, the sync is a no-change answer without computing anything.
CREATE TABLE sync_tokens (
    token          TEXT PRIMARY KEY,
    device_id      TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    set_id         INTEGER NOT NULL,
    entitlement_id INTEGER,
    stamp          INTEGER NOT NULL
);
CREATE INDEX sync_tokens_device ON sync_tokens (device_id, seq);
CREATE INDEX sync_tokens_set ON sync_tokens (set_id);
CREATE INDEX sync_tokens_entitlement ON sync_tokens (entitlement_id);

-- The changes from one set to another, cut into pages by every device making that move.
CREATE TABLE set_deltas (
    base_id   INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    changes   BLOB NOT NULL,   -- "+id\n" (upsert) and "-id\n" (delete) lines in id order
    PRIMARY KEY (base_id, target_id)
);

-- Narrow invalidation: a set depends only on its groups' members, their contacts and the
-- groups' names. Each change stamps the groups it touches with the next value of the
-- directory sequence; an entitlement's stamp is the largest of its groups'. An edit of a
-- user in no group, another policy's change or a new device stamps nothing a set reads.
ALTER TABLE groups ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER users_ins;
DROP TRIGGER users_upd;
DROP TRIGGER users_del;
DROP TRIGGER groups_del;
DROP TRIGGER memberships_ins;
DROP TRIGGER memberships_del;
DROP TRIGGER policies_upd;
DROP TRIGGER devices_upd;
DROP TRIGGER groups_name_upd;
CREATE TRIGGER users_upd AFTER UPDATE OF body, hash ON users
    WHEN OLD.body IS NOT NEW.body OR OLD.hash IS NOT NEW.hash
BEGIN
    UPDATE meta SET directory_seq = directory_seq + 1;
    UPDATE groups SET version = (SELECT directory_seq FROM meta)
        WHERE id IN (SELECT group_id FROM memberships WHERE user_id = NEW.id);
END;
CREATE TRIGGER memberships_ins AFTER INSERT ON memberships
BEGIN
    UPDATE meta SET directory_seq = directory_seq + 1;
    UPDATE groups SET version = (SELECT directory_seq FROM meta) WHERE id = NEW.group_id;
END;
-- Also fires for the rows a deleted user or group takes with it (ON DELETE CASCADE).
CREATE TRIGGER memberships_del AFTER DELETE ON memberships
BEGIN
    UPDATE meta SET directory_seq = directory_seq + 1;
    UPDATE groups SET version = (SELECT directory_seq FROM meta) WHERE id = OLD.group_id;
END;
CREATE TRIGGER groups_name_upd AFTER UPDATE OF name ON groups WHEN OLD.name IS NOT NEW.name
BEGIN
    UPDATE meta SET directory_seq = directory_seq + 1;
    UPDATE groups SET version = (SELECT directory_seq FROM meta) WHERE id = NEW.id;
END;
-- Old snapshots become sets and tokens (db.rs runs `entitled_sets::migrate_snapshots`, which
-- then drops the snapshots table).
