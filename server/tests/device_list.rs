//! The device list at fleet size (issue 15 item 3) through the admin API: paged, filtered and
//! sorted by the server over what each status report said, stored when it arrived; and what
//! a device holds, as it was sent, with the changes pending (issue 17 item 1).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use common::TestServer;
use contacts_agent_protocol::hash::set_fingerprint;
use contacts_agent_protocol::wire::SyncReason;
use contacts_agent_server::device_list;
use serde_json::{json, Value};

fn ago(minutes: i64) -> String {
    (Utc::now() - Duration::minutes(minutes)).to_rfc3339()
}

fn status(t: &TestServer, token: &str, report: Value) {
    let mut body = json!({"reported_at": ago(0), "managed_count": 0, "managed_fingerprint": ""});
    body.as_object_mut()
        .unwrap()
        .extend(report.as_object().unwrap().clone());
    let a = t.device(token, "POST", "/v1/device/status", Some(body));
    assert_eq!(a.status, 204, "{}", a.text());
}

fn ids(t: &TestServer, query: &str) -> Vec<String> {
    let a = t.admin("GET", &format!("/v1/admin/devices?{query}"), None);
    assert_eq!(a.status, 200, "{query}: {}", a.text());
    a.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_device_list_is_paged_filtered_and_sorted_by_the_server() {
    let t = TestServer::start(3);
    t.admin_ok(
        "POST",
        "/v1/admin/policies",
        json!({"id": "daily", "name": "Daily", "basic_type": "all_groups", "sync_interval": "daily"}),
    );
    let (awaiting, _) = t.new_device("e awaiting");
    let (never, _) = t.enrolled_device("d never synced");
    let (failing, failing_token) = t.enrolled_device("c failing");
    status(
        &t,
        &failing_token,
        json!({"last_sync_at": ago(5), "last_sync_result": "failed: network unreachable", "next_sync_at": ago(-5)}),
    );
    let (overdue, overdue_token) = t.enrolled_device("b overdue");
    status(
        &t,
        &overdue_token,
        json!({"last_sync_at": ago(26 * 60), "last_sync_result": "ok", "next_sync_at": ago(120)}),
    );
    let (ok, ok_token) = t.enrolled_device("a fine");
    status(
        &t,
        &ok_token,
        // In another zone's notation: stored and compared in UTC.
        json!({"last_sync_at": ago(3), "last_sync_result": "ok",
               "next_sync_at": (Utc::now() + Duration::hours(20)).with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap()).to_rfc3339()}),
    );
    t.admin_ok(
        "PUT",
        &format!("/v1/admin/devices/{ok}/policy"),
        json!({"policy_id": "daily"}),
    );
    t.admin_ok(
        "PUT",
        &format!("/v1/admin/devices/{failing}/policy"),
        json!({"policy_id": "daily"}),
    );

    assert_eq!(ids(&t, "filter=ok"), std::slice::from_ref(&ok));
    assert_eq!(ids(&t, "filter=failing"), std::slice::from_ref(&failing));
    assert_eq!(ids(&t, "filter=overdue"), std::slice::from_ref(&overdue));
    assert_eq!(ids(&t, "filter=never_synced"), std::slice::from_ref(&never));
    assert_eq!(
        ids(&t, "filter=awaiting_enrollment"),
        std::slice::from_ref(&awaiting)
    );
    let mut on_daily = vec![ok.clone(), failing.clone()];
    on_daily.sort();
    assert_eq!(ids(&t, "policy_id=daily&sort=name"), on_daily);
    assert_eq!(
        ids(&t, "policy_id=daily&filter=failing"),
        std::slice::from_ref(&failing)
    );
    assert_eq!(ids(&t, "user_id=nobody"), Vec::<String>::new());
    // Sorted by the server: by name, then id (enrolling renamed four to "test phone")...
    let mut same_name = vec![ok.clone(), overdue.clone(), failing.clone(), never.clone()];
    same_name.sort();
    let mut by_name = vec![awaiting.clone()];
    by_name.extend(same_name);
    assert_eq!(ids(&t, "sort=name"), by_name);
    // ... by next expected sync, soonest (most overdue) first.
    let by_next = ids(&t, "sort=next_sync&filter=all");
    let pos = |id: &str| by_next.iter().position(|x| x == id).unwrap();
    assert!(pos(&overdue) < pos(&failing) && pos(&failing) < pos(&ok));

    // Pages of two meet without overlap; the header says when one follows.
    let page = |offset: usize| {
        let a = t.admin(
            "GET",
            &format!("/v1/admin/devices?sort=name&limit=2&offset={offset}"),
            None,
        );
        (
            a.json()
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
            a.header("devices-more").map(str::to_owned),
        )
    };
    let (p0, m0) = page(0);
    let (p1, m1) = page(2);
    let (p2, m2) = page(4);
    assert_eq!((p0.len(), p1.len(), p2.len()), (2, 2, 1));
    assert_eq!(
        [m0.as_deref(), m1.as_deref(), m2.as_deref()],
        [Some("true"), Some("true"), Some("false")]
    );
    // Past the end: an empty page, not an error; an offset past any integer is the same.
    assert_eq!(page(5), (vec![], Some("false".into())));
    assert_eq!(ids(&t, "offset=18446744073709551615"), Vec::<String>::new());
    // What a page cannot mean is refused, not answered with every device.
    for bad in ["filter=broken", "sort=colour", "limit=0", "offset=-1"] {
        let a = t.admin("GET", &format!("/v1/admin/devices?{bad}"), None);
        assert_eq!(a.status, 400, "{bad}: {}", a.text());
    }
    // The rows carry what the list shows: names beside ids, the report's times.
    let row = &t.admin_ok("GET", "/v1/admin/devices?filter=ok", Value::Null)[0];
    assert_eq!(row["policy_name"], json!("Daily"));
    assert_eq!(row["sync_failing"], json!(false));
    assert!(
        row["last_report_at"].is_string() && row["next_sync_at"].as_str().unwrap().ends_with('Z')
    );
}

