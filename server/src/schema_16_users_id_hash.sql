-- The users' ids and hashes by themselves, in id order (issue 13, cold first sync):
-- `entitled_entries` merges the sorted entitled members with an in-order read of this index.
-- Read from the table instead, the scan drags each row's body and photo along.
-- FIGURES
CREATE INDEX users_id_hash ON users (id, hash);
