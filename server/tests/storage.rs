//! The storage layer on whichever backend the suite runs on (SQLite files, or PostgreSQL
//! when CONTACTS_AGENT_TEST_POSTGRES is set): migrations from a frozen schema, two processes
//! migrating at once, concurrent writers, a database that goes away mid-request, and a
//! wrong database URL at start-up.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::sync::{Arc, Barrier};

use common::{fresh_database, test_postgres, TestServer, ADMIN_TOKEN};
use contacts_agent_server::db;
use contacts_agent_server::sql::{params, Conn, Database};
use serde_json::json;

/// The schema as the engine's catalogue describes it: tables, columns with their types,
/// defaults and collations, indexes, constraints and triggers, in a stable order.
fn schema(conn: &Conn) -> Vec<String> {
    let rows = |sql: &str| -> Vec<String> {
        conn.prepare_cached(sql)
            .unwrap()
            .query_map(params![], |r| r.get::<_, String>(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    match conn.as_sqlite() {
        Some(_) => rows(
            "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master
             ORDER BY type, name",
        ),
        None => [
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' '
                    || is_nullable || ' ' || COALESCE(column_default, '') || ' '
                    || COALESCE(collation_name, '') || ' ' || is_identity
             FROM information_schema.columns WHERE table_schema = 'public'
             ORDER BY table_name, column_name",
            "SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes
             WHERE schemaname = 'public' ORDER BY indexname",
            "SELECT 'constraint ' || c.conrelid::regclass::text || ' ' || c.conname || ' '
                    || pg_get_constraintdef(c.oid)
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE n.nspname = 'public' ORDER BY 1",
            "SELECT 'trigger ' || event_object_table || ' ' || trigger_name || ' '
                    || event_manipulation || ' ' || action_timing || ' '
                    || COALESCE(action_condition, '') || ' ' || action_statement
             FROM information_schema.triggers WHERE trigger_schema = 'public' ORDER BY 1",
            "SELECT 'function ' || p.proname || ' ' || md5(p.prosrc) FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
             ORDER BY 1",
        ]
        .iter()
        .flat_map(|q| rows(q))
        .collect(),
    }
}

#[test]
fn a_database_frozen_at_schema_12_with_data_upgrades_to_one_equal_to_a_fresh_one() {
    let dir = tempfile::tempdir().unwrap();
    let (old, _drop_old) = fresh_database(&dir.path().join("old"));
    std::fs::create_dir_all(dir.path().join("old")).unwrap();
    let frozen = db::open_at(&old, 12).unwrap();
    assert_eq!(db::schema_version(&frozen).unwrap(), 12);
    frozen
        .execute(
            "INSERT INTO devices (id, name, created_at) VALUES ('d-1', 'phone', '2026-11-25T10:00:00Z')",
            params![],
        )
        .unwrap();
    frozen
        .execute(
            "INSERT INTO sync_runs (device_id, at, result, contacts, received_at)
             VALUES ('d-1', '2026-11-25T10:00:00.000Z', 'ok', 3, '2026-11-25T10:00:01Z')",
            params![],
        )
        .unwrap();
    // A stored set as schema 12 kept it (one blob), which schema 14 cuts into chunks.
    frozen
        .execute(
            "INSERT INTO entitled_sets (fingerprint, entries) VALUES ('fp', ?1)",
            params![b"u-1\0h1\nu-2\0h2\n".to_vec()],
        )
        .unwrap();
    drop(frozen);

    let upgraded = db::open(&old).unwrap();
    assert_eq!(db::schema_version(&upgraded).unwrap(), db::SCHEMA_VERSION);
    let (count, chunk): (i64, Vec<u8>) = upgraded
        .query_row(
            "SELECT s.record_count, c.records FROM entitled_sets s
             JOIN set_chunks c ON c.set_id = s.id AND c.chunk_no = 0",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((count, chunk), (2, b"u-1\0h1\nu-2\0h2\n".to_vec()));
    let (contacts, reason): (i64, Option<String>) = upgraded
        .query_row(
            "SELECT contacts, reason FROM sync_runs WHERE device_id = 'd-1'",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (contacts, reason),
        (3, None),
        "the run kept, its new column empty"
    );

    std::fs::create_dir_all(dir.path().join("fresh")).unwrap();
    let (fresh, _drop_fresh) = fresh_database(&dir.path().join("fresh"));
    let fresh = db::open(&fresh).unwrap();
    let (a, b) = (schema(&upgraded), schema(&fresh));
    assert!(a.len() > 30, "the catalogue query found the schema: {a:?}");
    assert_eq!(a, b);
}

#[test]
fn two_processes_opening_a_new_database_at_once_migrate_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let (database, _drop) = fresh_database(dir.path());
    let start = Arc::new(Barrier::new(4));
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let (database, start) = (database.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let conn = db::open(&database).unwrap();
                db::schema_version(&conn).unwrap()
            })
        })
        .collect();
    for o in openers {
        assert_eq!(o.join().unwrap(), db::SCHEMA_VERSION);
    }
    let conn = db::open(&database).unwrap();
    let groups: i64 = conn
        .query_row("SELECT COUNT(*) FROM meta", params![], |r| r.get(0))
        .unwrap();
    assert_eq!(groups, 1, "the baseline's one row, inserted once");
    if conn.as_sqlite().is_none() {
        let versions: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_version", params![], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(versions, 1);
    }
}

