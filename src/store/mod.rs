//! The phone's contact store as the engine sees it: an index of the managed contacts and
//! atomic batches of writes. Implementations: `sqlite` (host: CLI, demo, tests) and, on a
//! JVM, the JNI bridge to Android's ContactsProvider.

pub mod bridge;
pub mod jni;
pub mod personal;
pub mod rows;
pub mod sqlite;

use contacts_agent_protocol::ContactData;
use thiserror::Error;

pub use personal::{pick_account, Address, Im, Item, PersonalContact, PersonalData, SourceAccount};

/// ContactsProvider's `applyBatch` refuses more than 500 operations between yield points
/// (`MAX_OPERATIONS_PER_YIELD_POINT`); like DAVx5's `BatchOperation` we stop one short, so a
/// batch never holds more provider operations than this (docs/contacts-provider-model.md).
pub const MAX_BATCH_OPS: usize = 499;

/// One managed contact as the store knows it: enough to diff without reading its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The provider's `RawContacts._ID`: tells apart two raw contacts with one SOURCE_ID.
    pub raw_id: i64,
    pub id: String,
    pub hash: String,
    pub photo_hash: Option<String>,
    pub state: EntryState,
}

/// The provider's own flags on a raw contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryState {
    Clean,
    /// `DIRTY = 1`: the user edited it on the phone.
    Dirty,
    /// `DELETED = 1`: the user deleted it; the provider keeps it until the sync adapter purges it.
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    Insert(ContactWrite),
    /// Replace the data rows of the managed raw contact with this id.
    Update(ContactWrite),
    /// Sync-adapter delete of every managed raw contact with this id (tombstones included).
    Delete {
        id: String,
    },
    /// Sync-adapter delete of one raw contact of our account by its `_ID`: the extra copies
    /// when SOURCE_ID (which the provider does not keep unique) names several.
    DeleteRaw {
        raw_id: i64,
    },
    /// A contact group of our account for the MDM group `source_id` (`Groups.SOURCE_ID`),
    /// visible, read-only for apps, written as the sync adapter (DIRTY = 0).
    InsertGroup {
        source_id: String,
        title: String,
    },
    /// New title of one group of our account (by `Groups._ID`); clears DIRTY.
    RenameGroup {
        row_id: i64,
        title: String,
    },
    /// Sync-adapter delete of one group of our account by `_ID`: the row goes, and the
    /// provider drops the membership rows that point at it.
    DeleteGroup {
        row_id: i64,
    },
}

