//! What the server accepts: the length and count limits of every free-text field, checked
//! before anything is stored, and the JSON body reader the handlers share. `docs/openapi.yaml`
//! states the same numbers (`server/tests/spec_conformance.rs` sends one past each).
//!
//! Refusals are 422 and name the field and the limit, never the value: a value may be a name,
//! a phone number or an e-mail address, and error bodies end up in logs.

use chrono::DateTime;
use contacts_agent_protocol::wire::StatusReport;
use contacts_agent_protocol::{AddressKind, ContactData, EmailKind, PhoneKind};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::http::Request;

mod closed;

// Lengths are in characters (Unicode scalar values), as JSON Schema's `maxLength` counts them.

/// Given, family and display name.
pub const NAME: usize = 256;
/// Organization, department, title.
pub const ORGANIZATION: usize = 256;
pub const NOTE: usize = 4096;
pub const PHONES: usize = 20;
pub const PHONE_NUMBER: usize = 64;
pub const EMAILS: usize = 20;
/// RFC 5321's longest forward path.
pub const EMAIL_ADDRESS: usize = 254;
/// Each of street, city, region, postcode, country.
pub const ADDRESS_FIELD: usize = 256;
/// Postal addresses of one contact (besides the legacy `address`).
pub const ADDRESSES: usize = 5;
/// The `label` of a phone, e-mail or address (what the phone shows for kind `custom`).
pub const KIND_LABEL: usize = 64;
pub const WEBSITES: usize = 5;
/// A URL; browsers cope with far longer, a directory's profile links do not need them.
pub const WEBSITE: usize = 512;
pub const SIP_ADDRESSES: usize = 5;
/// A SIP URI ("sip:" + user@host): the e-mail limit plus the scheme.
pub const SIP_ADDRESS: usize = 258;
pub const IMS: usize = 5;
/// An instant-messaging handle and the name of its service.
pub const IM_HANDLE: usize = 256;
pub const IM_PROTOCOL: usize = 64;
/// Device, group and policy names.
pub const LABEL: usize = 128;
/// Groups named when a user is created.
pub const GROUPS_PER_USER: usize = 1000;
/// A contact photo (a 720×720 JPEG, what Android shows full-screen, is ~100-300 KB).
pub const PHOTO_BYTES: usize = 2 * 1024 * 1024;
/// The users search term.
pub const SEARCH: usize = 256;
pub const ENROLLMENT_CODE: usize = 64;

// A status report. Result strings longer than `RESULT` are cut, not refused: a report the
// server refuses stays queued on the phone, so refusing what only the phone can change would
// stall its reports for good. What a correct agent never sends is refused.

pub const RESULT: usize = 1024;
/// `sync_token` and `managed_fingerprint`.
pub const REPORT_TOKEN: usize = 256;
/// Commands one report completes (a pending "Synchronize contacts" is never queued twice).
pub const COMPLETED_COMMANDS: usize = 100;
pub const COMMAND_ID: usize = 64;
pub const MANAGED_COUNT: u64 = 10_000_000;

/// A page of `GET /v1/device/contacts` stops before its JSON passes this many bytes (one
/// change always goes in, and a contact within the limits above is under 150 KB).
pub const PAGE_BYTES: usize = 4 * 1024 * 1024;

fn too_long(field: &str, max: usize) -> ApiError {
    ApiError::Unprocessable(format!("{field} is longer than {max} characters"))
}

/// `value` has at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    // Bytes bound characters from above: the count is only needed near the limit.
    if value.len() > max && value.chars().count() > max {
        return Err(too_long(field, max));
    }
    Ok(())
}

/// A device, group or policy name: 1-128 characters, not only spaces. Returns it trimmed.
pub fn label(field: &str, value: &str) -> Result<String, ApiError> {
    text(field, value, LABEL)?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ApiError::Unprocessable(format!(
            "{field} must contain a character other than a space"
        )));
    }
    Ok(trimmed.to_owned())
}

fn count(field: &str, n: usize, max: usize) -> Result<(), ApiError> {
    if n > max {
        return Err(ApiError::Unprocessable(format!(
            "{field} has more than {max} entries"
        )));
    }
    Ok(())
}

