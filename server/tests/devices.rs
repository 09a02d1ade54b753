//! A device's life on the server: enrollment codes that expire and can be issued again,
//! revocation the device is told about, token rotation, policy assignment, photos only for
//! entitled devices, and contact pages that stay under their byte cap.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{request, TestServer, ADMIN_TOKEN};
use contacts_agent_protocol::hash::sha256_hex;
use serde_json::{json, Value};

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn a_revoked_device_is_told_so_listed_as_revoked_and_can_enroll_again_with_the_new_code() {
    let t = TestServer::start(20);
    let (id, token) = t.enrolled_device("phone");
    assert_eq!(
        t.device(&token, "GET", "/v1/device/policy", None).status,
        200
    );

    let revoked = t.admin_ok(
        "POST",
        &format!("/v1/admin/devices/{id}/revoke"),
        Value::Null,
    );
    let code = revoked["enrollment_code"].as_str().unwrap();
    assert!(time(&revoked["expires_at"]) > Utc::now() + chrono::Duration::days(6));

    // The token is dead at once, and the device learns why.
    let a = t.device(&token, "GET", "/v1/device/contacts", None);
    assert_eq!(
        (a.status, a.json()["error"].as_str()),
        (401, Some("device_revoked"))
    );
    let listed = t.admin_ok("GET", "/v1/admin/devices", Value::Null);
    let d = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap();
    assert_eq!(
        (d["state"].as_str(), d["enrolled"].as_bool()),
        (Some("revoked"), Some(false))
    );
    assert!(d["revoked_at"].is_string());
    let status = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/status"),
        Value::Null,
    );
    assert_eq!(status["state"], "revoked");

    // Enrolling again with the new code makes a working device; the old token stays dead,
    // now as an unknown one.
    let a = t.enroll(code);
    assert_eq!(a.status, 201, "{}", a.text());
    let new_token = a.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        t.device(&new_token, "GET", "/v1/device/policy", None)
            .status,
        200
    );
    let a = t.device(&token, "GET", "/v1/device/policy", None);
    assert_eq!(
        (a.status, a.json()["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let d = t.admin_ok("GET", &format!("/v1/admin/devices/{id}"), Value::Null);
    assert_eq!(
        (d["state"].as_str(), &d["revoked_at"]),
        (Some("enrolled"), &Value::Null)
    );
    // Single use.
    assert_eq!(t.enroll(code).status, 401);
}

#[test]
fn a_device_that_retires_itself_loses_its_token_and_is_listed_as_retired_until_it_enrolls_again() {
    let t = TestServer::start(5);
    let (id, token) = t.enrolled_device("phone");
    let a = t.device(&token, "POST", "/v1/device/retire", None);
    assert_eq!(a.status, 204, "{}", a.text());
    // The token is dead (told as revoked, so a stray run removes what is left) and a second
    // retire with it is refused the same way.
    for (method, path) in [("GET", "/v1/device/policy"), ("POST", "/v1/device/retire")] {
        let a = t.device(&token, method, path, None);
        assert_eq!(
            (a.status, a.json()["error"].as_str()),
            (401, Some("device_revoked")),
            "{method} {path}"
        );
    }
    let d = t.admin_ok("GET", &format!("/v1/admin/devices/{id}"), Value::Null);
    assert_eq!(
        (d["state"].as_str(), d["enrolled"].as_bool()),
        (Some("retired"), Some(false))
    );
    assert!(d["retired_at"].is_string());
    assert!(
        d["enrollment_code_expires_at"].is_null(),
        "no code is issued by a retire"
    );
    let status = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/status"),
        Value::Null,
    );
    assert_eq!(status["state"], "retired");

    // The admin issues a code; enrolling with it clears the retirement.
    let issued = t.admin_ok(
        "POST",
        &format!("/v1/admin/devices/{id}/enrollment-code"),
        Value::Null,
    );
    let a = t.enroll(issued["enrollment_code"].as_str().unwrap());
    assert_eq!(a.status, 201, "{}", a.text());
    let d = t.admin_ok("GET", &format!("/v1/admin/devices/{id}"), Value::Null);
    assert_eq!(
        (d["state"].as_str(), &d["retired_at"]),
        (Some("enrolled"), &Value::Null)
    );
}

#[test]
fn enrollment_codes_expire_after_the_configured_time_and_can_be_issued_again() {
    let t = TestServer::start(5);
    let (_, code) = t.new_device("default");
    let d = t.admin_ok("GET", "/v1/admin/devices", Value::Null)[0].clone();
    let left = time(&d["enrollment_code_expires_at"]) - Utc::now();
    assert!(
        left > chrono::Duration::days(7) - chrono::Duration::minutes(1)
            && left <= chrono::Duration::days(7),
        "{left}"
    );
    assert_eq!(t.enroll(&code).status, 201);

    let t = TestServer::start_with(5, |c| c.enrollment_code_ttl = Duration::from_millis(600));
    let (id, code) = t.new_device("late");
    std::thread::sleep(Duration::from_millis(800));
    let a = t.enroll(&code);
    assert_eq!(
        (a.status, a.json()["error"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(
        t.admin_ok("GET", &format!("/v1/admin/devices/{id}"), Value::Null)["state"],
        "awaiting_enrollment"
    );
    let again = t.admin_ok(
        "POST",
        &format!("/v1/admin/devices/{id}/enrollment-code"),
        Value::Null,
    );
    assert_eq!(
        t.enroll(again["enrollment_code"].as_str().unwrap()).status,
        201
    );
}

#[test]
fn a_new_code_for_an_enrolled_device_leaves_its_token_working_until_the_code_is_used() {
    let t = TestServer::start(5);
    let (id, token) = t.enrolled_device("phone");
    let again = t.admin_ok(
        "POST",
        &format!("/v1/admin/devices/{id}/enrollment-code"),
        Value::Null,
    );
    assert_eq!(
        t.device(&token, "GET", "/v1/device/policy", None).status,
        200
    );
    let a = t.enroll(again["enrollment_code"].as_str().unwrap());
    assert_eq!(a.json()["device_id"], id);
    assert_eq!(
        t.device(&token, "GET", "/v1/device/policy", None).status,
        401
    );
}

#[test]
fn a_rotated_token_takes_over_on_first_use_and_a_lost_answer_costs_nothing() {
    let t = TestServer::start(5);
    let (id, old) = t.enrolled_device("phone");
    let rotate = |token: &str| {
        let a = t.device(token, "POST", "/v1/device/token", None);
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.json()["device_id"], id);
        a.json()["token"].as_str().unwrap().to_owned()
    };
    // The first answer is "lost": the device still has the old token and asks again.
    let lost = rotate(&old);
    assert_eq!(t.device(&old, "GET", "/v1/device/policy", None).status, 200);
    let new = rotate(&old);
    assert_eq!(
        t.device(&lost, "GET", "/v1/device/policy", None).status,
        401
    );
    // First use of the new one retires the old one.
    assert_eq!(t.device(&new, "GET", "/v1/device/policy", None).status, 200);
    assert_eq!(t.device(&old, "GET", "/v1/device/policy", None).status, 401);
    assert_eq!(
        t.device(&new, "GET", "/v1/device/commands", None).status,
        200
    );
}

#[test]
fn assigning_a_policy_needs_policy_id_and_only_an_explicit_null_unassigns() {
    let t = TestServer::start(5);
    let (id, _) = t.enrolled_device("phone");
    let path = format!("/v1/admin/devices/{id}/policy");
    let a = t.admin("PUT", &path, Some(json!({})));
    assert_eq!(
        (a.status, a.json()["message"].as_str()),
        (
            422,
            Some("policy_id is required (null unassigns the policy)")
        )
    );
    let d = t.admin_ok("GET", &format!("/v1/admin/devices/{id}"), Value::Null);
    assert_eq!(d["policy_id"], "p");
    let d = t.admin_ok("PUT", &path, json!({"policy_id": null}));
    assert_eq!(d["policy_id"], Value::Null);
    let d = t.admin_ok("PUT", &path, json!({"policy_id": "p"}));
    assert_eq!(d["policy_id"], "p");
}

#[test]
fn pressing_synchronize_twice_queues_one_command() {
    let t = TestServer::start(5);
    let (id, _) = t.enrolled_device("phone");
    let first = t.admin_ok("POST", &format!("/v1/admin/devices/{id}/sync"), Value::Null);
    let second = t.admin_ok("POST", &format!("/v1/admin/devices/{id}/sync"), Value::Null);
    assert_eq!(first["command_id"], second["command_id"]);
    let commands = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/commands"),
        Value::Null,
    );
    assert_eq!(commands.as_array().unwrap().len(), 1);
}

fn set_photo(t: &TestServer, user: &str, bytes: &[u8]) {
    let a = request(
        t.addr(),
        "PUT",
        &format!("/v1/admin/users/{user}/photo"),
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        bytes,
    );
    assert_eq!(a.status, 204, "{}", a.text());
}

#[test]
fn a_device_gets_a_photo_only_while_a_contact_it_is_entitled_to_carries_it() {
    let t = TestServer::start(30);
    // `p` entitles the device to Harvey; u-000010 is put in Harvey, u-000011 only in Mike.
    t.admin_ok(
        "PUT",
        "/v1/admin/groups/harvey/members/u-000010",
        Value::Null,
    );
    t.admin("DELETE", "/v1/admin/groups/harvey/members/u-000011", None);
    t.admin_ok("PUT", "/v1/admin/groups/mike/members/u-000011", Value::Null);
    let (entitled, other) = (b"entitled photo".to_vec(), b"someone else's photo".to_vec());
    set_photo(&t, "u-000010", &entitled);
    set_photo(&t, "u-000011", &other);
    let (_, token) = t.enrolled_device("phone");
    let get = |bytes: &[u8]| {
        t.device(
            &token,
            "GET",
            &format!("/v1/device/photos/{}", sha256_hex(bytes)),
            None,
        )
    };
    let a = get(&entitled);
    assert_eq!((a.status, a.body.as_slice()), (200, entitled.as_slice()));
    // Not entitled: the same answer as a hash no contact carries.
    let refused = get(&other);
    let unknown = get(b"no such photo");
    assert_eq!((refused.status, unknown.status), (404, 404));
    assert_eq!(refused.body, unknown.body);
    // Entitlement follows the policy and the groups now, not the last sync.
    t.admin_ok(
        "PUT",
        "/v1/admin/policies/p",
        json!({"name": "P", "additional_groups": ["harvey", "mike"]}),
    );
    assert_eq!(get(&other).status, 200);
    t.admin_ok(
        "DELETE",
        "/v1/admin/groups/harvey/members/u-000010",
        Value::Null,
    );
    assert_eq!(get(&entitled).status, 404);
}

/// A contact at every limit, each string in four-byte characters: ~130 KB of JSON.
fn biggest_contact(i: usize) -> Value {
    let s = |n: usize| format!("{i:04}{}", "😀".repeat(n - 4));
    let postal = || json!({"street": s(256), "city": s(256), "region": s(256), "postcode": s(256), "country": s(256)});
    json!({
        "given_name": s(256), "family_name": s(256), "display_name": s(256),
        "organization": s(256), "department": s(256), "title": s(256), "note": s(4096),
        "phones": (0..20).map(|_| json!({"number": s(64), "kind": "custom", "label": s(64)})).collect::<Vec<_>>(),
        "emails": (0..20).map(|_| json!({"address": s(254), "kind": "custom", "label": s(64)})).collect::<Vec<_>>(),
        "address": postal(),
        "prefix": s(256), "middle_name": s(256), "suffix": s(256),
        "phonetic_given_name": s(256), "phonetic_family_name": s(256), "nickname": s(256),
        "addresses": (0..5).map(|_| json!({"kind": "custom", "label": s(64), "address": postal()})).collect::<Vec<_>>(),
        "websites": (0..5).map(|_| s(512)).collect::<Vec<_>>(),
        "sip_addresses": (0..5).map(|_| s(258)).collect::<Vec<_>>(),
        "ims": (0..5).map(|_| json!({"protocol": s(64), "handle": s(256)})).collect::<Vec<_>>(),
        "office_location": s(256), "manager": s(256), "assistant": s(256),
    })
}

#[test]
fn the_biggest_contact_fits_its_body_limit_and_one_past_a_1_0_limit_is_refused() {
    let t = TestServer::start(1);
    let c = biggest_contact(0);
    let len = serde_json::to_vec(&json!({"contact": c})).unwrap().len();
    assert!(len > 64 * 1024 && len < 256 * 1024, "{len} bytes");
    t.admin_ok(
        "POST",
        "/v1/admin/users",
        json!({"id": "big", "contact": c}),
    );
    // 10,000 phones: refused by count, with nothing stored.
    let mut many = biggest_contact(1);
    many["phones"] = json!(vec![json!({"number": "1", "kind": "work"}); 10_000]);
    let a = t.admin(
        "POST",
        "/v1/admin/users",
        Some(json!({"id": "many", "contact": many})),
    );
    assert_eq!(
        a.status, 413,
        "10,000 phones are past the body limit before any parsing"
    );
    let mut big_note = biggest_contact(1);
    big_note["note"] = json!("x".repeat(1024 * 1024));
    let a = t.admin(
        "POST",
        "/v1/admin/users",
        Some(json!({"id": "many", "contact": big_note})),
    );
    assert_eq!(a.status, 413);
    let mut c = biggest_contact(2);
    c["phones"] = json!([{"number": "1", "kind": "work"}]);
    c["websites"] = json!(vec![json!("https://a.example"); 6]);
    let a = t.admin(
        "POST",
        "/v1/admin/users",
        Some(json!({"id": "six", "contact": c})),
    );
    assert_eq!(
        (a.status, a.json()["message"].as_str()),
        (422, Some("websites has more than 5 entries"))
    );
    let mut c = biggest_contact(3);
    c["phones"] = json!([{"number": "1", "kind": "work", "preferred": true},
                         {"number": "2", "kind": "home", "preferred": true}]);
    let a = t.admin("PUT", "/v1/admin/users/big", Some(c));
    assert_eq!(
        (a.status, a.json()["message"].as_str()),
        (422, Some("phones has more than one preferred entry"))
    );
    for id in ["many", "six"] {
        assert_eq!(
            t.admin("GET", &format!("/v1/admin/users/{id}"), None)
                .status,
            404
        );
    }
    let kept = t.admin("GET", "/v1/admin/users/big", None).json();
    assert_eq!(kept["contact"]["phones"][0]["kind"], "custom");
    // The deprecated `address` is kept as sent, beside `addresses`.
    assert!(kept["contact"]["address"]["city"].is_string());
    assert_eq!(
        kept["contact"]["addresses"].as_array().map(Vec::len),
        Some(5)
    );
}

#[test]
fn an_oversized_contact_is_refused_and_no_contacts_page_passes_4_mib() {
    let t = TestServer::start(1);
    let mut c = biggest_contact(0);
    c["note"] = json!("x".repeat(4097));
    let a = t.admin(
        "POST",
        "/v1/admin/users",
        Some(json!({"contact": c, "groups": ["harvey"]})),
    );
    assert_eq!(a.status, 422);
    assert_eq!(a.json()["message"], "note is longer than 4096 characters");
    c["note"] = json!("x");
    c["phones"] = json!(vec![json!({"number": "1", "kind": "work"}); 21]);
    assert_eq!(
        t.admin("POST", "/v1/admin/users", Some(json!({"contact": c})))
            .status,
        422
    );

    let n = 120;
    for i in 0..n {
        t.admin_ok(
            "POST",
            "/v1/admin/users",
            json!({"contact": biggest_contact(i), "groups": ["harvey"]}),
        );
    }
    let (_, token) = t.enrolled_device("phone");
    let (mut since, mut pages, mut got) = (None::<String>, 0, 0);
    loop {
        let path = match &since {
            Some(s) => format!("/v1/device/contacts?limit=2000&since={s}"),
            None => "/v1/device/contacts?limit=2000".to_owned(),
        };
        let a = t.device(&token, "GET", &path, None);
        assert_eq!(a.status, 200);
        assert!(
            a.body.len() <= 4 * 1024 * 1024,
            "a page of {} bytes",
            a.body.len()
        );
        let page = a.json();
        got += page["upserts"].as_array().unwrap().len();
        pages += 1;
        since = Some(page["next_token"].as_str().unwrap().to_owned());
        if page["more"] == false {
            break;
        }
    }
    assert_eq!(got, n);
    assert!(pages >= 2, "{n} contacts of ~50 KB fit one page?");
}

#[test]
fn a_status_report_with_a_date_that_is_not_one_is_refused() {
    let t = TestServer::start(1);
    let (id, token) = t.enrolled_device("phone");
    let report =
        |reported_at: &str, result: String| {
            t.device(
            &token,
            "POST",
            "/v1/device/status",
            Some(json!({"reported_at": reported_at, "managed_count": 0, "managed_fingerprint": "",
                        "last_sync_result": result})),
        )
        };
    let a = report("yesterday", "ok".into());
    assert_eq!(
        (a.status, a.json()["message"].as_str()),
        (422, Some("reported_at is not an RFC 3339 date-time"))
    );
    // An over-long result is cut, not refused: a refused report would stay queued on the
    // phone for good.
    assert_eq!(
        report(
            "2026-11-25T10:00:00Z",
            format!("failed: {}", "x".repeat(30_000))
        )
        .status,
        204
    );
    let status = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/status"),
        Value::Null,
    );
    assert_eq!(
        status["last_sync_result"].as_str().unwrap().chars().count(),
        1024
    );
}

#[test]
fn a_version_3_database_gives_its_outstanding_codes_the_default_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    {
        // The released schema as it was before version 4.
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in [
            include_str!("../src/schema.sql"),
            include_str!("../src/schema_2_backups.sql"),
            include_str!("../src/schema_3_console.sql"),
        ] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute(
            "INSERT INTO devices (id, name, enrollment_code, created_at) VALUES ('d-1', 'old', 'c0de', '2026-01-01T00:00:00.000Z')",
            [],
        )
        .unwrap();
    }
    let conn = contacts_agent_server::db::open(&path).unwrap();
    let expires: String = conn
        .query_row(
            "SELECT enrollment_expires_at FROM devices WHERE id = 'd-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let left = expires.parse::<DateTime<Utc>>().unwrap() - Utc::now();
    assert!(
        left > chrono::Duration::days(7) - chrono::Duration::minutes(1),
        "{expires}"
    );
    let d = contacts_agent_server::repo::get_device(&conn, "d-1").unwrap();
    assert_eq!(
        d.state,
        contacts_agent_server::repo::DeviceState::AwaitingEnrollment
    );
}
