//! The admin console: server-rendered pages over the same repository the admin API uses.
//! Sign-in with the admin token sets an HttpOnly, SameSite=Strict session cookie (`Secure`
//! over TLS or behind a TLS proxy); every form carries the session's CSRF token, and the
//! sign-in form a pre-session one (double-submit cookie). Wrong sign-ins from one address
//! are answered with a growing wait. Device tokens cannot sign in (they are not the admin
//! token), and the console's cookie is worthless to the device API (bearer tokens only).

use std::fmt::Write;

use crate::admin_api::device_status_of;
use crate::device_api::reported_snapshot;
use crate::error::ApiError;
use crate::http::{match_pattern, Request, Response};
use crate::repo::{self, PolicyInput};
use crate::routes::Ctx;
use contacts_agent_protocol::{Field, SyncWindow};

const COOKIE: &str = "cas_session";
/// The sign-in form's pre-session CSRF token (double-submit: cookie and hidden field).
const LOGIN_COOKIE: &str = "cas_login";
const PAGE: usize = 50;
/// Wrong sign-ins from one address answered at once; each one after them doubles the wait
/// before the next attempt is even read: 1 s, 2 s, 4 s ... up to `MAX_WAIT`.
const FREE_ATTEMPTS: i64 = 3;
const MAX_WAIT: i64 = 15 * 60;

/// HTML-escapes text: contact names come from a directory anyone could have typed into.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{t} — contacts-agent console</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}dl{{display:grid;grid-template-columns:16rem auto}}\
         dt{{font-weight:600}}.warn{{color:#b00}}nav a{{margin-right:1rem}}section{{margin:1.5rem 0}}</style></head>\
         <body><nav><a href=/console>Devices</a><a href=/console/policies>Policies</a><a href=/console/users>Users</a>\
         <a href=/console/groups>Groups</a></nav><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    )
}

struct Session {
    csrf: String,
}

