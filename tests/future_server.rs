//! A server from the future: it writes protocol 3 (and still speaks 1), adds fields to every
//! answer and sends kinds this agent has never heard of. A full sync must still succeed and
//! keep everything the agent can show; only what it cannot act on safely (a policy it does
//! not understand, a server that no longer speaks its version) stops the sync, before
//! anything is written, with "update the app".
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use contacts_agent::agent::Agent;

use contacts_agent::store::sqlite::SqliteStore;
use contacts_agent::store::{ContactWrite, PhotoWrite, StoreOp};
use contacts_agent_protocol::{ContactData, EmailKind, PhoneKind};

/// Extra fields at every level of the policy, and a value in none of them the agent needs.
const POLICY: &str = r#"{"version":4,"basic_type":"all_groups","additional_groups":[],
    "sync_interval":"daily","backup_interval":"off","allowed_fields":["phones","emails"],
    "quiet_hours":{"from":"22:00","to":"06:00"},"priority":7}"#;

/// Two pages; every object carries a field protocol 1 does not have, kinds are new words.
const PAGE_1: &str = r#"{"upserts":[
    {"id":"u1","hash":"h-u1","etag":"W/1","groups":["harvey"],"contact":{
        "given_name":"Anna","family_name":"Nowak","display_name":"Anna Nowak",
        "middle_name":"Maria","pronouns":"she/her","title":"Engineer",
        "phones":[{"number":"+48 600 100 200","kind":"pager","preferred":true},
                  {"number":"+48 22 100 200","kind":"work","extension":"12"}],
        "emails":[{"address":"anna@example.com","kind":"alias","verified":true},
                  {"address":"a.nowak@example.com","kind":"work"}],
        "address":{"street":"Długa 1","city":"Gdańsk","postcode":"80-001","country":"PL",
                   "latitude":54.35,"kind":"work"},
        "social_profiles":[{"url":"https://example.com"}]}},
    {"id":"u2","hash":"h-u2","contact":{"given_name":"Mike","family_name":"Ross",
        "display_name":"Mike Ross","phones":[{"number":"+1 555 0100","kind":"satellite"}]}}],
    "deletes":[],"next_token":"cursor-1","more":true,"full":true,"policy_version":4,
    "server_time":"2026-11-25T12:00:00Z","stats":{"total":3}}"#;

const PAGE_2: &str = r#"{"upserts":[
    {"id":"u3","hash":"h-u3","contact":{"given_name":"Harvey","family_name":"Specter",
        "display_name":"Harvey Specter","nickname":"H","emails":[{"address":"h@example.com",
        "kind":"home","label":"private"}]}}],
    "deletes":["gone-1"],"next_token":"token-2","more":false,"full":true,"policy_version":4,
    "checksum":{"algorithm":"sha256","value":"00"}}"#;

const COMMANDS: &str = r#"{"commands":[{"id":"c1","kind":"wipe_photos","issued_at":"2026-11-25T11:00:00Z","issued_by":"admin"}],"next_poll_seconds":60}"#;

/// What the fixture saw of each request: its path and its `Contacts-Protocol` header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

struct FutureServer {
    addr: SocketAddr,
    seen: Seen,
}

fn answer(status: &str, range: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContents-Trace: abc\r\n\
         Contacts-Protocol: 3\r\nContacts-Protocol-Supported: {range}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn read_request(stream: &mut TcpStream) -> Option<(String, Option<String>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let (mut len, mut version) = (0usize, None);
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        if h.trim().is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if let Some(v) = lower.strip_prefix("contacts-protocol:") {
            version = Some(v.trim().to_owned());
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((path, version))
}

impl FutureServer {
    /// `range`: what the server says it speaks.
    fn start(policy: &'static str, range: &'static str) -> FutureServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Seen = Arc::default();
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some((path, version)) = read_request(&mut stream) else {
                    continue;
                };
                log.lock().unwrap().push((path.clone(), version));
                let reply = if path.starts_with("/v1/device/policy") {
                    answer("200 OK", range, policy)
                } else if path.starts_with("/v1/device/commands") {
                    answer("200 OK", range, COMMANDS)
                } else if path.starts_with("/v1/device/status") {
                    answer(
                        "200 OK",
                        range,
                        r#"{"accepted":true,"next_report_seconds":60}"#,
                    )
                } else if path.starts_with("/v1/device/contacts") && path.contains("cursor-1") {
                    answer("200 OK", range, PAGE_2)
                } else if path.starts_with("/v1/device/contacts") {
                    answer("200 OK", range, PAGE_1)
                } else {
                    answer(
                        "404 Not Found",
                        range,
                        r#"{"error":"not_found","message":"no","trace":"x"}"#,
                    )
                };
                let _ = stream.write_all(&reply);
            }
        });
        FutureServer { addr, seen }
    }
}

struct Phone {
    agent: Agent<SqliteStore>,
    dir: tempfile::TempDir,
}

/// An enrolled phone holding one personal contact and one managed contact ("old") that a
/// full sync from the fixture removes.
fn phone(server: &FutureServer) -> Phone {
    let dir = tempfile::tempdir().unwrap();
    let old = StoreOp::Insert(ContactWrite {
        id: "old".into(),
        hash: "h-old".into(),
        data: ContactData {
            display_name: "Old Contact".into(),
            ..Default::default()
        },
        photo: PhotoWrite::Keep,
    });
    let agent = common::phone_enrolled_at(server.addr, dir.path(), &[old], |_| {});
    Phone { agent, dir }
}

