-- ContactsContract.Groups grows to what a sync adapter's groups need (docs/contacts-provider-model.md,
-- "Groups"). Migration 3 made the table for personal contacts' memberships by title; our account's
-- MDM groups live in the same table, keyed by SOURCE_ID, with the provider's defaults: a new
-- group is not visible (GROUP_VISIBLE 0) unless the writer says so, SHOULD_SYNC is 1, VERSION
-- starts at 1. SOURCE_ID is not unique; the provider indexes it with the account, as here.
ALTER TABLE groups ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE groups ADD COLUMN group_visible INTEGER NOT NULL DEFAULT 0;
ALTER TABLE groups ADD COLUMN should_sync INTEGER NOT NULL DEFAULT 1;
ALTER TABLE groups ADD COLUMN group_is_read_only INTEGER NOT NULL DEFAULT 0;
CREATE INDEX groups_source_id_account ON groups (sourceid, account_type);