type Held = BTreeMap<String, String>;

fn sync_all(t: &TestServer, token: &str) -> (String, Held) {
    let a = t.device(token, "GET", "/v1/device/contacts?limit=2000", None);
    assert_eq!(a.status, 200, "{}", a.text());
    let page = a.json();
    assert_eq!(page["more"], json!(false));
    let held = page["upserts"]
        .as_array()
        .unwrap()
        .iter()
        .map(common::id_and_hash)
        .collect();
    (page["next_token"].as_str().unwrap().to_owned(), held)
}

fn report_holding(t: &TestServer, token: &str, sync_token: &str, held: &Held, fp: Option<&str>) {
    let real = set_fingerprint(held.iter().map(|(a, h)| (a.as_str(), h.as_str())));
    status(
        t,
        token,
        json!({"last_sync_at": ago(0), "last_sync_result": "ok", "managed_count": held.len(),
               "managed_fingerprint": fp.unwrap_or(&real), "sync_token": sync_token}),
    );
}

#[test]
fn verified_is_decided_when_the_report_arrives_and_the_admin_list_shows_what_the_phone_holds() {
    let t = TestServer::start(5);
    t.admin_ok(
        "POST",
        "/v1/admin/policies",
        json!({"id": "all", "name": "All", "basic_type": "all_groups", "sync_interval": "daily"}),
    );
    let (id, token) = t.enrolled_device("phone");
    t.admin_ok(
        "PUT",
        &format!("/v1/admin/devices/{id}/policy"),
        json!({"policy_id": "all"}),
    );
    let (sync_token, held) = sync_all(&t, &token);
    assert!(!held.is_empty());
    report_holding(&t, &token, &sync_token, &held, None);
    let st = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/status"),
        Value::Null,
    );
    assert_eq!(st["contacts_verified"], json!(true));

    // The server's data moves on; the phone has not synced.
    let (first, _) = held.iter().next().unwrap();
    let user = t.admin_ok("GET", &format!("/v1/admin/users/{first}"), Value::Null);
    let old_name = user["contact"]["display_name"].as_str().unwrap().to_owned();
    let mut contact = user["contact"].clone();
    contact["display_name"] = json!("Renamed On Server");
    contact.as_object_mut().unwrap().remove("groups");
    t.admin_ok("PUT", &format!("/v1/admin/users/{first}"), contact);

    let listed = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/contacts?limit=5000"),
        Value::Null,
    );
    assert_eq!(listed["pending"], json!(1));
    assert_eq!(
        listed["verified"],
        json!(true),
        "the phone still holds what it was sent"
    );
    let item = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(first))
        .unwrap();
    assert_eq!(
        item["display_name"],
        json!(old_name),
        "the phone's data, not the server's"
    );
    assert_eq!(item["pending"], json!(true));
    assert!(!listed.to_string().contains("Renamed On Server"));

    // A report whose fingerprint does not match what the token names: not verified, stored.
    report_holding(&t, &token, &sync_token, &held, Some("0000"));
    let rows = t.admin_ok("GET", "/v1/admin/devices", Value::Null);
    assert_eq!(rows[0]["contacts_verified"], json!(false));
}