fn session(ctx: &Ctx, req: &Request) -> Option<Session> {
    let id = req.cookie(COOKIE)?;
    ctx.conn
        .query_row(
            "SELECT csrf FROM console_sessions WHERE id = ?1 AND created_at > datetime('now', '-12 hours')",
            [id],
            |r| Ok(Session { csrf: r.get(0)? }),
        )
        .ok()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn csrf_input(s: &Session) -> String {
    format!("<input type=hidden name=csrf value=\"{}\">", esc(&s.csrf))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn dispatch(ctx: &mut Ctx, req: &Request) -> Response {
    match route(ctx, req) {
        Ok(r) => r,
        Err(e) => Response::html(
            e.status(),
            page("Error", &format!("<p>{}</p>", esc(&e.to_string()))),
        ),
    }
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

fn route(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let (m, p) = (req.method.as_str(), req.path.as_str());
    if m != "GET" && m != "POST" {
        return Ok(Response::html(
            405,
            page(
                "Not allowed",
                "<p>The console answers GET and POST only.</p>",
            ),
        )
        .with_header("Allow", "GET, POST".into()));
    }
    if p == "/console/login" {
        return match m {
            "GET" => login_page(ctx, req, 200, None),
            _ => login(ctx, req),
        };
    }
    let Some(s) = session(ctx, req) else {
        return Ok(Response::redirect("/console/login"));
    };
    if m == "POST" {
        let form = req.form();
        let given = field(&form, "csrf").unwrap_or("");
        if !constant_time_eq(given.as_bytes(), s.csrf.as_bytes()) {
            return Ok(Response::html(
                403,
                page(
                    "Refused",
                    "<p>The form was not issued by this console (CSRF check failed).</p>",
                ),
            ));
        }
        if p == "/console/logout" {
            if let Some(id) = req.cookie(COOKIE) {
                ctx.conn
                    .execute("DELETE FROM console_sessions WHERE id = ?1", [id])?;
            }
            return Ok(Response::redirect("/console/login").with_header(
                "Set-Cookie",
                format!(
                    "{COOKIE}=; Max-Age=0; {}",
                    cookie_attrs(ctx, req, "/console")
                ),
            ));
        }
        if let Some(a) = match_pattern("/console/devices/{id}/sync", p) {
            repo::force_sync(&ctx.conn, &a["id"])?;
            return Ok(Response::redirect(&format!(
                "/console/devices/{}?synced=1",
                a["id"]
            )));
        }
        if let Some(a) = match_pattern("/console/policies/{id}", p) {
            let input = PolicyInput {
                name: field(&form, "name").unwrap_or("").to_owned(),
                basic_type: parse_enum(field(&form, "basic_type"))?,
                additional_groups: form
                    .iter()
                    .filter(|(k, _)| k == "group")
                    .map(|(_, v)| v.clone())
                    .collect(),
                sync_interval: parse_enum(field(&form, "sync_interval"))?,
                backup_interval: parse_enum(field(&form, "backup_interval"))?,
                // Unticked "Limit the fields", the boxes below it do not count: every field.
                fields: field(&form, "limit_fields").map(|_| {
                    form.iter()
                        .filter(|(k, _)| k == "field")
                        .map(|(_, v)| v.clone())
                        .collect()
                }),
                sync_window: window_from_form(&form)?,
                rollout_minutes: match field(&form, "rollout_minutes").map(str::trim) {
                    None | Some("") => 0,
                    Some(m) => m.parse().map_err(|_| {
                        ApiError::Unprocessable("the rollout spread is a number of minutes".into())
                    })?,
                },
            };
            let tx = ctx.conn.transaction()?;
            repo::update_policy(&tx, &a["id"], &input)?;
            tx.commit()?;
            return Ok(Response::redirect(&format!(
                "/console/policies/{}?saved=1",
                a["id"]
            )));
        }
        return Err(ApiError::NotFound("no such form".into()));
    }
    if p == "/console" || p == "/console/" {
        return devices(ctx, &s);
    }
    if let Some(a) = match_pattern("/console/devices/{id}/backups/{backup_id}", p) {
        let data = repo::backup_data(&ctx.conn, &a["id"], &a["backup_id"])?;
        return Ok(Response::bytes("application/zip", data).with_header(
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}.zip\"",
                a["backup_id"].replace('"', "")
            ),
        ));
    }
    if let Some(a) = match_pattern("/console/devices/{id}", p) {
        return device(ctx, req, &s, &a["id"]);
    }
    if p == "/console/policies" {
        return policies(ctx);
    }
    if let Some(a) = match_pattern("/console/policies/{id}", p) {
        return policy_editor(ctx, req, &s, &a["id"]);
    }
    if p == "/console/users" {
        return users(ctx, req);
    }
    if p == "/console/groups" {
        return groups(ctx);
    }
    Err(ApiError::NotFound("no such page".into()))
}

fn parse_enum<T: serde::de::DeserializeOwned>(v: Option<&str>) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(v.unwrap_or("").to_owned()))
        .map_err(|_| ApiError::Unprocessable("a field of the form has an unknown value".into()))
}

