-- Why each reported sync ran and how long it took (issue 17 item 4), as the agent's status
-- report names them. NULL for a run an older agent reported (the console shows "—").
ALTER TABLE sync_runs ADD COLUMN reason TEXT;
ALTER TABLE sync_runs ADD COLUMN duration_ms INTEGER;
