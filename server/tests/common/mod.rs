//! What the server's own integration tests share: a server on loopback over a seeded
//! database, and an HTTP/1.1 client written by hand (every header and byte is the test's).
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use contacts_agent_protocol::hash::set_fingerprint;
use contacts_agent_server::sql::{Conn, Database};
use contacts_agent_server::{repo, seed, testing, Config, Server};
use serde_json::{json, Value};

pub const ADMIN_TOKEN: &str = "server-tests-admin-token-0123456789";

pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} answer is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The answer of a call that must succeed (`method path` names it when it did not): its
    /// JSON, null when empty.
    pub fn ok_json(&self, method: &str, path: &str) -> Value {
        assert!(
            (200..300).contains(&self.status),
            "{method} {path} -> {}: {}",
            self.status,
            self.text()
        );
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

/// A page's upsert as the phone keeps it: `(id, hash)`.
/// A status report saying the phone holds exactly `held` (`(id, hash)` pairs, any order) as
/// of `sync_token`.
pub fn held_report<'a>(
    sync_token: &str,
    held: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Value {
    let held: Vec<(&str, &str)> = held.into_iter().collect();
    json!({"reported_at": "2026-11-25T10:00:00Z", "managed_count": held.len(),
           "managed_fingerprint": set_fingerprint(held.iter().copied()),
           "sync_token": sync_token})
}

/// A phone of user 0 on an all-groups policy, enrolled straight in `conn` (a database a test
/// keeps at an old schema): its device id and bearer token.
pub fn enrolled_on_all_groups(conn: &Conn) -> (String, String) {
    let policy: repo::PolicyInput =
        serde_json::from_value(json!({"name": "All", "basic_type": "all_groups"})).unwrap();
    repo::create_policy(conn, Some("all".into()), &policy).unwrap();
    let (device, code) = repo::create_device(
        conn,
        "phone",
        Some(&seed::user_id(0)),
        std::time::Duration::from_secs(600),
    )
    .unwrap();
    repo::assign_policy(conn, &device, Some("all")).unwrap();
    let (_, bearer) = repo::enroll(conn, &code, "phone").unwrap();
    (device, bearer)
}

pub fn id_and_hash(upsert: &Value) -> (String, String) {
    (
        upsert["id"].as_str().unwrap().to_owned(),
        upsert["hash"].as_str().unwrap().to_owned(),
    )
}

/// The console sign-in form's `(cookie, hidden CSRF field)` pair, fetched from `addr`.
pub fn login_form(addr: SocketAddr, headers: &[(&str, &str)]) -> (String, String) {
    let a = request(addr, "GET", "/console/login", headers, b"");
    assert_eq!(a.status, 200);
    let cookie = a
        .all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("cas_login="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let field = a
        .text()
        .split("name=login_csrf value=")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    (cookie, field)
}

/// A console session cookie for `password` (the admin token) signed in on `addr`.
pub fn console_session(addr: SocketAddr, password: &str) -> String {
    let (cookie, field) = login_form(addr, &[]);
    let a = request(
        addr,
        "POST",
        "/console/login",
        &[
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        format!("login_csrf={field}&password={password}").as_bytes(),
    );
    assert_eq!(a.status, 303, "{}", a.text());
    a.all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("cas_session=") && !c.contains("Max-Age=0"))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// One request on its own connection (`Connection: close`), read to the end.
/// `POST /v1/enroll` with `code` to the server at `addr`, as a phone named "test phone".
pub fn enroll(addr: SocketAddr, code: &str) -> Answer {
    request(
        addr,
        "POST",
        "/v1/enroll",
        &[("Content-Type", "application/json")],
        json!({"enrollment_code": code, "device_name": "test phone"})
            .to_string()
            .as_bytes(),
    )
}

pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // A server may answer (413, 401) before reading a body it refuses and close.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse(&raw).unwrap_or_else(|| {
        panic!(
            "{method} {target}: not an HTTP answer: {:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(200)])
        )
    })
}

