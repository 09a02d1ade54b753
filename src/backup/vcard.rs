//! Personal contacts as vCard 3.0 (RFC 2426) through the `calcard` crate: the mapping both
//! ways, pure. The reader accepts 2.1, 3.0 and 4.0; the writer always writes 3.0, which
//! Android's stock Contacts app imports (it refuses 4.0).

use calcard::common::{Data, IanaString, PartialDateTime};
use calcard::vcard::{
    VCard, VCardEntry, VCardParameter, VCardParameterName, VCardParameterValue, VCardProperty,
    VCardType, VCardValue, VCardVersion,
};
use calcard::{Entry, Parser};
use contacts_agent_protocol::{Email, EmailKind, Phone, PhoneKind, PostalAddress};

use crate::store::{Address, AddressKind, PersonalData};

/// Why a card in an archive could not become a contact. No personal data in here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// Neither FN nor any part of N.
    MissingName,
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
            SkipReason::MissingName => "card without a name (no FN or N)",
            SkipReason::GarbageLine => "line that is not a vCard property",
            SkipReason::Unterminated => "card cut off (no END:VCARD)",
            SkipReason::NotAVCard => "object that is not a vCard",
        }
    }
}

fn types(kinds: &[VCardType]) -> Vec<VCardParameter> {
    kinds
        .iter()
        .map(|t| VCardParameter {
            name: VCardParameterName::Type,
            value: VCardParameterValue::Type(t.clone()),
        })
        .collect()
}

fn text_type(t: &str) -> VCardParameter {
    VCardParameter {
        name: VCardParameterName::Type,
        value: VCardParameterValue::Text(t.to_owned()),
    }
}

fn entry(name: VCardProperty, params: Vec<VCardParameter>, values: Vec<VCardValue>) -> VCardEntry {
    VCardEntry {
        group: None,
        name,
        params,
        values,
    }
}

fn text(s: &str) -> VCardValue {
    VCardValue::Text(s.to_owned())
}

fn phone_types(kind: &PhoneKind) -> Vec<VCardType> {
    match kind {
        PhoneKind::Mobile => vec![VCardType::Cell],
        PhoneKind::Work => vec![VCardType::Work, VCardType::Voice],
        PhoneKind::WorkMobile => vec![VCardType::Work, VCardType::Cell],
        PhoneKind::Home => vec![VCardType::Home, VCardType::Voice],
        PhoneKind::Main => vec![VCardType::MainNumber],
        PhoneKind::FaxWork => vec![VCardType::Work, VCardType::Fax],
        // Personal contacts read from rows never hold an unrecognized kind; were one there,
        // "other" is what a vCard reader can take.
        PhoneKind::Other | PhoneKind::Unrecognized(_) => vec![VCardType::Voice],
    }
}

fn birthday_value(b: &str) -> VCardValue {
    let parse = |y: Option<&str>, m: &str, d: &str| -> Option<PartialDateTime> {
        Some(PartialDateTime {
            year: match y {
                Some(y) => Some(y.parse().ok()?),
                None => None,
            },
            month: Some(m.parse().ok()?),
            day: Some(d.parse().ok()?),
            ..Default::default()
        })
    };
    let parts: Vec<&str> = b.split('-').collect();
    let date = match parts.as_slice() {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => parse(Some(y), m, d),
        ["", "", m, d] if m.len() == 2 && d.len() == 2 => parse(None, m, d),
        _ => None,
    };
    date.map_or_else(|| text(b), VCardValue::PartialDateTime)
}

fn image_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    }
}

