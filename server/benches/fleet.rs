//! What a fleet of devices costs the server: storage per device, server CPU per sync by kind,
//! and no-change syncs per second with 1, 2, 4 and 8 workers. Printed, not asserted.
//!
//! `cargo bench -p contacts-agent-server --bench fleet` (FLEET_USERS=10000 contacts on an
//! all-groups policy, FLEET_DEVICES=50, FLEET_WORKERS=1,2,4,8, FLEET_SECONDS=3 per worker
//! count). Each device syncs over loopback HTTP/1.1 as the agent does (every page, then from
//! its token). "Server CPU" is this process's CPU time minus what the client threads used
//! (each reads its own from /proc/thread-self/stat), per sync.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use contacts_agent_server::{db, seed, Config, Server};
use serde_json::{json, Value};

const TOKEN: &str = "bench-admin-token-0123456789";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) from a /proc stat line.
fn cpu_of(stat: &str) -> f64 {
    // Fields after the command name (which may hold spaces) start at ")".
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn process_cpu() -> f64 {
    cpu_of(&std::fs::read_to_string("/proc/self/stat").unwrap())
}

fn thread_cpu() -> f64 {
    cpu_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap())
}

/// One kept-alive HTTP/1.1 connection.
struct Client {
    reader: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(s),
            addr,
        }
    }

    fn call(&mut self, method: &str, path: &str, bearer: &str, body: Option<&Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {bearer}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let s = self.reader.get_mut();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body.as_bytes()).unwrap();
        let mut status = String::new();
        self.reader.read_line(&mut status).unwrap();
        let code: u16 = status.split(' ').nth(1).unwrap().parse().unwrap();
        let mut len = 0;
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                }
            }
        }
        let mut answer = vec![0; len];
        self.reader.read_exact(&mut answer).unwrap();
        assert!(
            (200..300).contains(&code),
            "{method} {path} -> {code}: {}",
            String::from_utf8_lossy(&answer)
        );
        if answer.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&answer).unwrap()
        }
    }

    /// One sync from `since`, every page: the new token and how many changes it carried.
    fn sync(&mut self, device: &str, since: Option<&str>) -> (String, usize) {
        let mut next = since.map(str::to_owned);
        let mut changes = 0;
        loop {
            let path = match &next {
                Some(s) => format!("/v1/device/contacts?since={s}"),
                None => "/v1/device/contacts".to_owned(),
            };
            let page = self.call("GET", &path, device, None);
            changes += page["upserts"].as_array().unwrap().len()
                + page["deletes"].as_array().unwrap().len();
            next = Some(page["next_token"].as_str().unwrap().to_owned());
            if !page["more"].as_bool().unwrap() {
                return (next.unwrap(), changes);
            }
        }
    }
}

struct Device {
    bearer: String,
    sync_token: String,
}

/// Runs `work` on a client thread; returns what it returned, the wall time, and the server's
/// CPU seconds meanwhile (the process's minus the client thread's).
fn measured<T: Send>(work: impl FnOnce() -> T + Send) -> (T, Duration, f64) {
    let cpu0 = process_cpu();
    let t = Instant::now();
    let (out, client_cpu) = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("fleet-client".into())
            .spawn_scoped(s, || {
                let c0 = thread_cpu();
                let out = work();
                (out, thread_cpu() - c0)
            })
            .unwrap()
            .join()
            .unwrap()
    });
    let wall = t.elapsed();
    (out, wall, (process_cpu() - cpu0 - client_cpu).max(0.0))
}

fn ms(s: f64) -> f64 {
    s * 1000.0
}

