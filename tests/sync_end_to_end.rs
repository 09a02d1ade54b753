//! The sync slice end to end: real server on loopback, real HTTP, real SQLite phone.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{held, Faulty, World};
use contacts_agent::store::sqlite::SqliteStore;
use contacts_agent::store::{ContactStore, StoredContact};
use serde_json::{json, Value};

#[test]
fn first_sync_brings_exactly_the_policy_set_and_a_second_sync_changes_nothing() {
    let w = World::new(400);
    let mut agent = w.agent();
    let personal = agent.store().personal_fingerprint().unwrap();
    let r = agent.sync_now().unwrap();
    let expected = w.members(&["harvey"]);
    assert!(!expected.is_empty());
    assert_eq!(held(&mut agent), expected);
    assert_eq!(r.counts.inserted as usize, expected.len());
    assert!(r.counts.full_fetch);

    let again = agent.sync_now().unwrap();
    assert!(!again.counts.full_fetch, "the second sync uses the token");
    assert_eq!(
        (
            again.counts.inserted,
            again.counts.updated,
            again.counts.deleted
        ),
        (0, 0, 0)
    );
    assert!(
        again.counts.bytes_received < 600,
        "{} bytes",
        again.counts.bytes_received
    );
    assert_eq!(agent.store().personal_fingerprint().unwrap(), personal);
}

#[test]
fn server_changes_arrive_as_a_delta() {
    let w = World::new(400);
    let mut agent = w.agent();
    agent.sync_now().unwrap();
    let ids: Vec<String> = w.members(&["harvey"]).into_iter().collect();
    let mut u: Value = w.admin.get(&format!("/v1/admin/users/{}", ids[0])).unwrap();
    u["contact"]["note"] = json!("moved to floor 3");
    let _: Value = w
        .admin
        .put(&format!("/v1/admin/users/{}", ids[0]), &u["contact"])
        .unwrap();
    w.admin
        .delete(&format!("/v1/admin/groups/harvey/members/{}", ids[1]))
        .unwrap();
    let r = agent.sync_now().unwrap();
    assert!(!r.counts.full_fetch);
    assert_eq!(
        (r.counts.updated, r.counts.deleted, r.counts.inserted),
        (1, 1, 0)
    );
    let on_phone = agent.managed_contacts(0, 10_000).unwrap();
    let changed = on_phone.iter().find(|c| c.id == ids[0]).unwrap();
    assert_eq!(changed.data.note.as_deref(), Some("moved to floor 3"));
    assert!(!on_phone.iter().any(|c| c.id == ids[1]));
}

#[test]
fn user_edits_and_deletions_of_business_contacts_are_put_back() {
    let w = World::new(300);
    let mut agent = w.agent();
    agent.sync_now().unwrap();
    let before: Vec<StoredContact> = agent.managed_contacts(0, 10_000).unwrap();
    let (a, b) = (before[0].id.clone(), before[1].id.clone());
    assert!(agent
        .store()
        .user_adds_phone(&a, "+48 999 000 111")
        .unwrap());
    assert!(agent.store().user_deletes_managed(&b).unwrap());
    let r = agent.sync_now().unwrap();
    assert!(r.counts.full_fetch, "local changes force a full comparison");
    assert_eq!(agent.managed_contacts(0, 10_000).unwrap(), before);
}

#[test]
fn an_expired_sync_token_falls_back_to_a_full_fetch() {
    let w = World::new(300);
    let mut agent = w.agent();
    agent.sync_now().unwrap();
    // Several syncs with changes between them push the first token out of the server's window.
    let first_token = agent.state().sync_state().unwrap().sync_token.unwrap();
    for g in ["mike", "sales", "legal", "finance"] {
        w.set_policy("none", &["harvey", g], "daily");
        agent.sync_now().unwrap();
    }
    // Put the device back on the old token while its store matches the fingerprint it had.
    let st = agent.state().sync_state().unwrap();
    assert_ne!(st.sync_token.as_deref(), Some(first_token.as_str()));
    let conn = rusqlite::Connection::open(w.path("state.db")).unwrap();
    conn.execute("UPDATE sync_state SET sync_token = ?1", [&first_token])
        .unwrap();
    w.set_policy("none", &["harvey"], "daily");
    let r = agent.sync_now().unwrap();
    assert!(r.counts.full_fetch);
    assert_eq!(held(&mut agent), w.members(&["harvey"]));
}

