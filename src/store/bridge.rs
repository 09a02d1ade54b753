//! The binary format of everything that crosses the JNI bridge (`ContactStoreBridge` in
//! Kotlin): whole batches as one `byte[]` per call, never one call per contact. This is the
//! one description of the layout; `BridgeCodec.kt` reads and writes it, and the fixture test
//! below (`tests/fixtures/bridge_*.bin`) pins it from both sides.
//!
//! The core owns every piece of ContactsContract knowledge: it sends and receives the
//! provider's own mimetypes and `TYPE` / `Im.PROTOCOL` integers (`personal::kinds`), so the
//! Kotlin adapter copies columns and decides nothing.
//!
//! # Layout, version 1
//!
//! Integers are big-endian (Java's `ByteBuffer` default), signed unless said.
//!
//! ```text
//! payload  = magic "CAB" · version u8 (= 1) · kind u8 · count u32 · body
//! str      = len i32 · UTF-8 bytes            len = -1: null (only where marked "str?")
//! blob     = len i32 · raw bytes              len = -1: none (photos: raw image bytes)
//! strs     = count u32 · str*
//! row      = mimetype str · flags u8 (bit 0: IS_PRIMARY and IS_SUPER_PRIMARY)
//!            · mask u16 (bit i set: DATA(i+1) is not null; bits 0..9 only)
//!            · str for each set bit, DATA1 first
//! rows     = count u32 · row*
//! ```
//!
//! `count` is the number of records in the body; a payload with fewer or more bytes than its
//! records need is refused. Kinds and their records:
//!
//! | kind | direction | record |
//! | --- | --- | --- |
//! | 1 ops (`applyBatch`) | core → shell | tag u8, then by tag (below) |
//! | 2 index (`managedIndex`) | shell → core | `_ID` i64 · SOURCE_ID str · SYNC1 str? · SYNC2 str? · flags u8 (bit 0 DIRTY, bit 1 DELETED) |
//! | 3 groups (`managedGroups`) | shell → core | `_ID` i64 · SOURCE_ID str? · TITLE str? · flags u8 (bit 0 DIRTY, bit 1 DELETED) · members i64 |
//! | 4 managed (`managedContacts`) | shell → core | SOURCE_ID str · SYNC1 str? · SYNC2 str? · rows · groups u32 × (SOURCE_ID str · TITLE str?) |
//! | 5 personal (`personalPage`) | shell → core | `_ID` i64 · ACCOUNT_TYPE str? · ACCOUNT_NAME str? · STARRED u8 · rows · group TITLEs strs · photo blob |
//! | 6 personal insert (`insertPersonal`) | core → shell | body starts with ACCOUNT_TYPE str? · ACCOUNT_NAME str? (null: device-local), then per record STARRED u8 · rows · group TITLEs strs · photo blob |
//! | 7 accounts (`personalAccounts`) | shell → core | ACCOUNT_TYPE str · ACCOUNT_NAME str |
//!
//! Ops by tag: 1 insert and 2 update = SOURCE_ID str · SYNC1 str · rows · group SOURCE_IDs
//! strs · photo action u8 (0 keep, 1 set, 2 clear) · when set: photo hash str · photo blob;
//! an update then adds the owned mimetypes strs (the rows it replaces). 3 delete = SOURCE_ID
//! str; 4 delete raw = `_ID` i64; 5 insert group = SOURCE_ID str · TITLE str; 6 rename group =
//! `_ID` i64 · TITLE str; 7 delete group = `_ID` i64.
//!
//! Data rows are the provider's columns as text, `TYPE` (`DATA2`) and `Im.PROTOCOL` (`DATA5`)
//! as their integers. A reader refuses a payload of another magic, version or kind, a length
//! or count larger than the bytes left (before allocating), invalid UTF-8, an unknown tag or
//! mask bit, and trailing bytes: a clear error, never a guess.

use contacts_agent_protocol::{GroupRef, PhotoRef};
use thiserror::Error;

use super::personal::kinds;
use super::personal::{PersonalContact, PersonalData, SourceAccount};
use super::rows::{
    from_rows, known_mime, personal_from_rows, personal_to_rows, to_rows, DataRow, MIME_EMAIL,
    MIME_EVENT, MIME_IM, MIME_NICKNAME, MIME_PHONE, MIME_POSTAL, MIME_RELATION, MIME_SIP,
    MIME_WEBSITE, OWNED_MIMETYPES,
};
use super::{ContactWrite, EntryState, IndexEntry, PhoneGroup, PhotoWrite, StoreOp, StoredContact};

pub const MAGIC: [u8; 3] = *b"CAB";
/// Bumped on any change to the layout: a shell and a library of different versions refuse
/// each other's payloads rather than misread them.
pub const VERSION: u8 = 1;

/// What a payload holds (the `kind` byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Ops = 1,
    Index = 2,
    Groups = 3,
    Managed = 4,
    Personal = 5,
    PersonalInsert = 6,
    Accounts = 7,
}

const TAG_INSERT: u8 = 1;
const TAG_UPDATE: u8 = 2;
const TAG_DELETE: u8 = 3;
const TAG_DELETE_RAW: u8 = 4;
const TAG_INSERT_GROUP: u8 = 5;
const TAG_RENAME_GROUP: u8 = 6;
const TAG_DELETE_GROUP: u8 = 7;

const PHOTO_KEEP: u8 = 0;
const PHOTO_SET: u8 = 1;
const PHOTO_CLEAR: u8 = 2;

