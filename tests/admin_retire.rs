//! The admin's commands as the real agent carries them out: "Retire" removes every business
//! contact (and our contact groups), never a personal one, unenrolls, and the console goes
//! from "retiring" to "retired"; every command shows when the device picked it up. Real
//! server on loopback, real SQLite phone.
#![allow(clippy::unwrap_used)]

mod common;

use common::World;
use contacts_agent::store::ContactStore;
use contacts_agent::Error;
use serde_json::{json, Value};

fn commands(w: &World) -> Vec<Value> {
    w.admin
        .get(&format!("/v1/admin/devices/{}/commands", w.device))
        .unwrap()
}

#[test]
fn an_admin_retire_removes_the_business_contacts_unenrolls_and_the_console_shows_it_retired() {
    let w = World::new(300);
    w.set_policy("all_groups", &[], "daily");
    let mut agent = w.agent();
    let business = agent.sync_now().unwrap().managed_count;
    assert!(business > 100, "{business}");
    assert!(!agent.store().managed_groups().unwrap().is_empty());
    let personal_before = agent.store().personal_fingerprint().unwrap();
    assert_eq!(personal_before.0, 3);

    let queued: Value = w
        .admin
        .post(
            &format!("/v1/admin/devices/{}/retire", w.device),
            &json!({}),
        )
        .unwrap();
    assert_eq!(queued["device"]["state"], "retiring");
    let command_id = queued["command_id"].as_str().unwrap().to_owned();

    let ran = agent.run_due().unwrap();
    let retired = ran.retired.unwrap().unwrap();
    assert_eq!(retired.contacts_removed, business);
    assert!(retired.server_notified);
    assert!(ran.sync.is_none() && ran.backup.is_none());

    // The phone: no business contact or group left, every personal contact as it was.
    assert_eq!(agent.store().managed_raw_count().unwrap(), 0);
    assert!(agent.store().managed_groups().unwrap().is_empty());
    assert_eq!(
        agent.store().personal_fingerprint().unwrap(),
        personal_before
    );
    // The console: retired, the command picked up and done.
    let d: Value = w
        .admin
        .get(&format!("/v1/admin/devices/{}", w.device))
        .unwrap();
    assert_eq!(d["state"], "retired");
    let listed = commands(&w);
    let c = listed.iter().find(|c| c["id"] == command_id).unwrap();
    assert_eq!(c["kind"], "retire");
    assert!(
        c["picked_up_at"].is_string() && c["completed_at"].is_string(),
        "{c}"
    );
    assert!(c["picked_up_at"].as_str() <= c["completed_at"].as_str());
    // The agent: as a fresh install.
    assert_eq!(agent.status().unwrap().device_id, None);
    assert!(matches!(agent.run_due(), Err(Error::NotEnrolled)));
}

#[test]
fn synchronize_contacts_is_picked_up_then_done_by_the_next_run() {
    let w = World::new(50);
    let mut agent = w.agent();
    agent.sync_now().unwrap();
    let queued: Value = w
        .admin
        .post(&format!("/v1/admin/devices/{}/sync", w.device), &json!({}))
        .unwrap();
    let id = queued["command_id"].as_str().unwrap();
    let before = commands(&w);
    assert!(before[0]["picked_up_at"].is_null());

    let ran = agent.run_due().unwrap();
    assert!(ran.retired.is_none());
    assert_eq!(
        ran.sync.unwrap().unwrap().reason,
        contacts_agent::agent::Reason::Forced
    );
    let after = commands(&w);
    let c = after.iter().find(|c| c["id"] == id).unwrap();
    assert!(
        c["picked_up_at"].is_string() && c["completed_at"].is_string(),
        "{c}"
    );
    assert!(c["picked_up_at"].as_str() <= c["completed_at"].as_str());
}
