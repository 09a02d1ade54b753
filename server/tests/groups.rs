//! MDM groups on the wire: each contact carries the groups the device's policy sent it for
//! (never the others it is in), its hash covers them, and a membership change, a rename or a
//! deleted group reaches a device as an upsert of the members it holds.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use contacts_agent_protocol::{content_hash, ContactData};
use serde_json::{json, Value};

/// Users `a` (Harvey, Mike), `b` (Mike), `c` (Sales), `d` (no group), and an enrolled device
/// of user `c` on policy `p`: `(server, token)`.
fn company() -> (TestServer, String) {
    let t = TestServer::start(1);
    for (id, groups) in [
        ("a", json!(["harvey", "mike"])),
        ("b", json!(["mike"])),
        ("c", json!(["sales"])),
        ("d", json!([])),
    ] {
        t.add_user(id, groups);
    }
    let (_, token) = t.enrolled_device_of("phone", "c", "p");
    (t, token)
}

fn set_policy(t: &TestServer, basic_type: &str, additional: Value) {
    t.admin_ok(
        "PUT",
        "/v1/admin/policies/p",
        json!({"name": "P", "basic_type": basic_type, "additional_groups": additional}),
    );
}

/// One sync (every page) from `since`: the sync token and each upserted contact with its hash.
fn sync(
    t: &TestServer,
    token: &str,
    since: Option<&str>,
) -> (String, Vec<(String, String, ContactData)>) {
    let (next, upserts) = t.sync_upserts(token, since, 2);
    let upserts = upserts
        .iter()
        .map(|u| {
            let (id, hash) = common::id_and_hash(u);
            (
                id,
                hash,
                serde_json::from_value(u["contact"].clone()).unwrap(),
            )
        })
        .collect();
    (next, upserts)
}

/// `id` → the names of the groups it was sent with, for the users this test made.
fn groups_by_id(upserts: &[(String, String, ContactData)]) -> Vec<(String, Vec<String>)> {
    upserts
        .iter()
        .filter(|(id, _, _)| ["a", "b", "c", "d"].contains(&id.as_str()))
        .map(|(id, _, c)| {
            (
                id.clone(),
                c.groups.iter().map(|g| g.name.clone()).collect(),
            )
        })
        .collect()
}

fn expect(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    pairs
        .iter()
        .map(|(id, names)| {
            (
                id.to_string(),
                names.iter().map(|n| n.to_string()).collect(),
            )
        })
        .collect()
}

#[test]
fn a_contact_carries_only_the_groups_the_policy_sent_it_for_in_each_basic_type() {
    let (t, token) = company();
    // No contacts + Harvey: `a` comes for Harvey, and says so; its Mike is not this device's.
    let (_, first) = sync(&t, &token, None);
    assert_eq!(groups_by_id(&first), expect(&[("a", &["Harvey"])]));
    let a = &first.iter().find(|(id, _, _)| id == "a").unwrap().2;
    assert_eq!(a.groups[0].id, "harvey");
    // The hash on the wire is the content hash of what was sent, groups included.
    for (_, hash, contact) in &first {
        assert_eq!(*hash, content_hash(contact));
    }

    // The user's groups (c is in Sales) plus Harvey.
    set_policy(&t, "user_groups", json!(["harvey"]));
    let (_, mine) = sync(&t, &token, None);
    assert_eq!(
        groups_by_id(&mine),
        expect(&[("a", &["Harvey"]), ("c", &["Sales"])])
    );

    // All groups: every group a contact is in; `d`, in none, is not sent.
    set_policy(&t, "all_groups", json!([]));
    let (_, all) = sync(&t, &token, None);
    assert_eq!(
        groups_by_id(&all),
        expect(&[
            ("a", &["Harvey", "Mike"]),
            ("b", &["Mike"]),
            ("c", &["Sales"])
        ])
    );
    for (_, hash, contact) in &all {
        assert_eq!(*hash, content_hash(contact));
    }
}