#[test]
fn concurrent_writers_on_one_row_all_succeed_and_the_last_write_is_whole() {
    let t = Arc::new(TestServer::start(1));
    let start = Arc::new(Barrier::new(6));
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let (t, start) = (t.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for i in 0..8 {
                    let a = t.admin(
                        "PUT",
                        "/v1/admin/policies/p",
                        Some(json!({"name": format!("P {w} {i}"), "basic_type": "none",
                                    "additional_groups": ["harvey"], "sync_interval": "daily"})),
                    );
                    assert!((200..300).contains(&a.status), "{}: {}", a.status, a.text());
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let p = t.admin_ok("GET", "/v1/admin/policies/p", serde_json::Value::Null);
    assert!(p["name"].as_str().unwrap().starts_with("P "), "{p}");
    assert_eq!(p["additional_groups"], json!(["harvey"]));
}

/// PostgreSQL only: closing the server's connections from the database side (what a restart
/// or a failover does) answers 503 with Retry-After, never 500; the worker reconnects and the
/// next request is served. SQLite has no connection to lose.
#[test]
fn a_lost_database_connection_is_a_503_with_retry_after_then_the_worker_reconnects() {
    if test_postgres().is_none() {
        eprintln!("SQLite run: no connection to lose (runs with CONTACTS_AGENT_TEST_POSTGRES)");
        return;
    }
    let t = TestServer::start(3);
    let before = t.admin_ok("GET", "/v1/admin/users", serde_json::Value::Null);
    let killer = t.db();
    killer
        .execute_batch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let a = t.admin("GET", "/v1/admin/users", None);
        if a.status == 503 {
            assert_eq!(a.header("retry-after"), Some("2"), "{}", a.text());
            assert_eq!(a.json()["error"], "unavailable");
        } else {
            assert_eq!(a.status, 200, "{}", a.text());
            assert_eq!(a.json(), before, "the same answer once reconnected");
        }
        statuses.push(a.status);
    }
    assert_eq!(statuses[0], 503, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    assert!(
        statuses.iter().filter(|s| **s == 503).count() <= 2,
        "one per worker: {statuses:?}"
    );
}

#[test]
fn a_wrong_database_url_is_one_line_at_start_up_without_the_password() {
    let secret = "s3cret-Pa55word";
    let mut urls = vec![
        // Nothing listens on port 1.
        format!("postgres://app:{secret}@127.0.0.1:1/contacts"),
        format!("postgresql://app:{secret}@127.0.0.1:1/contacts?connect_timeout=2"),
        format!("postgres://app:{secret}@127.0.0.1:notaport/contacts"),
    ];
    if let Some(admin) = test_postgres() {
        // A database that does not exist, on a server that answers.
        let (scheme_host, _) = admin.rsplit_once('/').unwrap();
        let host = scheme_host.rsplit_once('@').map_or(scheme_host, |(_, h)| h);
        urls.push(format!(
            "postgres://postgres:{secret}@{host}/no_such_database_here"
        ));
    }
    for url in urls {
        let out = Command::new(env!("CARGO_BIN_EXE_contacts-agent-server"))
            .args(["--bind", "127.0.0.1:0", "--database", &url])
            .env("CONTACTS_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{url}: {stderr}");
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "{stderr}{stdout}"
        );
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("contacts-agent-server:"))
            .collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(
            errors[0].contains("app:***@") || errors[0].contains("postgres:***@"),
            "{stderr}"
        );
    }
}

