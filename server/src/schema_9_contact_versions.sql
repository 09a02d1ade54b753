-- Each contact body exactly as a device was sent it, once, keyed by the hash it was sent
-- with (issue 15): the console shows what a phone holds as it holds it, not as the directory
-- reads now. Rows no kept sync state refers to are collected (`entitled_sets::collect`).
CREATE TABLE contact_versions (
    hash TEXT PRIMARY KEY,
    body TEXT NOT NULL   -- ContactData JSON as sent (allow-list applied, groups included)
);
