//! The phone's contact groups for the MDM groups: one group of our account per server group,
//! identified by the server's group id (`Groups.SOURCE_ID`) and titled with its name. Pure:
//! the engine (`sync`) hands in what the store holds and what the server's contacts carry,
//! and gets back the group operations, which it applies before the contacts that name them.
//!
//! Why the groups come first: a GroupMembership row written with `GROUP_SOURCE_ID` makes
//! ContactsProvider look the group up by SOURCE_ID in the raw contact's account, DELETED or
//! not, and create an untitled one when there is none (docs/contacts-provider-model.md). So
//! the group must exist, titled and not deleted, when its members are written.

use std::collections::{BTreeMap, BTreeSet};

use contacts_agent_protocol::GroupRef;

use crate::store::{PhoneGroup, StoreOp};

/// What the phone's groups must look like before contacts naming `wanted` (id → name) are
/// written: a deleted group of ours with a wanted id is purged and made again (its
/// memberships went with its deletion), a missing one is inserted, a title that differs
/// (a rename on the server, or another app's edit) is set back.
pub fn prepare(phone: &[PhoneGroup], wanted: &BTreeMap<String, String>) -> Vec<StoreOp> {
    let mut ops = Vec::new();
    for (id, name) in wanted {
        let mine: Vec<&PhoneGroup> = phone
            .iter()
            .filter(|g| g.source_id.as_deref() == Some(id.as_str()))
            .collect();
        let mut live = None;
        for g in mine {
            if g.deleted || live.is_some() {
                // A tombstone, or a second group with this SOURCE_ID (the provider does not
                // keep it unique): the membership lookup could land on it.
                ops.push(StoreOp::DeleteGroup { row_id: g.row_id });
            } else {
                live = Some(g);
            }
        }
        match live {
            None => ops.push(StoreOp::InsertGroup {
                source_id: id.clone(),
                title: name.clone(),
            }),
            Some(g) if g.title != *name || g.dirty => ops.push(StoreOp::RenameGroup {
                row_id: g.row_id,
                title: name.clone(),
            }),
            Some(_) => {}
        }
    }
    ops
}

/// Groups of ours no managed contact is in any more (the server deleted the group, or no
/// contact it sends carries it), and tombstones: removed after a sync.
pub fn cleanup(phone: &[PhoneGroup]) -> Vec<StoreOp> {
    phone
        .iter()
        .filter(|g| g.deleted || g.members == 0)
        .map(|g| StoreOp::DeleteGroup { row_id: g.row_id })
        .collect()
}

/// Group ids whose memberships the phone may have lost: a group of ours someone else
/// deleted takes its membership rows with it (ContactsProvider2.deleteGroup) without
/// marking the members DIRTY. Their contacts must be written again even if their hash has
/// not changed.
pub fn lost_memberships(phone: &[PhoneGroup]) -> BTreeSet<String> {
    phone
        .iter()
        .filter(|g| g.deleted)
        .filter_map(|g| g.source_id.clone())
        .collect()
}

/// Whether someone else touched our groups (deleted or edited one): the engine then fetches
/// the full set, whose contacts name every group, to put them back.
pub fn touched_by_others(phone: &[PhoneGroup]) -> bool {
    phone.iter().any(|g| g.deleted || g.dirty)
}

