//! The phone user's own contacts as the backup sees them: everything ContactsProvider holds
//! for a person (names, nicknames, phonetic names, every phone, e-mail, address, website, IM,
//! SIP address, event and relation with its type and custom label, organisation, notes,
//! photo, starred, group memberships by title, and the account it came from).
//!
//! Kinds are the provider's `TYPE` constants spelled as words (`KINDS` below is the one table
//! that turns them into the provider's integers and back); `custom` means `TYPE_CUSTOM`, with
//! the text in `label`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `BaseTypes.TYPE_CUSTOM`: the item's `label` says what it is.
pub const CUSTOM: &str = "custom";

/// One typed value: a phone number, an e-mail address, a website, a SIP address, an event's
/// date, a relation's name. `label` is set only when `kind` is `custom`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Item {
    pub value: String,
    pub kind: String,
    pub label: String,
}

impl Item {
    pub fn new(value: &str, kind: &str) -> Self {
        Item {
            value: value.to_owned(),
            kind: kind.to_owned(),
            label: String::new(),
        }
    }

    pub fn custom(value: &str, label: &str) -> Self {
        Item {
            value: value.to_owned(),
            kind: CUSTOM.to_owned(),
            label: label.to_owned(),
        }
    }
}

/// An instant-messaging handle: `protocol` is one of `IM_PROTOCOLS` (or `custom`, named by
/// `custom_protocol`); `kind`/`label` as for every item (home, work, other, custom).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Im {
    pub handle: String,
    pub protocol: String,
    pub custom_protocol: String,
    pub kind: String,
    pub label: String,
}

/// A postal address: the structured parts and the formatted text, either may be empty (an
/// address typed as one line has only `formatted`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    pub kind: String,
    pub label: String,
    pub formatted: String,
    pub street: String,
    pub pobox: String,
    pub neighborhood: String,
    pub city: String,
    pub region: String,
    pub postcode: String,
    pub country: String,
}

impl Address {
    pub fn structured_is_empty(&self) -> bool {
        [
            &self.street,
            &self.pobox,
            &self.neighborhood,
            &self.city,
            &self.region,
            &self.postcode,
            &self.country,
        ]
        .iter()
        .all(|s| s.is_empty())
    }
}

/// The account a raw contact belongs to (`RawContacts.ACCOUNT_TYPE`, `ACCOUNT_NAME`);
/// `None` in `PersonalData::account` is the device-local account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceAccount {
    pub kind: String,
    pub name: String,
}

/// The account a caller names with one word, as an app holding an `android.accounts.Account`
/// would: its name ("someone@gmail.com"), or its type when the phone has exactly one account
/// of that type. `None` when the word picks no account or more than one: a restore must not
/// invent an account the phone lacks (the provider would keep the rows under an account no
/// authenticator owns, and they would never sync).
pub fn pick_account(accounts: &[SourceAccount], wanted: &str) -> Option<SourceAccount> {
    let only = |matching: Vec<&SourceAccount>| match matching.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    };
    only(accounts.iter().filter(|a| a.name == wanted).collect())
        .or_else(|| only(accounts.iter().filter(|a| a.kind == wanted).collect()))
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PersonalData {
    /// `StructuredName.DISPLAY_NAME`; empty for a contact without a name (a bare number).
    pub display_name: String,
    pub prefix: String,
    pub given_name: String,
    pub middle_name: String,
    pub family_name: String,
    pub suffix: String,
    pub phonetic_given: String,
    pub phonetic_middle: String,
    pub phonetic_family: String,
    pub nicknames: Vec<String>,
    pub phones: Vec<Item>,
    pub emails: Vec<Item>,
    pub addresses: Vec<Address>,
    pub websites: Vec<Item>,
    pub ims: Vec<Im>,
    pub sip_addresses: Vec<Item>,
    /// Birthdays, anniversaries, other dates: the value as the provider holds it
    /// (`YYYY-MM-DD`, `--MM-DD`, or free text typed by a person).
    pub events: Vec<Item>,
    pub relations: Vec<Item>,
    pub organization: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub notes: Vec<String>,
    pub photo: Option<Vec<u8>>,
    pub starred: bool,
    /// Titles of the groups the contact belongs to, in its own account.
    pub groups: Vec<String>,
    /// Where the contact lives; not part of its identity (`dedup_key`).
    pub account: Option<SourceAccount>,
}

