//! What devices were sent, kept once however many devices share it: each contact body as it
//! was sent (`contact_versions`, keyed by the hash it was sent with), and what a device holds
//! according to its last status report (`held_contacts`), for the console.

use contacts_agent_protocol::ContactData;
use rusqlite::{params, Connection};
use serde::Serialize;

use crate::error::ApiError;
use crate::repo;
use crate::snapshot;

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
pub fn held_contacts(conn: &Connection, device_id: &str) -> Result<Option<HeldContacts>, ApiError> {
    let device = repo::get_device(conn, device_id)?;
    let Some((report, _)) = repo::status(conn, device_id)? else {
        return Ok(None);
    };
    let Some(token) = report.sync_token else {
        return Ok(None);
    };
    let Some(held) = repo::load_snapshot(conn, device_id, &token)? else {
        return Ok(None);
    };
    let now = repo::entitled_entries(conn, &device)?;
    let changes = snapshot::delta(&held, &now);
    let changed: std::collections::HashSet<&str> = changes
        .iter()
        .map(|c| match c {
            snapshot::Change::Upsert(id) | snapshot::Change::Delete(id) => id.as_str(),
        })
        .collect();
    let mut body = conn.prepare_cached("SELECT body FROM contact_versions WHERE hash = ?1")?;
    let mut contacts = Vec::with_capacity(held.len());
    for (id, hash) in held {
        let contact = match body
            .query_row([&hash], |r| r.get::<_, String>(0))
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })? {
            Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
                ApiError::Internal(format!("stored contact version unreadable: {e}"))
            })?),
            None => None,
        };
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

/// Keeps each contact body as it is being sent, under the hash it is sent with, unless
/// already kept: after the first device of an entitlement, this is one key lookup per
/// contact and no write.
pub fn keep_sent<'a>(
    conn: &Connection,
    sent: impl IntoIterator<Item = (&'a str, &'a ContactData)>,
) -> Result<(), ApiError> {
    let mut missing = Vec::new();
    {
        let mut known =
            conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM contact_versions WHERE hash = ?1)")?;
        for (hash, contact) in sent {
            if !known.query_row([hash], |r| r.get::<_, bool>(0))? {
                missing.push((hash, contact));
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO contact_versions (hash, body) VALUES (?1, ?2) ON CONFLICT (hash) DO NOTHING",
        )?;
        for (hash, contact) in missing {
            let body =
                serde_json::to_string(contact).map_err(|e| ApiError::Internal(e.to_string()))?;
            insert.execute(params![hash, body])?;
        }
    }
    tx.commit()?;
    Ok(())
}
