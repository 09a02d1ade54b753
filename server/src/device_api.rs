//! The device API: enrollment, policy, contact deltas, photos, status, commands.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use contacts_agent_protocol::photos::{
    BatchPhoto, PhotoBatch, PhotoBatchRequest, MAX_PHOTO_BATCH, MAX_PHOTO_BATCH_BYTES,
};
use contacts_agent_protocol::wire::{
    Command, CommandKind, CommandList, ContactsPage, EnrollRequest, EnrollResponse, StatusReport,
    Upsert,
};

use serde_json::value::RawValue;

use crate::device_list;
use crate::entitled_sets::{self, Start, TokenSet};
use crate::error::ApiError;
use crate::http::{Params, Request, Response};
use crate::input::{self, json as body};
use crate::repo::{self, Device};
use crate::routes::Ctx;
use crate::snapshot::{self, Change, Since};

pub const DEFAULT_PAGE: usize = 500;
/// A larger `limit` is read as this one.
pub const MAX_PAGE: usize = 2000;

pub(crate) fn device(ctx: &Ctx, req: &Request) -> Result<Device, ApiError> {
    let token = req.bearer().ok_or(ApiError::Unauthorized)?;
    repo::device_by_token(&ctx.conn, token)
}

pub fn enroll(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    let body: EnrollRequest = body(req)?;
    let (device_id, token) =
        repo::enroll(&ctx.conn, body.enrollment_code.trim(), &body.device_name)?;
    Response::json(201, &EnrollResponse { device_id, token })
}

pub fn policy(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    let d = device(ctx, req)?;
    let policy = repo::device_policy(&ctx.conn, &d)?;
    let etag = format!("\"v{}\"", policy.version);
    if req.header("if-none-match") == Some(etag.as_str()) {
        return Ok(Response::empty(304).with_header("ETag", etag));
    }
    Ok(Response::json(200, &policy)?.with_header("ETag", etag))
}

pub fn contacts(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    let d = device(ctx, req)?;
    let limit = req.query_usize("limit", DEFAULT_PAGE, MAX_PAGE)?;
    if limit == 0 {
        return Err(ApiError::BadRequest(
            "query parameter limit must be at least 1".into(),
        ));
    }
    let since = snapshot::parse_since(req.query("since"))
        .ok_or_else(|| ApiError::Gone("unknown sync token; fetch the full set".into()))?;
    let gone = || ApiError::Gone("sync token expired or unknown; fetch the full set".into());
    let conn = &ctx.conn;
    let ent = entitled_sets::entitlement(conn, &d)?;
    let (base, target, offset) = match since {
        Since::Nothing | Since::Token(_) => {
            let token = match &since {
                Since::Token(t) => Some(t.as_str()),
                _ => None,
            };
            match entitled_sets::start_sync(conn, &d, &ent, token)?.ok_or_else(gone)? {
                Start::Unchanged(t) => return unchanged(&t, d.policy_version),
                Start::Send { base, target } => (base, target, 0),
            }
        }
        Since::Cursor {
            base,
            target,
            offset,
        } => {
            let set = |t: String| -> Result<TokenSet, ApiError> {
                let set_id = entitled_sets::token_set(conn, &d.id, &t)?.ok_or_else(gone)?;
                Ok(TokenSet { token: t, set_id })
            };
            (base.map(set).transpose()?, set(target)?, offset)
        }
    };
    let full = base.is_none();
    let (changes, total) = entitled_sets::changes(
        conn,
        base.as_ref().map(|b| b.set_id),
        target.set_id,
        offset,
        limit,
    )?
    .ok_or_else(gone)?;
    let mut page = ContactsPage::<Box<RawValue>> {
        upserts: Vec::new(),
        deletes: Vec::new(),
        next_token: String::new(),
        more: false,
        full,
        policy_version: Some(d.policy_version),
    };
    // Cut by count and by bytes: the page ends before its JSON would pass PAGE_BYTES (the
    // envelope and a cursor fit in the first 256). It always takes one change, so a sync
    // always moves on.
    let mut end = offset;
    let mut bytes = 256;
    // One read transaction for the page's reads: one snapshot of the directory, and one
    // WAL read lock instead of one per statement (the locking was a tenth of a page's time).
    let read = conn.read_transaction()?;
    let groups = repo::EntitledGroups::read(conn, &ent.groups_json)?;
    let upsert_ids: Vec<&str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Upsert(id) => Some(id.as_str()),
            Change::Delete(_) => None,
        })
        .collect();
    let mut sent =
        repo::contacts_for_device(conn, &upsert_ids, &groups, ent.allowed.as_ref())?.into_iter();
    for change in &changes {
        let (size, upsert) = match change {
            Change::Delete(id) => (id.len() + 3, None),
            Change::Upsert(id) => {
                match sent.next().flatten() {
                    Some((hash, json)) => (
                        json.len() + id.len() + hash.len() + 32,
                        Some(Upsert {
                            id: id.clone(),
                            hash,
                            // Checked to be JSON here, as writing a `ContactData` would be.
                            contact: RawValue::from_string(json)
                                .map_err(|e| ApiError::Internal(e.to_string()))?,
                        }),
                    ),
                    // A contact removed since the target snapshot is skipped here; the next
                    // sync's delta deletes it.
                    None => (0, None),
                }
            }
        };
        if end > offset && bytes + size > input::PAGE_BYTES {
            break;
        }
        bytes += size;
        end += 1;
        match (change, upsert) {
            (Change::Delete(id), _) => page.deletes.push(id.clone()),
            (Change::Upsert(_), Some(u)) => page.upserts.push(u),
            (Change::Upsert(_), None) => {}
        }
    }
    read.commit()?;
    entitled_sets::keep_sent(
        conn,
        page.upserts
            .iter()
            .map(|u| (u.id.as_str(), u.hash.as_str(), u.contact.get())),
    )?;
    page.more = end < total;
    page.next_token = if page.more {
        snapshot::cursor(base.as_ref().map(|b| b.token.as_str()), &target.token, end)
    } else {
        target.token
    };
    Response::json(200, &page)
}

