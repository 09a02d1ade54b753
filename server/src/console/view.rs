//! The pieces every console page is built from: escaping, the page frame (header, nav,
//! language switch), links with query strings, pagers, selects. Every text that reaches
//! HTML goes through `esc` here or in `format`.

use std::fmt::Write;

use super::format::Locale;
use super::messages::{fill, Lang, M};
use super::Session;

/// HTML-escapes text: names, titles and notes come from admins and directory imports.
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

/// Percent-encodes a query value (everything but unreserved characters).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `path?k=v&...` with empty values left out, escaped for an attribute.
pub fn href(path: &str, query: &[(&str, &str)]) -> String {
    let q: Vec<String> = query
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    if q.is_empty() {
        esc(path)
    } else {
        esc(&format!("{path}?{}", q.join("&")))
    }
}

/// The top-level section a page belongs to (highlighted in the nav).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Dashboard,
    Devices,
    Policies,
    Users,
    Groups,
    Settings,
    None,
}

/// What a page's frame needs besides its body.
pub struct Frame<'a> {
    pub title: &'a str,
    pub nav: Nav,
    /// Reload every this many seconds (a command is pending), without script.
    pub refresh: Option<u32>,
    /// The page's own path and query, where the language switch comes back to.
    pub here: &'a str,
}

/// A whole page. `session` is `None` on the sign-in and error pages (no nav, no forms).
pub fn page(l: &Locale, session: Option<&Session>, f: &Frame, body: &str) -> String {
    let mut head = String::new();
    if let Some(s) = f.refresh {
        let _ = write!(head, "<meta http-equiv=refresh content={s}>");
    }
    let mut top = String::new();
    if let Some(s) = session {
        let items = [
            (Nav::Dashboard, "/console", M::Dashboard),
            (Nav::Devices, "/console/devices", M::Devices),
            (Nav::Policies, "/console/policies", M::Policies),
            (Nav::Users, "/console/users", M::Users),
            (Nav::Groups, "/console/groups", M::Groups),
            (Nav::Settings, "/console/settings", M::Settings),
        ];
        top.push_str("<nav class=main>");
        for (nav, path, m) in items {
            let current = if nav == f.nav {
                " aria-current=page"
            } else {
                ""
            };
            let _ = write!(top, "<a href={path}{current}>{}</a>", esc(l.t(m)));
        }
        top.push_str(
            "</nav><div class=tools><form method=post action=/console/settings class=langs>",
        );
        top.push_str(&csrf_input(s));
        let _ = write!(
            top,
            "<input type=hidden name=back value=\"{}\">",
            esc(f.here)
        );
        for lang in Lang::ALL {
            let on = if lang == l.lang {
                " aria-pressed=true"
            } else {
                ""
            };
            let _ = write!(
                top,
                "<button name=lang value={code} lang={code} title=\"{name}\"{on}>{up}</button>",
                code = lang.code(),
                name = esc(lang.own_name()),
                up = lang.code().to_uppercase()
            );
        }
        let _ = write!(
            top,
            "</form><form method=post action=/console/logout>{}<button class=link>{}</button></form></div>",
            csrf_input(s),
            esc(l.t(M::SignOut))
        );
    }
    format!(
        "<!doctype html><html lang={lang}><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">{head}\
         <title>{title} — {console}</title><link rel=stylesheet href=/console/style.css><link rel=icon href=/console/icon.svg type=\"image/svg+xml\"></head>\
         <body><header class=top><a class=brand href=/console>contacts-agent</a>{top}</header>\
         <main><h1>{title}</h1>{body}</main></body></html>",
        lang = l.lang.code(),
        title = esc(f.title),
        console = esc(l.t(M::Console)),
    )
}

pub fn csrf_input(s: &Session) -> String {
    format!("<input type=hidden name=csrf value=\"{}\">", esc(&s.csrf))
}

/// A `<select>` of `(value, label)`; labels escaped here.
pub fn select(name: &str, options: &[(&str, &str)], current: &str) -> String {
    let mut s = format!("<select name={name} id={name}>");
    for (v, label) in options {
        let sel = if *v == current { " selected" } else { "" };
        let _ = write!(
            s,
            "<option value=\"{}\"{sel}>{}</option>",
            esc(v),
            esc(label)
        );
    }
    s.push_str("</select>");
    s
}

