//! The dashboard, the device list and a device's details and life cycle: add a device and
//! show its enrollment, assign its policy, force a sync and follow it, and what the phone
//! holds (as it was sent, with the changes pending).

use std::fmt::Write;

use contacts_agent_protocol::ContactData;

use super::messages::{self, fill, M};
use super::view::{self, esc, href, named, pager, select, Nav};
use super::{field, Ui, PAGE};
use crate::admin_api::{device_query, device_status_of};
use crate::device_list::{self, Filter, Sort};
use crate::error::ApiError;
use crate::http::Response;
use crate::repo::{self, DeviceState};
use crate::routes::Ctx;

/// Seconds between reloads of a device page while a command waits for the phone.
const REFRESH_SECONDS: u32 = 3;

fn filter_label(f: Filter) -> M {
    match f {
        Filter::All => M::FleetAll,
        Filter::Ok => M::FleetOk,
        Filter::Failing => M::FleetFailing,
        Filter::Overdue => M::FleetOverdue,
        Filter::NeverSynced => M::FleetNeverSynced,
        Filter::AwaitingEnrollment => M::FleetAwaiting,
        Filter::Retiring => M::FleetRetiring,
    }
}

fn filter_class(f: Filter) -> &'static str {
    match f {
        Filter::Ok => "ok",
        Filter::Failing => "warn",
        Filter::Overdue | Filter::NeverSynced | Filter::Retiring => "late",
        Filter::All | Filter::AwaitingEnrollment => "",
    }
}

fn sort_label(s: Sort) -> M {
    match s {
        Sort::Name => M::SortName,
        Sort::Created => M::SortCreated,
        Sort::LastSync => M::SortLastSync,
        Sort::NextSync => M::SortNextSync,
    }
}

pub fn state_label(s: DeviceState) -> M {
    match s {
        DeviceState::AwaitingEnrollment => M::StateAwaiting,
        DeviceState::Enrolled => M::StateEnrolled,
        DeviceState::Retiring => M::StateRetiring,
        DeviceState::Revoked => M::StateRevoked,
        DeviceState::Retired => M::StateRetired,
    }
}

fn state_badge(ui: &Ui, s: DeviceState) -> String {
    let class = match s {
        DeviceState::Enrolled => "badge ok",
        DeviceState::Revoked | DeviceState::Retired => "badge warn",
        DeviceState::AwaitingEnrollment => "badge",
        DeviceState::Retiring => "badge late",
    };
    format!(
        "<span class=\"{class}\">{}</span>",
        esc(ui.t(state_label(s)))
    )
}

/// The dashboard: how many devices are in each state, each a link to the list so filtered.
pub fn dashboard(ctx: &Ctx, ui: &Ui) -> Result<Response, ApiError> {
    let counts = device_list::counts(&ctx.conn, ui.l.now)?;
    let mut tiles = String::from("<div class=tiles>");
    for f in [
        Filter::Ok,
        Filter::Failing,
        Filter::Overdue,
        Filter::NeverSynced,
        Filter::Retiring,
        Filter::AwaitingEnrollment,
        Filter::All,
    ] {
        let _ = write!(
            tiles,
            "<a class=\"tile tile-{class}\" id=tile-{id} href=\"{link}\"><span class=n>{n}</span>{label}</a>",
            class = filter_class(f),
            id = f.as_str(),
            link = href("/console/devices", &[("filter", f.as_str())]),
            n = ui.l.count(counts.of(f)),
            label = esc(ui.t(filter_label(f))),
        );
    }
    tiles.push_str("</div>");
    let _ = write!(
        tiles,
        "<p class=actions><a href=/console/devices/new id=add-device>{}</a></p>",
        esc(ui.t(M::AddDevice))
    );
    Ok(ui.page(ui.t(M::Dashboard), Nav::Dashboard, &tiles))
}

