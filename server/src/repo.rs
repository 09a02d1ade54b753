//! Everything the server keeps, as functions over a `sql::Conn` (SQLite or PostgreSQL).
//! Writers take a `&Tx` where several statements must land together.

use std::collections::{BTreeSet, HashMap};

use crate::sql::{params, Conn, OptionalExtension, Tx};
use chrono::{SecondsFormat, Utc};
use contacts_agent_protocol::contact::append_groups_json;
use contacts_agent_protocol::fields::{self, AllowList, Field};
use contacts_agent_protocol::hash::sha256_hex;
use contacts_agent_protocol::wire::CommandKind;
use contacts_agent_protocol::{
    content_hash, with_groups, BackupInterval, BasicType, ContactData, GroupRef, PhotoRef, Policy,
    SyncInterval, SyncWindow,
};
use serde::{Deserialize, Serialize};

pub use crate::entitled_sets::{held_contacts, HeldContact, HeldContacts};
use crate::error::ApiError;
use crate::input;
use crate::resolve::entitled_groups;
use crate::snapshot::Entries;

/// How many times this process ran the entitled-set query (`entitled_entries`): what the
/// tests of narrow invalidation count.
pub static ENTITLED_SET_COMPUTATIONS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

pub fn now() -> String {
    stamp(Utc::now())
}

pub fn stamp(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An id for a message: as given when it is a well-formed id, else not at all (a path
/// segment can be anything a client typed).
pub fn shown(id: &str) -> &str {
    if valid_id(id) {
        id
    } else {
        "(malformed id)"
    }
}

pub fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn parse_enum<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| ApiError::Internal(format!("stored {what} {s:?} is not recognised")))
}

fn enum_str<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------- users

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub hash: String,
    pub contact: ContactData,
    pub groups: Vec<String>,
}

fn check_contact(c: &mut ContactData) -> Result<(), ApiError> {
    input::contact(c)?;
    if c.display_name.trim().is_empty() {
        c.display_name = format!("{} {}", c.given_name, c.family_name)
            .trim()
            .to_owned();
    }
    if c.display_name.is_empty() {
        return Err(ApiError::Unprocessable(
            "a user needs a display name or a given or family name".into(),
        ));
    }
    Ok(())
}

pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(
            "ids are 1-64 characters of letters, digits, '-' and '_'".into(),
        ))
    }
}

pub fn create_user(
    conn: &Conn,
    id: Option<String>,
    mut contact: ContactData,
) -> Result<String, ApiError> {
    let id = match id {
        Some(id) => id,
        None => format!("u-{}", random_hex(8)?),
    };
    check_id(&id)?;
    check_contact(&mut contact)?;
    contact.photo = None;
    let body = serde_json::to_string(&contact).map_err(|e| ApiError::Internal(e.to_string()))?;
    conn.prepare_cached("INSERT INTO users (id, body, hash, updated_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![id, body, content_hash(&contact), now()])
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict(format!("user {id} already exists")),
            other => other,
        })?;
    Ok(id)
}

