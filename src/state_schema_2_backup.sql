-- What the last successful backup was, for status.
CREATE TABLE backup_state (
    singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
    backup_id     TEXT NOT NULL,
    size          INTEGER NOT NULL,
    contact_count INTEGER NOT NULL,
    checksum      TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
