//! A business contact as the server describes it. The server id is not part of the data:
//! it travels beside it (see `wire::Upsert`), so the hash covers only what a person sees.

use serde::{Deserialize, Serialize};

/// Everything a synced contact shows on the phone. Field order is part of the content hash
/// (`hash::content_hash`): append new optional fields at the end, never reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
pub struct Phone {
    pub number: String,
    pub kind: PhoneKind,
}

/// Mirrors the ContactsContract phone types the Android shell maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    Mobile,
    Work,
    WorkMobile,
    Home,
    Main,
    FaxWork,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    pub address: String,
    pub kind: EmailKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    Work,
    Home,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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

    pub fn as_str(self) -> &'static str {
        match self {
            PhoneKind::Mobile => "mobile",
            PhoneKind::Work => "work",
            PhoneKind::WorkMobile => "work_mobile",
            PhoneKind::Home => "home",
            PhoneKind::Main => "main",
            PhoneKind::FaxWork => "fax_work",
            PhoneKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl EmailKind {
    pub const ALL: [EmailKind; 3] = [EmailKind::Work, EmailKind::Home, EmailKind::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::Work => "work",
            EmailKind::Home => "home",
            EmailKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}
