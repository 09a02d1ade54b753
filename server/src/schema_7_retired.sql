-- A device that left management by itself (the app unenrolled: its business contacts are
-- gone): its token no longer works and the console shows it as retired, not revoked.
ALTER TABLE devices ADD COLUMN retired_at TEXT;
