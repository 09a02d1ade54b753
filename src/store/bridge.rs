//! The JSON shapes that cross the JNI bridge (`ContactStoreBridge` in Kotlin): whole batches
//! as one byte array per call. Operations carry ContactsContract data rows, so the Kotlin
//! adapter only translates them into ContentProviderOperations and decides nothing.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::personal::{PersonalContact, PersonalData};
use super::rows::{
    from_rows, known_mime as mime, personal_from_rows, personal_to_rows, to_rows, DataRow,
    OWNED_MIMETYPES,
};
use super::{ContactWrite, EntryState, IndexEntry, PhoneGroup, PhotoWrite, StoreOp, StoredContact};
use contacts_agent_protocol::{GroupRef, PhotoRef};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub mimetype: String,
    /// `DATA1` .. `DATA10`.
    pub data: [Option<String>; 10],
    /// `IS_PRIMARY` and `IS_SUPER_PRIMARY` (the preferred phone or e-mail); omitted when false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub primary: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl From<DataRow> for Row {
    fn from(r: DataRow) -> Self {
        Row {
            mimetype: r.mimetype.to_owned(),
            data: r.data,
            primary: r.primary,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Insert(Write),
    Update(Update),
    Delete {
        id: String,
    },
    DeleteRaw {
        raw_id: i64,
    },
    /// A contact group of our account: SOURCE_ID = the MDM group's id, TITLE, visible,
    /// read-only for apps, as the sync adapter.
    InsertGroup {
        source_id: String,
        title: String,
    },
    /// New TITLE (and DIRTY = 0) of our account's group with this `_ID`.
    RenameGroup {
        group_id: i64,
        title: String,
    },
    /// Sync-adapter delete of our account's group with this `_ID`.
    DeleteGroup {
        group_id: i64,
    },
}

/// An update: the shell deletes the raw contact's rows of `owned_mimetypes` only (never the
/// Photo row, never another app's rows), then inserts `rows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    #[serde(flatten)]
    pub write: Write,
    pub owned_mimetypes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Write {
    pub id: String,
    pub hash: String,
    pub display_name: String,
    pub rows: Vec<Row>,
    /// One GroupMembership row each, written with `GROUP_SOURCE_ID` = this id (the provider
    /// finds the group of our account with that SOURCE_ID). An update replaces them with the
    /// other owned rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_source_ids: Vec<String>,
    /// `keep`, `set` or `clear`.
    pub photo_action: String,
    pub photo_hash: Option<String>,
    /// Base64 image bytes with `set`. The Android adapter writes them to the raw contact's
    /// display-photo file after the batch, never into it, and sets SYNC2 to `photo_hash`
    /// (resetting the DIRTY flag that write raised) only once the file write succeeded.
    pub photo: Option<String>,
}

fn write(w: &ContactWrite) -> Write {
    let (action, hash, photo) = match &w.photo {
        PhotoWrite::Keep => ("keep", None, None),
        PhotoWrite::Clear => ("clear", None, None),
        PhotoWrite::Set { hash, bytes } => {
            ("set", Some(hash.clone()), Some(STANDARD.encode(bytes)))
        }
    };
    Write {
        id: w.id.clone(),
        hash: w.hash.clone(),
        display_name: w.data.display_name.clone(),
        rows: to_rows(&w.data).into_iter().map(Row::from).collect(),
        group_source_ids: w.data.groups.iter().map(|g| g.id.clone()).collect(),
        photo_action: action.into(),
        photo_hash: hash,
        photo,
    }
}

pub fn encode_ops(ops: &[StoreOp]) -> Result<Vec<u8>, serde_json::Error> {
    let ops: Vec<Op> = ops
        .iter()
        .map(|op| match op {
            StoreOp::Insert(w) => Op::Insert(write(w)),
            StoreOp::Update(w) => Op::Update(Update {
                write: write(w),
                owned_mimetypes: OWNED_MIMETYPES.iter().map(|m| (*m).to_owned()).collect(),
            }),
            StoreOp::Delete { id } => Op::Delete { id: id.clone() },
            StoreOp::DeleteRaw { raw_id } => Op::DeleteRaw { raw_id: *raw_id },
            StoreOp::InsertGroup { source_id, title } => Op::InsertGroup {
                source_id: source_id.clone(),
                title: title.clone(),
            },
            StoreOp::RenameGroup { row_id, title } => Op::RenameGroup {
                group_id: *row_id,
                title: title.clone(),
            },
            StoreOp::DeleteGroup { row_id } => Op::DeleteGroup { group_id: *row_id },
        })
        .collect();
    serde_json::to_vec(&ops)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Entry {
    pub raw_id: i64,
    pub id: String,
    pub hash: String,
    pub photo_hash: Option<String>,
    /// `clean`, `dirty` or `deleted`.
    pub state: String,
}

pub fn decode_index(bytes: &[u8]) -> Result<Vec<IndexEntry>, String> {
    let entries: Vec<Entry> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    entries
        .into_iter()
        .map(|e| {
            let state = match e.state.as_str() {
                "clean" => EntryState::Clean,
                "dirty" => EntryState::Dirty,
                "deleted" => EntryState::Deleted,
                other => return Err(format!("unknown entry state {other:?}")),
            };
            Ok(IndexEntry {
                raw_id: e.raw_id,
                id: e.id,
                hash: e.hash,
                photo_hash: e.photo_hash,
                state,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Managed {
    pub id: String,
    pub hash: String,
    pub photo_hash: Option<String>,
    pub rows: Vec<Row>,
    /// The groups its GroupMembership rows point at (SOURCE_ID and TITLE of each).
    #[serde(default)]
    pub groups: Vec<GroupRef>,
}

/// One group of our account (`managedGroups`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Group {
    pub group_id: i64,
    pub source_id: Option<String>,
    pub title: Option<String>,
    pub deleted: bool,
    pub dirty: bool,
    /// Raw contacts of our account, not deleted, with a membership row pointing at it.
    pub members: u64,
}

pub fn decode_groups(bytes: &[u8]) -> Result<Vec<PhoneGroup>, String> {
    let groups: Vec<Group> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Ok(groups
        .into_iter()
        .map(|g| PhoneGroup {
            row_id: g.group_id,
            source_id: g.source_id,
            title: g.title.unwrap_or_default(),
            deleted: g.deleted,
            dirty: g.dirty,
            members: g.members,
        })
        .collect())
}

pub fn decode_managed(bytes: &[u8]) -> Result<Vec<StoredContact>, String> {
    let items: Vec<Managed> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Ok(items
        .into_iter()
        .map(|m| {
            let mut data = from_rows(
                m.rows
                    .iter()
                    .map(|r| (mime(&r.mimetype), r.data.clone(), r.primary)),
            );
            data.photo = m.photo_hash.clone().map(|hash| PhotoRef { hash });
            data.groups = m.groups;
            StoredContact {
                id: m.id,
                hash: m.hash,
                has_photo: m.photo_hash.is_some(),
                data,
            }
        })
        .collect())
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Personal {
    pub raw_id: i64,
    pub rows: Vec<Row>,
    pub photo: Option<String>,
}

pub fn decode_personal(bytes: &[u8]) -> Result<Vec<PersonalContact>, String> {
    let items: Vec<Personal> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    items
        .into_iter()
        .map(|p| {
            let mut data =
                personal_from_rows(p.rows.iter().map(|r| (mime(&r.mimetype), r.data.clone())));
            data.photo = p
                .photo
                .map(|b| STANDARD.decode(b).map_err(|e| format!("photo: {e}")))
                .transpose()?;
            Ok(PersonalContact {
                raw_id: p.raw_id,
                data,
            })
        })
        .collect()
}

pub fn encode_personal(contacts: &[PersonalData]) -> Result<Vec<u8>, serde_json::Error> {
    let items: Vec<Personal> = contacts
        .iter()
        .map(|c| Personal {
            raw_id: 0,
            rows: personal_to_rows(c).into_iter().map(Row::from).collect(),
            photo: c.photo.as_ref().map(|b| STANDARD.encode(b)),
        })
        .collect();
    serde_json::to_vec(&items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use contacts_agent_protocol::{ContactData, Phone, PhoneKind};

    /// The batch the Android shell's translation test reads (`tests/fixtures/bridge_batch.json`):
    /// pinned here so both sides test against what the core really sends.
    fn sample_batch() -> Vec<StoreOp> {
        let data = ContactData {
            given_name: "Anna".into(),
            family_name: "Nowak".into(),
            display_name: "Anna Nowak".into(),
            title: Some("Partner".into()),
            phones: vec![Phone::new("+48 600 100 200", PhoneKind::Mobile)],
            groups: vec![
                GroupRef {
                    id: "harvey".into(),
                    name: "Harvey".into(),
                },
                GroupRef {
                    id: "mike".into(),
                    name: "Mike".into(),
                },
            ],
            ..Default::default()
        };
        vec![
            StoreOp::Insert(ContactWrite {
                id: "u-1".into(),
                hash: "h1".into(),
                data: data.clone(),
                photo: PhotoWrite::Set {
                    hash: "p1".into(),
                    bytes: vec![0xFF, 0xD8, 0xFF],
                },
            }),
            StoreOp::Update(ContactWrite {
                id: "u-2".into(),
                hash: "h2".into(),
                data,
                photo: PhotoWrite::Clear,
            }),
            StoreOp::Delete { id: "u-3".into() },
            StoreOp::DeleteRaw { raw_id: 42 },
            // Every field of the richer contact, for the shell's column-by-column test.
            StoreOp::Insert(ContactWrite {
                id: "u-5".into(),
                hash: "h5".into(),
                data: crate::store::rows::tests::every_field(),
                photo: PhotoWrite::Keep,
            }),
            StoreOp::InsertGroup {
                source_id: "sales".into(),
                title: "Sales".into(),
            },
            StoreOp::RenameGroup {
                row_id: 7,
                title: "Mike Ross".into(),
            },
            StoreOp::DeleteGroup { row_id: 8 },
        ]
    }

    #[test]
    fn the_android_fixture_is_what_the_core_sends() {
        let encoded: serde_json::Value =
            serde_json::from_slice(&encode_ops(&sample_batch()).unwrap()).unwrap();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/bridge_batch.json"
        );
        if std::env::var_os("UPDATE_FIXTURES").is_some() {
            // Through the typed shapes, so the file keeps the fields in their declared order.
            let ops: Vec<Op> =
                serde_json::from_slice(&encode_ops(&sample_batch()).unwrap()).unwrap();
            let pretty = serde_json::to_string_pretty(&ops).unwrap();
            std::fs::write(path, pretty + "\n").unwrap();
        }
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            encoded, fixture,
            "regenerate {path}: UPDATE_FIXTURES=1 cargo test --lib the_android_fixture"
        );
    }
}