/// Bytes per table and index (dbstat).
fn sizes(conn: &rusqlite::Connection) -> Vec<(String, i64)> {
    conn.prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn main() {
    let users = env_usize("FLEET_USERS", 10_000);
    let n = env_usize("FLEET_DEVICES", 50);
    let seconds = env_usize("FLEET_SECONDS", 3) as u64;
    let workers: Vec<usize> = std::env::var("FLEET_WORKERS")
        .unwrap_or_else(|_| "1,2,4,8".into())
        .split(',')
        .filter_map(|w| w.trim().parse().ok())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    {
        let mut conn = db::open(&path).unwrap();
        seed::seed_company(&mut conn, users, 42).unwrap();
    }
    let start = |workers: usize| {
        let mut config = Config::local(path.clone(), TOKEN);
        config.workers = workers;
        Server::start(config).unwrap()
    };
    let server = start(4);
    let addr = server.addr();
    let mut admin = Client::new(addr);
    admin.call(
        "POST",
        "/v1/admin/policies",
        TOKEN,
        Some(&json!({"id": "all", "name": "All", "basic_type": "all_groups", "sync_interval": "daily"})),
    );
    let mut devices: Vec<Device> = (0..n)
        .map(|i| {
            let created = admin.call(
                "POST",
                "/v1/admin/devices",
                TOKEN,
                Some(&json!({"name": format!("phone {i}"), "user_id": seed::user_id(i % users.max(1)),
                             "policy_id": "all"})),
            );
            let code = created["enrollment_code"].as_str().unwrap();
            let enrolled = admin.call(
                "POST",
                "/v1/enroll",
                "",
                Some(&json!({"enrollment_code": code, "device_name": ""})),
            );
            Device {
                bearer: enrolled["token"].as_str().unwrap().to_owned(),
                sync_token: String::new(),
            }
        })
        .collect();
    println!("fleet: {users} contacts (all groups), {n} devices, server {addr}");

    // Each kind: every device syncs once, one after another, on one connection.
    let round = |devices: &mut Vec<Device>, full: bool| {
        let ((), wall, cpu) = measured(|| {
            let mut c = Client::new(addr);
            for d in devices.iter_mut() {
                let since = (!full).then_some(d.sync_token.as_str());
                d.sync_token = c.sync(&d.bearer, since).0;
            }
        });
        (wall, cpu)
    };
    let report = |kind: &str, (wall, cpu): (Duration, f64)| {
        println!(
            "  {kind:<32} server CPU {:>8.2} ms per device sync (wall {:.2} ms)",
            ms(cpu) / n as f64,
            wall.as_secs_f64() * 1000.0 / n as f64
        );
    };
    println!("server CPU per sync, by kind (each device once, in turn):");
    report("first (full, every page)", round(&mut devices, true));
    report("no change", round(&mut devices, false));
    admin.call(
        "POST",
        "/v1/admin/devices",
        TOKEN,
        Some(&json!({"name": "unrelated", "policy_id": "all"})),
    );
    admin.call(
        "POST",
        "/v1/admin/users",
        TOKEN,
        Some(&json!({"id": "nobody", "contact": {"given_name": "No", "family_name": "Group", "display_name": ""}})),
    );
    admin.call(
        "PUT",
        "/v1/admin/users/nobody",
        TOKEN,
        Some(&json!({"given_name": "Still", "family_name": "Nobody", "display_name": ""})),
    );
    report("after an unrelated change", round(&mut devices, false));
    for i in 0..3 {
        let id = seed::user_id(i);
        let mut user = admin.call("GET", &format!("/v1/admin/users/{id}"), TOKEN, None);
        user["contact"]["given_name"] = json!(format!("Changed{i}"));
        admin.call(
            "PUT",
            &format!("/v1/admin/users/{id}"),
            TOKEN,
            Some(&user["contact"]),
        );
        report(
            "after a relevant change (1 user)",
            round(&mut devices, false),
        );
    }
    report("no change", round(&mut devices, false));
    drop(admin);
    server.stop();

    let conn = db::open(&path).unwrap();
    let sizes = sizes(&conn);
    let of = |names: &[&str]| -> i64 {
        sizes
            .iter()
            .filter(|(name, _)| names.iter().any(|p| name.contains(p)))
            .map(|(_, b)| b)
            .sum()
    };
    let per_device = of(&["snapshots", "sync_tokens"]);
    let shared = of(&[
        "entitled_sets",
        "entitlements",
        "set_deltas",
        "contact_versions",
    ]);
    println!(
        "storage after 5 syncs each: sync state per device {:.0} bytes ({per_device} bytes for {n} devices); \
         shared sets, deltas and contact versions {:.2} MB",
        per_device as f64 / n as f64,
        shared as f64 / 1e6
    );
    for (name, bytes) in sizes.iter().take(12) {
        println!("    {name:<32} {bytes:>12} bytes");
    }
    drop(conn);

    // Throughput: every client thread syncs its share of the devices from their tokens, over
    // and over, for FLEET_SECONDS (the no-change path: what most of a fleet's syncs are).
    println!("no-change syncs per second, 8 client threads:");
    for &w in &workers {
        let server = start(w);
        let addr = server.addr();
        let clients = 8;
        let until = Instant::now() + Duration::from_secs(seconds);
        let cpu0 = process_cpu();
        let t = Instant::now();
        let done: Vec<(usize, f64)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..clients)
                .map(|k| {
                    let mine: Vec<&Device> = devices.iter().skip(k).step_by(clients).collect();
                    std::thread::Builder::new()
                        .name("fleet-client".into())
                        .spawn_scoped(s, move || {
                            let c0 = thread_cpu();
                            let mut c = Client::new(addr);
                            let mut count = 0;
                            while Instant::now() < until {
                                for d in &mine {
                                    let (t, changes) = c.sync(&d.bearer, Some(&d.sync_token));
                                    assert_eq!((t.as_str(), changes), (d.sync_token.as_str(), 0));
                                    count += 1;
                                }
                            }
                            (count, thread_cpu() - c0)
                        })
                        .unwrap()
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let wall = t.elapsed().as_secs_f64();
        let syncs: usize = done.iter().map(|d| d.0).sum();
        let client_cpu: f64 = done.iter().map(|d| d.1).sum();
        let server_cpu = (process_cpu() - cpu0 - client_cpu).max(0.0);
        println!(
            "  {w} workers: {:>7.0} syncs/s, server CPU {:.3} ms per sync",
            syncs as f64 / wall,
            ms(server_cpu) / syncs as f64
        );
        server.stop();
    }
}
