//! Personal contacts as vCard 3.0 (RFC 2426): the mapping both ways, pure. The writer is
//! ours and strict (only RFC 2426 parameters and types, everything else an `X-` property, no
//! `CHARSET`); the reader goes through the `calcard` crate and accepts 2.1, 3.0 and 4.0.
//! `docs/backup-format.md` has the mapping table and why each choice was made.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use calcard::common::{IanaString, PartialDateTime};
use calcard::vcard::{
    VCard, VCardEntry, VCardParameterName, VCardParameterValue, VCardProperty, VCardValue,
};
use calcard::{Entry, Parser};

use crate::store::personal::{is_image, kinds, CUSTOM};
use crate::store::rows::{MIME_EVENT, MIME_IM, MIME_RELATION, MIME_SIP, MIME_WEBSITE};
use crate::store::{Address, Im, Item, PersonalData, SourceAccount};

/// A value longer than this (a 10 MB note) makes the card unrestorable: Android reads a
/// contact's rows through a 2 MB cursor window, so such a row would break every later read.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// A photo larger than this is not restored (the contact is, without it).
pub const MAX_PHOTO_BYTES: usize = 20 << 20;

/// The exact provider type of the TEL/EMAIL/ADR/URL just before, when RFC 2426's types
/// cannot say it (`pager` can, `callback` cannot).
const X_TYPE: &str = "X-CONTACTS-AGENT-TYPE";
/// The custom label of the TEL/EMAIL/ADR/URL just before (`TYPE_CUSTOM`).
const X_LABEL: &str = "X-CONTACTS-AGENT-LABEL";
/// The contact has no display name of its own; `FN` holds the one the phone shows.
const X_NO_NAME: &str = "X-CONTACTS-AGENT-FN-DERIVED";
const X_STARRED: &str = "X-CONTACTS-AGENT-STARRED";
const X_ACCOUNT_TYPE: &str = "X-CONTACTS-AGENT-ACCOUNT-TYPE";
const X_ACCOUNT_NAME: &str = "X-CONTACTS-AGENT-ACCOUNT-NAME";
/// Android's own lossless carrier for a data row (`VCardBuilder`/`VCardEntry`):
/// `mimetype;data1;…;data15`.
const X_ANDROID_CUSTOM: &str = "X-ANDROID-CUSTOM";
const X_PHONETIC: [&str; 3] = [
    "X-PHONETIC-FIRST-NAME",
    "X-PHONETIC-MIDDLE-NAME",
    "X-PHONETIC-LAST-NAME",
];

/// Why a card in an archive could not become a contact. No personal data in here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// Nothing to restore: no name, number, address or any other field.
    Empty,
    /// A value over `MAX_VALUE_BYTES`.
    ValueTooLarge,
    /// More rows than one atomic provider batch can hold (`MAX_BATCH_OPS`).
    TooManyRows,
    /// A line that is not a property, outside or inside a card.
    GarbageLine,
    /// A card without END, or an END without BEGIN.
    Unterminated,
    /// An iCalendar object or other component where a card was expected.
    NotAVCard,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::Empty => "card with nothing to restore (no name, number or other field)",
            SkipReason::ValueTooLarge => "card with a value over 1 MiB (too large for the phone)",
            SkipReason::TooManyRows => "card with more fields than one atomic write can hold",
            SkipReason::GarbageLine => "line that is not a vCard property",
            SkipReason::Unterminated => "card cut off (no END:VCARD)",
            SkipReason::NotAVCard => "object that is not a vCard",
        }
    }
}

// ------------------------------------------------------------------------------- writing

/// RFC 2426 TEL types for each provider phone type; types the RFC has no word for get the
/// nearest (none: "voice") and an `X-CONTACTS-AGENT-TYPE` line.
fn tel_types(kind: &str) -> &'static [&'static str] {
    match kind {
        "home" => &["home"],
        "mobile" => &["cell"],
        "work" => &["work"],
        "fax_work" => &["work", "fax"],
        "fax_home" => &["home", "fax"],
        "other_fax" => &["fax"],
        "pager" => &["pager"],
        "work_pager" => &["work", "pager"],
        "work_mobile" => &["work", "cell"],
        "car" => &["car"],
        "isdn" => &["isdn"],
        "mms" => &["msg"],
        _ => &[],
    }
}

