//! Signing in and out, the session, and the admin's settings (language, time zone).

use std::fmt::Write;

use super::format::{zone, Locale};
use super::messages::{fill, Lang, M};
use super::view::{esc, select, Nav};
use super::{bare, field, Session, Ui};
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::repo;
use crate::routes::Ctx;

const COOKIE: &str = "cas_session";
/// The sign-in form's pre-session CSRF token (double-submit: cookie and hidden field).
const LOGIN_COOKIE: &str = "cas_login";
/// Wrong sign-ins from one address answered at once; each one after them doubles the wait
/// before the next attempt is even read: 1 s, 2 s, 4 s ... up to `MAX_WAIT`.
const FREE_ATTEMPTS: i64 = 3;
const MAX_WAIT: i64 = 15 * 60;

/// How long a console session lasts from sign-in.
const SESSION_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(12);

/// A session's time as stored: SQLite's `datetime()` text (what rows written before it was
/// computed here hold), compared as text.
fn session_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

pub fn session(ctx: &Ctx, req: &Request) -> Option<Session> {
    let id = req.cookie(COOKIE)?;
    ctx.conn
        .query_row(
            "SELECT id, csrf, lang, tz FROM console_sessions
             WHERE id = ?1 AND created_at > ?2",
            [
                id,
                session_time(chrono::Utc::now() - SESSION_LIFETIME).as_str(),
            ],
            |r| {
                Ok(Session {
                    id: r.get(0)?,
                    csrf: r.get(1)?,
                    lang: r
                        .get::<_, Option<String>>(2)?
                        .as_deref()
                        .and_then(Lang::parse),
                    tz: r.get(3)?,
                })
            },
        )
        .ok()
}

