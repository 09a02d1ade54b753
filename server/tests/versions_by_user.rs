//! Sent contact versions keyed by user and hash (schema 15, issue 13), on whichever backend
//! the suite runs on: a database at schema 14 keeps every version its stored sets name, under
//! the user each was sent for, and the console's view of a phone is the same after the
//! upgrade; a version no set names is dropped; two users with the same body keep one version
//! each, and collecting one user's leaves the other's; a stored set that does not decode stops
//! the upgrade and loses nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{fresh_database, request, Answer, TestServer, ADMIN_TOKEN};
use contacts_agent_protocol::hash::set_fingerprint;
use contacts_agent_protocol::wire::StatusReport;
use contacts_agent_protocol::ContactData;
use contacts_agent_server::entitled_sets::{self, held_contacts};
use contacts_agent_server::snapshot::{self, Change, Entries, CHUNK_RECORDS};
use contacts_agent_server::sql::{params, Conn};
use contacts_agent_server::{db, repo, seed, Config, Server};
use serde_json::json;

fn get(addr: std::net::SocketAddr, token: &str, path: &str) -> Answer {
    let auth = format!("Bearer {token}");
    request(addr, "GET", path, &[("Authorization", auth.as_str())], b"")
}

fn count(conn: &Conn, sql: &str, p: &[&str]) -> i64 {
    conn.query_row(sql, p, |r| r.get(0)).unwrap()
}

fn twin() -> ContactData {
    serde_json::from_value(json!({"given_name": "Twin", "family_name": "Same", "display_name": ""}))
        .unwrap()
}

/// The `(user id, hash)` rows of `contact_versions`.
fn version_keys(conn: &Conn) -> BTreeSet<(String, String)> {
    let mut rows = BTreeSet::new();
    let mut stmt = conn
        .prepare_cached("SELECT user_id, hash FROM contact_versions")
        .unwrap();
    let mut q = stmt.query(params![]).unwrap();
    while let Some(r) = q.next().unwrap() {
        rows.insert((r.get(0).unwrap(), r.get(1).unwrap()));
    }
    rows
}

