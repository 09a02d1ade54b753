//! What a fleet of devices costs the server: storage per device, server CPU per sync by kind,
//! and no-change syncs per second with 1, 2, 4 and 8 workers. Printed, not asserted.
//!
//! `cargo bench -p contacts-agent-server --bench sync_costs` (COSTS_USERS=10000 contacts on an
//! all-groups policy, COSTS_DEVICES=50, COSTS_WORKERS=1,2,4,8, COSTS_SECONDS=3 per worker
//! count). Each device syncs over loopback HTTP/1.1 as the agent does (every page, then from
//! its token). "Server CPU" is the CPU time of this process's threads other than the clients
//! (/proc/self/task/*/schedstat), per sync.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{env_usize, Client, TOKEN};
use contacts_agent_server::{db, seed, Config, Server};
use serde_json::{json, Value};

/// CPU seconds each live thread of this process that is not a client has run, by thread id
/// (/proc/self/task/*/schedstat: nanoseconds, finer than the 10 ms ticks of `stat`).
fn server_threads() -> std::collections::HashMap<String, f64> {
    let mut out = std::collections::HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let dir = task.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == "fleet-client" {
            continue;
        }
        let Ok(sched) = std::fs::read_to_string(dir.join("schedstat")) else {
            continue;
        };
        let ns: f64 = sched.split(' ').next().unwrap().parse().unwrap();
        out.insert(task.file_name().to_string_lossy().into_owned(), ns / 1e9);
    }
    out
}

fn server_cpu_since(before: &std::collections::HashMap<String, f64>) -> f64 {
    server_threads()
        .iter()
        .map(|(tid, s)| s - before.get(tid).copied().unwrap_or(0.0))
        .sum()
}

/// One kept-alive HTTP/1.1 connection.
/// The JSON calls a device and the admin make, on the shared client.
impl Client {
    /// A call that must succeed; its JSON answer (null when empty).
    fn call(&mut self, method: &str, path: &str, bearer: &str, body: Option<&Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (code, answer) = self.send(method, path, bearer, "application/json", body.as_bytes());
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
    let before = server_threads();
    let t = Instant::now();
    let out = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("fleet-client".into())
            .spawn_scoped(s, work)
            .unwrap()
            .join()
            .unwrap()
    });
    let wall = t.elapsed();
    (out, wall, server_cpu_since(&before))
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
    let users = env_usize("COSTS_USERS", 10_000);
    let n = env_usize("COSTS_DEVICES", 50);
    let seconds = env_usize("COSTS_SECONDS", 3) as u64;
    let workers: Vec<usize> = std::env::var("COSTS_WORKERS")
        .unwrap_or_else(|_| "1,2,4,8".into())
        .split(',')
        .filter_map(|w| w.trim().parse().ok())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    {
        let conn = db::open(&path).unwrap();
        seed::seed_company(&conn, users, 42).unwrap();
    }
    let start = |workers: usize| {
        let mut config = Config::local(path.clone(), TOKEN);
        config.workers = workers;
        Server::start(config).unwrap()
    };
    let server = start(4);
    let addr = server.addr();
    // A fresh connection per admin call: the server closes idle ones during the long rounds.
    let admin = |method: &str, path: &str, body: Option<&Value>| {
        Client::new(addr).call(method, path, TOKEN, body)
    };
    admin(
        "POST",
        "/v1/admin/policies",
        Some(
            &json!({"id": "all", "name": "All", "basic_type": "all_groups", "sync_interval": "daily"}),
        ),
    );
    let mut devices: Vec<Device> = (0..n)
        .map(|i| {
            let created = admin("POST", "/v1/admin/devices", Some(&json!({"name": format!("phone {i}"), "user_id": seed::user_id(i % users.max(1)),
                             "policy_id": "all"})),
            );
            let code = created["enrollment_code"].as_str().unwrap();
            let enrolled = Client::new(addr).call(
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
    admin(
        "POST",
        "/v1/admin/devices",
        Some(&json!({"name": "unrelated", "policy_id": "all"})),
    );
    admin(
        "POST",
        "/v1/admin/users",
        Some(
            &json!({"id": "nobody", "contact": {"given_name": "No", "family_name": "Group", "display_name": ""}}),
        ),
    );
    admin(
        "PUT",
        "/v1/admin/users/nobody",
        Some(&json!({"given_name": "Still", "family_name": "Nobody", "display_name": ""})),
    );
    report("after an unrelated change", round(&mut devices, false));
    for i in 0..3 {
        let id = seed::user_id(i);
        let mut user = admin("GET", &format!("/v1/admin/users/{id}"), None);
        user["contact"]["given_name"] = json!(format!("Changed{i}"));
        admin(
            "PUT",
            &format!("/v1/admin/users/{id}"),
            Some(&user["contact"]),
        );
        report(
            "after a relevant change (1 user)",
            round(&mut devices, false),
        );
    }
    report("no change", round(&mut devices, false));
    server.stop();

    let conn = db::open(&path).unwrap();
    let sizes = sizes(conn.as_sqlite().expect("the bench runs on SQLite"));
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
        "set_chunks",
        "entitlements",
        "set_deltas",
        "delta_chunks",
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
    // and over, for COSTS_SECONDS (the no-change path: what most of a fleet's syncs are).
    println!("no-change syncs per second, 8 client threads:");
    for &w in &workers {
        let server = start(w);
        let addr = server.addr();
        let clients = 8;
        let until = Instant::now() + Duration::from_secs(seconds);
        let before = server_threads();
        let t = Instant::now();
        let done: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..clients)
                .map(|k| {
                    let mine: Vec<&Device> = devices.iter().skip(k).step_by(clients).collect();
                    std::thread::Builder::new()
                        .name("fleet-client".into())
                        .spawn_scoped(s, move || {
                            let mut c = Client::new(addr);
                            let mut count = 0;
                            while Instant::now() < until {
                                for d in &mine {
                                    let (t, changes) = c.sync(&d.bearer, Some(&d.sync_token));
                                    assert_eq!((t.as_str(), changes), (d.sync_token.as_str(), 0));
                                    count += 1;
                                }
                            }
                            count
                        })
                        .unwrap()
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let wall = t.elapsed().as_secs_f64();
        let syncs: usize = done.iter().sum();
        let server_cpu = server_cpu_since(&before);
        println!(
            "  {w} workers: {:>7.0} syncs/s, server CPU {:.3} ms per sync",
            syncs as f64 / wall,
            ms(server_cpu) / syncs as f64
        );
        server.stop();
    }
}
