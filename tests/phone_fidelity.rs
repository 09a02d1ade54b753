//! The phone's rules (docs/contacts-provider-model.md) against the whole agent: the host
//! phone marks DIRTY on photo writes and app writes, keeps photos as data rows, does not keep
//! SOURCE_ID unique. Each test is a way a real phone differs from a naive model, and what
//! the agent does about it: real server on loopback, real SQLite phone, the real CLI binary
//! where the acceptance names a command.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use chrono::Duration;
use common::{clocked, held, Faulty, World, ACCOUNT};
use contacts_agent::store::sqlite::SqliteStore;
use contacts_agent::store::{ContactStore, StoreError};
use contacts_agent::Reason;
use serde_json::{json, Value};

const CHAT: &str = "vnd.android.cursor.item/vnd.example.chat";

fn set_photo(w: &World, id: &str, bytes: &[u8]) {
    let (status, _) = w
        .admin
        .raw("PUT", &format!("/v1/admin/users/{id}/photo"), Some(bytes))
        .unwrap();
    assert_eq!(status, 204);
}

fn retitle(w: &World, id: &str, title: &str) {
    let mut u: Value = w.admin.get(&format!("/v1/admin/users/{id}")).unwrap();
    u["contact"]["title"] = json!(title);
    let _: Value = w
        .admin
        .put(&format!("/v1/admin/users/{id}"), &u["contact"])
        .unwrap();
}

fn console_status(w: &World) -> Value {
    w.admin
        .get(&format!("/v1/admin/devices/{}/status", w.device))
        .unwrap()
}

#[test]
fn an_update_keeps_the_photo_and_another_apps_row_and_the_next_sync_changes_nothing() {
    let w = World::new(300);
    let id = w.members(&["harvey"]).into_iter().next().unwrap();
    set_photo(&w, &id, &[0xFF, 0xD8, 7, 7]);
    let mut agent = w.agent();
    agent.sync_now().unwrap();
    // The photo went through the display-photo file, which marks the contact DIRTY on a
    // phone; the agent reset it, so the contact is clean and the next sync has nothing to do.
    assert_eq!(agent.store().flags(&id).unwrap(), Some((false, false)));
    let again = agent.sync_now().unwrap();
    assert_eq!((again.counts.updated, again.counts.inserted), (0, 0));

    // A messenger adds its row to our contact (DIRTY again), and the server changes a field.
    assert!(agent
        .store()
        .another_app_adds_row(&id, CHAT, "chat-1")
        .unwrap());
    retitle(&w, &id, "Partner");
    let r = agent.sync_now().unwrap();
    assert_eq!(r.counts.updated, 1);
    assert_eq!(
        agent.store().photo(&id).unwrap(),
        Some(vec![0xFF, 0xD8, 7, 7]),
        "the update replaced our rows only, never the Photo row"
    );
    assert_eq!(agent.store().foreign_rows(&id, CHAT).unwrap(), ["chat-1"]);
    assert_eq!(agent.store().flags(&id).unwrap(), Some((false, false)));
    let stored = agent.managed_contacts(0, 10_000).unwrap();
    let c = stored.iter().find(|c| c.id == id).unwrap();
    assert_eq!(c.data.title.as_deref(), Some("Partner"));
    assert!(c.has_photo);
    let quiet = agent.sync_now().unwrap();
    assert_eq!(
        (quiet.counts.updated, quiet.counts.inserted),
        (0, 0),
        "no endless DIRTY loop"
    );
}

#[test]
fn a_photo_the_provider_refused_is_written_by_the_next_sync() {
    let w = World::new(300);
    let id = w.members(&["harvey"]).into_iter().next().unwrap();
    set_photo(&w, &id, &[1, 2, 3]);
    let mut agent = w.agent();
    agent.store().fail_photo_writes(true);
    let r = agent.sync_now().unwrap();
    assert_eq!(r.counts.photos_failed, 1);
    assert_eq!(agent.store().photo(&id).unwrap(), None);
    let entry = agent
        .store()
        .managed_index()
        .unwrap()
        .into_iter()
        .find(|e| e.id == id)
        .unwrap();
    assert_eq!(
        entry.photo_hash, None,
        "SYNC2 only names a photo that was written"
    );

    agent.store().fail_photo_writes(false);
    let r = agent.sync_now().unwrap();
    assert!(
        r.counts.full_fetch,
        "a delta would not name the contact again"
    );
    assert_eq!(r.counts.photos_failed, 0);
    assert_eq!(agent.store().photo(&id).unwrap(), Some(vec![1, 2, 3]));
    assert!(!agent.sync_now().unwrap().counts.full_fetch);
}