#[test]
fn membership_changes_renames_and_deleted_groups_reach_the_device_as_upserts() {
    let (t, token) = company();
    set_policy(&t, "all_groups", json!([]));
    let (since, _) = sync(&t, &token, None);

    // b joins Harvey: b alone comes again, now in both.
    t.admin_ok("PUT", "/v1/admin/groups/harvey/members/b", Value::Null);
    let (since, changed) = sync(&t, &token, Some(&since));
    assert_eq!(
        groups_by_id(&changed),
        expect(&[("b", &["Harvey", "Mike"])])
    );

    // Mike renamed: both its members come again with the new name, nobody else.
    let renamed = t.admin_ok("PUT", "/v1/admin/groups/mike", json!({"name": "Mike Ross"}));
    assert_eq!(
        (renamed["id"].as_str(), renamed["name"].as_str()),
        (Some("mike"), Some("Mike Ross"))
    );
    let (since, changed) = sync(&t, &token, Some(&since));
    assert_eq!(
        groups_by_id(&changed),
        expect(&[
            ("a", &["Harvey", "Mike Ross"]),
            ("b", &["Harvey", "Mike Ross"])
        ])
    );
    for (_, hash, contact) in &changed {
        assert_eq!(*hash, content_hash(contact));
    }
    // The same name again changes nothing; a taken name and an unknown group are refused.
    t.admin_ok("PUT", "/v1/admin/groups/mike", json!({"name": "Mike Ross"}));
    let (same, nothing) = sync(&t, &token, Some(&since));
    assert_eq!((same.as_str(), nothing.len()), (since.as_str(), 0));
    assert_eq!(
        t.admin(
            "PUT",
            "/v1/admin/groups/mike",
            Some(json!({"name": "Sales"}))
        )
        .status,
        409
    );
    assert_eq!(
        t.admin("PUT", "/v1/admin/groups/nope", Some(json!({"name": "N"})))
            .status,
        404
    );
    assert_eq!(
        t.admin("PUT", "/v1/admin/groups/mike", Some(json!({"name": " "})))
            .status,
        422
    );

    // Mike deleted: its members come again without it.
    t.admin_ok("DELETE", "/v1/admin/groups/mike", Value::Null);
    let (_, changed) = sync(&t, &token, Some(&since));
    assert_eq!(
        groups_by_id(&changed),
        expect(&[("a", &["Harvey"]), ("b", &["Harvey"])])
    );
}

#[test]
fn an_admin_cannot_write_a_contacts_groups_into_its_data() {
    let (t, _) = company();
    let a = t.admin(
        "PUT",
        "/v1/admin/users/a",
        Some(
            json!({"given_name": "a", "family_name": "X", "display_name": "a X",
                    "groups": [{"id": "legal", "name": "Legal"}]}),
        ),
    );
    assert_eq!(a.status, 422, "{}", a.text());
    assert!(a.text().contains("contact.groups"), "{}", a.text());
}

#[test]
fn the_group_search_is_a_query_whose_wildcards_are_literal_and_pages_both_ways() {
    let t = TestServer::start(1);
    for (id, name) in [
        ("zq-pct", "Zq 100% Sales"),
        ("zq-under", "Zq Sales_EU"),
        ("zq-x", "Zq SalesXEU"),
        ("zq-sup", "Zq Support"),
        ("zq-back", "Zq Back\\office"),
    ] {
        t.admin_ok("POST", "/v1/admin/groups", json!({"id": id, "name": name}));
    }
    let conn = t.db();
    let ids = |q: &str, offset: usize, limit: usize| {
        let (total, page) =
            contacts_agent_server::repo::search_groups(&conn, q, offset, limit).unwrap();
        (total, page.into_iter().map(|g| g.id).collect::<Vec<_>>())
    };
    let v = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(ids("%", 0, 50), (1, v(&["zq-pct"])));
    assert_eq!(ids("_", 0, 50), (1, v(&["zq-under"])));
    assert_eq!(ids("\\", 0, 50), (1, v(&["zq-back"])));
    // Names and ids, ASCII letters in either case; by name (as SQLite compares it: X before _).
    assert_eq!(ids("zq sales", 0, 50), (2, v(&["zq-x", "zq-under"])));
    assert_eq!(ids("ZQ-SUP", 0, 50), (1, v(&["zq-sup"])));
    // Paged: the total stays, the window moves, past the end is empty.
    let first = ids("zq", 0, 2);
    let second = ids("zq", 2, 2);
    let third = ids("zq", 4, 2);
    assert_eq!((first.0, second.0, third.0), (5, 5, 5));
    assert_eq!(
        [first.1, second.1, third.1].concat(),
        v(&["zq-pct", "zq-back", "zq-x", "zq-under", "zq-sup"])
    );
    assert_eq!(ids("zq", 6, 2), (5, vec![]));
}
