//! Stored sets and deltas in chunks (schema 14, issue 13), on whichever backend the suite runs
//! on: a database at schema 13 with sets, deltas and tokens, upgraded, serves a phone in the
//! middle of a sync the pages it would have had; collected sets and deltas take their chunks
//! with them; a chunk missing or damaged is a 500, never a wrong page.
#![allow(clippy::unwrap_used)]

mod common;

use common::{fresh_database, request, Answer, TestServer, ADMIN_TOKEN};
use contacts_agent_protocol::hash::set_fingerprint;
use contacts_agent_server::snapshot::{self, Change, Entries, CHUNK_RECORDS};
use contacts_agent_server::sql::{params, Conn};
use contacts_agent_server::{db, repo, seed, Config, Server};
use serde_json::{json, Value};

fn get(addr: std::net::SocketAddr, token: &str, path: &str) -> Answer {
    let auth = format!("Bearer {token}");
    request(addr, "GET", path, &[("Authorization", auth.as_str())], b"")
}

fn count(conn: &Conn, sql: &str) -> i64 {
    conn.query_row(sql, params![], |r| r.get(0)).unwrap()
}

/// Every page from cursor `since` to the end, `limit` records a page: checks each against
/// the records `want` says are at its offset (the window schema 13 cut from the whole blob),
/// and that the sync ends on `target`.
fn pages_match(
    addr: std::net::SocketAddr,
    token: &str,
    base: Option<&str>,
    target: &str,
    from: usize,
    limit: usize,
    want: &[(Change, Option<String>)],
) -> usize {
    let mut offset = from;
    let mut pages = 0;
    loop {
        let since = snapshot::cursor(base, target, offset);
        let a = get(
            addr,
            token,
            &format!("/v1/device/contacts?since={since}&limit={limit}"),
        );
        assert_eq!(a.status, 200, "{}", a.text());
        let page = a.json();
        pages += 1;
        let end = (offset + limit).min(want.len());
        let (mut upserts, mut deletes) = (Vec::new(), Vec::new());
        for (change, hash) in &want[offset..end] {
            match change {
                Change::Upsert(id) => upserts.push((id.clone(), hash.clone().unwrap())),
                Change::Delete(id) => deletes.push(Value::String(id.clone())),
            }
        }
        let got: Vec<(String, String)> = page["upserts"]
            .as_array()
            .unwrap()
            .iter()
            .map(common::id_and_hash)
            .collect();
        assert_eq!(got, upserts, "the page at {offset}");
        assert_eq!(
            page["deletes"],
            Value::Array(deletes),
            "the page at {offset}"
        );
        assert_eq!(page["full"], json!(base.is_none()));
        if end == want.len() {
            assert_eq!(page["more"], json!(false));
            assert_eq!(
                page["next_token"],
                json!(target),
                "the sync ends on its token"
            );
            return pages;
        }
        assert_eq!(page["more"], json!(true));
        assert_eq!(
            page["next_token"],
            json!(snapshot::cursor(base, target, end))
        );
        offset = end;
    }
}

