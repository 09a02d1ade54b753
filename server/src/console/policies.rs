//! Policies: the list, a new one, the editor (the seed's *Advanced* tab: backup settings and
//! business contacts sync, plus the sync window, rollout spread and allow-list).

use std::fmt::Write;

use contacts_agent_protocol::{
    BackupInterval as B, BasicType as T, Field, Policy, SyncInterval as I, SyncWindow,
};

use super::messages::{self, fill, M};
use super::view::{self, esc, href, select, Nav};
use super::{field, Ui};
use crate::error::ApiError;
use crate::http::Response;
use crate::repo::{self, PolicyInput, PolicyRecord};
use crate::routes::Ctx;

pub fn list(ctx: &Ctx, ui: &Ui) -> Result<Response, ApiError> {
    let names = group_names(ctx)?;
    let heads = [
        ui.t(M::PolicyName),
        ui.t(M::BasicSyncType),
        ui.t(M::AdditionalGroups),
        ui.t(M::SyncIntervalLabel),
        ui.t(M::BackupInterval),
        ui.t(M::SyncWindow),
        ui.t(M::FieldsSent),
        ui.t(M::Devices),
    ];
    let rows: Vec<(&str, Vec<String>)> = repo::list_policies(&ctx.conn)?
        .iter()
        .map(|p| {
            (
                "",
                vec![
                    format!(
                        "<a href=\"/console/policies/{}\">{}</a>",
                        esc(&p.id),
                        esc(&p.name)
                    ),
                    esc(messages::basic_type(ui.l.lang, p.basic_type)),
                    group_links(&names, &p.additional_groups),
                    esc(messages::sync_interval(ui.l.lang, p.sync_interval)),
                    esc(messages::backup_interval(ui.l.lang, p.backup_interval)),
                    esc(&window_summary(ui, p.sync_window)),
                    esc(&fields_summary(ui, p.fields.as_deref())),
                    format!(
                        "<a href=\"{}\">{}</a>",
                        href("/console/devices", &[("policy_id", &p.id)]),
                        esc(ui.t(M::Devices))
                    ),
                ],
            )
        })
        .collect();
    let body = format!(
        "<section>{}</section><p class=actions><a href=/console/policies/new id=new-policy>{}</a></p>",
        view::table("policies", &heads, &rows),
        esc(ui.t(M::NewPolicy))
    );
    Ok(ui.page(ui.t(M::Policies), Nav::Policies, &body))
}

/// Group id → name, for showing names beside ids.
fn group_names(ctx: &Ctx) -> Result<Vec<repo::Group>, ApiError> {
    repo::list_groups(&ctx.conn)
}