const FLAG_PRIMARY: u8 = 1;
const FLAG_DIRTY: u8 = 1;
const FLAG_DELETED: u8 = 2;
/// DATA1..DATA10.
const COLUMNS: usize = 10;
const HEADER: usize = 3 + 1 + 1 + 4;

/// Why a payload was refused. Never quotes the payload (it holds names and numbers).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("not a bridge payload (bad magic)")]
    Magic,
    #[error(
        "bridge format version {found}, this library speaks {VERSION}: the app's Kotlin shell and the native library are from different releases"
    )]
    Version { found: u8 },
    #[error("a bridge payload of kind {found} where kind {expected} was expected")]
    Kind { expected: u8, found: u8 },
    #[error("the bridge payload is truncated at byte {at} (reading {what})")]
    Truncated { at: usize, what: &'static str },
    #[error("the bridge payload says {count} records but has bytes for fewer")]
    CountTooLarge { count: u32 },
    #[error("the bridge payload has {0} bytes after its last record (record count disagrees)")]
    Trailing(usize),
    #[error("the bridge payload is invalid at byte {at}: {what}")]
    Invalid { at: usize, what: &'static str },
    #[error("a value of {0} bytes does not fit the bridge format")]
    TooLong(usize),
}

// ---------------------------------------------------------------------------------------
// Writing

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn new(kind: Kind, count: usize, capacity: usize) -> Result<Self, FormatError> {
        let mut w = Writer {
            buf: Vec::with_capacity(HEADER + capacity),
        };
        w.buf.extend_from_slice(&MAGIC);
        w.buf.push(VERSION);
        w.buf.push(kind as u8);
        w.count(count)?;
        Ok(w)
    }

    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn count(&mut self, n: usize) -> Result<(), FormatError> {
        let n = u32::try_from(n).map_err(|_| FormatError::TooLong(n))?;
        self.buf.extend_from_slice(&n.to_be_bytes());
        Ok(())
    }

    fn len(&mut self, n: usize) -> Result<(), FormatError> {
        let n = i32::try_from(n).map_err(|_| FormatError::TooLong(n))?;
        self.buf.extend_from_slice(&n.to_be_bytes());
        Ok(())
    }

    fn str(&mut self, s: &str) -> Result<(), FormatError> {
        self.len(s.len())?;
        self.buf.extend_from_slice(s.as_bytes());
        Ok(())
    }

    fn opt_str(&mut self, s: Option<&str>) -> Result<(), FormatError> {
        match s {
            Some(s) => self.str(s),
            None => {
                self.buf.extend_from_slice(&(-1i32).to_be_bytes());
                Ok(())
            }
        }
    }

    fn blob(&mut self, b: Option<&[u8]>) -> Result<(), FormatError> {
        match b {
            Some(b) => {
                self.len(b.len())?;
                self.buf.extend_from_slice(b);
                Ok(())
            }
            None => {
                self.buf.extend_from_slice(&(-1i32).to_be_bytes());
                Ok(())
            }
        }
    }

    fn strs<S: AsRef<str>>(&mut self, items: &[S]) -> Result<(), FormatError> {
        self.count(items.len())?;
        items.iter().try_for_each(|s| self.str(s.as_ref()))
    }

    /// One data row as the provider stores it: the core's type words become the
    /// `CommonDataKinds` integers here, the only place they are turned into numbers.
    fn row(&mut self, row: &DataRow) -> Result<(), FormatError> {
        let data = provider_columns(row.mimetype, &row.data);
        self.str(row.mimetype)?;
        self.u8(if row.primary { FLAG_PRIMARY } else { 0 });
        let mask = data
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_some())
            .fold(0u16, |m, (i, _)| m | (1 << i));
        self.buf.extend_from_slice(&mask.to_be_bytes());
        data.iter().flatten().try_for_each(|v| self.str(v))
    }

    fn rows(&mut self, rows: &[DataRow]) -> Result<(), FormatError> {
        self.count(rows.len())?;
        rows.iter().try_for_each(|r| self.row(r))
    }
}

/// The `TYPE` table of a mimetype's `DATA2` (`None`: the column is not a type).
fn type_table(mimetype: &str) -> Option<&'static [(&'static str, i32)]> {
    Some(match mimetype {
        MIME_PHONE => kinds::PHONE,
        MIME_EMAIL => kinds::EMAIL,
        MIME_POSTAL | MIME_SIP | MIME_IM => kinds::PLACE,
        MIME_WEBSITE => kinds::WEBSITE,
        MIME_EVENT => kinds::EVENT,
        MIME_RELATION => kinds::RELATION,
        MIME_NICKNAME => kinds::NICKNAME,
        _ => return None,
    })
}

