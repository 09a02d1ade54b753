//! Bulk directory import against one POST per user, printed, not asserted.
//!
//! `cargo bench -p contacts-agent-server --bench import` (BENCH_USERS=100000 by default,
//! BENCH_POSTS=10000): the import of BENCH_USERS seeded people with their groups, straight
//! into the database (what `contacts-agent-server import FILE` does) and as one
//! `POST /v1/admin/import` over loopback; then the baseline in the same run, BENCH_POSTS
//! single `POST /v1/admin/users` on another fresh database, with the time per POST at the
//! start and at the end of the load (it must not grow with the directory).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Instant;

use common::{env_usize, Client, TOKEN};
use contacts_agent_server::{db, import, repo, seed, Config, Server};
use serde_json::json;

/// Seeded person `i` with one to three groups, as `seed_company` spreads them.
fn groups_of(i: usize) -> Vec<&'static str> {
    let big = &seed::GROUPS[2..];
    let mut g = vec![big[i % big.len()].0];
    if i.is_multiple_of(3) {
        g.push(big[(i / 3) % big.len()].0);
    }
    if i.is_multiple_of(33) {
        g.push("harvey");
    }
    g.dedup();
    g
}

fn ndjson(users: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(users * 450);
    for i in 0..users {
        let line =
            json!({"id": seed::user_id(i), "contact": seed::person(i, 42), "groups": groups_of(i)});
        serde_json::to_writer(&mut out, &line).unwrap();
        out.push(b'\n');
    }
    out
}

/// A fresh database holding only the seeded groups.
fn fresh_db(dir: &tempfile::TempDir, name: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    let conn = db::open(&path).unwrap();
    seed::seed_company(&conn, 0, 42).unwrap();
    path
}

/// One kept-alive HTTP/1.1 connection: requests in turn, answers read by Content-Length.
fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let users = env_usize("BENCH_USERS", 100_000);
    let posts = env_usize("BENCH_POSTS", 10_000);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();

    if only.is_empty() || only == "import" {
        let t = Instant::now();
        let data = ndjson(users);
        println!(
            "import: {users} users, {:.1} MB of NDJSON (generated in {:.0} ms)",
            data.len() as f64 / 1e6,
            ms(t.elapsed())
        );

        // Straight into the database: `contacts-agent-server import FILE`.
        let path = fresh_db(&dir, "direct.db");
        let conn = db::open(&path).unwrap();
        let t = Instant::now();
        let tx = conn.transaction().unwrap();
        let done = import::ndjson(&tx, &data).unwrap();
        tx.commit().unwrap();
        let direct = t.elapsed();
        println!(
            "import into the database: {:.2} s ({:.1} µs per user; {} created, {} memberships)",
            direct.as_secs_f64(),
            direct.as_secs_f64() * 1e6 / users as f64,
            done.created,
            done.memberships
        );

        // The same file again: every user replaced.
        let t = Instant::now();
        let tx = conn.transaction().unwrap();
        let again = import::ndjson(&tx, &data).unwrap();
        tx.commit().unwrap();
        println!(
            "the same file again (all {} updated): {:.2} s",
            again.updated,
            t.elapsed().as_secs_f64()
        );

        // One POST over loopback.
        let path = fresh_db(&dir, "http.db");
        let mut config = Config::local(path, TOKEN);
        config.workers = 2;
        let server = Server::start(config).unwrap();
        let mut c = Client::new(server.addr());
        let t = Instant::now();
        let (code, answer) = c.send("POST", "/v1/admin/import", TOKEN, import::NDJSON, &data);
        let http = t.elapsed();
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&answer));
        println!(
            "POST /v1/admin/import over loopback: {:.2} s",
            http.as_secs_f64()
        );
        server.stop();
    }

    if only.is_empty() || only == "posts" {
        // Baseline: one POST per user, as a console or a script without the import does it.
        let path = fresh_db(&dir, "posts.db");
        let mut config = Config::local(path.clone(), TOKEN);
        config.workers = 2;
        let server = Server::start(config).unwrap();
        let mut c = Client::new(server.addr());
        let window = (posts / 20).max(1);
        let mut times = Vec::with_capacity(posts);
        let all = Instant::now();
        for i in 0..posts {
            let body = json!({"id": seed::user_id(i), "contact": seed::person(i, 42), "groups": groups_of(i)})
                .to_string();
            let t = Instant::now();
            let (code, answer) = c.send(
                "POST",
                "/v1/admin/users",
                TOKEN,
                "application/json",
                body.as_bytes(),
            );
            times.push(t.elapsed());
            assert_eq!(code, 201, "{}", String::from_utf8_lossy(&answer));
        }
        let total = all.elapsed();
        let mean = |s: &[std::time::Duration]| {
            s.iter().map(|d| ms(*d)).sum::<f64>() / s.len().max(1) as f64
        };
        println!(
            "baseline, {posts} single POST /v1/admin/users: {:.2} s; per POST {:.3} ms over the first {window}, {:.3} ms over the last {window}",
            total.as_secs_f64(),
            mean(&times[..window.min(times.len())]),
            mean(&times[times.len().saturating_sub(window)..])
        );
        if only.is_empty() {
            println!(
                "  at that rate {users} users would take {:.1} s",
                total.as_secs_f64() * users as f64 / posts.max(1) as f64
            );
        }
        server.stop();
        let conn = db::open(&path).unwrap();
        assert_eq!(repo::list_users(&conn, None, 0, 1).unwrap().0, posts as u64);
    }
}
