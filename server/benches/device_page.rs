//! The console's device list and the admin API's device page at fleet size, printed, not
//! asserted (issue 15: a page costs the same at 100 and 100,000 devices; target < 50 ms at
//! 10,000).
//!
//! `cargo bench -p contacts-agent-server --bench device_page` (BENCH_FLEETS=100,10000,100000):
//! for each fleet size a fresh database with that many devices, a fifth failing, a tenth
//! overdue, some never synced, spread over policies and users; then the median of 20 renders
//! of `GET /console/devices` (whole HTML page, in process, signed in), filtered pages, a page
//! deep in the list, the admin API's JSON page and the dashboard's counts.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::TOKEN;
use contacts_agent_server::http::Request;
use contacts_agent_server::routes::Ctx;
use contacts_agent_server::sql::{params, Conn};
use contacts_agent_server::{console, db, routes, seed, Config};

fn fleets() -> Vec<usize> {
    std::env::var("BENCH_FLEETS")
        .unwrap_or_else(|_| "100,10000,100000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

/// `n` devices with what their last reports said, as `device_list::record_report` stores it.
fn fleet(conn: &Conn, n: usize) {
    let now = chrono::Utc::now();
    let stamp =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let tx = conn.transaction().unwrap();
    for p in 0..10 {
        tx.execute(
            "INSERT INTO policies (id, name, basic_type, additional_groups, sync_interval, backup_interval, updated_at)
             VALUES (?1, ?2, 'all_groups', '[]', 'daily', 'weekly', ?3)",
            params![format!("p-{p}"), format!("Policy {p}"), stamp(now)],
        )
        .unwrap();
    }
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO devices (id, name, user_id, policy_id, token_hash, created_at, enrolled_at,
                     last_report_at, last_sync_at, next_sync_at, sync_failing, contacts_on_device, contacts_verified)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, 2000, 1)",
            )
            .unwrap();
        for i in 0..n {
            let never = i % 50 == 7;
            let last = now - chrono::Duration::minutes((i % 1440) as i64);
            let next = if i % 10 == 3 {
                now - chrono::Duration::hours(3)
            } else {
                last + chrono::Duration::days(1)
            };
            insert
                .execute(params![
                    format!("d-{i:08x}"),
                    format!("Phone {i:06}"),
                    seed::user_id(i % 300),
                    format!("p-{}", i % 10),
                    format!("token-{i}"),
                    stamp(now - chrono::Duration::days(30)),
                    (!never).then(|| stamp(last)),
                    (!never).then(|| stamp(last)),
                    (!never).then(|| stamp(next)),
                    i % 5 == 1,
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(ctx: &mut Ctx, cookie: &str, target: &str) -> (Duration, usize) {
    let mut req = Request::new("GET", target);
    let admin = target.starts_with("/v1/");
    req.headers.push(if admin {
        ("authorization".into(), format!("Bearer {TOKEN}"))
    } else {
        ("cookie".into(), format!("cas_session={cookie}"))
    });
    let mut runs = Vec::new();
    let mut bytes = 0;
    for _ in 0..20 {
        let t = Instant::now();
        let r = if admin {
            routes::dispatch(ctx, &req).unwrap()
        } else {
            console::dispatch(ctx, &req)
        };
        runs.push(t.elapsed());
        assert_eq!(
            r.status,
            200,
            "{target}: {}",
            String::from_utf8_lossy(&r.body)
        );
        bytes = r.body.len();
    }
    (median(runs), bytes)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!("device page at fleet size (median of 20, whole answer built in process)");
    for n in fleets() {
        let path = dir.path().join(format!("fleet-{n}.db"));
        let conn = db::open(&path).unwrap();
        seed::seed_company(&conn, 300, 42).unwrap();
        fleet(&conn, n);
        conn.execute(
            "INSERT INTO console_sessions (id, csrf, created_at, lang) VALUES ('bench', 'csrf', datetime('now'), 'en')",
            [],
        )
        .unwrap();
        let config = Config::local(path.clone(), TOKEN);
        let mut ctx = Ctx::new(conn, &config);
        println!("\n{n} devices");
        let deep = format!("/console/devices?offset={}", (n / 2) / 50 * 50);
        for target in [
            "/console/devices",
            "/console/devices?filter=failing",
            "/console/devices?filter=overdue",
            "/console/devices?policy_id=p-3",
            "/console/devices?sort=last_sync",
            deep.as_str(),
            "/v1/admin/devices?limit=100",
            "/console",
        ] {
            let (t, bytes) = time(&mut ctx, "bench", target);
            println!(
                "  {target:<42} {:>8.2} ms  {:>7} bytes",
                t.as_secs_f64() * 1000.0,
                bytes
            );
        }
    }
}