fn rows(p: &Phone, mimetype: &str) -> Vec<(String, String, Option<String>)> {
    let db = rusqlite::Connection::open(p.dir.path().join("phone.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT data1, data2, data3 FROM data WHERE mimetype = ?1 ORDER BY data1")
        .unwrap();
    stmt.query_map([mimetype], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_full_sync_from_a_server_from_the_future_succeeds_and_loses_nothing_it_can_show() {
    let server = FutureServer::start(POLICY, "1-3");
    let mut p = phone(&server);
    let personal = p.agent.store().personal_fingerprint().unwrap();
    let run = p.agent.run_due().unwrap();
    assert!(run.poll.is_none(), "{:?}", run.poll);
    assert!(matches!(run.sync, Some(Ok(_))), "{:?}", run.sync);
    // The command of a kind this agent does not know stays pending: not taken for a forced
    // sync (whose report would tell the server it was done).
    let reason = run
        .sync
        .as_ref()
        .and_then(|r| r.as_ref().ok())
        .map(|s| s.reason);
    assert_eq!(reason, Some(contacts_agent::agent::Reason::PolicyApplied));

    let mut held = p.agent.managed_contacts(0, 100).unwrap();
    held.sort_by(|a, b| a.id.cmp(&b.id));
    let ids: Vec<_> = held
        .iter()
        .map(|c| (c.id.as_str(), c.hash.as_str()))
        .collect();
    // The server's hashes are stored as sent: a fallback on the phone changes no hash.
    assert_eq!(ids, [("u1", "h-u1"), ("u2", "h-u2"), ("u3", "h-u3")]);
    let anna = &held[0].data;
    assert_eq!(anna.display_name, "Anna Nowak");
    assert_eq!(anna.title.as_deref(), Some("Engineer"));
    // Read back from the phone's rows, an unknown kind is the custom label it was shown as;
    // the fields 1.0 added (preferred, middle name, nickname, labels) arrive too.
    assert_eq!(
        anna.phones
            .iter()
            .map(|p| (&p.kind, p.label.as_deref(), p.preferred))
            .collect::<Vec<_>>(),
        [
            (&PhoneKind::Custom, Some("pager"), true),
            (&PhoneKind::Work, None, false)
        ]
    );
    assert_eq!(
        (&anna.emails[0].kind, anna.emails[0].label.as_deref()),
        (&EmailKind::Custom, Some("alias"))
    );
    assert_eq!(anna.middle_name.as_deref(), Some("Maria"));
    assert_eq!(
        anna.address.as_ref().map(|a| a.city.as_str()),
        Some("Gdańsk")
    );
    assert_eq!(held[1].data.phones[0].label.as_deref(), Some("satellite"));
    assert_eq!(held[2].data.emails[0].kind, EmailKind::Home);
    assert_eq!(held[2].data.emails[0].label.as_deref(), Some("private"));
    assert_eq!(held[2].data.nickname.as_deref(), Some("H"));

    // On the phone's rows an unknown kind is the provider's custom type with the word as its
    // label, so the Contacts app shows "pager".
    let phones = rows(&p, "vnd.android.cursor.item/phone_v2");
    assert!(phones.contains(&(
        "+48 600 100 200".into(),
        "custom".into(),
        Some("pager".into())
    )));
    assert!(phones.contains(&("+48 22 100 200".into(), "work".into(), None)));
    let emails = rows(&p, "vnd.android.cursor.item/email_v2");
    assert!(emails.contains(&(
        "anna@example.com".into(),
        "custom".into(),
        Some("alias".into())
    )));

    assert_eq!(p.agent.store().personal_fingerprint().unwrap(), personal);
    let status = p.agent.status().unwrap();
    assert!(status.attention.is_none());
    assert_eq!(status.last_sync_result.as_deref(), Some("ok"));

    // Every request named the version it is written in.
    let seen = server.seen.lock().unwrap();
    assert!(seen.iter().any(|(p, _)| p.starts_with("/v1/device/status")));
    for (path, version) in seen.iter() {
        assert_eq!(version.as_deref(), Some("1"), "{path}");
    }
}

#[test]
fn an_unknown_sync_interval_stops_the_sync_before_anything_is_written() {
    let policy = r#"{"version":4,"basic_type":"all_groups","additional_groups":[],
        "sync_interval":"hourly","backup_interval":"off"}"#;
    let server = FutureServer::start(policy, "1-3");
    let mut p = phone(&server);
    let err = p.agent.sync_now().unwrap_err().to_string();
    assert_eq!(
        err,
        "the server sent a policy this agent does not understand (sync_interval); update the app"
    );
    // The full set would have removed "old": nothing was applied.
    let held = p.agent.managed_contacts(0, 100).unwrap();
    assert_eq!(
        held.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["old"]
    );
    let status = p.agent.status().unwrap();
    assert!(
        status.attention.is_some(),
        "only an update helps: needs action"
    );
    let result = status.last_sync_result.unwrap_or_default();
    assert!(result.contains("update the app"), "{result}");
}

#[test]
fn a_server_that_no_longer_speaks_this_version_is_refused_with_update_the_app() {
    let server = FutureServer::start(POLICY, "2-3");
    let mut p = phone(&server);
    let err = p.agent.sync_now().unwrap_err().to_string();
    assert_eq!(
        err,
        "the server speaks protocol versions 2-3, this agent speaks 1; update the app"
    );
    let held = p.agent.managed_contacts(0, 100).unwrap();
    assert_eq!(held.len(), 1);
    assert!(p.agent.status().unwrap().attention.is_some());
}