/// The provider's `TYPE` integers by mimetype kind and word. The one place they are spelled.
pub mod kinds {
    /// `BaseTypes.TYPE_CUSTOM`, and the word for it.
    pub const TYPE_CUSTOM: i32 = 0;
    pub const CUSTOM_WORD: &str = "custom";
    /// `Im.PROTOCOL_CUSTOM`: the service is named by `CUSTOM_PROTOCOL` (`DATA6`).
    pub const PROTOCOL_CUSTOM: i32 = -1;
    pub const PHONE: &[(&str, i32)] = &[
        ("custom", 0),
        ("home", 1),
        ("mobile", 2),
        ("work", 3),
        ("fax_work", 4),
        ("fax_home", 5),
        ("pager", 6),
        ("other", 7),
        ("callback", 8),
        ("car", 9),
        ("company_main", 10),
        ("isdn", 11),
        ("main", 12),
        ("other_fax", 13),
        ("radio", 14),
        ("telex", 15),
        ("tty_tdd", 16),
        ("work_mobile", 17),
        ("work_pager", 18),
        ("assistant", 19),
        ("mms", 20),
    ];
    pub const EMAIL: &[(&str, i32)] = &[
        ("custom", 0),
        ("home", 1),
        ("work", 2),
        ("other", 3),
        ("mobile", 4),
    ];
    /// Postal addresses, SIP addresses and IM handles share these.
    pub const PLACE: &[(&str, i32)] = &[("custom", 0), ("home", 1), ("work", 2), ("other", 3)];
    pub const WEBSITE: &[(&str, i32)] = &[
        ("custom", 0),
        ("homepage", 1),
        ("blog", 2),
        ("profile", 3),
        ("home", 4),
        ("work", 5),
        ("ftp", 6),
        ("other", 7),
    ];
    pub const EVENT: &[(&str, i32)] = &[
        ("custom", 0),
        ("anniversary", 1),
        ("other", 2),
        ("birthday", 3),
    ];
    pub const RELATION: &[(&str, i32)] = &[
        ("custom", 0),
        ("assistant", 1),
        ("brother", 2),
        ("child", 3),
        ("domestic_partner", 4),
        ("father", 5),
        ("friend", 6),
        ("manager", 7),
        ("mother", 8),
        ("parent", 9),
        ("partner", 10),
        ("referred_by", 11),
        ("relative", 12),
        ("sister", 13),
        ("spouse", 14),
    ];
    /// `Nickname.TYPE`.
    pub const NICKNAME: &[(&str, i32)] = &[
        ("custom", 0),
        ("default", 1),
        ("other_name", 2),
        ("maiden_name", 3),
        ("short_name", 4),
        ("initials", 5),
    ];
    /// `Im.PROTOCOL`: `custom` is `PROTOCOL_CUSTOM` (-1), named by `CUSTOM_PROTOCOL`.
    pub const IM_PROTOCOL: &[(&str, i32)] = &[
        ("custom", -1),
        ("aim", 0),
        ("msn", 1),
        ("yahoo", 2),
        ("skype", 3),
        ("qq", 4),
        ("google_talk", 5),
        ("icq", 6),
        ("jabber", 7),
        ("netmeeting", 8),
    ];

    pub fn code(table: &[(&str, i32)], word: &str) -> Option<i32> {
        table.iter().find(|(w, _)| *w == word).map(|(_, c)| *c)
    }

