//! What devices were sent, kept once however many devices share it (issue 15).
//!
//! - An **entitled set** (the sorted `(id, hash)` set a device is sent) is stored once, keyed
//!   by its fingerprint; a **sync token** is a small row naming a set.
//! - An **entitlement** (the groups a device is sent and its allow-list) caches its set as of
//!   a **stamp**, the largest version of its groups (schema 11's triggers stamp only the groups
//!   a change touches): devices sharing an entitlement compute the set once per directory
//!   version, and a device whose token carries the current entitlement and stamp gets its
//!   no-change answer without computing anything.
//! - The **delta** between two sets is cached for every device making that move, page by page.
//! - Each **contact body as sent** is kept once per user and the hash it was sent with
//!   (`contact_versions`, keyed by `(user_id, hash)`, schema 15: a page's users are
//!   consecutive, so its lookups and inserts land together); what a device holds per its last
//!   report is `held_contacts`, for the console.
//! - Sets no token or entitlement names are **collected** with their deltas and the contact
//!   versions no remaining set names by `(id, hash)`. A token whose set is gone answers 410
//!   (the device fetches all).
//! - A set or delta is stored in **chunks** of `snapshot::CHUNK_RECORDS` records (schema 14),
//!   so a page reads the chunks its records are in, not the whole set.

use std::collections::{BTreeSet, HashSet};

use crate::sql::{params, Conn, OptionalExtension, Tx};
use contacts_agent_protocol::fields::AllowList;
use contacts_agent_protocol::hash::{set_fingerprint, sha256_hex};
use contacts_agent_protocol::ContactData;
use serde::Serialize;

use crate::error::ApiError;
use crate::repo::{self, Device};
use crate::snapshot::{self, Change, Entries, CHUNK_RECORDS};

/// Tokens kept per device besides the one it last reported; an older token answers 410.
pub const KEEP_TOKENS: i64 = 3;

/// What decides a device's set, read at one moment.
pub struct Entitlement {
    /// The groups whose members the device is sent (`repo::entitled_groups_json`).
    pub groups_json: String,
    /// The policy's allow-list; `None` is every field.
    pub allowed: Option<AllowList>,
    /// SHA-256 of the canonical JSON of both.
    key: String,
    /// The largest version of its groups when it was read.
    stamp: i64,
}

/// The device's entitlement now: a few key lookups (its policy, its user's groups, the group
/// list and versions), whatever the size of the directory's contacts.
pub fn entitlement(conn: &Conn, d: &Device) -> Result<Entitlement, ApiError> {
    let groups_json = repo::entitled_groups_json(conn, d)?;
    let allowed = repo::device_fields(conn, d)?;
    let fields: Option<Vec<&str>> = allowed
        .as_ref()
        .map(|a| a.fields().map(|f| f.as_str()).collect());
    let canonical = serde_json::json!({ "groups": serde_json::from_str::<serde_json::Value>(&groups_json)
        .map_err(|e| ApiError::Internal(e.to_string()))?, "fields": fields });
    let stamp: i64 = conn
        .prepare_cached(&format!(
            "SELECT COALESCE(MAX(version), 0) FROM groups
             WHERE id IN (SELECT g.value FROM {})",
            conn.dialect().json_values("?1", "g")
        ))?
        .query_row([&groups_json], |r| r.get(0))?;
    Ok(Entitlement {
        key: sha256_hex(canonical.to_string().as_bytes()),
        groups_json,
        allowed,
        stamp,
    })
}

/// A sync token and the set it names.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub token: String,
    pub set_id: i64,
}

/// How a sync from a token (or from nothing) starts.
pub enum Start {
    /// Nothing changed for this device: the same token back.
    Unchanged(String),
    /// Send the changes from `base` (`None`: everything) to `target`, a new token.
    Send {
        base: Option<TokenSet>,
        target: TokenSet,
    },
}

struct TokenRow {
    set_id: i64,
    entitlement_id: Option<i64>,
    stamp: i64,
}