fn unchanged(token: &str, policy_version: u64) -> Result<Response, ApiError> {
    Response::json(
        200,
        &ContactsPage::<Box<RawValue>> {
            upserts: Vec::new(),
            deletes: Vec::new(),
            next_token: token.to_owned(),
            more: false,
            full: false,
            policy_version: Some(policy_version),
        },
    )
}

/// A photo, only for a device entitled to a contact that carries it; any other hash is 404,
/// the same as one no contact carries.
pub fn photo(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    let d = device(ctx, req)?;
    let hash = p.get("hash").map(String::as_str).unwrap_or_default();
    let bytes = repo::photo_for_device(&ctx.conn, &d, hash)?
        .ok_or_else(|| ApiError::NotFound("no photo with that hash".into()))?;
    Ok(Response::bytes("application/octet-stream", bytes))
}

/// Many photos in one request (`POST /v1/device/photos`), with the same entitlement as one:
/// a hash no contact of the device's carries is `missing`, never its bytes. Stops adding
/// photos once the answer carries `MAX_PHOTO_BATCH_BYTES` (always at least one); the device
/// asks again for the hashes left out.
pub fn photo_batch(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    let d = device(ctx, req)?;
    let ask: PhotoBatchRequest = body(req)?;
    if ask.hashes.len() > MAX_PHOTO_BATCH {
        return Err(ApiError::Unprocessable(format!(
            "at most {MAX_PHOTO_BATCH} hashes per request"
        )));
    }
    let mut answer = PhotoBatch::default();
    let mut seen = std::collections::HashSet::new();
    let mut bytes = 0;
    for hash in ask.hashes {
        if !seen.insert(hash.clone()) {
            continue;
        }
        if bytes >= MAX_PHOTO_BATCH_BYTES {
            break;
        }
        match repo::photo_for_device(&ctx.conn, &d, &hash)? {
            Some(photo) => {
                bytes += photo.len();
                answer.photos.push(BatchPhoto {
                    hash,
                    data: BASE64.encode(&photo),
                });
            }
            None => answer.missing.push(hash),
        }
    }
    Response::json(200, &answer)
}

pub fn status(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    let d = device(ctx, req)?;
    let mut report: StatusReport = body(req)?;
    input::status_report(&mut report)?;
    // Whether the phone holds exactly what it was sent: decided now, once, for every page
    // that shows the device later.
    let verified = holds_its_token_set(&ctx.conn, &d.id, &report)?;
    let tx = ctx.conn.transaction()?;
    repo::save_status(&tx, &d.id, &report)?;
    device_list::record_report(&tx, &d.id, &report, verified)?;
    tx.commit()?;
    Ok(Response::empty(204))
}

/// A new token for this device; the one this request carries works until the new one is
/// first used (`repo::rotate_token`).
pub fn rotate_token(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    let d = device(ctx, req)?;
    let token = repo::rotate_token(&ctx.conn, &d.id)?;
    Response::json(
        200,
        &EnrollResponse {
            device_id: d.id,
            token,
        },
    )
}

/// The device leaves management (its app unenrolled, by itself or on the admin's retire
/// command, and removed the business contacts): the token this request carries stops
/// working, a pending retire command is done, and the console shows the device as retired.
pub fn retire(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    let d = device(ctx, req)?;
    let tx = ctx.conn.transaction()?;
    repo::retire_device(&tx, &d.id)?;
    tx.commit()?;
    Ok(Response::empty(204))
}

pub fn commands(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    let d = device(ctx, req)?;
    let commands = repo::pick_up_commands(&ctx.conn, &d.id)?
        .into_iter()
        .filter_map(|c| {
            let kind = match c.kind.as_str() {
                "sync_now" => CommandKind::SyncNow,
                "retire" => CommandKind::Retire,
                _ => return None,
            };
            Some(Command {
                id: c.id,
                kind,
                issued_at: c.issued_at,
            })
        })
        .collect();
    Response::json(200, &CommandList { commands })
}

/// Whether the phone holds exactly the set its reported sync token names: its fingerprint
/// equals the one the set is stored under (nothing to hash or decode here).
fn holds_its_token_set(
    conn: &crate::sql::Conn,
    device: &str,
    report: &StatusReport,
) -> Result<bool, ApiError> {
    let Some(token) = &report.sync_token else {
        return Ok(false);
    };
    Ok(entitled_sets::token_fingerprint(conn, device, token)?
        .is_some_and(|fp| fp == report.managed_fingerprint))
}