/// Stores `entries` as schema 14 did (a set row with its count, its chunks) and a token of
/// `device` naming it.
fn store_set_at_14(conn: &Conn, entries: &Entries, device: &str, token: &str, seq: i64) {
    let fp = set_fingerprint(entries.iter().map(|(a, b)| (a.as_str(), b.as_str())));
    conn.execute(
        "INSERT INTO entitled_sets (fingerprint, record_count) VALUES (?1, ?2)",
        params![fp, entries.len() as i64],
    )
    .unwrap();
    let id: i64 = conn
        .query_row(
            "SELECT id FROM entitled_sets WHERE fingerprint = ?1",
            [&fp],
            |r| r.get(0),
        )
        .unwrap();
    let blob = snapshot::encode(entries);
    for (no, chunk) in snapshot::chunks(&blob, CHUNK_RECORDS)
        .into_iter()
        .enumerate()
    {
        conn.execute(
            "INSERT INTO set_chunks (set_id, chunk_no, records) VALUES (?1, ?2, ?3)",
            params![id, no as i64, chunk.to_vec()],
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO sync_tokens (token, device_id, seq, set_id, entitlement_id, stamp)
         VALUES (?1, ?2, ?3, ?4, NULL, 0)",
        params![token, device, seq, id],
    )
    .unwrap();
}

#[test]
fn a_database_at_schema_14_keeps_the_versions_its_sets_name_under_their_users() {
    let dir = tempfile::tempdir().unwrap();
    let (database, _drop) = fresh_database(dir.path());
    let frozen = db::open_at(&database, 14).unwrap();
    assert_eq!(db::schema_version(&frozen).unwrap(), 14);
    seed::seed_company(&frozen, 1100, 42).unwrap();
    // Two people with the same contact data: one content hash, one row at schema 14.
    for id in ["twin-a", "twin-b"] {
        repo::create_user(&frozen, Some(id.into()), twin()).unwrap();
        repo::add_member(&frozen, seed::GROUPS[0].0, id).unwrap();
    }
    let (device, bearer) = common::enrolled_on_all_groups(&frozen);

    // What the phone was sent (`new`, its last report names it) and what it held before
    // (`old`: some contacts it lacked, some in an older version), each body stored by hash as
    // schema 14 did; plus a version no set names.
    let d = repo::get_device(&frozen, &device).unwrap();
    let groups_json = repo::entitled_groups_json(&frozen, &d).unwrap();
    let groups = repo::EntitledGroups::read(&frozen, &groups_json).unwrap();
    let new: Entries = repo::entitled_entries(&frozen, &groups_json, None).unwrap();
    assert!(new.len() > 2 * CHUNK_RECORDS, "{} contacts", new.len());
    let twin_hash = new.iter().find(|(id, _)| id == "twin-a").unwrap().1.clone();
    assert_eq!(
        new.iter().find(|(id, _)| id == "twin-b").unwrap().1,
        twin_hash,
        "the twins' versions share a hash"
    );
    let keep = |hash: &str, body: &ContactData| {
        frozen
            .execute(
                "INSERT INTO contact_versions (hash, body) VALUES (?1, ?2)
                 ON CONFLICT (hash) DO NOTHING",
                params![hash, serde_json::to_string(body).unwrap()],
            )
            .unwrap();
    };
    let mut old = Entries::new();
    for (i, (id, hash)) in new.iter().enumerate() {
        let (h, json) = repo::contact_for_device(&frozen, id, &groups, None)
            .unwrap()
            .unwrap();
        let contact: contacts_agent_protocol::ContactData = serde_json::from_str(&json).unwrap();
        assert_eq!(&h, hash);
        keep(hash, &contact);
        if i % 7 == 3 {
            continue;
        }
        if i % 5 == 0 {
            let mut older = contact.clone();
            older.given_name = format!("{}-before", older.given_name);
            let older_hash = format!("old{hash}");
            keep(&older_hash, &older);
            old.push((id.clone(), older_hash));
        } else {
            old.push((id.clone(), hash.clone()));
        }
    }
    let orphan = "0".repeat(64);
    keep(&orphan, &twin());
    let (t_old, t_new) = (
        format!("s{}", "a".repeat(32)),
        format!("s{}", "b".repeat(32)),
    );
    store_set_at_14(&frozen, &old, &device, &t_old, 1);
    store_set_at_14(&frozen, &new, &device, &t_new, 2);
    let report: StatusReport = serde_json::from_value(json!({
        "reported_at": "2026-11-25T10:00:00Z", "managed_count": new.len(),
        "managed_fingerprint": set_fingerprint(new.iter().map(|(a, b)| (a.as_str(), b.as_str()))),
        "sync_token": t_new}))
    .unwrap();
    let tx = frozen.transaction().unwrap();
    repo::save_status(&tx, &device, &report).unwrap();
    tx.commit().unwrap();
    // The console's view before: each held contact's body found by its hash, as schema 14's
    // `held_contacts` looked it up.
    let before: Vec<(String, String, ContactData)> = new
        .iter()
        .map(|(id, hash)| {
            let body: String = frozen
                .query_row(
                    "SELECT body FROM contact_versions WHERE hash = ?1",
                    [hash],
                    |r| r.get(0),
                )
                .unwrap();
            (
                id.clone(),
                hash.clone(),
                serde_json::from_str(&body).unwrap(),
            )
        })
        .collect();
    let rows_at_14 = count(&frozen, "SELECT COUNT(*) FROM contact_versions", &[]);
    drop(frozen);

    let server = Server::start(Config::on(database.clone(), ADMIN_TOKEN)).unwrap();
    let conn = db::open(&database).unwrap();
    assert_eq!(db::schema_version(&conn).unwrap(), db::SCHEMA_VERSION);
    assert!(
        conn.query_row("SELECT COUNT(*) FROM contact_versions_14", params![], |r| r
            .get::<_, i64>(0))
            .is_err(),
        "the old table is gone"
    );
    // Every version a set names, under its user: the twins' one row became two, the orphan
    // went.
    let named: BTreeSet<(String, String)> = old.iter().chain(new.iter()).cloned().collect();
    let kept = version_keys(&conn);
    assert_eq!(kept, named);
    assert_eq!(
        kept.len() as i64,
        rows_at_14 - 1 + 1,
        "orphan gone, twin split"
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM contact_versions WHERE hash = ?1",
            &[&orphan]
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM contact_versions WHERE hash = ?1",
            &[&twin_hash]
        ),
        2
    );
    // An older version is kept under its own user only.
    let (older_id, older_hash) = old.iter().find(|(_, h)| h.starts_with("old")).unwrap();
    let body: String = conn
        .query_row(
            "SELECT body FROM contact_versions WHERE user_id = ?1 AND hash = ?2",
            [older_id, older_hash],
            |r| r.get(0),
        )
        .unwrap();
    assert!(body.contains("-before"), "{older_id}'s older body");

    // The console shows the phone the same contacts, with the same bodies.
    let shown = held_contacts(&conn, &device).unwrap().unwrap();
    assert_eq!(shown.sync_token, t_new);
    let after: Vec<(String, String, ContactData)> = shown
        .contacts
        .into_iter()
        .map(|c| (c.id, c.hash, c.contact.expect("a body for every contact")))
        .collect();
    assert_eq!(after, before);
    // The admin route that lists them: every contact, each with its body (a contact without
    // one would show no groups).
    let page = get(
        server.addr(),
        ADMIN_TOKEN,
        &format!("/v1/admin/devices/{device}/contacts?limit=5000"),
    );
    assert_eq!(page.status, 200, "{}", page.text());
    let shown = page.json();
    assert_eq!(shown["total"], json!(new.len()));
    let items = shown["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let want_ids: Vec<&str> = new.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, want_ids);
    for c in items {
        assert_ne!(c["groups"], json!([]), "{} has its body", c["id"]);
    }

    // A phone still on the older token syncs from it: the delta's pages, to the end.
    let want: Vec<(String, String)> = snapshot::delta(&old, &new)
        .into_iter()
        .filter_map(|c| match c {
            Change::Upsert(id) => {
                let h = new.iter().find(|(i, _)| *i == id).unwrap().1.clone();
                Some((id, h))
            }
            Change::Delete(_) => None,
        })
        .collect();
    let mut since = t_old.clone();
    let mut got = Vec::new();
    loop {
        let a = get(
            server.addr(),
            &bearer,
            &format!("/v1/device/contacts?since={since}&limit=300"),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        let page = a.json();
        assert_eq!(page["full"], json!(false), "a delta, not a full fetch");
        got.extend(
            page["upserts"]
                .as_array()
                .unwrap()
                .iter()
                .map(common::id_and_hash),
        );
        since = page["next_token"].as_str().unwrap().to_owned();
        if page["more"] == json!(false) {
            break;
        }
    }
    assert_eq!(got, want);
    assert_ne!(since, t_old);
    server.stop();
}

/// Users `twin-a` and `twin-b` with the same contact data and `other`, in Harvey (what
/// policy `p` sends); an enrolled device of `other` on `p`: `(server, device id, token)`.
fn twins() -> (TestServer, String, String) {
    let t = TestServer::start(1);
    for id in ["twin-a", "twin-b", "other"] {
        t.admin_ok(
            "POST",
            "/v1/admin/users",
            json!({"id": id, "contact": {"given_name": if id == "other" { "Other" } else { "Twin" },
                   "family_name": "Same", "display_name": ""}, "groups": ["harvey"]}),
        );
    }
    let (id, token) = t.enrolled_device_of("phone", "other", "p");
    (t, id, token)
}

/// A whole sync from `since`: its token and the `(id, hash)` pairs it sent.
fn sync(t: &TestServer, token: &str, since: Option<&str>) -> (String, Vec<(String, String)>) {
    let (next, upserts) = t.sync_upserts(token, since, 2);
    (next, upserts.iter().map(common::id_and_hash).collect())
}

fn report(t: &TestServer, token: &str, sync_token: &str, held: &[(String, String)]) {
    t.report_held(
        token,
        sync_token,
        held.iter().map(|(a, h)| (a.as_str(), h.as_str())),
    );
}

#[test]
fn two_users_with_the_same_body_each_keep_their_version() {
    let (t, id, token) = twins();
    let (first, sent) = sync(&t, &token, None);
    let hash_of = |user: &str| sent.iter().find(|(i, _)| i == user).unwrap().1.clone();
    let twin_hash = hash_of("twin-a");
    assert_eq!(hash_of("twin-b"), twin_hash, "the same content hash");
    let c = t.db();
    let keys = version_keys(&c);
    for user in ["twin-a", "twin-b"] {
        assert!(
            keys.contains(&(user.to_owned(), twin_hash.clone())),
            "{user}'s version: {keys:?}"
        );
    }
    assert_eq!(keys.len(), sent.len(), "one version per contact sent");

    // twin-a changes; the sets that named the old twin-a are dropped with their tokens:
    // twin-a's old version goes, twin-b's (the same hash) stays and is what the console shows.
    let mut last = first;
    let mut held = sent.clone();
    for round in 0..5 {
        t.admin_ok(
            "PUT",
            "/v1/admin/users/twin-a",
            json!({"given_name": format!("Twin{round}"), "family_name": "Same", "display_name": ""}),
        );
        let (next, changed) = sync(&t, &token, Some(&last));
        for (user, hash) in changed {
            held.retain(|(u, _)| *u != user);
            held.push((user, hash));
        }
        last = next;
    }
    report(&t, &token, &last, &held);
    let keys = version_keys(&c);
    assert!(keys.contains(&("twin-b".to_owned(), twin_hash.clone())));
    assert!(
        !keys.contains(&("twin-a".to_owned(), twin_hash.clone())),
        "twin-a's first version was collected: {keys:?}"
    );
    let shown = held_contacts(&c, &id).unwrap().unwrap();
    let body = |user: &str| {
        shown
            .contacts
            .iter()
            .find(|x| x.id == user)
            .unwrap()
            .contact
            .clone()
            .unwrap()
    };
    assert_eq!(body("twin-b").given_name, "Twin");
    assert_eq!(body("twin-a").given_name, "Twin4");
}

#[test]
fn a_stored_set_that_does_not_decode_stops_the_upgrade_and_loses_no_version() {
    let dir = tempfile::tempdir().unwrap();
    let (database, _drop) = fresh_database(dir.path());
    let frozen = db::open_at(&database, 14).unwrap();
    frozen
        .execute(
            "INSERT INTO devices (id, name, created_at) VALUES ('d-1', 'old', '2026-01-01T00:00:00.000Z')",
            params![],
        )
        .unwrap();
    let entries: Entries = vec![("a".into(), "h1".into())];
    store_set_at_14(&frozen, &entries, "d-1", &format!("s{}", "a".repeat(32)), 1);
    // A record without its id/hash separator: not a set's chunk.
    frozen
        .execute(
            "UPDATE set_chunks SET records = ?1",
            params![b"no-separator\n".to_vec()],
        )
        .unwrap();
    frozen
        .execute(
            "INSERT INTO contact_versions (hash, body) VALUES ('h1', '{}')",
            params![],
        )
        .unwrap();
    drop(frozen);

    let err = db::open(&database)
        .err()
        .expect("the upgrade refuses")
        .to_string();
    assert!(err.contains("schema 15"), "{err}");
    assert!(err.contains("unreadable"), "{err}");
    let still = db::open_at(&database, 14).unwrap();
    assert_eq!(db::schema_version(&still).unwrap(), 14, "rolled back");
    assert_eq!(
        count(
            &still,
            "SELECT COUNT(*) FROM contact_versions WHERE hash = 'h1'",
            &[]
        ),
        1,
        "the version is still there"
    );
}

/// `keep_sent` reads the versions kept in a page's id range at once when the range holds few
/// besides the page, and looks the page's contacts up one by one when it holds many (a
/// delta's ids far apart): either way each version sent is kept once, with the JSON sent.
#[test]
fn keep_sent_keeps_each_version_sent_by_a_range_read_or_by_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let (database, _drop) = fresh_database(dir.path());
    let conn = db::open(&database).unwrap();
    let version = |id: &str, which: &str| {
        (
            id.to_owned(),
            format!("{which}-{id}"),
            format!(r#"{{"given_name":"{id}","family_name":"{which}","display_name":""}}"#),
        )
    };
    let keep = |page: &[(String, String, String)]| {
        entitled_sets::keep_sent(
            &conn,
            page.iter()
                .map(|(id, hash, json)| (id.as_str(), hash.as_str(), json.as_str())),
        )
        .unwrap();
    };
    let ids: Vec<String> = (0..100).map(|i| format!("u{i:03}")).collect();
    keep(&ids.iter().map(|id| version(id, "old")).collect::<Vec<_>>());
    // Ten neighbours, every other one with a new version: the range holds ten versions.
    let dense: Vec<_> = ids[10..20]
        .iter()
        .enumerate()
        .map(|(i, id)| version(id, if i % 2 == 0 { "old" } else { "new" }))
        .collect();
    // The first and the last user: the range holds every user's versions.
    let sparse = vec![version(&ids[0], "new"), version(&ids[99], "old")];
    for page in [&dense, &sparse] {
        keep(page);
        for (id, hash, json) in page {
            let stored: Vec<String> = {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT body FROM contact_versions WHERE user_id = ?1 AND hash = ?2",
                    )
                    .unwrap();
                let mut rows = stmt.query(params![id, hash]).unwrap();
                let mut out = Vec::new();
                while let Some(r) = rows.next().unwrap() {
                    out.push(r.get(0).unwrap());
                }
                out
            };
            assert_eq!(stored, vec![json.clone()], "{id} {hash}");
        }
    }
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM contact_versions", &[]),
        100 + 5 + 1
    );
}