#[test]
fn the_database_flag_and_its_environment_variable_pick_the_backend() {
    assert!(matches!(
        Database::parse("postgres://u@h:5432/d"),
        Database::Postgres(_)
    ));
    assert!(matches!(
        Database::parse("postgresql://u@h/d"),
        Database::Postgres(_)
    ));
    assert!(matches!(
        Database::parse("/var/lib/contacts/server.db"),
        Database::Sqlite(_)
    ));
    assert_eq!(
        Database::parse("postgres://u:pw@h/d").display(),
        "postgres://u:***@h/d"
    );
}

/// Every console page reads its data on this backend (the browser tests run on SQLite only):
/// the dashboard's counts, the device list under each filter and sort, searches, a device
/// that synced and reported, a policy, a group.
#[test]
fn every_console_page_and_the_fleet_counts_read_on_this_backend() {
    let t = TestServer::start(3);
    let (id, token) = t.enrolled_device("synced");
    t.new_device_of("waiting", &contacts_agent_server::seed::user_id(1), "p");
    let a = t.device(&token, "GET", "/v1/device/contacts", None);
    assert_eq!(a.status, 200, "{}", a.text());
    let page = a.json();
    let held: Vec<(String, String)> = page["upserts"]
        .as_array()
        .unwrap()
        .iter()
        .map(common::id_and_hash)
        .collect();
    let fp = contacts_agent_protocol::hash::set_fingerprint(
        held.iter().map(|(i, h)| (i.as_str(), h.as_str())),
    );
    let a = t.device(
        &token,
        "POST",
        "/v1/device/status",
        Some(
            json!({"reported_at": "2026-11-25T10:00:00Z", "last_sync_at": "2026-11-25T10:00:00Z",
                    "last_sync_result": "ok", "managed_count": held.len(),
                    "managed_fingerprint": fp, "sync_token": page["next_token"]}),
        ),
    );
    assert_eq!(a.status, 204, "{}", a.text());

    let counts = contacts_agent_server::device_list::counts(&t.db(), chrono::Utc::now()).unwrap();
    assert_eq!(
        (counts.all, counts.awaiting_enrollment),
        (2, 1),
        "{counts:?}"
    );

    let cookie = common::console_session(t.addr(), ADMIN_TOKEN);
    let mut pages = vec![
        "/console".to_owned(),
        "/console/devices/new".into(),
        "/console/policies".into(),
        "/console/policies/new".into(),
        "/console/policies/p".into(),
        "/console/users".into(),
        "/console/users?q=a".into(),
        "/console/groups".into(),
        "/console/groups?q=HAR".into(),
        "/console/groups/harvey".into(),
        "/console/settings".into(),
        format!("/console/devices/{id}"),
    ];
    for filter in [
        "all",
        "ok",
        "failing",
        "overdue",
        "never_synced",
        "retiring",
        "awaiting_enrollment",
    ] {
        for sort in ["name", "created", "last_sync", "next_sync"] {
            pages.push(format!("/console/devices?filter={filter}&sort={sort}"));
        }
    }
    for page in pages {
        let a = common::request(t.addr(), "GET", &page, &[("Cookie", cookie.as_str())], b"");
        assert_eq!(a.status, 200, "{page}: {}", a.text());
    }
}

/// A process that finds another one migrating waits for it, then finds the version there.
#[test]
fn opening_a_database_another_process_is_migrating_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (database, _drop) = fresh_database(dir.path());
    drop(db::open_at(&database, 12).unwrap());
    // The other process, mid-migration: it holds what a migration takes.
    let other = db::open_at(&database, 12).unwrap();
    let (hold, release) = match other.as_sqlite() {
        Some(_) => ("BEGIN IMMEDIATE".to_owned(), "ROLLBACK".to_owned()),
        None => (
            format!(
                "SELECT pg_advisory_lock({})",
                contacts_agent_server::sql::MIGRATION_LOCK
            ),
            format!(
                "SELECT pg_advisory_unlock({})",
                contacts_agent_server::sql::MIGRATION_LOCK
            ),
        ),
    };
    other.execute_batch(&hold).unwrap();
    let opener = {
        let database = database.clone();
        std::thread::spawn(move || db::schema_version(&db::open(&database).unwrap()).unwrap())
    };
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(
        !opener.is_finished(),
        "it waited for the migration in progress"
    );
    other.execute_batch(&release).unwrap();
    assert_eq!(opener.join().unwrap(), db::SCHEMA_VERSION);
}