/// Columns as the provider stores them. A type word the table lacks becomes `TYPE_CUSTOM`
/// with the word as `LABEL` (unless the row has a label), so nothing is lost; an empty word
/// is a NULL type.
fn provider_columns<'a>(
    mimetype: &str,
    data: &'a [Option<String>; COLUMNS],
) -> [Option<std::borrow::Cow<'a, str>>; COLUMNS] {
    use std::borrow::Cow;
    let mut out: [Option<Cow<'a, str>>; COLUMNS] =
        std::array::from_fn(|i| data[i].as_deref().map(Cow::Borrowed));
    if let Some(table) = type_table(mimetype) {
        if let Some(word) = data[1].as_deref() {
            if word.is_empty() {
                out[1] = None;
            } else if let Some(code) = kinds::code(table, word) {
                out[1] = Some(Cow::Owned(code.to_string()));
            } else {
                out[1] = Some(Cow::Owned(kinds::TYPE_CUSTOM.to_string()));
                if data[2].as_deref().is_none_or(str::is_empty) {
                    out[2] = Some(Cow::Borrowed(word));
                }
            }
        }
    }
    if mimetype == MIME_IM {
        if let Some(word) = data[4].as_deref() {
            out[4] = if word.is_empty() {
                None
            } else {
                let code = kinds::code(kinds::IM_PROTOCOL, word).unwrap_or(kinds::PROTOCOL_CUSTOM);
                Some(Cow::Owned(code.to_string()))
            };
        }
    }
    out
}

/// The reading side of `provider_columns`: a `TYPE` integer the table lacks (or text that
/// is not a number) reads as `other` where the kind has one, else `custom`; an unknown
/// `Im.PROTOCOL` as `custom`.
fn core_columns(mimetype: &str, mut data: [Option<String>; COLUMNS]) -> [Option<String>; COLUMNS] {
    if let Some(table) = type_table(mimetype) {
        if let Some(text) = data[1].take() {
            let word = text
                .trim()
                .parse::<i32>()
                .ok()
                .and_then(|c| kinds::word(table, c))
                .or_else(|| kinds::code(table, "other").map(|_| "other"))
                .unwrap_or(kinds::CUSTOM_WORD);
            data[1] = Some(word.to_owned());
        }
    }
    if mimetype == MIME_IM {
        if let Some(text) = data[4].take() {
            let word = text
                .trim()
                .parse::<i32>()
                .ok()
                .and_then(|c| kinds::word(kinds::IM_PROTOCOL, c))
                .unwrap_or(kinds::CUSTOM_WORD);
            data[4] = Some(word.to_owned());
        }
    }
    data
}

fn write_contact(w: &mut Writer, c: &ContactWrite, owned: bool) -> Result<(), FormatError> {
    w.str(&c.id)?;
    w.str(&c.hash)?;
    w.rows(&to_rows(&c.data))?;
    w.count(c.data.groups.len())?;
    for g in &c.data.groups {
        w.str(&g.id)?;
    }
    match &c.photo {
        PhotoWrite::Keep => w.u8(PHOTO_KEEP),
        PhotoWrite::Clear => w.u8(PHOTO_CLEAR),
        PhotoWrite::Set { hash, bytes } => {
            w.u8(PHOTO_SET);
            w.str(hash)?;
            w.blob(Some(bytes))?;
        }
    }
    if owned {
        w.strs(&OWNED_MIMETYPES)?;
    }
    Ok(())
}

/// A rough size, so the buffer is allocated once for a typical batch.
fn op_size(op: &StoreOp) -> usize {
    match op {
        StoreOp::Insert(w) | StoreOp::Update(w) => {
            let photo = match &w.photo {
                PhotoWrite::Set { bytes, .. } => bytes.len() + 80,
                _ => 0,
            };
            200 + 80 * super::rows::data_row_count(&w.data) + photo
        }
        _ => 48,
    }
}

/// `applyBatch`'s payload.
pub fn encode_ops(ops: &[StoreOp]) -> Result<Vec<u8>, FormatError> {
    let mut w = Writer::new(Kind::Ops, ops.len(), ops.iter().map(op_size).sum())?;
    for op in ops {
        match op {
            StoreOp::Insert(c) => {
                w.u8(TAG_INSERT);
                write_contact(&mut w, c, false)?;
            }
            StoreOp::Update(c) => {
                w.u8(TAG_UPDATE);
                write_contact(&mut w, c, true)?;
            }
            StoreOp::Delete { id } => {
                w.u8(TAG_DELETE);
                w.str(id)?;
            }
            StoreOp::DeleteRaw { raw_id } => {
                w.u8(TAG_DELETE_RAW);
                w.i64(*raw_id);
            }
            StoreOp::InsertGroup { source_id, title } => {
                w.u8(TAG_INSERT_GROUP);
                w.str(source_id)?;
                w.str(title)?;
            }
            StoreOp::RenameGroup { row_id, title } => {
                w.u8(TAG_RENAME_GROUP);
                w.i64(*row_id);
                w.str(title)?;
            }
            StoreOp::DeleteGroup { row_id } => {
                w.u8(TAG_DELETE_GROUP);
                w.i64(*row_id);
            }
        }
    }
    Ok(w.buf)
}

/// `insertPersonal`'s payload: the account (none: device-local), then the contacts.
pub fn encode_personal(
    account: Option<&SourceAccount>,
    contacts: &[PersonalData],
) -> Result<Vec<u8>, FormatError> {
    let size = contacts
        .iter()
        .map(|c| 64 + 80 * c.data_rows() + c.photo.as_ref().map_or(0, Vec::len))
        .sum();
    let mut w = Writer::new(Kind::PersonalInsert, contacts.len(), size)?;
    w.opt_str(account.map(|a| a.kind.as_str()))?;
    w.opt_str(account.map(|a| a.name.as_str()))?;
    for c in contacts {
        w.u8(u8::from(c.starred));
        w.rows(&personal_to_rows(c))?;
        w.strs(&c.groups)?;
        w.blob(c.photo.as_deref())?;
    }
    Ok(w.buf)
}

// ---------------------------------------------------------------------------------------
// Reading

/// A data row as read: mimetype, `DATA1..DATA10`, primary.
type WireRow = (String, [Option<String>; COLUMNS], bool);

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

/// The fewest bytes a record of each kind can take: a count larger than the bytes left
/// divided by this is refused before anything is allocated.
fn min_record(kind: Kind) -> usize {
    match kind {
        Kind::Ops => 1 + 8,
        Kind::Index => 8 + 4 + 4 + 4 + 1,
        Kind::Groups => 8 + 4 + 4 + 1 + 8,
        Kind::Managed => 4 + 4 + 4 + 4 + 4,
        Kind::Personal => 8 + 4 + 4 + 1 + 4 + 4 + 4,
        Kind::PersonalInsert => 1 + 4 + 4 + 4,
        Kind::Accounts => 4 + 4,
    }
}

impl<'a> Reader<'a> {
    /// Checks the header; returns the reader past it and the record count.
    fn open(buf: &'a [u8], kind: Kind) -> Result<(Self, usize), FormatError> {
        let mut r = Reader { buf, at: 0 };
        if r.take(3, "magic")? != MAGIC {
            return Err(FormatError::Magic);
        }
        let version = r.u8("version")?;
        if version != VERSION {
            return Err(FormatError::Version { found: version });
        }
        let found = r.u8("kind")?;
        if found != kind as u8 {
            return Err(FormatError::Kind {
                expected: kind as u8,
                found,
            });
        }
        let count = r.count(min_record(kind))?;
        Ok((r, count))
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.at
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FormatError> {
        if n > self.remaining() {
            return Err(FormatError::Truncated { at: self.at, what });
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FormatError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, FormatError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, FormatError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    fn flag(&mut self, what: &'static str) -> Result<bool, FormatError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.invalid("a boolean that is neither 0 nor 1")),
        }
    }

    fn invalid(&self, what: &'static str) -> FormatError {
        FormatError::Invalid { at: self.at, what }
    }

    /// A count of items of at least `min` bytes each, checked against the bytes left.
    fn count(&mut self, min: usize) -> Result<usize, FormatError> {
        let n = u32::from_be_bytes(self.array("count")?);
        if (n as usize).saturating_mul(min.max(1)) > self.remaining() {
            return Err(FormatError::CountTooLarge { count: n });
        }
        Ok(n as usize)
    }

    /// A length prefix: `None` for -1, refused when larger than the bytes left.
    fn len(&mut self, what: &'static str) -> Result<Option<usize>, FormatError> {
        let at = self.at;
        let n = i32::from_be_bytes(self.array(what)?);
        match n {
            -1 => Ok(None),
            n if n < 0 => Err(FormatError::Invalid {
                at,
                what: "a negative length",
            }),
            n if n as usize > self.remaining() => Err(FormatError::Truncated { at, what }),
            n => Ok(Some(n as usize)),
        }
    }

    fn opt_str(&mut self, what: &'static str) -> Result<Option<String>, FormatError> {
        let Some(n) = self.len(what)? else {
            return Ok(None);
        };
        let at = self.at;
        let bytes = self.take(n, what)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map(Some)
            .map_err(|_| FormatError::Invalid {
                at,
                what: "text that is not UTF-8",
            })
    }

    fn str(&mut self, what: &'static str) -> Result<String, FormatError> {
        let at = self.at;
        self.opt_str(what)?.ok_or(FormatError::Invalid {
            at,
            what: "a null where a value is required",
        })
    }

    fn blob(&mut self, what: &'static str) -> Result<Option<Vec<u8>>, FormatError> {
        match self.len(what)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n, what)?.to_vec())),
        }
    }

    fn strs(&mut self, what: &'static str) -> Result<Vec<String>, FormatError> {
        let n = self.count(4)?;
        (0..n).map(|_| self.str(what)).collect()
    }

    /// A row as (mimetype, columns in the core's words, primary).
    fn row(&mut self) -> Result<WireRow, FormatError> {
        let mimetype = self.str("mimetype")?;
        let flags = self.u8("row flags")?;
        if flags & !FLAG_PRIMARY != 0 {
            return Err(self.invalid("an unknown row flag"));
        }
        let mask = u16::from_be_bytes(self.array("column mask")?);
        if mask >> COLUMNS != 0 {
            return Err(self.invalid("a column beyond DATA10"));
        }
        let mut data: [Option<String>; COLUMNS] = Default::default();
        for (i, slot) in data.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *slot = Some(self.str("data column")?);
            }
        }
        let data = core_columns(&mimetype, data);
        Ok((mimetype, data, flags & FLAG_PRIMARY != 0))
    }

    fn rows(&mut self) -> Result<Vec<WireRow>, FormatError> {
        let n = self.count(4 + 1 + 2)?;
        (0..n).map(|_| self.row()).collect()
    }

    fn finish(self) -> Result<(), FormatError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(FormatError::Trailing(n)),
        }
    }
}