#[test]
fn a_sync_interrupted_after_any_batch_converges_on_the_next_run() {
    let w = World::new(1500);
    // Start from one set, then move to another so that inserts, updates and deletes all run.
    {
        let mut agent = w.agent();
        agent.sync_now().unwrap();
    }
    w.set_policy("all_groups", &[], "daily");
    let expected = w.members(&[
        "harvey",
        "mike",
        "sales",
        "engineering",
        "finance",
        "legal",
        "operations",
        "support",
        "marketing",
        "management",
    ]);
    let mut k = 0;
    loop {
        let dir = tempfile::tempdir().unwrap();
        // Each attempt starts from a copy of the phone and state after the first sync.
        for f in ["phone.db", "state.db"] {
            let src = rusqlite::Connection::open(w.path(f)).unwrap();
            src.execute("VACUUM INTO ?1", [dir.path().join(f).to_str().unwrap()])
                .unwrap();
        }
        let store = SqliteStore::open(&dir.path().join("phone.db"), common::ACCOUNT).unwrap();
        let mut config = contacts_agent::agent::AgentConfig::new(dir.path().join("state.db"));
        config.page_size = 200;
        let failing = Faulty::failing_after(store, k);
        let mut agent = contacts_agent::agent::Agent::open(config.clone(), failing).unwrap();
        let first = agent.sync_now();
        if first.is_ok() {
            assert!(k > 3, "the sync should take several batches, took {k}");
            break;
        }
        assert!(first.unwrap_err().to_string().contains("injected failure"));
        let runs = agent.state().recent_runs(1).unwrap();
        assert_eq!(runs[0].outcome, "failed");
        drop(agent);
        // The next run, with a healthy store, converges.
        let store = SqliteStore::open(&dir.path().join("phone.db"), common::ACCOUNT).unwrap();
        let mut agent = contacts_agent::agent::Agent::open(config, store).unwrap();
        agent.sync_now().unwrap();
        let got: BTreeSet<String> = held(&mut agent);
        assert_eq!(got, expected, "after a failure at batch {k}");
        let index = agent.store().managed_index().unwrap();
        assert!(index.iter().all(|e| !e.hash.is_empty()));
        k += 1;
    }
}

#[test]
fn photos_download_only_when_their_hash_changes() {
    let w = World::new(300);
    let id = w.members(&["harvey"]).into_iter().next().unwrap();
    let (status, _) = w
        .admin
        .raw(
            "PUT",
            &format!("/v1/admin/users/{id}/photo"),
            Some(&[0xFF, 0xD8, 1, 2, 3]),
        )
        .unwrap();
    assert_eq!(status, 204);
    let mut agent = w.agent();
    agent.sync_now().unwrap();
    assert_eq!(
        agent.store().photo(&id).unwrap(),
        Some(vec![0xFF, 0xD8, 1, 2, 3])
    );
    // Another field changes: the contact updates, the photo is not fetched again.
    let mut u: Value = w.admin.get(&format!("/v1/admin/users/{id}")).unwrap();
    u["contact"]["title"] = json!("Partner");
    let _: Value = w
        .admin
        .put(&format!("/v1/admin/users/{id}"), &u["contact"])
        .unwrap();
    let r = agent.sync_now().unwrap();
    assert_eq!(r.counts.updated, 1);
    assert!(r.counts.bytes_received < 2_000);
    let (status, _) = w
        .admin
        .raw(
            "PUT",
            &format!("/v1/admin/users/{id}/photo"),
            Some(&[9, 9, 9]),
        )
        .unwrap();
    assert_eq!(status, 204);
    agent.sync_now().unwrap();
    assert_eq!(agent.store().photo(&id).unwrap(), Some(vec![9, 9, 9]));
    w.admin
        .delete(&format!("/v1/admin/users/{id}/photo"))
        .unwrap();
    agent.sync_now().unwrap();
    assert_eq!(agent.store().photo(&id).unwrap(), None);
}

#[test]
fn the_console_lists_the_contacts_the_sync_put_on_the_phone() {
    let w = World::new(300);
    let mut agent = w.agent();
    agent.run_due().unwrap();
    let status: Value = w
        .admin
        .get(&format!("/v1/admin/devices/{}/status", w.device))
        .unwrap();
    let expected = w.members(&["harvey"]);
    assert_eq!(status["contacts_on_device"], json!(expected.len()));
    assert_eq!(status["contacts_verified"], json!(true));
    assert_eq!(status["sync_type"], json!("none"));
    assert_eq!(status["sync_interval"], json!("daily"));
    assert!(status["next_expected_sync"].is_string());
    assert!(status["last_sync"].is_string());
    let listed: Value = w
        .admin
        .get(&format!(
            "/v1/admin/devices/{}/contacts?limit=5000",
            w.device
        ))
        .unwrap();
    let ids: BTreeSet<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, expected);
    assert!(listed["items"][0]["display_name"]
        .as_str()
        .is_some_and(|n| !n.is_empty()));
}

