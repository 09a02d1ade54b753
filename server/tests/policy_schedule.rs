//! A policy's sync window and rollout spread over real HTTP: saved and read back by the admin
//! API, sent to the device in its policy (0 minutes left off the wire, as older servers
//! sent it), and refused with the reason when malformed, with nothing written.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use serde_json::{json, Value};

fn device_policy(t: &TestServer, token: &str) -> Value {
    let a = t.device(token, "GET", "/v1/device/policy", None);
    assert_eq!(a.status, 200, "{}", a.text());
    a.json()
}

#[test]
fn a_window_and_a_rollout_are_saved_and_reach_the_device() {
    let t = TestServer::start(20);
    let (_, token) = t.enrolled_device("phone");
    let before = device_policy(&t, &token);
    assert!(before.get("sync_window").is_none() && before.get("rollout_minutes").is_none());

    t.admin_ok(
        "PUT",
        "/v1/admin/policies/p",
        json!({"name": "Night", "sync_interval": "daily",
               "sync_window": {"start": "22:30", "end": "02:00"}, "rollout_minutes": 90}),
    );
    let record = t.admin_ok("GET", "/v1/admin/policies/p", Value::Null);
    assert_eq!(
        record["sync_window"],
        json!({"start": "22:30", "end": "02:00"})
    );
    assert_eq!(record["rollout_minutes"], 90);
    let sent = device_policy(&t, &token);
    assert_eq!(
        sent["sync_window"],
        json!({"start": "22:30", "end": "02:00"})
    );
    assert_eq!(sent["rollout_minutes"], 90);
    let policy =
        contacts_agent_protocol::Policy::from_json(&serde_json::to_vec(&sent).unwrap()).unwrap();
    assert_eq!(policy.rollout_minutes(), 90);
    assert_eq!(
        policy.sync_window.map(|w| w.label()),
        Some("22:30–02:00".to_owned())
    );

    // Back to the whole day and at once: the device policy is as it was before.
    t.admin_ok(
        "PUT",
        "/v1/admin/policies/p",
        json!({"name": "Night", "sync_interval": "daily"}),
    );
    let record = t.admin_ok("GET", "/v1/admin/policies/p", Value::Null);
    assert_eq!(record["sync_window"], Value::Null);
    assert_eq!(record["rollout_minutes"], 0);
    let sent = device_policy(&t, &token);
    assert!(sent.get("sync_window").is_none() && sent.get("rollout_minutes").is_none());
}

#[test]
fn an_empty_or_malformed_window_or_a_too_long_rollout_is_refused_and_nothing_changes() {
    let t = TestServer::start(20);
    let (_, token) = t.enrolled_device("phone");
    let before = t.admin_ok("GET", "/v1/admin/policies/p", Value::Null);
    let policy_before = device_policy(&t, &token);
    let cases = [
        (
            json!({"start": "03:00", "end": "03:00"}),
            0,
            "start and an end that differ",
        ),
        (
            json!({"start": "3:00", "end": "05:00"}),
            0,
            "are times of day, HH:MM",
        ),
        (
            json!({"start": "01:00", "end": "24:00"}),
            0,
            "are times of day, HH:MM",
        ),
        (json!({"start": "01:00"}), 0, ""),
        (
            json!({"start": "01:00", "end": "05:00", "tz": "UTC"}),
            0,
            "",
        ),
        (
            json!({"start": "01:00", "end": "05:00"}),
            7 * 24 * 60 + 1,
            "at most 10080",
        ),
    ];
    for (window, rollout, says) in cases {
        let a = t.admin(
            "PUT",
            "/v1/admin/policies/p",
            Some(json!({"name": "Changed", "sync_window": window, "rollout_minutes": rollout})),
        );
        assert!(
            a.status == 422 || a.status == 400,
            "{window} {rollout}: {} {}",
            a.status,
            a.text()
        );
        assert!(a.text().contains(says), "{window}: {}", a.text());
        assert_eq!(
            t.admin_ok("GET", "/v1/admin/policies/p", Value::Null),
            before
        );
    }
    assert_eq!(device_policy(&t, &token), policy_before);
}