/// One contact group of our account as the store knows it (`ContactsContract.Groups`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneGroup {
    /// `Groups._ID`.
    pub row_id: i64,
    /// The MDM group's id; `None` for a group of our account someone else made.
    pub source_id: Option<String>,
    pub title: String,
    /// `DELETED = 1`: someone deleted it (its memberships are gone); the sync adapter purges it.
    pub deleted: bool,
    /// `DIRTY = 1`: someone other than the sync adapter changed it.
    pub dirty: bool,
    /// Managed raw contacts (not deleted) with a membership row pointing at it.
    pub members: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactWrite {
    pub id: String,
    pub hash: String,
    pub data: ContactData,
    pub photo: PhotoWrite,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhotoWrite {
    Keep,
    /// New image bytes and their hash.
    Set {
        hash: String,
        bytes: Vec<u8>,
    },
    Clear,
}

/// A managed contact read back from the store (`contacts-agent contacts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredContact {
    pub id: String,
    pub hash: String,
    pub data: ContactData,
    pub has_photo: bool,
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("contact store database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("a batch of {ops} provider operations exceeds the limit of {max}")]
    BatchTooLarge { ops: usize, max: usize },
    #[error("the contact store refused the batch: {0}")]
    Refused(String),
    #[error("the contact store bridge failed: {0}")]
    Bridge(String),
    /// READ_CONTACTS / WRITE_CONTACTS is not granted (or was revoked mid-run).
    #[error("the app may not read or write contacts ({0}); grant the contacts permission")]
    PermissionDenied(String),
    /// The provider process died or is busy: nothing was written, try again later.
    #[error("the contacts provider is unavailable ({0}); will retry")]
    ProviderUnavailable(String),
    #[error("the contact store is not readable: {0}")]
    Corrupt(String),
}

pub trait ContactStore {
    /// Every managed contact (our account type only), in one call.
    fn managed_index(&mut self) -> Result<Vec<IndexEntry>, StoreError>;

    /// Applies the operations atomically: all or none. At most `MAX_BATCH_OPS` provider
    /// operations (see `provider_ops`).
    fn apply_batch(&mut self, ops: &[StoreOp]) -> Result<(), StoreError>;

    /// Every contact group of our account, deleted ones included (never another account's).
    fn managed_groups(&mut self) -> Result<Vec<PhoneGroup>, StoreError>;

    /// A page of managed contacts with their data, ordered by id.
    fn managed_contacts(
        &mut self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<StoredContact>, StoreError>;

    /// A page of personal contacts (every account but ours), in `raw_id` order, starting
    /// after `after`. The backup reads the address book this way, never all at once.
    fn personal_page(
        &mut self,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<PersonalContact>, StoreError>;

    /// Refuses `account` for personal contacts when it is of our own (managed) type.
    fn check_personal_account(&self, account: Option<&SourceAccount>) -> Result<(), StoreError>;

    /// The accounts on the phone that personal contacts may live in (every one but ours).
    /// A restore puts a contact back into its own account only when it is listed here.
    fn personal_accounts(&mut self) -> Result<Vec<SourceAccount>, StoreError>;

    /// Inserts personal contacts into `account` (`None`: the device-local account), all or
    /// none, with their photos, starred flags and group memberships (by title, in that
    /// account). Refuses our own account type: restore never writes business contacts.
    fn insert_personal(
        &mut self,
        account: Option<&SourceAccount>,
        contacts: &[PersonalData],
    ) -> Result<(), StoreError>;
}

/// Personal contacts never go into the managed account (restore, personal inserts).
pub fn refuse_managed_account(
    account: Option<&SourceAccount>,
    managed: &str,
) -> Result<(), StoreError> {
    if account.is_some_and(|a| a.kind == managed) {
        return Err(StoreError::Refused(
            "personal contacts are never written into the managed account".into(),
        ));
    }
    Ok(())
}

/// How many ContactsProvider operations an op becomes: the raw contact row, one per data
/// row (a GroupMembership row per group included), a delete of the old data rows on update,
/// and the photo write.
pub fn provider_ops(op: &StoreOp) -> usize {
    fn photo(p: &PhotoWrite) -> usize {
        usize::from(!matches!(p, PhotoWrite::Keep))
    }
    match op {
        StoreOp::Insert(w) => {
            1 + rows::data_row_count(&w.data) + w.data.groups.len() + photo(&w.photo)
        }
        StoreOp::Update(w) => {
            2 + rows::data_row_count(&w.data) + w.data.groups.len() + photo(&w.photo)
        }
        StoreOp::Delete { .. }
        | StoreOp::DeleteRaw { .. }
        | StoreOp::InsertGroup { .. }
        | StoreOp::RenameGroup { .. }
        | StoreOp::DeleteGroup { .. } => 1,
    }
}

/// Packs operations into batches of at most `max_ops` provider operations, keeping order.
/// An op larger than the limit on its own gets a batch of its own (the store then refuses
/// it with a clear error rather than the engine splitting a contact).
pub fn pack_batches(ops: Vec<StoreOp>, max_ops: usize) -> Vec<Vec<StoreOp>> {
    let mut batches = Vec::new();
    let mut current = Vec::new();
    let mut cost = 0;
    for op in ops {
        let c = provider_ops(&op);
        if !current.is_empty() && cost + c > max_ops {
            batches.push(std::mem::take(&mut current));
            cost = 0;
        }
        cost += c;
        current.push(op);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn write(id: usize, phones: usize) -> StoreOp {
        let data = ContactData {
            given_name: "G".into(),
            family_name: "F".into(),
            display_name: "G F".into(),
            phones: (0..phones)
                .map(|i| {
                    contacts_agent_protocol::Phone::new(
                        format!("{i}"),
                        contacts_agent_protocol::PhoneKind::Work,
                    )
                })
                .collect(),
            ..Default::default()
        };
        StoreOp::Insert(ContactWrite {
            id: id.to_string(),
            hash: "h".into(),
            data,
            photo: PhotoWrite::Keep,
        })
    }

    proptest! {
        #[test]
        fn packed_batches_respect_the_limit_and_keep_order(sizes in prop::collection::vec(0usize..6, 0..400)) {
            let ops: Vec<StoreOp> = sizes.iter().enumerate().map(|(i, n)| write(i, *n)).collect();
            let batches = pack_batches(ops.clone(), MAX_BATCH_OPS);
            for b in &batches {
                prop_assert!(b.iter().map(provider_ops).sum::<usize>() <= MAX_BATCH_OPS);
                prop_assert!(!b.is_empty());
            }
            let flat: Vec<StoreOp> = batches.into_iter().flatten().collect();
            prop_assert_eq!(flat, ops);
        }
    }
}