fn email_types(kind: &str) -> &'static [&'static str] {
    match kind {
        "home" => &["internet", "home"],
        "work" => &["internet", "work"],
        // `TYPE=internet` alone is the default, which strict readers flag as redundant.
        _ => &[],
    }
}

fn adr_types(kind: &str) -> &'static [&'static str] {
    match kind {
        "home" => &["home"],
        "work" => &["work"],
        _ => &[],
    }
}

/// A custom label as an RFC 2426 `x-name` TYPE (`X-Babcia`), the one form of a label that
/// Android's importer reads back (it takes an `X-` TYPE it does not know as `TYPE_CUSTOM` with
/// the rest as the label; its exporter writes labels this way) and a strict RFC 2426 reader
/// accepts (`x-name` is in the TEL, EMAIL and ADR type grammars). `None` when the label has a
/// character an `x-name` cannot hold (a space, a letter outside ASCII): then only our
/// `X-CONTACTS-AGENT-LABEL` line carries it. Sources in `docs/backup-format.md`.
fn x_name_type(kind: &str, label: &str) -> Option<String> {
    let fits = !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (kind == CUSTOM && fits).then(|| format!("X-{label}"))
}

/// The TYPE list of a TEL/EMAIL/ADR line: the label's `x-name` alone for a custom label (with
/// no other type before it, or Android's importer would take that one and drop the label),
/// else the RFC types of the kind.
fn line_types<'a>(rfc: &'a [&'a str], x_name: &'a Option<String>) -> Vec<&'a str> {
    match x_name {
        Some(t) => vec![t.as_str()],
        None => rfc.to_vec(),
    }
}

/// RFC 2426 §4 text escaping: backslash, comma, semicolon, newline.
fn escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            // No escape exists for a bare CR; a CRLF inside a value reads back as LF.
            '\r' => {}
            c => out.push(c),
        }
    }
}

fn escaped(parts: &[&str]) -> String {
    let mut v = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            v.push(';');
        }
        escape(p, &mut v);
    }
    v
}

struct Card<'a> {
    out: &'a mut String,
}

impl Card<'_> {
    /// One content line, folded at 75 octets (RFC 2426 §2.6) without splitting a character.
    /// A continuation never starts with a blank: readers drop blanks after a fold.
    fn line(&mut self, name: &str, types: &[&str], value: &str) {
        let mut head = String::from(name);
        if !types.is_empty() {
            head.push_str(";TYPE=");
            head.push_str(&types.join(","));
        }
        head.push(':');
        let mut cur = String::new();
        for ch in head.chars().chain(value.chars()) {
            if cur.len() + ch.len_utf8() > 75 {
                let carry_from = if ch == ' ' || ch == '\t' {
                    // Move the last non-blank character (and the blanks after it) down.
                    let trimmed = cur.trim_end_matches([' ', '\t']);
                    trimmed
                        .char_indices()
                        .last()
                        .filter(|(i, _)| *i > 1)
                        .map_or(cur.len(), |(i, _)| i)
                } else {
                    cur.len()
                };
                let carry = cur.split_off(carry_from);
                self.out.push_str(&cur);
                self.out.push_str("\r\n");
                cur = format!(" {carry}");
            }
            cur.push(ch);
        }
        self.out.push_str(&cur);
        self.out.push_str("\r\n");
    }

    fn text(&mut self, name: &str, value: &str) {
        self.line(name, &[], &escaped(&[value]));
    }

    /// A TEL/EMAIL/ADR/URL line's exact type and label, when its RFC types do not say them.
    fn kind_lines(&mut self, kind: &str, label: &str, read_back: &str) {
        if kind == CUSTOM {
            self.text(X_LABEL, label);
        } else if kind != read_back {
            self.text(X_TYPE, kind);
        }
    }

    fn android_custom(&mut self, mime: &str, data: &[&str]) {
        let mut parts = vec![mime];
        parts.extend_from_slice(data);
        parts.resize(16, "");
        self.line(X_ANDROID_CUSTOM, &[], &escaped(&parts));
    }
}