/// The device list: one page, filtered and sorted by the database.
pub fn list(ctx: &Ctx, ui: &Ui) -> Result<Response, ApiError> {
    // Overdue devices read best most overdue first; that order also has its index.
    let default_sort = match ui.req.query("filter") {
        Some("overdue") => Sort::NextSync,
        _ => Sort::Name,
    };
    let mut q = device_query(ui.req, default_sort)?;
    q.limit = PAGE;
    let page = device_list::page(&ctx.conn, &q, ui.l.now)?;
    let filters: Vec<(&str, &str)> = Filter::ALL
        .iter()
        .map(|f| (f.as_str(), ui.t(filter_label(*f))))
        .collect();
    let sorts: Vec<(&str, &str)> = Sort::ALL
        .iter()
        .map(|s| (s.as_str(), ui.t(sort_label(*s))))
        .collect();
    let policies = repo::list_policies(&ctx.conn)?;
    let mut policy_options: Vec<(&str, &str)> = vec![("", ui.t(M::AnyPolicy))];
    policy_options.extend(policies.iter().map(|p| (p.id.as_str(), p.name.as_str())));
    let policy_id = q.policy_id.clone().unwrap_or_default();
    let user_id = q.user_id.clone().unwrap_or_default();
    let mut b = format!(
        "<form method=get class=filters id=device-filters>\
         <label>{show}{filters}</label><label>{on_policy}{policies}</label>\
         <label>{user}<input name=user_id value=\"{uid}\" size=10></label>\
         <label>{sort_by}{sorts}</label><button>{apply}</button></form>",
        show = esc(ui.t(M::Filter)),
        filters = select("filter", &filters, q.filter.as_str()),
        on_policy = esc(ui.t(M::OnPolicy)),
        policies = select("policy_id", &policy_options, &policy_id),
        user = esc(ui.t(M::OfUser)),
        uid = esc(&user_id),
        sort_by = esc(ui.t(M::SortBy)),
        sorts = select("sort", &sorts, q.sort.as_str()),
        apply = esc(ui.t(M::Search)),
    );
    let heads = [
        ui.t(M::Device),
        ui.t(M::DeviceState),
        ui.t(M::User),
        ui.t(M::Policy),
        ui.t(M::LastSync),
        ui.t(M::NextExpectedSync),
        ui.t(M::LastCheckIn),
    ];
    let threshold = device_list::overdue_threshold(ui.l.now);
    let rows: Vec<(&str, Vec<String>)> = page
        .rows
        .iter()
        .map(|r| {
            let d = &r.device;
            let overdue = d.enrolled
                && !r.sync_failing
                && r.next_sync_at
                    .as_deref()
                    .is_some_and(|n| n < threshold.as_str());
            let mark = if r.sync_failing {
                format!(
                    " <span class=\"badge warn\">{}</span>",
                    esc(ui.t(M::FleetFailing))
                )
            } else if overdue {
                format!(
                    " <span class=\"badge late\">{}</span>",
                    esc(ui.t(M::FleetOverdue))
                )
            } else {
                String::new()
            };
            (
                "",
                vec![
                    format!(
                        "<a href=\"/console/devices/{}\">{}</a>{mark}",
                        esc(&d.id),
                        esc(&d.name)
                    ),
                    state_badge(ui, d.state),
                    d.user_id
                        .as_deref()
                        .map(|u| named(r.user_name.as_deref(), u))
                        .unwrap_or_else(|| esc(ui.t(M::Dash))),
                    d.policy_id
                        .as_deref()
                        .map(|p| {
                            format!(
                                "<a href=\"/console/policies/{}\">{}</a>",
                                esc(p),
                                named(r.policy_name.as_deref(), p)
                            )
                        })
                        .unwrap_or_else(|| esc(ui.t(M::Dash))),
                    ui.l.time(r.last_sync_at.as_deref()),
                    ui.l.time(r.next_sync_at.as_deref()),
                    ui.l.time(r.last_report_at.as_deref()),
                ],
            )
        })
        .collect();
    b.push_str("<section>");
    if rows.is_empty() && q.offset == 0 {
        let _ = write!(
            b,
            "<p class=note id=no-devices>{}</p>",
            esc(ui.t(M::NoDevices))
        );
    } else {
        b.push_str(&view::table("devices", &heads, &rows));
    }
    let keep = [
        (
            "filter",
            if q.filter == Filter::All {
                ""
            } else {
                q.filter.as_str()
            },
        ),
        ("policy_id", policy_id.as_str()),
        ("user_id", user_id.as_str()),
        (
            "sort",
            if q.sort == default_sort {
                ""
            } else {
                q.sort.as_str()
            },
        ),
    ];
    b.push_str(&pager(
        &ui.l,
        "/console/devices",
        &keep,
        q.offset,
        PAGE,
        rows.len(),
        page.more,
    ));
    let _ = write!(
        b,
        "</section><p class=actions><a href=/console/devices/new id=add-device>{}</a></p>",
        esc(ui.t(M::AddDevice))
    );
    Ok(ui.page(ui.t(M::Devices), Nav::Devices, &b))
}

/// Options of the policy select: none first, then every policy by name.
fn policy_options<'a>(ui: &Ui, policies: &'a [repo::PolicyRecord]) -> Vec<(&'a str, &'a str)> {
    let mut v: Vec<(&str, &str)> = vec![("", ui.t(M::NoPolicy))];
    v.extend(policies.iter().map(|p| (p.id.as_str(), p.name.as_str())));
    v
}

/// The users the add-device form offers in its `<datalist>` (name and id, typed or picked).
/// Past this many the list holds the first ones by id, and the Users page (searchable, paged,
/// an "Add device" link on each row) finds the rest.
const USER_CHOICES: usize = 5000;

/// What the add-device form holds: empty, from a user's "Add device" link, or as the admin
/// typed it when the server refused it.
#[derive(Default)]
struct NewDevice<'a> {
    name: &'a str,
    user_id: &'a str,
    policy_id: &'a str,
}

