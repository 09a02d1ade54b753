-- PostgreSQL twin of schema_14_set_chunks.sql (the same Rust step follows it).
CREATE TABLE set_chunks (
    set_id   BIGINT NOT NULL,
    chunk_no BIGINT NOT NULL,
    records  BYTEA NOT NULL,
    PRIMARY KEY (set_id, chunk_no)
);
CREATE TABLE delta_chunks (
    base_id   BIGINT NOT NULL,
    target_id BIGINT NOT NULL,
    chunk_no  BIGINT NOT NULL,
    records   BYTEA NOT NULL,
    PRIMARY KEY (base_id, target_id, chunk_no)
);
ALTER TABLE entitled_sets ADD COLUMN record_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE set_deltas ADD COLUMN record_count BIGINT NOT NULL DEFAULT 0;
