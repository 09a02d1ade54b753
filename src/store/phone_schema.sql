-- A model of Android's ContactsProvider, just deep enough to behave like the phone:
-- raw contacts owned by accounts, sync-adapter columns, DIRTY/DELETED flags, data rows.
CREATE TABLE raw_contacts (
    _id          INTEGER PRIMARY KEY,
    account_type TEXT,              -- NULL: the device-local account
    account_name TEXT,
    sourceid     TEXT,              -- server id of a managed contact
    sync1        TEXT,              -- content hash of a managed contact
    sync2        TEXT,              -- photo hash of a managed contact
    dirty        INTEGER NOT NULL DEFAULT 0,
    deleted      INTEGER NOT NULL DEFAULT 0,
    display_name TEXT NOT NULL DEFAULT '',
    photo        BLOB
);
CREATE UNIQUE INDEX raw_contacts_account_source
    ON raw_contacts (account_type, sourceid) WHERE sourceid IS NOT NULL;

CREATE TABLE data (
    _id            INTEGER PRIMARY KEY,
    raw_contact_id INTEGER NOT NULL REFERENCES raw_contacts (_id) ON DELETE CASCADE,
    mimetype       TEXT NOT NULL,
    data1 TEXT, data2 TEXT, data3 TEXT, data4 TEXT, data5 TEXT,
    data6 TEXT, data7 TEXT, data8 TEXT, data9 TEXT, data10 TEXT
);
CREATE INDEX data_raw_contact ON data (raw_contact_id);