fn token_row(conn: &Conn, device: &str, token: &str) -> Result<Option<TokenRow>, ApiError> {
    Ok(conn
        .prepare_cached(
            "SELECT set_id, entitlement_id, stamp FROM sync_tokens WHERE token = ?1 AND device_id = ?2",
        )?
        .query_row(params![token, device], |r| {
            Ok(TokenRow {
                set_id: r.get(0)?,
                entitlement_id: r.get(1)?,
                stamp: r.get(2)?,
            })
        })
        .optional()?)
}

/// The set a token of this device names, if both still exist.
pub fn token_set(conn: &Conn, device: &str, token: &str) -> Result<Option<i64>, ApiError> {
    match token_row(conn, device, token)? {
        Some(r) if set_exists(conn, r.set_id)? => Ok(Some(r.set_id)),
        _ => Ok(None),
    }
}

fn set_exists(conn: &Conn, id: i64) -> Result<bool, ApiError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM entitled_sets WHERE id = ?1)")?
        .query_row([id], |r| r.get(0))?)
}

/// Starts a sync of device `d` with entitlement `ent` from `since` (a completed sync token,
/// or none for everything). `Ok(None)`: the token is unknown, not this device's, or names a
/// collected set (410).
pub fn start_sync(
    conn: &Conn,
    d: &Device,
    ent: &Entitlement,
    since: Option<&str>,
) -> Result<Option<Start>, ApiError> {
    let base = match since {
        None => None,
        Some(t) => match token_row(conn, &d.id, t)? {
            None => return Ok(None),
            Some(row) => Some((t.to_owned(), row)),
        },
    };
    let cached: Option<(i64, i64, i64)> = conn
        .prepare_cached("SELECT id, set_id, stamp FROM entitlements WHERE key = ?1")?
        .query_row([&ent.key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if let (Some((t, row)), Some((ent_id, _, _))) = (&base, cached) {
        if row.entitlement_id == Some(ent_id) && row.stamp == ent.stamp {
            // The O(1) path: none of the device's groups changed since this token.
            return Ok(Some(Start::Unchanged(t.clone())));
        }
    }
    if let Some((_, row)) = &base {
        if !set_exists(conn, row.set_id)? {
            return Ok(None);
        }
    }
    let mut shared = cached.filter(|c| c.2 == ent.stamp).map(|c| c.1);
    let mut computed: Option<(String, Entries)> = None;
    loop {
        if shared.is_none() && computed.is_none() {
            let entries = repo::entitled_entries(conn, &ent.groups_json, ent.allowed.as_ref())?;
            let fp = set_fingerprint(entries.iter().map(|(a, b)| (a.as_str(), b.as_str())));
            computed = Some((fp, entries));
        }
        // IMMEDIATE: this transaction reads, then writes; taking the write lock first lets
        // the busy timeout wait for another worker instead of failing the upgrade.
        let tx = conn.transaction()?;
        let set_id = match (&computed, shared) {
            (Some((fp, entries)), _) => store_set(&tx, fp, entries)?,
            (None, Some(id)) if set_exists(&tx, id)? => id,
            (None, _) => {
                // Collected between the look-up and this transaction: compute it.
                shared = None;
                continue;
            }
        };
        tx.prepare_cached(
            "INSERT INTO entitlements (key, set_id, stamp) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET set_id = excluded.set_id, stamp = excluded.stamp
             WHERE excluded.stamp >= entitlements.stamp",
        )?
        .execute(params![ent.key, set_id, ent.stamp])?;
        let ent_id: i64 = tx
            .prepare_cached("SELECT id FROM entitlements WHERE key = ?1")?
            .query_row([&ent.key], |r| r.get(0))?;
        if let Some((t, row)) = &base {
            if row.set_id == set_id {
                // The directory changed, but not for this device.
                tx.prepare_cached(
                    "UPDATE sync_tokens SET entitlement_id = ?2, stamp = ?3 WHERE token = ?1",
                )?
                .execute(params![t, ent_id, ent.stamp])?;
                tx.commit()?;
                return Ok(Some(Start::Unchanged(t.clone())));
            }
        }
        let token = save_token(&tx, &d.id, set_id, ent_id, ent.stamp)?;
        tx.commit()?;
        return Ok(Some(Start::Send {
            base: base.map(|(token, row)| TokenSet {
                token,
                set_id: row.set_id,
            }),
            target: TokenSet { token, set_id },
        }));
    }
}

/// The set's id, storing it unless a device with the same entitlement (or another one with
/// the same contacts) already did.
fn store_set(tx: &Tx, fp: &str, entries: &Entries) -> Result<i64, ApiError> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO entitled_sets (fingerprint, record_count) VALUES (?1, ?2)
             ON CONFLICT (fingerprint) DO NOTHING",
        )?
        .execute(params![fp, entries.len() as i64])?;
    let id = tx
        .prepare_cached("SELECT id FROM entitled_sets WHERE fingerprint = ?1")?
        .query_row([fp], |r| r.get(0))?;
    if inserted == 1 {
        insert_chunks(tx, Stored::Set(id), &snapshot::encode(entries))?;
    }
    Ok(id)
}

