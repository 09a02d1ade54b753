//! Bulk directory import (`POST /v1/admin/import`, `contacts-agent-server import FILE`): all or
//! nothing, errors that name the line and the field but never a value, and devices that get
//! the imported people on their next sync.
#![allow(clippy::unwrap_used)]

mod common;

use common::{request, Answer, TestServer, ADMIN_TOKEN};
use serde_json::{json, Value};

/// A value that must never come back in an error or a log line.
const SECRET: &str = "Brzęczyszczykiewicz";

fn line(id: &str, given: &str, groups: &[&str]) -> String {
    json!({"id": id,
           "contact": {"given_name": given, "family_name": "Imported", "display_name": "",
                       "phones": [{"number": "+48 600 000 001", "kind": "mobile"}]},
           "groups": groups})
    .to_string()
}

fn import(t: &TestServer, body: &str) -> Answer {
    request(
        t.addr(),
        "POST",
        "/v1/admin/import",
        &[
            ("Authorization", &format!("Bearer {ADMIN_TOKEN}")),
            ("Content-Type", "application/x-ndjson"),
        ],
        body.as_bytes(),
    )
}

fn sync(t: &TestServer, token: &str, since: Option<&str>) -> Value {
    let path = match since {
        Some(s) => format!(
            "/v1/device/contacts?limit=5000&since={}",
            contacts_agent_protocol::wire::url_encode(s)
        ),
        None => "/v1/device/contacts?limit=5000".to_owned(),
    };
    let a = t.device(token, "GET", &path, None);
    assert_eq!(a.status, 200, "{}", a.text());
    let page = a.json();
    assert_eq!(page["more"], json!(false));
    page
}

fn total_users(t: &TestServer) -> u64 {
    t.admin_ok("GET", "/v1/admin/users?limit=1", Value::Null)["total"]
        .as_u64()
        .unwrap()
}

#[test]
fn imported_users_and_memberships_show_in_the_admin_api_and_reach_entitled_devices() {
    let t = TestServer::start(20);
    // Policy `p`: no contacts + Harvey.
    let (_, token) = t.enrolled_device("import phone");
    let before = sync(&t, &token, None);
    let before_ids: Vec<&str> = before["upserts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert!(!before_ids.contains(&"u-000003"));

    let body = [
        line("new-1", "Anna", &["harvey", "sales"]),
        line("new-2", "Piotr", &["mike"]),
        String::new(),
        // An existing user moves into Harvey.
        line("u-000003", "Ewa", &["harvey"]),
    ]
    .join("\n");
    let a = import(&t, &body);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        a.json(),
        json!({"users": 3, "created": 2, "updated": 1, "memberships": 4})
    );
    assert_eq!(total_users(&t), 22);

    let anna = t.admin_ok("GET", "/v1/admin/users/new-1", Value::Null);
    assert_eq!(anna["contact"]["display_name"], json!("Anna Imported"));
    assert_eq!(anna["groups"], json!(["harvey", "sales"]));
    let ewa = t.admin_ok("GET", "/v1/admin/users/u-000003", Value::Null);
    assert_eq!(ewa["groups"], json!(["harvey"]));
    let mike = t.admin_ok("GET", "/v1/admin/groups/mike/members", Value::Null);
    assert!(mike.as_array().unwrap().contains(&json!("new-2")));

    // The device's next sync brings the Harvey members the import added, and nothing else.
    let after = sync(&t, &token, Some(before["next_token"].as_str().unwrap()));
    let mut got: Vec<&str> = after["upserts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, ["new-1", "u-000003"]);
    assert_eq!(after["upserts"][0]["contact"]["family_name"], "Imported");

    // The same file again changes nothing a device holds.
    assert_eq!(import(&t, &body).json()["updated"], json!(3));
    assert_eq!(total_users(&t), 22);
}

#[test]
fn a_bad_line_imports_nothing_and_the_error_names_its_line_and_field_only() {
    let t = TestServer::start(5);
    let long = SECRET.repeat(20);
    let body = [
        line("good-1", "Anna", &["harvey"]),
        line("good-2", "Piotr", &[]),
        line("bad-3", &long, &["mike"]),
        line("good-4", "Ewa", &[]),
    ]
    .join("\n");
    let a = import(&t, &body);
    assert_eq!(a.status, 422, "{}", a.text());
    assert_eq!(a.json()["error"], json!("unprocessable"));
    assert_eq!(
        a.json()["message"],
        json!("line 3: contact.given_name is longer than 256 characters")
    );
    assert!(!a.text().contains("Brzęcz"), "{}", a.text());
    // Lines 1 and 2 were good, and are gone with the rest.
    assert_eq!(total_users(&t), 5);
    assert_eq!(t.admin("GET", "/v1/admin/users/good-1", None).status, 404);
    let harvey = t.admin_ok("GET", "/v1/admin/groups/harvey/members", Value::Null);
    assert!(!harvey.as_array().unwrap().contains(&json!("good-1")));

    // Not JSON, and a value of the wrong type: the line and the field, no value.
    let bad_json = format!(
        "{}\n{{\"id\": \"x\", \"contact\": {SECRET}",
        line("a", "A", &[])
    );
    let a = import(&t, &bad_json);
    assert_eq!(a.status, 422);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("line 2: not valid JSON"));
    let wrong = format!(
        "{}\n{{\"id\":\"x\",\"contact\":{{\"given_name\":\"{SECRET}\",\"family_name\":\"\",\"display_name\":\"\",\"emails\":\"{SECRET}\"}}}}",
        line("a", "A", &[])
    );
    let a = import(&t, &wrong);
    assert_eq!(
        (a.status, a.json()["message"].clone()),
        (422, json!("line 2: contact.emails does not fit the schema"))
    );
    assert!(!a.text().contains("Brzęcz"));
    assert_eq!(total_users(&t), 5);
}