/// Decodes `count` records with `record`, then insists the payload ended.
fn decode<T>(
    bytes: &[u8],
    kind: Kind,
    mut record: impl FnMut(&mut Reader) -> Result<T, FormatError>,
) -> Result<Vec<T>, FormatError> {
    let (mut r, count) = Reader::open(bytes, kind)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(record(&mut r)?);
    }
    r.finish()?;
    Ok(out)
}

fn state_flags(r: &mut Reader) -> Result<(bool, bool), FormatError> {
    let flags = r.u8("flags")?;
    if flags & !(FLAG_DIRTY | FLAG_DELETED) != 0 {
        return Err(r.invalid("an unknown state flag"));
    }
    Ok((flags & FLAG_DIRTY != 0, flags & FLAG_DELETED != 0))
}

pub fn decode_index(bytes: &[u8]) -> Result<Vec<IndexEntry>, FormatError> {
    decode(bytes, Kind::Index, |r| {
        let raw_id = r.i64("_ID")?;
        let id = r.str("SOURCE_ID")?;
        let hash = r.opt_str("SYNC1")?.unwrap_or_default();
        let photo_hash = r.opt_str("SYNC2")?;
        // DELETED wins: the provider keeps a deleted raw contact's DIRTY set too.
        let state = match state_flags(r)? {
            (_, true) => EntryState::Deleted,
            (true, false) => EntryState::Dirty,
            (false, false) => EntryState::Clean,
        };
        Ok(IndexEntry {
            raw_id,
            id,
            hash,
            photo_hash,
            state,
        })
    })
}