#[test]
fn a_database_at_schema_13_with_sets_and_tokens_serves_the_same_pages_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let (database, _drop) = fresh_database(dir.path());
    let frozen = db::open_at(&database, 13).unwrap();
    assert_eq!(db::schema_version(&frozen).unwrap(), 13);
    seed::seed_company(&frozen, 1300, 42).unwrap();
    let (device, bearer) = common::enrolled_on_all_groups(&frozen);

    // The set the phone is being sent, and the one it held before: some contacts it lacked,
    // some changed since, some gone. Stored as schema 13 stored them: whole blobs.
    let d = repo::get_device(&frozen, &device).unwrap();
    let groups = repo::entitled_groups_json(&frozen, &d).unwrap();
    let new: Entries = repo::entitled_entries(&frozen, &groups, None).unwrap();
    assert!(new.len() > 2 * CHUNK_RECORDS, "{} contacts", new.len());
    let mut old: Entries = new
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 7 != 3)
        .map(|(i, (id, h))| {
            (
                id.clone(),
                if i % 5 == 0 {
                    format!("old{h}")
                } else {
                    h.clone()
                },
            )
        })
        .collect();
    old.extend((0..300).map(|i| (format!("zz-gone-{i:03}"), "h".to_owned())));
    let delta = snapshot::delta(&old, &new);
    assert!(delta.len() > CHUNK_RECORDS, "{} changes", delta.len());
    let (t_old, t_new) = (
        format!("s{}", "a".repeat(32)),
        format!("s{}", "b".repeat(32)),
    );
    for (set, token, seq) in [(&old, &t_old, 1), (&new, &t_new, 2)] {
        let fp = set_fingerprint(set.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        frozen
            .execute(
                "INSERT INTO entitled_sets (fingerprint, entries) VALUES (?1, ?2)",
                params![fp, snapshot::encode(set)],
            )
            .unwrap();
        frozen
            .execute(
                "INSERT INTO sync_tokens (token, device_id, seq, set_id, entitlement_id, stamp)
                 SELECT ?1, ?2, ?3, id, NULL, 0 FROM entitled_sets WHERE fingerprint = ?4",
                params![token, device, seq as i64, fp],
            )
            .unwrap();
    }
    frozen
        .execute(
            "INSERT INTO set_deltas (base_id, target_id, changes)
             SELECT b.set_id, t.set_id, ?1 FROM sync_tokens b, sync_tokens t
             WHERE b.token = ?2 AND t.token = ?3",
            params![snapshot::encode_changes(&delta), t_old, t_new],
        )
        .unwrap();
    drop(frozen);

    let server = Server::start(Config::on(database.clone(), ADMIN_TOKEN)).unwrap();
    let conn = db::open(&database).unwrap();
    assert_eq!(db::schema_version(&conn).unwrap(), db::SCHEMA_VERSION);
    let chunks_of = |token: &str| {
        conn.query_row(
            "SELECT COUNT(*) FROM set_chunks c JOIN sync_tokens t ON t.set_id = c.set_id
             WHERE t.token = ?1",
            [token],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
    };
    assert_eq!(chunks_of(&t_new), new.len().div_ceil(CHUNK_RECORDS));
    assert_eq!(chunks_of(&t_old), old.len().div_ceil(CHUNK_RECORDS));
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM delta_chunks") as usize,
        delta.len().div_ceil(CHUNK_RECORDS)
    );

    // A first sync that had reached record 700 (inside the second chunk) goes on from there,
    // pages straddling chunk boundaries.
    let hashes: std::collections::HashMap<&str, &str> =
        new.iter().map(|(i, h)| (i.as_str(), h.as_str())).collect();
    let sends: Vec<(Change, Option<String>)> = new
        .iter()
        .map(|(id, h)| (Change::Upsert(id.clone()), Some(h.clone())))
        .collect();
    let pages = pages_match(server.addr(), &bearer, None, &t_new, 700, 300, &sends);
    assert_eq!(pages, (new.len() - 700).div_ceil(300));
    // A delta sync mid-way, likewise.
    let changes: Vec<(Change, Option<String>)> = delta
        .iter()
        .map(|c| match c {
            Change::Upsert(id) => (c.clone(), Some(hashes[id.as_str()].to_owned())),
            Change::Delete(_) => (c.clone(), None),
        })
        .collect();
    pages_match(
        server.addr(),
        &bearer,
        Some(&t_old),
        &t_new,
        5,
        256,
        &changes,
    );
    let stored = contacts_agent_server::entitled_sets::token_entries(&conn, &device, &t_old)
        .unwrap()
        .unwrap();
    assert_eq!(stored.1, old, "a whole set reads back from its chunks");
    server.stop();
}

/// A server whose policy `p` sends every group, `users` people, and one enrolled device.
fn everyone(users: usize) -> (TestServer, String) {
    let t = TestServer::start(users);
    t.admin_ok(
        "PUT",
        "/v1/admin/policies/p",
        json!({"name": "P", "basic_type": "all_groups", "sync_interval": "daily"}),
    );
    let (_, token) = t.enrolled_device("phone");
    (t, token)
}

/// A whole sync from `since` in pages of `limit`: its token.
fn sync(t: &TestServer, token: &str, since: Option<&str>, limit: usize) -> String {
    t.sync_pages(token, since, limit).0
}

