//! The field allow-list of a policy: the names an admin picks from to limit what leaves the
//! server ("work phones only, no photos, no notes"), and the pure filter a server applies to
//! each contact before hashing it.
//!
//! The vocabulary lives here, beside `ContactData`, because every part of a contact must be
//! named by exactly one field: `filter` destructures `ContactData` without `..`, so a new
//! field does not compile until it is classified, and the tests check that each part of a
//! fully filled contact is kept by exactly one name.
//!
//! Devices never see the allow-list: the server filters, and the content hash is taken over
//! what is sent, so changing the list changes the hashes and the next sync rewrites the
//! contacts on the phone without the dropped fields.
//!
//! Which phone numbers are private: Android tells a person's own mobile (`mobile`, the
//! dialer's "Mobile") from one the company issues (`work_mobile`, "Work mobile"). So
//! `mobile_phones` and `home_phones` are the private numbers; `work_phones` are the numbers
//! of the company (`work`, `work_mobile`, `main`, `fax_work`).

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::contact::{ContactData, EmailKind, PhoneKind};

/// One name of the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// Given, family and display name: always sent, whatever the list says (a contact
    /// without a name is of no use on a phone).
    Name,
    /// Company, department, job title, office location, manager and assistant.
    Organization,
    /// Numbers of the company: `work`, `work_mobile`, `main`, `fax_work`.
    WorkPhones,
    /// A person's own mobile (`mobile`); private.
    MobilePhones,
    /// `home`; private.
    HomePhones,
    /// `other`, `custom` (a labelled number) and kinds this crate does not know.
    OtherPhones,
    WorkEmails,
    HomeEmails,
    /// `other`, `custom` and kinds this crate does not know.
    OtherEmails,
    /// The postal addresses (and the draft protocol's single `address`).
    Addresses,
    /// Websites, SIP addresses and instant-messaging handles.
    WebAndChat,
    Note,
    /// The photo; a device not allowed it cannot download it either.
    Photo,
}

impl Field {
    pub const ALL: [Field; 13] = [
        Field::Name,
        Field::Organization,
        Field::WorkPhones,
        Field::MobilePhones,
        Field::HomePhones,
        Field::OtherPhones,
        Field::WorkEmails,
        Field::HomeEmails,
        Field::OtherEmails,
        Field::Addresses,
        Field::WebAndChat,
        Field::Note,
        Field::Photo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Organization => "organization",
            Field::WorkPhones => "work_phones",
            Field::MobilePhones => "mobile_phones",
            Field::HomePhones => "home_phones",
            Field::OtherPhones => "other_phones",
            Field::WorkEmails => "work_emails",
            Field::HomeEmails => "home_emails",
            Field::OtherEmails => "other_emails",
            Field::Addresses => "addresses",
            Field::WebAndChat => "web_and_chat",
            Field::Note => "note",
            Field::Photo => "photo",
        }
    }

    /// The console's wording.
    pub fn label(self) -> &'static str {
        match self {
            Field::Name => "Name (always sent)",
            Field::Organization => "Company, department, job title, office, manager, assistant",
            Field::WorkPhones => "Work numbers (work, work mobile, main, work fax)",
            Field::MobilePhones => "Private mobile numbers",
            Field::HomePhones => "Home numbers (private)",
            Field::OtherPhones => "Other numbers",
            Field::WorkEmails => "Work e-mail addresses",
            Field::HomeEmails => "Home e-mail addresses (private)",
            Field::OtherEmails => "Other e-mail addresses",
            Field::Addresses => "Postal addresses",
            Field::WebAndChat => "Websites, SIP and chat addresses",
            Field::Note => "Note",
            Field::Photo => "Photo",
        }
    }

    pub fn parse(s: &str) -> Option<Field> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The name that allows a phone number of this kind.
    pub fn of_phone(kind: &PhoneKind) -> Field {
        match kind {
            PhoneKind::Work | PhoneKind::WorkMobile | PhoneKind::Main | PhoneKind::FaxWork => {
                Field::WorkPhones
            }
            PhoneKind::Mobile => Field::MobilePhones,
            PhoneKind::Home => Field::HomePhones,
            PhoneKind::Other | PhoneKind::Custom | PhoneKind::Unrecognized(_) => Field::OtherPhones,
        }
    }

    /// The name that allows an e-mail address of this kind.
    pub fn of_email(kind: &EmailKind) -> Field {
        match kind {
            EmailKind::Work => Field::WorkEmails,
            EmailKind::Home => Field::HomeEmails,
            EmailKind::Other | EmailKind::Custom | EmailKind::Unrecognized(_) => Field::OtherEmails,
        }
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Field::parse(&word).ok_or_else(|| serde::de::Error::custom("not a field name"))
    }
}