/// The contact as a vCard (written as 3.0 by `write_v3`).
pub fn to_vcard(c: &PersonalData) -> VCard {
    let mut e = Vec::with_capacity(8 + c.phones.len() + c.emails.len());
    e.push(entry(
        VCardProperty::Fn,
        vec![],
        vec![text(&c.display_name)],
    ));
    e.push(entry(
        VCardProperty::N,
        vec![],
        [
            &c.family_name,
            &c.given_name,
            &c.middle_name,
            &c.prefix,
            &c.suffix,
        ]
        .into_iter()
        .map(|s| text(s))
        .collect(),
    ));
    for p in &c.phones {
        e.push(entry(
            VCardProperty::Tel,
            types(&phone_types(&p.kind)),
            vec![text(&p.number)],
        ));
    }
    for m in &c.emails {
        let mut params = vec![text_type("INTERNET")];
        match m.kind {
            EmailKind::Work => params.extend(types(&[VCardType::Work])),
            EmailKind::Home => params.extend(types(&[VCardType::Home])),
            EmailKind::Other | EmailKind::Unrecognized(_) => {}
        }
        e.push(entry(VCardProperty::Email, params, vec![text(&m.address)]));
    }
    if c.organization.is_some() || c.department.is_some() {
        e.push(entry(
            VCardProperty::Org,
            vec![],
            vec![
                text(c.organization.as_deref().unwrap_or("")),
                text(c.department.as_deref().unwrap_or("")),
            ],
        ));
    }
    if let Some(t) = &c.title {
        e.push(entry(VCardProperty::Title, vec![], vec![text(t)]));
    }
    for a in &c.addresses {
        let params = match a.kind {
            AddressKind::Home => types(&[VCardType::Home]),
            AddressKind::Work => types(&[VCardType::Work]),
            AddressKind::Other => vec![],
        };
        let p = &a.address;
        e.push(entry(
            VCardProperty::Adr,
            params,
            [
                "",
                "",
                &p.street,
                &p.city,
                &p.region,
                &p.postcode,
                &p.country,
            ]
            .into_iter()
            .map(text)
            .collect(),
        ));
    }
    for n in &c.notes {
        e.push(entry(VCardProperty::Note, vec![], vec![text(n)]));
    }
    if let Some(b) = &c.birthday {
        e.push(entry(VCardProperty::Bday, vec![], vec![birthday_value(b)]));
    }
    if let Some(bytes) = &c.photo {
        e.push(entry(
            VCardProperty::Photo,
            vec![],
            vec![VCardValue::Binary(Data {
                content_type: Some(image_type(bytes).to_owned()),
                data: bytes.clone(),
            })],
        ));
    }
    VCard { entries: e }
}

/// Appends the contact as one vCard 3.0 (CRLF lines, folded at 75 octets, escaped).
pub fn write_v3(c: &PersonalData, out: &mut String) {
    // Writing into a String cannot fail.
    let _ = to_vcard(c).write_to(out, VCardVersion::V3_0);
}

fn param_types(e: &VCardEntry) -> Vec<String> {
    e.params
        .iter()
        .filter(|p| p.name == VCardParameterName::Type)
        .flat_map(|p| match &p.value {
            VCardParameterValue::Type(t) => vec![t.as_str().to_ascii_lowercase()],
            // 2.1 and loose writers put several types in one text value.
            VCardParameterValue::Text(t) => t
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .collect(),
            _ => vec![],
        })
        .collect()
}

fn value_text(v: &VCardValue) -> String {
    match v {
        VCardValue::Text(s) => s.clone(),
        VCardValue::Component(parts) => parts.join(","),
        VCardValue::Integer(i) => i.to_string(),
        VCardValue::Float(f) => f.to_string(),
        VCardValue::Boolean(b) => b.to_string(),
        VCardValue::PartialDateTime(d) => birthday_text(d),
        _ => String::new(),
    }
}

fn values(e: &VCardEntry) -> Vec<String> {
    e.values.iter().map(value_text).collect()
}

fn first(e: &VCardEntry) -> String {
    e.values.first().map(value_text).unwrap_or_default()
}

