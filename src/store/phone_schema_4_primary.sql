-- Data.IS_PRIMARY and IS_SUPER_PRIMARY (the preferred phone or e-mail): ContactsProvider keeps
-- at most one of each per mimetype on a raw contact (docs/contacts-provider-model.md).
ALTER TABLE data ADD COLUMN is_primary INTEGER NOT NULL DEFAULT 0;
ALTER TABLE data ADD COLUMN is_super_primary INTEGER NOT NULL DEFAULT 0;