/// What stored chunks belong to: a set, or the delta from one set to another.
#[derive(Debug, Clone, Copy)]
enum Stored {
    Set(i64),
    Delta { base: i64, target: i64 },
}

/// Stores `blob`, an encoded set or delta, as its chunks (in the caller's transaction, with
/// the row that names it).
fn insert_chunks(tx: &Conn, owner: Stored, blob: &[u8]) -> crate::sql::Result<()> {
    // SQLite gives a new row the id of a deleted one: chunks some earlier fault left under
    // this id (collection removes them with their set) must not be read as this set's.
    match owner {
        Stored::Set(id) => tx.execute("DELETE FROM set_chunks WHERE set_id = ?1", [id])?,
        Stored::Delta { base, target } => tx.execute(
            "DELETE FROM delta_chunks WHERE base_id = ?1 AND target_id = ?2",
            [base, target],
        )?,
    };
    let mut insert = tx.prepare_cached(match owner {
        Stored::Set(_) => "INSERT INTO set_chunks (set_id, chunk_no, records) VALUES (?1, ?2, ?3)",
        Stored::Delta { .. } => {
            "INSERT INTO delta_chunks (base_id, target_id, chunk_no, records) VALUES (?1, ?2, ?3, ?4)"
        }
    })?;
    for (no, chunk) in snapshot::chunks(blob, CHUNK_RECORDS)
        .into_iter()
        .enumerate()
    {
        match owner {
            Stored::Set(id) => insert.execute(params![id, no as i64, chunk])?,
            Stored::Delta { base, target } => {
                insert.execute(params![base, target, no as i64, chunk])?
            }
        };
    }
    Ok(())
}

/// Chunks `first..=last` of a set or delta as stored, in order (a missing one is simply
/// absent: `snapshot` refuses the gap).
fn read_chunks(
    conn: &Conn,
    owner: Stored,
    first: usize,
    last: usize,
) -> Result<Vec<(usize, Vec<u8>)>, ApiError> {
    let number = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let row = |r: &crate::sql::Row<'_>| -> crate::sql::Result<(usize, Vec<u8>)> {
        // A negative number cannot be a chunk's: it is left for `snapshot` to refuse.
        Ok((
            usize::try_from(r.get::<_, i64>(0)?).unwrap_or(usize::MAX),
            r.get(1)?,
        ))
    };
    Ok(match owner {
        Stored::Set(id) => conn
            .prepare_cached(
                "SELECT chunk_no, records FROM set_chunks
                 WHERE set_id = ?1 AND chunk_no BETWEEN ?2 AND ?3 ORDER BY chunk_no",
            )?
            .query_map(params![id, number(first), number(last)], row)?
            .collect::<Result<_, _>>()?,
        Stored::Delta { base, target } => conn
            .prepare_cached(
                "SELECT chunk_no, records FROM delta_chunks
                 WHERE base_id = ?1 AND target_id = ?2 AND chunk_no BETWEEN ?3 AND ?4
                 ORDER BY chunk_no",
            )?
            .query_map(params![base, target, number(first), number(last)], row)?
            .collect::<Result<_, _>>()?,
    })
}