/// A provider type word as its integer for `X-ANDROID-CUSTOM`; a word the table does not
/// know is kept as it is, so it still reads back.
fn code_text(table: &[(&'static str, i32)], word: &str) -> String {
    kinds::code(table, word).map_or_else(|| word.to_owned(), |c| c.to_string())
}

fn word_from(table: &[(&'static str, i32)], text: &str) -> String {
    text.parse()
        .ok()
        .and_then(|c| kinds::word(table, c))
        .map_or_else(|| text.to_owned(), str::to_owned)
}

fn label_of<'a>(kind: &str, label: &'a str) -> &'a str {
    if kind == CUSTOM {
        label
    } else {
        ""
    }
}

/// `YYYY-MM-DD` with a real month and day: the only birthday RFC 2426's BDAY takes.
fn is_full_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0..4, 5..7, 8..10]
            .into_iter()
            .all(|r| b[r].iter().all(u8::is_ascii_digit))
        && matches!(v[5..7].parse::<u8>(), Ok(1..=12))
        && matches!(v[8..10].parse::<u8>(), Ok(1..=31))
}

fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\xFF\xD8\xFF") {
        Some("JPEG")
    } else if bytes.starts_with(b"\x89PNG") {
        Some("PNG")
    } else if bytes.starts_with(b"GIF8") {
        Some("GIF")
    } else {
        None
    }
}

/// Appends the contact as one vCard 3.0 (CRLF lines, folded at 75 octets, escaped).
pub fn write_v3(c: &PersonalData, out: &mut String) {
    let mut card = Card { out };
    card.line("BEGIN", &[], "VCARD");
    card.line("VERSION", &[], "3.0");
    card.line(
        "N",
        &[],
        &escaped(&[
            &c.family_name,
            &c.given_name,
            &c.middle_name,
            &c.prefix,
            &c.suffix,
        ]),
    );
    if c.display_name.is_empty() {
        card.text("FN", &c.fallback_name());
        card.text(X_NO_NAME, "1");
    } else {
        card.text("FN", &c.display_name);
    }
    for (name, v) in
        X_PHONETIC
            .iter()
            .zip([&c.phonetic_given, &c.phonetic_middle, &c.phonetic_family])
    {
        if !v.is_empty() {
            card.text(name, v);
        }
    }
    for n in &c.nicknames {
        card.text("NICKNAME", n);
    }
    for p in &c.phones {
        let rfc = tel_types(&p.kind);
        let x = x_name_type(&p.kind, &p.label);
        card.line("TEL", &line_types(rfc, &x), &escaped(&[&p.value]));
        card.kind_lines(&p.kind, &p.label, &tel_kind(rfc));
    }
    for e in &c.emails {
        let rfc = email_types(&e.kind);
        let x = x_name_type(&e.kind, &e.label);
        card.line("EMAIL", &line_types(rfc, &x), &escaped(&[&e.value]));
        card.kind_lines(&e.kind, &e.label, &email_kind(rfc));
    }
    for a in &c.addresses {
        let rfc = adr_types(&a.kind);
        let x = x_name_type(&a.kind, &a.label);
        card.line(
            "ADR",
            &line_types(rfc, &x),
            &escaped(&[
                &a.pobox,
                &a.neighborhood,
                &a.street,
                &a.city,
                &a.region,
                &a.postcode,
                &a.country,
            ]),
        );
        if !a.formatted.is_empty() {
            card.text("LABEL", &a.formatted);
        }
        card.kind_lines(&a.kind, &a.label, &adr_kind(rfc));
    }
    for w in &c.websites {
        if is_uri(&w.value) {
            card.text("URL", &w.value);
            card.kind_lines(&w.kind, &w.label, "other");
        } else {
            // "www.example.org" or any text a person typed: not a URI, which URL must be.
            let kind = code_text(kinds::WEBSITE, &w.kind);
            card.android_custom(
                MIME_WEBSITE,
                &[&w.value, &kind, label_of(&w.kind, &w.label)],
            );
        }
    }
    if c.organization.is_some() || c.department.is_some() {
        card.line(
            "ORG",
            &[],
            &escaped(&[
                c.organization.as_deref().unwrap_or(""),
                c.department.as_deref().unwrap_or(""),
            ]),
        );
    }
    if let Some(t) = &c.title {
        card.text("TITLE", t);
    }
    let mut bday_written = false;
    for e in &c.events {
        if e.kind == "birthday" && !bday_written && is_full_date(&e.value) {
            card.line("BDAY", &[], &e.value);
            bday_written = true;
        } else {
            let kind = code_text(kinds::EVENT, &e.kind);
            card.android_custom(MIME_EVENT, &[&e.value, &kind, label_of(&e.kind, &e.label)]);
        }
    }
    for im in &c.ims {
        let kind = code_text(kinds::PLACE, &im.kind);
        let protocol = code_text(kinds::IM_PROTOCOL, &im.protocol);
        card.android_custom(
            MIME_IM,
            &[
                &im.handle,
                &kind,
                label_of(&im.kind, &im.label),
                "",
                &protocol,
                &im.custom_protocol,
            ],
        );
    }
    for s in &c.sip_addresses {
        let kind = code_text(kinds::PLACE, &s.kind);
        card.android_custom(MIME_SIP, &[&s.value, &kind, label_of(&s.kind, &s.label)]);
    }
    for r in &c.relations {
        let kind = code_text(kinds::RELATION, &r.kind);
        card.android_custom(
            MIME_RELATION,
            &[&r.value, &kind, label_of(&r.kind, &r.label)],
        );
    }
    for n in &c.notes {
        card.text("NOTE", n);
    }
    if !c.groups.is_empty() {
        let mut v = String::new();
        for (i, g) in c.groups.iter().enumerate() {
            if i > 0 {
                v.push(',');
            }
            escape(g, &mut v);
        }
        card.line("CATEGORIES", &[], &v);
    }
    if c.starred {
        card.text(X_STARRED, "1");
    }
    if let Some(a) = &c.account {
        card.text(X_ACCOUNT_TYPE, &a.kind);
        card.text(X_ACCOUNT_NAME, &a.name);
    }
    if let Some(bytes) = &c.photo {
        let data = BASE64.encode(bytes);
        match image_type(bytes) {
            Some(t) => card.line("PHOTO;ENCODING=b", &[t], &data),
            None => card.line("PHOTO;ENCODING=b", &[], &data),
        }
    }
    card.line("END", &[], "VCARD");
}

