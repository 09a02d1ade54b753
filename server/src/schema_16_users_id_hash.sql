-- The users' ids and hashes by themselves, in id order (issue 13, cold first sync):
-- `entitled_entries` merges the sorted entitled members with an in-order read of this index.
-- Read from the table instead, the scan drags each row's body and photo along.
-- Measured (release, 100,000 seeded users, all groups entitled, `entitled_entries_timing` in
-- server/tests/entitled_merge.rs): 69-95 ms with it, 86-109 ms without; one big group
-- (15,000 users, point lookups) 15-19 ms with it, 27-34 ms without. It costs 5.7 MB at
-- 100,000 users. docs/decisions.md: "The entitled set: a merge, not a join and sort".
CREATE INDEX users_id_hash ON users (id, hash);
