//! MDM groups on the host phone (a real SQLite model of ContactsProvider's Groups table and
//! GroupMembership rows) against the real server on loopback: one contact group of our
//! account per MDM group, renamed and removed as the server's groups change, memberships
//! following the directory, and what another app does to our groups put back. Groups of
//! other accounts are never touched.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{World, ACCOUNT};
use contacts_agent::agent::Agent;
use contacts_agent::store::sqlite::SqliteStore;
use contacts_agent::store::ContactStore;
use serde_json::{json, Value};

/// Title → member count of our account's live groups, as the Contacts app lists them.
fn on_phone(agent: &mut Agent<SqliteStore>) -> BTreeMap<String, u64> {
    agent.store().group_summary().unwrap().into_iter().collect()
}

/// Group ids each managed contact is in, read back through its membership rows.
fn memberships(agent: &mut Agent<SqliteStore>) -> BTreeMap<String, Vec<String>> {
    agent
        .managed_contacts(0, 100_000)
        .unwrap()
        .into_iter()
        .map(|c| (c.id, c.data.groups.into_iter().map(|g| g.id).collect()))
        .collect()
}

fn expect(pairs: &[(&str, usize)]) -> BTreeMap<String, u64> {
    pairs
        .iter()
        .map(|(t, n)| (t.to_string(), *n as u64))
        .collect()
}

/// The world with policy `p` at none + Harvey + Mike, and one Harvey member put in Mike too
/// (returned) so a contact sits in two groups.
fn harvey_and_mike() -> (World, String) {
    let w = World::new(300);
    w.set_policy("none", &["harvey", "mike"], "daily");
    let both = w.members(&["harvey"]).into_iter().next().unwrap();
    let _: Value = w
        .admin
        .put(&format!("/v1/admin/groups/mike/members/{both}"), &json!({}))
        .unwrap();
    (w, both)
}

#[test]
fn each_mdm_group_becomes_one_visible_group_of_our_account_with_its_members() {
    let (w, both) = harvey_and_mike();
    let (harvey, mike) = (w.members(&["harvey"]), w.members(&["mike"]));
    let mut agent = w.agent();
    agent.sync_now().unwrap();
    assert_eq!(
        on_phone(&mut agent),
        expect(&[("Harvey", harvey.len()), ("Mike", mike.len())])
    );
    let held = memberships(&mut agent);
    assert_eq!(held[&both], ["harvey", "mike"], "a contact in two groups");
    for (id, groups) in &held {
        let want: Vec<&str> = [("harvey", &harvey), ("mike", &mike)]
            .into_iter()
            .filter(|(_, m)| m.contains(id))
            .map(|(g, _)| g)
            .collect();
        assert_eq!(groups, &want, "contact #{id}");
    }
    // Written as the sync adapter: visible, read-only for apps, not dirty.
    let groups = agent.store().managed_groups().unwrap();
    assert_eq!(groups.len(), 2);
    assert!(groups.iter().all(|g| !g.dirty && !g.deleted));
    // Nothing changed: the next sync writes nothing, groups included.
    let quiet = agent.sync_now().unwrap();
    assert_eq!((quiet.counts.updated, quiet.counts.inserted), (0, 0));
    assert_eq!(agent.store().managed_groups().unwrap(), groups);
}

