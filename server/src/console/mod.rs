//! The admin console: server-rendered pages over the same repository the admin API uses, in
//! English and Polish (`messages`), with a stylesheet of its own (`style.css`) under a CSP
//! that allows no inline style and no script but the one nonce'd script of the sign-in page
//! and of the enrollment link's page.
//! Sign-in with the admin token sets an HttpOnly, SameSite=Strict session cookie (`Secure`
//! over TLS or behind a TLS proxy); every form carries the session's CSRF token, and the
//! sign-in form a pre-session one (double-submit cookie). Wrong sign-ins from one address
//! are answered with a growing wait. Device tokens cannot sign in (they are not the admin
//! token), and the console's cookie is worthless to the device API (bearer tokens only).
//!
//! Files by job: `login` (sign-in, sessions, settings), `devices` (dashboard, device list and
//! details, the device's life cycle), `policies`, `directory` (users, groups), `view` (the
//! page frame and escaping), `format` (times, sizes, counts), `messages` (the catalogue),
//! `enroll_page` (what a browser shows for an enrollment link; no session).

mod devices;
mod directory;
pub mod enroll_page;
pub mod format;
mod login;
pub mod messages;
mod policies;
pub mod view;

use crate::error::ApiError;
use crate::http::{match_pattern, Request, Response};
use crate::routes::Ctx;

use format::Locale;
use messages::{Lang, M};
use view::{esc, Frame, Nav};

const STYLE: &str = include_str!("style.css");
/// The pages' icon: linked from every page, so a browser does not ask for `/favicon.ico`
/// (a 404 in its console on every page).
const ICON: &str = include_str!("icon.svg");
/// Rows per page of every list.
pub const PAGE: usize = 50;

/// A signed-in admin's session.
pub struct Session {
    pub id: String,
    pub csrf: String,
    pub lang: Option<Lang>,
    pub tz: Option<String>,
}

/// What every page handler gets: the request, the session and how to write for this admin.
pub struct Ui<'a> {
    pub req: &'a Request,
    pub s: &'a Session,
    pub l: Locale,
}

impl Ui<'_> {
    pub fn t(&self, m: M) -> &'static str {
        self.l.t(m)
    }

    /// The page's own path and query, for the language switch to come back to.
    pub fn here(&self) -> String {
        let q: Vec<String> = self
            .req
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", view::enc(k), view::enc(v)))
            .collect();
        if q.is_empty() {
            self.req.path.clone()
        } else {
            format!("{}?{}", self.req.path, q.join("&"))
        }
    }

    /// A whole page as a response.
    pub fn page(&self, title: &str, nav: Nav, body: &str) -> Response {
        self.page_refreshing(title, nav, None, body)
    }

    pub fn page_refreshing(
        &self,
        title: &str,
        nav: Nav,
        refresh: Option<u32>,
        body: &str,
    ) -> Response {
        let here = self.here();
        html(
            200,
            view::page(
                &self.l,
                Some(self.s),
                &Frame {
                    title,
                    nav,
                    refresh,
                    here: &here,
                },
                body,
            ),
            None,
        )
    }
}

/// An HTML answer under the console's CSP: styles from our own stylesheet only, images from
/// us, no script unless `nonce` names the page's one script, forms posting back to us only.
pub fn html(status: u16, body: String, nonce: Option<&str>) -> Response {
    let script = nonce.map_or("script-src 'none'".to_owned(), |n| {
        format!("script-src 'nonce-{n}'")
    });
    let mut r = Response::html(status, body);
    r.headers.retain(|(k, _)| k != "Content-Security-Policy");
    r.with_header(
        "Content-Security-Policy",
        format!(
            "default-src 'none'; style-src 'self'; img-src 'self'; {script}; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'"
        ),
    )
}

/// A page outside a session (sign-in, errors before sign-in): no nav, no forms.
fn bare(l: &Locale, status: u16, title: &str, body: &str, nonce: Option<&str>) -> Response {
    html(
        status,
        view::page(
            l,
            None,
            &Frame {
                title,
                nav: Nav::None,
                refresh: None,
                here: "/console",
            },
            body,
        ),
        nonce,
    )
}

pub fn dispatch(ctx: &mut Ctx, req: &Request) -> Response {
    let session = login::session(ctx, req);
    let l = login::locale(req, session.as_ref());
    match route(ctx, req, session.as_ref(), l) {
        Ok(r) => r,
        Err(e) => {
            let body = format!("<p class=warn id=error>{}</p>", esc(&e.to_string()));
            match &session {
                Some(s) => {
                    let mut r = Ui { req, s, l }.page(l.t(M::Error), Nav::None, &body);
                    r.status = e.status();
                    r
                }
                None => bare(&l, e.status(), l.t(M::Error), &body, None),
            }
        }
    }
}