#[test]
fn a_policy_naming_a_group_that_does_not_exist_is_refused() {
    let w = World::new(50);
    let (status, body) = w
        .admin
        .raw(
            "PUT",
            "/v1/admin/policies/p",
            Some(br#"{"name":"P","basic_type":"none","additional_groups":["nope"]}"#),
        )
        .unwrap();
    assert_eq!(status, 422);
    assert!(String::from_utf8_lossy(&body).contains("does not exist"));
    // Deleting a group removes it from policies instead of leaving a dangling reference.
    w.admin.delete("/v1/admin/groups/harvey").unwrap();
    let p: Value = w.admin.get("/v1/admin/policies/p").unwrap();
    assert_eq!(p["additional_groups"], json!([]));
}

#[test]
fn device_and_admin_credentials_do_not_cross() {
    let w = World::new(50);
    let agent = w.agent();
    let token = agent.state().enrollment().unwrap().unwrap().token;
    let as_device = contacts_agent::demo::admin::AdminClient::new(&w.server.url(), &token);
    let (status, _) = as_device.raw("GET", "/v1/admin/devices", None).unwrap();
    assert_eq!(status, 401);
    let (status, _) = w.admin.raw("GET", "/v1/device/policy", None).unwrap();
    assert_eq!(status, 401);
    // The enrollment code is single-use.
    let mut other = contacts_agent::agent::Agent::open(
        contacts_agent::agent::AgentConfig::new(w.path("other-state.db")),
        SqliteStore::open_in_memory(common::ACCOUNT).unwrap(),
    )
    .unwrap();
    let err = other
        .enroll(&w.server.url(), &w.code, "thief", false)
        .unwrap_err();
    assert!(err.to_string().contains("unknown or already used"), "{err}");
}

#[test]
fn every_field_of_the_richer_contact_round_trips_from_the_server_to_the_phone() {
    let w = World::new(20);
    let contact = json!({
        "given_name": "Zażółć", "family_name": "Gęślą", "display_name": "Zażółć Gęślą",
        "organization": "Pearson Hardman", "department": "Legal", "title": "Partner",
        "phones": [
            {"number": "+48 600 100 200", "kind": "mobile", "preferred": true},
            {"number": "+48 22 100 200", "kind": "work"},
            {"number": "+48 22 100 201", "kind": "custom", "label": "Reception"}],
        "emails": [
            {"address": "z@pearson-hardman.example", "kind": "work"},
            {"address": "board@pearson-hardman.example", "kind": "custom", "label": "Board",
             "preferred": true}],
        "address": {"street": "Długa 1", "city": "Gdańsk", "postcode": "80-001", "country": "PL"},
        "note": "A note",
        "prefix": "dr", "middle_name": "Maria", "suffix": "MBA",
        "phonetic_given_name": "Zazulch", "phonetic_family_name": "Gensla", "nickname": "Zaza",
        "addresses": [
            {"kind": "work", "address": {"street": "Prosta 1", "city": "Warszawa", "country": "PL"}},
            {"kind": "home", "address": {"city": "Sopot"}},
            {"kind": "custom", "label": "Warehouse", "address": {"city": "Łódź"}}],
        "websites": ["https://pearson-hardman.example/z"],
        "sip_addresses": ["sip:1001@pbx.pearson-hardman.example"],
        "ims": [{"protocol": "jabber", "handle": "z@chat.example"},
                {"protocol": "teams", "handle": "z@pearson-hardman.example"}],
        "office_location": "Floor 3, room 301",
        "manager": "Jessica Pearson", "assistant": "Donna Paulsen"
    });
    let _: Value = w
        .admin
        .post(
            "/v1/admin/users",
            &json!({"id": "rich", "contact": contact, "groups": ["harvey"]}),
        )
        .unwrap();
    let mut agent = w.agent();
    agent.sync_now().unwrap();

    let stored: Value = w.admin.get("/v1/admin/users/rich").unwrap();
    let on_server: contacts_agent_protocol::ContactData =
        serde_json::from_value(stored["contact"].clone()).unwrap();
    let on_phone = (0..)
        .map(|page| agent.managed_contacts(page * 100, 100).unwrap())
        .take_while(|p| !p.is_empty())
        .flatten()
        .find(|c| c.id == "rich")
        .unwrap();
    // What the phone's rows read back as is exactly what the server holds, every field, plus
    // the group the device got the contact for (its membership row), which the hash covers.
    let mut expected = on_server.clone();
    expected.groups = vec![contacts_agent_protocol::GroupRef {
        id: "harvey".into(),
        name: "Harvey".into(),
    }];
    assert_eq!(on_phone.data, expected);
    assert_eq!(
        on_phone.hash,
        contacts_agent_protocol::with_groups(stored["hash"].as_str().unwrap(), &expected.groups)
    );
    assert_eq!(on_server.addresses.len(), 3);
    assert!(on_server.phones[0].preferred && on_server.emails[1].preferred);

    // A change of one 1.0 field arrives as an update and replaces the rows, nothing doubled.
    let mut changed = stored["contact"].clone();
    changed["phones"][0]["preferred"] = json!(false);
    changed["phones"][1]["preferred"] = json!(true);
    changed["manager"] = json!("Louis Litt");
    let _: Value = w.admin.put("/v1/admin/users/rich", &changed).unwrap();
    let r = agent.sync_now().unwrap();
    assert_eq!((r.counts.inserted, r.counts.updated), (0, 1));
    let on_phone = (0..)
        .map(|page| agent.managed_contacts(page * 100, 100).unwrap())
        .take_while(|p| !p.is_empty())
        .flatten()
        .find(|c| c.id == "rich")
        .unwrap();
    assert_eq!(on_phone.data.manager.as_deref(), Some("Louis Litt"));
    assert_eq!(
        on_phone
            .data
            .phones
            .iter()
            .map(|p| p.preferred)
            .collect::<Vec<_>>(),
        [false, true, false]
    );
    assert_eq!(on_phone.data.addresses.len(), 3);
}