#[test]
fn a_wiped_phone_is_repaired_by_run_due_with_the_disabled_interval() {
    let w = World::new(300);
    w.set_policy("none", &["harvey"], "disabled");
    let mut agent = w.agent();
    let personal = agent.store().personal_fingerprint().unwrap();
    assert!(agent.run_due().unwrap().sync.unwrap().is_ok());
    let expected = w.members(&["harvey"]);
    assert!(agent.run_due().unwrap().sync.is_none(), "nothing due");

    // The user deletes every business contact.
    for id in &expected {
        assert!(agent.store().user_deletes_managed(id).unwrap());
    }
    let status = agent.status().unwrap();
    assert_eq!(
        status.managed_count, 0,
        "status counts what the phone holds"
    );
    let drift = status.drift.unwrap();
    assert_eq!((drift.found, drift.expected), (0, expected.len() as u64));

    let r = agent.run_due().unwrap().sync.unwrap().unwrap();
    assert_eq!(r.reason, Reason::Repair);
    assert_eq!(held(&mut agent), expected);
    assert!(agent
        .store()
        .managed_index()
        .unwrap()
        .iter()
        .all(|e| e.state == contacts_agent::store::EntryState::Clean));
    assert_eq!(agent.store().personal_fingerprint().unwrap(), personal);
    let status = agent.status().unwrap();
    assert!(status.drift.is_none());
    assert_eq!(status.recent_runs[0].reason, "repair");
    assert_eq!(console_status(&w)["contacts_verified"], json!(true));
    assert!(
        agent.run_due().unwrap().sync.is_none(),
        "repaired: nothing due"
    );
}

#[test]
fn the_console_shows_the_drift_until_a_repair_succeeds() {
    let w = World::new(300);
    w.set_policy("none", &["harvey"], "disabled");
    let mut agent = w.agent_with(Faulty::healthy(w.phone()));
    let now = clocked(&mut agent);
    assert!(agent.run_due().unwrap().sync.unwrap().is_ok());
    let expected = w.members(&["harvey"]).len() as u64;
    assert_eq!(console_status(&w)["contacts_verified"], json!(true));

    for id in w.members(&["harvey"]).iter().take(5) {
        agent.store().inner.user_deletes_managed(id).unwrap();
    }
    // The repair fails (the provider is down): the report carries what the phone really
    // holds, so the console stops saying "verified".
    let store = agent.store();
    store.ok_batches = store.seen;
    let r = agent.run_due().unwrap();
    assert!(r.sync.unwrap().is_err());
    let s = console_status(&w);
    assert_eq!(s["contacts_verified"], json!(false));
    assert_eq!(s["contacts_on_device"], json!(expected - 5));

    agent.store().ok_batches = usize::MAX;
    *now.lock().unwrap() += Duration::minutes(2);
    let r = agent.run_due().unwrap().sync.unwrap().unwrap();
    assert_eq!(r.reason, Reason::Retry);
    let s = console_status(&w);
    assert_eq!(s["contacts_verified"], json!(true));
    assert_eq!(s["contacts_on_device"], json!(expected));
}

#[test]
fn duplicate_raw_contacts_from_a_race_are_removed_keeping_one_each() {
    let w = World::new(300);
    let mut agent = w.agent();
    agent.sync_now().unwrap();
    let expected = w.members(&["harvey"]);
    for id in expected.iter().take(3) {
        agent.store().duplicate_managed(id).unwrap().unwrap();
    }
    assert_eq!(
        agent.store().managed_raw_count().unwrap(),
        expected.len() + 3
    );
    // Daily interval, synced a moment ago: only the drift makes this run sync.
    let r = agent.run_due().unwrap().sync.unwrap().unwrap();
    assert_eq!(r.reason, Reason::Repair);
    assert_eq!(r.counts.duplicates_removed, 3);
    assert_eq!(agent.store().managed_raw_count().unwrap(), expected.len());
    assert_eq!(held(&mut agent), expected);
}

#[test]
fn a_missing_permission_needs_the_user_and_is_not_retried_on_backoff() {
    let w = World::new(300);
    let mut agent = w.agent_with(Faulty {
        error: || StoreError::PermissionDenied("test: READ_CONTACTS".into()),
        fail_reads: true,
        ..Faulty::failing_after(w.phone(), 0)
    });
    let personal = agent.store().inner.personal_fingerprint().unwrap();
    let r = agent.run_due().unwrap();
    let err = r.sync.unwrap().unwrap_err();
    assert_eq!(
        contacts_agent::FailureKind::of(&err),
        contacts_agent::FailureKind::PermissionDenied
    );
    assert!(
        err.to_string().contains("grant the contacts permission"),
        "{err}"
    );
    let status = agent.status().unwrap();
    assert_eq!(status.consecutive_failures, 0, "no backoff loop");
    assert_eq!(status.attention.unwrap().kind, "permission_denied");
    assert!(status.last_sync_result.unwrap().starts_with("needs action"));
    // Granted: the very next run syncs (no backoff to wait out) and clears the notice.
    agent.store().ok_batches = usize::MAX;
    let r = agent.run_due().unwrap().sync.unwrap().unwrap();
    assert_eq!(r.reason, Reason::Retry);
    assert_eq!(held(&mut agent), w.members(&["harvey"]));
    assert!(agent.status().unwrap().attention.is_none());
    assert_eq!(
        agent.store().inner.personal_fingerprint().unwrap(),
        personal
    );
}

