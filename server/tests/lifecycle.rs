//! A device's life cycle as the admin drives it: retire (a command the device picks up and
//! completes by retiring; "retiring" until then), commands that record when they were picked
//! up, and the enrollment link with its QR code, refused once the device is enrolled. Real
//! server on loopback; the device is the raw device API.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use contacts_agent_protocol::enroll_link;
use serde_json::{json, Value};

fn command<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no command {id} in {list}"))
}

#[test]
fn a_retired_device_is_retiring_until_it_reports_then_retired_with_its_commands_closed() {
    let t = TestServer::start(20);
    let (id, token) = t.enrolled_device("phone");
    // It reported the next sync it expects.
    let a = t.device(
        &token,
        "POST",
        "/v1/device/status",
        Some(
            json!({"reported_at": "2026-11-25T10:00:00Z", "managed_count": 0,
                    "managed_fingerprint": "", "last_sync_at": "2026-11-25T10:00:00Z",
                    "last_sync_result": "ok", "next_sync_at": "2099-01-01T00:00:00Z"}),
        ),
    );
    assert_eq!(a.status, 204, "{}", a.text());
    let next_sync = |t: &TestServer| {
        let status = t.admin_ok(
            "GET",
            &format!("/v1/admin/devices/{id}/status"),
            Value::Null,
        );
        let listed = t.admin_ok("GET", "/v1/admin/devices", Value::Null);
        let row = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id.as_str())
            .unwrap()
            .clone();
        (
            status["next_expected_sync"].clone(),
            row["next_sync_at"].clone(),
        )
    };
    assert_eq!(
        next_sync(&t),
        // The list keeps report times in UTC with milliseconds.
        (
            json!("2099-01-01T00:00:00Z"),
            json!("2099-01-01T00:00:00.000Z")
        )
    );
    let sync = t.admin_ok("POST", &format!("/v1/admin/devices/{id}/sync"), Value::Null);
    let sync_id = sync["command_id"].as_str().unwrap().to_owned();

    let a = t.admin("POST", &format!("/v1/admin/devices/{id}/retire"), None);
    assert_eq!(a.status, 202, "{}", a.text());
    let retire = a.json();
    let retire_id = retire["command_id"].as_str().unwrap().to_owned();
    assert_eq!(retire["already_requested"], false);
    assert_eq!(retire["device"]["state"], "retiring");
    assert_eq!(retire["device"]["enrolled"], true);
    assert!(retire["device"]["retire_requested_at"].is_string());

    // Retiring twice changes nothing: the same command, said so.
    let again = t.admin("POST", &format!("/v1/admin/devices/{id}/retire"), None);
    assert_eq!(again.status, 202);
    assert_eq!(again.json()["command_id"], retire_id.as_str());
    assert_eq!(again.json()["already_requested"], true);

    // Queued, not yet picked up.
    let listed = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/commands"),
        Value::Null,
    );
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(command(&listed, &retire_id)["picked_up_at"].is_null());

    // The device's poll lists both kinds and marks them picked up.
    let polled = t.device(&token, "GET", "/v1/device/commands", None).json();
    let mut kinds: Vec<&str> = polled["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    // Oldest first, but the two were issued within one millisecond: either order is that.
    kinds.sort_unstable();
    assert_eq!(kinds, ["retire", "sync_now"]);
    let listed = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/commands"),
        Value::Null,
    );
    let picked = command(&listed, &retire_id)["picked_up_at"].clone();
    assert!(picked.is_string(), "{listed}");
    assert!(command(&listed, &sync_id)["picked_up_at"].is_string());
    // A second poll keeps the first pick-up time.
    t.device(&token, "GET", "/v1/device/commands", None);
    let listed = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/commands"),
        Value::Null,
    );
    assert_eq!(command(&listed, &retire_id)["picked_up_at"], picked);

    // A status report cannot close a retire (an agent that took it for a sync): only
    // retiring does.
    let report = json!({"reported_at": "2026-11-25T10:00:00Z", "managed_count": 0,
        "managed_fingerprint": "", "completed_commands": [retire_id]});
    assert_eq!(
        t.device(&token, "POST", "/v1/device/status", Some(report))
            .status,
        204
    );
    let status = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/status"),
        Value::Null,
    );
    assert_eq!(status["state"], "retiring");
    assert_eq!(status["pending_commands"], 2);
    assert!(status["retire_requested_at"].is_string());

    // While retiring: no force sync, no new code for another phone.
    let a = t.admin("POST", &format!("/v1/admin/devices/{id}/sync"), None);
    assert_eq!(
        (a.status, a.json()["error"].as_str()),
        (409, Some("conflict"))
    );
    let a = t.admin(
        "POST",
        &format!("/v1/admin/devices/{id}/enrollment-code"),
        None,
    );
    assert_eq!(a.status, 409, "{}", a.text());
    assert!(a.json()["message"].as_str().unwrap().contains("retiring"));

    // The device carried it out.
    assert_eq!(
        t.device(&token, "POST", "/v1/device/retire", None).status,
        204
    );
    let d = t.admin_ok("GET", &format!("/v1/admin/devices/{id}"), Value::Null);
    assert_eq!(
        (d["state"].as_str(), d["enrolled"].as_bool()),
        (Some("retired"), Some(false))
    );
    assert!(d["retired_at"].is_string());
    let listed = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/commands"),
        Value::Null,
    );
    let r = command(&listed, &retire_id);
    assert!(
        r["completed_at"].is_string() && r["cancelled_at"].is_null(),
        "{r}"
    );
    let s = command(&listed, &sync_id);
    assert!(
        s["completed_at"].is_null() && s["cancelled_at"].is_string(),
        "{s}"
    );
    let status = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/status"),
        Value::Null,
    );
    assert_eq!(status["pending_commands"], 0);
    // A retired device will not sync again: no next sync is expected of it.
    assert_eq!(next_sync(&t), (Value::Null, Value::Null));
    let a = t.device(&token, "GET", "/v1/device/commands", None);
    assert_eq!(
        (a.status, a.json()["error"].as_str()),
        (401, Some("device_revoked"))
    );

    // Retiring a retired device is a clear 409, and changes nothing.
    let a = t.admin("POST", &format!("/v1/admin/devices/{id}/retire"), None);
    assert_eq!(a.status, 409);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("already retired"));
    let a = t.admin("POST", &format!("/v1/admin/devices/{id}/sync"), None);
    assert_eq!(a.status, 409);
    // It may come back: a new code, a new enrollment.
    let code = t.admin_ok(
        "POST",
        &format!("/v1/admin/devices/{id}/enrollment-code"),
        Value::Null,
    );
    let a = t.enroll(code["enrollment_code"].as_str().unwrap());
    assert_eq!(a.status, 201);
    let d = t.admin_ok("GET", &format!("/v1/admin/devices/{id}"), Value::Null);
    assert_eq!(d["state"], "enrolled");
    assert!(d["retired_at"].is_null() && d["retire_requested_at"].is_null());
}

