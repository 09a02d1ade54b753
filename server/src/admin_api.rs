//! The admin API: users, groups, memberships, policies, devices, force sync, and a device's
//! sync status with the contacts its sync put on the phone.

use contacts_agent_protocol::{enroll_link, ContactData};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::device_list;
use crate::error::ApiError;
use crate::http::{Params, Request, Response};
use crate::input::{self, json as body};
use crate::repo::{self, DeviceState, PolicyInput, RetireRequest};
use crate::routes::Ctx;

fn admin(ctx: &Ctx, req: &Request) -> Result<(), ApiError> {
    let given = req.bearer().ok_or(ApiError::Unauthorized)?;
    if constant_time_eq(given.as_bytes(), ctx.admin_token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn param<'a>(p: &'a Params, name: &str) -> &'a str {
    p.get(name).map(String::as_str).unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    #[serde(default)]
    id: Option<String>,
    contact: ContactData,
    #[serde(default)]
    groups: Vec<String>,
}

pub fn list_users(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let offset = req.query_usize("offset", 0, usize::MAX)?;
    let limit = req.query_usize("limit", 100, 1000)?;
    let q = req.query("q");
    if q.is_some_and(|q| input::text("q", q, input::SEARCH).is_err()) {
        return Err(ApiError::BadRequest(format!(
            "query parameter q is longer than {} characters",
            input::SEARCH
        )));
    }
    let (total, users) = repo::list_users(&ctx.conn, q, offset, limit)?;
    Response::json(200, &json!({ "total": total, "items": users }))
}

pub fn create_user(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let body: NewUser = body(req)?;
    input::group_ids("groups", &body.groups, input::GROUPS_PER_USER)?;
    let tx = ctx.conn.transaction()?;
    let id = repo::create_user(&tx, body.id, body.contact)?;
    for g in &body.groups {
        repo::add_member(&tx, g, &id)?;
    }
    tx.commit()?;
    Response::json(201, &repo::get_user(&ctx.conn, &id)?)
}

pub fn get_user(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    Response::json(200, &repo::get_user(&ctx.conn, param(p, "id"))?)
}

pub fn update_user(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let contact: ContactData = body(req)?;
    repo::update_user(&ctx.conn, param(p, "id"), contact)?;
    Response::json(200, &repo::get_user(&ctx.conn, param(p, "id"))?)
}

pub fn delete_user(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    repo::delete_user(&ctx.conn, param(p, "id"))?;
    Ok(Response::empty(204))
}

pub fn set_photo(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    input::photo(&req.body)?;
    repo::set_user_photo(&ctx.conn, param(p, "id"), Some(&req.body))?;
    Ok(Response::empty(204))
}

pub fn delete_photo(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    repo::set_user_photo(&ctx.conn, param(p, "id"), None)?;
    Ok(Response::empty(204))
}

/// Loads users with their memberships from an NDJSON body, all or nothing (`import.rs`).
pub fn import(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let media = req
        .header("content-type")
        .and_then(|t| t.split(';').next())
        .map(str::trim);
    if media.is_some_and(|m| !m.eq_ignore_ascii_case(crate::import::NDJSON)) {
        return Err(ApiError::BadRequest(format!(
            "an import is {} (one user per line)",
            crate::import::NDJSON
        )));
    }
    let tx = ctx.conn.transaction()?;
    let done = crate::import::ndjson(&tx, &req.body)?;
    tx.commit()?;
    log::info!(
        "import: {} users ({} created, {} updated), {} memberships",
        done.users,
        done.created,
        done.updated,
        done.memberships
    );
    Response::json(200, &done)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    #[serde(default)]
    id: Option<String>,
    name: String,
}

pub fn list_groups(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    Response::json(200, &repo::list_groups(&ctx.conn)?)
}

pub fn create_group(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let body: NewGroup = body(req)?;
    let id = repo::create_group(&ctx.conn, body.id, &body.name)?;
    Response::json(201, &repo::get_group(&ctx.conn, &id)?)
}

