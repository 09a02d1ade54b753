-- The device list at fleet size (issue 15 item 3): what a page filters and sorts on is kept
-- on the device's row, decided once when its status report arrives (whether its contacts
-- match what it was sent included), so a page is an index range, not a scan of every
-- device's report and snapshot.
ALTER TABLE devices ADD COLUMN last_report_at TEXT;
ALTER TABLE devices ADD COLUMN last_sync_at TEXT;
ALTER TABLE devices ADD COLUMN next_sync_at TEXT;
ALTER TABLE devices ADD COLUMN sync_failing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN contacts_on_device INTEGER NOT NULL DEFAULT 0;
-- 0 for a report stored before this version: its next report decides.
ALTER TABLE devices ADD COLUMN contacts_verified INTEGER NOT NULL DEFAULT 0;
UPDATE devices SET
    last_report_at = (SELECT received_at FROM device_status s WHERE s.device_id = devices.id),
    last_sync_at = (SELECT json_extract(report, '$.last_sync_at') FROM device_status s WHERE s.device_id = devices.id),
    next_sync_at = (SELECT json_extract(report, '$.next_sync_at') FROM device_status s WHERE s.device_id = devices.id),
    sync_failing = COALESCE((SELECT json_extract(report, '$.last_sync_result') LIKE 'failed%'
                             FROM device_status s WHERE s.device_id = devices.id), 0),
    contacts_on_device = COALESCE((SELECT json_extract(report, '$.managed_count')
                                   FROM device_status s WHERE s.device_id = devices.id), 0);
CREATE INDEX devices_by_name ON devices (name, id);
CREATE INDEX devices_by_created ON devices (created_at, id);
CREATE INDEX devices_by_last_sync ON devices (last_sync_at, id);
CREATE INDEX devices_by_next_sync ON devices (next_sync_at, id);
CREATE INDEX devices_by_policy ON devices (policy_id, name, id);
CREATE INDEX devices_by_user ON devices (user_id, name, id);
CREATE INDEX devices_failing ON devices (name, id) WHERE sync_failing = 1;

-- A device's sync history as its reports told it: one row per sync run it reported (a new
-- last_sync_at), the newest 20 kept.
CREATE TABLE sync_runs (
    device_id      TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    at             TEXT NOT NULL,
    result         TEXT,
    contacts       INTEGER NOT NULL,
    policy_version INTEGER,
    received_at    TEXT NOT NULL,
    PRIMARY KEY (device_id, at)
);
INSERT INTO sync_runs (device_id, at, result, contacts, policy_version, received_at)
    SELECT device_id, json_extract(report, '$.last_sync_at'), json_extract(report, '$.last_sync_result'),
           COALESCE(json_extract(report, '$.managed_count'), 0), json_extract(report, '$.policy_version'), received_at
    FROM device_status WHERE json_extract(report, '$.last_sync_at') IS NOT NULL;

-- The console's language and the admin's time zone, remembered per sign-in.
ALTER TABLE console_sessions ADD COLUMN lang TEXT;
ALTER TABLE console_sessions ADD COLUMN tz TEXT;