fn route(
    ctx: &mut Ctx,
    req: &Request,
    session: Option<&Session>,
    l: Locale,
) -> Result<Response, ApiError> {
    let (m, p) = (req.method.as_str(), req.path.as_str());
    if m != "GET" && m != "POST" {
        return Ok(bare(
            &l,
            405,
            l.t(M::NotAllowed),
            &format!("<p>{}</p>", esc(l.t(M::GetPostOnly))),
            None,
        )
        .with_header("Allow", "GET, POST".into()));
    }
    if p == "/console/style.css" {
        return Ok(Response::bytes("text/css; charset=utf-8", STYLE.into())
            .with_header("Cache-Control", "max-age=300".into()));
    }
    if p == "/console/icon.svg" {
        return Ok(Response::bytes("image/svg+xml", ICON.into())
            .with_header("Cache-Control", "max-age=86400".into()));
    }
    if p == "/console/login" {
        return match m {
            "GET" => login::login_page(ctx, req, &l, 200, None),
            _ => login::login(ctx, req, &l),
        };
    }
    let Some(s) = session else {
        return Ok(Response::redirect("/console/login"));
    };
    let ui = Ui { req, s, l };
    if m == "POST" {
        let form = req.form();
        let given = field(&form, "csrf").unwrap_or("");
        if !login::constant_time_eq(given.as_bytes(), s.csrf.as_bytes()) {
            let mut r = ui.page(
                ui.t(M::Refused),
                Nav::None,
                &format!("<p class=warn>{}</p>", esc(ui.t(M::CsrfRefused))),
            );
            r.status = 403;
            return Ok(r);
        }
        return post(ctx, &ui, p, &form);
    }
    match p {
        "/console" | "/console/" => return devices::dashboard(ctx, &ui),
        "/console/devices" => return devices::list(ctx, &ui),
        "/console/devices/new" => return devices::new_form(ctx, &ui),
        "/console/policies" => return policies::list(ctx, &ui),
        "/console/policies/new" => return policies::new_form(ctx, &ui),
        "/console/users" => return directory::users(ctx, &ui),
        "/console/groups" => return directory::groups(ctx, &ui),
        "/console/settings" => return login::settings(&ui),
        _ => {}
    }
    if let Some(a) = match_pattern("/console/devices/{id}/backups/{backup_id}", p) {
        return devices::download_backup(ctx, &a["id"], &a["backup_id"]);
    }
    if let Some(a) = match_pattern("/console/devices/{id}", p) {
        return devices::details(ctx, &ui, &a["id"]);
    }
    if let Some(a) = match_pattern("/console/policies/{id}", p) {
        return policies::editor(ctx, &ui, &a["id"]);
    }
    if let Some(a) = match_pattern("/console/groups/{id}", p) {
        return directory::group(ctx, &ui, &a["id"]);
    }
    Err(ApiError::NotFound(ui.t(M::NoSuchPage).into()))
}

/// The forms; each answers with a redirect to the page that shows the result.
fn post(ctx: &mut Ctx, ui: &Ui, p: &str, form: &[(String, String)]) -> Result<Response, ApiError> {
    match p {
        "/console/logout" => return login::logout(ctx, ui.req),
        "/console/settings" => return login::save_settings(ctx, ui, form),
        "/console/devices" => return devices::create(ctx, ui, form),
        "/console/policies" => return policies::create(ctx, form),
        _ => {}
    }
    if let Some(a) = match_pattern("/console/devices/{id}/sync", p) {
        return devices::force_sync(ctx, &a["id"]);
    }
    if let Some(a) = match_pattern("/console/devices/{id}/retire", p) {
        return devices::retire(ctx, &a["id"], form);
    }
    if let Some(a) = match_pattern("/console/devices/{id}/code", p) {
        return devices::new_code(ctx, &a["id"]);
    }
    if let Some(a) = match_pattern("/console/devices/{id}/policy", p) {
        return devices::assign_policy(ctx, &a["id"], form);
    }
    if let Some(a) = match_pattern("/console/policies/{id}", p) {
        return policies::update(ctx, &a["id"], form);
    }
    Err(ApiError::NotFound(ui.t(M::NoSuchPage).into()))
}

pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