/// Add a device: its name, its user, its policy; then its page shows the enrollment code.
pub fn new_form(ctx: &Ctx, ui: &Ui) -> Result<Response, ApiError> {
    let values = NewDevice {
        user_id: ui.req.query("user_id").unwrap_or(""),
        ..NewDevice::default()
    };
    device_form(ctx, ui, &values, None)
}

/// The form, with what it held and, after a refusal, why (422, nothing created).
fn device_form(
    ctx: &Ctx,
    ui: &Ui,
    v: &NewDevice,
    error: Option<&str>,
) -> Result<Response, ApiError> {
    let policies = repo::list_policies(&ctx.conn)?;
    let (total, users) = repo::list_users(&ctx.conn, None, 0, USER_CHOICES)?;
    let mut choices = String::from("<datalist id=user-choices>");
    for u in &users {
        let _ = write!(
            choices,
            "<option value=\"{}\">{}</option>",
            esc(&u.id),
            esc(&u.contact.display_name)
        );
    }
    choices.push_str("</datalist>");
    let error_html = error.map_or(String::new(), |e| {
        format!("<p class=warn id=form-error role=alert>{}</p>", esc(e))
    });
    let body = format!(
        "<section>{error_html}<form method=post action=/console/devices id=new-device>{csrf}<dl class=fields>\
         <dt><label for=name>{name_l}</label></dt><dd><input name=name id=name required maxlength={max} value=\"{name}\"></dd>\
         <dt><label for=user_id>{user_l}</label></dt><dd><input name=user_id id=user_id list=user-choices \
         autocomplete=off value=\"{uid}\">{choices}<p class=note id=user-hint>{hint}</p></dd>\
         <dt><label for=policy_id>{policy_l}</label></dt><dd>{policies}</dd></dl>\
         <div class=actions><button id=create-device>{create}</button></div></form></section>",
        csrf = view::csrf_input(ui.s),
        name_l = esc(ui.t(M::DeviceName)),
        name = esc(v.name),
        max = crate::input::LABEL,
        user_l = esc(ui.t(M::User)),
        uid = esc(v.user_id),
        hint = fill(
            ui.l.lang,
            if (total as usize) > users.len() {
                M::UserChoiceHintPartial
            } else {
                M::UserChoiceHint
            },
            &[
                ("n", &ui.l.count(users.len() as u64)),
                ("users", &format!("<a href=/console/users>{}</a>", esc(ui.t(M::Users)))),
            ]
        ),
        policy_l = esc(ui.t(M::Policy)),
        policies = select("policy_id", &policy_options(ui, &policies), v.policy_id),
        create = esc(ui.t(M::Create)),
    );
    let mut r = ui.page(ui.t(M::AddDevice), Nav::Devices, &body);
    if error.is_some() {
        r.status = 422;
    }
    Ok(r)
}

/// Creates the device; a name, user or policy the server cannot take answers the form again
/// with what was typed and why, and creates nothing.
pub fn create(ctx: &mut Ctx, ui: &Ui, form: &[(String, String)]) -> Result<Response, ApiError> {
    let v = NewDevice {
        name: field(form, "name").unwrap_or(""),
        user_id: field(form, "user_id").map_or("", str::trim),
        policy_id: field(form, "policy_id").unwrap_or(""),
    };
    let refusal = if crate::input::label("name", v.name).is_err() {
        Some(M::DeviceNameInvalid)
    } else if !v.user_id.is_empty() && !user_exists(ctx, v.user_id)? {
        Some(M::NoSuchUser)
    } else if !v.policy_id.is_empty()
        && !repo::list_policies(&ctx.conn)?
            .iter()
            .any(|p| p.id == v.policy_id)
    {
        Some(M::NoSuchPolicy)
    } else {
        None
    };
    if let Some(m) = refusal {
        let why = fill(ui.l.lang, m, &[("max", &crate::input::LABEL.to_string())]);
        return device_form(ctx, ui, &v, Some(&why));
    }
    let user = Some(v.user_id).filter(|u| !u.is_empty());
    let tx = ctx.conn.transaction()?;
    let (id, _code) = repo::create_device(&tx, v.name, user, ctx.enrollment_code_ttl)?;
    if !v.policy_id.is_empty() {
        repo::assign_policy(&tx, &id, Some(v.policy_id))?;
    }
    tx.commit()?;
    Ok(Response::redirect(&format!("/console/devices/{id}")))
}