// ------------------------------------------------------------------------------- reading

/// The TYPE values of a line as written (case kept: an `X-` type may be a label).
fn param_types(e: &VCardEntry) -> Vec<String> {
    e.params
        .iter()
        .filter(|p| p.name == VCardParameterName::Type)
        .flat_map(|p| match &p.value {
            VCardParameterValue::Type(t) => vec![t.as_str().to_owned()],
            // 2.1 and loose writers put several types in one text value.
            VCardParameterValue::Text(t) => t.split(',').map(|s| s.trim().to_owned()).collect(),
            _ => vec![],
        })
        .collect()
}

/// A TEL/EMAIL/ADR that no known type placed (`other`) but that has an `X-` type: a custom
/// label, as Android's exporter writes one (`TYPE=X-Babcia`) and its importer reads it. "X-OTHER"
/// (Android's word for an address of type other) stays `other`.
fn with_x_label(kind: String, types: &[String]) -> (String, String) {
    let label = types.iter().find_map(|t| {
        let (head, rest) = (t.get(..2)?, t.get(2..)?);
        let is_label = head.eq_ignore_ascii_case("x-")
            && !rest.is_empty()
            && !rest.eq_ignore_ascii_case("other");
        is_label.then(|| rest.to_owned())
    });
    match label {
        Some(l) if kind == "other" => (CUSTOM.to_owned(), l),
        _ => (kind, String::new()),
    }
}

fn value_text(v: &VCardValue) -> String {
    match v {
        VCardValue::Text(s) => s.clone(),
        VCardValue::Component(parts) => parts.join(","),
        VCardValue::Integer(i) => i.to_string(),
        VCardValue::Float(f) => f.to_string(),
        VCardValue::Boolean(b) => b.to_string(),
        VCardValue::PartialDateTime(d) => date_text(d),
        _ => String::new(),
    }
}

fn values(e: &VCardEntry) -> Vec<String> {
    e.values.iter().map(value_text).collect()
}

