-- A group's name travels with each of its members to the phones (the phone's contact group
-- is titled with it), so renaming a group changes what devices are entitled to.
CREATE TRIGGER groups_name_upd AFTER UPDATE OF name ON groups
    BEGIN UPDATE meta SET directory_seq = directory_seq + 1; END;
