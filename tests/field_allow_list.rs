//! A policy's field allow-list, end to end on the host phone: the admin narrows the list,
//! the phone's next sync (due because the policy changed) rewrites every contact it
//! affects, and the phone holds exactly the allowed part of each contact, photos gone.
//! Real server on loopback, real SQLite phone.
#![allow(clippy::unwrap_used)]

mod common;

use common::World;
use contacts_agent_protocol::fields::{self, AllowList};
use contacts_agent_protocol::{ContactData, Field, PhoneKind};
use serde_json::{json, Value};

const NARROW: [&str; 9] = [
    "organization",
    "work_phones",
    "other_phones",
    "work_emails",
    "home_emails",
    "other_emails",
    "addresses",
    "web_and_chat",
    "note",
];

fn server_contact(w: &World, id: &str) -> ContactData {
    let u: Value = w.admin.get(&format!("/v1/admin/users/{id}")).unwrap();
    serde_json::from_value(u["contact"].clone()).unwrap()
}

#[test]
fn a_narrowed_allow_list_removes_private_numbers_and_photos_from_the_phone_on_its_next_sync() {
    let w = World::new(200);
    let harvey = w.members(&["harvey"]);
    let id = harvey.iter().next().unwrap().clone();
    let mut anna = server_contact(&w, &id);
    anna.phones.push(contacts_agent_protocol::Phone::new(
        "+48 22 700 00 01",
        PhoneKind::Home,
    ));
    anna.note = Some("Desk 4".into());
    let _: Value = w
        .admin
        .put(&format!("/v1/admin/users/{id}"), &json!(anna))
        .unwrap();
    let (status, _) = w
        .admin
        .raw(
            "PUT",
            &format!("/v1/admin/users/{id}/photo"),
            Some(&[0xFF, 0xD8, 1, 2]),
        )
        .unwrap();
    assert_eq!(status, 204);

    let mut agent = w.agent();
    let personal = agent.store().personal_fingerprint().unwrap();
    agent.sync_now().unwrap();
    assert_eq!(
        agent.store().photo(&id).unwrap(),
        Some(vec![0xFF, 0xD8, 1, 2])
    );
    let before = agent.managed_contacts(0, 10_000).unwrap();
    assert!(before
        .iter()
        .all(|c| c.data.phones.iter().any(|p| p.kind == PhoneKind::Mobile)));

    let _: Value = w
        .admin
        .put(
            "/v1/admin/policies/p",
            &json!({"name": "P", "additional_groups": ["harvey"], "sync_interval": "daily",
                    "fields": NARROW}),
        )
        .unwrap();
    // No force: the new policy version makes the sync due.
    let ran = agent.run_due().unwrap();
    let report = ran.sync.unwrap().unwrap();
    // Every seeded person has a private mobile, so every contact is rewritten; none leaves.
    assert_eq!(
        (report.counts.updated, report.counts.deleted),
        (harvey.len() as u64, 0)
    );

    let allowed = AllowList::parse(&NARROW).unwrap();
    let after = agent.managed_contacts(0, 10_000).unwrap();
    assert_eq!(after.len(), harvey.len());
    for c in &after {
        assert!(!c.has_photo, "{}", c.id);
        assert!(
            c.data
                .phones
                .iter()
                .all(|p| Field::of_phone(&p.kind) == Field::WorkPhones
                    || Field::of_phone(&p.kind) == Field::OtherPhones),
            "{}",
            c.id
        );
        // Everything else is still there, exactly as the server keeps it, and the contact
        // stays in the group it was sent for (groups are not a field a list turns off).
        let mut expected = fields::filter(&server_contact(&w, &c.id), &allowed);
        let groups: Vec<&str> = c.data.groups.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(groups, ["harvey"], "{}", c.id);
        expected.groups = c.data.groups.clone();
        assert_eq!(c.data, expected, "{}", c.id);
    }
    assert_eq!(agent.store().photo(&id).unwrap(), None);
    let anna = after.iter().find(|c| c.id == id).unwrap();
    assert_eq!(anna.data.note.as_deref(), Some("Desk 4"));
    assert!(anna.data.phones.iter().all(|p| p.kind != PhoneKind::Home));
    assert_eq!(agent.store().personal_fingerprint().unwrap(), personal);

    // The phone holds exactly its sync token's snapshot, and the next sync has nothing to do.
    let status: Value = w
        .admin
        .get(&format!("/v1/admin/devices/{}/status", w.device))
        .unwrap();
    assert_eq!(status["contacts_verified"], json!(true));
    let quiet = agent.sync_now().unwrap();
    assert_eq!((quiet.counts.updated, quiet.counts.inserted), (0, 0));
}