fn user_exists(ctx: &Ctx, id: &str) -> Result<bool, ApiError> {
    match repo::get_user(&ctx.conn, id) {
        Ok(_) => Ok(true),
        Err(ApiError::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

pub fn assign_policy(
    ctx: &mut Ctx,
    id: &str,
    form: &[(String, String)],
) -> Result<Response, ApiError> {
    let policy = field(form, "policy_id").filter(|p| !p.is_empty());
    repo::assign_policy(&ctx.conn, id, policy)?;
    Ok(Response::redirect(&format!(
        "/console/devices/{}?assigned=1",
        view::enc(id)
    )))
}

pub fn force_sync(ctx: &mut Ctx, id: &str) -> Result<Response, ApiError> {
    let d = repo::get_device(&ctx.conn, id)?;
    if d.state != DeviceState::Enrolled {
        return Err(ApiError::Conflict(
            "the device is not enrolled: there is nothing to synchronize yet".into(),
        ));
    }
    repo::force_sync(&ctx.conn, id)?;
    Ok(Response::redirect(&format!(
        "/console/devices/{}",
        view::enc(id)
    )))
}

pub fn download_backup(ctx: &Ctx, id: &str, backup_id: &str) -> Result<Response, ApiError> {
    let data = repo::backup_data(&ctx.conn, id, backup_id)?;
    Ok(Response::bytes("application/zip", data).with_header(
        "Content-Disposition",
        format!(
            "attachment; filename=\"{}.zip\"",
            backup_id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "")
        ),
    ))
}

/// The device's details: enrollment and policy, the seed's Sync status with Synchronize
/// contacts and what became of it, the sync history, backups, and what the phone holds.
pub fn details(ctx: &Ctx, ui: &Ui, id: &str) -> Result<Response, ApiError> {
    let d = repo::get_device(&ctx.conn, id)?;
    let st = device_status_of(&ctx.conn, id)?;
    let policy = repo::device_policy(&ctx.conn, &d)?;
    let policies = repo::list_policies(&ctx.conn)?;
    let mut b = String::new();
    if ui.req.query("assigned").is_some() {
        let _ = write!(
            b,
            "<p class=flash id=assigned>{}</p>",
            esc(ui.t(M::PolicyAssigned))
        );
    }

    // Enrollment and policy.
    let user = match d.user_id.as_deref() {
        Some(u) => match repo::get_user(&ctx.conn, u) {
            Ok(user) => named(Some(&user.contact.display_name), u),
            Err(_) => named(None, u),
        },
        None => esc(ui.t(M::NoUser)),
    };
    let state_note = match (d.state, &d.revoked_at, &d.retired_at) {
        (DeviceState::Revoked, Some(at), _) => format!(
            " {}",
            fill(ui.l.lang, M::RevokedOn, &[("at", &ui.l.time(Some(at)))])
        ),
        (DeviceState::Retired, _, Some(at)) => format!(
            " {}",
            fill(ui.l.lang, M::RetiredOn, &[("at", &ui.l.time(Some(at)))])
        ),
        (DeviceState::Retiring, _, _) => format!(
            " {}",
            fill(
                ui.l.lang,
                M::RetireRequestedAt,
                &[("at", &ui.l.time(d.retire_requested_at.as_deref()))]
            )
        ),
        _ => String::new(),
    };
    let _ = write!(
        b,
        "<section id=enrollment><h2>{enrollment}</h2><dl class=fields>\
         <dt>{state_l}</dt><dd id=device-state>{state}{state_note}</dd>\
         <dt>{user_l}</dt><dd id=device-user>{user}</dd>\
         <dt>{policy_l}</dt><dd><form method=post action=\"/console/devices/{id}/policy\" class=inline id=assign-policy>\
         {csrf}{policies}<button class=secondary>{assign}</button></form></dd></dl>",
        enrollment = esc(ui.t(M::Enrollment)),
        state_l = esc(ui.t(M::DeviceState)),
        state = state_badge(ui, d.state),
        user_l = esc(ui.t(M::User)),
        policy_l = esc(ui.t(M::Policy)),
        id = esc(id),
        csrf = view::csrf_input(ui.s),
        policies = select(
            "policy_id",
            &policy_options(ui, &policies),
            d.policy_id.as_deref().unwrap_or("")
        ),
        assign = esc(ui.t(M::AssignPolicy)),
    );
    enrollment(ctx, ui, &d, &mut b)?;
    retire_form(ui, &d, &mut b);
    b.push_str("</section>");

    // The seed's Sync status block.
    let groups: Vec<String> = policy
        .additional_groups
        .iter()
        .map(|g| match repo::get_group(&ctx.conn, g) {
            Ok(group) => format!(
                "<a href=\"/console/groups/{}\">{}</a>",
                esc(g),
                esc(&group.name)
            ),
            Err(_) => esc(g),
        })
        .collect();
    let result = match st.last_sync_result.as_deref() {
        Some(r) if r.starts_with("failed") => format!("<span class=warn>{}</span>", esc(r)),
        Some(r) => format!("<span class=ok>{}</span>", esc(r)),
        None => esc(ui.t(M::Dash)),
    };
    let verified = if st.last_report_at.is_none() {
        String::new()
    } else if st.contacts_verified {
        format!(
            " <span class=\"badge ok long\" id=verified>{}</span>",
            esc(ui.t(M::Verified))
        )
    } else {
        format!(
            " <span class=\"badge warn long\" id=verified>{}</span>",
            esc(ui.t(M::NotVerified))
        )
    };
    let _ = write!(
        b,
        "<section id=sync-status><h2>{title}</h2><dl class=fields>\
         <dt>{type_l}</dt><dd id=sync-type>{sync_type}</dd>\
         <dt>{groups_l}</dt><dd id=additional-groups>{groups}</dd>\
         <dt>{interval_l}</dt><dd id=sync-interval>{interval}</dd>\
         <dt>{next_l}</dt><dd id=next-sync>{next}</dd>\
         <dt>{last_l}</dt><dd id=last-sync>{last}</dd>\
         <dt>{result_l}</dt><dd id=last-result>{result}</dd>\
         <dt>{checkin_l}</dt><dd id=last-check-in>{checkin}</dd>\
         <dt>{count_l}</dt><dd id=contact-count>{count}{verified}</dd></dl>",
        title = esc(ui.t(M::SyncStatus)),
        type_l = esc(ui.t(M::SyncType)),
        sync_type = esc(messages::basic_type(ui.l.lang, policy.basic_type)),
        groups_l = esc(ui.t(M::AdditionalGroups)),
        groups = if groups.is_empty() {
            esc(ui.t(M::Dash))
        } else {
            groups.join(", ")
        },
        interval_l = esc(ui.t(M::SyncIntervalLabel)),
        interval = esc(messages::sync_interval(ui.l.lang, policy.sync_interval)),
        next_l = esc(ui.t(M::NextExpectedSync)),
        next = ui.l.time(st.next_expected_sync.as_deref()),
        last_l = esc(ui.t(M::LastSync)),
        last = ui.l.time(st.last_sync.as_deref()),
        result_l = esc(ui.t(M::LastResult)),
        checkin_l = esc(ui.t(M::LastCheckIn)),
        checkin = ui.l.time(st.last_report_at.as_deref()),
        count_l = esc(ui.t(M::ContactsOnDevice)),
        count = ui.l.count(st.contacts_on_device),
    );
    // The page reloads itself while the phone has something to pick up.
    let pending = sync_command(ctx, ui, &d, &mut b)? || d.state == DeviceState::Retiring;
    b.push_str("</section>");

    runs(ctx, ui, id, &mut b)?;
    backups(ctx, ui, id, &st, policy.backup_interval, &mut b)?;
    held(ctx, ui, id, &mut b)?;

    let title = format!("{} {}", ui.t(M::Device), d.name);
    Ok(ui.page_refreshing(&title, Nav::Devices, pending.then_some(REFRESH_SECONDS), &b))
}

/// Synchronize contacts and what became of the last one: queued, picked up, done. `true`
/// while one waits for the phone (the page then reloads itself).
fn sync_command(ctx: &Ctx, ui: &Ui, d: &repo::Device, b: &mut String) -> Result<bool, ApiError> {
    if d.state != DeviceState::Enrolled {
        let _ = write!(
            b,
            "<p class=note id=no-sync>{}</p>",
            esc(ui.t(M::NotEnrolledNoSync))
        );
        return Ok(false);
    }
    let _ = write!(
        b,
        "<div class=actions><form method=post action=\"/console/devices/{}/sync\">{}\
         <button id=sync-now>{}</button></form></div>",
        esc(&d.id),
        view::csrf_input(ui.s),
        esc(ui.t(M::SynchronizeContacts))
    );
    let last = repo::commands(&ctx.conn, &d.id, false)?
        .into_iter()
        .rfind(|c| c.kind == "sync_now");
    let Some(c) = last else {
        return Ok(false);
    };
    let (class, m, at) = match (&c.completed_at, &c.cancelled_at, &c.picked_up_at) {
        (Some(done), _, _) => ("flash", M::SyncDone, done),
        (None, Some(cancelled), _) => ("flash", M::SyncCancelled, cancelled),
        (None, None, Some(picked)) => ("flash pending", M::SyncPickedUp, picked),
        (None, None, None) => ("flash pending", M::SyncQueued, &c.issued_at),
    };
    let _ = write!(
        b,
        "<p class=\"{class}\" id=sync-command>{}</p>",
        fill(ui.l.lang, m, &[("at", &ui.l.time(Some(at)))])
    );
    Ok(c.pending())
}

/// The outstanding enrollment: the one-time code, the link and its QR code, and the CLI
/// command that uses it; else, for a device no phone holds, a button for a new code.
fn enrollment(ctx: &Ctx, ui: &Ui, d: &repo::Device, b: &mut String) -> Result<(), ApiError> {
    if repo::outstanding_code(&ctx.conn, &d.id)?.is_some() {
        let url =
            crate::enroll_qr::server_url(ctx.public_url.as_deref(), ui.req, ctx.behind_tls_proxy)?;
        let e = crate::enroll_qr::enrollment(&ctx.conn, &d.id, &url)?;
        let cmd = format!(
            "contacts-agent enroll --server {} --code {}",
            url, e.enrollment_code
        );
        let _ = write!(
            b,
            "<div class=enroll id=enroll><div class=qr id=qr>{svg}</div><dl class=fields>\
             <dt>{code_l}</dt><dd><span class=\"code big\" id=enrollment-code>{code}</span><br>\
             <span class=note>{expires}</span></dd>\
             <dt>{link_l}</dt><dd><code id=enrollment-link>{link}</code></dd>\
             <dt></dt><dd class=note>{how}</dd></dl></div>",
            // The SVG holds the code's modules only (enroll_qr), nobody's text.
            svg = e.qr_svg,
            code_l = esc(ui.t(M::EnrollmentCode)),
            code = esc(&e.enrollment_code),
            expires = fill(
                ui.l.lang,
                M::CodeExpires,
                &[("at", &ui.l.time(Some(&e.expires_at)))]
            ),
            link_l = esc(ui.t(M::EnrollmentLink)),
            link = esc(&e.link),
            how = fill(
                ui.l.lang,
                M::EnrollHow,
                &[(
                    "cmd",
                    &format!("<code id=enroll-command>{}</code>", esc(&cmd))
                )]
            ),
        );
    } else if !matches!(d.state, DeviceState::Enrolled | DeviceState::Retiring) {
        let _ = write!(
            b,
            "<p class=note>{}</p><form method=post action=\"/console/devices/{}/code\">{}\
             <button class=secondary id=new-code>{}</button></form>",
            esc(ui.t(M::NoCodeOutstanding)),
            esc(&d.id),
            view::csrf_input(ui.s),
            esc(ui.t(M::NewCode))
        );
    }
    Ok(())
}

/// Retire, behind a confirmation: a disclosure that says what it does, then the button
/// that does it (the form also carries `confirm`, so a bare post does nothing).
fn retire_form(ui: &Ui, d: &repo::Device, b: &mut String) {
    match d.state {
        DeviceState::Retired => {}
        DeviceState::Retiring => {
            let _ = write!(
                b,
                "<p class=\"flash pending\" id=retiring>{}</p>",
                esc(ui.t(M::Retiring))
            );
        }
        _ => {
            let _ = write!(
                b,
                "<details id=retire><summary>{hint}</summary><p>{what}</p>\
                 <form method=post action=\"/console/devices/{id}/retire\">{csrf}\
                 <input type=hidden name=confirm value=yes>\
                 <button class=danger id=retire-confirm>{confirm}</button></form></details>",
                hint = esc(ui.t(M::RetireConfirmHint)),
                what = esc(ui.t(M::RetireWhat)),
                id = esc(&d.id),
                csrf = view::csrf_input(ui.s),
                confirm = esc(ui.t(M::RetireConfirm)),
            );
        }
    }
}

pub fn retire(ctx: &mut Ctx, id: &str, form: &[(String, String)]) -> Result<Response, ApiError> {
    if field(form, "confirm") != Some("yes") {
        return Err(ApiError::Unprocessable(
            "retiring a device needs its confirmation".into(),
        ));
    }
    let tx = ctx.conn.transaction()?;
    repo::request_retire(&tx, id)?;
    tx.commit()?;
    Ok(Response::redirect(&format!(
        "/console/devices/{}",
        view::enc(id)
    )))
}

pub fn new_code(ctx: &mut Ctx, id: &str) -> Result<Response, ApiError> {
    repo::reissue_enrollment_code(&ctx.conn, id, ctx.enrollment_code_ttl)?;
    Ok(Response::redirect(&format!(
        "/console/devices/{}",
        view::enc(id)
    )))
}

fn runs(ctx: &Ctx, ui: &Ui, id: &str, b: &mut String) -> Result<(), ApiError> {
    let runs = device_list::runs(&ctx.conn, id)?;
    let _ = write!(
        b,
        "<section id=history><h2>{}</h2><p class=note>{}</p>",
        esc(ui.t(M::History)),
        esc(ui.t(M::HistoryNote))
    );
    if runs.is_empty() {
        let _ = write!(b, "<p class=note>{}</p>", esc(ui.t(M::NoRuns)));
    } else {
        let heads = [
            ui.t(M::When),
            ui.t(M::Why),
            ui.t(M::Result),
            ui.t(M::Took),
            ui.t(M::Contacts),
            ui.t(M::PolicyVersion),
        ];
        let rows: Vec<(&str, Vec<String>)> = runs
            .iter()
            .map(|r| {
                let failed = r.result.as_deref().is_some_and(|r| r.starts_with("failed"));
                (
                    "",
                    vec![
                        ui.l.time(Some(&r.at)),
                        esc(ui.t(r.reason.map_or(M::Dash, messages::sync_reason))),
                        match &r.result {
                            Some(x) if failed => format!("<span class=warn>{}</span>", esc(x)),
                            Some(x) => esc(x),
                            None => esc(ui.t(M::Dash)),
                        },
                        r.duration_ms
                            .map_or_else(|| esc(ui.t(M::Dash)), |ms| esc(&ui.l.duration(ms))),
                        ui.l.count(r.contacts),
                        r.policy_version
                            .map_or_else(|| esc(ui.t(M::Dash)), |v| v.to_string()),
                    ],
                )
            })
            .collect();
        b.push_str(&view::table("runs", &heads, &rows));
    }
    b.push_str("</section>");
    Ok(())
}

fn backups(
    ctx: &Ctx,
    ui: &Ui,
    id: &str,
    st: &crate::admin_api::DeviceStatus,
    interval: contacts_agent_protocol::BackupInterval,
    b: &mut String,
) -> Result<(), ApiError> {
    let list = repo::list_backups(&ctx.conn, id)?;
    let policy_backup = messages::backup_interval(ui.l.lang, interval);
    let _ = write!(
        b,
        "<section id=backups><h2>{title}</h2><dl class=fields>\
         <dt>{interval_l}</dt><dd id=backup-interval>{interval}</dd>\
         <dt>{last_l}</dt><dd>{last}</dd><dt>{result_l}</dt><dd>{result}</dd>\
         <dt>{next_l}</dt><dd>{next}</dd></dl>",
        title = esc(ui.t(M::BackupSettings)),
        interval_l = esc(ui.t(M::BackupInterval)),
        interval = esc(policy_backup),
        last_l = esc(ui.t(M::LastBackup)),
        last = ui.l.time(st.last_backup.as_deref()),
        result_l = esc(ui.t(M::LastBackupResult)),
        result = st
            .last_backup_result
            .as_deref()
            .map_or_else(|| esc(ui.t(M::Dash)), esc),
        next_l = esc(ui.t(M::NextBackup)),
        next = ui.l.time(st.next_expected_backup.as_deref()),
    );
    if list.is_empty() {
        let _ = write!(b, "<p class=note>{}</p>", esc(ui.t(M::NoBackups)));
    } else {
        let heads = [ui.t(M::BackupCreated), ui.t(M::Size), ui.t(M::Contacts), ""];
        let rows: Vec<(&str, Vec<String>)> = list
            .iter()
            .map(|bk| {
                (
                    "",
                    vec![
                        ui.l.time(Some(&bk.created_at)),
                        format!("<span class=size>{}</span>", esc(&ui.l.size(bk.size))),
                        ui.l.count(bk.contact_count),
                        format!(
                            "<a href=\"/console/devices/{}/backups/{}\">{}</a>",
                            esc(id),
                            esc(&bk.id),
                            esc(ui.t(M::Download))
                        ),
                    ],
                )
            })
            .collect();
        b.push_str(&view::table("backup-list", &heads, &rows));
    }
    b.push_str("</section>");
    Ok(())
}

/// What the phone holds per its last report, each contact as it was sent, searchable and
/// paged; the ones the next sync changes are marked, and how many changes wait is said.
fn held(ctx: &Ctx, ui: &Ui, id: &str, b: &mut String) -> Result<(), ApiError> {
    let q = ui.req.query("q").unwrap_or("");
    let offset = ui.req.query_usize("offset", 0, usize::MAX)?;
    let _ = write!(
        b,
        "<section id=synced><h2>{}</h2><p class=note>{}</p>",
        esc(ui.t(M::HeldTitle)),
        esc(ui.t(M::HeldNote))
    );
    let Some(held) = repo::held_contacts(&ctx.conn, id)? else {
        let _ = write!(
            b,
            "<p class=note id=held-unknown>{}</p></section>",
            esc(ui.t(M::HeldUnknown))
        );
        return Ok(());
    };
    if held.pending > 0 {
        let _ = write!(
            b,
            "<p class=\"flash pending\" id=held-pending>{}</p>",
            esc(&fill(
                ui.l.lang,
                M::HeldPending,
                &[("n", &ui.l.count(held.pending as u64))]
            ))
        );
    } else {
        let _ = write!(
            b,
            "<p class=flash id=held-pending>{}</p>",
            esc(ui.t(M::HeldUpToDate))
        );
    }
    let needle = q.to_lowercase();
    let matched: Vec<&repo::HeldContact> = held
        .contacts
        .iter()
        .filter(|h| {
            needle.is_empty()
                || h.contact
                    .as_ref()
                    .is_some_and(|c| haystack(c).contains(&needle))
        })
        .collect();
    b.push_str(&view::search_form(&ui.l, q, M::SearchContacts, &[]));
    let _ = write!(
        b,
        "<p id=synced-total>{}</p>",
        esc(&fill(
            ui.l.lang,
            M::ContactsTotal,
            &[("n", &ui.l.count(matched.len() as u64))]
        ))
    );
    let heads = [
        ui.t(M::Name),
        ui.t(M::Phones),
        ui.t(M::Emails),
        ui.t(M::Office),
        ui.t(M::Manager),
        ui.t(M::Groups),
    ];
    let rows: Vec<(&str, Vec<String>)> = matched
        .iter()
        .skip(offset)
        .take(PAGE)
        .map(|h| held_row(ui, h))
        .collect();
    if !rows.is_empty() {
        b.push_str(&view::table("held", &heads, &rows));
    }
    b.push_str(&pager(
        &ui.l,
        &format!("/console/devices/{id}"),
        &[("q", q)],
        offset,
        PAGE,
        rows.len(),
        offset.saturating_add(PAGE) < matched.len(),
    ));
    b.push_str("</section>");
    Ok(())
}

fn haystack(c: &ContactData) -> String {
    let mut s = c.display_name.to_lowercase();
    for p in &c.phones {
        s.push(' ');
        s.push_str(&p.number);
    }
    for e in &c.emails {
        s.push(' ');
        s.push_str(&e.address.to_lowercase());
    }
    s
}

/// One contact the phone holds, as sent: the fields a person looks for (name with prefix,
/// suffix and nickname; numbers and e-mails with their custom labels and the preferred one;
/// office; manager; groups). Everything escaped.
fn held_row<'a>(ui: &Ui, h: &repo::HeldContact) -> (&'a str, Vec<String>) {
    let class = if h.pending { "pending" } else { "" };
    let mark = if h.pending {
        format!(
            " <span class=\"badge late\">{}</span>",
            esc(ui.t(M::PendingChange))
        )
    } else {
        String::new()
    };
    let Some(c) = &h.contact else {
        return (
            class,
            vec![
                format!(
                    "{} <span class=note>{}</span>{mark}",
                    named(None, &h.id),
                    esc(ui.t(M::HeldBodyMissing))
                ),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ],
        );
    };
    let preferred = ui.t(M::Preferred);
    (
        class,
        vec![
            format!("{}{mark}", esc(&full_name(c))),
            // The number on one line, its notes ("(mobile, preferred)") free to wrap.
            c.phones
                .iter()
                .map(|p| {
                    let notes = entry(
                        "",
                        p.kind.as_str(),
                        p.label.as_deref(),
                        p.preferred,
                        preferred,
                    );
                    format!(
                        "{}{}",
                        view::phones([p.number.as_str()].iter()),
                        esc(&notes)
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            esc(&entries(
                c.emails.iter().map(|e| {
                    (
                        e.address.as_str(),
                        e.kind.as_str(),
                        e.label.as_deref(),
                        e.preferred,
                    )
                }),
                preferred,
            ))
            // On a phone an address breaks after its @ rather than anywhere.
            .replace('@', "@<wbr>"),
            esc(c.office_location.as_deref().unwrap_or("")),
            esc(c.manager.as_deref().unwrap_or("")),
            esc(&c
                .groups
                .iter()
                .map(|g| g.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")),
        ],
    )
}

/// The name as a person reads it: "dr Anna Maria Nowak, MBA (Ania)". Unescaped.
fn full_name(c: &ContactData) -> String {
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
/// Numbers or e-mails as one cell, each as `entry` writes it. Unescaped.
fn entries<'a>(
    items: impl Iterator<Item = (&'a str, &'a str, Option<&'a str>, bool)>,
    word: &str,
) -> String {
    items
        .map(|(value, kind, label, preferred)| entry(value, kind, label, preferred, word))
        .collect::<Vec<_>>()
        .join(", ")
}

fn entry(value: &str, kind: &str, label: Option<&str>, preferred: bool, word: &str) -> String {
    let mut notes: Vec<&str> = Vec::new();
    if kind == contacts_agent_protocol::contact::CUSTOM {
        notes.extend(label);
    }
    if preferred {
        notes.push(word);
    }
    if notes.is_empty() {
        value.to_owned()
    } else {
        format!("{value} ({})", notes.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contacts_agent_protocol::{Email, EmailKind, GroupRef, Phone, PhoneKind};

    #[test]
    fn a_held_contact_shows_the_richer_contact_escaped() {
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
            groups: vec![GroupRef {
                id: "harvey".into(),
                name: "Harvey <i>".into(),
            }],
            ..Default::default()
        };
        assert_eq!(full_name(&contact), "dr Anna <b>Nowak</b>, MBA (Ania)");
        let phones: Vec<String> = contact
            .phones
            .iter()
            .map(|p| {
                entry(
                    &p.number,
                    p.kind.as_str(),
                    p.label.as_deref(),
                    p.preferred,
                    "preferred",
                )
            })
            .collect();
        assert_eq!(phones, ["+48 1 (Recep<tion>)", "+48 2 (preferred)"]);
        assert!(haystack(&contact).contains("+48 2"));
    }
}