fn first(e: &VCardEntry) -> String {
    e.values.first().map(value_text).unwrap_or_default()
}

/// The whole value of a text property, commas included (calcard splits some at commas).
fn whole(e: &VCardEntry) -> String {
    values(e).join(",")
}

fn date_text(d: &PartialDateTime) -> String {
    match (d.year, d.month, d.day) {
        (Some(y), Some(m), Some(day)) => format!("{y:04}-{m:02}-{day:02}"),
        (None, Some(m), Some(day)) => format!("--{m:02}-{day:02}"),
        _ => String::new(),
    }
}

/// A value `URL` may carry: a scheme and nothing RFC 1738 leaves out of a URL.
fn is_uri(v: &str) -> bool {
    looks_like_uri(v)
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b))
}

/// `scheme:…` as RFC 3986 spells a scheme.
fn looks_like_uri(t: &str) -> bool {
    let Some((scheme, _)) = t.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn tel_kind<S: AsRef<str>>(types: &[S]) -> String {
    let has = |t: &str| types.iter().any(|x| x.as_ref().eq_ignore_ascii_case(t));
    let kind = if has("fax") && has("work") {
        "fax_work"
    } else if has("fax") && has("home") {
        "fax_home"
    } else if has("fax") {
        "other_fax"
    } else if has("pager") && has("work") {
        "work_pager"
    } else if has("pager") {
        "pager"
    } else if has("cell") && has("work") {
        "work_mobile"
    } else if has("cell") {
        "mobile"
    } else if has("main-number") || has("x-main") || has("main") {
        "main"
    } else if has("car") {
        "car"
    } else if has("isdn") {
        "isdn"
    } else if has("msg") {
        "mms"
    } else if has("work") {
        "work"
    } else if has("home") {
        "home"
    } else {
        "other"
    };
    kind.to_owned()
}

fn email_kind<S: AsRef<str>>(types: &[S]) -> String {
    let has = |t: &str| types.iter().any(|x| x.as_ref().eq_ignore_ascii_case(t));
    if has("work") {
        "work"
    } else if has("home") {
        "home"
    } else if has("cell") {
        "mobile"
    } else {
        "other"
    }
    .to_owned()
}

fn adr_kind<S: AsRef<str>>(types: &[S]) -> String {
    let has = |t: &str| types.iter().any(|x| x.as_ref().eq_ignore_ascii_case(t));
    if has("home") {
        "home"
    } else if has("work") {
        "work"
    } else {
        "other"
    }
    .to_owned()
}

/// Which list the last TEL/EMAIL/ADR/URL went to, for the type and label lines after it.
#[derive(Clone, Copy)]
enum Last {
    None,
    Phone,
    Email,
    Address,
    Website,
}

fn set_kind(c: &mut PersonalData, last: Last, kind: String, label: Option<String>) {
    let label = label.unwrap_or_default();
    match last {
        Last::Phone | Last::Email | Last::Website => {
            let list = match last {
                Last::Phone => &mut c.phones,
                Last::Email => &mut c.emails,
                _ => &mut c.websites,
            };
            if let Some(i) = list.last_mut() {
                i.kind = kind;
                i.label = label;
            }
        }
        Last::Address => {
            if let Some(a) = c.addresses.last_mut() {
                a.kind = kind;
                a.label = label;
            }
        }
        Last::None => {}
    }
}

/// An `X-ANDROID-CUSTOM` row of a mimetype we keep; others (another app's) are ignored.
fn android_custom(c: &mut PersonalData, parts: &[String]) {
    let get = |i: usize| parts.get(i).cloned().unwrap_or_default();
    let item = |table: &[(&'static str, i32)]| {
        let kind = word_from(table, &get(2));
        Item {
            value: get(1),
            label: if kind == CUSTOM {
                get(3)
            } else {
                String::new()
            },
            kind,
        }
    };
    match get(0).as_str() {
        MIME_EVENT => c.events.push(item(kinds::EVENT)),
        MIME_SIP => c.sip_addresses.push(item(kinds::PLACE)),
        MIME_RELATION => c.relations.push(item(kinds::RELATION)),
        MIME_WEBSITE => c.websites.push(item(kinds::WEBSITE)),
        MIME_IM => {
            let i = item(kinds::PLACE);
            c.ims.push(Im {
                handle: i.value,
                kind: i.kind,
                label: i.label,
                protocol: word_from(kinds::IM_PROTOCOL, &get(5)),
                custom_protocol: get(6),
            })
        }
        _ => {}
    }
}

fn too_large(c: &PersonalData) -> bool {
    let big = |s: &String| s.len() > MAX_VALUE_BYTES;
    let items = |v: &Vec<Item>| v.iter().any(|i| big(&i.value) || big(&i.label));
    [
        &c.display_name,
        &c.given_name,
        &c.family_name,
        &c.middle_name,
        &c.prefix,
        &c.suffix,
    ]
    .into_iter()
    .any(big)
        || c.notes.iter().any(big)
        || c.nicknames.iter().any(big)
        || c.groups.iter().any(big)
        || items(&c.phones)
        || items(&c.emails)
        || items(&c.websites)
        || items(&c.events)
        || items(&c.relations)
        || items(&c.sip_addresses)
        || c.addresses
            .iter()
            .any(|a| big(&a.formatted) || big(&a.street))
        || c.ims.iter().any(|i| big(&i.handle))
        || [&c.organization, &c.title, &c.department]
            .into_iter()
            .flatten()
            .any(big)
}

/// A text value: as written (3.0/4.0), else as calcard decoded it.
fn text(raw: &mut RawCard, e: &VCardEntry, name: &str) -> String {
    raw.next(name).map_or_else(|| whole(e), |r| unescape(&r))
}

/// A structured value's fields (N, ADR, ORG): as written (3.0/4.0), else calcard's.
fn parts(raw: &mut RawCard, e: &VCardEntry, name: &str) -> Vec<String> {
    raw.next(name)
        .map_or_else(|| values(e), |r| split_raw(&r, ';'))
}

/// A card as a personal contact, or why it cannot be one. A photo that is not an image the
/// phone can decode is dropped (the contact is kept): `photo_dropped` says so.
fn from_vcard(v: &VCard, raw: &mut RawCard) -> Result<Restorable, SkipReason> {
    let mut c = PersonalData::default();
    let mut fn_derived = false;
    let mut last = Last::None;
    let mut account_type = None;
    let mut account_name = String::new();
    let mut photo_dropped = false;
    for e in &v.entries {
        match &e.name {
            VCardProperty::Fn => c.display_name = text(raw, e, "FN"),
            VCardProperty::N => {
                let mut parts = parts(raw, e, "N").into_iter();
                c.family_name = parts.next().unwrap_or_default();
                c.given_name = parts.next().unwrap_or_default();
                c.middle_name = parts.next().unwrap_or_default();
                c.prefix = parts.next().unwrap_or_default();
                c.suffix = parts.next().unwrap_or_default();
            }
            VCardProperty::Nickname => c.nicknames.push(text(raw, e, "NICKNAME")),
            VCardProperty::Tel => {
                let types = param_types(e);
                let (kind, label) = with_x_label(tel_kind(&types), &types);
                c.phones.push(Item {
                    value: text(raw, e, "TEL"),
                    kind,
                    label,
                });
                last = Last::Phone;
            }
            VCardProperty::Email => {
                let types = param_types(e);
                let (kind, label) = with_x_label(email_kind(&types), &types);
                c.emails.push(Item {
                    value: text(raw, e, "EMAIL"),
                    kind,
                    label,
                });
                last = Last::Email;
            }
            VCardProperty::Adr => {
                let p = parts(raw, e, "ADR");
                let get = |i: usize| p.get(i).cloned().unwrap_or_default();
                let types = param_types(e);
                let (kind, label) = with_x_label(adr_kind(&types), &types);
                c.addresses.push(Address {
                    kind,
                    label,
                    pobox: get(0),
                    neighborhood: get(1),
                    street: get(2),
                    city: get(3),
                    region: get(4),
                    postcode: get(5),
                    country: get(6),
                    ..Default::default()
                });
                last = Last::Address;
            }
            VCardProperty::Url => {
                c.websites.push(Item::new(&text(raw, e, "URL"), "other"));
                last = Last::Website;
            }
            VCardProperty::Org => {
                let mut parts = parts(raw, e, "ORG").into_iter();
                c.organization = parts.next().and_then(non_empty);
                c.department = parts.next().and_then(non_empty);
            }
            VCardProperty::Title => c.title = non_empty(text(raw, e, "TITLE")),
            VCardProperty::Note => c.notes.push(text(raw, e, "NOTE")),
            VCardProperty::Bday => {
                let v = first(e);
                if !v.is_empty() {
                    c.events.push(Item::new(&v, "birthday"));
                }
            }
            VCardProperty::Categories => match raw.next("CATEGORIES") {
                Some(r) => c.groups.extend(split_raw(&r, ',')),
                None => c.groups.extend(values(e)),
            },
            VCardProperty::Photo => match e.values.first() {
                Some(VCardValue::Binary(d)) => c.photo = Some(d.data.clone()),
                // calcard hands inline base64 that happens to decode to valid UTF-8 back as
                // text (the decoded bytes, unchanged). A value with a scheme (`https:`,
                // `data:`) is a URI: skipped.
                Some(VCardValue::Text(t)) if !looks_like_uri(t) => {
                    c.photo = Some(t.clone().into_bytes())
                }
                _ => {}
            },
            VCardProperty::Other(name) => {
                let name = name.to_ascii_uppercase();
                let value = if name == X_ANDROID_CUSTOM {
                    String::new()
                } else {
                    text(raw, e, &name)
                };
                match name.as_str() {
                    "LABEL" => {
                        if let (Last::Address, Some(a)) = (last, c.addresses.last_mut()) {
                            a.formatted = value;
                        }
                    }
                    X_TYPE => set_kind(&mut c, last, value, None),
                    X_LABEL => set_kind(&mut c, last, CUSTOM.to_owned(), Some(value)),
                    X_NO_NAME => fn_derived = true,
                    X_STARRED => c.starred = value == "1",
                    X_ACCOUNT_TYPE => account_type = Some(value),
                    X_ACCOUNT_NAME => account_name = value,
                    X_ANDROID_CUSTOM => {
                        if let Some(raw) = raw.next(X_ANDROID_CUSTOM) {
                            android_custom(&mut c, &split_raw(&raw, ';'));
                        }
                    }
                    n if n == X_PHONETIC[0] => c.phonetic_given = value,
                    n if n == X_PHONETIC[1] => c.phonetic_middle = value,
                    n if n == X_PHONETIC[2] => c.phonetic_family = value,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if fn_derived {
        c.display_name.clear();
    }
    c.account = account_type.map(|kind| SourceAccount {
        kind,
        name: account_name,
    });
    if let Some(p) = &c.photo {
        if !is_image(p) || p.len() > MAX_PHOTO_BYTES {
            c.photo = None;
            photo_dropped = true;
        }
    }
    if c.data_rows() == 0 && c.photo.is_none() {
        return Err(SkipReason::Empty);
    }
    if too_large(&c) {
        return Err(SkipReason::ValueTooLarge);
    }
    if c.provider_ops() > crate::store::MAX_BATCH_OPS {
        return Err(SkipReason::TooManyRows);
    }
    Ok(Restorable {
        contact: c,
        photo_dropped,
    })
}

/// A card ready to insert, and whether its photo had to be left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restorable {
    pub contact: PersonalData,
    pub photo_dropped: bool,
}

/// One card's content lines as written, still escaped, by property name in order. A 3.0 or
/// 4.0 value is read from here rather than from calcard, which unescapes an unknown
/// property's value whole (losing where its fields end) and folds blanks after a quote.
#[derive(Debug, Default)]
struct RawCard {
    version: String,
    props: std::collections::HashMap<String, std::collections::VecDeque<String>>,
}

impl RawCard {
    /// The next raw value of `name`, when this card is 3.0 or 4.0 (2.1 values may be
    /// quoted-printable: calcard's decoding is the one to use there).
    fn next(&mut self, name: &str) -> Option<String> {
        if self.version != "3.0" && self.version != "4.0" {
            return None;
        }
        self.props.get_mut(name)?.pop_front()
    }
}

fn raw_cards(text: &str) -> Vec<RawCard> {
    let unfolded = text
        .replace("\r\n ", "")
        .replace("\r\n\t", "")
        .replace("\n ", "");
    let mut out: Vec<RawCard> = Vec::new();
    for line in unfolded.lines() {
        let line = line.trim_end_matches('\r');
        let Some((head, value)) = line.split_once(':') else {
            continue;
        };
        let name = head.split(';').next().unwrap_or_default();
        let name = name
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if name == "BEGIN" {
            out.push(RawCard::default());
        } else if let Some(card) = out.last_mut() {
            if name == "VERSION" {
                card.version = value.trim().to_owned();
            }
            card.props
                .entry(name)
                .or_default()
                .push_back(value.to_owned());
        }
    }
    out
}

/// A raw text value split at unescaped `sep` (`;` for structured values, `,` for lists),
/// each part unescaped.
fn split_raw(raw: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = raw.chars();
    while let Some(ch) = chars.next() {
        let push = match ch {
            '\\' => match chars.next() {
                Some('n') | Some('N') => Some('\n'),
                Some(other) => Some(other),
                None => None,
            },
            c if c == sep => {
                parts.push(String::new());
                None
            }
            c => Some(c),
        };
        if let (Some(c), Some(last)) = (push, parts.last_mut()) {
            last.push(c);
        }
    }
    parts
}

fn unescape(raw: &str) -> String {
    split_raw(raw, '\0').concat()
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Every card in a `.vcf` text, in order: a contact, or the reason it was skipped.
pub fn parse_all(text: &str) -> Vec<Result<Restorable, SkipReason>> {
    let normalized = normalize_birthdays(text);
    let text = normalized.as_deref().unwrap_or(text);
    let mut out = parse_cards(text);
    // calcard accepts a last card without END:VCARD; in a backup that means a cut-off file,
    // and a cut card may have lost properties, so it is not restored.
    let ends_cleanly = text
        .trim_end()
        .get(text.trim_end().len().saturating_sub(9)..)
        .is_some_and(|tail| tail.eq_ignore_ascii_case("END:VCARD"));
    if !ends_cleanly {
        if let Some(last @ Ok(_)) = out.last_mut() {
            *last = Err(SkipReason::Unterminated);
        }
    }
    out
}

/// calcard reads a year-less birthday only as `--MMDD`; other writers (Android among them)
/// write `--MM-DD`: rewrite those values before parsing so they keep their day.
fn normalize_birthdays(text: &str) -> Option<String> {
    fn fixable(line: &str) -> Option<usize> {
        let head = line.get(..4)?;
        if !head.eq_ignore_ascii_case("BDAY") {
            return None;
        }
        let colon = line.find(':')?;
        let v = &line.as_bytes()[colon + 1..];
        let digits = |r: std::ops::Range<usize>| v[r].iter().all(u8::is_ascii_digit);
        (v.len() == 7 && v.starts_with(b"--") && v[4] == b'-' && digits(2..4) && digits(5..7))
            .then_some(colon + 1)
    }
    if !text.lines().any(|l| fixable(l).is_some()) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        match fixable(body) {
            Some(at) => {
                out.push_str(&body[..at + 4]);
                out.push_str(&body[at + 5..]);
                out.push_str(&line[body.len()..]);
            }
            None => out.push_str(line),
        }
    }
    Some(out)
}

fn parse_cards(text: &str) -> Vec<Result<Restorable, SkipReason>> {
    let mut parser = Parser::new(text);
    let mut raws = raw_cards(text).into_iter();
    let mut out = Vec::new();
    loop {
        match parser.entry() {
            Entry::VCard(v) => {
                let mut raw = raws.next().unwrap_or_default();
                out.push(from_vcard(&v, &mut raw))
            }
            Entry::Eof => return out,
            Entry::InvalidLine(_) => out.push(Err(SkipReason::GarbageLine)),
            Entry::UnexpectedComponentEnd { .. } => out.push(Err(SkipReason::Unterminated)),
            Entry::UnterminatedComponent(_) => {
                raws.next();
                out.push(Err(SkipReason::Unterminated))
            }
            // iCalendar objects and whatever a newer calcard may add.
            _ => {
                raws.next();
                out.push(Err(SkipReason::NotAVCard))
            }
        }
    }
}

#[cfg(test)]
mod tests;