/// The language: the session's choice, else `?lang=` (the sign-in page's switch), else the
/// browser's `Accept-Language`. The zone: the session's (named by the browser at sign-in).
pub fn locale(req: &Request, s: Option<&Session>) -> Locale {
    let lang = s
        .and_then(|s| s.lang)
        .or_else(|| req.query("lang").and_then(Lang::parse))
        .unwrap_or_else(|| Lang::from_accept_language(req.header("accept-language")));
    Locale {
        lang,
        tz: zone(s.and_then(|s| s.tz.as_deref())),
        now: chrono::Utc::now(),
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Cookie attributes: `Secure` when the browser reached us over TLS, served by this server
/// or by a proxy it was told about.
fn cookie_attrs(ctx: &Ctx, req: &Request, path: &str) -> String {
    let secure = if req.tls || ctx.behind_tls_proxy {
        "; Secure"
    } else {
        ""
    };
    format!("Path={path}; HttpOnly; SameSite=Strict{secure}")
}

/// The address wrong sign-ins are counted against: the TCP peer or, behind a proxy, the
/// address the proxy saw (the last `X-Forwarded-For` entry; earlier ones are the client's
/// own to write).
fn client(ctx: &Ctx, req: &Request) -> String {
    if ctx.behind_tls_proxy {
        if let Some(last) = req
            .header("x-forwarded-for")
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 64)
        {
            return last.to_owned();
        }
    }
    req.peer
        .map_or_else(|| "unknown".to_owned(), |p| p.ip().to_string())
}

/// The wait before the next attempt after `failures` wrong ones in a row, in seconds.
fn login_wait(failures: i64) -> i64 {
    if failures < FREE_ATTEMPTS {
        0
    } else {
        1i64.checked_shl((failures - FREE_ATTEMPTS).min(20) as u32)
            .unwrap_or(MAX_WAIT)
            .min(MAX_WAIT)
    }
}

/// The sign-in form with a fresh pre-session CSRF token, in its cookie and in the form. Its
/// one script (allowed by a nonce) tells the server the browser's time zone.
pub fn login_page(
    ctx: &Ctx,
    req: &Request,
    l: &Locale,
    status: u16,
    error: Option<&str>,
) -> Result<Response, ApiError> {
    let msg = error
        .map(|e| format!("<p class=warn id=login-error>{}</p>", esc(e)))
        .unwrap_or_default();
    let token = repo::random_hex(16)?;
    let nonce = repo::random_hex(16)?;
    let mut langs = String::new();
    for lang in Lang::ALL {
        let _ = write!(
            langs,
            "<a href=\"/console/login?lang={c}\" lang={c}>{}</a> ",
            esc(lang.own_name()),
            c = lang.code()
        );
    }
    let body = format!(
        "<section class=card>{msg}<form method=post action=/console/login class=inline>\
         <input type=hidden name=login_csrf value={token}><input type=hidden name=lang value={lang}>\
         <input type=hidden name=tz id=tz value=UTC>\
         <label>{label} <input type=password name=password autocomplete=current-password></label> \
         <button type=submit>{sign_in}</button></form><p class=note>{langs}</p></section>\
         <script nonce={nonce}>document.getElementById('tz').value=Intl.DateTimeFormat().resolvedOptions().timeZone||'UTC'</script>",
        lang = l.lang.code(),
        label = esc(l.t(M::AdminToken)),
        sign_in = esc(l.t(M::SignIn)),
    );
    Ok(
        bare(l, status, l.t(M::SignIn), &body, Some(&nonce)).with_header(
            "Set-Cookie",
            format!(
                "{LOGIN_COOKIE}={token}; {}",
                cookie_attrs(ctx, req, "/console/login")
            ),
        ),
    )
}

pub fn login(ctx: &mut Ctx, req: &Request, l: &Locale) -> Result<Response, ApiError> {
    let form = req.form();
    let mut l = *l;
    if let Some(lang) = field(&form, "lang").and_then(Lang::parse) {
        l.lang = lang;
    }
    let l = &l;
    // The form must come from our own sign-in page: its token matches its cookie.
    let given = field(&form, "login_csrf").unwrap_or("");
    let expected = req.cookie(LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return login_page(ctx, req, l, 403, Some(l.t(M::LoginExpired)));
    }
    let client = client(ctx, req);
    let now = chrono::Utc::now().timestamp();
    let (failures, locked_until) = repo::login_lock(&ctx.conn, &client, now)?;
    if now < locked_until {
        // Not even compared: guessing goes no faster than the wait.
        let wait = locked_until - now;
        let msg = fill(l.lang, M::TooManySignIns, &[("n", &wait.to_string())]);
        return Ok(
            login_page(ctx, req, l, 429, Some(&msg))?.with_header("Retry-After", wait.to_string())
        );
    }
    let password = field(&form, "password").unwrap_or("");
    if !constant_time_eq(password.as_bytes(), ctx.admin_token.as_bytes()) {
        let failures = failures + 1;
        let wait = login_wait(failures);
        repo::record_login_failure(&ctx.conn, &client, failures, now, now + wait)?;
        // The address and the count, never what was typed.
        log::warn!(
            "console sign-in refused: wrong admin token from {client} ({failures} in a row); next attempt read after {wait} s"
        );
        return login_page(ctx, req, l, 401, Some(l.t(M::WrongToken)));
    }
    repo::clear_login_failures(&ctx.conn, &client)?;
    let id = repo::random_hex(32)?;
    let csrf = repo::random_hex(32)?;
    // A zone name we do not know is not kept: the pages fall back to UTC.
    let tz = field(&form, "tz").filter(|t| t.len() <= 64 && t.parse::<chrono_tz::Tz>().is_ok());
    ctx.conn.execute(
        "INSERT INTO console_sessions (id, csrf, created_at, lang, tz) VALUES (?1, ?2, ?3, ?4, ?5)",
        crate::sql::params![
            id,
            csrf,
            session_time(chrono::Utc::now()),
            l.lang.code(),
            tz
        ],
    )?;
    Ok(Response::redirect("/console")
        .with_header(
            "Set-Cookie",
            format!("{COOKIE}={id}; {}", cookie_attrs(ctx, req, "/console")),
        )
        .with_header(
            "Set-Cookie",
            format!(
                "{LOGIN_COOKIE}=; Max-Age=0; {}",
                cookie_attrs(ctx, req, "/console/login")
            ),
        ))
}

pub fn logout(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    if let Some(id) = req.cookie(COOKIE) {
        ctx.conn
            .execute("DELETE FROM console_sessions WHERE id = ?1", [id])?;
    }
    Ok(Response::redirect("/console/login").with_header(
        "Set-Cookie",
        format!(
            "{COOKIE}=; Max-Age=0; {}",
            cookie_attrs(ctx, req, "/console")
        ),
    ))
}

/// Language and time zone.
pub fn settings(ui: &Ui) -> Result<Response, ApiError> {
    let langs: Vec<(&str, &str)> = Lang::ALL.iter().map(|l| (l.code(), l.own_name())).collect();
    let zones: Vec<(&str, &str)> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|z| (z.name(), z.name()))
        .collect();
    let saved = if ui.req.query("saved").is_some() {
        format!("<p class=flash id=saved>{}</p>", esc(ui.t(M::Saved)))
    } else {
        String::new()
    };
    let body = format!(
        "{saved}<section><form method=post action=/console/settings>{csrf}\
         <input type=hidden name=back value=\"/console/settings?saved=1\"><dl class=fields>\
         <dt><label for=lang>{lang_l}</label></dt><dd>{langs}</dd>\
         <dt><label for=tz>{tz_l}</label></dt><dd>{zones}</dd></dl>\
         <div class=actions><button>{save}</button></div></form></section>",
        csrf = super::view::csrf_input(ui.s),
        lang_l = esc(ui.t(M::Language)),
        langs = select("lang", &langs, ui.l.lang.code()),
        tz_l = esc(ui.t(M::TimeZone)),
        zones = select("tz", &zones, ui.l.tz.name()),
        save = esc(ui.t(M::Save)),
    );
    Ok(ui.page(ui.t(M::Settings), Nav::Settings, &body))
}

/// Saves what the form names (the header's switch sends only the language) and goes back to
/// the page it came from: a path of this console, nothing else.
pub fn save_settings(
    ctx: &mut Ctx,
    ui: &Ui,
    form: &[(String, String)],
) -> Result<Response, ApiError> {
    if let Some(lang) = field(form, "lang").and_then(Lang::parse) {
        ctx.conn.execute(
            "UPDATE console_sessions SET lang = ?2 WHERE id = ?1",
            [&ui.s.id, lang.code()],
        )?;
    }
    if let Some(tz) = field(form, "tz").filter(|t| t.parse::<chrono_tz::Tz>().is_ok()) {
        ctx.conn.execute(
            "UPDATE console_sessions SET tz = ?2 WHERE id = ?1",
            [&ui.s.id, tz],
        )?;
    }
    let back = field(form, "back")
        .filter(|b| b.starts_with("/console") && !b.contains("//") && !b.contains('\\'))
        .unwrap_or("/console");
    Ok(Response::redirect(back))
}