/// The records `offset..offset + limit` of a set or delta of `total` records, reading only
/// the chunks they are in.
fn stored_window<T>(
    conn: &Conn,
    owner: Stored,
    total: usize,
    offset: usize,
    limit: usize,
    parse: impl Fn(&[u8]) -> Option<T>,
) -> Result<Vec<T>, ApiError> {
    let Some((first, last)) = snapshot::chunk_span(offset, limit, total, CHUNK_RECORDS) else {
        return Ok(Vec::new());
    };
    let chunks = read_chunks(conn, owner, first, last)?;
    snapshot::window_of_chunks(
        chunks.iter().map(|(no, c)| (*no, c.as_slice())),
        offset,
        limit,
        total,
        CHUNK_RECORDS,
        parse,
    )
    .ok_or_else(|| unreadable(owner))
}

/// A whole set or delta of `total` records, encoded, from all its chunks.
fn stored_whole(conn: &Conn, owner: Stored, total: usize) -> Result<Vec<u8>, ApiError> {
    let chunks = read_chunks(conn, owner, 0, usize::MAX)?;
    snapshot::join_chunks(chunks, total, CHUNK_RECORDS).ok_or_else(|| unreadable(owner))
}

/// A stored set or delta that does not read back as written: a server fault, never a page.
fn unreadable(owner: Stored) -> ApiError {
    ApiError::Internal(
        match owner {
            Stored::Set(_) => "stored set unreadable",
            Stored::Delta { .. } => "stored delta unreadable",
        }
        .into(),
    )
}

/// A record count as stored (a negative one is unreadable, not a huge number).
fn count(owner: Stored, n: i64) -> Result<usize, ApiError> {
    usize::try_from(n).map_err(|_| unreadable(owner))
}

/// A new token naming `set_id`; keeps the device's newest `KEEP_TOKENS` and the one it last
/// reported holding, and collects what the dropped ones alone kept.
fn save_token(
    tx: &Tx,
    device: &str,
    set_id: i64,
    ent_id: i64,
    stamp: i64,
) -> Result<String, ApiError> {
    let token = format!("s{}", repo::random_hex(16)?);
    let next: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM sync_tokens WHERE device_id = ?1")?
        .query_row([device], |r| r.get(0))?;
    tx.prepare_cached(
        "INSERT INTO sync_tokens (token, device_id, seq, set_id, entitlement_id, stamp)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![token, device, next, set_id, ent_id, stamp])?;
    let dropped: Vec<i64> = tx
        .prepare_cached(&format!(
            "DELETE FROM sync_tokens WHERE device_id = ?1 AND seq <= ?2
               AND token IS DISTINCT FROM (SELECT {} FROM device_status WHERE device_id = ?1)
             RETURNING set_id",
            tx.dialect().json_text("report", "sync_token")
        ))?
        .query_map(params![device, next - KEEP_TOKENS], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut orphaned = false;
    for id in dropped {
        orphaned |= !tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM sync_tokens WHERE set_id = ?1)
                     OR EXISTS (SELECT 1 FROM entitlements WHERE set_id = ?1)",
            )?
            .query_row([id], |r| r.get::<_, bool>(0))?;
    }
    if orphaned {
        collect(tx)?;
    }
    Ok(token)
}

