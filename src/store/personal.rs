//! The phone user's own contacts as the backup sees them: every field ContactsProvider
//! holds for a person, richer than a business contact (several addresses, birthday, photo).

use contacts_agent_protocol::{Email, Phone, PostalAddress};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PersonalData {
    pub display_name: String,
    pub prefix: String,
    pub given_name: String,
    pub middle_name: String,
    pub family_name: String,
    pub suffix: String,
    pub phones: Vec<Phone>,
    pub emails: Vec<Email>,
    pub organization: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub addresses: Vec<Address>,
    pub notes: Vec<String>,
    /// `YYYY-MM-DD`, or `--MM-DD` when the year is unknown.
    pub birthday: Option<String>,
    pub photo: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub kind: AddressKind,
    pub address: PostalAddress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    Home,
    Work,
    Other,
}

impl AddressKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::Home => "home",
            AddressKind::Work => "work",
            AddressKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "home" => AddressKind::Home,
            "work" => AddressKind::Work,
            _ => AddressKind::Other,
        }
    }
}

/// A personal contact read from the store, with the store's key for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalContact {
    pub raw_id: i64,
    pub data: PersonalData,
}

impl PersonalData {
    /// Identity for "already on the phone": equal content, whatever the account or row ids.
    /// A restore inserts only contacts whose key is not present.
    pub fn dedup_key(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        match serde_json::to_vec(self) {
            Ok(bytes) => h.update(bytes),
            Err(_) => h.update(format!("{self:?}")),
        }
        h.finalize().into()
    }

    /// Rows the provider needs for this contact (raw contact + data rows + photo).
    pub fn provider_ops(&self) -> usize {
        1 + 1
            + self.phones.len()
            + self.emails.len()
            + usize::from(
                self.organization.is_some() || self.department.is_some() || self.title.is_some(),
            )
            + self.addresses.len()
            + self.notes.len()
            + usize::from(self.birthday.is_some())
            + usize::from(self.photo.is_some())
    }
}
