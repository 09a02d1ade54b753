//! What to write to the phone: the server's contacts (id + hash) against the store's
//! managed entries. Pure; the engine feeds it page by page so 100k contacts never sit in
//! memory as full records.

use std::collections::HashSet;

use thiserror::Error;

use crate::store::{EntryState, IndexEntry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Not on the phone: create it.
    Insert,
    /// On the phone with another hash, or edited by the user: replace its data.
    Update,
    /// Deleted by the user on the phone (the provider keeps a tombstone until the sync
    /// adapter purges it): purge the tombstone, then insert the server's version.
    Reinsert,
    /// Managed, but no longer in the server's set.
    Delete,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DiffError {
    #[error("the server sent contact #{0} twice in one sync")]
    Duplicate(String),
    #[error("the server both updated and deleted contact #{0} in one sync")]
    UpsertAndDelete(String),
}

/// Streaming diff over one sync: created from the store's index, then told each upsert and
/// delete the server sends. Rejects a server that names one id twice.
///
/// The index is kept as a vector sorted by id (for 100k contacts that measured twice as
/// fast as a `HashMap<String, _>`: no rehashing, no per-entry node, one allocation). Servers
/// send a set in id order, so the next id asked for is usually the entry after the last one
/// found: `cursor` is tried first, which makes a sync a merge of two sorted lists, and
/// bisection is only the fallback for ids out of order (`benches/sync.rs`, "diff").
#[derive(Debug)]
pub struct Differ {
    index: Vec<IndexEntry>,
    /// Where the next id is expected: just after the last one looked up.
    cursor: std::cell::Cell<usize>,
    /// `seen[i]`: the server named `index[i]` in this sync.
    seen: Vec<bool>,
    /// Ids the server named that the phone does not hold (to catch duplicates).
    new_ids: HashSet<String>,
    local_changes: bool,
}

impl Differ {
    pub fn new(mut index: Vec<IndexEntry>) -> Self {
        index.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let local_changes = index.iter().any(|e| e.state != EntryState::Clean);
        Differ {
            seen: vec![false; index.len()],
            cursor: std::cell::Cell::new(0),
            index,
            new_ids: HashSet::new(),
            local_changes,
        }
    }

    /// The position of `id` in the index: O(1) when the ids come in order (at the cursor,
    /// the one just found again, or between the two), else by bisection.
    fn find(&self, id: &str) -> Option<usize> {
        let at = self.cursor.get();
        let previous = at
            .checked_sub(1)
            .map(|p| (p, self.index[p].id.as_str().cmp(id)));
        if let Some((p, std::cmp::Ordering::Equal)) = previous {
            return Some(p);
        }
        let after_previous = previous.is_none_or(|(_, o)| o == std::cmp::Ordering::Less);
        let found = match self.index.get(at).map(|e| e.id.as_str().cmp(id)) {
            Some(std::cmp::Ordering::Equal) => Ok(at),
            Some(std::cmp::Ordering::Greater) | None if after_previous => Err(at),
            _ => self.index.binary_search_by(|e| e.id.as_str().cmp(id)),
        };
        match found {
            Ok(i) => {
                self.cursor.set(i + 1);
                Some(i)
            }
            Err(i) => {
                self.cursor.set(i);
                None
            }
        }
    }

    /// The server says contact `id` has content `hash`.
    pub fn upsert(&mut self, id: &str, hash: &str) -> Result<Option<Action>, DiffError> {
        match self.find(id) {
            Some(i) if self.seen[i] => Err(DiffError::Duplicate(id.to_owned())),
            Some(i) => {
                self.seen[i] = true;
                Ok(classify(Some(&self.index[i]), hash))
            }
            None if !self.new_ids.insert(id.to_owned()) => Err(DiffError::Duplicate(id.to_owned())),
            None => Ok(Some(Action::Insert)),
        }
    }

    /// The server says contact `id` left the set. `None` when the phone does not hold it:
    /// deleting what is not there is already done, and only managed ids can ever match.
    pub fn delete(&mut self, id: &str) -> Result<Option<Action>, DiffError> {
        match self.find(id) {
            Some(i) if self.seen[i] => Err(DiffError::UpsertAndDelete(id.to_owned())),
            Some(i) => {
                self.seen[i] = true;
                Ok(Some(Action::Delete))
            }
            None if !self.new_ids.insert(id.to_owned()) => {
                Err(DiffError::UpsertAndDelete(id.to_owned()))
            }
            None => Ok(None),
        }
    }

    /// The photo hash the phone holds for a managed contact.
    pub fn photo_hash(&self, id: &str) -> Option<&str> {
        self.find(id)
            .and_then(|i| self.index[i].photo_hash.as_deref())
    }

    pub fn managed_count(&self) -> usize {
        self.index.len()
    }

    /// The index it was made from, sorted by id.
    pub fn into_index(self) -> Vec<IndexEntry> {
        self.index
    }

    /// After a full fetch: every managed contact the server did not name, sorted.
    pub fn unseen(&self) -> Vec<String> {
        self.index
            .iter()
            .zip(&self.seen)
            .filter(|(_, seen)| !**seen)
            .map(|(e, _)| e.id.clone())
            .collect()
    }

    /// True when some managed entry was touched by the user, which only a full fetch repairs
    /// (a delta names only what changed on the server).
    pub fn store_has_local_changes(&self) -> bool {
        self.local_changes
    }
}

fn classify(known: Option<&IndexEntry>, hash: &str) -> Option<Action> {
    match known {
        None => Some(Action::Insert),
        Some(k) => match k.state {
            EntryState::Deleted => Some(Action::Reinsert),
            EntryState::Dirty => Some(Action::Update),
            EntryState::Clean if k.hash != hash => Some(Action::Update),
            EntryState::Clean => None,
        },
    }
}

/// ContactsProvider does not keep SOURCE_ID unique, so a phone can hold two raw contacts of
/// our account with one server id (two syncs that raced, a restored device). Keeps one per
/// id and returns the raw ids of the others, to delete. The one kept is the most useful:
/// not deleted by the user, then clean, then the oldest raw contact (lowest `_ID`).
pub fn split_duplicates(mut index: Vec<IndexEntry>) -> (Vec<IndexEntry>, Vec<i64>) {
    fn rank(e: &IndexEntry) -> (u8, i64) {
        let state = match e.state {
            EntryState::Clean => 0,
            EntryState::Dirty => 1,
            EntryState::Deleted => 2,
        };
        (state, e.raw_id)
    }
    index.sort_unstable_by(|a, b| a.id.cmp(&b.id).then_with(|| rank(a).cmp(&rank(b))));
    let mut extra = Vec::new();
    index.dedup_by(|later, kept| {
        let same = later.id == kept.id;
        if same {
            extra.push(later.raw_id);
        }
        same
    });
    (index, extra)
}

/// The whole diff at once: `server` is the complete set of `(id, hash)`.
pub fn full_diff<'a, I>(
    server: I,
    store: Vec<IndexEntry>,
) -> Result<Vec<(String, Action)>, DiffError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut differ = Differ::new(store);
    let mut plan = Vec::new();
    for (id, hash) in server {
        if let Some(action) = differ.upsert(id, hash)? {
            plan.push((id.to_owned(), action));
        }
    }
    plan.extend(differ.unseen().into_iter().map(|id| (id, Action::Delete)));
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn entry(id: &str, hash: &str, state: EntryState) -> IndexEntry {
        IndexEntry {
            raw_id: 0,
            id: id.into(),
            hash: hash.into(),
            photo_hash: None,
            state,
        }
    }

    /// The phone as the diff sees it: managed entries, plus personal contacts that must never
    /// be named by any action.
    #[derive(Debug, Clone)]
    struct Phone {
        managed: BTreeMap<String, (String, EntryState)>,
        personal: Vec<String>,
    }

    impl Phone {
        fn index(&self) -> Vec<IndexEntry> {
            self.managed
                .iter()
                .map(|(id, (h, s))| entry(id, h, *s))
                .collect()
        }

        fn apply(&mut self, plan: &[(String, Action)], server: &BTreeMap<String, String>) {
            for (id, action) in plan {
                match action {
                    Action::Insert | Action::Update | Action::Reinsert => {
                        let hash = server[id].clone();
                        self.managed.insert(id.clone(), (hash, EntryState::Clean));
                    }
                    Action::Delete => {
                        self.managed.remove(id);
                    }
                }
            }
        }
    }

    fn arb_state() -> impl Strategy<Value = EntryState> {
        prop_oneof![
            6 => Just(EntryState::Clean),
            1 => Just(EntryState::Dirty),
            1 => Just(EntryState::Deleted)
        ]
    }

    fn arb_case() -> impl Strategy<Value = (BTreeMap<String, String>, Phone)> {
        let ids = "[a-f]{1,2}";
        (
            prop::collection::btree_map(ids, "[0-3]", 0..40),
            prop::collection::btree_map(ids, ("[0-3]", arb_state()), 0..40),
            prop::collection::vec("p[0-9]{1,3}", 0..5),
        )
            .prop_map(|(server, managed, personal)| (server, Phone { managed, personal }))
    }

    proptest! {
        #[test]
        fn applying_the_diff_makes_the_phone_equal_to_the_server((server, mut phone) in arb_case()) {
            let plan = full_diff(server.iter().map(|(i, h)| (i.as_str(), h.as_str())), phone.index()).unwrap();
            phone.apply(&plan, &server);
            let held: BTreeMap<String, String> =
                phone.managed.iter().map(|(i, (h, _))| (i.clone(), h.clone())).collect();
            prop_assert_eq!(&held, &server);
            prop_assert!(phone.managed.values().all(|(_, s)| *s == EntryState::Clean));
        }

        #[test]
        fn a_second_diff_is_empty((server, mut phone) in arb_case()) {
            let pairs = || server.iter().map(|(i, h)| (i.as_str(), h.as_str()));
            let plan = full_diff(pairs(), phone.index()).unwrap();
            phone.apply(&plan, &server);
            prop_assert!(full_diff(pairs(), phone.index()).unwrap().is_empty());
        }

        #[test]
        fn no_action_targets_a_contact_that_is_not_managed((server, phone) in arb_case()) {
            let plan = full_diff(server.iter().map(|(i, h)| (i.as_str(), h.as_str())), phone.index()).unwrap();
            for (id, action) in &plan {
                prop_assert!(!phone.personal.contains(id));
                match action {
                    Action::Insert => prop_assert!(!phone.managed.contains_key(id)),
                    _ => prop_assert!(phone.managed.contains_key(id)),
                }
            }
        }

        #[test]
        fn a_delta_stream_converges_like_a_full_diff(
            (server, phone) in arb_case(),
        ) {
            // A clean phone at some old state, and a delta that names what changed.
            let mut phone = phone;
            for v in phone.managed.values_mut() { v.1 = EntryState::Clean; }
            let mut differ = Differ::new(phone.index());
            let mut plan = Vec::new();
            for (id, hash) in &server {
                if let Some(a) = differ.upsert(id, hash).unwrap() { plan.push((id.clone(), a)); }
            }
            let gone: Vec<String> = phone.managed.keys().filter(|id| !server.contains_key(*id)).cloned().collect();
            for id in gone {
                if let Some(a) = differ.delete(&id).unwrap() { plan.push((id.clone(), a)); }
            }
            prop_assert!(differ.unseen().is_empty());
            phone.apply(&plan, &server);
            let held: BTreeMap<String, String> =
                phone.managed.iter().map(|(i, (h, _))| (i.clone(), h.clone())).collect();
            prop_assert_eq!(held, server);
        }
    }

    proptest! {
        /// The cursor is a shortcut for ids in order; any order (a server that does not sort,
        /// deletes after upserts, photo lookups between) must give the same answers.
        #[test]
        fn the_order_of_the_server_s_ids_does_not_change_the_plan(
            (server, phone) in arb_case(),
            seed in any::<u64>(),
        ) {
            let in_order = full_diff(server.iter().map(|(a, b)| (a.as_str(), b.as_str())), phone.index()).unwrap();
            let mut shuffled: Vec<(&str, &str)> = server.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            // A small deterministic shuffle (no rand dependency): sort by a keyed hash.
            shuffled.sort_by_key(|(id, _)| {
                id.bytes().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
            });
            let mut differ = Differ::new(phone.index());
            let mut plan = Vec::new();
            for (id, hash) in shuffled {
                let before = differ.photo_hash(id).map(str::to_owned);
                if let Some(a) = differ.upsert(id, hash).unwrap() { plan.push((id.to_owned(), a)); }
                prop_assert_eq!(differ.photo_hash(id).map(str::to_owned), before);
            }
            plan.extend(differ.unseen().into_iter().map(|id| (id, Action::Delete)));
            plan.sort_by(|a, b| a.0.cmp(&b.0));
            let mut expected = in_order;
            expected.sort_by(|a, b| a.0.cmp(&b.0));
            prop_assert_eq!(plan, expected);
        }
    }

    fn arb_raw_index() -> impl Strategy<Value = Vec<IndexEntry>> {
        prop::collection::vec(("[a-d]", "[0-2]", arb_state()), 0..30).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(raw, (id, hash, state))| IndexEntry {
                    raw_id: raw as i64 + 1,
                    ..entry(&id, &hash, state)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn duplicates_leave_exactly_one_raw_contact_per_id(index in arb_raw_index()) {
            let (kept, extra) = split_duplicates(index.clone());
            let ids: std::collections::BTreeSet<&str> = index.iter().map(|e| e.id.as_str()).collect();
            // One entry per id, every id still there, and kept + removed = what was there.
            prop_assert_eq!(kept.len(), ids.len());
            prop_assert_eq!(kept.iter().map(|e| e.id.as_str()).collect::<std::collections::BTreeSet<_>>(), ids);
            let mut all: Vec<i64> = kept.iter().map(|e| e.raw_id).chain(extra.iter().copied()).collect();
            all.sort_unstable();
            let mut before: Vec<i64> = index.iter().map(|e| e.raw_id).collect();
            before.sort_unstable();
            prop_assert_eq!(all, before);
            // The kept one is never worse than a removed one of the same id.
            for e in &index {
                let k = kept.iter().find(|k| k.id == e.id).unwrap();
                let rank = |s: EntryState| match s { EntryState::Clean => 0, EntryState::Dirty => 1, EntryState::Deleted => 2 };
                prop_assert!(rank(k.state) <= rank(e.state));
            }
        }
    }

    #[test]
    fn a_clean_copy_is_kept_over_a_deleted_older_one() {
        let mut a = entry("1", "h", EntryState::Deleted);
        a.raw_id = 5;
        let mut b = entry("1", "h", EntryState::Clean);
        b.raw_id = 9;
        let (kept, extra) = split_duplicates(vec![a, b]);
        assert_eq!((kept[0].raw_id, extra), (9, vec![5]));
    }

    #[test]
    fn a_contact_sent_twice_is_an_error() {
        let mut d = Differ::new(vec![]);
        assert_eq!(d.upsert("1", "a"), Ok(Some(Action::Insert)));
        assert_eq!(d.upsert("1", "a"), Err(DiffError::Duplicate("1".into())));
        assert_eq!(d.delete("1"), Err(DiffError::UpsertAndDelete("1".into())));
    }

    #[test]
    fn deleting_an_unknown_id_does_nothing() {
        let mut d = Differ::new(vec![entry("1", "a", EntryState::Clean)]);
        assert_eq!(d.delete("404"), Ok(None));
        assert_eq!(d.delete("1"), Ok(Some(Action::Delete)));
    }

    #[test]
    fn user_edits_and_deletions_are_put_back() {
        let store = vec![
            entry("1", "a", EntryState::Dirty),
            entry("2", "b", EntryState::Deleted),
            entry("3", "c", EntryState::Clean),
        ];
        let plan = full_diff([("1", "a"), ("2", "b"), ("3", "c")], store).unwrap();
        assert_eq!(
            plan,
            vec![("1".into(), Action::Update), ("2".into(), Action::Reinsert)]
        );
    }
}
