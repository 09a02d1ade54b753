//! A business contact as the server describes it. The server id is not part of the data:
//! it travels beside it (see `wire::Upsert`), so the hash covers only what a person sees.
//!
//! Must-ignore: a field this crate does not know is skipped, and a phone or e-mail kind it
//! does not know reads as `Unrecognized` (shown as a custom label on the phone), so a newer
//! server never breaks an older agent. Servers that want to refuse unknown input (the
//! reference server's admin API) check for it themselves (`docs/openapi.yaml`, "Compatibility
//! rules for vendors").

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Everything a synced contact shows on the phone. Field order is part of the content hash
/// (`hash::content_hash`): append new optional fields at the end, never reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ContactData {
    pub given_name: String,
    pub family_name: String,
    /// What the dialer shows; servers usually send "given family".
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<Phone>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PostalAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The photo travels by reference: the device downloads the bytes only when this
    /// hash differs from the one it already holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<PhotoRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    pub number: String,
    pub kind: PhoneKind,
}

/// Mirrors the ContactsContract phone types the Android shell maps to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PhoneKind {
    Mobile,
    Work,
    WorkMobile,
    Home,
    Main,
    FaxWork,
    Other,
    /// A kind a newer server sent that this crate does not know ("pager"): the phone shows it
    /// as a custom label with that word; it serialises back unchanged.
    Unrecognized(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub address: String,
    pub kind: EmailKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EmailKind {
    Work,
    Home,
    Other,
    /// A kind a newer server sent that this crate does not know ("alias"); see `PhoneKind`.
    Unrecognized(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PostalAddress {
    #[serde(default)]
    pub street: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoRef {
    /// Lowercase hex SHA-256 of the image bytes; also the download key.
    pub hash: String,
}

impl PhoneKind {
    pub const ALL: [PhoneKind; 7] = [
        PhoneKind::Mobile,
        PhoneKind::Work,
        PhoneKind::WorkMobile,
        PhoneKind::Home,
        PhoneKind::Main,
        PhoneKind::FaxWork,
        PhoneKind::Other,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            PhoneKind::Mobile => "mobile",
            PhoneKind::Work => "work",
            PhoneKind::WorkMobile => "work_mobile",
            PhoneKind::Home => "home",
            PhoneKind::Main => "main",
            PhoneKind::FaxWork => "fax_work",
            PhoneKind::Other => "other",
            PhoneKind::Unrecognized(word) => word,
        }
    }

    /// One of the kinds this crate knows (`ALL`), or `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What a device reads: a known kind, or the word kept as `Unrecognized`.
    pub fn read(s: &str) -> Self {
        Self::parse(s).unwrap_or_else(|| PhoneKind::Unrecognized(s.to_owned()))
    }
}

impl EmailKind {
    pub const ALL: [EmailKind; 3] = [EmailKind::Work, EmailKind::Home, EmailKind::Other];

    pub fn as_str(&self) -> &str {
        match self {
            EmailKind::Work => "work",
            EmailKind::Home => "home",
            EmailKind::Other => "other",
            EmailKind::Unrecognized(word) => word,
        }
    }

    /// One of the kinds this crate knows (`ALL`), or `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What a device reads: a known kind, or the word kept as `Unrecognized`.
    pub fn read(s: &str) -> Self {
        Self::parse(s).unwrap_or_else(|| EmailKind::Unrecognized(s.to_owned()))
    }
}

// Kinds travel as their word; an unknown word is kept, never an error (must-ignore).
macro_rules! open_enum_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let word = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Ok(<$t>::read(&word))
            }
        }
    };
}
open_enum_serde!(PhoneKind);
open_enum_serde!(EmailKind);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_ignored_and_unknown_kinds_keep_their_word() {
        let json = r#"{"given_name":"A","family_name":"B","display_name":"A B","pronouns":"she",
            "phones":[{"number":"1","kind":"pager","label":"x"},{"number":"2","kind":"work"}],
            "emails":[{"address":"a@b","kind":"alias","verified":true}],
            "address":{"city":"C","latitude":1.5},"photo":{"hash":"h","width":720}}"#;
        let c: ContactData = serde_json::from_str(json).unwrap_or_default();
        assert_eq!(c.phones[0].kind, PhoneKind::Unrecognized("pager".into()));
        assert_eq!(c.phones[1].kind, PhoneKind::Work);
        assert_eq!(c.emails[0].kind, EmailKind::Unrecognized("alias".into()));
        assert_eq!(c.address.map(|a| a.city), Some("C".into()));
        assert_eq!(c.photo.map(|p| p.hash), Some("h".into()));
        assert_eq!(PhoneKind::parse("pager"), None);
    }

    #[test]
    fn kinds_serialise_as_their_word_both_known_and_kept() {
        let kinds = [
            PhoneKind::WorkMobile,
            PhoneKind::Unrecognized("pager".into()),
        ];
        let json = serde_json::to_string(&kinds).unwrap_or_default();
        assert_eq!(json, r#"["work_mobile","pager"]"#);
    }
}