/// Creates the user or replaces the contact data of the one with this id (its photo kept);
/// `true` when created. The import's writer: `check_contact` runs here too.
pub fn upsert_user(conn: &Conn, id: &str, mut contact: ContactData) -> Result<bool, ApiError> {
    check_id(id)?;
    check_contact(&mut contact)?;
    let existing: Option<Option<String>> = conn
        .prepare_cached("SELECT photo_hash FROM users WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    contact.photo = existing.clone().flatten().map(|hash| PhotoRef { hash });
    let body = serde_json::to_string(&contact).map_err(|e| ApiError::Internal(e.to_string()))?;
    let hash = content_hash(&contact);
    if existing.is_some() {
        conn.prepare_cached(
            "UPDATE users SET body = ?2, hash = ?3, updated_at = ?4 WHERE id = ?1",
        )?
        .execute(params![id, body, hash, now()])?;
    } else {
        conn.prepare_cached(
            "INSERT INTO users (id, body, hash, updated_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![id, body, hash, now()])?;
    }
    Ok(existing.is_none())
}

/// Makes `groups` (which must exist) exactly the user's memberships.
pub fn set_memberships(conn: &Conn, user: &str, groups: &[String]) -> Result<(), ApiError> {
    conn.prepare_cached("DELETE FROM memberships WHERE user_id = ?1")?
        .execute([user])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO memberships (group_id, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    for g in groups {
        insert.execute(params![g, user])?;
    }
    Ok(())
}

/// Every group id.
pub fn group_ids(conn: &Conn) -> Result<BTreeSet<String>, ApiError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM groups")?;
    let rows = stmt.query_map(params![], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replaces a user's contact data. The photo is managed by its own endpoint and kept.
pub fn update_user(conn: &Conn, id: &str, mut contact: ContactData) -> Result<(), ApiError> {
    check_contact(&mut contact)?;
    let photo_hash: Option<String> = conn
        .query_row("SELECT photo_hash FROM users WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or_else(|| ApiError::NotFound(format!("no user {}", shown(id))))?;
    contact.photo = photo_hash.map(|hash| PhotoRef { hash });
    write_user_body(conn, id, &contact)
}

fn write_user_body(conn: &Conn, id: &str, contact: &ContactData) -> Result<(), ApiError> {
    let body = serde_json::to_string(contact).map_err(|e| ApiError::Internal(e.to_string()))?;
    conn.execute(
        "UPDATE users SET body = ?2, hash = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, body, content_hash(contact), now()],
    )?;
    Ok(())
}

pub fn set_user_photo(conn: &Conn, id: &str, photo: Option<&[u8]>) -> Result<(), ApiError> {
    let mut user = get_user(conn, id)?;
    let hash = photo.map(sha256_hex);
    user.contact.photo = hash.clone().map(|hash| PhotoRef { hash });
    conn.execute(
        "UPDATE users SET photo = ?2, photo_hash = ?3 WHERE id = ?1",
        params![id, photo, hash],
    )?;
    write_user_body(conn, id, &user.contact)
}

/// The photo with this hash if a contact the device is entitled to carries it and its
/// policy lets photos leave the server; `None` in every other case, alike.
pub fn photo_for_device(conn: &Conn, d: &Device, hash: &str) -> Result<Option<Vec<u8>>, ApiError> {
    if device_fields(conn, d)?.is_some_and(|f| !f.allows(Field::Photo)) {
        return Ok(None);
    }
    let groups_json = entitled_groups_json(conn, d)?;
    Ok(conn
        .prepare_cached(&format!(
            "SELECT u.photo FROM users u WHERE u.photo_hash = ?1
               AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id
                           AND m.group_id IN (SELECT g.value FROM {}))
             LIMIT 1",
            conn.dialect().json_values("?2", "g")
        ))?
        .query_row(params![hash, groups_json], |r| r.get(0))
        .optional()?)
}

pub fn delete_user(conn: &Conn, id: &str) -> Result<(), ApiError> {
    let n = conn.execute("DELETE FROM users WHERE id = ?1", [id])?;
    if n == 0 {
        return Err(ApiError::NotFound(format!("no user {}", shown(id))));
    }
    Ok(())
}

fn user_groups(conn: &Conn, id: &str) -> Result<Vec<String>, ApiError> {
    let mut stmt = conn
        .prepare_cached("SELECT group_id FROM memberships WHERE user_id = ?1 ORDER BY group_id")?;
    let rows = stmt.query_map([id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A stored contact body. serde_json's message can quote the value, so it stays out of the
/// error (and of the log).
pub(crate) fn parse_contact(body: &str) -> Result<ContactData, ApiError> {
    serde_json::from_str(body).map_err(|_| ApiError::Internal("stored contact unreadable".into()))
}

pub fn get_user(conn: &Conn, id: &str) -> Result<User, ApiError> {
    let (body, hash): (String, String) = conn
        .query_row("SELECT body, hash FROM users WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
        .ok_or_else(|| ApiError::NotFound(format!("no user {}", shown(id))))?;
    Ok(User {
        id: id.to_owned(),
        hash,
        contact: parse_contact(&body)?,
        groups: user_groups(conn, id)?,
    })
}

/// A page of users, optionally only those whose name, phone or e-mail contains `q`
/// (case-insensitive, over the stored JSON).
pub fn list_users(
    conn: &Conn,
    q: Option<&str>,
    offset: usize,
    limit: usize,
) -> Result<(u64, Vec<User>), ApiError> {
    let pattern = contains_pattern(&q.unwrap_or("").to_lowercase());
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM users WHERE lower(body) LIKE ?1 ESCAPE '\\'",
        [&pattern],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM users WHERE lower(body) LIKE ?1 ESCAPE '\\' ORDER BY id LIMIT ?2 OFFSET ?3",
    )?;
    let ids: Vec<String> = stmt
        .query_map(params![pattern, limit as i64, offset as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let users = ids
        .iter()
        .map(|id| get_user(conn, id))
        .collect::<Result<_, _>>()?;
    Ok((total as u64, users))
}

// --------------------------------------------------------------------------------- groups

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub member_count: u64,
}

pub fn create_group(conn: &Conn, id: Option<String>, name: &str) -> Result<String, ApiError> {
    let id = match id {
        Some(id) => id,
        None => format!("g-{}", random_hex(6)?),
    };
    check_id(&id)?;
    let name = input::label("name", name)?;
    conn.execute(
        "INSERT INTO groups (id, name) VALUES (?1, ?2)",
        params![id, name],
    )
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict("a group with that id or name exists".into()),
        other => other,
    })?;
    Ok(id)
}

pub fn list_groups(conn: &Conn) -> Result<Vec<Group>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT g.id, g.name, (SELECT COUNT(*) FROM memberships m WHERE m.group_id = g.id)
         FROM groups g ORDER BY g.name",
    )?;
    let rows = stmt.query_map(params![], |r| {
        Ok(Group {
            id: r.get(0)?,
            name: r.get(1)?,
            member_count: r.get::<_, i64>(2)? as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `q` as a LIKE pattern that matches it anywhere, its own `%`, `_` and `\` taken literally
/// (the query says `ESCAPE '\'`).
pub fn contains_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A page of groups by name, those whose name or id contains `q` in either case
/// (`Dialect::like_any_case`), and how many match in all.
pub fn search_groups(
    conn: &Conn,
    q: &str,
    offset: usize,
    limit: usize,
) -> Result<(u64, Vec<Group>), ApiError> {
    let pattern = contains_pattern(q.trim());
    let like = conn.dialect().like_any_case();
    let total: i64 = conn
        .prepare_cached(&format!(
            "SELECT COUNT(*) FROM groups WHERE name {like} ?1 ESCAPE '\\' OR id {like} ?1 ESCAPE '\\'"
        ))?
        .query_row([&pattern], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT g.id, g.name, (SELECT COUNT(*) FROM memberships m WHERE m.group_id = g.id)
         FROM groups g WHERE g.name {like} ?1 ESCAPE '\\' OR g.id {like} ?1 ESCAPE '\\'
         ORDER BY g.name, g.id LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = stmt.query_map(
        params![
            pattern,
            limit.min(i64::MAX as usize) as i64,
            offset.min(i64::MAX as usize) as i64
        ],
        |r| {
            Ok(Group {
                id: r.get(0)?,
                name: r.get(1)?,
                member_count: r.get::<_, i64>(2)? as u64,
            })
        },
    )?;
    Ok((total.max(0) as u64, rows.collect::<Result<_, _>>()?))
}

/// One group and its member count (a range of the membership key: this group's rows only).
pub fn get_group(conn: &Conn, id: &str) -> Result<Group, ApiError> {
    conn.prepare_cached(
        "SELECT g.id, g.name, (SELECT COUNT(*) FROM memberships m WHERE m.group_id = g.id)
         FROM groups g WHERE g.id = ?1",
    )?
    .query_row([id], |r| {
        Ok(Group {
            id: r.get(0)?,
            name: r.get(1)?,
            member_count: r.get::<_, i64>(2)? as u64,
        })
    })
    .optional()?
    .ok_or_else(|| ApiError::NotFound(format!("no group {}", shown(id))))
}

/// Renames a group. Devices see it as an upsert of each member they hold (the group's name
/// is part of each member's hash on the wire), and the phone renames its contact group.
pub fn rename_group(conn: &Conn, id: &str, name: &str) -> Result<(), ApiError> {
    let name = input::label("name", name)?;
    let n = conn
        .execute(
            "UPDATE groups SET name = ?2 WHERE id = ?1 AND name IS DISTINCT FROM ?2",
            params![id, name],
        )
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict("a group with that name exists".into()),
            other => other,
        })?;
    if n == 0 && !group_exists(conn, id)? {
        return Err(ApiError::NotFound(format!("no group {}", shown(id))));
    }
    Ok(())
}

/// Whether a group exists: a primary-key lookup, whatever the size of the directory.
pub fn group_exists(conn: &Conn, id: &str) -> Result<bool, ApiError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM groups WHERE id = ?1)")?
        .query_row([id], |r| r.get(0))?)
}

fn user_exists(conn: &Conn, id: &str) -> Result<bool, ApiError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)")?
        .query_row([id], |r| r.get(0))?)
}

/// Deletes a group and drops it from every policy's additional groups, so no policy ever
/// names a group that does not exist; devices on those policies get a new version.
pub fn delete_group(tx: &Tx, id: &str) -> Result<(), ApiError> {
    if tx.execute("DELETE FROM groups WHERE id = ?1", [id])? == 0 {
        return Err(ApiError::NotFound(format!("no group {}", shown(id))));
    }
    for p in list_policies(tx)? {
        if p.additional_groups.iter().any(|g| g == id) {
            let mut input = p.input();
            input.additional_groups.retain(|g| g != id);
            update_policy(tx, &p.id, &input)?;
        }
    }
    Ok(())
}

pub fn group_members(conn: &Conn, id: &str) -> Result<Vec<String>, ApiError> {
    if !group_exists(conn, id)? {
        return Err(ApiError::NotFound(format!("no group {}", shown(id))));
    }
    let mut stmt = conn
        .prepare_cached("SELECT user_id FROM memberships WHERE group_id = ?1 ORDER BY user_id")?;
    let rows = stmt.query_map([id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Two key lookups and an insert: its cost does not grow with the directory (it used to
/// list every group with its member count: 0.32 ms per user POST at the start of a 10k load,
/// 0.99 ms at the end; `server/benches/import.rs`).
pub fn add_member(conn: &Conn, group: &str, user: &str) -> Result<(), ApiError> {
    if !group_exists(conn, group)? {
        return Err(ApiError::NotFound(format!("no group {}", shown(group))));
    }
    if !user_exists(conn, user)? {
        return Err(ApiError::NotFound(format!("no user {}", shown(user))));
    }
    conn.prepare_cached(
        "INSERT INTO memberships (group_id, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?
    .execute(params![group, user])?;
    Ok(())
}

pub fn remove_member(conn: &Conn, group: &str, user: &str) -> Result<(), ApiError> {
    let n = conn.execute(
        "DELETE FROM memberships WHERE group_id = ?1 AND user_id = ?2",
        params![group, user],
    )?;
    if n == 0 {
        return Err(ApiError::NotFound(format!(
            "user {} is not in group {}",
            shown(user),
            shown(group)
        )));
    }
    Ok(())
}

// ------------------------------------------------------------------------------- policies

/// What an admin sends to create or change a policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    pub name: String,
    #[serde(default = "default_basic")]
    pub basic_type: BasicType,
    #[serde(default)]
    pub additional_groups: Vec<String>,
    #[serde(default = "default_sync")]
    pub sync_interval: SyncInterval,
    #[serde(default = "default_backup")]
    pub backup_interval: BackupInterval,
    /// The fields that leave the server (`contacts_agent_protocol::fields`); absent or null
    /// is every field. Names, not `Field`s, so an unknown one is refused by name.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Device-local hours the periodic syncs run in; absent: the whole day.
    #[serde(default)]
    pub sync_window: Option<SyncWindow>,
    /// The first sync after a change is spread over this many minutes; 0: at once.
    #[serde(default)]
    pub rollout_minutes: u32,
}

fn default_basic() -> BasicType {
    BasicType::None
}
fn default_sync() -> SyncInterval {
    SyncInterval::Disabled
}
fn default_backup() -> BackupInterval {
    BackupInterval::Off
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub id: String,
    pub name: String,
    pub basic_type: BasicType,
    pub additional_groups: Vec<String>,
    pub sync_interval: SyncInterval,
    pub backup_interval: BackupInterval,
    /// `None`: every field.
    pub fields: Option<Vec<Field>>,
    pub sync_window: Option<SyncWindow>,
    pub rollout_minutes: u32,
    pub updated_at: String,
}

impl PolicyRecord {
    fn input(&self) -> PolicyInput {
        PolicyInput {
            name: self.name.clone(),
            basic_type: self.basic_type,
            additional_groups: self.additional_groups.clone(),
            sync_interval: self.sync_interval,
            backup_interval: self.backup_interval,
            fields: self
                .fields
                .as_ref()
                .map(|f| f.iter().map(|f| f.as_str().to_owned()).collect()),
            sync_window: self.sync_window,
            rollout_minutes: self.rollout_minutes,
        }
    }

    /// What the filter applies: `None` sends contacts as they are.
    pub fn allow_list(&self) -> Option<AllowList> {
        self.fields.as_deref().map(AllowList::of)
    }
}

/// The allow-list as it is stored: its JSON array, or NULL for every field. An unknown
/// or repeated name is refused, naming it (`FieldListError`).
fn fields_column(p: &PolicyInput) -> Result<Option<String>, ApiError> {
    let Some(names) = &p.fields else {
        return Ok(None);
    };
    AllowList::parse(names).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    serde_json::to_string(names)
        .map(Some)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// The window as it is stored: its JSON, or NULL for the whole day.
fn window_column(p: &PolicyInput) -> Result<Option<String>, ApiError> {
    p.sync_window
        .map(|w| serde_json::to_string(&w))
        .transpose()
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn check_policy(conn: &Conn, p: &PolicyInput) -> Result<(), ApiError> {
    input::label("name", &p.name)?;
    fields_column(p)?;
    input::group_ids(
        "additional_groups",
        &p.additional_groups,
        Policy::MAX_ADDITIONAL_GROUPS,
    )?;
    let probe = Policy {
        version: 1,
        basic_type: p.basic_type,
        additional_groups: p.additional_groups.clone(),
        sync_interval: p.sync_interval,
        backup_interval: p.backup_interval,
        sync_window: p.sync_window,
        rollout_minutes: Some(p.rollout_minutes),
    };
    probe
        .validate()
        .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    for g in &p.additional_groups {
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM groups WHERE id = ?1)",
            [g],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(ApiError::Unprocessable(format!(
                "additional group {} does not exist",
                shown(g)
            )));
        }
    }
    Ok(())
}

pub fn create_policy(conn: &Conn, id: Option<String>, p: &PolicyInput) -> Result<String, ApiError> {
    check_policy(conn, p)?;
    let id = match id {
        Some(id) => id,
        None => format!("p-{}", random_hex(6)?),
    };
    check_id(&id)?;
    let groups = serde_json::to_string(&p.additional_groups)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    conn.execute(
        "INSERT INTO policies (id, name, basic_type, additional_groups, sync_interval, backup_interval, updated_at, fields,
                               sync_window, rollout_minutes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![id, p.name.trim(), enum_str(&p.basic_type), groups, enum_str(&p.sync_interval), enum_str(&p.backup_interval), now(), fields_column(p)?,
                window_column(p)?, p.rollout_minutes],
    )
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict(format!("policy {id} already exists")),
        other => other,
    })?;
    Ok(id)
}

/// Changes a policy; every device on it gets a new policy version (it re-applies it).
pub fn update_policy(conn: &Conn, id: &str, p: &PolicyInput) -> Result<(), ApiError> {
    check_policy(conn, p)?;
    let groups = serde_json::to_string(&p.additional_groups)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let n = conn.execute(
        "UPDATE policies SET name = ?2, basic_type = ?3, additional_groups = ?4, sync_interval = ?5,
                backup_interval = ?6, updated_at = ?7, fields = ?8, sync_window = ?9, rollout_minutes = ?10
         WHERE id = ?1",
        params![id, p.name.trim(), enum_str(&p.basic_type), groups, enum_str(&p.sync_interval), enum_str(&p.backup_interval), now(), fields_column(p)?,
                window_column(p)?, p.rollout_minutes],
    )?;
    if n == 0 {
        return Err(ApiError::NotFound(format!("no policy {}", shown(id))));
    }
    conn.execute(
        "UPDATE devices SET policy_version = policy_version + 1 WHERE policy_id = ?1",
        [id],
    )?;
    Ok(())
}

/// A `policies` row as stored (`POLICY_COLUMNS`, in order), before its texts are parsed.
struct PolicyRow {
    id: String,
    name: String,
    basic_type: String,
    additional_groups: String,
    sync_interval: String,
    backup_interval: String,
    updated_at: String,
    fields: Option<String>,
    sync_window: Option<String>,
    rollout_minutes: u32,
}

const POLICY_COLUMNS: &str = "id, name, basic_type, additional_groups, sync_interval, \
     backup_interval, updated_at, fields, sync_window, rollout_minutes";

fn policy_from_row(r: &crate::sql::Row) -> crate::sql::Result<PolicyRow> {
    Ok(PolicyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        basic_type: r.get(2)?,
        additional_groups: r.get(3)?,
        sync_interval: r.get(4)?,
        backup_interval: r.get(5)?,
        updated_at: r.get(6)?,
        fields: r.get(7)?,
        sync_window: r.get(8)?,
        rollout_minutes: r.get(9)?,
    })
}

fn build_policy(row: PolicyRow) -> Result<PolicyRecord, ApiError> {
    let stored = |what: &str, e: serde_json::Error| {
        ApiError::Internal(format!("stored {what} unreadable: {e}"))
    };
    Ok(PolicyRecord {
        id: row.id,
        name: row.name,
        basic_type: parse_enum("basic type", &row.basic_type)?,
        additional_groups: serde_json::from_str(&row.additional_groups)
            .map_err(|e| stored("groups", e))?,
        sync_interval: parse_enum("sync interval", &row.sync_interval)?,
        backup_interval: parse_enum("backup interval", &row.backup_interval)?,
        fields: row
            .fields
            .map(|f| serde_json::from_str(&f))
            .transpose()
            .map_err(|e| stored("fields", e))?,
        sync_window: row
            .sync_window
            .map(|w| serde_json::from_str(&w))
            .transpose()
            .map_err(|e| stored("sync window", e))?,
        rollout_minutes: row.rollout_minutes,
        updated_at: row.updated_at,
    })
}

pub fn list_policies(conn: &Conn) -> Result<Vec<PolicyRecord>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {POLICY_COLUMNS} FROM policies ORDER BY name"
    ))?;
    let rows = stmt
        .query_map(params![], policy_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(build_policy).collect()
}

pub fn get_policy(conn: &Conn, id: &str) -> Result<PolicyRecord, ApiError> {
    let row = conn
        .query_row(
            &format!("SELECT {POLICY_COLUMNS} FROM policies WHERE id = ?1"),
            [id],
            policy_from_row,
        )
        .optional()?
        .ok_or_else(|| ApiError::NotFound(format!("no policy {}", shown(id))))?;
    build_policy(row)
}

// -------------------------------------------------------------------------------- devices

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub user_id: Option<String>,
    pub policy_id: Option<String>,
    pub policy_version: u64,
    /// The device holds a valid token (`state` is `Enrolled` or `Retiring`).
    pub enrolled: bool,
    pub state: DeviceState,
    pub created_at: String,
    pub enrolled_at: Option<String>,
    /// When the admin revoked the device; cleared when it enrolls again.
    pub revoked_at: Option<String>,
    /// When the device retired (its app unenrolled, by itself or on the admin's retire
    /// command); cleared when it enrolls again.
    pub retired_at: Option<String>,
    /// When the admin asked it to retire; cleared when it enrolls again or is revoked.
    pub retire_requested_at: Option<String>,
    /// While an enrollment code is outstanding: when it stops working.
    pub enrollment_code_expires_at: Option<String>,
}

