-- What a personal contact carries beside its data rows (docs/contacts-provider-model.md):
-- RawContacts.STARRED; the accounts on the phone (AccountManager's, which decide where a
-- restored contact may go); ContactsContract.Groups, whose rows a GroupMembership data row
-- points at by _ID (DATA1).
ALTER TABLE raw_contacts ADD COLUMN starred INTEGER NOT NULL DEFAULT 0;
CREATE TABLE accounts (
    account_type TEXT NOT NULL,
    account_name TEXT NOT NULL,
    PRIMARY KEY (account_type, account_name)
);
INSERT OR IGNORE INTO accounts (account_type, account_name)
    SELECT DISTINCT account_type, account_name FROM raw_contacts
    WHERE account_type IS NOT NULL AND account_name IS NOT NULL;
CREATE TABLE groups (
    _id          INTEGER PRIMARY KEY,
    account_type TEXT,              -- NULL: the device-local account
    account_name TEXT,
    sourceid     TEXT,
    title        TEXT,
    dirty        INTEGER NOT NULL DEFAULT 0,
    deleted      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX groups_account_title ON groups (account_type, account_name, title);