#[test]
fn renames_membership_changes_and_deleted_groups_follow_the_server() {
    let (w, both) = harvey_and_mike();
    let mut agent = w.agent();
    agent.sync_now().unwrap();
    let before = agent.store().managed_groups().unwrap();

    // Renamed on the server: the same group row, retitled (not a new group).
    let _: Value = w
        .admin
        .put("/v1/admin/groups/mike", &json!({"name": "Mike Ross"}))
        .unwrap();
    agent.sync_now().unwrap();
    let after = agent.store().managed_groups().unwrap();
    let row = |gs: &[contacts_agent::store::PhoneGroup], id: &str| {
        gs.iter()
            .find(|g| g.source_id.as_deref() == Some(id))
            .map(|g| (g.row_id, g.title.clone()))
            .unwrap()
    };
    assert_eq!(row(&after, "mike").0, row(&before, "mike").0);
    assert_eq!(row(&after, "mike").1, "Mike Ross");
    let (harvey, mike) = (w.members(&["harvey"]), w.members(&["mike"]));
    assert_eq!(
        on_phone(&mut agent),
        expect(&[("Harvey", harvey.len()), ("Mike Ross", mike.len())])
    );

    // `both` leaves Mike: it stays on the phone, in Harvey only.
    w.admin
        .delete(&format!("/v1/admin/groups/mike/members/{both}"))
        .unwrap();
    let r = agent.sync_now().unwrap();
    assert_eq!(r.counts.updated, 1);
    assert_eq!(memberships(&mut agent)[&both], ["harvey"]);
    assert_eq!(
        on_phone(&mut agent),
        expect(&[("Harvey", harvey.len()), ("Mike Ross", mike.len() - 1)])
    );

    // Mike deleted on the server: its group leaves the phone with the contacts only it
    // brought; Harvey stays whole.
    w.admin.delete("/v1/admin/groups/mike").unwrap();
    agent.sync_now().unwrap();
    assert_eq!(on_phone(&mut agent), expect(&[("Harvey", harvey.len())]));
    assert_eq!(agent.store().managed_groups().unwrap().len(), 1);
    let held = memberships(&mut agent);
    assert_eq!(held.len(), harvey.len());
    assert!(held.values().all(|g| g == &["harvey"]));

    // No groups at all: the last group goes with its contacts.
    w.set_policy("none", &[], "daily");
    agent.sync_now().unwrap();
    assert!(agent.store().managed_groups().unwrap().is_empty());
}

#[test]
fn our_group_deleted_or_renamed_by_another_app_is_put_back_and_other_accounts_groups_are_left_alone(
) {
    let (w, _) = harvey_and_mike();
    let harvey = w.members(&["harvey"]);
    let mut phone = w.phone();
    // The user's own group in their Google account, holding two personal contacts.
    let personal: Vec<i64> = phone
        .personal_page(None, 10)
        .unwrap()
        .into_iter()
        .map(|c| c.raw_id)
        .take(2)
        .collect();
    phone
        .user_adds_personal_group(Some("com.google"), "Family", &personal)
        .unwrap();
    let mut agent = w.agent_with(phone);
    agent.sync_now().unwrap();
    let normal = on_phone(&mut agent);

    // Another app deletes our Harvey group (the provider drops its memberships and leaves a
    // tombstone) and renames Mike.
    assert!(agent.store().user_deletes_group("harvey").unwrap());
    assert!(agent
        .store()
        .user_renames_group("mike", "Old name")
        .unwrap());
    assert!(!on_phone(&mut agent).contains_key("Harvey"));
    let r = agent.sync_now().unwrap();
    assert!(
        r.counts.full_fetch,
        "our groups were touched: the full set is fetched"
    );
    assert_eq!(on_phone(&mut agent), normal);
    let held = memberships(&mut agent);
    assert!(harvey
        .iter()
        .all(|id| held[id].contains(&"harvey".to_string())));
    let groups = agent.store().managed_groups().unwrap();
    assert!(groups.iter().all(|g| !g.deleted && !g.dirty));

    // The personal group and its members were never touched.
    let all = agent.store().all_groups().unwrap();
    let family: Vec<_> = all
        .iter()
        .filter(|(account, _, _, _)| account.as_deref() != Some(ACCOUNT))
        .collect();
    assert_eq!(
        family,
        [&(
            Some("com.google".to_string()),
            "Family".to_string(),
            false,
            2
        )]
    );
}

#[test]
fn a_retired_device_removes_our_groups_with_the_business_contacts() {
    let (w, _) = harvey_and_mike();
    let mut agent = w.agent();
    agent.sync_now().unwrap();
    assert_eq!(agent.store().managed_groups().unwrap().len(), 2);
    let _: Value = w
        .admin
        .post(
            &format!("/v1/admin/devices/{}/revoke", w.device),
            &json!({}),
        )
        .unwrap();
    assert!(agent.run_due().is_err());
    assert!(agent.store().managed_groups().unwrap().is_empty());
    assert_eq!(agent.store().managed_count().unwrap(), 0);
}