fn cli(w: &World, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_contacts-agent"))
        .arg("--home")
        .arg(w.path("home"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn two_concurrent_cli_syncs_on_one_home_never_duplicate() {
    let w = World::new(2000);
    w.set_policy("all_groups", &[], "daily");
    let url = w.server.url();
    let enrolled = cli(&w, &["enroll", "--server", &url, "--code", &w.code]);
    assert!(enrolled.status.success(), "{}", text(&enrolled));
    let bin = env!("CARGO_BIN_EXE_contacts-agent");
    let spawn = || {
        Command::new(bin)
            .arg("--home")
            .arg(w.path("home"))
            .arg("sync")
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    for o in [&a, &b] {
        // Either it ran (one after the other) or it said plainly that another run was on.
        assert!(
            o.status.success() || text(o).contains("another run is in progress"),
            "{}",
            text(o)
        );
        assert!(!text(o).contains("already exists"), "{}", text(o));
    }
    assert!(a.status.success() || b.status.success());
    let mut phone = SqliteStore::open(&w.path("home").join("phone.db"), ACCOUNT).unwrap();
    let groups: Vec<&str> = contacts_agent_server::seed::GROUPS
        .iter()
        .map(|(id, _)| *id)
        .collect();
    let everyone = w.members(&groups);
    let mut ids: Vec<String> = phone
        .managed_index()
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), everyone.len());
    assert_eq!(
        phone.managed_raw_count().unwrap(),
        everyone.len(),
        "no duplicates"
    );
}

#[test]
fn a_revoked_device_removes_its_business_contacts_and_run_due_exits_non_zero() {
    let w = World::new(300);
    let url = w.server.url();
    assert!(cli(&w, &["enroll", "--server", &url, "--code", &w.code])
        .status
        .success());
    let first = cli(&w, &["run-due"]);
    assert!(first.status.success(), "{}", text(&first));
    let phone_path = w.path("home").join("phone.db");
    let mut personal = SqliteStore::open(&phone_path, ACCOUNT).unwrap();
    personal
        .add_personal(None, &contacts_agent_server::seed::person(1, 7))
        .unwrap();
    let personal_before = personal.personal_fingerprint().unwrap();
    assert!(personal.managed_count().unwrap() > 0);
    drop(personal);

    let _: Value = w
        .admin
        .post(
            &format!("/v1/admin/devices/{}/revoke", w.device),
            &json!({}),
        )
        .unwrap();
    let refused = cli(&w, &["run-due"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("retired this device"),
        "{}",
        text(&refused)
    );
    let phone = SqliteStore::open(&phone_path, ACCOUNT).unwrap();
    assert_eq!(
        phone.managed_raw_count().unwrap(),
        0,
        "company data left the phone"
    );
    assert_eq!(phone.personal_fingerprint().unwrap(), personal_before);
    let status = cli(&w, &["status"]);
    let shown = text(&status);
    assert!(shown.contains("Needs action"), "{shown}");
    assert!(shown.contains("enroll again"), "{shown}");
    assert!(
        !shown.contains("Consecutive failures"),
        "no backoff: {shown}"
    );
}

#[test]
fn a_permission_revoked_between_two_batches_leaves_a_phone_that_converges() {
    let w = World::new(300);
    w.set_policy("all_groups", &[], "daily");
    let mut agent = w.agent_with(Faulty {
        error: || StoreError::PermissionDenied("test: WRITE_CONTACTS".into()),
        fail_reads: true,
        ..Faulty::failing_after(w.phone(), 1)
    });
    let personal = agent.store().inner.personal_fingerprint().unwrap();
    let err = agent.run_due().unwrap().sync.unwrap().unwrap_err();
    assert!(
        err.to_string().contains("grant the contacts permission"),
        "{err}"
    );
    // One whole batch landed, nothing half-written.
    let partial = agent.store().inner.managed_raw_count().unwrap();
    assert!(partial > 0 && partial < 300, "{partial}");
    agent.store().ok_batches = usize::MAX;
    agent.run_due().unwrap().sync.unwrap().unwrap();
    let groups: Vec<&str> = contacts_agent_server::seed::GROUPS
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(held(&mut agent), w.members(&groups));
    assert_eq!(
        agent.store().inner.personal_fingerprint().unwrap(),
        personal
    );
}