#[test]
fn a_device_keeps_its_last_twenty_sync_runs_newest_first() {
    let t = TestServer::start(1);
    let (id, token) = t.enrolled_device("phone");
    for i in 0..25 {
        let at = ago(100 - i);
        status(
            &t,
            &token,
            json!({"last_sync_at": at, "last_sync_result": if i == 24 { "failed: timeout" } else { "ok" },
                   "managed_count": i}),
        );
        // The same run reported again (a later check-in) is one run.
        status(&t, &token, json!({"last_sync_at": at, "managed_count": i}));
    }
    let conn = t.db();
    let runs = device_list::runs(&conn, &id).unwrap();
    assert_eq!(runs.len(), 20);
    assert_eq!(runs[0].result.as_deref(), Some("failed: timeout"));
    assert_eq!(runs[0].contacts, 24);
    assert_eq!(runs[19].contacts, 5);
    assert!(runs.windows(2).all(|w| w[0].at > w[1].at));
}

#[test]
fn a_run_keeps_its_reason_and_duration_and_an_older_agents_report_is_still_taken() {
    let t = TestServer::start(1);
    let (id, token) = t.enrolled_device("phone");
    // An agent older than the two fields: accepted, its run stored without them.
    status(
        &t,
        &token,
        json!({"last_sync_at": ago(30), "last_sync_result": "ok", "managed_count": 3}),
    );
    status(
        &t,
        &token,
        json!({"last_sync_at": ago(20), "last_sync_result": "ok", "managed_count": 3,
               "last_sync_reason": "forced", "last_sync_duration_ms": 1234}),
    );
    // A newer agent's word: the run is kept, its reason unknown, the report not refused.
    status(
        &t,
        &token,
        json!({"last_sync_at": ago(10), "last_sync_result": "ok", "managed_count": 3,
               "last_sync_reason": "battery_saver_exit", "last_sync_duration_ms": 80}),
    );
    let conn = t.db();
    let runs = device_list::runs(&conn, &id).unwrap();
    let got: Vec<_> = runs.iter().map(|r| (r.reason, r.duration_ms)).collect();
    assert_eq!(
        got,
        vec![
            (Some(SyncReason::Unrecognized), Some(80)),
            (Some(SyncReason::Forced), Some(1234)),
            (None, None),
        ]
    );
    // Free text or a negative duration is not a report.
    for bad in [
        json!({"last_sync_reason": 5}),
        json!({"last_sync_duration_ms": -1}),
    ] {
        let mut body =
            json!({"reported_at": ago(0), "managed_count": 0, "managed_fingerprint": ""});
        body.as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        let a = t.device(&token, "POST", "/v1/device/status", Some(body));
        assert_eq!(a.status, 422, "{bad}: {}", a.text());
    }
}
