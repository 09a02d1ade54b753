-- The device's life cycle driven from the console: the admin retires a device by a command
-- it obeys (it removes the business contacts and unenrolls), and every command records when
-- the device picked it up.
ALTER TABLE commands ADD COLUMN picked_up_at TEXT;
-- A command that no longer applies: its device retired, or enrolled again, first.
ALTER TABLE commands ADD COLUMN cancelled_at TEXT;
-- The admin asked the device to retire; it is "retiring" until it reports having done so.
ALTER TABLE devices ADD COLUMN retire_requested_at TEXT;