    pub fn word(table: &[(&'static str, i32)], code: i32) -> Option<&'static str> {
        table.iter().find(|(_, c)| *c == code).map(|(w, _)| *w)
    }
}

/// A personal contact read from the store, with the store's key for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalContact {
    pub raw_id: i64,
    pub data: PersonalData,
}

impl PersonalData {
    /// Identity for "already on the phone": equal content, whatever the account or row ids
    /// (a contact restored into the device-local account because its own account is gone
    /// must not be restored again next time). A restore inserts only contacts whose key is
    /// not present.
    pub fn dedup_key(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let without_account = PersonalData {
            account: None,
            ..self.clone()
        };
        match serde_json::to_vec(&without_account) {
            Ok(bytes) => h.update(bytes),
            Err(_) => h.update(format!("{without_account:?}")),
        }
        h.finalize().into()
    }

    pub fn has_name(&self) -> bool {
        [
            &self.display_name,
            &self.prefix,
            &self.given_name,
            &self.middle_name,
            &self.family_name,
            &self.suffix,
            &self.phonetic_given,
            &self.phonetic_middle,
            &self.phonetic_family,
        ]
        .iter()
        .any(|s| !s.is_empty())
    }

    pub fn has_organization(&self) -> bool {
        self.organization.is_some() || self.department.is_some() || self.title.is_some()
    }

    /// The data rows this contact becomes (photo and group memberships not included).
    pub fn data_rows(&self) -> usize {
        usize::from(self.has_name())
            + self.nicknames.len()
            + self.phones.len()
            + self.emails.len()
            + self.addresses.len()
            + self.websites.len()
            + self.ims.len()
            + self.sip_addresses.len()
            + self.events.len()
            + self.relations.len()
            + usize::from(self.has_organization())
            + self.notes.len()
    }

    /// Provider operations to insert this contact: the raw contact, its data rows, one per
    /// group membership, and the photo.
    pub fn provider_ops(&self) -> usize {
        1 + self.data_rows() + self.groups.len() + usize::from(self.photo.is_some())
    }

    /// What a person reads as this contact's name when it has no display name of its own:
    /// ContactsProvider's choice (`DisplayNameSources`: phonetic name, nickname,
    /// organisation, phone, e-mail, highest first). Goes into the vCard's `FN`.
    pub fn fallback_name(&self) -> String {
        let phonetic = [
            &self.phonetic_given,
            &self.phonetic_middle,
            &self.phonetic_family,
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
        if !phonetic.is_empty() {
            return phonetic;
        }
        self.nicknames
            .first()
            .map(String::as_str)
            .or(self.organization.as_deref())
            .or(self.phones.first().map(|p| p.value.as_str()))
            .or(self.emails.first().map(|e| e.value.as_str()))
            .or(self.sip_addresses.first().map(|p| p.value.as_str()))
            .unwrap_or("")
            .to_owned()
    }
}

/// Whether the bytes are an image the provider can decode (JPEG, PNG, GIF, WebP, BMP): a
/// display photo write of anything else fails on the phone.
pub fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\xFF\xD8\xFF")
        || bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || bytes.starts_with(b"GIF87a")
        || bytes.starts_with(b"GIF89a")
        || (bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP")
        || bytes.starts_with(b"BM")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(kind: &str, name: &str) -> SourceAccount {
        SourceAccount {
            kind: kind.into(),
            name: name.into(),
        }
    }

    #[test]
    fn an_account_is_picked_by_its_name_or_by_a_type_the_phone_has_once() {
        let phone = [
            acc("com.google", "ann@gmail.com"),
            acc("com.google", "work@gmail.com"),
            acc("com.whatsapp", "WhatsApp"),
            acc("com.android.exchange", "ann@gmail.com"),
        ];
        assert_eq!(
            pick_account(&phone, "work@gmail.com"),
            Some(acc("com.google", "work@gmail.com"))
        );
        assert_eq!(
            pick_account(&phone, "com.whatsapp"),
            Some(acc("com.whatsapp", "WhatsApp"))
        );
        // Two Google accounts: the type alone does not say which.
        assert_eq!(pick_account(&phone, "com.google"), None);
        // One name under two types: ambiguous too.
        assert_eq!(pick_account(&phone, "ann@gmail.com"), None);
        // Never an account the phone does not have.
        assert_eq!(pick_account(&phone, "com.example.gone"), None);
        assert_eq!(pick_account(&[], "ann@gmail.com"), None);
    }
}