pub fn get_group(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    Response::json(200, &repo::get_group(&ctx.conn, param(p, "id"))?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupName {
    name: String,
}

pub fn rename_group(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let body: GroupName = body(req)?;
    let id = param(p, "id");
    repo::rename_group(&ctx.conn, id, &body.name)?;
    Response::json(200, &repo::get_group(&ctx.conn, id)?)
}

pub fn delete_group(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let tx = ctx.conn.transaction()?;
    repo::delete_group(&tx, param(p, "id"))?;
    tx.commit()?;
    Ok(Response::empty(204))
}

pub fn members(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    Response::json(200, &repo::group_members(&ctx.conn, param(p, "id"))?)
}

pub fn add_member(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    repo::add_member(&ctx.conn, param(p, "id"), param(p, "user_id"))?;
    Ok(Response::empty(204))
}

pub fn remove_member(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    repo::remove_member(&ctx.conn, param(p, "id"), param(p, "user_id"))?;
    Ok(Response::empty(204))
}

pub fn list_policies(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    Response::json(200, &repo::list_policies(&ctx.conn)?)
}

pub fn create_policy(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    // `PolicyInput` and an optional `id`. Not `#[serde(flatten)]`: it would let unknown
    // fields through.
    let mut fields: serde_json::Value = body(req)?;
    let id = match fields.as_object_mut().and_then(|m| m.remove("id")) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(id)) => Some(id),
        Some(_) => return Err(ApiError::Unprocessable("id must be a string".into())),
    };
    let input: PolicyInput = input::from_value(fields)?;
    let id = repo::create_policy(&ctx.conn, id, &input)?;
    Response::json(201, &repo::get_policy(&ctx.conn, &id)?)
}

pub fn get_policy(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    Response::json(200, &repo::get_policy(&ctx.conn, param(p, "id"))?)
}

