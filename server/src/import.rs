//! Bulk directory import: users with their group memberships from NDJSON (one user per
//! line, the shape `POST /v1/admin/users` takes with `id` required), all in one transaction.
//! `POST /v1/admin/import` and `contacts-agent-server import FILE` both end here.
//!
//! A bad line anywhere refuses the whole file: the error names the line number and the field,
//! never a value (names, numbers and e-mail addresses end up in logs). Every field has the
//! bounds of `input.rs`. A user whose id exists is replaced (photo kept) and its memberships
//! become exactly the line's; users the file does not name are left alone. Groups must exist:
//! an import never creates one, so a mistyped group id is an error, not a new group.

use std::collections::{BTreeSet, HashMap};

use crate::sql::Tx;
use contacts_agent_protocol::ContactData;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::input;
use crate::repo;

/// The media type of an import body.
pub const NDJSON: &str = "application/x-ndjson";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: String,
    contact: ContactData,
    #[serde(default)]
    groups: Vec<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    /// Lines, one user each.
    pub users: u64,
    pub created: u64,
    /// Users whose id existed: contact replaced, memberships set to the line's.
    pub updated: u64,
    /// Memberships the imported users have now.
    pub memberships: u64,
}

fn at(line: usize, what: impl std::fmt::Display) -> ApiError {
    ApiError::Unprocessable(format!("line {line}: {what}"))
}

/// Imports every line of `data` inside `tx`. The caller commits; on an error nothing of the
/// file may be kept (drop the transaction).
pub fn ndjson(tx: &Tx, data: &[u8]) -> Result<Imported, ApiError> {
    let groups = repo::group_ids(tx)?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut done = Imported::default();
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line = parse(n, raw)?;
        one(tx, n, line, &groups, &mut seen, &mut done)?;
    }
    if done.users == 0 {
        return Err(ApiError::BadRequest(
            "the import holds no users (one JSON object per line)".into(),
        ));
    }
    Ok(done)
}

fn one(
    tx: &Tx,
    n: usize,
    line: Line,
    groups: &BTreeSet<String>,
    seen: &mut HashMap<String, usize>,
    done: &mut Imported,
) -> Result<(), ApiError> {
    if !repo::valid_id(&line.id) {
        return Err(at(
            n,
            "id must be 1-64 characters of letters, digits, '-' and '_'",
        ));
    }
    if let Some(first) = seen.insert(line.id.clone(), n) {
        return Err(at(n, format!("id repeats the id of line {first}")));
    }
    input::group_ids("groups", &line.groups, input::GROUPS_PER_USER).map_err(|e| at(n, e))?;
    if let Some(i) = line.groups.iter().position(|g| !groups.contains(g)) {
        return Err(at(
            n,
            format!(
                "groups[{i}] names a group that does not exist (an import never creates groups)"
            ),
        ));
    }
    let created = repo::upsert_user(tx, &line.id, line.contact).map_err(|e| match e {
        // input.rs names the field first ("given_name is longer than ..."); the name rule
        // does not.
        ApiError::Unprocessable(m)
            if m.split(' ').nth(1).is_some_and(|w| w == "is" || w == "has") =>
        {
            at(n, format!("contact.{m}"))
        }
        ApiError::Unprocessable(m) => at(n, format!("contact: {m}")),
        other => other,
    })?;
    repo::set_memberships(tx, &line.id, &line.groups)?;
    let distinct: BTreeSet<&String> = line.groups.iter().collect();
    done.users += 1;
    done.memberships += distinct.len() as u64;
    if created {
        done.created += 1;
    } else {
        done.updated += 1;
    }
    Ok(())
}

/// One line as a `Line`, read as a closed schema like every admin body (a field the schema
/// does not list is refused, not dropped), or an error that names the line and the field.
fn parse(n: usize, raw: &[u8]) -> Result<Line, ApiError> {
    let line: Line = serde_json::from_slice(raw).map_err(|e| at(n, diagnose(raw, &e)))?;
    let value: Value = serde_json::from_slice(raw).map_err(|e| at(n, diagnose(raw, &e)))?;
    crate::input::from_value::<Line>(value).map_err(|e| match e {
        ApiError::Unprocessable(m) => at(n, m.replace("the body", "the line")),
        other => other,
    })?;
    Ok(line)
}

/// Which field a line that does not parse got wrong, without quoting it.
fn diagnose(raw: &[u8], e: &serde_json::Error) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(raw) else {
        return format!("not valid JSON (column {})", e.column());
    };
    let Value::Object(m) = v else {
        return "not a JSON object".into();
    };
    for required in ["id", "contact"] {
        if !m.contains_key(required) {
            return format!("{required} is required");
        }
    }
    for (k, v) in &m {
        match k.as_str() {
            "id" if !v.is_string() => return "id must be a string".into(),
            "groups" if serde_json::from_value::<Vec<String>>(v.clone()).is_err() => {
                return "groups must be a list of group ids".into()
            }
            "contact" => {
                if let Some(what) = contact_field(v) {
                    return what;
                }
            }
            "id" | "groups" => {}
            _ => return "holds a field other than id, contact and groups".into(),
        }
    }
    "does not fit the schema".into()
}