/// Why a list of names is not an allow-list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldListError {
    /// The entry is quoted only when it looks like a field name (lowercase letters and
    /// underscores, at most 40): never a value an admin pasted by mistake.
    #[error("fields lists {}, which is not a field; the fields are: {}", shown(.0), names())]
    Unknown(String),
    #[error("fields lists {0:?} twice")]
    Duplicate(&'static str),
}

fn shown(entry: &str) -> String {
    let wordlike = !entry.is_empty()
        && entry.len() <= 40
        && entry.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if wordlike {
        format!("{entry:?}")
    } else {
        "an entry".to_owned()
    }
}

fn names() -> String {
    Field::ALL.map(Field::as_str).join(", ")
}

/// The fields a policy lets leave the server. `name` is always in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(BTreeSet<Field>);

impl AllowList {
    /// Every name given must be a field, none twice.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<AllowList, FieldListError> {
        let mut set = BTreeSet::from([Field::Name]);
        let mut seen = BTreeSet::new();
        for n in names {
            let f = Field::parse(n.as_ref())
                .ok_or_else(|| FieldListError::Unknown(n.as_ref().to_owned()))?;
            if !seen.insert(f) {
                return Err(FieldListError::Duplicate(f.as_str()));
            }
            set.insert(f);
        }
        Ok(AllowList(set))
    }

    pub fn of(fields: &[Field]) -> AllowList {
        let mut set: BTreeSet<Field> = fields.iter().copied().collect();
        set.insert(Field::Name);
        AllowList(set)
    }

    pub fn allows(&self, f: Field) -> bool {
        self.0.contains(&f)
    }

    /// In vocabulary order, `name` included.
    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.0.iter().copied()
    }
}