/// Previous / next links around a page of `shown` rows at `offset`, and what to say when the
/// offset is past the end (`shown == 0` on a page after the first).
pub fn pager(
    l: &Locale,
    path: &str,
    query: &[(&str, &str)],
    offset: usize,
    limit: usize,
    shown: usize,
    more: bool,
) -> String {
    let mut s = String::from("<nav class=pager>");
    let link = |off: usize, id: &str, m: M| {
        let off = off.to_string();
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("offset", if off == "0" { "" } else { &off }));
        format!("<a id={id} href=\"{}\">{}</a>", href(path, &q), esc(l.t(m)))
    };
    if shown == 0 && offset > 0 {
        let _ = write!(
            s,
            "<p id=past-end class=note>{}</p>{}",
            esc(l.t(M::PastTheEnd)),
            link(0, "first-page", M::FirstPage)
        );
    } else {
        if offset > 0 {
            s.push_str(&link(
                offset.saturating_sub(limit),
                "prev-page",
                M::PreviousPage,
            ));
        }
        if shown > 0 {
            let _ = write!(
                s,
                "<span class=range>{}</span>",
                esc(&fill(
                    l.lang,
                    M::Shown,
                    &[
                        ("from", &l.count(offset as u64 + 1)),
                        ("to", &l.count((offset + shown) as u64))
                    ]
                ))
            );
        }
        if more {
            s.push_str(&link(offset + limit, "next-page", M::NextPage));
        }
    }
    s.push_str("</nav>");
    s
}

/// A search box that keeps the other query values.
pub fn search_form(l: &Locale, q: &str, placeholder: M, keep: &[(&str, &str)]) -> String {
    let mut s = String::from("<form method=get class=search>");
    for (k, v) in keep.iter().filter(|(_, v)| !v.is_empty()) {
        let _ = write!(s, "<input type=hidden name={k} value=\"{}\">", esc(v));
    }
    let _ = write!(
        s,
        "<input type=search name=q value=\"{}\" placeholder=\"{}\" aria-label=\"{}\"> <button>{}</button></form>",
        esc(q),
        esc(l.t(placeholder)),
        esc(l.t(M::Search)),
        esc(l.t(M::Search))
    );
    s
}

/// "Name (id)": a name with its id beside it, both escaped; the id alone when there is no name.
pub fn named(name: Option<&str>, id: &str) -> String {
    match name.filter(|n| !n.is_empty()) {
        Some(n) => format!("{} <span class=id>{}</span>", esc(n), esc(id)),
        None => format!("<span class=id>{}</span>", esc(id)),
    }
}

/// Phone numbers, escaped, each kept on one line (a number cut at its spaces reads as two).
pub fn phones(numbers: impl Iterator<Item = impl AsRef<str>>) -> String {
    numbers
        .map(|n| format!("<span class=tel>{}</span>", esc(n.as_ref())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A table whose cells carry their column's name (`data-label`), so that on a phone each row
/// reads as a small card. Cells are HTML already escaped; `rows` are `(class, cells)`.
pub fn table(id: &str, heads: &[&str], rows: &[(&str, Vec<String>)]) -> String {
    let mut s = format!("<table class=stack id={id}><thead><tr>");
    for h in heads {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for (class, cells) in rows {
        if class.is_empty() {
            s.push_str("<tr>");
        } else {
            let _ = write!(s, "<tr class={class}>");
        }
        for (i, c) in cells.iter().enumerate() {
            let label = esc(heads.get(i).copied().unwrap_or(""));
            // One box for the cell's content: on a phone the cell is a row of label and
            // value, and a name beside its id must flow as one text, not two columns.
            if c.is_empty() {
                let _ = write!(s, "<td data-label=\"{label}\"></td>");
            } else {
                let _ = write!(
                    s,
                    "<td data-label=\"{label}\"><span class=v>{c}</span></td>"
                );
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(
            esc("<script>alert('x')</script> & \""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;"
        );
    }

    #[test]
    fn links_encode_their_values_and_drop_empty_ones() {
        assert_eq!(
            href("/console/users", &[("q", "a&b \"c\""), ("offset", "")]),
            "/console/users?q=a%26b%20%22c%22"
        );
        assert_eq!(href("/console/users", &[]), "/console/users");
    }
}
