-- A page of a sync reads only its own records (issue 13): a stored set or delta is cut into
-- chunks of `snapshot::CHUNK_RECORDS` records, numbered from 0, and its row says how many
-- records it holds. A page of records offset..offset+limit reads the chunks
-- offset / N ..= (offset + limit - 1) / N by key; before, every page read the whole blob
-- (~10 MB at 100,000 contacts). The migration's Rust step (`entitled_sets::migrate_chunks`)
-- cuts the stored blobs into chunks, then drops the blob columns.
CREATE TABLE set_chunks (
    set_id   INTEGER NOT NULL,
    chunk_no INTEGER NOT NULL,
    records  BLOB NOT NULL,   -- sorted "id\0hash\n" lines
    PRIMARY KEY (set_id, chunk_no)
);
CREATE TABLE delta_chunks (
    base_id   INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    chunk_no  INTEGER NOT NULL,
    records   BLOB NOT NULL,  -- "+id\n" (upsert) and "-id\n" (delete) lines in id order
    PRIMARY KEY (base_id, target_id, chunk_no)
);
ALTER TABLE entitled_sets ADD COLUMN record_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE set_deltas ADD COLUMN record_count INTEGER NOT NULL DEFAULT 0;