/// Drops entitlements no token carries, sets nothing names, the deltas between them, and the
/// contact versions no remaining set holds. Runs when a dropped token was the last to name
/// its set: about once per directory version, not once per device.
pub fn collect(tx: &Tx) -> Result<(), ApiError> {
    tx.execute(
        "DELETE FROM entitlements WHERE NOT EXISTS
           (SELECT 1 FROM sync_tokens t WHERE t.entitlement_id = entitlements.id)",
        params![],
    )?;
    let sets: Vec<i64> = tx
        .prepare_cached(
            "DELETE FROM entitled_sets
             WHERE NOT EXISTS (SELECT 1 FROM sync_tokens t WHERE t.set_id = entitled_sets.id)
               AND NOT EXISTS (SELECT 1 FROM entitlements e WHERE e.set_id = entitled_sets.id)
             RETURNING id",
        )?
        .query_map(params![], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if sets.is_empty() {
        return Ok(());
    }
    // Chunks go with their set or delta, by key (no scan of every chunk).
    for id in sets {
        tx.prepare_cached("DELETE FROM set_chunks WHERE set_id = ?1")?
            .execute([id])?;
    }
    let deltas: Vec<(i64, i64)> = tx
        .prepare_cached(
            "DELETE FROM set_deltas WHERE base_id NOT IN (SELECT id FROM entitled_sets)
                OR target_id NOT IN (SELECT id FROM entitled_sets)
             RETURNING base_id, target_id",
        )?
        .query_map(params![], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (base, target) in deltas {
        tx.prepare_cached("DELETE FROM delta_chunks WHERE base_id = ?1 AND target_id = ?2")?
            .execute([base, target])?;
    }
    let held: HashSet<(String, String)> =
        named_versions(tx)?.ok_or_else(|| ApiError::Internal("stored set unreadable".into()))?;
    let versions: Vec<(String, String)> = tx
        .prepare_cached("SELECT user_id, hash FROM contact_versions")?
        .query_map(params![], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut delete =
        tx.prepare_cached("DELETE FROM contact_versions WHERE user_id = ?1 AND hash = ?2")?;
    for (id, h) in versions.iter().filter(|v| !held.contains(*v)) {
        delete.execute([id, h])?;
    }
    Ok(())
}

/// Every `(id, hash)` record some stored set names, each once; `None` when a chunk does not
/// decode.
fn named_versions<C: Default + Extend<(String, String)>>(
    tx: &Conn,
) -> crate::sql::Result<Option<C>> {
    let mut stmt = tx.prepare_cached("SELECT records FROM set_chunks")?;
    let mut rows = stmt.query(params![])?;
    let mut named = C::default();
    // Every chunk holds whole records: each is decoded alone, in any order.
    while let Some(r) = rows.next()? {
        let blob: Vec<u8> = r.get(0)?;
        let Some(entries) = snapshot::decode(&blob) else {
            return Ok(None);
        };
        named.extend(entries);
    }
    Ok(Some(named))
}

/// How many records a stored set holds; `None` when it was collected.
fn set_count(conn: &Conn, id: i64) -> Result<Option<usize>, ApiError> {
    conn.prepare_cached("SELECT record_count FROM entitled_sets WHERE id = ?1")?
        .query_row([id], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|n| count(Stored::Set(id), n))
        .transpose()
}

/// A stored set's entries, from all its chunks; `None` when it was collected.
pub fn set_entries(conn: &Conn, id: i64) -> Result<Option<Entries>, ApiError> {
    let Some(total) = set_count(conn, id)? else {
        return Ok(None);
    };
    let blob = stored_whole(conn, Stored::Set(id), total)?;
    snapshot::decode(&blob)
        .map(Some)
        .ok_or_else(|| unreadable(Stored::Set(id)))
}

/// The fingerprint of the set a device's token names, without reading the set: `None` when
/// the token is unknown, not this device's, or its set was collected. Every status report asks
/// this, so it must not decode ~10,000 entries to compare one hash.
pub fn token_fingerprint(
    conn: &Conn,
    device: &str,
    token: &str,
) -> Result<Option<String>, ApiError> {
    Ok(conn
        .prepare_cached(
            "SELECT s.fingerprint FROM sync_tokens t JOIN entitled_sets s ON s.id = t.set_id
             WHERE t.token = ?1 AND t.device_id = ?2",
        )?
        .query_row(params![token, device], |r| r.get(0))
        .optional()?)
}

/// The set a device's token names, with its fingerprint: `None` when the token is unknown,
/// not this device's, or its set was collected.
pub fn token_entries(
    conn: &Conn,
    device: &str,
    token: &str,
) -> Result<Option<(String, Entries)>, ApiError> {
    let Some(set_id) = token_set(conn, device, token)? else {
        return Ok(None);
    };
    let fp = conn
        .prepare_cached("SELECT fingerprint FROM entitled_sets WHERE id = ?1")?
        .query_row([set_id], |r| r.get(0))
        .optional()?;
    let (Some(fp), Some(entries)) = (fp, set_entries(conn, set_id)?) else {
        return Ok(None);
    };
    Ok(Some((fp, entries)))
}

/// The changes from set `base` (`None`: from nothing) to set `target`, records `offset..
/// offset + limit` of them and how many there are; `None` when either set was collected. A
/// delta between two sets is computed once and kept for every page and every device making
/// the same move. A page reads only the chunks its records are in.
pub fn changes(
    conn: &Conn,
    base: Option<i64>,
    target: i64,
    offset: usize,
    limit: usize,
) -> Result<Option<(Vec<Change>, usize)>, ApiError> {
    // The count and the chunks from one snapshot: a set collected between the two reads is
    // a 410 (gone), not a set with chunks missing (500).
    let read = conn.read_transaction()?;
    let Some(base) = base else {
        let Some(total) = set_count(&read, target)? else {
            return Ok(None);
        };
        let page = stored_window(
            &read,
            Stored::Set(target),
            total,
            offset,
            limit,
            snapshot::set_record_as_upsert,
        )?;
        read.commit()?;
        return Ok(Some((page, total)));
    };
    let delta = Stored::Delta { base, target };
    let kept: Option<i64> = read
        .prepare_cached(
            "SELECT record_count FROM set_deltas WHERE base_id = ?1 AND target_id = ?2",
        )?
        .query_row([base, target], |r| r.get(0))
        .optional()?;
    if let Some(total) = kept {
        let total = count(delta, total)?;
        let page = stored_window(&read, delta, total, offset, limit, snapshot::change_record)?;
        read.commit()?;
        return Ok(Some((page, total)));
    }
    let (Some(old), Some(new)) = (set_entries(&read, base)?, set_entries(&read, target)?) else {
        return Ok(None);
    };
    read.commit()?;
    let changes = snapshot::delta(&old, &new);
    let blob = snapshot::encode_changes(&changes);
    let tx = conn.transaction()?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO set_deltas (base_id, target_id, record_count) VALUES (?1, ?2, ?3)
             ON CONFLICT (base_id, target_id) DO NOTHING",
        )?
        .execute(params![base, target, changes.len() as i64])?;
    if inserted == 1 {
        insert_chunks(&tx, delta, &blob)?;
    }
    tx.commit()?;
    let total = changes.len();
    let page = changes.into_iter().skip(offset).take(limit).collect();
    Ok(Some((page, total)))
}

/// The device's set now, without storing anything: its entitlement's cached set when that is
/// current, else computed.
fn current_entries(conn: &Conn, d: &Device) -> Result<Entries, ApiError> {
    let ent = entitlement(conn, d)?;
    let cached: Option<i64> = conn
        .prepare_cached("SELECT set_id FROM entitlements WHERE key = ?1 AND stamp = ?2")?
        .query_row(params![ent.key, ent.stamp], |r| r.get(0))
        .optional()?;
    if let Some(entries) = cached
        .map(|id| set_entries(conn, id))
        .transpose()?
        .flatten()
    {
        return Ok(entries);
    }
    repo::entitled_entries(conn, &ent.groups_json, ent.allowed.as_ref())
}

/// Schema 11's step: every stored snapshot becomes a set (once per distinct one) and a token
/// naming it, so the tokens phones hold keep working; then the snapshots table goes. A token
/// carries no entitlement yet, so its next sync compares sets once.
pub fn migrate_snapshots(tx: &Conn) -> crate::sql::Result<()> {
    let rows: Vec<(String, String, i64, Vec<u8>)> = tx
        .prepare_cached("SELECT token, device_id, seq, entries FROM snapshots")?
        .query_map(params![], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    for (token, device, seq, blob) in rows {
        // An unreadable snapshot is left behind: its token answers 410 and the phone fetches
        // everything, as it would have.
        let Some(entries) = snapshot::decode(&blob) else {
            continue;
        };
        let fp = set_fingerprint(entries.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        tx.execute(
            "INSERT INTO entitled_sets (fingerprint, entries) VALUES (?1, ?2)
             ON CONFLICT (fingerprint) DO NOTHING",
            params![fp, blob],
        )?;
        tx.execute(
            "INSERT INTO sync_tokens (token, device_id, seq, set_id, entitlement_id, stamp)
             SELECT ?1, ?2, ?3, id, NULL, 0 FROM entitled_sets WHERE fingerprint = ?4",
            params![token, device, seq, fp],
        )?;
    }
    tx.execute_batch("DROP TABLE snapshots")
}

/// Schema 14's step: every stored set and delta is cut into chunks (`set_chunks`,
/// `delta_chunks`) and its row given its record count; then the blob columns go. One set at a
/// time, so a migration of many large sets holds one in memory.
pub fn migrate_chunks(tx: &Conn) -> crate::sql::Result<()> {
    let sets: Vec<i64> = tx
        .prepare_cached("SELECT id FROM entitled_sets ORDER BY id")?
        .query_map(params![], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in sets {
        let blob: Vec<u8> = tx.query_row(
            "SELECT entries FROM entitled_sets WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?;
        insert_chunks(tx, Stored::Set(id), &blob)?;
        tx.execute(
            "UPDATE entitled_sets SET record_count = ?2 WHERE id = ?1",
            params![id, snapshot::count_records(&blob) as i64],
        )?;
    }
    let deltas: Vec<(i64, i64)> = tx
        .prepare_cached("SELECT base_id, target_id FROM set_deltas ORDER BY base_id, target_id")?
        .query_map(params![], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (base, target) in deltas {
        let blob: Vec<u8> = tx.query_row(
            "SELECT changes FROM set_deltas WHERE base_id = ?1 AND target_id = ?2",
            [base, target],
            |r| r.get(0),
        )?;
        insert_chunks(tx, Stored::Delta { base, target }, &blob)?;
        tx.execute(
            "UPDATE set_deltas SET record_count = ?3 WHERE base_id = ?1 AND target_id = ?2",
            params![base, target, snapshot::count_records(&blob) as i64],
        )?;
    }
    tx.execute_batch(
        "ALTER TABLE entitled_sets DROP COLUMN entries; ALTER TABLE set_deltas DROP COLUMN changes",
    )
}

/// Schema 15's step: each version a stored set names is copied under that record's user id
/// (the old table, `contact_versions_14`, knows only the hash; two users with the same body
/// get a row each); versions no set names are dropped, as collection would drop them. Then
/// the old table goes. An unreadable chunk fails the migration: its versions are not dropped
/// on a guess.
pub fn migrate_versions(tx: &Conn) -> crate::sql::Result<()> {
    // In key order: the new table is filled front to back.
    let named: BTreeSet<(String, String)> = named_versions(tx)?.ok_or_else(|| {
        crate::sql::Error::Other("schema 15: a stored set's chunk is unreadable".into())
    })?;
    let mut copy = tx.prepare_cached(
        "INSERT INTO contact_versions (user_id, hash, body)
         SELECT CAST(?1 AS TEXT), hash, body FROM contact_versions_14 WHERE hash = ?2",
    )?;
    for (id, hash) in &named {
        copy.execute([id, hash])?;
    }
    drop(copy);
    tx.execute_batch("DROP TABLE contact_versions_14")
}

/// A contact a device holds, as it was sent to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldContact {
    pub id: String,
    /// The hash it was sent with (what the device's fingerprint covers).
    pub hash: String,
    /// The contact exactly as it was sent (allow-list applied, with its groups). `None` only
    /// for a contact sent before this server kept bodies (schema 9); a sync since fills it.
    pub contact: Option<ContactData>,
    /// The server would now send this contact differently, or delete it.
    pub pending: bool,
}

/// What a device holds per its last status report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldContacts {
    /// The sync token the report named.
    pub sync_token: String,
    /// Sorted by id.
    pub contacts: Vec<HeldContact>,
    /// Changes the device's next sync would bring: contacts changed or removed since (the
    /// `pending` ones above) plus contacts it would receive anew.
    pub pending: usize,
}

/// The contacts device `device_id` last reported holding, each exactly as it was sent, and
/// how many changes the server would send it now. `Ok(None)`: no status report yet, or the
/// report names a sync token the server no longer keeps. An unknown device is `NotFound`.
///
/// Stable for the console (issue 17): the signature stays; what it costs is one read of the
/// device's set and one body lookup per contact, plus the device's current entitled set.
pub fn held_contacts(conn: &Conn, device_id: &str) -> Result<Option<HeldContacts>, ApiError> {
    let device = repo::get_device(conn, device_id)?;
    let Some((report, _)) = repo::status(conn, device_id)? else {
        return Ok(None);
    };
    let Some(token) = report.sync_token else {
        return Ok(None);
    };
    let Some((_, held)) = token_entries(conn, device_id, &token)? else {
        return Ok(None);
    };
    let now = current_entries(conn, &device)?;
    let changes = snapshot::delta(&held, &now);
    let changed: HashSet<&str> = changes
        .iter()
        .map(|c| match c {
            snapshot::Change::Upsert(id) | snapshot::Change::Delete(id) => id.as_str(),
        })
        .collect();
    let mut body =
        conn.prepare_cached("SELECT body FROM contact_versions WHERE user_id = ?1 AND hash = ?2")?;
    let mut contacts = Vec::with_capacity(held.len());
    for (id, hash) in held {
        let contact = body
            .query_row([&id, &hash], |r| r.get::<_, String>(0))
            .optional()?
            .map(|json| repo::parse_contact(&json))
            .transpose()?;
        contacts.push(HeldContact {
            pending: changed.contains(id.as_str()),
            id,
            hash,
            contact,
        });
    }
    Ok(Some(HeldContacts {
        sync_token: token,
        contacts,
        pending: changes.len(),
    }))
}

/// How many kept versions a page's id range may hold per contact it sends before
/// `keep_sent` looks its contacts up one by one instead (a sparse page, or a delta's few ids
/// far apart, whose range would read many versions it does not send).
const RANGE_READ_PER_CONTACT: usize = 4;

/// Keeps each contact body as it is being sent, under its user's id and the hash it is sent
/// with, unless already kept: after the first device of an entitlement, this is one read and
/// no write. `sent` is `(user id, hash, JSON as sent)` in the page's order (by id), so the
/// lookups and inserts of a page fall in one stretch of the key.
pub fn keep_sent<'a>(
    conn: &Conn,
    sent: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Result<(), ApiError> {
    let sent: Vec<(&str, &str, &str)> = sent.into_iter().collect();
    let (Some(low), Some(high)) = (
        sent.iter().map(|s| s.0).min(),
        sent.iter().map(|s| s.0).max(),
    ) else {
        return Ok(());
    };
    let mut missing = Vec::new();
    {
        // The lookups in one read transaction: one WAL read lock for the page, not one per
        // lookup. The writes below take their own transaction: upgrading this one to write
        // could fail (SQLITE_BUSY_SNAPSHOT) when another request wrote in between.
        let read = conn.read_transaction()?;
        // The versions kept in the page's id range, in one read (500 lookups were half of
        // this function's time, and a cold page's all miss), unless the range holds many
        // more than the page.
        let limit = sent.len() * RANGE_READ_PER_CONTACT;
        let in_range: Vec<(String, String)> = read
            .prepare_cached(
                "SELECT user_id, hash FROM contact_versions
                 WHERE user_id >= ?1 AND user_id <= ?2 LIMIT ?3",
            )?
            .query_map(params![low, high, limit as i64 + 1], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        if in_range.len() <= limit {
            let kept: HashSet<(&str, &str)> = in_range
                .iter()
                .map(|(id, hash)| (id.as_str(), hash.as_str()))
                .collect();
            missing.extend(
                sent.iter()
                    .filter(|(id, hash, _)| !kept.contains(&(*id, *hash))),
            );
        } else {
            let mut known = read.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM contact_versions WHERE user_id = ?1 AND hash = ?2)",
            )?;
            for s in &sent {
                if !known.query_row([s.0, s.1], |r| r.get::<_, bool>(0))? {
                    missing.push(*s);
                }
            }
        }
        read.commit()?;
    }
    if missing.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO contact_versions (user_id, hash, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id, hash) DO NOTHING",
        )?;
        for (id, hash, json) in missing {
            insert.execute(params![id, hash, json])?;
        }
    }
    tx.commit()?;
    Ok(())
}