/// The sign-in form with a fresh pre-session CSRF token, in its cookie and in the form.
fn login_page(
    ctx: &Ctx,
    req: &Request,
    status: u16,
    error: Option<&str>,
) -> Result<Response, ApiError> {
    let msg = error
        .map(|e| format!("<p class=warn id=login-error>{}</p>", esc(e)))
        .unwrap_or_default();
    let token = repo::random_hex(16)?;
    Ok(Response::html(
        status,
        page(
            "Sign in",
            &format!(
                "{msg}<form method=post action=/console/login><input type=hidden name=login_csrf value={token}>\
                 <label>Admin token <input type=password name=password autocomplete=current-password></label> \
                 <button type=submit>Sign in</button></form>"
            ),
        ),
    )
    .with_header(
        "Set-Cookie",
        format!(
            "{LOGIN_COOKIE}={token}; {}",
            cookie_attrs(ctx, req, "/console/login")
        ),
    ))
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

fn login(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let form = req.form();
    // The form must come from our own sign-in page: its token matches its cookie.
    let given = field(&form, "login_csrf").unwrap_or("");
    let expected = req.cookie(LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return login_page(
            ctx,
            req,
            403,
            Some("The sign-in form expired or was not issued by this console; sign in again."),
        );
    }
    let client = client(ctx, req);
    let now = chrono::Utc::now().timestamp();
    let (failures, locked_until) = repo::login_lock(&ctx.conn, &client, now)?;
    if now < locked_until {
        // Not even compared: guessing goes no faster than the wait.
        let wait = locked_until - now;
        return Ok(login_page(
            ctx,
            req,
            429,
            Some(&format!(
                "Too many wrong sign-ins from this address; try again in {wait} s."
            )),
        )?
        .with_header("Retry-After", wait.to_string()));
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
        return login_page(ctx, req, 401, Some("Wrong admin token."));
    }
    repo::clear_login_failures(&ctx.conn, &client)?;
    let id = repo::random_hex(32)?;
    let csrf = repo::random_hex(32)?;
    ctx.conn.execute(
        "INSERT INTO console_sessions (id, csrf, created_at) VALUES (?1, ?2, datetime('now'))",
        [&id, &csrf],
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

/// One row of the device's synced contacts: the fields a person looks for in a directory
/// (name with prefix, suffix and nickname; numbers and e-mails with their custom labels and
/// the preferred one; office; manager). Everything escaped.
fn synced_row(u: &repo::User) -> String {
    let c = &u.contact;
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(&full_name(c)),
        esc(&c
            .phones
            .iter()
            .map(|p| entry(&p.number, p.kind.as_str(), p.label.as_deref(), p.preferred))
            .collect::<Vec<_>>()
            .join(", ")),
        esc(&c
            .emails
            .iter()
            .map(|e| entry(&e.address, e.kind.as_str(), e.label.as_deref(), e.preferred))
            .collect::<Vec<_>>()
            .join(", ")),
        esc(c.office_location.as_deref().unwrap_or("")),
        esc(c.manager.as_deref().unwrap_or("")),
        esc(&u.groups.join(", "))
    )
}

/// The name as a person reads it: "dr Anna Maria Nowak, MBA (Ania)". Unescaped.
fn full_name(c: &contacts_agent_protocol::ContactData) -> String {
    let mut name = c.display_name.clone();
    if let Some(p) = c.prefix.as_deref().filter(|p| !name.starts_with(*p)) {
        name = format!("{p} {name}");
    }
    if let Some(s) = &c.suffix {
        name = format!("{name}, {s}");
    }
    if let Some(n) = &c.nickname {
        name = format!("{name} ({n})");
    }
    name
}

/// "+48 1 (Reception, preferred)": a phone or e-mail with what the phone shows beside it.
/// A known kind is left out (the column says enough); a custom label and the flag are not.
fn entry(value: &str, kind: &str, label: Option<&str>, preferred: bool) -> String {
    let mut notes: Vec<&str> = Vec::new();
    if kind == contacts_agent_protocol::contact::CUSTOM {
        notes.extend(label);
    }
    if preferred {
        notes.push("preferred");
    }
    if notes.is_empty() {
        value.to_owned()
    } else {
        format!("{value} ({})", notes.join(", "))
    }
}

fn or_dash(v: &Option<String>) -> String {
    v.as_deref().map(esc).unwrap_or_else(|| "—".into())
}

fn devices(ctx: &Ctx, s: &Session) -> Result<Response, ApiError> {
    let now = chrono::Utc::now().to_rfc3339();
    let mut rows = String::new();
    for d in repo::list_devices(&ctx.conn)? {
        let st = device_status_of(&ctx.conn, &d.id)?;
        let failing = st
            .last_sync_result
            .as_deref()
            .is_some_and(|r| r.starts_with("failed"));
        let overdue = st
            .next_expected_sync
            .as_deref()
            .is_some_and(|n| n < now.as_str());
        let mark = if failing || overdue {
            "<span class=warn title=\"failing or overdue\">⚠</span>"
        } else {
            ""
        };
        let _ = write!(
            rows,
            "<tr><td>{mark} <a href=\"/console/devices/{id}\">{name}</a></td><td class=state>{state}</td><td>{user}</td>\
             <td>{policy}</td><td>{last}</td><td>{next}</td><td>{result}</td></tr>",
            id = esc(&d.id),
            name = esc(&d.name),
            state = d.state.label(),
            user = or_dash(&d.user_id),
            policy = or_dash(&d.policy_id),
            last = or_dash(&st.last_sync),
            next = or_dash(&st.next_expected_sync),
            result = or_dash(&st.last_sync_result),
        );
    }
    let body = format!(
        "<table><tr><th>Device</th><th>State</th><th>User</th><th>Policy</th><th>Last contacts sync</th><th>Next expected contacts sync</th>\
         <th>Last result</th></tr>{rows}</table><form method=post action=/console/logout>{}<button>Sign out</button></form>",
        csrf_input(s)
    );
    Ok(Response::html(200, page("Devices", &body)))
}

fn device(ctx: &Ctx, req: &Request, s: &Session, id: &str) -> Result<Response, ApiError> {
    let st = device_status_of(&ctx.conn, id)?;
    let mut b = String::new();
    let _ = write!(
        b,
        "<section id=sync-status><h2>Sync status</h2><dl>\
         <dt>Device state</dt><dd id=device-state>{}</dd>\
         <dt>Sync type</dt><dd id=sync-type>{}</dd>\
         <dt>Additional groups</dt><dd>{}</dd>\
         <dt>Sync interval</dt><dd id=sync-interval>{}</dd>\
         <dt>Next expected contacts sync</dt><dd id=next-sync>{}</dd>\
         <dt>Last contacts sync</dt><dd id=last-sync>{}</dd>\
         <dt>Last result</dt><dd id=last-result>{}</dd>\
         <dt>Contacts on the device</dt><dd id=contact-count>{}</dd></dl>\
         <form method=post action=\"/console/devices/{}/sync\">{}<button id=sync-now>Synchronize contacts</button></form>{}</section>",
        match (&st.revoked_at, &st.retired_at) {
            (Some(at), _) if st.state == repo::DeviceState::Revoked =>
                format!("<span class=warn>Revoked</span> on {}", esc(at)),
            (_, Some(at)) if st.state == repo::DeviceState::Retired =>
                format!("<span class=warn>Retired</span> by the device on {}", esc(at)),
            _ => st.state.label().to_owned(),
        },
        esc(&st.sync_type_label),
        esc(&st.additional_groups.join(", ")),
        esc(&st.sync_interval_label),
        or_dash(&st.next_expected_sync),
        or_dash(&st.last_sync),
        or_dash(&st.last_sync_result),
        st.contacts_on_device,
        esc(id),
        csrf_input(s),
        if st.pending_commands > 0 { "<p id=pending>A sync was requested; the device picks it up on its next poll.</p>" } else { "" },
    );
    let backups = repo::list_backups(&ctx.conn, id)?;
    let _ = write!(
        b,
        "<section id=backups><h2>Contact backup</h2><dl><dt>Last backup</dt><dd>{}</dd><dt>Last backup result</dt><dd>{}</dd>\
         <dt>Next expected backup</dt><dd>{}</dd></dl><table><tr><th>Created</th><th>Size</th><th>Contacts</th><th></th></tr>",
        or_dash(&st.last_backup),
        or_dash(&st.last_backup_result),
        or_dash(&st.next_expected_backup)
    );
    for bk in backups {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{} bytes</td><td>{}</td><td><a href=\"/console/devices/{}/backups/{}\">Download</a></td></tr>",
            esc(&bk.created_at), bk.size, bk.contact_count, esc(id), esc(&bk.id)
        );
    }
    b.push_str("</table></section>");
    // Every contact the automatic sync saved on the device, searchable and paged.
    let q = req.query("q").unwrap_or("").to_lowercase();
    let offset = req.query_usize("offset", 0, usize::MAX)?;
    let entries = match repo::status(&ctx.conn, id)? {
        Some((r, _)) => reported_snapshot(&ctx.conn, id, &r)?
            .map(|(e, _)| e)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let allowed = repo::device_fields(&ctx.conn, &repo::get_device(&ctx.conn, id)?)?;
    let mut matched = Vec::new();
    for (cid, _) in &entries {
        let Ok(u) = repo::get_user(&ctx.conn, cid).map(|u| repo::as_sent(u, allowed.as_ref()))
        else {
            continue;
        };
        let c = &u.contact;
        let hay = format!(
            "{} {} {}",
            c.display_name,
            c.phones
                .iter()
                .map(|p| p.number.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            c.emails
                .iter()
                .map(|e| e.address.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        )
        .to_lowercase();
        if q.is_empty() || hay.contains(&q) {
            matched.push(u);
        }
    }
    let _ = write!(
        b,
        "<section id=synced><h2>Contacts saved on the device by the sync</h2><form method=get><input name=q value=\"{}\" \
         placeholder=\"name, phone or e-mail\"> <button>Search</button></form><p id=synced-total>{} contacts</p>\
         <table><tr><th>Name</th><th>Phones</th><th>E-mails</th><th>Office</th><th>Manager</th><th>Groups</th></tr>",
        esc(&q),
        matched.len()
    );
    for u in matched.iter().skip(offset).take(PAGE) {
        b.push_str(&synced_row(u));
    }
    b.push_str("</table>");
    if offset + PAGE < matched.len() {
        let _ = write!(
            b,
            "<a id=next-page href=\"?q={}&offset={}\">Next page</a>",
            esc(&q),
            offset + PAGE
        );
    }
    b.push_str("</section>");
    Ok(Response::html(
        200,
        page(&format!("Device {}", st.device_name), &b),
    ))
}

fn policies(ctx: &Ctx) -> Result<Response, ApiError> {
    let mut rows = String::new();
    for p in repo::list_policies(&ctx.conn)? {
        let _ = write!(
            rows,
            "<tr><td><a href=\"/console/policies/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.id), esc(&p.name), p.basic_type.label(), esc(&p.additional_groups.join(", ")), p.sync_interval.label(), p.backup_interval.as_str(),
            window_summary(p.sync_window), fields_summary(p.fields.as_deref())
        );
    }
    Ok(Response::html(200, page("Policies", &format!(
        "<table><tr><th>Policy</th><th>Basic sync type</th><th>Additional groups</th><th>Sync interval</th><th>Backup interval</th><th>Sync window</th><th>Fields sent</th></tr>{rows}</table>"
    ))))
}

/// "All", or the names of the fields a policy sends besides the name.
fn fields_summary(fields: Option<&[Field]>) -> String {
    match fields {
        None => "All".into(),
        Some(f) => {
            let names: Vec<&str> = f
                .iter()
                .filter(|f| **f != Field::Name)
                .map(|f| f.as_str())
                .collect();
            if names.is_empty() {
                "Name only".into()
            } else {
                format!("Name, {}", names.join(", "))
            }
        }
    }
}

/// The allow-list part of the policy editor: a box that turns the limit on, and one box per
/// field (the name always on).
fn fields_boxes(fields: Option<&[Field]>) -> String {
    let limited = if fields.is_some() { " checked" } else { "" };
    let mut s = format!(
        "<label><input type=checkbox name=limit_fields id=limit_fields value=1{limited}> \
         Send only the fields ticked below (unticked: every field, including ones added later)</label><br>"
    );
    for f in Field::ALL {
        let on = fields.is_none_or(|list| list.contains(&f)) || f == Field::Name;
        let checked = if on { " checked" } else { "" };
        // The name is always sent: shown ticked, not sent by the form.
        let disabled = if f == Field::Name { " disabled" } else { "" };
        let _ = write!(
            s,
            "<label><input type=checkbox name=field value={v} id=field-{v}{checked}{disabled}> {}</label><br>",
            esc(f.label()),
            v = f.as_str(),
        );
    }
    s
}

/// The window from the editor's two time fields: both empty is the whole day.
fn window_from_form(form: &[(String, String)]) -> Result<Option<SyncWindow>, ApiError> {
    let start = field(form, "window_start").unwrap_or("").trim();
    let end = field(form, "window_end").unwrap_or("").trim();
    match (start, end) {
        ("", "") => Ok(None),
        ("", _) | (_, "") => Err(ApiError::Unprocessable(
            "a sync window needs both a start and an end (or neither, for the whole day)".into(),
        )),
        (start, end) => SyncWindow::parse(start, end)
            .map(Some)
            .map_err(|e| ApiError::Unprocessable(e.to_string())),
    }
}

/// "Whole day", or "01:00–05:00 (device time)".
fn window_summary(w: Option<SyncWindow>) -> String {
    w.map_or("Whole day".into(), |w| {
        format!("{} (device time)", w.label())
    })
}

fn select(name: &str, options: &[(&str, &str)], current: &str) -> String {
    let mut s = format!("<select name={name} id={name}>");
    for (v, label) in options {
        let sel = if *v == current { " selected" } else { "" };
        let _ = write!(s, "<option value={v}{sel}>{}</option>", esc(label));
    }
    s.push_str("</select>");
    s
}

fn policy_editor(ctx: &Ctx, req: &Request, s: &Session, id: &str) -> Result<Response, ApiError> {
    use contacts_agent_protocol::{BackupInterval as B, BasicType as T, SyncInterval as I};
    let p = repo::get_policy(&ctx.conn, id)?;
    let types: Vec<(&str, &str)> = [T::None, T::UserGroups, T::AllGroups]
        .iter()
        .map(|t| (t.as_str(), t.label()))
        .collect();
    let intervals: Vec<(&str, &str)> = [I::Disabled, I::Daily, I::Weekly, I::Monthly]
        .iter()
        .map(|i| (i.as_str(), i.label()))
        .collect();
    let backups: Vec<(&str, &str)> = [B::Off, B::Daily, B::Weekly, B::Monthly]
        .iter()
        .map(|b| (b.as_str(), b.as_str()))
        .collect();
    let mut groups = String::new();
    for g in repo::list_groups(&ctx.conn)? {
        let checked = if p.additional_groups.contains(&g.id) {
            " checked"
        } else {
            ""
        };
        let _ = write!(
            groups,
            "<label><input type=checkbox name=group value=\"{}\"{checked}> {}</label> ",
            esc(&g.id),
            esc(&g.name)
        );
    }
    let saved = if req.query("saved").is_some() {
        "<p id=saved>Saved. Devices on this policy apply it on their next run.</p>"
    } else {
        ""
    };
    let body = format!(
        "{saved}<form method=post>{csrf}<dl><dt>Name</dt><dd><input name=name value=\"{name}\"></dd>\
         <dt>Basic sync type</dt><dd>{types}</dd><dt>Additional groups</dt><dd>{groups}</dd>\
         <dt>Sync interval</dt><dd>{intervals}</dd><dt>Backup interval</dt><dd>{backups}</dd>\
         <dt>Sync window</dt><dd><input type=time name=window_start id=window_start value=\"{ws}\"> to \
         <input type=time name=window_end id=window_end value=\"{we}\"> device time \
         (empty: any time of day; each phone keeps its own time inside the window)</dd>\
         <dt>Spread a change over</dt><dd><input type=number min=0 max={max_rollout} name=rollout_minutes \
         id=rollout_minutes value={rollout}> minutes (0: phones apply it at once; for a large fleet, \
         e.g. 60)</dd>\
         <dt>Fields sent to phones</dt><dd>{fields}</dd></dl>\
         <button id=save>Save policy</button></form>",
        csrf = csrf_input(s),
        name = esc(&p.name),
        types = select("basic_type", &types, p.basic_type.as_str()),
        intervals = select("sync_interval", &intervals, p.sync_interval.as_str()),
        backups = select("backup_interval", &backups, p.backup_interval.as_str()),
        fields = fields_boxes(p.fields.as_deref()),
        ws = p.sync_window.map(SyncWindow::start_text).unwrap_or_default(),
        we = p.sync_window.map(SyncWindow::end_text).unwrap_or_default(),
        rollout = p.rollout_minutes,
        max_rollout = contacts_agent_protocol::Policy::MAX_ROLLOUT_MINUTES,
    );
    Ok(Response::html(
        200,
        page(&format!("Policy {}", p.name), &body),
    ))
}

fn users(ctx: &Ctx, req: &Request) -> Result<Response, ApiError> {
    let offset = req.query_usize("offset", 0, usize::MAX)?;
    let (total, users) = repo::list_users(&ctx.conn, req.query("q"), offset, PAGE)?;
    let mut rows = String::new();
    for u in users {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&u.id),
            esc(&u.contact.display_name),
            esc(&u.groups.join(", "))
        );
    }
    Ok(Response::html(200, page("Users", &format!("<p>{total} users</p><table><tr><th>Id</th><th>Name</th><th>Groups</th></tr>{rows}</table>"))))
}

fn groups(ctx: &Ctx) -> Result<Response, ApiError> {
    let mut rows = String::new();
    for g in repo::list_groups(&ctx.conn)? {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&g.id),
            esc(&g.name),
            g.member_count
        );
    }
    Ok(Response::html(
        200,
        page(
            "Groups",
            &format!("<table><tr><th>Id</th><th>Name</th><th>Members</th></tr>{rows}</table>"),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use contacts_agent_protocol::{ContactData, Email, EmailKind, Phone, PhoneKind};

    #[test]
    fn a_synced_row_shows_the_richer_contact_escaped() {
        let contact = ContactData {
            display_name: "Anna <b>Nowak</b>".into(),
            prefix: Some("dr".into()),
            suffix: Some("MBA".into()),
            nickname: Some("Ania".into()),
            phones: vec![
                Phone {
                    label: Some("Recep<tion>".into()),
                    ..Phone::new("+48 1", PhoneKind::Custom)
                },
                Phone {
                    preferred: true,
                    ..Phone::new("+48 2", PhoneKind::Mobile)
                },
            ],
            emails: vec![Email::new("a@b.c", EmailKind::Work)],
            office_location: Some("Floor 3 & 4".into()),
            manager: Some("Jessica Pearson".into()),
            ..Default::default()
        };
        let row = synced_row(&repo::User {
            id: "u-1".into(),
            hash: String::new(),
            contact,
            groups: vec!["Harvey".into()],
        });
        assert_eq!(
            row,
            "<tr><td>dr Anna &lt;b&gt;Nowak&lt;/b&gt;, MBA (Ania)</td>\
             <td>+48 1 (Recep&lt;tion&gt;), +48 2 (preferred)</td><td>a@b.c</td>\
             <td>Floor 3 &amp; 4</td><td>Jessica Pearson</td><td>Harvey</td></tr>"
        );
    }

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(
            esc("<script>alert('x')</script> & \""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;"
        );
    }
}