/// Every field of a contact within its limit. The name rule (some name present) is
/// `repo`'s, which fills the display name in.
pub fn contact(c: &ContactData) -> Result<(), ApiError> {
    if !c.groups.is_empty() {
        // What devices see in `groups` comes from memberships and their policy.
        return Err(ApiError::Unprocessable(
            "contact.groups is filled by the server from memberships; set a user's groups with its groups field or the group member routes".into(),
        ));
    }
    text("given_name", &c.given_name, NAME)?;
    text("family_name", &c.family_name, NAME)?;
    text("display_name", &c.display_name, NAME)?;
    for (field, v, max) in [
        ("organization", &c.organization, ORGANIZATION),
        ("department", &c.department, ORGANIZATION),
        ("title", &c.title, ORGANIZATION),
        ("note", &c.note, NOTE),
        ("prefix", &c.prefix, NAME),
        ("middle_name", &c.middle_name, NAME),
        ("suffix", &c.suffix, NAME),
        ("phonetic_given_name", &c.phonetic_given_name, NAME),
        ("phonetic_family_name", &c.phonetic_family_name, NAME),
        ("nickname", &c.nickname, NAME),
        ("office_location", &c.office_location, ORGANIZATION),
        ("manager", &c.manager, NAME),
        ("assistant", &c.assistant, NAME),
    ] {
        if let Some(v) = v {
            text(field, v, max)?;
        }
    }
    count("phones", c.phones.len(), PHONES)?;
    for p in &c.phones {
        text("phones[].number", &p.number, PHONE_NUMBER)?;
        kind_label("phones[].label", &p.label)?;
        if let PhoneKind::Unrecognized(_) = p.kind {
            return Err(not_a_kind(
                "phones[].kind",
                &PhoneKind::ALL.map(|k| k.as_str().to_owned()),
            ));
        }
    }
    one_preferred("phones", c.phones.iter().map(|p| p.preferred))?;
    count("emails", c.emails.len(), EMAILS)?;
    for e in &c.emails {
        text("emails[].address", &e.address, EMAIL_ADDRESS)?;
        kind_label("emails[].label", &e.label)?;
        if let EmailKind::Unrecognized(_) = e.kind {
            return Err(not_a_kind(
                "emails[].kind",
                &EmailKind::ALL.map(|k| k.as_str().to_owned()),
            ));
        }
    }
    one_preferred("emails", c.emails.iter().map(|e| e.preferred))?;
    if let Some(a) = &c.address {
        postal("address", a)?;
    }
    count("addresses", c.addresses.len(), ADDRESSES)?;
    for a in &c.addresses {
        postal("addresses[].address", &a.address)?;
        kind_label("addresses[].label", &a.label)?;
        if let AddressKind::Unrecognized(_) = a.kind {
            return Err(not_a_kind(
                "addresses[].kind",
                &AddressKind::ALL.map(|k| k.as_str().to_owned()),
            ));
        }
    }
    count("websites", c.websites.len(), WEBSITES)?;
    for w in &c.websites {
        text("websites[]", w, WEBSITE)?;
    }
    count("sip_addresses", c.sip_addresses.len(), SIP_ADDRESSES)?;
    for s in &c.sip_addresses {
        text("sip_addresses[]", s, SIP_ADDRESS)?;
    }
    count("ims", c.ims.len(), IMS)?;
    for im in &c.ims {
        text("ims[].handle", &im.handle, IM_HANDLE)?;
        text("ims[].protocol", &im.protocol, IM_PROTOCOL)?;
        label("ims[].protocol", &im.protocol)?;
    }
    Ok(())
}

fn postal(field: &str, a: &contacts_agent_protocol::PostalAddress) -> Result<(), ApiError> {
    for (part, v) in [
        ("street", &a.street),
        ("city", &a.city),
        ("region", &a.region),
        ("postcode", &a.postcode),
        ("country", &a.country),
    ] {
        text(&format!("{field}.{part}"), v, ADDRESS_FIELD)?;
    }
    Ok(())
}

fn kind_label(field: &str, label: &Option<String>) -> Result<(), ApiError> {
    match label {
        Some(l) => text(field, l, KIND_LABEL),
        None => Ok(()),
    }
}

/// ContactsProvider keeps one primary row per kind of data on a raw contact (setting one
/// clears the others), so a second preferred phone would silently lose its flag.
fn one_preferred(field: &str, flags: impl Iterator<Item = bool>) -> Result<(), ApiError> {
    if flags.filter(|p| *p).count() > 1 {
        return Err(ApiError::Unprocessable(format!(
            "{field} has more than one preferred entry"
        )));
    }
    Ok(())
}