#[test]
fn retiring_a_device_no_phone_holds_retires_it_at_once_and_voids_its_code() {
    let t = TestServer::start(20);
    let (id, code) = t.new_device("never enrolled");
    let a = t.admin("POST", &format!("/v1/admin/devices/{id}/retire"), None);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["command_id"], Value::Null);
    assert_eq!(a.json()["device"]["state"], "retired");
    assert_eq!(t.enroll(&code).status, 401);
    assert_eq!(
        t.admin_ok(
            "GET",
            &format!("/v1/admin/devices/{id}/commands"),
            Value::Null
        ),
        json!([])
    );

    // A revoked device: its phone learns from its dead token (401 device_revoked) and
    // removes the contacts; the code the revoke issued stops working.
    let (id, token) = t.enrolled_device("lost");
    let revoked = t.admin_ok(
        "POST",
        &format!("/v1/admin/devices/{id}/revoke"),
        Value::Null,
    );
    let a = t.admin("POST", &format!("/v1/admin/devices/{id}/retire"), None);
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["device"]["state"], "retired");
    assert_eq!(
        t.enroll(revoked["enrollment_code"].as_str().unwrap())
            .status,
        401
    );
    let a = t.device(&token, "GET", "/v1/device/policy", None);
    assert_eq!(a.json()["error"], "device_revoked");
}

