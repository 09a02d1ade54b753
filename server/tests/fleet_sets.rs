//! What the server keeps of what devices were sent (issue 15): each contact body once, as it
//! was sent, and what a device holds per its last report (`repo::held_contacts`).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::TestServer;
use contacts_agent_protocol::hash::set_fingerprint;
use contacts_agent_protocol::ContactData;
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
        t.admin_ok(
            "POST",
            "/v1/admin/users",
            json!({"id": id, "contact": {"given_name": id, "family_name": "X", "display_name": ""},
                   "groups": groups}),
        );
    }
    let created = t.admin_ok(
        "POST",
        "/v1/admin/devices",
        json!({"name": "phone", "user_id": "c", "policy_id": "p"}),
    );
    let a = t.enroll(created["enrollment_code"].as_str().unwrap());
    assert_eq!(a.status, 201, "{}", a.text());
    let token = a.json()["token"].as_str().unwrap().to_owned();
    let id = created["device"]["id"].as_str().unwrap().to_owned();
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
    let fp = set_fingerprint(held.iter().map(|(a, (h, _))| (a.as_str(), h.as_str())));
    let a = t.device(
        token,
        "POST",
        "/v1/device/status",
        Some(
            json!({"reported_at": "2026-11-25T10:00:00Z", "managed_count": held.len(),
                    "managed_fingerprint": fp, "sync_token": sync_token}),
        ),
    );
    assert_eq!(a.status, 204, "{}", a.text());
}

fn conn(t: &TestServer) -> rusqlite::Connection {
    db::open(&t.dir.path().join("server.db")).unwrap()
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