impl Device {
    /// The next sync the device said it expects, while it can still sync: a retired or
    /// revoked device's last report names a sync that will never come.
    pub fn expected_sync(&self, reported: Option<String>) -> Option<String> {
        reported.filter(|_| self.enrolled)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Created (or re-issued a code) and never enrolled since.
    AwaitingEnrollment,
    Enrolled,
    /// The admin retired it and the device, still holding its token, has not yet reported
    /// carrying out the retire command.
    Retiring,
    /// Its token was revoked; it may enroll again with a new code.
    Revoked,
    /// The device unenrolled itself (its business contacts removed, its token given up); it
    /// may enroll again with a code the admin issues.
    Retired,
}

impl DeviceState {
    pub fn label(self) -> &'static str {
        match self {
            DeviceState::AwaitingEnrollment => "Waiting for enrollment",
            DeviceState::Enrolled => "Enrolled",
            DeviceState::Retiring => "Retiring",
            DeviceState::Revoked => "Revoked",
            DeviceState::Retired => "Retired",
        }
    }
}

pub(crate) const DEVICE_COLUMNS: &str =
    "id, name, user_id, policy_id, policy_version, token_hash IS NOT NULL,
    revoked_at, created_at, enrolled_at, enrollment_expires_at, retired_at, retire_requested_at";

pub(crate) fn device_row(r: &crate::sql::Row) -> crate::sql::Result<Device> {
    let enrolled: bool = r.get(5)?;
    let revoked_at: Option<String> = r.get(6)?;
    let retired_at: Option<String> = r.get(10)?;
    let retire_requested_at: Option<String> = r.get(11)?;
    let state = match (enrolled, &revoked_at, &retired_at) {
        (true, _, _) if retire_requested_at.is_some() => DeviceState::Retiring,
        (true, _, _) => DeviceState::Enrolled,
        (false, _, Some(_)) => DeviceState::Retired,
        (false, Some(_), None) => DeviceState::Revoked,
        (false, None, None) => DeviceState::AwaitingEnrollment,
    };
    Ok(Device {
        id: r.get(0)?,
        name: r.get(1)?,
        user_id: r.get(2)?,
        policy_id: r.get(3)?,
        policy_version: r.get::<_, i64>(4)? as u64,
        enrolled,
        state,
        revoked_at,
        retired_at,
        retire_requested_at,
        created_at: r.get(7)?,
        enrolled_at: r.get(8)?,
        enrollment_code_expires_at: r.get(9)?,
    })
}

