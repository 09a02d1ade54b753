//! A device's contact backups: upload under its byte quota, list, download. An upload is
//! spooled to disk as it arrives (`http/spool.rs`) under the budget `backup_budget` gives
//! before its first byte is read, checked there (`backup_check.rs`), and only then copied into
//! SQLite in one transaction; a refusal at any point keeps nothing.

use std::io::{Cursor, Read, Seek};

use crate::sql::Conn;

use crate::device_api::device;
use crate::error::ApiError;
use crate::http::{Params, Request, Response};
use crate::repo;
use crate::routes::{Budget, Ctx};

/// The bytes a device may still upload: its quota less the backups retention keeps beside a
/// new one.
struct Quota {
    quota: u64,
    kept: u64,
}

impl Quota {
    fn of(conn: &Conn, ctx: &Ctx, device: &str) -> Result<Quota, ApiError> {
        Quota::read(conn, ctx.keep_backups, ctx.backup_quota, device)
    }

    fn read(conn: &Conn, keep: usize, quota: u64, device: &str) -> Result<Quota, ApiError> {
        Ok(Quota {
            quota,
            kept: repo::newest_backups_bytes(conn, device, keep.max(1) - 1)?,
        })
    }

    fn left(&self) -> u64 {
        self.quota.saturating_sub(self.kept)
    }

    fn exceeded(&self) -> ApiError {
        ApiError::InsufficientStorage(format!(
            "this backup does not fit in this device's quota of {} bytes ({} bytes are taken \
             by the backups kept beside it, {} bytes are left); nothing was stored",
            self.quota,
            self.kept,
            self.left()
        ))
    }

    fn admit(&self, len: u64) -> Result<(), ApiError> {
        if len > self.left() {
            return Err(self.exceeded());
        }
        Ok(())
    }
}

/// The upload's `Idempotency-Key` (the payload's SHA-256, lower case) and `X-Contact-Count`.
fn upload_headers(req: &Request) -> Result<(String, u64), ApiError> {
    let key = req
        .header("idempotency-key")
        .filter(|k| k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            ApiError::BadRequest(
                "Idempotency-Key must be the payload's SHA-256 (64 hex digits)".into(),
            )
        })?
        .to_ascii_lowercase();
    let count: u64 = req
        .header("x-contact-count")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            ApiError::BadRequest("X-Contact-Count must be a non-negative integer".into())
        })?;
    Ok((key, count))
}

/// Before an upload's body is read: refuses bad headers (400) and says how many bytes the
/// device may send. A retry of a stored upload is not held to the quota: the handler answers
/// it with the stored backup.
pub fn backup_budget(ctx: &Ctx, req: &Request) -> Result<Budget, ApiError> {
    let d = device(ctx, req)?;
    let (key, _) = upload_headers(req)?;
    let quota = Quota::of(&ctx.conn, ctx, &d.id)?;
    let retry = repo::backup_by_checksum(&ctx.conn, &d.id, &key)?.is_some();
    Ok(Budget {
        max_bytes: if retry { u64::MAX } else { quota.left() },
        over: quota.exceeded(),
    })
}

pub fn upload_backup(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    let d = device(ctx, req)?;
    let (key, count) = upload_headers(req)?;
    // A retry of a stored upload is answered before anything else is looked at.
    if let Some(existing) = repo::backup_by_checksum(&ctx.conn, &d.id, &key)? {
        return Response::json(200, &existing);
    }
    let (backup, created) = match &req.spooled {
        Some(body) => keep(ctx, &d.id, &key, count, &body.file, body.len)?,
        // Handlers' unit tests build requests with the body in memory.
        None => keep(
            ctx,
            &d.id,
            &key,
            count,
            Cursor::new(&req.body),
            req.body.len() as u64,
        )?,
    };
    Response::json(if created { 201 } else { 200 }, &backup)
}

/// Checks an archive of `len` bytes and stores it, or refuses it keeping nothing.
fn keep(
    ctx: &mut Ctx,
    device: &str,
    key: &str,
    count: u64,
    mut archive: impl Read + Seek,
    len: u64,
) -> Result<(repo::Backup, bool), ApiError> {
    Quota::of(&ctx.conn, ctx, device)?.admit(len)?;
    archive.rewind().map_err(spool_error)?;
    crate::backup_check::check(&mut archive, key, count).map_err(|why| {
        ApiError::Unprocessable(format!("backup refused, nothing was stored: {why}"))
    })?;
    archive.rewind().map_err(spool_error)?;
    let keep = ctx.keep_backups;
    let quota = ctx.backup_quota;
    let tx = ctx.conn.transaction()?;
    // Another upload of this device may have been kept while this one arrived.
    Quota::read(&tx, keep, quota, device)?.admit(len)?;
    let stored = repo::store_backup(&tx, device, key, count, &mut archive, len, keep)?;
    tx.commit()?;
    Ok(stored)
}

fn spool_error(e: std::io::Error) -> ApiError {
    ApiError::Internal(format!("reading the spooled upload: {e}"))
}

pub fn list_backups(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    let d = device(ctx, req)?;
    Response::json(200, &repo::list_backups(&ctx.conn, &d.id)?)
}

pub fn download_backup(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    let d = device(ctx, req)?;
    let id = p.get("id").map(String::as_str).unwrap_or_default();
    Ok(Response::bytes(
        "application/zip",
        repo::backup_data(&ctx.conn, &d.id, id)?,
    ))
}
