-- PostgreSQL twin of schema_16_users_id_hash.sql: the users' ids and hashes in id order, for
-- `entitled_entries`' merge (an index-only scan where the visibility map allows).
CREATE INDEX users_id_hash ON users (id, hash);
