-- A failure only a person can fix (re-enroll the device, grant the contacts permission):
-- shown in status until a run gets past it, and never retried on the backoff schedule.
CREATE TABLE attention (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    kind      TEXT NOT NULL,
    message   TEXT NOT NULL,
    since     TEXT NOT NULL
);

-- Photos the provider did not take in the last sync: the next sync fetches the full set
-- (a delta would not name their contacts again) and writes them again.
ALTER TABLE sync_state ADD COLUMN photos_pending INTEGER NOT NULL DEFAULT 0;

ALTER TABLE runs ADD COLUMN duplicates_removed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN photos_failed INTEGER NOT NULL DEFAULT 0;
