//! The route table: every (method, path) the server answers, with the body it may carry.
//! `docs/openapi.yaml` must list exactly these (a test compares them).

use crate::sql::Conn;
use contacts_agent_protocol::wire::{
    ProtocolRange, PROTOCOL_HEADER, PROTOCOL_RANGE_HEADER, PROTOCOL_VERSION,
};

use crate::error::ApiError;
use crate::http::limits::BodyClass;
use crate::http::{match_pattern, Params, Request, Response};
use crate::{admin_api as admin, device_api as device, device_backups as backups, repo, Config};

/// Per-worker context: its own database connection and the admin credential.
pub struct Ctx {
    pub conn: Conn,
    pub admin_token: String,
    /// Backups kept per device; older ones are deleted on upload.
    pub keep_backups: usize,
    /// Bytes of backups one device may hold.
    pub backup_quota: u64,
    pub enrollment_code_ttl: std::time::Duration,
    pub behind_tls_proxy: bool,
    /// `Config::public_url`.
    pub public_url: Option<String>,
}

impl Ctx {
    /// A worker's context from the server's configuration and its own connection.
    pub fn new(conn: Conn, config: &Config) -> Ctx {
        Ctx {
            conn,
            admin_token: config.admin_token.clone(),
            keep_backups: config.keep_backups,
            backup_quota: config.backup_quota,
            enrollment_code_ttl: config.enrollment_code_ttl,
            behind_tls_proxy: config.behind_tls_proxy,
            public_url: config.public_url.clone(),
        }
    }
}

pub type Handler = fn(&mut Ctx, &Request, &Params) -> Result<Response, ApiError>;

pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub handler: Handler,
    /// What the route accepts as a body; the server refuses more with 413 before reading it.
    pub body: BodyClass,
}

/// A route with a small body (JSON, forms, none); `.body(..)` for the few that take more.
const fn r(method: &'static str, pattern: &'static str, handler: Handler) -> Route {
    Route {
        method,
        pattern,
        handler,
        body: BodyClass::Small,
    }
}

impl Route {
    const fn body(self, body: BodyClass) -> Route {
        Route { body, ..self }
    }

    /// Who may call it, from the path's family: the one place the HTTP layer learns it.
    pub fn auth(&self) -> Auth {
        auth_of(self.pattern)
    }
}

/// The credential a path family takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Enrollment (a one-time code in the body) and the console (its own sign-in).
    None,
    /// A device's bearer token.
    Device,
    /// The admin bearer token.
    Admin,
}

fn auth_of(path: &str) -> Auth {
    if path.starts_with("/v1/admin/") {
        Auth::Admin
    } else if path.starts_with("/v1/device/") {
        Auth::Device
    } else {
        Auth::None
    }
}

pub const ROUTES: &[Route] = &[
    // Device API (bearer device token; enrollment takes a one-time code).
    r("POST", "/v1/enroll", device::enroll),
    // The enrollment link's page (HTML, no credential): what a browser shows for the QR code.
    r("GET", "/enroll", crate::console::enroll_page::page),
    r("GET", "/v1/device/policy", device::policy),
    r("GET", "/v1/device/contacts", device::contacts),
    r("GET", "/v1/device/photos/{hash}", device::photo),
    r("POST", "/v1/device/photos", device::photo_batch),
    r("POST", "/v1/device/status", device::status),
    r("GET", "/v1/device/commands", device::commands),
    r("POST", "/v1/device/token", device::rotate_token),
    r("POST", "/v1/device/retire", device::retire),
    r("POST", "/v1/device/backups", backups::upload_backup).body(BodyClass::Backup),
    r("GET", "/v1/device/backups", backups::list_backups),
    r("GET", "/v1/device/backups/{id}", backups::download_backup),
    // Admin API (bearer admin token).
    r("GET", "/v1/admin/users", admin::list_users),
    r("POST", "/v1/admin/users", admin::create_user).body(BodyClass::Contact),
    r("GET", "/v1/admin/users/{id}", admin::get_user),
    r("PUT", "/v1/admin/users/{id}", admin::update_user).body(BodyClass::Contact),
    r("DELETE", "/v1/admin/users/{id}", admin::delete_user),
    r("PUT", "/v1/admin/users/{id}/photo", admin::set_photo).body(BodyClass::Photo),
    r("DELETE", "/v1/admin/users/{id}/photo", admin::delete_photo),
    r("POST", "/v1/admin/import", admin::import).body(BodyClass::Import),
    r("GET", "/v1/admin/groups", admin::list_groups),
    r("POST", "/v1/admin/groups", admin::create_group),
    r("GET", "/v1/admin/groups/{id}", admin::get_group),
    r("PUT", "/v1/admin/groups/{id}", admin::rename_group),
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
        "/v1/admin/devices/{id}/retire",
        admin::retire_device,
    ),
    r(
        "POST",
        "/v1/admin/devices/{id}/revoke",
        admin::revoke_device,
    ),
    r(
        "POST",
        "/v1/admin/devices/{id}/enrollment-code",
        admin::reissue_code,
    ),
    r(
        "GET",
        "/v1/admin/devices/{id}/enrollment-qr",
        admin::enrollment_qr,
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

/// What the HTTP layer needs before reading a body: its class and the caller's credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteLimits {
    pub body: BodyClass,
    pub auth: Auth,
}