/// A fresh single-use enrollment code and when it expires.
fn new_code(ttl: std::time::Duration) -> Result<(String, String), ApiError> {
    let ttl = chrono::Duration::from_std(ttl)
        .map_err(|_| ApiError::Internal("enrollment code lifetime out of range".into()))?;
    let expires = Utc::now()
        .checked_add_signed(ttl)
        .ok_or_else(|| ApiError::Internal("enrollment code lifetime out of range".into()))?;
    Ok((random_hex(12)?, stamp(expires)))
}

pub fn create_device(
    conn: &Conn,
    name: &str,
    user_id: Option<&str>,
    code_ttl: std::time::Duration,
) -> Result<(String, String), ApiError> {
    let name = input::label("name", name)?;
    if let Some(u) = user_id {
        get_user(conn, u)?;
    }
    let id = format!("d-{}", random_hex(8)?);
    let (code, expires) = new_code(code_ttl)?;
    conn.execute(
        "INSERT INTO devices (id, name, user_id, enrollment_code, enrollment_expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, name, user_id, code, expires, now()],
    )?;
    Ok((id, code))
}

/// Revokes a device's token (a lost phone, a re-issued one): its next request answers 401
/// `device_revoked`, and it may enroll again only with the fresh single-use code returned
/// here.
pub fn revoke_device(
    conn: &Conn,
    id: &str,
    code_ttl: std::time::Duration,
) -> Result<String, ApiError> {
    let (code, expires) = new_code(code_ttl)?;
    let n = conn.execute(
        "UPDATE devices SET revoked_token_hash = COALESCE(token_hash, revoked_token_hash),
                token_hash = NULL, next_token_hash = NULL, revoked_at = ?3, retired_at = NULL,
                retire_requested_at = NULL, enrollment_code = ?2, enrollment_expires_at = ?4
         WHERE id = ?1",
        params![id, code, now(), expires],
    )?;
    if n == 0 {
        return Err(ApiError::NotFound(format!("no device {}", shown(id))));
    }
    // A retire the device never carried out no longer applies: the revoked token makes it
    // remove the business contacts (401 `device_revoked`).
    cancel_pending(conn, id, Some(CommandKind::Retire))?;
    Ok(code)
}

/// The device gives up its token (its app unenrolled, by itself or on the admin's retire
/// command): like a revoke, a later request with that token answers 401 `device_revoked`,
/// but no enrollment code is issued (the admin issues one to enroll it again) and the
/// console shows it as retired. A pending retire command is done by this; any other pending
/// command no longer applies.
pub fn retire_device(tx: &Tx, id: &str) -> Result<(), ApiError> {
    let at = now();
    let n = tx.execute(
        "UPDATE devices SET revoked_token_hash = COALESCE(token_hash, revoked_token_hash),
                token_hash = NULL, next_token_hash = NULL, retired_at = ?2
         WHERE id = ?1 AND token_hash IS NOT NULL",
        params![id, at],
    )?;
    if n == 0 {
        return Err(ApiError::Unauthorized);
    }
    tx.execute(
        "UPDATE commands SET completed_at = ?2, picked_up_at = COALESCE(picked_up_at, ?2)
         WHERE device_id = ?1 AND kind = 'retire' AND completed_at IS NULL AND cancelled_at IS NULL",
        params![id, at],
    )?;
    cancel_pending(tx, id, None)?;
    Ok(())
}

/// What `request_retire` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetireRequest {
    /// A retire command waits for the device (state `Retiring`); `repeated` when it was
    /// already waiting and this request changed nothing.
    Queued { command_id: String, repeated: bool },
    /// No phone holds a working token (never enrolled, or revoked): the device is retired at
    /// once and its outstanding enrollment code stops working.
    RetiredNow,
}

/// The admin's "Retire": an enrolled device gets a retire command, which it obeys by
/// removing the business contacts and unenrolling (it stays `Retiring` until it reports
/// that by `POST /v1/device/retire`). Asking again while it is retiring returns the same
/// command; a retired device is a 409. Either way its outstanding enrollment code stops
/// working, so no other phone can enroll in its place meanwhile.
pub fn request_retire(tx: &Tx, id: &str) -> Result<RetireRequest, ApiError> {
    let d = get_device(tx, id)?;
    let at = now();
    let answer = match d.state {
        DeviceState::Retired => {
            return Err(ApiError::Conflict(format!(
                "device {} is already retired",
                shown(id)
            )))
        }
        DeviceState::Retiring => match pending_of_kind(tx, id, CommandKind::Retire)? {
            Some(command_id) => RetireRequest::Queued {
                command_id,
                repeated: true,
            },
            None => RetireRequest::Queued {
                command_id: insert_command(tx, id, CommandKind::Retire)?,
                repeated: false,
            },
        },
        DeviceState::Enrolled => {
            tx.execute(
                "UPDATE devices SET retire_requested_at = ?2 WHERE id = ?1",
                params![id, at],
            )?;
            RetireRequest::Queued {
                command_id: insert_command(tx, id, CommandKind::Retire)?,
                repeated: false,
            }
        }
        DeviceState::AwaitingEnrollment | DeviceState::Revoked => {
            tx.execute(
                "UPDATE devices SET retired_at = ?2, retire_requested_at = ?2 WHERE id = ?1",
                params![id, at],
            )?;
            cancel_pending(tx, id, None)?;
            RetireRequest::RetiredNow
        }
    };
    tx.execute(
        "UPDATE devices SET enrollment_code = NULL, enrollment_expires_at = NULL WHERE id = ?1",
        [id],
    )?;
    Ok(answer)
}

/// A new single-use enrollment code for a device, replacing any outstanding one: for a code
/// that expired unused, or to move an enrolled device to a reset phone. A current token
/// keeps working until the code is used.
pub fn reissue_enrollment_code(
    conn: &Conn,
    id: &str,
    code_ttl: std::time::Duration,
) -> Result<String, ApiError> {
    if get_device(conn, id)?.state == DeviceState::Retiring {
        // A new phone enrolling now would take the token the retiring one still uses, and
        // that one would never hear it should remove the business contacts.
        return Err(ApiError::Conflict(
            "the device is retiring: wait until it has retired, or revoke it".into(),
        ));
    }
    let (code, expires) = new_code(code_ttl)?;
    let n = conn.execute(
        "UPDATE devices SET enrollment_code = ?2, enrollment_expires_at = ?3 WHERE id = ?1",
        params![id, code, expires],
    )?;
    if n == 0 {
        return Err(ApiError::NotFound(format!("no device {}", shown(id))));
    }
    Ok(code)
}

