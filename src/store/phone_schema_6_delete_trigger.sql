-- A raw contact's data rows go with it through the provider's own trigger, not a foreign key.
-- ContactsDatabaseHelper declares `data.raw_contact_id REFERENCES raw_contacts(_id)` but never
-- turns SQLite's foreign keys on (Android leaves them off unless a helper calls
-- `setForeignKeyConstraintsEnabled`), and removes the rows with trigger `raw_contacts_deleted`
-- (docs/contacts-provider-model.md, rule 3). The phone model's connection now runs with
-- foreign keys off too (`SqliteStore::with_conn`): an insert no longer looks up its parent.
CREATE TRIGGER raw_contacts_deleted BEFORE DELETE ON raw_contacts
BEGIN
    DELETE FROM data WHERE raw_contact_id = OLD._id;
END;