/// The limits of the route `dispatch` would pick; small bodies for anything it would refuse.
pub fn route_limits(method: &str, path: &str) -> RouteLimits {
    ROUTES
        .iter()
        .find(|r| r.method == method && match_pattern(r.pattern, path).is_some())
        .map_or(
            RouteLimits {
                body: BodyClass::Small,
                auth: auth_of(path),
            },
            |r| RouteLimits {
                body: r.body,
                auth: r.auth(),
            },
        )
}

/// Checks the credential a route takes, before its (large) body is read. The handler checks
/// again with the body: this is the gate, not the authority.
pub fn authorize(ctx: &Ctx, req: &Request, auth: Auth) -> Result<(), ApiError> {
    match auth {
        Auth::None => Ok(()),
        Auth::Device => {
            let token = req.bearer().ok_or(ApiError::Unauthorized)?;
            repo::device_by_token(&ctx.conn, token).map(|_| ())
        }
        Auth::Admin => {
            let given = req.bearer().ok_or(ApiError::Unauthorized)?.as_bytes();
            let want = ctx.admin_token.as_bytes();
            let same = given.len() == want.len()
                && given
                    .iter()
                    .zip(want)
                    .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                    == 0;
            if same {
                Ok(())
            } else {
                Err(ApiError::Unauthorized)
            }
        }
    }
}

/// How many bytes a spooled body (`BodyClass::spooled`) may have, decided before its first
/// byte is read; past it the upload is refused with `over`.
pub struct Budget {
    pub max_bytes: u64,
    pub over: ApiError,
}

/// For a route whose body is spooled: checks the credential and the request's head, and
/// gives the body's budget (for a backup, what is left of the device's quota).
pub fn spool_budget(ctx: &Ctx, req: &Request, route: RouteLimits) -> Result<Budget, ApiError> {
    authorize(ctx, req, route.auth)?;
    match route.body {
        BodyClass::Backup => backups::backup_budget(ctx, req),
        other => Err(ApiError::Internal(format!(
            "no spool budget for the body class {other:?}"
        ))),
    }
}

pub fn dispatch(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    if req.path == "/console" || req.path.starts_with("/console/") {
        return Ok(crate::console::dispatch(ctx, req));
    }
    let answer = match protocol_refusal(req) {
        Some(refusal) => Err(refusal),
        None => dispatch_api(ctx, req),
    };
    // Server faults stay errors for the HTTP layer to log; every other answer says which
    // protocol it is written in and which versions this server speaks.
    let answer = match answer {
        Err(e) if e.status() < 500 => Response::from_error(&e),
        other => other?,
    };
    Ok(answer
        .with_header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .with_header(PROTOCOL_RANGE_HEADER, ProtocolRange::OURS.to_string()))
}

/// A request naming a protocol version this server does not speak. No header is version 1,
/// the version that introduced it.
fn protocol_refusal(req: &Request) -> Option<ApiError> {
    let named = req.header(&PROTOCOL_HEADER.to_ascii_lowercase())?;
    if named
        .trim()
        .parse::<u32>()
        .is_ok_and(|v| ProtocolRange::OURS.contains(v))
    {
        return None;
    }
    Some(ApiError::UnsupportedProtocol(ProtocolRange::OURS))
}

fn dispatch_api(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let mut allowed = Vec::new();
    for route in ROUTES {
        if let Some(params) = match_pattern(route.pattern, &req.path) {
            if route.method == req.method {
                return (route.handler)(ctx, req, &params);
            }
            allowed.push(route.method);
        }
    }
    if !allowed.is_empty() {
        let e = ApiError::MethodNotAllowed(format!("{} is not allowed on this path", req.method));
        Ok(Response::from_error(&e).with_header("Allow", allowed.join(", ")))
    } else {
        Err(ApiError::NotFound("no such endpoint".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_a_known_family_with_its_credential() {
        for route in ROUTES {
            let expected = if route.pattern == "/v1/enroll" || route.pattern == "/enroll" {
                Auth::None
            } else if route.pattern.starts_with("/v1/device/") {
                Auth::Device
            } else {
                assert!(route.pattern.starts_with("/v1/admin/"), "{}", route.pattern);
                Auth::Admin
            };
            assert_eq!(route.auth(), expected, "{}", route.pattern);
        }
    }

    #[test]
    fn only_contacts_photo_backup_and_import_uploads_take_large_bodies() {
        let large: Vec<_> = ROUTES
            .iter()
            .filter(|r| r.body != BodyClass::Small)
            .map(|r| (r.method, r.pattern, r.body))
            .collect();
        assert_eq!(
            large,
            [
                ("POST", "/v1/device/backups", BodyClass::Backup),
                ("POST", "/v1/admin/users", BodyClass::Contact),
                ("PUT", "/v1/admin/users/{id}", BodyClass::Contact),
                ("PUT", "/v1/admin/users/{id}/photo", BodyClass::Photo),
                ("POST", "/v1/admin/import", BodyClass::Import),
            ]
        );
        assert_eq!(
            route_limits("POST", "/v1/device/backups").body,
            BodyClass::Backup
        );
        assert_eq!(
            route_limits("GET", "/v1/device/backups").body,
            BodyClass::Small
        );
        assert_eq!(route_limits("POST", "/console/login").auth, Auth::None);
        assert_eq!(route_limits("POST", "/nowhere").body, BodyClass::Small);
    }
}