/// The device's enrollment code and when it expires, while one is outstanding and unexpired.
pub fn outstanding_code(conn: &Conn, id: &str) -> Result<Option<(String, String)>, ApiError> {
    Ok(conn
        .prepare_cached(
            "SELECT enrollment_code, enrollment_expires_at FROM devices
             WHERE id = ?1 AND enrollment_code IS NOT NULL AND enrollment_expires_at > ?2",
        )?
        .query_row(params![id, now()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Trades a single-use, unexpired enrollment code for a device token; an unknown, used or
/// expired code is 401 alike. Only the token's hash is kept. An empty name keeps the one the
/// admin gave.
pub fn enroll(conn: &Conn, code: &str, name: &str) -> Result<(String, String), ApiError> {
    input::text("enrollment_code", code, input::ENROLLMENT_CODE)?;
    let name = if name.trim().is_empty() {
        String::new()
    } else {
        input::label("device_name", name)?
    };
    let id: String = conn
        .query_row(
            "SELECT id FROM devices WHERE enrollment_code = ?1 AND enrollment_expires_at > ?2",
            params![code, now()],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(ApiError::Unauthorized)?;
    let token = random_hex(32)?;
    conn.execute(
        "UPDATE devices SET enrollment_code = NULL, enrollment_expires_at = NULL, token_hash = ?2,
                next_token_hash = NULL, revoked_token_hash = NULL, revoked_at = NULL, retired_at = NULL,
                retire_requested_at = NULL, enrolled_at = ?3,
                name = CASE WHEN ?4 = '' THEN name ELSE ?4 END WHERE id = ?1",
        params![id, sha256_hex(token.as_bytes()), now(), name],
    )?;
    Ok((id, token))
}

/// The device a bearer token belongs to. A token handed out by `rotate_token` becomes the
/// device's only token the first time it is used.
pub fn device_by_token(conn: &Conn, token: &str) -> Result<Device, ApiError> {
    let hash = sha256_hex(token.as_bytes());
    let found: Option<(String, bool)> = conn
        .prepare_cached(
            "SELECT id, 0 FROM devices WHERE token_hash = ?1
             UNION ALL SELECT id, 1 FROM devices WHERE next_token_hash = ?1",
        )?
        .query_row([&hash], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((id, rotated)) = found else {
        let revoked: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM devices WHERE revoked_token_hash = ?1)")?
            .query_row([&hash], |r| r.get(0))?;
        return Err(if revoked {
            ApiError::Revoked
        } else {
            ApiError::Unauthorized
        });
    };
    if rotated {
        conn.execute(
            "UPDATE devices SET token_hash = next_token_hash, next_token_hash = NULL
             WHERE id = ?1 AND next_token_hash = ?2",
            params![id, hash],
        )?;
    }
    get_device(conn, &id)
}

/// Issues a new token for an enrolled device. The current one keeps working until the new
/// one is first used, so an answer lost on the way leaves the device with a token that
/// works; asking again replaces the pending one.
pub fn rotate_token(conn: &Conn, device: &str) -> Result<String, ApiError> {
    let token = random_hex(32)?;
    let n = conn.execute(
        "UPDATE devices SET next_token_hash = ?2 WHERE id = ?1 AND token_hash IS NOT NULL",
        params![device, sha256_hex(token.as_bytes())],
    )?;
    if n == 0 {
        return Err(ApiError::Unauthorized);
    }
    Ok(token)
}

pub fn get_device(conn: &Conn, id: &str) -> Result<Device, ApiError> {
    conn.prepare_cached(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1"
    ))?
    .query_row([id], device_row)
    .optional()?
    .ok_or_else(|| ApiError::NotFound(format!("no device {}", shown(id))))
}

pub fn list_devices(conn: &Conn) -> Result<Vec<Device>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map(params![], device_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn assign_policy(conn: &Conn, device: &str, policy: Option<&str>) -> Result<(), ApiError> {
    if let Some(p) = policy {
        get_policy(conn, p)?;
    }
    let n = conn.execute(
        "UPDATE devices SET policy_id = ?2, policy_version = policy_version + 1 WHERE id = ?1",
        params![device, policy],
    )?;
    if n == 0 {
        return Err(ApiError::NotFound(format!("no device {}", shown(device))));
    }
    Ok(())
}

/// The policy as the device sees it. With no policy assigned the product's default applies:
/// no contacts, sync disabled, backup off.
pub fn device_policy(conn: &Conn, d: &Device) -> Result<Policy, ApiError> {
    Ok(match device_policy_record(conn, d)? {
        Some(p) => Policy {
            version: d.policy_version,
            basic_type: p.basic_type,
            additional_groups: p.additional_groups,
            sync_interval: p.sync_interval,
            backup_interval: p.backup_interval,
            sync_window: p.sync_window,
            // 0 is what an absent field means: leave it off the wire.
            rollout_minutes: Some(p.rollout_minutes).filter(|m| *m > 0),
        },
        None => Policy {
            version: d.policy_version,
            basic_type: BasicType::None,
            additional_groups: Vec::new(),
            sync_interval: SyncInterval::Disabled,
            backup_interval: BackupInterval::Off,
            sync_window: None,
            rollout_minutes: None,
        },
    })
}

fn device_policy_record(conn: &Conn, d: &Device) -> Result<Option<PolicyRecord>, ApiError> {
    d.policy_id
        .as_deref()
        .map(|id| get_policy(conn, id))
        .transpose()
}

/// The fields the device's policy lets leave the server; `None` is every field (no policy
/// assigned, or one without a list).
pub fn device_fields(conn: &Conn, d: &Device) -> Result<Option<AllowList>, ApiError> {
    Ok(device_policy_record(conn, d)?.and_then(|p| p.allow_list()))
}

/// A user as the device is sent them: the contact filtered by `allowed` (the device's
/// `device_fields`), so the console never lists a number the phone was not sent.
pub fn as_sent(mut user: User, allowed: Option<&AllowList>) -> User {
    if let Some(allowed) = allowed {
        user.contact = fields::filter(&user.contact, allowed);
    }
    user
}

/// The groups whose members the device's policy entitles it to, as a JSON array (what
/// `Dialect::json_values` reads).
pub fn entitled_groups_json(conn: &Conn, d: &Device) -> Result<String, ApiError> {
    let policy = device_policy(conn, d)?;
    let mine = match &d.user_id {
        Some(u) => user_groups(conn, u)?,
        None => Vec::new(),
    };
    // Ids only: `list_groups` also counts every group's members.
    let all: Vec<String> = conn
        .prepare_cached("SELECT id FROM groups")?
        .query_map(params![], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let groups: BTreeSet<String> =
        entitled_groups(policy.basic_type, &policy.additional_groups, &mine, &all);
    serde_json::to_string(&groups).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The `(id, hash)` set the device's policy entitles it to, sorted by id. Each hash is what
/// `contact_for_device` sends: the data's hash (with a field allow-list, the filtered
/// contact's, so a changed list changes the hashes) combined with the groups the contact is
/// sent for (`device_groups`), so a membership change or a group rename reaches the phone
/// as an upsert.
///
/// The one expensive query of a sync; `entitled_sets` runs it once per entitlement and
/// directory version, not per device. Not one join and sort any more (docs/decisions.md,
/// "The entitled set: a merge, not a join and sort"): the entitled membership pairs are one
/// indexed read per group, sorted here, and the hashes come from an in-order read of
/// `users (id, hash)` merged with them, or point lookups when few users are entitled.
pub fn entitled_entries(
    conn: &Conn,
    groups_json: &str,
    allowed: Option<&AllowList>,
) -> Result<Entries, ApiError> {
    entitled_entries_reading(conn, groups_json, allowed, None)
}

/// How `entitled_entries` reads the entitled users' hashes (without an allow-list; with one
/// each body is read by a point lookup).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashRead {
    /// One in-order scan of `users (id, hash)` over the entitled users' id range, merged.
    Merge,
    /// One point lookup per entitled user.
    Lookups,
}

/// Below this many entitled users the hashes are looked up without counting the table
/// (~0.6 µs a user: at most ~0.3 ms whatever the table's size).
const LOOKUPS_BELOW: usize = 500;

/// How many rows of the in-order `(id, hash)` scan cost as much as one user's point lookup.
/// Measured (release, 100,000 seeded users, SQLite with schema 16's index,
/// `entitled_entries_timing` in `server/tests/entitled_merge.rs`): a lookup ~0.56 µs, a
/// scanned row ~0.14 µs, from the differences between the two reads at 3,072, 14,975 and
/// 96,227 entitled users (the crossover near 25,000 of 100,000).
const SCAN_ROWS_PER_LOOKUP: usize = 4;

/// The cheaper way to read `entitled` users' hashes from a table of `users` (the scan may
/// cover the whole table: the range between the first and last entitled id is not known
/// before reading it).
pub fn hash_read(entitled: usize, users: usize) -> HashRead {
    if entitled < LOOKUPS_BELOW || entitled.saturating_mul(SCAN_ROWS_PER_LOOKUP) < users {
        HashRead::Lookups
    } else {
        HashRead::Merge
    }
}

/// `entitled_entries`, the way of reading the hashes forced when `read` is given: the tests
/// run both on the same data.
#[doc(hidden)]
pub fn entitled_entries_reading(
    conn: &Conn,
    groups_json: &str,
    allowed: Option<&AllowList>,
    read: Option<HashRead>,
) -> Result<Entries, ApiError> {
    ENTITLED_SET_COMPUTATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Several statements now, where the join was one: a read transaction keeps them on one
    // snapshot of the directory.
    let tx = conn.read_transaction()?;
    let conn: &Conn = &tx;
    let groups = EntitledGroups::read(conn, groups_json)?.sorted();
    let mut pairs: Vec<(String, u32)> = Vec::new();
    let mut stmt = conn.prepare_cached("SELECT user_id FROM memberships WHERE group_id = ?1")?;
    for (n, g) in (0u32..).zip(&groups) {
        let mut rows = stmt.query([&g.id])?;
        while let Some(r) = rows.next()? {
            pairs.push((r.get(0)?, n));
        }
    }
    let members = members_by_user(pairs);
    let hashes = match allowed {
        Some(allowed) => filtered_hashes(conn, &members, allowed)?,
        None => {
            let read = match read {
                Some(read) => read,
                None if members.len() < LOOKUPS_BELOW => HashRead::Lookups,
                None => hash_read(members.len(), count_users(conn)?),
            };
            stored_hashes(conn, &members, read)?
        }
    };
    drop(stmt);
    tx.commit()?;
    Ok(members
        .into_iter()
        .zip(hashes)
        .filter_map(|((user, ns), hash)| {
            let refs: Vec<GroupRef> = ns.iter().map(|&n| groups[n as usize].clone()).collect();
            hash.map(|h| (user, with_groups(&h, &refs)))
        })
        .collect())
}

fn count_users(conn: &Conn) -> Result<usize, ApiError> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM users", params![], |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Membership pairs `(user id, group number)` folded into each user's group numbers, users
/// in byte order (SQLite's BINARY, PostgreSQL's `COLLATE "C"`: the order the old `ORDER BY
/// u.id, g.id` gave). The numbers index the groups sorted by id, so sorting them sorts the
/// groups by id.
fn members_by_user(mut pairs: Vec<(String, u32)>) -> Vec<(String, Vec<u32>)> {
    pairs.sort_unstable();
    let mut out: Vec<(String, Vec<u32>)> = Vec::new();
    for (user, n) in pairs {
        match out.last_mut() {
            Some((u, ns)) if *u == user => {
                if ns.last() != Some(&n) {
                    ns.push(n);
                }
            }
            _ => out.push((user, vec![n])),
        }
    }
    out
}

/// Each user's stored hash (`None` for a user not in the table), merged from an in-order
/// read of `users (id, hash)`: over the users' whole id range (`Merge`), or just their ids
/// (`Lookups`: the engine's point lookups, in one statement; a statement per user cost
/// 2.4-3.3 µs a user, four to five times as much).
fn stored_hashes(
    conn: &Conn,
    members: &[(String, Vec<u32>)],
    read: HashRead,
) -> Result<Vec<Option<String>>, ApiError> {
    let (Some((first, _)), Some((last, _))) = (members.first(), members.last()) else {
        return Ok(Vec::new());
    };
    let (sql, args) = match read {
        HashRead::Merge => (
            "SELECT id, hash FROM users WHERE id >= ?1 AND id <= ?2 ORDER BY id".to_owned(),
            vec![first.clone(), last.clone()],
        ),
        HashRead::Lookups => {
            let ids: Vec<&str> = members.iter().map(|(u, _)| u.as_str()).collect();
            let ids = serde_json::to_string(&ids).map_err(|e| ApiError::Internal(e.to_string()))?;
            (
                format!(
                    "SELECT id, hash FROM users WHERE id IN (SELECT e.value FROM {}) ORDER BY id",
                    conn.dialect().json_values("?1", "e")
                ),
                vec![ids],
            )
        }
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(args.as_slice())?;
    let mut out = Vec::with_capacity(members.len());
    let mut row: Option<(String, String)> = None;
    let mut done = false;
    for (user, _) in members {
        // Both in byte order: skip the rows before this user.
        while !done && !matches!(&row, Some((id, _)) if id.as_str() >= user.as_str()) {
            match rows.next()? {
                Some(r) => row = Some((r.get(0)?, r.get(1)?)),
                None => {
                    row = None;
                    done = true;
                }
            }
        }
        out.push(match &row {
            Some((id, hash)) if id == user => Some(hash.clone()),
            _ => None,
        });
    }
    Ok(out)
}

/// Each user's hash as an allow-list sends the contact: its body read, filtered and hashed.
fn filtered_hashes(
    conn: &Conn,
    members: &[(String, Vec<u32>)],
    allowed: &AllowList,
) -> Result<Vec<Option<String>>, ApiError> {
    let mut stmt = conn.prepare_cached("SELECT body FROM users WHERE id = ?1")?;
    members
        .iter()
        .map(|(user, _)| {
            let body: Option<String> = stmt.query_row([user], |r| r.get(0)).optional()?;
            body.map(|b| Ok(content_hash(&fields::filter(&parse_contact(&b)?, allowed))))
                .transpose()
        })
        .collect()
}

/// The names of the groups a device is entitled to (`entitled_groups_json`), read once for a
/// page of contacts: each contact then needs only its own membership rows, not a parse of
/// the group list per contact (that `json_each` was most of a page's server time).
pub struct EntitledGroups(HashMap<String, String>);

impl EntitledGroups {
    pub fn read(conn: &Conn, groups_json: &str) -> Result<Self, ApiError> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id, name FROM groups WHERE id IN (SELECT e.value FROM {})",
            conn.dialect().json_values("?1", "e")
        ))?;
        let rows = stmt.query_map([groups_json], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(Self(rows.collect::<Result<_, _>>()?))
    }

    /// The groups sorted by id (byte order).
    fn sorted(self) -> Vec<GroupRef> {
        let mut groups: Vec<GroupRef> = self
            .0
            .into_iter()
            .map(|(id, name)| GroupRef { id, name })
            .collect();
        groups.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        groups
    }
}

/// The groups a contact is sent to this device for: its groups the device is entitled to,
/// sorted by id (byte order, as SQLite's BINARY collation sorts them in
/// `entitled_entries`). A contact sent because of "Harvey" carries "Harvey", not the other
/// groups it is in.
fn device_groups(
    conn: &Conn,
    user: &str,
    entitled: &EntitledGroups,
) -> Result<Vec<GroupRef>, ApiError> {
    let mut stmt = conn.prepare_cached("SELECT group_id FROM memberships WHERE user_id = ?1")?;
    let mut rows = stmt.query([user])?;
    let mut groups = Vec::new();
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        if let Some((id, name)) = entitled.0.get_key_value(&id) {
            groups.push(GroupRef {
                id: id.clone(),
                name: name.clone(),
            });
        }
    }
    groups.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    Ok(groups)
}

/// A contact as this device is sent it: its hash, its JSON (with an allow-list, filtered)
/// with the groups the device sees it in.
pub fn contact_for_device(
    conn: &Conn,
    id: &str,
    groups: &EntitledGroups,
    allowed: Option<&AllowList>,
) -> Result<Option<(String, String)>, ApiError> {
    let row: Option<(String, String)> = conn
        .prepare_cached("SELECT hash, body FROM users WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((hash, body)) = row else {
        return Ok(None);
    };
    let member_of = device_groups(conn, id, groups)?;
    sent_form(hash, &body, member_of, allowed).map(Some)
}

/// How many directory rows a page's id range may hold per contact it sends before
/// `contacts_for_device` reads its contacts one by one instead (a sparse entitlement, or a
/// delta's few ids far apart, whose range would read many users it does not send).
const RANGE_READ_PER_CONTACT: usize = 2;

/// `contact_for_device` for each of `ids` (a page's upserts), in their order: one read of
/// the users and one of the memberships over the ids' range, not two statements per contact
/// (those were a third of a page's server time), unless the range holds many more users than
/// the page (then one by one).
pub fn contacts_for_device(
    conn: &Conn,
    ids: &[&str],
    groups: &EntitledGroups,
    allowed: Option<&AllowList>,
) -> Result<Vec<Option<(String, String)>>, ApiError> {
    let (Some(low), Some(high)) = (ids.iter().min(), ids.iter().max()) else {
        return Ok(Vec::new());
    };
    let limit = ids.len() * RANGE_READ_PER_CONTACT;
    let users: Vec<(String, String, String)> = conn
        .prepare_cached(
            "SELECT id, hash, body FROM users WHERE id >= ?1 AND id <= ?2 ORDER BY id LIMIT ?3",
        )?
        .query_map(params![low, high, limit as i64 + 1], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    if users.len() > limit {
        return ids
            .iter()
            .map(|id| contact_for_device(conn, id, groups, allowed))
            .collect();
    }
    let mut member_of: HashMap<String, Vec<GroupRef>> = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT user_id, group_id FROM memberships WHERE user_id >= ?1 AND user_id <= ?2",
        )?;
        let mut rows = stmt.query(params![low, high])?;
        while let Some(r) = rows.next()? {
            let group: String = r.get(1)?;
            if let Some((id, name)) = groups.0.get_key_value(&group) {
                member_of.entry(r.get(0)?).or_default().push(GroupRef {
                    id: id.clone(),
                    name: name.clone(),
                });
            }
        }
    }
    let by_id: HashMap<&str, (&str, &str)> = users
        .iter()
        .map(|(id, hash, body)| (id.as_str(), (hash.as_str(), body.as_str())))
        .collect();
    ids.iter()
        .map(|id| {
            let Some((hash, body)) = by_id.get(id) else {
                return Ok(None);
            };
            let mut groups = member_of.remove(*id).unwrap_or_default();
            groups.sort_unstable_by(|a, b| a.id.cmp(&b.id));
            sent_form((*hash).to_owned(), body, groups, allowed).map(Some)
        })
        .collect()
}

/// The hash and JSON a contact is sent with, from its directory hash and body and the groups
/// the device sees it in.
fn sent_form(
    hash: String,
    body: &str,
    member_of: Vec<GroupRef>,
    allowed: Option<&AllowList>,
) -> Result<(String, String), ApiError> {
    if allowed.is_none() {
        // The stored body is the contact's JSON without groups: sent as it is, with the
        // groups appended (parsing it and writing it again was a tenth of a page's time).
        if let Some(json) = append_groups_json(body, &member_of) {
            return Ok((with_groups(&hash, &member_of), json));
        }
    }
    let mut contact = parse_contact(body)?;
    let data_hash = match allowed {
        None => hash,
        Some(allowed) => {
            contact = fields::filter(&contact, allowed);
            content_hash(&contact)
        }
    };
    contact.groups = member_of;
    let json = serde_json::to_string(&contact).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((with_groups(&data_hash, &contact.groups), json))
}

// ------------------------------------------------------------------- commands and status

/// A command as the console shows it: queued (`issued_at`), picked up by the device (it
/// listed it on a poll), then done, or cancelled when it no longer applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandRecord {
    pub id: String,
    /// `sync_now` or `retire` (`CommandKind`, as the device API names it).
    pub kind: String,
    pub issued_at: String,
    /// The first time the device's poll listed it.
    pub picked_up_at: Option<String>,
    pub completed_at: Option<String>,
    /// Its device retired (a pending sync), or was revoked or enrolled again (a pending
    /// retire), before carrying it out.
    pub cancelled_at: Option<String>,
}

impl CommandRecord {
    /// Neither done nor cancelled: the device still has it to do.
    pub fn pending(&self) -> bool {
        self.completed_at.is_none() && self.cancelled_at.is_none()
    }
}

fn kind_str(kind: CommandKind) -> &'static str {
    match kind {
        CommandKind::SyncNow => "sync_now",
        CommandKind::Retire => "retire",
        CommandKind::Unrecognized => "unrecognized",
    }
}

fn insert_command(conn: &Conn, device: &str, kind: CommandKind) -> Result<String, ApiError> {
    let id = format!("c-{}", random_hex(8)?);
    conn.execute(
        "INSERT INTO commands (id, device_id, kind, issued_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, device, kind_str(kind), now()],
    )?;
    Ok(id)
}

/// The oldest pending command of this kind, if there is one.
fn pending_of_kind(
    conn: &Conn,
    device: &str,
    kind: CommandKind,
) -> Result<Option<String>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT id FROM commands WHERE device_id = ?1 AND kind = ?2
               AND completed_at IS NULL AND cancelled_at IS NULL ORDER BY issued_at, id LIMIT 1",
            params![device, kind_str(kind)],
            |r| r.get(0),
        )
        .optional()?)
}

