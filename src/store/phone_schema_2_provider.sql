-- The model follows ContactsProvider more closely (docs/contacts-provider-model.md):
-- SOURCE_ID is not unique; a photo is a Photo data row (PHOTO_FILE_ID = data14) whose image
-- sits in a photo file, not a column of raw_contacts; VERSION counts changes; read-only flags
-- make an app's (non-sync-adapter) updates of a row match nothing.
DROP INDEX raw_contacts_account_source;
CREATE INDEX raw_contacts_account_source ON raw_contacts (account_type, sourceid);
ALTER TABLE raw_contacts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE raw_contacts ADD COLUMN raw_contact_is_read_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE data ADD COLUMN is_read_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE data ADD COLUMN data14 INTEGER;
ALTER TABLE data ADD COLUMN data15 BLOB;
CREATE TABLE photo_files (
    _id   INTEGER PRIMARY KEY,
    bytes BLOB NOT NULL
);
INSERT INTO photo_files (_id, bytes) SELECT _id, photo FROM raw_contacts WHERE photo IS NOT NULL;
INSERT INTO data (raw_contact_id, mimetype, data14)
    SELECT _id, 'vnd.android.cursor.item/photo', _id FROM raw_contacts WHERE photo IS NOT NULL;
ALTER TABLE raw_contacts DROP COLUMN photo;