/// Devices read a kind they do not know as `Unrecognized`; this server stores only kinds it
/// knows, as its hash and console depend on them.
fn not_a_kind(field: &str, known: &[String]) -> ApiError {
    ApiError::Unprocessable(format!("{field} is not one of {}", known.join(", ")))
}

/// A list of group ids: at most `max`, each well-formed. Whether they exist is for the
/// caller to ask.
pub fn group_ids(field: &str, ids: &[String], max: usize) -> Result<(), ApiError> {
    count(field, ids.len(), max)?;
    if ids.iter().any(|g| !crate::repo::valid_id(g)) {
        return Err(ApiError::Unprocessable(format!(
            "{field} holds something that is not a group id"
        )));
    }
    Ok(())
}

pub fn photo(bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::BadRequest("the photo body is empty".into()));
    }
    if bytes.len() > PHOTO_BYTES {
        return Err(ApiError::TooLarge(PHOTO_BYTES));
    }
    Ok(())
}

fn date(field: &str, value: &str) -> Result<(), ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|_| ())
        .map_err(|_| ApiError::Unprocessable(format!("{field} is not an RFC 3339 date-time")))
}

fn cut(value: &mut Option<String>, max: usize) {
    if let Some(v) = value {
        if let Some((at, _)) = v.char_indices().nth(max) {
            v.truncate(at);
        }
    }
}

/// Checks a device's status report and cuts its result strings to `RESULT` characters.
pub fn status_report(r: &mut StatusReport) -> Result<(), ApiError> {
    date("reported_at", &r.reported_at)?;
    for (field, v) in [
        ("last_sync_at", &r.last_sync_at),
        ("last_successful_sync_at", &r.last_successful_sync_at),
        ("next_sync_at", &r.next_sync_at),
        ("last_backup_at", &r.last_backup_at),
        ("next_backup_at", &r.next_backup_at),
    ] {
        if let Some(v) = v {
            date(field, v)?;
        }
    }
    if let Some(t) = &r.sync_token {
        text("sync_token", t, REPORT_TOKEN)?;
    }
    text("managed_fingerprint", &r.managed_fingerprint, REPORT_TOKEN)?;
    if r.managed_count > MANAGED_COUNT {
        return Err(ApiError::Unprocessable(format!(
            "managed_count is above {MANAGED_COUNT}"
        )));
    }
    count(
        "completed_commands",
        r.completed_commands.len(),
        COMPLETED_COMMANDS,
    )?;
    for c in &r.completed_commands {
        text("completed_commands[]", c, COMMAND_ID)?;
    }
    cut(&mut r.last_sync_result, RESULT);
    cut(&mut r.last_backup_result, RESULT);
    Ok(())
}

/// The request body as `T`: malformed JSON is 400, well-formed JSON of the wrong shape (a
/// missing or unknown field, a wrong type, an unknown enum value) is 422. Neither quotes the
/// body. Unknown fields are refused here even where the protocol's types ignore them
/// (`closed`): must-ignore is for devices reading answers, not for what this server is sent.
pub fn json<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    // serde_json files some shape errors (a number where an enum belongs) under syntax: what
    // decides is whether the body parses as JSON at all.
    let value: serde_json::Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {}", redacted(&e))))?;
    from_value(value)
}

/// `T` from JSON already parsed, closed like `json`: any failure is the shape's (422).
pub fn from_value<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
    closed::from_value(v).map_err(|r| match r {
        closed::Refusal::UnknownField(at) if at.is_empty() => {
            ApiError::Unprocessable("the body has a field its schema does not list".into())
        }
        closed::Refusal::UnknownField(at) => {
            ApiError::Unprocessable(format!("{at} has a field its schema does not list"))
        }
        closed::Refusal::Shape(e) => shape_error(&e.to_string()),
    })
}

fn shape_error(text: &str) -> ApiError {
    // The one message whose quoted part is ours (a field of our types), not the client's:
    // say which field is missing.
    let missing = text
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    ApiError::Unprocessable(match missing {
        Some(field) => format!("{field} is required"),
        None => format!("the body does not fit the schema: {}", before_quote(text)),
    })
}

/// serde's message up to the first quoted value.
fn before_quote(text: &str) -> &str {
    text.split(['`', '"'])
        .next()
        .and_then(|t| t.split(" at line ").next())
        .unwrap_or("")
        .trim()
        .trim_end_matches(':')
}