/// Marks the device's pending commands (of one kind, or all) as no longer applying.
fn cancel_pending(conn: &Conn, device: &str, kind: Option<CommandKind>) -> Result<(), ApiError> {
    conn.execute(
        "UPDATE commands SET cancelled_at = ?3 WHERE device_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR kind = ?2)
           AND completed_at IS NULL AND cancelled_at IS NULL",
        params![device, kind.map(kind_str), now()],
    )?;
    Ok(())
}

/// Queues "Synchronize contacts". While one is still pending, pressing again returns it
/// rather than queueing another: one sync covers both, and a device's command list (and
/// the `completed_commands` of its reports) stays short. A retiring or retired device is a
/// 409: it will not sync again.
pub fn force_sync(conn: &Conn, device: &str) -> Result<String, ApiError> {
    let d = get_device(conn, device)?;
    if matches!(d.state, DeviceState::Retiring | DeviceState::Retired) {
        return Err(ApiError::Conflict(format!(
            "device {} is {}: it will not sync again",
            shown(device),
            if d.state == DeviceState::Retired {
                "retired"
            } else {
                "retiring"
            }
        )));
    }
    if let Some(id) = pending_of_kind(conn, device, CommandKind::SyncNow)? {
        return Ok(id);
    }
    insert_command(conn, device, CommandKind::SyncNow)
}