fn group_links(groups: &[repo::Group], ids: &[String]) -> String {
    ids.iter()
        .map(|id| {
            let name = groups
                .iter()
                .find(|g| &g.id == id)
                .map_or(id.as_str(), |g| g.name.as_str());
            format!("<a href=\"/console/groups/{}\">{}</a>", esc(id), esc(name))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// "All", or the names of the fields a policy sends besides the name.
fn fields_summary(ui: &Ui, fields: Option<&[Field]>) -> String {
    match fields {
        None => ui.t(M::AllFields).into(),
        Some(f) => {
            let names: Vec<&str> = f
                .iter()
                .filter(|f| **f != Field::Name)
                .map(|f| messages::field(ui.l.lang, *f))
                .collect();
            if names.is_empty() {
                ui.t(M::NameOnly).into()
            } else {
                names.join("; ")
            }
        }
    }
}

/// "Whole day", or "01:00–05:00 (device time)".
fn window_summary(ui: &Ui, w: Option<SyncWindow>) -> String {
    w.map_or(ui.t(M::WholeDay).into(), |w| {
        fill(ui.l.lang, M::DeviceTime, &[("w", &w.label())])
    })
}

pub fn new_form(ctx: &Ctx, ui: &Ui) -> Result<Response, ApiError> {
    let body = form(ctx, ui, "/console/policies", None)?;
    Ok(ui.page(ui.t(M::NewPolicy), Nav::Policies, &body))
}

pub fn editor(ctx: &Ctx, ui: &Ui, id: &str) -> Result<Response, ApiError> {
    let p = repo::get_policy(&ctx.conn, id)?;
    let mut body = String::new();
    if ui.req.query("saved").is_some() {
        let _ = write!(
            body,
            "<p class=flash id=saved>{}</p>",
            esc(ui.t(M::PolicySaved))
        );
    }
    body.push_str(&form(
        ctx,
        ui,
        &format!("/console/policies/{id}"),
        Some(&p),
    )?);
    let _ = write!(
        body,
        "<p class=actions><a href=\"{}\" id=policy-devices>{}</a></p>",
        href("/console/devices", &[("policy_id", id)]),
        esc(ui.t(M::PolicyDevices))
    );
    Ok(ui.page(
        &format!("{} {}", ui.t(M::Policy), p.name),
        Nav::Policies,
        &body,
    ))
}

/// The editor: the seed's *Advanced* tab in its order (backup settings, then business
/// contacts sync), then what this product adds.
fn form(ctx: &Ctx, ui: &Ui, action: &str, p: Option<&PolicyRecord>) -> Result<String, ApiError> {
    let lang = ui.l.lang;
    let types: Vec<(&str, &str)> = [T::None, T::UserGroups, T::AllGroups]
        .iter()
        .map(|t| (t.as_str(), messages::basic_type(lang, *t)))
        .collect();
    let intervals: Vec<(&str, &str)> = I::ALL
        .iter()
        .map(|i| (i.as_str(), messages::sync_interval(lang, *i)))
        .collect();
    let backups: Vec<(&str, &str)> = B::ALL
        .iter()
        .map(|b| (b.as_str(), messages::backup_interval(lang, *b)))
        .collect();
    let chosen: &[String] = p.map_or(&[], |p| &p.additional_groups);
    let mut groups = String::new();
    for g in repo::list_groups(&ctx.conn)? {
        let checked = if chosen.contains(&g.id) {
            " checked"
        } else {
            ""
        };
        let _ = write!(
            groups,
            "<label><input type=checkbox name=group value=\"{}\"{checked}> {}</label>",
            esc(&g.id),
            esc(&g.name)
        );
    }
    if groups.is_empty() {
        groups = esc(ui.t(M::NoGroups));
    }
    Ok(format!(
        "<form method=post action=\"{action}\" id=policy-form>{csrf}\
         <section><dl class=fields><dt><label for=name>{name_l}</label></dt>\
         <dd><input name=name id=name value=\"{name}\" required maxlength=200></dd></dl></section>\
         <section><h2>{advanced}</h2>\
         <fieldset><legend>{backup_l}</legend><dl class=fields><dt><label for=backup_interval>{backup_i}</label></dt>\
         <dd>{backups}</dd></dl></fieldset>\
         <fieldset><legend>{business}</legend><dl class=fields>\
         <dt><label for=basic_type>{type_l}</label></dt><dd>{types}</dd>\
         <dt>{groups_l}</dt><dd class=checks>{groups}</dd>\
         <dt><label for=sync_interval>{interval_l}</label></dt><dd>{intervals}</dd>\
         <dt><label for=window_start>{window_l}</label></dt><dd><input type=time name=window_start id=window_start value=\"{ws}\"> \
         {to} <input type=time name=window_end id=window_end value=\"{we}\"> <span class=note>{window_help}</span></dd>\
         <dt><label for=rollout_minutes>{rollout_l}</label></dt><dd><input type=number min=0 max={max_rollout} \
         name=rollout_minutes id=rollout_minutes value={rollout}> <span class=note>{rollout_help}</span></dd>\
         </dl></fieldset>\
         <fieldset><legend>{fields_l}</legend><div class=checks>{fields}</div></fieldset>\
         <div class=actions><button id=save>{save}</button></div></section></form>",
        csrf = view::csrf_input(ui.s),
        name_l = esc(ui.t(M::PolicyName)),
        name = esc(p.map_or("", |p| p.name.as_str())),
        advanced = esc(ui.t(M::Advanced)),
        backup_l = esc(ui.t(M::BackupSettings)),
        backup_i = esc(ui.t(M::BackupInterval)),
        backups = select(
            "backup_interval",
            &backups,
            p.map_or(B::Off, |p| p.backup_interval).as_str()
        ),
        business = esc(ui.t(M::BusinessContactsSync)),
        type_l = esc(ui.t(M::BasicSyncType)),
        types = select(
            "basic_type",
            &types,
            p.map_or(T::None, |p| p.basic_type).as_str()
        ),
        groups_l = esc(ui.t(M::AdditionalGroups)),
        interval_l = esc(ui.t(M::SyncIntervalLabel)),
        intervals = select(
            "sync_interval",
            &intervals,
            p.map_or(I::Disabled, |p| p.sync_interval).as_str()
        ),
        window_l = esc(ui.t(M::SyncWindow)),
        ws = p
            .and_then(|p| p.sync_window)
            .map(SyncWindow::start_text)
            .unwrap_or_default(),
        we = p
            .and_then(|p| p.sync_window)
            .map(SyncWindow::end_text)
            .unwrap_or_default(),
        to = esc(ui.t(M::WindowTo)),
        window_help = esc(ui.t(M::WindowHelp)),
        rollout_l = esc(ui.t(M::Rollout)),
        max_rollout = Policy::MAX_ROLLOUT_MINUTES,
        rollout = p.map_or(0, |p| p.rollout_minutes),
        rollout_help = esc(ui.t(M::RolloutHelp)),
        fields_l = esc(ui.t(M::FieldsSent)),
        fields = fields_boxes(ui, p.and_then(|p| p.fields.as_deref())),
        save = esc(ui.t(M::SavePolicy)),
    ))
}

/// The allow-list part of the editor: a box that turns the limit on, and one box per field
/// (the name always on).
fn fields_boxes(ui: &Ui, fields: Option<&[Field]>) -> String {
    let limited = if fields.is_some() { " checked" } else { "" };
    let mut s = format!(
        "<label><input type=checkbox name=limit_fields id=limit_fields value=1{limited}> {}</label>",
        esc(ui.t(M::LimitFields))
    );
    for f in Field::ALL {
        let on = fields.is_none_or(|list| list.contains(&f)) || f == Field::Name;
        let checked = if on { " checked" } else { "" };
        // The name is always sent: shown ticked, not sent by the form.
        let disabled = if f == Field::Name { " disabled" } else { "" };
        let _ = write!(
            s,
            "<label><input type=checkbox name=field value={v} id=field-{v}{checked}{disabled}> {}</label>",
            esc(messages::field(ui.l.lang, f)),
            v = f.as_str(),
        );
    }
    s
}

fn parse_enum<T: serde::de::DeserializeOwned>(v: Option<&str>) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(v.unwrap_or("").to_owned()))
        .map_err(|_| ApiError::Unprocessable("a field of the form has an unknown value".into()))
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

fn input(form: &[(String, String)]) -> Result<PolicyInput, ApiError> {
    Ok(PolicyInput {
        name: field(form, "name").unwrap_or("").to_owned(),
        basic_type: parse_enum(field(form, "basic_type"))?,
        additional_groups: form
            .iter()
            .filter(|(k, _)| k == "group")
            .map(|(_, v)| v.clone())
            .collect(),
        sync_interval: parse_enum(field(form, "sync_interval"))?,
        backup_interval: parse_enum(field(form, "backup_interval"))?,
        // Unticked "Limit the fields", the boxes below it do not count: every field.
        fields: field(form, "limit_fields").map(|_| {
            form.iter()
                .filter(|(k, _)| k == "field")
                .map(|(_, v)| v.clone())
                .collect()
        }),
        sync_window: window_from_form(form)?,
        rollout_minutes: match field(form, "rollout_minutes").map(str::trim) {
            None | Some("") => 0,
            Some(m) => m.parse().map_err(|_| {
                ApiError::Unprocessable("the rollout spread is a number of minutes".into())
            })?,
        },
    })
}

pub fn create(ctx: &mut Ctx, form: &[(String, String)]) -> Result<Response, ApiError> {
    let input = input(form)?;
    let tx = ctx.conn.transaction()?;
    let id = repo::create_policy(&tx, None, &input)?;
    tx.commit()?;
    Ok(Response::redirect(&format!(
        "/console/policies/{}?saved=1",
        view::enc(&id)
    )))
}

pub fn update(ctx: &mut Ctx, id: &str, form: &[(String, String)]) -> Result<Response, ApiError> {
    let input = input(form)?;
    let tx = ctx.conn.transaction()?;
    repo::update_policy(&tx, id, &input)?;
    tx.commit()?;
    Ok(Response::redirect(&format!(
        "/console/policies/{}?saved=1",
        view::enc(id)
    )))
}