/// Adds the groups a contact names to `wanted` (id → name). A group with an empty id or
/// name (one the phone could not show) or named twice is dropped from the contact, which is
/// still written with the rest.
pub fn take(wanted: &mut BTreeMap<String, String>, contact_groups: &mut Vec<GroupRef>) {
    let mut seen = BTreeSet::new();
    contact_groups
        .retain(|g| !g.id.is_empty() && !g.name.trim().is_empty() && seen.insert(g.id.clone()));
    for g in contact_groups.iter() {
        wanted.insert(g.id.clone(), g.name.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn group(row_id: i64, id: &str, title: &str) -> PhoneGroup {
        PhoneGroup {
            row_id,
            source_id: Some(id.into()),
            title: title.into(),
            deleted: false,
            dirty: false,
            members: 1,
        }
    }

    fn wanted(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn missing_groups_are_made_renamed_ones_retitled_and_tombstones_replaced() {
        let mut gone = group(3, "legal", "Legal");
        gone.deleted = true;
        let phone = vec![group(1, "harvey", "Harvey"), group(2, "mike", "Mike"), gone];
        let ops = prepare(
            &phone,
            &wanted(&[
                ("harvey", "Harvey"),
                ("mike", "Mike Ross"),
                ("sales", "Sales"),
                ("legal", "Legal"),
            ]),
        );
        assert_eq!(
            ops,
            vec![
                StoreOp::DeleteGroup { row_id: 3 },
                StoreOp::InsertGroup {
                    source_id: "legal".into(),
                    title: "Legal".into()
                },
                StoreOp::RenameGroup {
                    row_id: 2,
                    title: "Mike Ross".into()
                },
                StoreOp::InsertGroup {
                    source_id: "sales".into(),
                    title: "Sales".into()
                },
            ]
        );
        assert_eq!(lost_memberships(&phone), ["legal".to_string()].into());
    }

    #[test]
    fn a_group_the_phone_cannot_show_or_named_twice_is_dropped_from_the_contact() {
        let g = |id: &str, name: &str| GroupRef {
            id: id.into(),
            name: name.into(),
        };
        let mut wanted = BTreeMap::new();
        let mut groups = vec![
            g("a", "A"),
            g("", "B"),
            g("c", " "),
            g("a", "A2"),
            g("d", "D"),
        ];
        take(&mut wanted, &mut groups);
        assert_eq!(groups, vec![g("a", "A"), g("d", "D")]);
        assert_eq!(wanted, self::tests::wanted(&[("a", "A"), ("d", "D")]));
    }

    #[test]
    fn empty_groups_and_tombstones_are_cleaned_up_after_a_sync() {
        let mut empty = group(2, "mike", "Mike");
        empty.members = 0;
        let mut gone = group(3, "legal", "Legal");
        gone.deleted = true;
        let ops = cleanup(&[group(1, "harvey", "Harvey"), empty, gone]);
        assert_eq!(
            ops,
            vec![
                StoreOp::DeleteGroup { row_id: 2 },
                StoreOp::DeleteGroup { row_id: 3 }
            ]
        );
    }

    proptest! {
        /// Whatever the phone holds (duplicates, tombstones, stale titles), after `prepare`
        /// each wanted id has exactly one live group with the wanted title.
        #[test]
        fn after_prepare_each_wanted_group_is_there_once_with_its_name(
            phone in prop::collection::vec(("[a-c]", "[A-C]", any::<bool>(), any::<bool>()), 0..8),
            want in prop::collection::btree_map("[a-d]", "[A-D]", 0..4),
        ) {
            let mut groups: Vec<PhoneGroup> = phone.iter().enumerate().map(|(i, (id, t, deleted, dirty))| PhoneGroup {
                row_id: i as i64, source_id: Some(id.clone()), title: t.clone(),
                deleted: *deleted, dirty: *dirty, members: 1,
            }).collect();
            let mut next = 100;
            for op in prepare(&groups, &want) {
                match op {
                    StoreOp::DeleteGroup { row_id } => groups.retain(|g| g.row_id != row_id),
                    StoreOp::InsertGroup { source_id, title } => {
                        next += 1;
                        groups.push(PhoneGroup { row_id: next, source_id: Some(source_id), title, deleted: false, dirty: false, members: 0 });
                    }
                    StoreOp::RenameGroup { row_id, title } => {
                        for g in groups.iter_mut().filter(|g| g.row_id == row_id) {
                            g.title = title.clone();
                            g.dirty = false;
                        }
                    }
                    other => prop_assert!(false, "unexpected {other:?}"),
                }
            }
            for (id, name) in &want {
                let live: Vec<&PhoneGroup> = groups.iter().filter(|g| g.source_id.as_deref() == Some(id.as_str())).collect();
                prop_assert_eq!(live.len(), 1);
                prop_assert_eq!(&live[0].title, name);
                prop_assert!(!live[0].deleted && !live[0].dirty);
            }
        }
    }
}