fn contact_field(v: &Value) -> Option<String> {
    let Value::Object(m) = v else {
        return Some("contact must be an object".into());
    };
    if let Err(e) = serde_json::from_value::<ContactData>(v.clone()) {
        // serde quotes our own field's name here, never the client's value.
        let text = e.to_string();
        if let Some(field) = text
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            return Some(format!("contact.{field} is required"));
        }
    } else {
        return None;
    }
    for (k, field) in m {
        let mut probe = json!({"given_name": "", "family_name": "", "display_name": ""});
        probe[k] = field.clone();
        if let Err(e) = serde_json::from_value::<ContactData>(probe) {
            return Some(if e.to_string().starts_with("unknown field") {
                "contact holds a field the schema does not know".into()
            } else {
                // A known field (serde took its name): naming it quotes nothing of the value.
                format!("contact.{k} does not fit the schema")
            });
        }
    }
    Some("contact does not fit the schema".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Conn;

    fn db() -> Conn {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open(&dir.path().join("s.db")).unwrap();
        // The connection keeps the file open; the directory may go.
        std::mem::forget(dir);
        conn
    }

    fn run(conn: &Conn, text: &str) -> Result<Imported, ApiError> {
        let tx = conn.transaction().unwrap();
        let r = ndjson(&tx, text.as_bytes())?;
        tx.commit().unwrap();
        Ok(r)
    }

    const SECRET: &str = "Grzegorz Brzęczyszczykiewicz";

    #[test]
    fn each_kind_of_bad_line_names_its_line_and_field_and_never_the_value() {
        let conn = db();
        repo::create_group(&conn, Some("sales".into()), "Sales").unwrap();
        let good = r#"{"id":"a","contact":{"given_name":"A","family_name":"","display_name":""},"groups":["sales"]}"#;
        let cases = [
            (format!("{{\"id\":\"{SECRET}\""), "line 2: not valid JSON"),
            (format!("[\"{SECRET}\"]"), "line 2: not a JSON object"),
            (format!("{{\"contact\":{{\"given_name\":\"{SECRET}\"}}}}"), "line 2: id is required"),
            (format!("{{\"id\":\"b\",\"contact\":{{\"given_name\":\"{SECRET}\",\"family_name\":\"\"}}}}"), "line 2: contact.display_name is required"),
            (format!("{{\"id\":\"b\",\"contact\":{{\"given_name\":\"x\",\"family_name\":\"\",\"display_name\":\"\",\"phones\":[{{\"number\":12345,\"kind\":\"{SECRET}\"}}]}}}}"), "line 2: contact.phones does not fit the schema"),
            (format!("{{\"id\":\"b\",\"contact\":{{\"given_name\":\"{}\",\"family_name\":\"\",\"display_name\":\"\"}}}}", SECRET.repeat(20)), "line 2: contact.given_name is longer than 256 characters"),
            (format!("{{\"id\":\"b\",\"{SECRET}\":1,\"contact\":{{\"given_name\":\"x\",\"family_name\":\"\",\"display_name\":\"\"}}}}"), "line 2: holds a field other than id, contact and groups"),
            (format!("{{\"id\":\"{SECRET}\",\"contact\":{{\"given_name\":\"x\",\"family_name\":\"\",\"display_name\":\"\"}}}}"), "line 2: id must be"),
            (r#"{"id":"a","contact":{"given_name":"x","family_name":"","display_name":""}}"#.to_owned(), "line 2: id repeats the id of line 1"),
            (r#"{"id":"b","contact":{"given_name":"x","family_name":"","display_name":""},"groups":["sales","nope"]}"#.to_owned(), "line 2: groups[1] names a group that does not exist"),
            (format!("{{\"id\":\"b\",\"contact\":{{\"given_name\":\" \",\"family_name\":\"\",\"display_name\":\"\",\"note\":\"{SECRET}\"}}}}"), "line 2: contact: a user needs a display name"),
            (format!("{{\"id\":\"b\",\"contact\":{{\"given_name\":\"x\",\"family_name\":\"\",\"display_name\":\"\",\"{SECRET}\":1}}}}"), "line 2: contact has a field its schema does not list"),
        ];
        for (bad, want) in cases {
            let e = run(&conn, &format!("{good}\n{bad}\n")).unwrap_err();
            let msg = e.to_string();
            assert_eq!(e.status(), 422, "{msg}");
            assert!(msg.starts_with(want), "{msg} (wanted {want})");
            assert!(!msg.contains("Grzegorz") && !msg.contains("nope"), "{msg}");
        }
        assert_eq!(repo::list_users(&conn, None, 0, 10).unwrap().0, 0);
    }

    #[test]
    fn an_existing_id_is_replaced_and_its_memberships_become_the_lines() {
        let conn = db();
        repo::create_group(&conn, Some("sales".into()), "Sales").unwrap();
        repo::create_group(&conn, Some("legal".into()), "Legal").unwrap();
        let line = |name: &str, groups: &str| {
            format!(
                r#"{{"id":"u1","contact":{{"given_name":"{name}","family_name":"","display_name":""}},"groups":{groups}}}"#
            )
        };
        let first = run(
            &conn,
            &format!("{}\n", line("Anna", r#"["sales","sales"]"#)),
        )
        .unwrap();
        assert_eq!((first.created, first.updated, first.memberships), (1, 0, 1));
        let second = run(&conn, &line("Ania", r#"["legal"]"#)).unwrap();
        assert_eq!(
            (second.created, second.updated, second.memberships),
            (0, 1, 1)
        );
        let u = repo::get_user(&conn, "u1").unwrap();
        assert_eq!(
            (u.contact.display_name.as_str(), u.groups),
            ("Ania", vec!["legal".to_owned()])
        );
        assert_eq!(run(&conn, "\n \r\n").unwrap_err().status(), 400);
    }
}
