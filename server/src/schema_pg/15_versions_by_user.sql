-- PostgreSQL twin of schema_15_versions_by_user.sql (the same Rust step follows it). The old
-- table's key constraint is renamed with it, so the new table's can take its name.
ALTER TABLE contact_versions RENAME TO contact_versions_14;
ALTER TABLE contact_versions_14 RENAME CONSTRAINT contact_versions_pkey TO contact_versions_14_pkey;
CREATE TABLE contact_versions (
    user_id TEXT COLLATE "C" NOT NULL,
    hash    TEXT COLLATE "C" NOT NULL,
    body    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, hash)
);
