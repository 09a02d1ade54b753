//! The real agent (its HTTP client, its sync, a real SQLite phone) against two reference
//! servers on one PostgreSQL database (issue 16), through a round-robin front: each HTTP
//! connection goes to the next server and every answer closes its connection, so the
//! agent's consecutive requests, the pages of one sync included, alternate between them.
//! Then PostgreSQL is stopped in the middle of a first sync: the servers answer 503 with
//! Retry-After, the agent's client waits and retries, and the sync completes with exactly
//! the entitled contacts.
//!
//! The two servers run in this process (each with its own workers and connections; the
//! binary started twice is `server/tests/postgres_processes.rs`). Needs
//! `CONTACTS_AGENT_TEST_POSTGRES` and `CONTACTS_AGENT_TEST_POSTGRES_CTL` from
//! `scripts/postgres.sh`: ignored otherwise, failing when asked for without them.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{held, ACCOUNT, ADMIN_TOKEN};
use contacts_agent::agent::{Agent, AgentConfig};
use contacts_agent::demo::admin::AdminClient;
use contacts_agent::store::sqlite::SqliteStore;
use contacts_agent_server::sql::Database;
use contacts_agent_server::{seed, testing, Config, Server};
use serde_json::{json, Value};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run through scripts/postgres.sh (see this file's header)")
    })
}

fn ctl(args: &[&str]) {
    let status = std::process::Command::new(env("CONTACTS_AGENT_TEST_POSTGRES_CTL"))
        .args(args)
        .args(["-w", "-t", "60"])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctl {args:?}");
}

/// Called with each request line before it is forwarded.
type Hook = Arc<dyn Fn(&str) + Send + Sync>;

/// A load balancer of the plainest kind: connection `n` goes to `backends[n % len]`, and
/// `Connection: close` is put on each request so the next one comes on a new connection.
fn front(backends: Vec<SocketAddr>, hook: Hook) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().enumerate() {
            let Ok(client) = client else { continue };
            let backend = backends[n % backends.len()];
            let hook = Arc::clone(&hook);
            std::thread::spawn(move || relay(client, backend, &*hook));
        }
    });
    addr
}

fn relay(mut client: TcpStream, backend: SocketAddr, hook: &(dyn Fn(&str) + Send + Sync)) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines: Vec<&str> = text
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    hook(lines[0]);
    lines.push("Connection: close");
    let mut upstream = TcpStream::connect(backend).unwrap();
    upstream
        .write_all(format!("{}\r\n\r\n", lines.join("\r\n")).as_bytes())
        .unwrap();
    // The body (if any) and the answer, each way until its side closes.
    let (mut from_client, mut to_upstream) =
        (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_upstream);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = upstream.shutdown(Shutdown::Both);
}

fn server_on(url: &str) -> Server {
    Server::start(Config {
        workers: 2,
        ..Config::on(Database::Postgres(url.to_owned()), ADMIN_TOKEN)
    })
    .unwrap()
}

#[test]
#[ignore = "needs PostgreSQL: run through scripts/postgres.sh with --ignored"]
fn the_agent_syncs_through_two_servers_on_one_database_and_rides_out_a_restart() {
    let admin_url = env("CONTACTS_AGENT_TEST_POSTGRES");
    let url = testing::fresh_postgres_database(&admin_url).unwrap();
    {
        let conn = contacts_agent_server::db::open(Database::Postgres(url.clone())).unwrap();
        seed::seed_company(&conn, 60, 42).unwrap();
    }
    let (a, b) = (server_on(&url), server_on(&url));
    let contacts_requests = Arc::new(AtomicUsize::new(0));
    let served: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    // The third contacts request of the test's second sync (numbers counted below) finds
    // PostgreSQL stopped; it comes back two seconds later.
    let outage_at = Arc::new(AtomicUsize::new(usize::MAX));
    let hook: Hook = {
        let (count, served, outage_at) = (
            Arc::clone(&contacts_requests),
            Arc::clone(&served),
            Arc::clone(&outage_at),
        );
        Arc::new(move |line: &str| {
            served.lock().unwrap().push(line.to_owned());
            if line.starts_with("GET /v1/device/contacts") {
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                if n == outage_at.load(Ordering::SeqCst) {
                    ctl(&["stop", "-m", "fast"]);
                    std::thread::spawn(|| {
                        std::thread::sleep(Duration::from_secs(2));
                        ctl(&["start"]);
                    });
                }
            }
        })
    };
    let lb = front(vec![a.addr(), b.addr()], hook);
    let lb_url = format!("http://{lb}");

    let admin = AdminClient::new(&a.url(), ADMIN_TOKEN);
    let _: Value = admin
        .post(
            "/v1/admin/policies",
            &json!({"id": "all", "name": "All", "basic_type": "all_groups", "sync_interval": "daily"}),
        )
        .unwrap();
    let mut entitled = BTreeSet::new();
    for (g, _) in seed::GROUPS {
        let ids: Vec<String> = admin.get(&format!("/v1/admin/groups/{g}/members")).unwrap();
        entitled.extend(ids);
    }
    let dir = tempfile::tempdir().unwrap();
    let phone = |name: &str| {
        let created: Value = admin
            .post(
                "/v1/admin/devices",
                &json!({"name": name, "user_id": seed::user_id(0), "policy_id": "all"}),
            )
            .unwrap();
        let mut config = AgentConfig::new(dir.path().join(format!("{name}-state.db")));
        config.page_size = 7;
        let store = SqliteStore::open(&dir.path().join(format!("{name}.db")), ACCOUNT).unwrap();
        let mut agent = Agent::open(config, store).unwrap();
        agent
            .enroll(
                &lb_url,
                created["enrollment_code"].as_str().unwrap(),
                name,
                false,
            )
            .unwrap();
        agent
    };

    // A first sync in pages of 7, alternating between the servers.
    let mut first = phone("first");
    let before = contacts_requests.load(Ordering::SeqCst);
    first.sync_now().unwrap();
    let pages = contacts_requests.load(Ordering::SeqCst) - before;
    assert!(pages >= 4, "{pages} pages for {} contacts", entitled.len());
    assert_eq!(held(&mut first), entitled);

    // Another phone's first sync meets PostgreSQL stopped at its third page.
    let mut second = phone("second");
    let at = contacts_requests.load(Ordering::SeqCst) + 3;
    outage_at.store(at, Ordering::SeqCst);
    let report = second.sync_now().unwrap();
    assert!(
        contacts_requests.load(Ordering::SeqCst) > at,
        "the sync went past the outage"
    );
    assert_eq!(held(&mut second), entitled, "{report:?}");
    // The page that met the outage was asked for again: the same request line twice in a row.
    let lines = served.lock().unwrap().clone();
    assert!(
        lines
            .windows(2)
            .any(|w| w[0] == w[1] && w[0].starts_with("GET /v1/device/contacts")),
        "no contacts request was retried: {lines:#?}"
    );
}
