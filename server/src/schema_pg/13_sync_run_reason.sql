-- PostgreSQL twin of schema_13_sync_run_reason.sql.
ALTER TABLE sync_runs ADD COLUMN reason TEXT COLLATE "C";
ALTER TABLE sync_runs ADD COLUMN duration_ms BIGINT;
