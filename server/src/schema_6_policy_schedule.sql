-- When a policy's phones talk to the server (issue 15, "A schedule that spreads"): the
-- device-local sync window as its JSON ({"start":"01:00","end":"05:00"}), NULL for the whole
-- day; and the rollout spread of a new policy version in minutes, 0 for at once (what every
-- policy written before this version means).
ALTER TABLE policies ADD COLUMN sync_window TEXT;
ALTER TABLE policies ADD COLUMN rollout_minutes INTEGER NOT NULL DEFAULT 0;