#[test]
fn a_group_the_server_does_not_know_is_refused_not_created() {
    let t = TestServer::start(5);
    let body = [
        line("new-1", "Anna", &["harvey"]),
        line("new-2", "Piotr", &["mike", "harvy"]),
    ]
    .join("\n");
    let a = import(&t, &body);
    assert_eq!(a.status, 422, "{}", a.text());
    assert_eq!(
        a.json()["message"],
        json!(
            "line 2: groups[1] names a group that does not exist (an import never creates groups)"
        )
    );
    assert_eq!(t.admin("GET", "/v1/admin/groups/harvy", None).status, 404);
    assert_eq!(total_users(&t), 5);
}

#[test]
fn an_import_takes_ndjson_from_the_admin_only() {
    let t = TestServer::start(1);
    let body = line("new-1", "Anna", &[]);
    let a = request(
        t.addr(),
        "POST",
        "/v1/admin/import",
        &[
            ("Authorization", &format!("Bearer {ADMIN_TOKEN}")),
            ("Content-Type", "text/csv"),
        ],
        body.as_bytes(),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    let a = request(
        t.addr(),
        "POST",
        "/v1/admin/import",
        &[("Content-Type", "application/x-ndjson")],
        body.as_bytes(),
    );
    assert_eq!(a.status, 401);
    assert_eq!(import(&t, "\n\n").status, 400);
    assert_eq!(total_users(&t), 1);
}

#[test]
fn the_import_command_loads_a_file_into_the_database_all_or_nothing() {
    // A SQLite file whatever the suite runs on: the command's all-or-nothing is one
    // transaction, the same code on both backends.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    {
        let conn = contacts_agent_server::db::open(&db).unwrap();
        contacts_agent_server::seed::seed_company(&conn, 0, 42).unwrap();
    }
    let run = |file: &str, text: &str| {
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_contacts-agent-server"))
            .arg("--db")
            .arg(&db)
            .arg("import")
            .arg(&path)
            .env_remove("CONTACTS_ADMIN_TOKEN")
            .output()
            .unwrap()
    };
    let good = [
        line("a", "Anna", &["harvey"]),
        line("b", "Piotr", &["mike"]),
    ]
    .join("\n");
    let out = run("good.ndjson", &good);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("imported 2 users (2 created, 0 updated), 2 memberships"),
        "{stderr}"
    );

    let bad = [line("c", "Ewa", &[]), line("d", SECRET, &["nobody"])].join("\n");
    let out = run("bad.ndjson", &bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("line 2: groups[0] names a group"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Brzęcz") && !stderr.contains("nobody"),
        "{stderr}"
    );

    let conn = contacts_agent_server::db::open(&db).unwrap();
    let (total, _) = contacts_agent_server::repo::list_users(&conn, None, 0, 10).unwrap();
    assert_eq!(total, 2);
}

#[test]
fn an_import_past_64_mib_is_refused_before_its_body_is_read() {
    use std::io::{Read, Write};
    let t = TestServer::start(1);
    let mut s = std::net::TcpStream::connect(t.addr()).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // Headers only: the answer must come without a byte of the body.
    write!(
        s,
        "POST /v1/admin/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
        64 * 1024 * 1024 + 1
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
}
