//! The route table: every (method, path) the server answers. `docs/openapi.yaml` must list
//! exactly these (a test compares them).

use rusqlite::Connection;

use crate::error::ApiError;
use crate::http::{match_pattern, Params, Request, Response};
use crate::{admin_api as admin, device_api as device};

/// Per-worker context: its own database connection and the admin credential.
pub struct Ctx {
    pub conn: Connection,
    pub admin_token: String,
    /// Backups kept per device; older ones are deleted on upload.
    pub keep_backups: usize,
}

pub type Handler = fn(&mut Ctx, &Request, &Params) -> Result<Response, ApiError>;

pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub handler: Handler,
}

const fn r(method: &'static str, pattern: &'static str, handler: Handler) -> Route {
    Route {
        method,
        pattern,
        handler,
    }
}

pub const ROUTES: &[Route] = &[
    // Device API (bearer device token; enrollment takes a one-time code).
    r("POST", "/v1/enroll", device::enroll),
    r("GET", "/v1/device/policy", device::policy),
    r("GET", "/v1/device/contacts", device::contacts),
    r("GET", "/v1/device/photos/{hash}", device::photo),
    r("POST", "/v1/device/status", device::status),
    r("GET", "/v1/device/commands", device::commands),
    r("POST", "/v1/device/backups", device::upload_backup),
    r("GET", "/v1/device/backups", device::list_backups),
    r("GET", "/v1/device/backups/{id}", device::download_backup),
    // Admin API (bearer admin token).
    r("GET", "/v1/admin/users", admin::list_users),
    r("POST", "/v1/admin/users", admin::create_user),
    r("GET", "/v1/admin/users/{id}", admin::get_user),
    r("PUT", "/v1/admin/users/{id}", admin::update_user),
    r("DELETE", "/v1/admin/users/{id}", admin::delete_user),
    r("PUT", "/v1/admin/users/{id}/photo", admin::set_photo),
    r("DELETE", "/v1/admin/users/{id}/photo", admin::delete_photo),
    r("GET", "/v1/admin/groups", admin::list_groups),
    r("POST", "/v1/admin/groups", admin::create_group),
    r("GET", "/v1/admin/groups/{id}", admin::get_group),
    r("DELETE", "/v1/admin/groups/{id}", admin::delete_group),
    r("GET", "/v1/admin/groups/{id}/members", admin::members),
    r(
        "PUT",
        "/v1/admin/groups/{id}/members/{user_id}",
        admin::add_member,
    ),
    r(
        "DELETE",
        "/v1/admin/groups/{id}/members/{user_id}",
        admin::remove_member,
    ),
    r("GET", "/v1/admin/policies", admin::list_policies),
    r("POST", "/v1/admin/policies", admin::create_policy),
    r("GET", "/v1/admin/policies/{id}", admin::get_policy),
    r("PUT", "/v1/admin/policies/{id}", admin::update_policy),
    r("GET", "/v1/admin/devices", admin::list_devices),
    r("POST", "/v1/admin/devices", admin::create_device),
    r("GET", "/v1/admin/devices/{id}", admin::get_device),
    r("PUT", "/v1/admin/devices/{id}/policy", admin::assign_policy),
    r("POST", "/v1/admin/devices/{id}/sync", admin::force_sync),
    r(
        "POST",
        "/v1/admin/devices/{id}/revoke",
        admin::revoke_device,
    ),
    r("GET", "/v1/admin/devices/{id}/status", admin::device_status),
    r(
        "GET",
        "/v1/admin/devices/{id}/contacts",
        admin::device_contacts,
    ),
    r(
        "GET",
        "/v1/admin/devices/{id}/commands",
        admin::device_commands,
    ),
    r(
        "GET",
        "/v1/admin/devices/{id}/backups",
        admin::device_backups,
    ),
    r(
        "GET",
        "/v1/admin/devices/{id}/backups/{backup_id}",
        admin::download_backup,
    ),
];

pub fn dispatch(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    if req.path == "/console" || req.path.starts_with("/console/") {
        return Ok(crate::console::dispatch(ctx, req));
    }
    let mut path_matched = false;
    for route in ROUTES {
        if let Some(params) = match_pattern(route.pattern, &req.path) {
            path_matched = true;
            if route.method == req.method {
                return (route.handler)(ctx, req, &params);
            }
        }
    }
    if path_matched {
        Err(ApiError::MethodNotAllowed(format!(
            "{} is not allowed on this path",
            req.method
        )))
    } else {
        Err(ApiError::NotFound("no such endpoint".into()))
    }
}