/// serde's message up to the first quoted value, and the position.
fn redacted(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let kind = before_quote(&text);
    if e.line() == 0 {
        kind.to_owned()
    } else {
        format!("{kind} at line {} column {}", e.line(), e.column())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contacts_agent_protocol::{Phone, PhoneKind};
    use proptest::prelude::*;

    fn req(body: &str) -> Request {
        let mut r = Request::new("POST", "/");
        r.body = body.as_bytes().to_vec();
        r
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let polish = "ż".repeat(NAME);
        assert!(text("given_name", &polish, NAME).is_ok());
        let err = text("given_name", &format!("{polish}ż"), NAME).unwrap_err();
        assert_eq!(err.status(), 422);
        assert_eq!(err.to_string(), "given_name is longer than 256 characters");
    }

    #[test]
    fn refusals_name_the_field_and_never_the_value() {
        let mut c = ContactData {
            display_name: "Anna Nowak".into(),
            ..Default::default()
        };
        c.phones = vec![Phone::new("+48 500 100 200", PhoneKind::Mobile); PHONES + 1];
        let msg = contact(&c).unwrap_err().to_string();
        assert_eq!(msg, "phones has more than 20 entries");
        c.phones.truncate(1);
        c.note = Some("Secret ".repeat(NOTE));
        let msg = contact(&c).unwrap_err().to_string();
        assert!(msg.starts_with("note ") && !msg.contains("Secret"), "{msg}");
    }

    #[test]
    fn the_1_0_fields_have_limits_that_name_the_field_and_never_the_value() {
        use contacts_agent_protocol::{Address, ImHandle, PostalAddress};
        let base = ContactData {
            display_name: "Anna Nowak".into(),
            ..Default::default()
        };
        let secret = |n: usize| "Sekret ".repeat(n);
        let address = |kind: AddressKind| Address {
            kind,
            label: None,
            address: PostalAddress::default(),
        };
        type Set = fn(&mut ContactData, String);
        let cases: Vec<(Set, &str)> = vec![
            (
                |c, s| c.prefix = Some(s),
                "prefix is longer than 256 characters",
            ),
            (
                |c, s| c.middle_name = Some(s),
                "middle_name is longer than 256 characters",
            ),
            (
                |c, s| c.suffix = Some(s),
                "suffix is longer than 256 characters",
            ),
            (
                |c, s| c.phonetic_given_name = Some(s),
                "phonetic_given_name is longer than 256 characters",
            ),
            (
                |c, s| c.phonetic_family_name = Some(s),
                "phonetic_family_name is longer than 256 characters",
            ),
            (
                |c, s| c.nickname = Some(s),
                "nickname is longer than 256 characters",
            ),
            (
                |c, s| c.office_location = Some(s),
                "office_location is longer than 256 characters",
            ),
            (
                |c, s| c.manager = Some(s),
                "manager is longer than 256 characters",
            ),
            (
                |c, s| c.assistant = Some(s),
                "assistant is longer than 256 characters",
            ),
            (
                |c, s| {
                    c.phones = vec![Phone {
                        label: Some(s),
                        ..Phone::new("1", PhoneKind::Custom)
                    }]
                },
                "phones[].label is longer than 64 characters",
            ),
            (
                |c, s| c.websites = vec![s.repeat(2)],
                "websites[] is longer than 512 characters",
            ),
            (
                |c, s| c.sip_addresses = vec![s],
                "sip_addresses[] is longer than 258 characters",
            ),
            (
                |c, s| {
                    c.ims = vec![ImHandle {
                        protocol: "jabber".into(),
                        handle: s,
                    }]
                },
                "ims[].handle is longer than 256 characters",
            ),
            (
                |c, s| {
                    c.ims = vec![ImHandle {
                        protocol: s,
                        handle: "a".into(),
                    }]
                },
                "ims[].protocol is longer than 64 characters",
            ),
            (
                |c, s| {
                    let mut a = Address {
                        kind: AddressKind::Home,
                        label: None,
                        address: PostalAddress::default(),
                    };
                    a.address.city = s;
                    c.addresses = vec![a];
                },
                "addresses[].address.city is longer than 256 characters",
            ),
        ];
        for (set, message) in cases {
            let mut c = base.clone();
            set(&mut c, secret(60));
            let err = contact(&c).unwrap_err();
            assert_eq!((err.status(), err.to_string().as_str()), (422, message));
        }
        let mut c = base.clone();
        c.addresses = vec![address(AddressKind::Work); ADDRESSES + 1];
        assert_eq!(
            contact(&c).unwrap_err().to_string(),
            "addresses has more than 5 entries"
        );
        c.addresses = vec![address(AddressKind::Unrecognized("depot".into()))];
        assert_eq!(
            contact(&c).unwrap_err().to_string(),
            "addresses[].kind is not one of work, home, other, custom"
        );
        let mut c = base.clone();
        c.websites = vec!["https://a.example".into(); WEBSITES + 1];
        assert_eq!(
            contact(&c).unwrap_err().to_string(),
            "websites has more than 5 entries"
        );
        let mut c = base.clone();
        c.ims = vec![ImHandle {
            protocol: "  ".into(),
            handle: "a".into(),
        }];
        assert_eq!(
            contact(&c).unwrap_err().to_string(),
            "ims[].protocol must contain a character other than a space"
        );
    }

    #[test]
    fn one_preferred_phone_and_e_mail_at_most() {
        let preferred = Phone {
            preferred: true,
            ..Phone::new("1", PhoneKind::Work)
        };
        let mut c = ContactData {
            display_name: "A".into(),
            phones: vec![preferred.clone(), Phone::new("2", PhoneKind::Home)],
            ..Default::default()
        };
        assert!(contact(&c).is_ok());
        c.phones.push(preferred);
        assert_eq!(
            contact(&c).unwrap_err().to_string(),
            "phones has more than one preferred entry"
        );
        c.phones.pop();
        let mut e = contacts_agent_protocol::Email::new("a@b", EmailKind::Work);
        e.preferred = true;
        c.emails = vec![e.clone(), e];
        assert_eq!(
            contact(&c).unwrap_err().to_string(),
            "emails has more than one preferred entry"
        );
    }

    #[test]
    fn labels_are_trimmed_and_need_a_character() {
        assert_eq!(label("name", "  Sales ").unwrap(), "Sales");
        assert_eq!(label("name", "   ").unwrap_err().status(), 422);
        assert_eq!(
            label("name", &"x".repeat(LABEL + 1)).unwrap_err().status(),
            422
        );
    }

    #[test]
    fn malformed_json_is_400_and_a_wrong_shape_is_422_without_the_value() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            name: String,
            count: u32,
        }
        assert_eq!(json::<Body>(&req("{")).unwrap_err().status(), 400);
        assert_eq!(json::<Body>(&req("")).unwrap_err().status(), 400);
        let missing = json::<Body>(&req(r#"{"name":"Anna Secret"}"#)).unwrap_err();
        assert_eq!(
            (missing.status(), missing.to_string().as_str()),
            (422, "count is required")
        );
        let wrong = json::<Body>(&req(r#"{"name":"x","count":"Anna Secret"}"#)).unwrap_err();
        assert_eq!(wrong.status(), 422);
        assert!(!wrong.to_string().contains("Secret"), "{wrong}");
        let unknown = json::<Body>(&req(r#"{"name":"x","count":1,"Anna Secret":1}"#)).unwrap_err();
        assert_eq!(unknown.status(), 422);
        assert!(!unknown.to_string().contains("Secret"), "{unknown}");
    }

    fn report() -> StatusReport {
        serde_json::from_str(
            r#"{"reported_at":"2026-11-25T10:00:00Z","managed_count":3,"managed_fingerprint":"ab"}"#,
        )
        .unwrap()
    }

    #[test]
    fn a_status_report_needs_dates_and_has_its_results_cut() {
        let mut r = report();
        r.last_sync_result = Some(format!("failed: {}", "ł".repeat(5000)));
        status_report(&mut r).unwrap();
        assert_eq!(
            r.last_sync_result.as_ref().map(|s| s.chars().count()),
            Some(RESULT)
        );
        let mut r = report();
        r.reported_at = "yesterday".into();
        assert_eq!(status_report(&mut r).unwrap_err().status(), 422);
        let mut r = report();
        r.next_sync_at = Some("2026-13-01T00:00:00Z".into());
        assert_eq!(status_report(&mut r).unwrap_err().status(), 422);
        let mut r = report();
        r.managed_count = MANAGED_COUNT + 1;
        assert_eq!(status_report(&mut r).unwrap_err().status(), 422);
    }

    proptest! {
        #[test]
        fn text_accepts_exactly_what_fits(s in "\\PC{0,40}", max in 0usize..40) {
            prop_assert_eq!(text("f", &s, max).is_ok(), s.chars().count() <= max);
        }
    }
}