#[test]
fn revoking_a_retiring_device_cancels_the_retire_it_never_carried_out() {
    let t = TestServer::start(20);
    let (id, token) = t.enrolled_device("phone");
    let retire = t.admin_ok(
        "POST",
        &format!("/v1/admin/devices/{id}/retire"),
        Value::Null,
    );
    let retire_id = retire["command_id"].as_str().unwrap();
    t.admin_ok(
        "POST",
        &format!("/v1/admin/devices/{id}/revoke"),
        Value::Null,
    );
    let d = t.admin_ok("GET", &format!("/v1/admin/devices/{id}"), Value::Null);
    assert_eq!(d["state"], "revoked");
    assert!(d["retire_requested_at"].is_null());
    let listed = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/commands"),
        Value::Null,
    );
    assert!(command(&listed, retire_id)["cancelled_at"].is_string());
    assert_eq!(
        t.device(&token, "GET", "/v1/device/commands", None).json()["error"],
        "device_revoked"
    );
}

#[test]
fn the_enrollment_link_and_its_qr_code_carry_the_outstanding_code_and_are_refused_once_enrolled() {
    let t = TestServer::start(20);
    let created = t.admin_ok(
        "POST",
        "/v1/admin/devices",
        json!({"name": "new phone", "policy_id": "p"}),
    );
    let id = created["device"]["id"].as_str().unwrap();
    let code = created["enrollment_code"].as_str().unwrap();
    let link = created["enrollment_link"].as_str().unwrap();
    // The admin's request came to this address: the link names it.
    let parsed = enroll_link::parse(link).unwrap();
    assert_eq!(parsed.server_url, t.server.url());
    assert_eq!(parsed.code, code);

    let a = t.admin(
        "GET",
        &format!("/v1/admin/devices/{id}/enrollment-qr"),
        None,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.header("content-type"), Some("image/svg+xml"));
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert_eq!(
        a.text(),
        contacts_agent_server::enroll_qr::qr_svg(link).unwrap()
    );

    // Enrolled: the code is spent, and no QR code is shown for it.
    assert_eq!(t.enroll(code).status, 201);
    let a = t.admin(
        "GET",
        &format!("/v1/admin/devices/{id}/enrollment-qr"),
        None,
    );
    assert_eq!(a.status, 409);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("already enrolled"));
    // A code the admin issues to move it to another phone has its own link and QR code.
    let again = t.admin_ok(
        "POST",
        &format!("/v1/admin/devices/{id}/enrollment-code"),
        Value::Null,
    );
    let link = again["enrollment_link"].as_str().unwrap();
    assert_eq!(
        enroll_link::parse(link).unwrap().code,
        again["enrollment_code"].as_str().unwrap()
    );
    let a = t.admin(
        "GET",
        &format!("/v1/admin/devices/{id}/enrollment-qr"),
        None,
    );
    assert_eq!(
        a.text(),
        contacts_agent_server::enroll_qr::qr_svg(link).unwrap()
    );

    assert_eq!(
        t.admin("GET", "/v1/admin/devices/d-nope/enrollment-qr", None)
            .status,
        404
    );
}

#[test]
fn a_configured_public_url_is_what_the_enrollment_link_names() {
    let t = TestServer::start_with(5, |c| {
        c.public_url = Some("https://mdm.example.com/contacts/".into());
    });
    let created = t.admin_ok("POST", "/v1/admin/devices", json!({"name": "phone"}));
    let link = enroll_link::parse(created["enrollment_link"].as_str().unwrap()).unwrap();
    assert_eq!(link.server_url, "https://mdm.example.com/contacts");
    assert_eq!(link.code, created["enrollment_code"].as_str().unwrap());
}