pub fn decode_groups(bytes: &[u8]) -> Result<Vec<PhoneGroup>, FormatError> {
    decode(bytes, Kind::Groups, |r| {
        let row_id = r.i64("_ID")?;
        let source_id = r.opt_str("SOURCE_ID")?;
        let title = r.opt_str("TITLE")?.unwrap_or_default();
        let (dirty, deleted) = state_flags(r)?;
        let members = r.i64("members")?;
        Ok(PhoneGroup {
            row_id,
            source_id,
            title,
            deleted,
            dirty,
            members: u64::try_from(members).map_err(|_| r.invalid("a negative member count"))?,
        })
    })
}

pub fn decode_managed(bytes: &[u8]) -> Result<Vec<StoredContact>, FormatError> {
    decode(bytes, Kind::Managed, |r| {
        let id = r.str("SOURCE_ID")?;
        let hash = r.opt_str("SYNC1")?.unwrap_or_default();
        let photo_hash = r.opt_str("SYNC2")?;
        let rows = r.rows()?;
        let n = r.count(8)?;
        let groups = (0..n)
            .map(|_| {
                Ok(GroupRef {
                    id: r.str("group SOURCE_ID")?,
                    name: r.opt_str("group TITLE")?.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, FormatError>>()?;
        let mut data = from_rows(
            rows.into_iter()
                .map(|(m, d, primary)| (known_mime(&m), d, primary)),
        );
        data.photo = photo_hash.clone().map(|hash| PhotoRef { hash });
        data.groups = groups;
        Ok(StoredContact {
            id,
            hash,
            has_photo: photo_hash.is_some(),
            data,
        })
    })
}

pub fn decode_personal(bytes: &[u8]) -> Result<Vec<PersonalContact>, FormatError> {
    decode(bytes, Kind::Personal, |r| {
        let raw_id = r.i64("_ID")?;
        let kind = r.opt_str("ACCOUNT_TYPE")?;
        let name = r.opt_str("ACCOUNT_NAME")?;
        let starred = r.flag("STARRED")?;
        let rows = r.rows()?;
        let groups = r.strs("group TITLE")?;
        let photo = r.blob("photo")?;
        let mut data = personal_from_rows(rows.into_iter().map(|(m, d, _)| (known_mime(&m), d)));
        data.photo = photo;
        data.starred = starred;
        data.groups = groups;
        // A raw contact without an account type is the device-local account.
        data.account = kind.map(|kind| SourceAccount {
            kind,
            name: name.unwrap_or_default(),
        });
        Ok(PersonalContact { raw_id, data })
    })
}

pub fn decode_accounts(bytes: &[u8]) -> Result<Vec<SourceAccount>, FormatError> {
    decode(bytes, Kind::Accounts, |r| {
        Ok(SourceAccount {
            kind: r.str("ACCOUNT_TYPE")?,
            name: r.str("ACCOUNT_NAME")?,
        })
    })
}

/// The shell's side of the reads, for the tests and the fixture: what `BridgeCodec.kt`
/// writes for these values (the rows' columns as the provider holds them).
#[cfg(test)]
pub(crate) mod shell {
    use super::*;

    pub fn index(entries: &[IndexEntry]) -> Vec<u8> {
        let mut w = Writer::new(Kind::Index, entries.len(), 0).unwrap();
        for e in entries {
            w.i64(e.raw_id);
            w.str(&e.id).unwrap();
            w.opt_str(Some(&e.hash)).unwrap();
            w.opt_str(e.photo_hash.as_deref()).unwrap();
            w.u8(match e.state {
                EntryState::Clean => 0,
                EntryState::Dirty => FLAG_DIRTY,
                EntryState::Deleted => FLAG_DIRTY | FLAG_DELETED,
            });
        }
        w.buf
    }

    pub fn groups(groups: &[PhoneGroup]) -> Vec<u8> {
        let mut w = Writer::new(Kind::Groups, groups.len(), 0).unwrap();
        for g in groups {
            w.i64(g.row_id);
            w.opt_str(g.source_id.as_deref()).unwrap();
            w.opt_str(Some(&g.title)).unwrap();
            w.u8(u8::from(g.dirty) | if g.deleted { FLAG_DELETED } else { 0 });
            w.i64(g.members as i64);
        }
        w.buf
    }

    pub fn managed(contacts: &[StoredContact]) -> Vec<u8> {
        let mut w = Writer::new(Kind::Managed, contacts.len(), 0).unwrap();
        for c in contacts {
            w.str(&c.id).unwrap();
            w.opt_str(Some(&c.hash)).unwrap();
            w.opt_str(c.data.photo.as_ref().map(|p| p.hash.as_str()))
                .unwrap();
            w.rows(&to_rows(&c.data)).unwrap();
            w.count(c.data.groups.len()).unwrap();
            for g in &c.data.groups {
                w.str(&g.id).unwrap();
                w.opt_str(Some(&g.name)).unwrap();
            }
        }
        w.buf
    }

    pub fn personal(contacts: &[PersonalContact]) -> Vec<u8> {
        let mut w = Writer::new(Kind::Personal, contacts.len(), 0).unwrap();
        for c in contacts {
            w.i64(c.raw_id);
            w.opt_str(c.data.account.as_ref().map(|a| a.kind.as_str()))
                .unwrap();
            w.opt_str(c.data.account.as_ref().map(|a| a.name.as_str()))
                .unwrap();
            w.u8(u8::from(c.data.starred));
            w.rows(&personal_to_rows(&c.data)).unwrap();
            w.strs(&c.data.groups).unwrap();
            w.blob(c.data.photo.as_deref()).unwrap();
        }
        w.buf
    }

    pub fn accounts(accounts: &[SourceAccount]) -> Vec<u8> {
        let mut w = Writer::new(Kind::Accounts, accounts.len(), 0).unwrap();
        for a in accounts {
            w.str(&a.kind).unwrap();
            w.str(&a.name).unwrap();
        }
        w.buf
    }

    /// The shell's reading of an `insertPersonal` payload: the account, then per contact
    /// (starred, rows as provider columns, group titles, photo).
    pub type Inserted = (bool, Vec<WireRow>, Vec<String>, Option<Vec<u8>>);
    /// Account type, account name, contacts.
    pub type Insert = (Option<String>, Option<String>, Vec<Inserted>);

    pub fn read_personal_insert(bytes: &[u8]) -> Result<Insert, FormatError> {
        let (mut r, count) = Reader::open(bytes, Kind::PersonalInsert)?;
        let kind = r.opt_str("ACCOUNT_TYPE")?;
        let name = r.opt_str("ACCOUNT_NAME")?;
        let mut out = Vec::new();
        for _ in 0..count {
            let starred = r.flag("STARRED")?;
            let n = r.count(7)?;
            let mut rows = Vec::new();
            for _ in 0..n {
                // Raw provider columns, without the core's reading of them.
                let mimetype = r.str("mimetype")?;
                let flags = r.u8("flags")?;
                let mask = u16::from_be_bytes(r.array("mask")?);
                let mut data: [Option<String>; COLUMNS] = Default::default();
                for (i, slot) in data.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        *slot = Some(r.str("column")?);
                    }
                }
                rows.push((mimetype, data, flags & FLAG_PRIMARY != 0));
            }
            let groups = r.strs("group")?;
            let photo = r.blob("photo")?;
            out.push((starred, rows, groups, photo));
        }
        r.finish()?;
        Ok((kind, name, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::personal::{Address, Im, Item};
    use contacts_agent_protocol::{ContactData, Phone, PhoneKind};
    use proptest::prelude::*;

    /// The batch the Android shell's translation tests read (`tests/fixtures/bridge_ops.bin`):
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

    /// A personal contact with every kind of row, a custom label, an account, starred,
    /// groups and a photo: the shell's `personalPage` fixture and the restore fixture.
    pub(crate) fn sample_personal() -> PersonalData {
        PersonalData {
            display_name: "Babcia Zosia".into(),
            given_name: "Zofia".into(),
            family_name: "Wiśniewska".into(),
            phonetic_given: "Zofia".into(),
            nicknames: vec!["Babcia".into()],
            phones: vec![
                Item::new("+48 600 000 001", "mobile"),
                Item::new("+48 22 000 002", "pager"),
                Item::custom("+48 22 000 003", "Działka"),
            ],
            emails: vec![Item::new("zosia@example.invalid", "home")],
            addresses: vec![Address {
                kind: "home".into(),
                formatted: "ul. Długa 1, Gdańsk".into(),
                city: "Gdańsk".into(),
                ..Default::default()
            }],
            websites: vec![Item::new("https://zosia.example", "blog")],
            ims: vec![Im {
                handle: "zosia".into(),
                protocol: "custom".into(),
                custom_protocol: "Signal".into(),
                kind: "other".into(),
                label: String::new(),
            }],
            sip_addresses: vec![Item::new("sip:zosia@example.invalid", "home")],
            events: vec![
                Item::new("1950-05-01", "birthday"),
                Item::new("May 1", "anniversary"),
            ],
            relations: vec![Item::custom("Jan", "Wnuczek")],
            organization: Some("Emerytka".into()),
            notes: vec!["Dzwonić w niedzielę".into()],
            photo: Some(vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n']),
            starred: true,
            groups: vec!["Rodzina".into(), "Ulubione".into()],
            account: Some(SourceAccount {
                kind: "com.google".into(),
                name: "zosia@example.invalid".into(),
            }),
            ..Default::default()
        }
    }

    fn sample_reads() -> (
        Vec<IndexEntry>,
        Vec<PhoneGroup>,
        Vec<PersonalContact>,
        Vec<SourceAccount>,
    ) {
        let index = vec![
            IndexEntry {
                raw_id: 11,
                id: "u-1".into(),
                hash: "h1".into(),
                photo_hash: Some("p1".into()),
                state: EntryState::Clean,
            },
            IndexEntry {
                raw_id: 12,
                id: "u-2".into(),
                hash: "h2".into(),
                photo_hash: None,
                state: EntryState::Dirty,
            },
            IndexEntry {
                raw_id: 13,
                id: "u-3".into(),
                hash: "h3".into(),
                photo_hash: None,
                state: EntryState::Deleted,
            },
        ];
        let groups = vec![
            PhoneGroup {
                row_id: 7,
                source_id: Some("mike".into()),
                title: "Mike".into(),
                deleted: false,
                dirty: true,
                members: 2,
            },
            PhoneGroup {
                row_id: 8,
                source_id: None,
                title: "Family".into(),
                deleted: true,
                dirty: false,
                members: 0,
            },
        ];
        let personal = vec![
            PersonalContact {
                raw_id: 21,
                data: sample_personal(),
            },
            // A bare number in the device-local account.
            PersonalContact {
                raw_id: 22,
                data: PersonalData {
                    phones: vec![Item::new("+48 500 000 000", "mobile")],
                    ..Default::default()
                },
            },
        ];
        let accounts = vec![
            SourceAccount {
                kind: "com.google".into(),
                name: "zosia@example.invalid".into(),
            },
            SourceAccount {
                kind: "com.example.exchange".into(),
                name: "Praca".into(),
            },
        ];
        (index, groups, personal, accounts)
    }

    fn fixture(name: &str, bytes: &[u8]) {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("UPDATE_FIXTURES").is_some() {
            std::fs::write(&path, bytes).unwrap();
        }
        let pinned = std::fs::read(&path).unwrap();
        assert!(
            pinned == bytes,
            "{path} is not what the core writes: UPDATE_FIXTURES=1 cargo test --lib bridge::tests::the_fixtures"
        );
    }

    #[test]
    fn the_fixtures_are_what_the_core_writes_and_the_shell_writes() {
        fixture("bridge_ops.bin", &encode_ops(&sample_batch()).unwrap());
        let personal = sample_personal();
        fixture(
            "bridge_personal_insert.bin",
            &encode_personal(personal.account.as_ref(), std::slice::from_ref(&personal)).unwrap(),
        );
        // What the shell writes for these values (BridgeCodecTest writes the same bytes).
        let (index, groups, personal, accounts) = sample_reads();
        fixture("bridge_index.bin", &shell::index(&index));
        fixture("bridge_groups.bin", &shell::groups(&groups));
        fixture("bridge_personal.bin", &shell::personal(&personal));
        fixture("bridge_accounts.bin", &shell::accounts(&accounts));
    }

    #[test]
    fn the_reads_decode_to_the_values_the_shell_wrote() {
        let (index, groups, personal, accounts) = sample_reads();
        assert_eq!(decode_index(&shell::index(&index)).unwrap(), index);
        assert_eq!(decode_groups(&shell::groups(&groups)).unwrap(), groups);
        assert_eq!(
            decode_personal(&shell::personal(&personal)).unwrap(),
            personal
        );
        assert_eq!(
            decode_accounts(&shell::accounts(&accounts)).unwrap(),
            accounts
        );
    }

    #[test]
    fn the_provider_gets_type_integers_and_an_unknown_word_as_a_custom_label() {
        let p = sample_personal();
        let bytes = encode_personal(p.account.as_ref(), std::slice::from_ref(&p)).unwrap();
        let (kind, name, rows_of) = shell::read_personal_insert(&bytes).unwrap();
        assert_eq!(kind.as_deref(), Some("com.google"));
        assert_eq!(name.as_deref(), Some("zosia@example.invalid"));
        let (starred, rows, groups, photo) = &rows_of[0];
        assert!(*starred);
        assert_eq!(groups, &["Rodzina", "Ulubione"]);
        assert_eq!(photo.as_deref().map(<[u8]>::len), Some(8));
        let col = |mime: &str, i: usize| -> Vec<Option<String>> {
            rows.iter()
                .filter(|r| r.0 == mime)
                .map(|r| r.1[i - 1].clone())
                .collect()
        };
        let s = |v: &str| Some(v.to_owned());
        // Phone.TYPE_MOBILE 2, TYPE_PAGER 6, TYPE_CUSTOM 0 with its LABEL.
        assert_eq!(col(MIME_PHONE, 2), [s("2"), s("6"), s("0")]);
        assert_eq!(col(MIME_PHONE, 3), [None, None, s("Działka")]);
        assert_eq!(col(MIME_WEBSITE, 2), [s("2")]); // Website.TYPE_BLOG
        assert_eq!(col(MIME_EVENT, 2), [s("3"), s("1")]); // birthday, anniversary
        assert_eq!(col(MIME_IM, 5), [s("-1")]); // PROTOCOL_CUSTOM
        assert_eq!(col(MIME_IM, 6), [s("Signal")]);
        assert_eq!(col(MIME_RELATION, 2), [s("0")]);
        // A word no table knows: TYPE_CUSTOM, the word kept as the label.
        let odd = PersonalData {
            phones: vec![Item::new("1", "satellite")],
            ..Default::default()
        };
        let (_, _, c) =
            shell::read_personal_insert(&encode_personal(None, &[odd]).unwrap()).unwrap();
        assert_eq!(c[0].1[0].1[1..3], [s("0"), s("satellite")]);
    }

    #[test]
    fn provider_integers_read_back_as_the_core_words() {
        let read = |mime: &str, type_: &str| {
            let mut d: [Option<String>; COLUMNS] = Default::default();
            d[1] = Some(type_.into());
            d[4] = Some(type_.into());
            core_columns(mime, d)
        };
        assert_eq!(read(MIME_PHONE, "2")[1].as_deref(), Some("mobile"));
        assert_eq!(read(MIME_PHONE, "99")[1].as_deref(), Some("other"));
        assert_eq!(read(MIME_PHONE, "mobile")[1].as_deref(), Some("other"));
        assert_eq!(read(MIME_RELATION, "7")[1].as_deref(), Some("manager"));
        assert_eq!(read(MIME_NICKNAME, "42")[1].as_deref(), Some("custom"));
        assert_eq!(read(MIME_IM, "3")[4].as_deref(), Some("skype"));
        assert_eq!(read(MIME_IM, "77")[4].as_deref(), Some("custom"));
        // Not a type column: left alone.
        assert_eq!(
            read("vnd.android.cursor.item/name", "2")[1].as_deref(),
            Some("2")
        );
    }

    #[test]
    fn every_business_field_survives_the_provider_columns_and_back() {
        let c = StoredContact {
            id: "u-5".into(),
            hash: "h5".into(),
            has_photo: false,
            data: crate::store::rows::tests::every_field(),
        };
        assert_eq!(
            decode_managed(&shell::managed(std::slice::from_ref(&c))).unwrap(),
            [c]
        );
    }

    #[test]
    fn bad_payloads_are_clear_errors() {
        let good = shell::index(&sample_reads().0);
        assert_eq!(
            decode_index(&good[..2]),
            Err(FormatError::Truncated {
                at: 0,
                what: "magic"
            })
        );
        let mut v = good.clone();
        v[3] = 2;
        let e = decode_index(&v).unwrap_err();
        assert_eq!(e, FormatError::Version { found: 2 });
        assert!(e.to_string().contains("different releases"), "{e}");
        assert_eq!(
            decode_groups(&good),
            Err(FormatError::Kind {
                expected: 3,
                found: 2
            })
        );
        // One record more than the payload holds, and one fewer.
        let mut more = good.clone();
        more[8] += 1;
        assert!(matches!(
            decode_index(&more),
            Err(FormatError::Truncated { .. } | FormatError::CountTooLarge { .. })
        ));
        let mut fewer = good.clone();
        fewer[8] -= 1;
        assert!(matches!(
            decode_index(&fewer),
            Err(FormatError::Trailing(_))
        ));
        // A count of four billion records: refused before anything is allocated.
        let mut huge = good.clone();
        huge[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            decode_index(&huge),
            Err(FormatError::CountTooLarge { count: u32::MAX })
        );
        // A 2 GB string length.
        let mut long = good.clone();
        long[17..21].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            decode_index(&long),
            Err(FormatError::Truncated { at: 17, .. })
        ));
        let mut negative = good;
        negative[17..21].copy_from_slice(&(-7i32).to_be_bytes());
        assert!(matches!(
            decode_index(&negative),
            Err(FormatError::Invalid { .. })
        ));
        assert_eq!(decode_index(b"{\"json\":1}"), Err(FormatError::Magic));
    }

    #[test]
    fn errors_never_quote_the_payload() {
        let p = shell::personal(&[PersonalContact {
            raw_id: 1,
            data: sample_personal(),
        }]);
        for cut in 0..p.len() {
            if let Err(e) = decode_personal(&p[..cut]) {
                let text = e.to_string();
                assert!(!text.contains("Zofia") && !text.contains("+48"), "{text}");
            }
        }
    }

    const FUZZ_CASES: u32 = 4096;

    fn any_payload() -> impl Strategy<Value = Vec<u8>> {
        // Random bytes, and random bytes behind a valid header of each kind (so the decoders'
        // bodies are reached, not only the magic check).
        let kinds = 1u8..=7;
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            (
                kinds,
                any::<u32>(),
                prop::collection::vec(any::<u8>(), 0..512)
            )
                .prop_map(|(k, n, body)| {
                    let mut v = MAGIC.to_vec();
                    v.extend([VERSION, k]);
                    v.extend((n % 8).to_be_bytes());
                    v.extend(body);
                    v
                }),
        ]
    }

    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        let base = shell::personal(&sample_reads().2);
        (
            Just(base),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            any::<prop::sample::Index>(),
        )
            .prop_map(|(mut b, flips, cut)| {
                for (i, v) in flips {
                    let at = i.index(b.len());
                    b[at] = v;
                }
                let keep = cut.index(b.len() + 1);
                b.truncate(keep);
                b
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(FUZZ_CASES))]

        /// No input panics or allocates beyond its own size: every decoder answers Ok or a
        /// FormatError for random bytes.
        #[test]
        fn every_decoder_survives_random_bytes(bytes in any_payload()) {
            let _ = decode_index(&bytes);
            let _ = decode_groups(&bytes);
            let _ = decode_managed(&bytes);
            let _ = decode_personal(&bytes);
            let _ = decode_accounts(&bytes);
            let _ = shell::read_personal_insert(&bytes);
        }

        /// A real payload with a few bytes changed and cut anywhere decodes or fails cleanly.
        #[test]
        fn a_corrupted_personal_page_never_panics(bytes in mutated()) {
            let _ = decode_personal(&bytes);
        }

        /// Cut anywhere short of its end, a payload is refused, never half read.
        #[test]
        fn a_truncated_payload_is_refused(cut in 0usize..10_000) {
            let full = shell::personal(&sample_reads().2);
            let cut = cut % full.len();
            prop_assert!(decode_personal(&full[..cut]).is_err());
        }
    }
}