/// The device's commands, oldest first; `pending_only`: those neither done nor cancelled.
pub fn commands(
    conn: &Conn,
    device: &str,
    pending_only: bool,
) -> Result<Vec<CommandRecord>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, issued_at, picked_up_at, completed_at, cancelled_at FROM commands
         WHERE device_id = ?1 AND (?2 = 0 OR (completed_at IS NULL AND cancelled_at IS NULL))
         ORDER BY issued_at, id",
    )?;
    let rows = stmt.query_map(params![device, pending_only], |r| {
        Ok(CommandRecord {
            id: r.get(0)?,
            kind: r.get(1)?,
            issued_at: r.get(2)?,
            picked_up_at: r.get(3)?,
            completed_at: r.get(4)?,
            cancelled_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The device's pending commands as its poll lists them, recording when each was first
/// picked up. Writes only when one is new: most polls find nothing, and an UPDATE that
/// matches no row still takes SQLite's write lock.
pub fn pick_up_commands(conn: &Conn, device: &str) -> Result<Vec<CommandRecord>, ApiError> {
    let mut pending = commands(conn, device, true)?;
    if pending.iter().any(|c| c.picked_up_at.is_none()) {
        let at = now();
        let mut mark = conn.prepare_cached(
            "UPDATE commands SET picked_up_at = ?2 WHERE id = ?1 AND picked_up_at IS NULL",
        )?;
        for c in pending.iter_mut().filter(|c| c.picked_up_at.is_none()) {
            mark.execute(params![c.id, at])?;
            c.picked_up_at = Some(at.clone());
        }
    }
    Ok(pending)
}

pub fn save_status(
    tx: &Tx,
    device: &str,
    report: &contacts_agent_protocol::wire::StatusReport,
) -> Result<(), ApiError> {
    let body = serde_json::to_string(report).map_err(|e| ApiError::Internal(e.to_string()))?;
    tx.execute(
        "INSERT INTO device_status (device_id, report, received_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (device_id) DO UPDATE SET report = excluded.report, received_at = excluded.received_at",
        params![device, body, now()],
    )?;
    // A retire is done only by the device retiring (`retire_device`): a report naming it
    // (an agent that mistook it for a sync) must not close it while the phone is enrolled.
    for c in &report.completed_commands {
        tx.execute(
            "UPDATE commands SET completed_at = ?3 WHERE id = ?1 AND device_id = ?2
               AND completed_at IS NULL AND cancelled_at IS NULL AND kind <> 'retire'",
            params![c, device, now()],
        )?;
    }
    Ok(())
}

pub fn status(
    conn: &Conn,
    device: &str,
) -> Result<Option<(contacts_agent_protocol::wire::StatusReport, String)>, ApiError> {
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT report, received_at FROM device_status WHERE device_id = ?1",
            [device],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(r, at)| {
        serde_json::from_str(&r)
            .map(|rep| (rep, at))
            .map_err(|e| ApiError::Internal(format!("stored status unreadable: {e}")))
    })
    .transpose()
}

// -------------------------------------------------------------------------------- backups

pub use contacts_agent_protocol::wire::BackupInfo as Backup;

fn backup_row(r: &crate::sql::Row) -> crate::sql::Result<Backup> {
    Ok(Backup {
        id: r.get(0)?,
        created_at: r.get(1)?,
        size: r.get::<_, i64>(2)? as u64,
        contact_count: r.get::<_, i64>(3)? as u64,
        checksum: r.get(4)?,
    })
}

/// Stores a backup of `len` bytes read from `data` unless this device already uploaded one
/// with the same checksum (a retried upload, or an unchanged address book): then that one is
/// returned, `false`. Keeps the newest `keep` backups of the device. The archive is copied
/// into its row in pieces (SQLite incremental blob I/O), never held whole.
pub fn store_backup(
    tx: &Tx,
    device: &str,
    checksum: &str,
    contact_count: u64,
    data: &mut dyn std::io::Read,
    len: u64,
    keep: usize,
) -> Result<(Backup, bool), ApiError> {
    let existing = tx
        .query_row(
            "SELECT id, created_at, size, contact_count, checksum FROM backups
             WHERE device_id = ?1 AND checksum = ?2",
            params![device, checksum],
            backup_row,
        )
        .optional()?;
    if let Some(b) = existing {
        return Ok((b, false));
    }
    let id = format!("b-{}", random_hex(8)?);
    let size = i64::try_from(len)
        .map_err(|_| ApiError::Internal("a backup larger than SQLite can hold".into()))?;
    match tx.as_sqlite() {
        Some(c) => {
            tx.execute(
                "INSERT INTO backups (id, device_id, created_at, size, contact_count, checksum, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, zeroblob(?4))",
                params![id, device, now(), size, contact_count as i64, checksum],
            )?;
            let mut blob = c
                .blob_open(
                    rusqlite::MAIN_DB,
                    "backups",
                    "data",
                    c.last_insert_rowid(),
                    false,
                )
                .map_err(crate::sql::Error::from)?;
            copy_backup(data, len, &mut blob)?;
            blob.close().map_err(crate::sql::Error::from)?;
        }
        None => {
            // PostgreSQL has no incremental write into a bytea: the backup is rows of
            // `backup_chunks`, each read from the spool file and sent on its own.
            tx.execute(
                "INSERT INTO backups (id, device_id, created_at, size, contact_count, checksum)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, device, now(), size, contact_count as i64, checksum],
            )?;
            let mut chunks = ChunkWriter {
                tx,
                backup: &id,
                n: 0,
                buf: Vec::with_capacity(BACKUP_CHUNK),
            };
            copy_backup(data, len, &mut chunks)?;
            chunks.flush_chunk()?;
        }
    }
    tx.execute(
        &format!(
            "DELETE FROM backups WHERE device_id = ?1 AND id NOT IN
               (SELECT id FROM backups WHERE device_id = ?1 ORDER BY created_at DESC, {order} DESC LIMIT ?2)",
            order = tx.dialect().insertion_order()
        ),
        params![device, keep.max(1) as i64],
    )?;
    let b = tx.query_row(
        "SELECT id, created_at, size, contact_count, checksum FROM backups WHERE id = ?1",
        [&id],
        backup_row,
    )?;
    Ok((b, true))
}

/// Bytes per row of `backup_chunks` (PostgreSQL): what one insert holds in memory.
pub const BACKUP_CHUNK: usize = 1024 * 1024;

fn copy_backup(
    data: &mut dyn std::io::Read,
    len: u64,
    out: &mut dyn std::io::Write,
) -> Result<(), ApiError> {
    let copied = std::io::copy(&mut std::io::Read::take(data, len), out)
        .map_err(|e| ApiError::Internal(format!("copying the backup into the database: {e}")))?;
    if copied != len {
        return Err(ApiError::Internal(format!(
            "the spooled backup has {copied} of its {len} bytes"
        )));
    }
    Ok(())
}

/// Writes a backup as `BACKUP_CHUNK`-byte rows of `backup_chunks`.
struct ChunkWriter<'a, 'c> {
    tx: &'a Tx<'c>,
    backup: &'a str,
    n: i64,
    buf: Vec<u8>,
}

impl ChunkWriter<'_, '_> {
    fn flush_chunk(&mut self) -> Result<(), crate::sql::Error> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.tx
            .prepare_cached("INSERT INTO backup_chunks (backup_id, n, data) VALUES (?1, ?2, ?3)")?
            .execute(params![self.backup, self.n, self.buf])?;
        self.n += 1;
        self.buf.clear();
        Ok(())
    }
}

impl std::io::Write for ChunkWriter<'_, '_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = bytes.len().min(BACKUP_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&bytes[..n]);
        if self.buf.len() == BACKUP_CHUNK {
            self.flush_chunk().map_err(std::io::Error::other)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The device's backup with this checksum, if it uploaded one.
pub fn backup_by_checksum(
    conn: &Conn,
    device: &str,
    checksum: &str,
) -> Result<Option<Backup>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT id, created_at, size, contact_count, checksum FROM backups
             WHERE device_id = ?1 AND checksum = ?2",
            params![device, checksum],
            backup_row,
        )
        .optional()?)
}

