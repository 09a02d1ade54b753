-- A policy's field allow-list (issue 12): a JSON array of field names
-- (`contacts_agent_protocol::fields`), NULL for every field, which is what every policy
-- written before this version means.
ALTER TABLE policies ADD COLUMN fields TEXT;