#[test]
fn collected_sets_and_deltas_take_their_chunks_with_them() {
    let (t, token) = everyone(700);
    let mut last = sync(&t, &token, None, 500);
    for round in 0..6 {
        // Each round changes a fifth of the directory: deltas of more than one chunk.
        for i in (round..700).step_by(5) {
            t.admin_ok(
                "PUT",
                &format!("/v1/admin/users/{}", seed::user_id(i)),
                json!({"given_name": format!("R{round}"), "family_name": "X", "display_name": ""}),
            );
        }
        last = sync(&t, &token, Some(&last), 500);
    }
    let c = t.db();
    let made: i64 = count(&c, "SELECT MAX(id) FROM entitled_sets");
    let kept: i64 = count(&c, "SELECT COUNT(*) FROM entitled_sets");
    assert!(made >= 7 && kept <= 4, "{made} sets made, {kept} kept");
    assert!(count(&c, "SELECT COUNT(*) FROM set_deltas") >= 1);
    assert_eq!(
        count(
            &c,
            "SELECT COUNT(*) FROM set_chunks WHERE set_id NOT IN (SELECT id FROM entitled_sets)"
        ),
        0,
        "no chunk outlives its set"
    );
    assert_eq!(
        count(
            &c,
            "SELECT COUNT(*) FROM delta_chunks c WHERE NOT EXISTS (SELECT 1 FROM set_deltas d
               WHERE d.base_id = c.base_id AND d.target_id = c.target_id)"
        ),
        0,
        "no chunk outlives its delta"
    );
    // Every kept set and delta has exactly its chunks.
    let per = CHUNK_RECORDS as i64;
    assert_eq!(
        count(
            &c,
            &format!(
                "SELECT COUNT(*) FROM entitled_sets s WHERE (SELECT COUNT(*) FROM set_chunks c
                   WHERE c.set_id = s.id) <> (s.record_count + {per} - 1) / {per}"
            )
        ),
        0
    );
    assert_eq!(
        count(
            &c,
            &format!(
                "SELECT COUNT(*) FROM set_deltas d WHERE (SELECT COUNT(*) FROM delta_chunks c
                   WHERE c.base_id = d.base_id AND c.target_id = d.target_id)
                   <> (d.record_count + {per} - 1) / {per}"
            )
        ),
        0
    );
    assert!(count(&c, "SELECT COUNT(*) FROM delta_chunks") >= 1);
}

#[test]
fn a_chunk_missing_or_damaged_is_a_500_never_a_wrong_page() {
    let (t, token) = everyone(700);
    let first = t.device(&token, "GET", "/v1/device/contacts?limit=100", None);
    assert_eq!(first.status, 200, "{}", first.text());
    let cursor = first.json()["next_token"].as_str().unwrap().to_owned();
    let Some(snapshot::Since::Cursor { target, .. }) = snapshot::parse_since(Some(&cursor)) else {
        panic!("a cursor: {cursor}");
    };
    let at = |offset: usize| {
        t.device(
            &token,
            "GET",
            &format!(
                "/v1/device/contacts?limit=100&since={}",
                snapshot::cursor(None, &target, offset)
            ),
            None,
        )
    };
    assert_eq!(at(550).status, 200);
    let c = t.db();
    let set: i64 = c
        .query_row(
            "SELECT set_id FROM sync_tokens WHERE token = ?1",
            [&target],
            |r| r.get(0),
        )
        .unwrap();
    c.execute(
        "DELETE FROM set_chunks WHERE set_id = ?1 AND chunk_no = 1",
        [set],
    )
    .unwrap();
    let broken = at(550);
    assert_eq!(broken.status, 500, "{}", broken.text());
    assert!(
        !broken.text().contains(&seed::user_id(550)),
        "{}",
        broken.text()
    );
    // A page inside the chunk that is still whole is served; one straddling the gap is not.
    assert_eq!(at(100).status, 200);
    assert_eq!(at(480).status, 500);

    // A chunk cut short (its last record lost): refused, not a page with a record missing.
    c.execute(
        "UPDATE set_chunks SET records = ?2 WHERE set_id = ?1 AND chunk_no = 0",
        params![set, {
            let whole: Vec<u8> = c
                .query_row(
                    "SELECT records FROM set_chunks WHERE set_id = ?1 AND chunk_no = 0",
                    [set],
                    |r| r.get(0),
                )
                .unwrap();
            let cut = whole[..whole.len() - 1]
                .iter()
                .rposition(|b| *b == b'\n')
                .unwrap();
            whole[..=cut].to_vec()
        }],
    )
    .unwrap();
    assert_eq!(at(100).status, 500);
}
