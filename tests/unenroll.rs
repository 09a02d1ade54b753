//! Leaving management from the phone's side: every business contact goes, personal ones stay,
//! the server shows the device as retired and its token dies, the agent's state is as a fresh
//! install; progress is reported by counts along the way. Real server on loopback, real
//! SQLite phone.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::World;
use contacts_agent::progress::{Phase, Progress};
use contacts_agent::Error;
use serde_json::Value;

#[test]
fn unenroll_removes_the_business_contacts_tells_the_server_and_wipes_the_state() {
    let w = World::new(300);
    w.set_policy("all_groups", &[], "daily");
    let mut agent = w.agent();
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = Arc::clone(&seen);
    agent.set_progress(Some(Arc::new(move |p| sink.lock().unwrap().push(p))));
    let synced = agent.sync_now().unwrap();
    let business = synced.managed_count;
    assert!(business > 100, "{business}");
    let personal_before = agent.store().personal_fingerprint().unwrap();
    // Pages of 100: the sync reported after each, counting up to everything it received.
    let sync: Vec<u64> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.phase == Phase::Sync)
        .map(|p| p.done)
        .collect();
    assert!(
        sync.len() >= 2 && sync.windows(2).all(|w| w[0] < w[1]),
        "{sync:?}"
    );
    assert_eq!(*sync.last().unwrap(), business);
    seen.lock().unwrap().clear();

    let report = agent.unenroll().unwrap();
    assert_eq!(report.contacts_removed, business);
    assert!(report.server_notified);
    assert_eq!(agent.store().managed_raw_count().unwrap(), 0);
    assert_eq!(
        agent.store().personal_fingerprint().unwrap(),
        personal_before,
        "personal contacts untouched"
    );
    let removal: Vec<Progress> = seen.lock().unwrap().clone();
    assert_eq!(
        removal.first().map(|p| (p.done, p.total)),
        Some((0, Some(business)))
    );
    assert_eq!(
        removal.last().map(|p| (p.done, p.total)),
        Some((business, Some(business)))
    );

    // The console's side: retired, not revoked.
    let d: Value = w
        .admin
        .get(&format!("/v1/admin/devices/{}", w.device))
        .unwrap();
    assert_eq!(d["state"], "retired");
    // The agent's side: as a fresh install.
    let status = agent.status().unwrap();
    assert_eq!(status.device_id, None);
    assert_eq!(status.last_sync, None);
    assert_eq!(status.pending_reports, 0);
    assert!(matches!(agent.sync_now(), Err(Error::NotEnrolled)));
    assert!(matches!(agent.unenroll(), Err(Error::NotEnrolled)));
}

#[test]
fn unenroll_without_the_server_still_clears_the_phone_and_says_the_server_was_not_told() {
    let w = World::new(50);
    let mut agent = w.agent();
    agent.sync_now().unwrap();
    assert!(agent.store().managed_raw_count().unwrap() > 0);
    w.server.stop();
    let report = agent.unenroll().unwrap();
    assert!(!report.server_notified);
    assert_eq!(agent.store().managed_raw_count().unwrap(), 0);
    assert!(matches!(agent.sync_now(), Err(Error::NotEnrolled)));
}
