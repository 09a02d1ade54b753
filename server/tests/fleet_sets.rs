//! What the server keeps of what devices were sent (issue 15): each contact body once, as it
//! was sent, and what a device holds per its last report (`repo::held_contacts`).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::TestServer;
use contacts_agent_protocol::hash::set_fingerprint;
use contacts_agent_protocol::ContactData;
use contacts_agent_server::sql::Conn;
use contacts_agent_server::{db, repo};
use serde_json::json;

/// Users `a` and `b` in Harvey (what policy `p` sends), `c` in Sales; an enrolled device of
/// `c` on `p`: `(server, device id, token)`.
fn company() -> (TestServer, String, String) {
    let t = TestServer::start(1);
    for (id, groups) in [
        ("a", json!(["harvey"])),
        ("b", json!(["harvey"])),
        ("c", json!(["sales"])),
    ] {
        t.add_user(id, groups);
    }
    let (id, token) = t.enrolled_device_of("phone", "c", "p");
    (t, id, token)
}

type Held = BTreeMap<String, (String, ContactData)>;

/// One sync (every page, two changes a page) from `since`, applied to `held`: the sync token.
fn sync(t: &TestServer, token: &str, since: Option<&str>, held: &mut Held) -> String {
    let mut next = since.map(str::to_owned);
    loop {
        let path = match &next {
            Some(s) => format!("/v1/device/contacts?limit=2&since={s}"),
            None => "/v1/device/contacts?limit=2".to_owned(),
        };
        let a = t.device(token, "GET", &path, None);
        assert_eq!(a.status, 200, "{}", a.text());
        let page = a.json();
        if page["full"] == json!(true) && next.as_deref().is_none_or(|n| !n.starts_with("p.")) {
            held.clear();
        }
        for u in page["upserts"].as_array().unwrap() {
            let contact: ContactData = serde_json::from_value(u["contact"].clone()).unwrap();
            held.insert(
                u["id"].as_str().unwrap().to_owned(),
                (u["hash"].as_str().unwrap().to_owned(), contact),
            );
        }
        for d in page["deletes"].as_array().unwrap() {
            held.remove(d.as_str().unwrap());
        }
        next = Some(page["next_token"].as_str().unwrap().to_owned());
        if !page["more"].as_bool().unwrap() {
            return next.unwrap();
        }
    }
}

fn report(t: &TestServer, token: &str, sync_token: &str, held: &Held) {
    t.report_held(
        token,
        sync_token,
        held.iter().map(|(a, (h, _))| (a.as_str(), h.as_str())),
    );
}

fn conn(t: &TestServer) -> Conn {
    t.db()
}

#[test]
fn held_contacts_are_the_bodies_as_sent_with_what_is_pending() {
    let (t, id, token) = company();
    assert!(
        repo::held_contacts(&conn(&t), &id).unwrap().is_none(),
        "no report yet"
    );
    let mut held = Held::new();
    let t1 = sync(&t, &token, None, &mut held);
    assert!(held.contains_key("a") && held.contains_key("b"));
    report(&t, &token, &t1, &held);

    let shown = repo::held_contacts(&conn(&t), &id).unwrap().unwrap();
    assert_eq!(shown.sync_token, t1);
    assert_eq!(shown.pending, 0);
    let as_shown: Held = shown
        .contacts
        .iter()
        .map(|c| (c.id.clone(), (c.hash.clone(), c.contact.clone().unwrap())))
        .collect();
    assert_eq!(as_shown, held, "each contact exactly as it was sent");

    // The directory moves on; the phone has not synced: the console still shows what the
    // phone holds, and that one change is pending.
    t.admin_ok(
        "PUT",
        "/v1/admin/users/a",
        json!({"given_name": "Renamed", "family_name": "X", "display_name": ""}),
    );
    let shown = repo::held_contacts(&conn(&t), &id).unwrap().unwrap();
    assert_eq!(shown.pending, 1);
    let a = shown.contacts.iter().find(|c| c.id == "a").unwrap();
    assert!(a.pending);
    assert_eq!(a.contact.as_ref().unwrap().given_name, "a");
    assert!(!shown.contacts.iter().find(|c| c.id == "b").unwrap().pending);

    // After the sync and its report, the new body is what is held, nothing pending.
    let t2 = sync(&t, &token, Some(&t1), &mut held);
    report(&t, &token, &t2, &held);
    let shown = repo::held_contacts(&conn(&t), &id).unwrap().unwrap();
    assert_eq!(shown.pending, 0);
    let a = shown.contacts.iter().find(|c| c.id == "a").unwrap();
    assert_eq!(a.contact.as_ref().unwrap().given_name, "Renamed");

    let unknown = repo::held_contacts(&conn(&t), "d-0000000000000000");
    assert!(
        matches!(
            unknown,
            Err(contacts_agent_server::error::ApiError::NotFound(_))
        ),
        "{unknown:?}"
    );
}

