//! Narrow invalidation (issue 15): a change stamps only the groups it touches, so a device
//! whose entitlement it does not reach keeps the no-change answer without the entitled-set
//! query, and devices sharing an entitlement compute a changed set once between them. The
//! evidence is the count of entitled-set queries this process ran
//! (`repo::ENTITLED_SET_COMPUTATIONS`); this binary holds one test so nothing else adds to it.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;

use common::TestServer;
use contacts_agent_server::repo::ENTITLED_SET_COMPUTATIONS;
use serde_json::{json, Value};

fn computations() -> u64 {
    ENTITLED_SET_COMPUTATIONS.load(Ordering::SeqCst)
}

/// One sync from `since` (one page is enough here): the new token and the ids upserted.
fn sync(t: &TestServer, token: &str, since: Option<&str>) -> (String, Vec<String>) {
    let path = match since {
        Some(s) => format!("/v1/device/contacts?since={s}"),
        None => "/v1/device/contacts".to_owned(),
    };
    let a = t.device(token, "GET", &path, None);
    assert_eq!(a.status, 200, "{}", a.text());
    let page = a.json();
    assert_eq!(page["more"], json!(false));
    let ids = page["upserts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    (page["next_token"].as_str().unwrap().to_owned(), ids)
}

fn rename(t: &TestServer, id: &str, given: &str) {
    t.admin_ok(
        "PUT",
        &format!("/v1/admin/users/{id}"),
        json!({"given_name": given, "family_name": "X", "display_name": ""}),
    );
}

#[test]
fn only_a_change_a_device_is_entitled_to_costs_it_the_entitled_set_query() {
    let t = TestServer::start(1);
    t.add_user("h", json!(["harvey"]));
    t.add_user("m", json!(["mike"]));
    t.add_user("n", json!([]));
    t.admin_ok(
        "POST",
        "/v1/admin/policies",
        json!({"id": "all", "name": "All", "basic_type": "all_groups", "sync_interval": "daily"}),
    );
    // `a` and `b` share an entitlement (every group); `c` is on `p` (Harvey only).
    let (a, b, c) = (
        t.enrolled_device_of("a", &contacts_agent_server::seed::user_id(0), "all")
            .1,
        t.enrolled_device_of("b", &contacts_agent_server::seed::user_id(0), "all")
            .1,
        t.enrolled_device_of("c", &contacts_agent_server::seed::user_id(0), "p")
            .1,
    );
    let (mut ta, mut tb, mut tc) = (
        sync(&t, &a, None).0,
        sync(&t, &b, None).0,
        sync(&t, &c, None).0,
    );

    let round = |ta: &mut String, tb: &mut String, tc: &mut String| {
        let before = computations();
        let (na, ua) = sync(&t, &a, Some(ta));
        let (nb, ub) = sync(&t, &b, Some(tb));
        let (nc, uc) = sync(&t, &c, Some(tc));
        let changed = [na != *ta, nb != *tb, nc != *tc];
        (*ta, *tb, *tc) = (na, nb, nc);
        (computations() - before, changed, [ua, ub, uc])
    };

    let (n, changed, _) = round(&mut ta, &mut tb, &mut tc);
    assert_eq!((n, changed), (0, [false; 3]), "nothing changed");

    // Unrelated: a new device with a policy, a user in no group edited, another policy's
    // schedule, a new policy.
    t.enrolled_device_of("d", &contacts_agent_server::seed::user_id(0), "p");
    rename(&t, "n", "Nobody");
    t.admin_ok(
        "PUT",
        "/v1/admin/policies/p",
        json!({"name": "P", "basic_type": "none", "additional_groups": ["harvey"],
               "sync_interval": "weekly"}),
    );
    t.admin_ok(
        "POST",
        "/v1/admin/policies",
        json!({"id": "q", "name": "Q", "basic_type": "user_groups"}),
    );
    let (n, changed, _) = round(&mut ta, &mut tb, &mut tc);
    assert_eq!(
        (n, changed),
        (0, [false; 3]),
        "no device is entitled to any of that"
    );

    // Mike's member: `a` and `b` (every group) compute the new set once between them; `c`
    // (Harvey only) is not touched.
    rename(&t, "m", "Mike2");
    let (n, changed, upserts) = round(&mut ta, &mut tb, &mut tc);
    assert_eq!(changed, [true, true, false]);
    assert_eq!(
        n, 1,
        "one computation for the two devices sharing the entitlement"
    );
    assert_eq!(upserts[0], ["m"]);
    assert_eq!(upserts[1], ["m"]);

    // Harvey's member reaches all three: one computation per entitlement.
    rename(&t, "h", "Harvey2");
    let (n, changed, upserts) = round(&mut ta, &mut tb, &mut tc);
    assert_eq!(changed, [true; 3]);
    assert_eq!(n, 2);
    assert_eq!(upserts[2], ["h"]);

    // A membership change of a group only `a` and `b` see.
    t.admin_ok("PUT", "/v1/admin/groups/mike/members/n", Value::Null);
    let (n, changed, upserts) = round(&mut ta, &mut tb, &mut tc);
    assert_eq!((n, changed), (1, [true, true, false]));
    assert_eq!(upserts[0], ["n"]);

    // A new, empty group changes `a`'s and `b`'s entitlement but not their set: one
    // computation, and the same tokens back.
    t.admin_ok(
        "POST",
        "/v1/admin/groups",
        json!({"id": "empty", "name": "Empty"}),
    );
    let (n, changed, _) = round(&mut ta, &mut tb, &mut tc);
    assert_eq!((n, changed), (1, [false; 3]));
    let (n, changed, _) = round(&mut ta, &mut tb, &mut tc);
    assert_eq!((n, changed), (0, [false; 3]), "and O(1) again after that");
}