fn birthday_text(d: &PartialDateTime) -> String {
    match (d.year, d.month, d.day) {
        (Some(y), Some(m), Some(day)) => format!("{y:04}-{m:02}-{day:02}"),
        (None, Some(m), Some(day)) => format!("--{m:02}-{day:02}"),
        _ => String::new(),
    }
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

fn phone_kind(types: &[String]) -> PhoneKind {
    let has = |t: &str| types.iter().any(|x| x == t);
    if has("fax") {
        PhoneKind::FaxWork
    } else if has("main-number") || has("x-main") || has("main") {
        PhoneKind::Main
    } else if has("cell") && has("work") {
        PhoneKind::WorkMobile
    } else if has("cell") {
        PhoneKind::Mobile
    } else if has("work") {
        PhoneKind::Work
    } else if has("home") {
        PhoneKind::Home
    } else {
        PhoneKind::Other
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// A card as a personal contact, or why it cannot be one.
pub fn from_vcard(v: &VCard) -> Result<PersonalData, SkipReason> {
    let mut c = PersonalData::default();
    for e in &v.entries {
        match &e.name {
            VCardProperty::Fn => c.display_name = first(e),
            VCardProperty::N => {
                let mut parts = values(e).into_iter();
                c.family_name = parts.next().unwrap_or_default();
                c.given_name = parts.next().unwrap_or_default();
                c.middle_name = parts.next().unwrap_or_default();
                c.prefix = parts.next().unwrap_or_default();
                c.suffix = parts.next().unwrap_or_default();
            }
            VCardProperty::Tel => c.phones.push(Phone {
                number: first(e),
                kind: phone_kind(&param_types(e)),
            }),
            VCardProperty::Email => {
                let t = param_types(e);
                let kind = if t.iter().any(|x| x == "work") {
                    EmailKind::Work
                } else if t.iter().any(|x| x == "home") {
                    EmailKind::Home
                } else {
                    EmailKind::Other
                };
                c.emails.push(Email {
                    address: first(e),
                    kind,
                });
            }
            VCardProperty::Org => {
                let mut parts = values(e).into_iter();
                c.organization = parts.next().and_then(non_empty);
                c.department = parts.next().and_then(non_empty);
            }
            VCardProperty::Title => c.title = non_empty(first(e)),
            VCardProperty::Adr => {
                let t = param_types(e);
                let kind = if t.iter().any(|x| x == "home") {
                    AddressKind::Home
                } else if t.iter().any(|x| x == "work") {
                    AddressKind::Work
                } else {
                    AddressKind::Other
                };
                let p: Vec<String> = values(e);
                let get = |i: usize| p.get(i).cloned().unwrap_or_default();
                c.addresses.push(Address {
                    kind,
                    address: PostalAddress {
                        street: get(2),
                        city: get(3),
                        region: get(4),
                        postcode: get(5),
                        country: get(6),
                    },
                });
            }
            VCardProperty::Note => c.notes.push(first(e)),
            VCardProperty::Bday => c.birthday = non_empty(first(e)),
            VCardProperty::Photo => match e.values.first() {
                Some(VCardValue::Binary(d)) => c.photo = Some(d.data.clone()),
                // calcard hands inline base64 that happens to decode to valid UTF-8 back as
                // text (the decoded bytes, unchanged). Real JPEG/PNG never is, but keep what
                // the card carried. A value with a scheme (`https:`, `data:`) is a URI: skipped.
                Some(VCardValue::Text(t)) if !looks_like_uri(t) => {
                    c.photo = Some(t.clone().into_bytes())
                }
                _ => {}
            },
            _ => {}
        }
    }
    let has_n = [
        &c.family_name,
        &c.given_name,
        &c.middle_name,
        &c.prefix,
        &c.suffix,
    ]
    .iter()
    .any(|s| !s.is_empty());
    if c.display_name.is_empty() && !has_n {
        return Err(SkipReason::MissingName);
    }
    if c.display_name.is_empty() {
        c.display_name = [
            &c.prefix,
            &c.given_name,
            &c.middle_name,
            &c.family_name,
            &c.suffix,
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    }
    Ok(c)
}

/// calcard writes a year-less birthday as `--MM-DD` (what Android stores and exports) but
/// reads only `--MMDD`; rewrite those values before parsing so they keep their day.
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

/// Every card in a `.vcf` text, in order: a contact, or the reason it was skipped.
pub fn parse_all(text: &str) -> Vec<Result<PersonalData, SkipReason>> {
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

fn parse_cards(text: &str) -> Vec<Result<PersonalData, SkipReason>> {
    let mut parser = Parser::new(text);
    let mut out = Vec::new();
    loop {
        match parser.entry() {
            Entry::VCard(v) => out.push(from_vcard(&v)),
            Entry::Eof => return out,
            Entry::InvalidLine(_) => out.push(Err(SkipReason::GarbageLine)),
            Entry::UnterminatedComponent(_) | Entry::UnexpectedComponentEnd { .. } => {
                out.push(Err(SkipReason::Unterminated))
            }
            // iCalendar objects and whatever a newer calcard may add.
            _ => out.push(Err(SkipReason::NotAVCard)),
        }
    }
}

#[cfg(test)]
mod tests;