/// Bytes taken by the device's `n` newest backups (the ones retention keeps beside a new one).
pub fn newest_backups_bytes(conn: &Conn, device: &str, n: usize) -> Result<u64, ApiError> {
    let total: i64 = conn.query_row(
        &format!(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM (SELECT size FROM backups
             WHERE device_id = ?1 ORDER BY created_at DESC, {order} DESC LIMIT ?2) AS newest",
            order = conn.dialect().insertion_order()
        ),
        params![device, n as i64],
        |r| r.get(0),
    )?;
    Ok(total.max(0) as u64)
}

/// A device's backups, newest first.
pub fn list_backups(conn: &Conn, device: &str) -> Result<Vec<Backup>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, created_at, size, contact_count, checksum FROM backups
         WHERE device_id = ?1 ORDER BY created_at DESC, {order} DESC",
        order = conn.dialect().insertion_order()
    ))?;
    let rows = stmt.query_map([device], backup_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn backup_data(conn: &Conn, device: &str, id: &str) -> Result<Vec<u8>, ApiError> {
    let missing = || ApiError::NotFound(format!("no backup {} for this device", shown(id)));
    if conn.dialect() == crate::sql::Dialect::Sqlite {
        return conn
            .query_row(
                "SELECT data FROM backups WHERE device_id = ?1 AND id = ?2",
                params![device, id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(missing);
    }
    let size: i64 = conn
        .query_row(
            "SELECT size FROM backups WHERE device_id = ?1 AND id = ?2",
            params![device, id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(missing)?;
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut stmt =
        conn.prepare_cached("SELECT data FROM backup_chunks WHERE backup_id = ?1 ORDER BY n")?;
    let mut rows = stmt.query([id])?;
    while let Some(r) = rows.next()? {
        data.extend_from_slice(&r.get::<_, Vec<u8>>(0)?);
    }
    Ok(data)
}

// ------------------------------------------------------------------------- console sign-in

/// Consecutive wrong console sign-ins from one client address, and until when (Unix
/// seconds) its next attempt is refused unread. Failures older than a day are forgotten.
pub fn login_lock(conn: &Conn, client: &str, now: i64) -> Result<(i64, i64), ApiError> {
    Ok(conn
        .prepare_cached(
            "SELECT failures, locked_until FROM console_login_failures
             WHERE client = ?1 AND last_failure > ?2",
        )?
        .query_row(params![client, now - 86_400], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
        .unwrap_or((0, 0)))
}

/// Records a wrong sign-in: `failures` in a row, next attempt not before `locked_until`.
pub fn record_login_failure(
    conn: &Conn,
    client: &str,
    failures: i64,
    now: i64,
    locked_until: i64,
) -> Result<(), ApiError> {
    conn.execute(
        "DELETE FROM console_login_failures WHERE last_failure <= ?1",
        [now - 86_400],
    )?;
    conn.execute(
        "INSERT INTO console_login_failures (client, failures, last_failure, locked_until)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (client) DO UPDATE SET failures = excluded.failures,
           last_failure = excluded.last_failure, locked_until = excluded.locked_until",
        params![client, failures, now, locked_until],
    )?;
    Ok(())
}

pub fn clear_login_failures(conn: &Conn, client: &str) -> Result<(), ApiError> {
    conn.execute(
        "DELETE FROM console_login_failures WHERE client = ?1",
        [client],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The groups a contact is sent for, as one SQL join (what `device_groups` ran per
    /// contact before the page read the group names once): the reference it must equal.
    fn device_groups_by_join(conn: &Conn, user: &str, groups_json: &str) -> Vec<GroupRef> {
        let mut stmt = conn
            .prepare_cached(
                "SELECT g.id, g.name FROM memberships m JOIN groups g ON g.id = m.group_id
                 WHERE m.user_id = ?1 AND m.group_id IN (SELECT value FROM json_each(?2))
                 ORDER BY g.id",
            )
            .unwrap();
        let rows = stmt
            .query_map(params![user, groups_json], |r| {
                Ok(GroupRef {
                    id: r.get(0)?,
                    name: r.get(1)?,
                })
            })
            .unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Group ids in mixed case and beyond ASCII (sorting must be SQLite's byte order),
        /// random memberships and a random entitled subset, including groups no one is in.
        #[test]
        fn device_groups_equal_the_join(
            ids in proptest::collection::btree_set("[a-zA-Z0-9_é中-]{1,6}", 1..8),
            members in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 8), 1..6),
            entitled in proptest::collection::vec(any::<bool>(), 8),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let conn = crate::db::open(&dir.path().join("s.db")).unwrap();
            let ids: Vec<String> = ids.into_iter().collect();
            for (i, id) in ids.iter().enumerate() {
                conn.execute("INSERT INTO groups (id, name) VALUES (?1, ?2)", params![id, format!("name {i}")]).unwrap();
            }
            for (u, row) in members.iter().enumerate() {
                let user = format!("u{u}");
                conn.execute(
                    "INSERT INTO users (id, body, hash, updated_at) VALUES (?1, '{}', 'h', 'now')",
                    [&user],
                ).unwrap();
                // Inserted in reverse order for every other user: the order must come from
                // the sort, not from the rows.
                let mut mine: Vec<&String> =
                    ids.iter().zip(row).filter(|(_, m)| **m).map(|(id, _)| id).collect();
                if u % 2 == 1 {
                    mine.reverse();
                }
                for id in mine {
                    conn.execute("INSERT INTO memberships (group_id, user_id) VALUES (?1, ?2)", params![id, user]).unwrap();
                }
            }
            let wanted: Vec<&String> =
                ids.iter().zip(&entitled).filter(|(_, e)| **e).map(|(id, _)| id).collect();
            let groups_json = serde_json::to_string(&wanted).unwrap();
            let groups = EntitledGroups::read(&conn, &groups_json).unwrap();
            for u in 0..members.len() {
                let user = format!("u{u}");
                prop_assert_eq!(
                    device_groups(&conn, &user, &groups).unwrap(),
                    device_groups_by_join(&conn, &user, &groups_json)
                );
            }
        }
    }
}
