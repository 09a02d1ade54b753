//! Slow and hostile clients against the reference server on loopback, with the agent's real
//! client syncing beside them: stalled connections hold their own sockets, never the workers
//! that other devices' syncs need.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use contacts_agent::agent::{Agent, AgentConfig};
use contacts_agent::client::{Client, ClientOptions};
use contacts_agent::demo::admin::AdminClient;
use contacts_agent::store::sqlite::SqliteStore;
use contacts_agent_server::{seed, Config, Server};
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "hostile-admin-token-0123456789";

fn server(dir: &std::path::Path, users: usize) -> (Server, AdminClient) {
    let db = dir.join("server.db");
    let conn = contacts_agent_server::db::open(&db).unwrap();
    seed::seed_company(&conn, users, 42).unwrap();
    drop(conn);
    let mut config = Config::local(db, ADMIN_TOKEN);
    config.workers = 2;
    let server = Server::start(config).unwrap();
    let admin = AdminClient::new(&server.url(), ADMIN_TOKEN);
    let _: Value = admin
        .post(
            "/v1/admin/policies",
            &json!({"id": "all", "name": "All", "basic_type": "all_groups",
                    "sync_interval": "daily"}),
        )
        .unwrap();
    (server, admin)
}

/// A new phone: enrolled, not yet synced.
fn phone(dir: &std::path::Path, url: &str, admin: &AdminClient, name: &str) -> Agent<SqliteStore> {
    let created: Value = admin
        .post(
            "/v1/admin/devices",
            &json!({"name": name, "policy_id": "all"}),
        )
        .unwrap();
    let code = created["enrollment_code"].as_str().unwrap();
    let home = dir.join(name);
    std::fs::create_dir_all(&home).unwrap();
    let store = SqliteStore::open(&home.join("phone.db"), "hostile").unwrap();
    let mut agent = Agent::open(AgentConfig::new(home.join("state.db")), store).unwrap();
    agent.enroll(url, code, name, false).unwrap();
    agent
}

/// First syncs of `n` fresh phones at once; the slowest one's time, or None when one of
/// them has not finished within `limit`.
fn concurrent_first_syncs(
    dir: &std::path::Path,
    url: &str,
    admin: &AdminClient,
    prefix: &str,
    n: usize,
    limit: Duration,
) -> Option<Duration> {
    let (tx, rx) = mpsc::channel();
    for i in 0..n {
        let (tx, dir, url) = (tx.clone(), dir.to_owned(), url.to_owned());
        let mut agent = phone(&dir, &url, admin, &format!("{prefix}-{i}"));
        std::thread::spawn(move || {
            let t = Instant::now();
            let r = agent.sync_now();
            let _ = tx.send((t.elapsed(), r.map(|r| r.managed_count)));
        });
    }
    let deadline = Instant::now() + limit;
    let mut slowest = Duration::ZERO;
    for _ in 0..n {
        let left = deadline.saturating_duration_since(Instant::now());
        let (took, result) = rx.recv_timeout(left).ok()?;
        assert!(result.unwrap() > 1000, "a sync must bring the company");
        slowest = slowest.max(took);
    }
    Some(slowest)
}

/// A complete-looking ZIP of `len` bytes that doesn't compress.
/// A real backup archive of about `len` bytes (one contact whose photo does not compress),
/// with its key: the server checks what it stores.
fn fake_archive(len: usize) -> (Vec<u8>, String) {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut photo = vec![0xFF, 0xD8, 0xFF, 0xE0];
    while photo.len() < len * 3 / 4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        photo.extend_from_slice(&x.to_le_bytes());
    }
    let contact = contacts_agent::store::PersonalData {
        display_name: "Big".into(),
        photo: Some(photo),
        ..Default::default()
    };
    let mut w =
        contacts_agent::backup::archive::ArchiveWriter::new(std::io::Cursor::new(Vec::new()))
            .unwrap();
    w.add(&contact).unwrap();
    let (m, out) = w.finish("t").unwrap();
    (out.into_inner(), m.payload_sha256)
}

fn connect(addr: SocketAddr, head: &[u8]) -> Option<TcpStream> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.write_all(head).ok()?;
    Some(s)
}

#[test]
fn five_hundred_stalled_connections_do_not_slow_other_devices_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = server(dir.path(), 2000);
    let url = server.url();
    let addr = server.addr();

    // A device with a 2 MB backup: the large answer the stalled readers ask for.
    let mut owner = phone(dir.path(), &url, &admin, "owner");
    let token = owner.state().enrollment().unwrap().unwrap().token;
    let (archive, sha) = fake_archive(2 << 20);
    let client = Client::new(&url, Some(token.clone()), ClientOptions::default()).unwrap();
    let (backup, _) = client.upload_backup(&archive, &sha, 1).unwrap();

    // Normal time: four first syncs at once on a quiet server.
    let quiet = concurrent_first_syncs(
        dir.path(),
        &url,
        &admin,
        "quiet",
        4,
        Duration::from_secs(60),
    )
    .expect("four first syncs on a quiet server");

    let mut stalled = Vec::new();
    // Headers that never end.
    for i in 0..200 {
        let head = format!("GET /v1/device/policy HTTP/1.1\r\nHost: x\r\nX-Slow-{i}: a");
        stalled.extend(connect(addr, head.as_bytes()));
    }
    // A declared body that never comes (under every route's limit, so it is waited for).
    for i in 0..250 {
        let path = if i % 2 == 0 {
            "/v1/enroll"
        } else {
            "/console/login"
        };
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 1000\r\n\r\n{{\"enrollment_code\":"
        );
        stalled.extend(connect(addr, head.as_bytes()));
    }
    // A large answer asked for four times on one connection and never read.
    let get = format!(
        "GET /v1/device/backups/{} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n",
        backup.id
    );
    for _ in 0..50 {
        stalled.extend(connect(addr, get.repeat(4).as_bytes()));
    }
    assert_eq!(stalled.len(), 500, "every stalled connection was accepted");
    // Let the server take them all in and start answering the readers that never read.
    std::thread::sleep(Duration::from_millis(500));

    let busy = concurrent_first_syncs(dir.path(), &url, &admin, "busy", 4, Duration::from_secs(60));
    eprintln!("four first syncs: quiet {quiet:?}, beside 500 stalled connections {busy:?}");
    let busy = busy.expect("other devices' syncs finish while 500 connections stall");
    assert!(
        busy <= quiet * 10 + Duration::from_secs(3),
        "syncs beside stalled connections took {busy:?}, {quiet:?} on a quiet server"
    );
    // The owner still gets its backup.
    let t = Instant::now();
    assert_eq!(
        client.download_backup(&backup.id).unwrap().len(),
        archive.len()
    );
    eprintln!("2 MB backup download beside them: {:?}", t.elapsed());
    drop(stalled);
    assert!(owner.sync_now().unwrap().managed_count > 1000);
}
