//! The directory: users and groups, searchable and paged both ways; a group's page lists its
//! members and the policies that name it.

use std::fmt::Write;

use super::messages::{fill, M};
use super::view::{self, esc, href, named, pager, search_form, Nav};
use super::{Ui, PAGE};
use crate::error::ApiError;
use crate::http::Response;
use crate::repo;
use crate::routes::Ctx;

fn group_link(groups: &[repo::Group], id: &str) -> String {
    let name = groups
        .iter()
        .find(|g| g.id == id)
        .map_or(id, |g| g.name.as_str());
    format!("<a href=\"/console/groups/{}\">{}</a>", esc(id), esc(name))
}

pub fn users(ctx: &Ctx, ui: &Ui) -> Result<Response, ApiError> {
    let q = ui.req.query("q").unwrap_or("");
    let offset = ui.req.query_usize("offset", 0, usize::MAX)?;
    let (total, users) = repo::list_users(&ctx.conn, Some(q), offset, PAGE)?;
    let groups = repo::list_groups(&ctx.conn)?;
    let heads = [
        ui.t(M::Name),
        ui.t(M::Phones),
        ui.t(M::Groups),
        ui.t(M::UserDevices),
    ];
    let rows: Vec<(&str, Vec<String>)> = users
        .iter()
        .map(|u| {
            (
                "",
                vec![
                    named(Some(&u.contact.display_name), &u.id),
                    view::phones(u.contact.phones.iter().map(|p| p.number.as_str())),
                    u.groups
                        .iter()
                        .map(|g| group_link(&groups, g))
                        .collect::<Vec<_>>()
                        .join(", "),
                    format!(
                        "<a href=\"{}\">{}</a> · <a href=\"{}\">{}</a>",
                        href("/console/devices", &[("user_id", &u.id)]),
                        esc(ui.t(M::Devices)),
                        href("/console/devices/new", &[("user_id", &u.id)]),
                        esc(ui.t(M::AddDevice))
                    ),
                ],
            )
        })
        .collect();
    let mut b = search_form(&ui.l, q, M::SearchUsers, &[]);
    let _ = write!(
        b,
        "<section><p id=users-total>{}</p>{}{}</section>",
        esc(&fill(
            ui.l.lang,
            M::UsersCount,
            &[("n", &ui.l.count(total))]
        )),
        if rows.is_empty() {
            String::new()
        } else {
            view::table("users", &heads, &rows)
        },
        pager(
            &ui.l,
            "/console/users",
            &[("q", q)],
            offset,
            PAGE,
            rows.len(),
            (offset as u64).saturating_add(PAGE as u64) < total
        )
    );
    Ok(ui.page(ui.t(M::Users), Nav::Users, &b))
}

pub fn groups(ctx: &Ctx, ui: &Ui) -> Result<Response, ApiError> {
    let q = ui.req.query("q").unwrap_or("");
    let offset = ui.req.query_usize("offset", 0, usize::MAX)?;
    let (total, page) = repo::search_groups(&ctx.conn, q, offset, PAGE)?;
    let heads = [ui.t(M::Group), ui.t(M::Members)];
    let rows: Vec<(&str, Vec<String>)> = page
        .iter()
        .map(|g| {
            (
                "",
                vec![
                    format!(
                        "<a href=\"/console/groups/{}\">{}</a> <span class=id>{}</span>",
                        esc(&g.id),
                        esc(&g.name),
                        esc(&g.id)
                    ),
                    ui.l.count(g.member_count),
                ],
            )
        })
        .collect();
    let mut b = search_form(&ui.l, q, M::SearchGroups, &[]);
    let _ = write!(
        b,
        "<section><p id=groups-total>{}</p>{}{}</section>",
        esc(&fill(
            ui.l.lang,
            M::GroupsCount,
            &[("n", &ui.l.count(total))]
        )),
        if rows.is_empty() {
            String::new()
        } else {
            view::table("groups", &heads, &rows)
        },
        pager(
            &ui.l,
            "/console/groups",
            &[("q", q)],
            offset,
            PAGE,
            rows.len(),
            (offset as u64).saturating_add(PAGE as u64) < total
        )
    );
    Ok(ui.page(ui.t(M::Groups), Nav::Groups, &b))
}

/// A group: its members (paged) and the policies that name it as an additional group.
pub fn group(ctx: &Ctx, ui: &Ui, id: &str) -> Result<Response, ApiError> {
    let g = repo::get_group(&ctx.conn, id)?;
    let offset = ui.req.query_usize("offset", 0, usize::MAX)?;
    let members = repo::group_members(&ctx.conn, id)?;
    let heads = [ui.t(M::Name), ui.t(M::Phones)];
    let rows: Vec<(&str, Vec<String>)> = members
        .iter()
        .skip(offset)
        .take(PAGE)
        .map(|uid| match repo::get_user(&ctx.conn, uid) {
            Ok(u) => (
                "",
                vec![
                    named(Some(&u.contact.display_name), uid),
                    view::phones(u.contact.phones.iter().map(|p| p.number.as_str())),
                ],
            ),
            Err(_) => ("", vec![named(None, uid), String::new()]),
        })
        .collect();
    let policies: Vec<String> = repo::list_policies(&ctx.conn)?
        .into_iter()
        .filter(|p| p.additional_groups.iter().any(|x| x == id))
        .map(|p| {
            format!(
                "<li><a href=\"/console/policies/{}\">{}</a></li>",
                esc(&p.id),
                esc(&p.name)
            )
        })
        .collect();
    let mut b = format!(
        "<section id=group-policies><h2>{}</h2>",
        esc(ui.t(M::GroupPolicies))
    );
    if policies.is_empty() {
        let _ = write!(b, "<p class=note>{}</p>", esc(ui.t(M::NoPolicies)));
    } else {
        let _ = write!(b, "<ul>{}</ul>", policies.concat());
    }
    let _ = write!(
        b,
        "</section><section id=group-members><h2>{}</h2><p>{}</p>{}{}</section>",
        esc(ui.t(M::GroupMembers)),
        esc(&fill(
            ui.l.lang,
            M::UsersCount,
            &[("n", &ui.l.count(g.member_count))]
        )),
        if rows.is_empty() {
            String::new()
        } else {
            view::table("members", &heads, &rows)
        },
        pager(
            &ui.l,
            &format!("/console/groups/{id}"),
            &[],
            offset,
            PAGE,
            rows.len(),
            offset.saturating_add(PAGE) < members.len()
        )
    );
    Ok(ui.page(&format!("{} {}", ui.t(M::Group), g.name), Nav::Groups, &b))
}
