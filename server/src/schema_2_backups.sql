-- Contact backups: the archive is a blob beside its metadata, so one transaction stores or
-- drops both (no orphan files, nothing to clean up after a crash). Archives are small: about
-- 1 MB for 10,000 contacts.
CREATE TABLE backups (
    id            TEXT PRIMARY KEY,
    device_id     TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    size          INTEGER NOT NULL,
    contact_count INTEGER NOT NULL,
    checksum      TEXT NOT NULL,   -- SHA-256 of the vCard payload; the upload's idempotency key
    data          BLOB NOT NULL,
    UNIQUE (device_id, checksum)
);
CREATE INDEX backups_device ON backups (device_id, created_at);