pub fn update_policy(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let body: PolicyInput = body(req)?;
    let tx = ctx.conn.transaction()?;
    repo::update_policy(&tx, param(p, "id"), &body)?;
    tx.commit()?;
    Response::json(200, &repo::get_policy(&ctx.conn, param(p, "id"))?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDevice {
    name: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    policy_id: Option<String>,
}

/// A page of devices, filtered and sorted by the database (`device_list`): `filter`,
/// `policy_id`, `user_id`, `sort` (oldest first by default), `offset`, `limit` (100, at most
/// 1000). Past the end is an empty page; the `Devices-More` header says whether one follows.
pub fn list_devices(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let q = device_query(req, device_list::Sort::Created)?;
    let page = device_list::page(&ctx.conn, &q, chrono::Utc::now())?;
    Ok(Response::json(200, &page.rows)?.with_header("Devices-More", page.more.to_string()))
}

/// The device list's query parameters; one that does not parse (an unknown filter or sort,
/// a limit of 0) is a 400, never all devices.
pub fn device_query(
    req: &Request,
    default_sort: device_list::Sort,
) -> Result<device_list::Query, ApiError> {
    let offset = req.query_usize("offset", 0, usize::MAX)?;
    let limit = req.query_usize("limit", 100, device_list::MAX_LIMIT)?;
    if limit == 0 {
        return Err(ApiError::BadRequest("limit must be at least 1".into()));
    }
    let filter = match req.query("filter").filter(|f| !f.is_empty()) {
        None => device_list::Filter::All,
        Some(f) => device_list::Filter::parse(f)
            .ok_or_else(|| ApiError::BadRequest("unknown device filter".into()))?,
    };
    let sort = match req.query("sort").filter(|s| !s.is_empty()) {
        None => default_sort,
        Some(s) => device_list::Sort::parse(s)
            .ok_or_else(|| ApiError::BadRequest("unknown device sort".into()))?,
    };
    let id = |name| req.query(name).filter(|v| !v.is_empty()).map(str::to_owned);
    Ok(device_list::Query {
        filter,
        policy_id: id("policy_id"),
        user_id: id("user_id"),
        sort,
        offset,
        limit,
    })
}

pub fn create_device(ctx: &mut Ctx, req: &Request, _: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let body: NewDevice = body(req)?;
    let tx = ctx.conn.transaction()?;
    let (id, code) = repo::create_device(
        &tx,
        &body.name,
        body.user_id.as_deref(),
        ctx.enrollment_code_ttl,
    )?;
    if let Some(p) = &body.policy_id {
        repo::assign_policy(&tx, &id, Some(p))?;
    }
    tx.commit()?;
    let link = enroll_link::format(&server_url(ctx, req)?, &code);
    Response::json(
        201,
        &json!({ "device": repo::get_device(&ctx.conn, &id)?, "enrollment_code": code,
                 "enrollment_link": link }),
    )
}

/// Where phones reach this server, for enrollment links (`enroll_qr::server_url`).
fn server_url(ctx: &Ctx, req: &Request) -> Result<String, ApiError> {
    crate::enroll_qr::server_url(ctx.public_url.as_deref(), req, ctx.behind_tls_proxy)
}

pub fn get_device(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    Response::json(200, &repo::get_device(&ctx.conn, param(p, "id"))?)
}

/// `policy_id` must be present: a policy id assigns it, `null` unassigns (the product's
/// default, no contacts). `{}` is refused rather than read as `null`: a client that forgot
/// the field must not empty every phone of the device.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Assign {
    #[serde(default, deserialize_with = "present")]
    policy_id: Option<Option<String>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub fn assign_policy(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let body: Assign = body(req)?;
    let policy = body.policy_id.ok_or_else(|| {
        ApiError::Unprocessable("policy_id is required (null unassigns the policy)".into())
    })?;
    repo::assign_policy(&ctx.conn, param(p, "id"), policy.as_deref())?;
    Response::json(200, &repo::get_device(&ctx.conn, param(p, "id"))?)
}

pub fn force_sync(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let id = repo::force_sync(&ctx.conn, param(p, "id"))?;
    Response::json(202, &json!({ "command_id": id }))
}

pub fn revoke_device(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let tx = ctx.conn.transaction()?;
    let code = repo::revoke_device(&tx, param(p, "id"), ctx.enrollment_code_ttl)?;
    tx.commit()?;
    enrollment_code(ctx, req, param(p, "id"), code)
}

pub fn reissue_code(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let code = repo::reissue_enrollment_code(&ctx.conn, param(p, "id"), ctx.enrollment_code_ttl)?;
    enrollment_code(ctx, req, param(p, "id"), code)
}

fn enrollment_code(ctx: &Ctx, req: &Request, id: &str, code: String) -> Result<Response, ApiError> {
    let d = repo::get_device(&ctx.conn, id)?;
    let link = enroll_link::format(&server_url(ctx, req)?, &code);
    Response::json(
        200,
        &json!({ "enrollment_code": code, "expires_at": d.enrollment_code_expires_at,
                 "enrollment_link": link }),
    )
}

/// The device's outstanding enrollment link as a QR code (`image/svg+xml`); 409 for a
/// device already enrolled, retired, or whose code expired (`enroll_qr::enrollment`).
pub fn enrollment_qr(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let url = server_url(ctx, req)?;
    let e = crate::enroll_qr::enrollment(&ctx.conn, param(p, "id"), &url)?;
    // It carries a live code: no cache keeps it.
    Ok(Response::bytes("image/svg+xml", e.qr_svg.into_bytes())
        .with_header("Cache-Control", "no-store".into()))
}

/// "Retire": 202 with the retire command the device will obey (the same one again while it
/// is retiring), 200 when no phone holds a working token and the device is retired at once,
/// 409 when it is already retired (`repo::request_retire`).
pub fn retire_device(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let id = param(p, "id");
    let tx = ctx.conn.transaction()?;
    let done = repo::request_retire(&tx, id)?;
    tx.commit()?;
    let device = repo::get_device(&ctx.conn, id)?;
    match done {
        RetireRequest::Queued {
            command_id,
            repeated,
        } => Response::json(
            202,
            &json!({ "command_id": command_id, "already_requested": repeated, "device": device }),
        ),
        RetireRequest::RetiredNow => Response::json(
            200,
            &json!({ "command_id": null, "already_requested": false, "device": device }),
        ),
    }
}

pub fn device_commands(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    repo::get_device(&ctx.conn, param(p, "id"))?;
    Response::json(200, &repo::commands(&ctx.conn, param(p, "id"), false)?)
}

/// The console's "Sync status" block, with the seed's field names.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceStatus {
    pub device_id: String,
    pub device_name: String,
    pub state: DeviceState,
    pub revoked_at: Option<String>,
    pub retired_at: Option<String>,
    /// When the admin asked the device to retire (`state` is `retiring` until it has).
    pub retire_requested_at: Option<String>,
    pub user_id: Option<String>,
    pub policy_id: Option<String>,
    pub policy_version: u64,
    pub sync_type: String,
    pub sync_type_label: String,
    pub additional_groups: Vec<String>,
    pub sync_interval: String,
    pub sync_interval_label: String,
    pub backup_interval: String,
    pub next_expected_sync: Option<String>,
    pub last_sync: Option<String>,
    pub last_sync_result: Option<String>,
    /// Why the last sync ran and how long it took, as the device reported them.
    pub last_sync_reason: Option<contacts_agent_protocol::wire::SyncReason>,
    pub last_sync_duration_ms: Option<u64>,
    pub last_successful_sync: Option<String>,
    pub synced_policy_version: Option<u64>,
    pub contacts_on_device: u64,
    pub contacts_verified: bool,
    pub pending_commands: u64,
    pub last_report_at: Option<String>,
    pub last_backup: Option<String>,
    pub last_backup_result: Option<String>,
    pub next_expected_backup: Option<String>,
}

pub fn device_status_of(conn: &crate::sql::Conn, id: &str) -> Result<DeviceStatus, ApiError> {
    let d = repo::get_device(conn, id)?;
    let policy = repo::device_policy(conn, &d)?;
    let pending = repo::commands(conn, id, true)?.len() as u64;
    let report = repo::status(conn, id)?;
    // Decided when the report arrived (`device_list::record_report`), not per view.
    let verified = device_list::verified(conn, id)?.unwrap_or(false);
    let (r, at) = match report {
        Some((r, at)) => (Some(r), Some(at)),
        None => (None, None),
    };
    let next_expected_sync = d.expected_sync(r.as_ref().and_then(|r| r.next_sync_at.clone()));
    Ok(DeviceStatus {
        device_id: d.id,
        device_name: d.name,
        state: d.state,
        revoked_at: d.revoked_at,
        retired_at: d.retired_at,
        retire_requested_at: d.retire_requested_at,
        user_id: d.user_id,
        policy_id: d.policy_id,
        policy_version: policy.version,
        sync_type: policy.basic_type.as_str().into(),
        sync_type_label: policy.basic_type.label().into(),
        additional_groups: policy.additional_groups,
        sync_interval: policy.sync_interval.as_str().into(),
        sync_interval_label: policy.sync_interval.label().into(),
        backup_interval: policy.backup_interval.as_str().into(),
        next_expected_sync,
        last_sync: r.as_ref().and_then(|r| r.last_sync_at.clone()),
        last_sync_result: r.as_ref().and_then(|r| r.last_sync_result.clone()),
        last_sync_reason: r.as_ref().and_then(|r| r.last_sync_reason),
        last_sync_duration_ms: r.as_ref().and_then(|r| r.last_sync_duration_ms),
        last_successful_sync: r.as_ref().and_then(|r| r.last_successful_sync_at.clone()),
        synced_policy_version: r.as_ref().and_then(|r| r.policy_version),
        contacts_on_device: r.as_ref().map_or(0, |r| r.managed_count),
        contacts_verified: verified,
        pending_commands: pending,
        last_report_at: at,
        last_backup: r.as_ref().and_then(|r| r.last_backup_at.clone()),
        last_backup_result: r.as_ref().and_then(|r| r.last_backup_result.clone()),
        next_expected_backup: r.as_ref().and_then(|r| r.next_backup_at.clone()),
    })
}

pub fn device_status(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    Response::json(200, &device_status_of(&ctx.conn, param(p, "id"))?)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SyncedContact {
    pub id: String,
    pub display_name: String,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    /// The ids of the groups the contact was sent for.
    pub groups: Vec<String>,
    /// The device's next sync changes or removes this contact.
    pub pending: bool,
}

/// Every contact the automatic sync saved on the device, per the device's last report: each
/// as it was sent (`repo::held_contacts`), never the server's current data presented as the
/// phone's; `pending` counts the changes its next sync brings.
pub fn device_contacts(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let id = param(p, "id");
    let offset = req.query_usize("offset", 0, usize::MAX)?;
    let limit = req.query_usize("limit", 100, 5000)?;
    let held = repo::held_contacts(&ctx.conn, id)?;
    let verified = device_list::verified(&ctx.conn, id)?.unwrap_or(false);
    let (total, pending) = held
        .as_ref()
        .map_or((0, 0), |h| (h.contacts.len(), h.pending));
    let items: Vec<SyncedContact> = held
        .map(|h| h.contacts)
        .unwrap_or_default()
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|h| {
            // A body sent before the server kept them (schema 9) is known by its id only.
            let c = h.contact.unwrap_or_default();
            SyncedContact {
                id: h.id,
                display_name: c.display_name,
                phones: c.phones.into_iter().map(|p| p.number).collect(),
                emails: c.emails.into_iter().map(|e| e.address).collect(),
                groups: c.groups.into_iter().map(|g| g.id).collect(),
                pending: h.pending,
            }
        })
        .collect();
    Response::json(
        200,
        &json!({ "total": total, "verified": verified, "pending": pending, "items": items }),
    )
}

pub fn device_backups(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    repo::get_device(&ctx.conn, param(p, "id"))?;
    Response::json(200, &repo::list_backups(&ctx.conn, param(p, "id"))?)
}

pub fn download_backup(ctx: &mut Ctx, req: &Request, p: &Params) -> Result<Response, ApiError> {
    admin(ctx, req)?;
    let data = repo::backup_data(&ctx.conn, param(p, "id"), param(p, "backup_id"))?;
    Ok(Response::bytes("application/zip", data))
}