pub fn parse(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else {
        match headers.iter().find(|(k, _)| k == "content-length") {
            Some((_, n)) => rest.get(..n.parse::<usize>().ok()?)?.to_vec(),
            None => rest.to_vec(),
        }
    };
    Some(Answer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// The PostgreSQL admin URL the suite runs against (a role allowed to CREATE DATABASE), from
/// `CONTACTS_AGENT_TEST_POSTGRES`; unset: SQLite files.
pub fn test_postgres() -> Option<String> {
    std::env::var("CONTACTS_AGENT_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A fresh database for one test: a SQLite file in `dir`, or a new PostgreSQL database when
/// the suite runs on PostgreSQL (dropped with the guard).
pub fn fresh_database(dir: &std::path::Path) -> (Database, Option<DropDatabase>) {
    match test_postgres() {
        Some(admin) => {
            let url = testing::fresh_postgres_database(&admin).unwrap();
            (
                Database::Postgres(url.clone()),
                Some(DropDatabase { admin, url }),
            )
        }
        None => (Database::Sqlite(dir.join("server.db")), None),
    }
}

/// Drops a test's PostgreSQL database when the test is done with it.
pub struct DropDatabase {
    admin: String,
    url: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let _ = testing::drop_postgres_database(&self.admin, &self.url);
    }
}

/// A server over a seeded company of `users` people (groups `harvey`, `mike`, ...), with a
/// policy `p` (no contacts + Harvey, daily).
pub struct TestServer {
    pub server: Server,
    pub dir: tempfile::TempDir,
    /// The database the server uses (a file in `dir`, or a PostgreSQL database).
    pub database: Database,
    /// Declared after `server`: the server stops before its database is dropped.
    _drop: Option<DropDatabase>,
}

impl TestServer {
    pub fn start(users: usize) -> TestServer {
        Self::start_with(users, |_| {})
    }

    pub fn start_with(users: usize, configure: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let (database, drop) = fresh_database(dir.path());
        {
            let conn = contacts_agent_server::db::open(&database).unwrap();
            seed::seed_company(&conn, users, 42).unwrap();
        }
        let mut config = Config::on(database.clone(), ADMIN_TOKEN);
        config.workers = 2;
        configure(&mut config);
        let server = Server::start(config).unwrap();
        let t = TestServer {
            server,
            dir,
            database,
            _drop: drop,
        };
        t.admin_ok(
            "POST",
            "/v1/admin/policies",
            json!({"id": "p", "name": "P", "basic_type": "none",
                   "additional_groups": ["harvey"], "sync_interval": "daily"}),
        );
        t
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// A connection of the test's own to the server's database.
    pub fn db(&self) -> Conn {
        contacts_agent_server::db::open(&self.database).unwrap()
    }

    /// The server runs on SQLite (some tests read its file).
    pub fn on_sqlite(&self) -> bool {
        matches!(self.database, Database::Sqlite(_))
    }

    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        request(
            self.addr(),
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
    }

    /// An admin call that must succeed; its JSON answer (null when empty).
    pub fn admin_ok(&self, method: &str, path: &str, body: Value) -> Value {
        let body = (!body.is_null()).then_some(body);
        self.admin(method, path, body).ok_json(method, path)
    }

    /// One whole sync from `since`, `limit` contacts a page: the sync token it ends with
    /// and every page, in order.
    pub fn sync_pages(
        &self,
        token: &str,
        since: Option<&str>,
        limit: usize,
    ) -> (String, Vec<Value>) {
        let mut next = since.map(str::to_owned);
        let mut pages = Vec::new();
        loop {
            let path = match &next {
                Some(s) => format!("/v1/device/contacts?limit={limit}&since={s}"),
                None => format!("/v1/device/contacts?limit={limit}"),
            };
            let a = self.device(token, "GET", &path, None);
            assert_eq!(a.status, 200, "{}", a.text());
            let page = a.json();
            let token = page["next_token"].as_str().unwrap().to_owned();
            let more = page["more"].as_bool().unwrap();
            pages.push(page);
            if !more {
                return (token, pages);
            }
            next = Some(token);
        }
    }

    /// `sync_pages`, the upserts of every page in order.
    pub fn sync_upserts(
        &self,
        token: &str,
        since: Option<&str>,
        limit: usize,
    ) -> (String, Vec<Value>) {
        let (token, pages) = self.sync_pages(token, since, limit);
        let upserts = pages
            .iter()
            .flat_map(|p| p["upserts"].as_array().unwrap().iter().cloned())
            .collect();
        (token, upserts)
    }

    /// The phone (`token`) reports holding exactly `held` as of `sync_token`; the server
    /// takes it (204).
    pub fn report_held<'a>(
        &self,
        token: &str,
        sync_token: &str,
        held: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        let a = self.device(
            token,
            "POST",
            "/v1/device/status",
            Some(held_report(sync_token, held)),
        );
        assert_eq!(a.status, 204, "{}", a.text());
    }

    pub fn device(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Answer {
        let auth = format!("Bearer {token}");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        request(
            self.addr(),
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
    }

    /// A directory user `id` (given name `id`, family name "X") in `groups`.
    pub fn add_user(&self, id: &str, groups: Value) {
        self.admin_ok(
            "POST",
            "/v1/admin/users",
            json!({"id": id, "contact": {"given_name": id, "family_name": "X", "display_name": ""},
                   "groups": groups}),
        );
    }

    /// Registers a device (user `u-000000`, policy `p`): `(device id, enrollment code)`.
    pub fn new_device(&self, name: &str) -> (String, String) {
        self.new_device_of(name, &seed::user_id(0), "p")
    }

    /// Registers a device of `user` on `policy`: `(device id, enrollment code)`.
    pub fn new_device_of(&self, name: &str, user: &str, policy: &str) -> (String, String) {
        let created = self.admin_ok(
            "POST",
            "/v1/admin/devices",
            json!({"name": name, "user_id": user, "policy_id": policy}),
        );
        (
            created["device"]["id"].as_str().unwrap().to_owned(),
            created["enrollment_code"].as_str().unwrap().to_owned(),
        )
    }

    pub fn enroll(&self, code: &str) -> Answer {
        enroll(self.addr(), code)
    }

    /// A registered and enrolled device: `(device id, token)`.
    pub fn enrolled_device(&self, name: &str) -> (String, String) {
        self.enrolled_device_of(name, &seed::user_id(0), "p")
    }

    /// A registered and enrolled device of `user` on `policy`: `(device id, token)`.
    pub fn enrolled_device_of(&self, name: &str, user: &str, policy: &str) -> (String, String) {
        let (id, code) = self.new_device_of(name, user, policy);
        let a = self.enroll(&code);
        assert_eq!(a.status, 201, "{}", a.text());
        (id, a.json()["token"].as_str().unwrap().to_owned())
    }
}

/// The smallest backup `POST /v1/device/backups` keeps: an archive of no contacts, with a
/// manifest that tells the truth. Its `Idempotency-Key` is `TINY_ZIP_KEY`.
pub fn tiny_zip() -> Vec<u8> {
    use std::io::Write;
    let manifest = serde_json::json!({
        "format": "contacts-agent-backup", "format_version": 1, "created_at": "2026-01-01T00:00:00Z",
        "contact_count": 0, "payload": "contacts.vcf", "payload_bytes": 0,
        "payload_sha256": TINY_ZIP_KEY, "vcard_version": "3.0"
    });
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file("contacts.vcf", opts).unwrap();
    zip.start_file("manifest.json", opts).unwrap();
    zip.write_all(manifest.to_string().as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

/// SHA-256 of an empty payload.
pub const TINY_ZIP_KEY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How a hand-written backup upload ended: the server's answer (if one came before the
/// connection closed) and the body bytes the client got onto the wire.
pub struct Upload {
    pub answer: Option<Answer>,
    pub sent: u64,
}

/// The body of a hand-written upload: `total` bytes, `piece` repeated (cut at `total`).
pub struct Body<'a> {
    piece: &'a [u8],
    total: u64,
    /// Say the length up front (`Content-Length`) rather than send it chunked.
    with_length: bool,
    /// Stop writing after this many bytes and close the connection.
    hang_up_after: Option<u64>,
}

impl<'a> Body<'a> {
    /// These bytes, once, chunked.
    pub fn whole(bytes: &'a [u8]) -> Body<'a> {
        Body::repeated(bytes, bytes.len() as u64)
    }

    /// `piece` repeated up to `total` bytes, chunked.
    pub fn repeated(piece: &'a [u8], total: u64) -> Body<'a> {
        Body {
            piece,
            total,
            with_length: false,
            hang_up_after: None,
        }
    }

    pub fn with_length(self) -> Body<'a> {
        Body {
            with_length: true,
            ..self
        }
    }

    pub fn hang_up_after(self, bytes: u64) -> Body<'a> {
        Body {
            hang_up_after: Some(bytes),
            ..self
        }
    }
}

/// `POST /v1/device/backups` written by hand, the body in writes of 64 KiB. A reader thread
/// collects the answer while the body is still being written, as a server may answer (507,
/// 413) and close before it has read it all.
pub fn upload_in_pieces(
    addr: SocketAddr,
    token: &str,
    key: &str,
    count: u64,
    body: &Body,
) -> Upload {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let length = if body.with_length {
        format!("Content-Length: {}\r\n", body.total)
    } else {
        "Transfer-Encoding: chunked\r\n".to_owned()
    };
    let head = format!(
        "POST /v1/device/backups HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nIdempotency-Key: {key}\r\nX-Contact-Count: {count}\r\n\
         Content-Type: application/zip\r\n{length}\r\n"
    );
    let mut reading = s.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        let mut raw = Vec::new();
        let _ = reading.read_to_end(&mut raw);
        raw
    });
    let piece = body.piece;
    let mut sent = 0u64;
    let stop = body.hang_up_after.unwrap_or(body.total).min(body.total);
    let mut ok = s.write_all(head.as_bytes()).is_ok();
    while ok && sent < stop {
        let at = (sent % piece.len() as u64) as usize;
        let n = ((stop - sent) as usize)
            .min(piece.len() - at)
            .min(64 * 1024);
        let bytes = &piece[at..at + n];
        ok = if body.with_length {
            s.write_all(bytes)
        } else {
            s.write_all(format!("{n:x}\r\n").as_bytes())
                .and_then(|()| s.write_all(bytes))
                .and_then(|()| s.write_all(b"\r\n"))
        }
        .is_ok();
        if ok {
            sent += n as u64;
        }
    }
    if body.hang_up_after.is_some() {
        // The client goes away mid-body: no end, no more bytes.
        let _ = s.shutdown(std::net::Shutdown::Both);
    } else if ok && !body.with_length {
        let _ = s.write_all(b"0\r\n\r\n");
    }
    let raw = reader.join().unwrap();
    Upload {
        answer: parse(&raw),
        sent,
    }
}