/// What of `contact` the allow-list lets leave the server. A policy without a list sends the
/// contact as it is, without calling this.
pub fn filter(contact: &ContactData, allowed: &AllowList) -> ContactData {
    // No `..`: a field added to `ContactData` must be classified here before this compiles.
    let ContactData {
        given_name,
        family_name,
        display_name,
        organization,
        department,
        title,
        phones,
        emails,
        address,
        note,
        photo,
        prefix,
        middle_name,
        suffix,
        phonetic_given_name,
        phonetic_family_name,
        nickname,
        addresses,
        websites,
        sip_addresses,
        ims,
        office_location,
        manager,
        assistant,
        groups,
    } = contact;
    let keep = |f: Field| allowed.allows(f);
    let when = |f: Field, v: &Option<_>| if keep(f) { v.clone() } else { None };
    let web_and_chat = keep(Field::WebAndChat);
    ContactData {
        given_name: given_name.clone(),
        family_name: family_name.clone(),
        display_name: display_name.clone(),
        organization: when(Field::Organization, organization),
        department: when(Field::Organization, department),
        title: when(Field::Organization, title),
        phones: phones
            .iter()
            .filter(|p| keep(Field::of_phone(&p.kind)))
            .cloned()
            .collect(),
        emails: emails
            .iter()
            .filter(|e| keep(Field::of_email(&e.kind)))
            .cloned()
            .collect(),
        address: if keep(Field::Addresses) {
            address.clone()
        } else {
            None
        },
        note: when(Field::Note, note),
        photo: if keep(Field::Photo) {
            photo.clone()
        } else {
            None
        },
        // The rest of the name goes with it, like the given and family names.
        prefix: prefix.clone(),
        middle_name: middle_name.clone(),
        suffix: suffix.clone(),
        phonetic_given_name: phonetic_given_name.clone(),
        phonetic_family_name: phonetic_family_name.clone(),
        nickname: nickname.clone(),
        addresses: if keep(Field::Addresses) {
            addresses.clone()
        } else {
            Vec::new()
        },
        websites: if web_and_chat {
            websites.clone()
        } else {
            Vec::new()
        },
        sip_addresses: if web_and_chat {
            sip_addresses.clone()
        } else {
            Vec::new()
        },
        ims: if web_and_chat {
            ims.clone()
        } else {
            Vec::new()
        },
        office_location: when(Field::Organization, office_location),
        manager: when(Field::Organization, manager),
        assistant: when(Field::Organization, assistant),
        // Not a field of the list: which of the device's groups the contact is sent for is
        // not contact data, and a server adds it after filtering (stored contacts have none).
        groups: groups.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::{Address, AddressKind, Email, ImHandle, Phone, PhotoRef, PostalAddress};
    use crate::hash::content_hash;

    /// Every field set, every phone and e-mail kind present.
    fn full() -> ContactData {
        let mut phones: Vec<Phone> = PhoneKind::ALL
            .iter()
            .enumerate()
            .map(|(i, kind)| Phone::new(format!("+48 500 000 00{i}"), kind.clone()))
            .collect();
        phones.push(Phone::new(
            "+48 500 000 099",
            PhoneKind::Unrecognized("pager".into()),
        ));
        let emails = EmailKind::ALL
            .iter()
            .enumerate()
            .map(|(i, kind)| Email::new(format!("a{i}@example.com"), kind.clone()))
            .collect();
        ContactData {
            given_name: "Anna".into(),
            family_name: "Nowak".into(),
            display_name: "Anna Nowak".into(),
            organization: Some("Pearson Hardman".into()),
            department: Some("Litigation".into()),
            title: Some("Partner".into()),
            phones,
            emails,
            address: Some(PostalAddress {
                city: "Łódź".into(),
                ..Default::default()
            }),
            note: Some("Desk 4".into()),
            photo: Some(PhotoRef { hash: "ab".into() }),
            prefix: Some("dr".into()),
            middle_name: Some("Maria".into()),
            suffix: Some("MBA".into()),
            phonetic_given_name: Some("A".into()),
            phonetic_family_name: Some("N".into()),
            nickname: Some("Ania".into()),
            addresses: vec![Address {
                kind: AddressKind::Home,
                label: None,
                address: PostalAddress::default(),
            }],
            websites: vec!["https://a.example".into()],
            sip_addresses: vec!["sip:1@pbx".into()],
            ims: vec![ImHandle {
                protocol: "jabber".into(),
                handle: "a@chat".into(),
            }],
            office_location: Some("B2".into()),
            manager: Some("Jessica Pearson".into()),
            assistant: Some("Donna Paulsen".into()),
            // Filled in by the server per device, after the filter; never filtered.
            groups: Vec::new(),
        }
    }

    /// The parts of a contact, one per entry, each named so a failure says which.
    fn parts(c: &ContactData) -> Vec<(String, bool)> {
        // No `..` here either: a new field must be listed as a part to be checked.
        let ContactData {
            given_name,
            family_name,
            display_name,
            organization,
            department,
            title,
            phones,
            emails,
            address,
            note,
            photo,
            prefix,
            middle_name,
            suffix,
            phonetic_given_name,
            phonetic_family_name,
            nickname,
            addresses,
            websites,
            sip_addresses,
            ims,
            office_location,
            manager,
            assistant,
            // Not a part the list names (see `filter`).
            groups: _,
        } = c;
        let mut out = vec![
            ("given_name".to_owned(), !given_name.is_empty()),
            ("family_name".to_owned(), !family_name.is_empty()),
            ("display_name".to_owned(), !display_name.is_empty()),
            ("organization".to_owned(), organization.is_some()),
            ("department".to_owned(), department.is_some()),
            ("title".to_owned(), title.is_some()),
            ("address".to_owned(), address.is_some()),
            ("note".to_owned(), note.is_some()),
            ("photo".to_owned(), photo.is_some()),
            ("prefix".to_owned(), prefix.is_some()),
            ("middle_name".to_owned(), middle_name.is_some()),
            ("suffix".to_owned(), suffix.is_some()),
            (
                "phonetic_given_name".to_owned(),
                phonetic_given_name.is_some(),
            ),
            (
                "phonetic_family_name".to_owned(),
                phonetic_family_name.is_some(),
            ),
            ("nickname".to_owned(), nickname.is_some()),
            ("addresses".to_owned(), !addresses.is_empty()),
            ("websites".to_owned(), !websites.is_empty()),
            ("sip_addresses".to_owned(), !sip_addresses.is_empty()),
            ("ims".to_owned(), !ims.is_empty()),
            ("office_location".to_owned(), office_location.is_some()),
            ("manager".to_owned(), manager.is_some()),
            ("assistant".to_owned(), assistant.is_some()),
        ];
        let all = full();
        for p in &all.phones {
            out.push((
                format!("phone {}", p.kind.as_str()),
                phones.iter().any(|q| q.kind == p.kind),
            ));
        }
        for e in &all.emails {
            out.push((
                format!("email {}", e.kind.as_str()),
                emails.iter().any(|q| q.kind == e.kind),
            ));
        }
        out
    }

    #[test]
    fn every_part_of_a_contact_is_kept_by_exactly_one_field() {
        let c = full();
        assert!(parts(&c).iter().all(|(_, present)| *present));
        let name_only = parts(&filter(&c, &AllowList::of(&[])));
        let always: Vec<&str> = name_only
            .iter()
            .filter(|(_, present)| *present)
            .map(|(part, _)| part.as_str())
            .collect();
        assert_eq!(
            always,
            [
                "given_name",
                "family_name",
                "display_name",
                "prefix",
                "middle_name",
                "suffix",
                "phonetic_given_name",
                "phonetic_family_name",
                "nickname"
            ]
        );
        for (i, (part, _)) in parts(&c).iter().enumerate() {
            let keepers: Vec<Field> = Field::ALL
                .into_iter()
                .filter(|f| *f != Field::Name)
                .filter(|f| parts(&filter(&c, &AllowList::of(&[*f])))[i].1)
                .collect();
            let always = name_only[i].1;
            assert!(
                always || keepers.len() == 1,
                "{part} is kept by {keepers:?}, not by exactly one field"
            );
            assert!(
                !always || keepers.len() == Field::ALL.len() - 1,
                "{part} is sent with the name alone, yet not by every list"
            );
        }
    }

    #[test]
    fn the_name_is_always_sent_and_every_field_keeps_everything() {
        let c = full();
        let only_name = filter(&c, &AllowList::of(&[]));
        assert_eq!(
            (
                only_name.given_name.as_str(),
                only_name.display_name.as_str()
            ),
            ("Anna", "Anna Nowak")
        );
        assert_eq!(only_name.phones, vec![]);
        assert_eq!(only_name.photo, None);
        let all = AllowList::of(&Field::ALL);
        assert_eq!(filter(&c, &all), c);
        assert_eq!(content_hash(&filter(&c, &all)), content_hash(&c));
    }

    #[test]
    fn private_numbers_are_mobile_and_home() {
        let c = full();
        let kept = filter(&c, &AllowList::of(&[Field::WorkPhones, Field::OtherPhones]));
        let kinds: Vec<&str> = kept.phones.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "work",
                "work_mobile",
                "main",
                "fax_work",
                "other",
                "custom",
                "pager"
            ]
        );
        assert_ne!(content_hash(&kept), content_hash(&c));
    }

    #[test]
    fn unknown_and_repeated_names_are_refused_naming_the_entry_only_when_it_is_a_word() {
        let err = AllowList::parse(&["photo", "pager_phones"]).err();
        assert_eq!(err, Some(FieldListError::Unknown("pager_phones".into())));
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.starts_with("fields lists \"pager_phones\", which is not a field; the fields are: name, organization, work_phones,"),
            "{msg}"
        );
        let msg = AllowList::parse(&["+48 500 100 200"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.starts_with("fields lists an entry, which") && !msg.contains("500"),
            "{msg}"
        );
        assert_eq!(
            AllowList::parse(&["note", "note"]),
            Err(FieldListError::Duplicate("note"))
        );
        let names: Vec<&str> = Field::ALL.map(Field::as_str).to_vec();
        assert_eq!(
            AllowList::parse(&names).map(|a| a.fields().count()),
            Ok(Field::ALL.len())
        );
    }

    #[test]
    fn fields_travel_as_their_name() {
        let json = serde_json::to_string(&[Field::WorkPhones, Field::Photo]).unwrap_or_default();
        assert_eq!(json, r#"["work_phones","photo"]"#);
        let back: Vec<Field> = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, [Field::WorkPhones, Field::Photo]);
        assert!(serde_json::from_str::<Field>(r#""pager""#).is_err());
    }
}
