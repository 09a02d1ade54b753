-- The schedule no longer keeps a series anchor: each device has a fixed slot in the
-- period, derived from its id (docs/decisions.md, "A schedule that spreads").
ALTER TABLE clocks DROP COLUMN anchor;
