-- A sent contact version is kept under the user it was sent for and its hash (issue 13).
-- Keyed by the hash alone (schema 9), a first sync's pages inserted 500 random keys all over
-- the B-tree each, so every commit wrote hundreds of scattered pages and the lookups were
-- random too: at 100,000 contacts `keep_sent` took ~1 s of the ~1.4 s the server spent on
-- the pages. Pages go in user-id order, so under (user_id, hash) a page's lookups and inserts
-- land together (a model of it: 2.2-2.8 s -> 0.57-0.61 s). Two users with the same body now
-- keep a row each; a version is kept while a stored set names its (user id, hash).
-- The migration's Rust step (`entitled_sets::migrate_versions`) copies each version a stored
-- set names under that set's user id (the old table knows only the hash) and drops the rest
-- (collection would), then the old table goes.
ALTER TABLE contact_versions RENAME TO contact_versions_14;
CREATE TABLE contact_versions (
    user_id TEXT NOT NULL,
    hash    TEXT NOT NULL,
    body    TEXT NOT NULL,   -- ContactData JSON as sent (allow-list applied, groups included)
    PRIMARY KEY (user_id, hash)
) WITHOUT ROWID;
