-- Device lifecycle: enrollment codes expire, revoked devices are told so, tokens rotate.
ALTER TABLE devices ADD COLUMN enrollment_expires_at TEXT;
-- The token a revoke killed: a device still using it gets 401 "device_revoked" (remove the
-- managed contacts) rather than a bare 401.
ALTER TABLE devices ADD COLUMN revoked_token_hash TEXT;
ALTER TABLE devices ADD COLUMN revoked_at TEXT;
-- A rotated token not used yet; the current one works until it is.
ALTER TABLE devices ADD COLUMN next_token_hash TEXT;
CREATE UNIQUE INDEX devices_next_token ON devices (next_token_hash) WHERE next_token_hash IS NOT NULL;
CREATE INDEX devices_revoked_token ON devices (revoked_token_hash) WHERE revoked_token_hash IS NOT NULL;
-- Codes issued before codes expired get the default lifetime from now.
UPDATE devices SET enrollment_expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+7 days')
    WHERE enrollment_code IS NOT NULL;

-- Wrong console sign-ins per client address; a growing wait follows each one past the first
-- few. Times are Unix seconds.
CREATE TABLE console_login_failures (
    client         TEXT PRIMARY KEY,
    failures       INTEGER NOT NULL,
    last_failure   INTEGER NOT NULL,
    locked_until   INTEGER NOT NULL
);