fn count(conn: &Conn, table: &str) -> i64 {
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn set_of(conn: &Conn, token: &str) -> i64 {
    conn.query_row(
        "SELECT set_id FROM sync_tokens WHERE token = ?1",
        [token],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn devices_with_one_entitlement_share_one_set_and_tokens_are_small_rows() {
    let (t, _, token) = company();
    let other = t.enrolled_device_of("phone 2", "c", "p").1;
    let (mut h1, mut h2) = (Held::new(), Held::new());
    let t1 = sync(&t, &token, None, &mut h1);
    let t2 = sync(&t, &other, None, &mut h2);
    assert_eq!(h1, h2);
    let c = conn(&t);
    assert_ne!(t1, t2, "each device has its own token");
    assert_eq!(set_of(&c, &t1), set_of(&c, &t2), "naming one set");
    assert_eq!(count(&c, "entitled_sets"), 1);
    let fp: String = c
        .query_row("SELECT fingerprint FROM entitled_sets", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        fp,
        set_fingerprint(h1.iter().map(|(a, (h, _))| (a.as_str(), h.as_str())))
    );
}

#[test]
fn two_devices_racing_on_the_same_new_set_both_get_it_once() {
    let (t, _, token) = company();
    let other = t.enrolled_device_of("phone 2", "c", "p").1;
    let (mut h1, mut h2) = (Held::new(), Held::new());
    let mut t1 = sync(&t, &token, None, &mut h1);
    let mut t2 = sync(&t, &other, None, &mut h2);
    for round in 0..5 {
        t.admin_ok(
            "PUT",
            "/v1/admin/users/a",
            json!({"given_name": format!("A{round}"), "family_name": "X", "display_name": ""}),
        );
        let (n1, n2) = std::thread::scope(|s| {
            let (mut a, mut b) = (h1.clone(), h2.clone());
            let x = s.spawn(|| (sync(&t, &token, Some(&t1), &mut a), a));
            let y = s.spawn(|| (sync(&t, &other, Some(&t2), &mut b), b));
            (x.join().unwrap(), y.join().unwrap())
        });
        assert_eq!(n1.1, n2.1, "both devices got the same contacts");
        assert_eq!(n1.1["a"].1.given_name, format!("A{round}"));
        let c = conn(&t);
        assert_eq!(set_of(&c, &n1.0), set_of(&c, &n2.0), "one set for both");
        ((t1, h1), (t2, h2)) = (n1, n2);
    }
}

#[test]
fn a_token_whose_set_was_collected_answers_410_and_a_full_fetch_follows() {
    let (t, _, token) = company();
    let mut held = Held::new();
    let first = sync(&t, &token, None, &mut held);
    let mut last = first.clone();
    for round in 0..5 {
        t.admin_ok(
            "PUT",
            "/v1/admin/users/a",
            json!({"given_name": format!("A{round}"), "family_name": "X", "display_name": ""}),
        );
        last = sync(&t, &token, Some(&last), &mut held);
    }
    let c = conn(&t);
    // Tokens kept: the newest three; the sets only dropped tokens named are gone, and so are
    // the contact versions only they held.
    assert_eq!(count(&c, "sync_tokens"), 3);
    assert!(
        count(&c, "entitled_sets") <= 4,
        "{}",
        count(&c, "entitled_sets")
    );
    let versions_of_a: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM contact_versions WHERE body LIKE '%\"given_name\":\"A%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(versions_of_a <= 4, "{versions_of_a} versions of a kept");

    let a = t.device(
        &token,
        "GET",
        &format!("/v1/device/contacts?since={first}"),
        None,
    );
    assert_eq!(a.status, 410, "{}", a.text());
    let mut fresh = Held::new();
    let again = sync(&t, &token, None, &mut fresh);
    assert_eq!(fresh, held, "the full fetch brings what the deltas did");
    assert_eq!(set_of(&c, &again), set_of(&c, &last));

    // A set removed under a token (as collection would) is a 410 too, never a 500.
    c.execute(
        "DELETE FROM entitled_sets WHERE id = ?1",
        [set_of(&c, &last)],
    )
    .unwrap();
    c.execute("DELETE FROM entitlements", []).unwrap();
    let a = t.device(
        &token,
        "GET",
        &format!("/v1/device/contacts?since={last}"),
        None,
    );
    assert_eq!(a.status, 410, "{}", a.text());
    let mut fresh = Held::new();
    sync(&t, &token, None, &mut fresh);
    assert_eq!(fresh, held);
}

#[test]
fn a_device_whose_user_was_deleted_loses_the_users_groups_and_keeps_syncing() {
    let (t, id, token) = company();
    t.admin_ok(
        "PUT",
        "/v1/admin/policies/p",
        json!({"name": "P", "basic_type": "user_groups", "additional_groups": ["harvey"]}),
    );
    let mut held = Held::new();
    let t1 = sync(&t, &token, None, &mut held);
    assert!(held.contains_key("c"), "its user's own group (Sales)");
    let a = t.admin("DELETE", "/v1/admin/users/c", None);
    assert_eq!(a.status, 204, "{}", a.text());
    let t2 = sync(&t, &token, Some(&t1), &mut held);
    assert_ne!(t1, t2);
    assert!(!held.contains_key("c"));
    assert!(
        held.contains_key("a") && held.contains_key("b"),
        "Harvey stays"
    );
    let d = t.admin_ok("GET", &format!("/v1/admin/devices/{id}"), json!(null));
    assert_eq!(d["user_id"], json!(null));
    let mut again = held.clone();
    assert_eq!(
        sync(&t, &token, Some(&t2), &mut again),
        t2,
        "then no change"
    );
}

#[test]
fn an_upgraded_database_keeps_its_tokens_and_matches_a_fresh_one() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.db");
    let entries = [("a", "h1"), ("b", "h2")];
    let blob: Vec<u8> = entries
        .iter()
        .flat_map(|(id, h)| [id.as_bytes(), b"\0", h.as_bytes(), b"\n"].concat())
        .collect();
    {
        let c = rusqlite::Connection::open(&old).unwrap();
        for sql in [
            include_str!("../src/schema.sql"),
            include_str!("../src/schema_2_backups.sql"),
            include_str!("../src/schema_3_console.sql"),
            include_str!("../src/schema_4_devices.sql"),
            include_str!("../src/schema_5_policy_fields.sql"),
            include_str!("../src/schema_6_policy_schedule.sql"),
            include_str!("../src/schema_7_retired.sql"),
            include_str!("../src/schema_8_group_names.sql"),
            include_str!("../src/schema_9_contact_versions.sql"),
            include_str!("../src/schema_10_lifecycle.sql"),
        ] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 10).unwrap();
        c.execute(
            "INSERT INTO devices (id, name, created_at) VALUES ('d-1', 'old', '2026-01-01T00:00:00.000Z')",
            [],
        )
        .unwrap();
        for (token, seq) in [
            (format!("s{}", "a".repeat(32)), 1),
            (format!("s{}", "b".repeat(32)), 2),
        ] {
            c.execute(
                "INSERT INTO snapshots (token, device_id, seq, created_at, entries, directory_seq)
                 VALUES (?1, 'd-1', ?2, '2026-01-01T00:00:00.000Z', ?3, 5)",
                rusqlite::params![token, seq, blob],
            )
            .unwrap();
        }
    }
    let upgraded = db::open(&old).unwrap();
    let (fp, got) = contacts_agent_server::entitled_sets::token_entries(
        &upgraded,
        "d-1",
        &format!("s{}", "b".repeat(32)),
    )
    .unwrap()
    .unwrap();
    let want: Vec<(String, String)> = entries
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(fp, set_fingerprint(entries));
    assert_eq!(count(&upgraded, "entitled_sets"), 1, "two tokens, one set");
    assert_eq!(count(&upgraded, "sync_tokens"), 2);

    let fresh = db::open(&dir.path().join("fresh.db")).unwrap();
    let schema = |c: &Conn| -> Vec<(String, String, Option<String>)> {
        c.as_sqlite()
            .unwrap()
            .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(schema(&upgraded), schema(&fresh));
    assert!(!schema(&fresh).iter().any(|(_, n, _)| n == "snapshots"));
    // Schema 16's index reaches an upgraded database too (the comparison above covers it;
    // this says which of the latest steps it includes).
    assert!(schema(&upgraded)
        .iter()
        .any(|(_, n, _)| n == "users_id_hash"));
}
