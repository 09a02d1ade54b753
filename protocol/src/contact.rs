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
    /// The draft protocol's one untyped address, superseded by `addresses`. Devices still
    /// read it (older servers, contacts stored before `addresses`) and write it as a postal
    /// row without a type; the reference server stores it as sent and never fills it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PostalAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The photo travels by reference: the device downloads the bytes only when this
    /// hash differs from the one it already holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<PhotoRef>,
    // Protocol 1.0's richer contact. Appended after `photo` and omitted when empty, so a
    // contact that uses none of them serialises (and hashes) exactly as before.
    /// "Dr.", "Mgr" (StructuredName `PREFIX`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// "Jr.", "PhD" (StructuredName `SUFFIX`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// How the given name is pronounced or sorted ("タロウ"); StructuredName `PHONETIC_GIVEN_NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phonetic_given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phonetic_family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// Postal addresses with their kinds. Replaces `address`, which older servers send and
    /// devices still read (docs/openapi.yaml, "Compatibility rules for vendors").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    /// URLs as given (the phone opens them; nothing is fetched).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub websites: Vec<String>,
    /// "sip:anna@pbx.example.com" or "anna@pbx.example.com".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sip_addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ims: Vec<ImHandle>,
    /// Building, floor, room (Organization `OFFICE_LOCATION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office_location: Option<String>,
    /// The manager's name as the phone shows it (Relation `TYPE_MANAGER`); a name, not a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant: Option<String>,
    /// The MDM groups this contact was sent for: only groups the device's policy entitles it
    /// to, sorted by id. The phone keeps one contact group per MDM group (identified by `id`,
    /// titled `name`). Empty (and then absent on the wire) for a contact outside any group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupRef>,
}

/// The JSON of a contact with `groups`, from the JSON of the same contact without groups
/// (`json`, as `serde_json` writes a `ContactData` whose `groups` is empty): `groups` is the
/// last field, so it is appended before the closing brace, the bytes serializing the contact
/// with its groups would give (a property test checks it). The server sends each stored
/// contact this way instead of parsing it and writing it again. `None` when `json` is not an
/// object of that shape (it names `groups` already, or does not end in `}`): the caller parses.
pub fn append_groups_json(json: &str, groups: &[GroupRef]) -> Option<String> {
    // `"groups":` with its quotes unescaped can only be a key: inside a string the quotes
    // would be escaped.
    if !json.starts_with('{') || !json.ends_with('}') || json.contains("\"groups\":") {
        return None;
    }
    if groups.is_empty() {
        return Some(json.to_owned());
    }
    let list = serde_json::to_string(groups).ok()?;
    let body = &json[..json.len() - 1];
    let mut out = String::with_capacity(json.len() + list.len() + 12);
    out.push_str(body);
    // `{}` (no field written) takes no comma; a serialized `ContactData` always has fields.
    if body.len() > 1 {
        out.push(',');
    }
    out.push_str("\"groups\":");
    out.push_str(&list);
    out.push('}');
    Some(out)
}

/// One MDM group a contact belongs to. The id is stable (a rename keeps it); the name is what
/// the phone's Contacts app shows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    pub number: String,
    pub kind: PhoneKind,
    /// What the phone shows as the type when `kind` is `custom` ("Reception").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The number to call by default (ContactsContract `IS_PRIMARY` + `IS_SUPER_PRIMARY`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub preferred: bool,
}

impl Phone {
    /// A number of a known kind, no label, not preferred.
    pub fn new(number: impl Into<String>, kind: PhoneKind) -> Self {
        Phone {
            number: number.into(),
            kind,
            label: None,
            preferred: false,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
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
    /// The phone shows `Phone::label` as the type (ContactsContract `TYPE_CUSTOM`).
    Custom,
    /// A kind a newer server sent that this crate does not know ("pager"): the phone shows it
    /// as a custom label with that word; it serialises back unchanged.
    Unrecognized(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub address: String,
    pub kind: EmailKind,
    /// What the phone shows as the type when `kind` is `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The address to write to by default (`IS_PRIMARY` + `IS_SUPER_PRIMARY`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub preferred: bool,
}

impl Email {
    /// An address of a known kind, no label, not preferred.
    pub fn new(address: impl Into<String>, kind: EmailKind) -> Self {
        Email {
            address: address.into(),
            kind,
            label: None,
            preferred: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EmailKind {
    Work,
    Home,
    Other,
    /// The phone shows `Email::label` as the type.
    Custom,
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

/// One postal address of `ContactData::addresses`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub kind: AddressKind,
    /// What the phone shows as the type when `kind` is `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub address: PostalAddress,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddressKind {
    Work,
    Home,
    Other,
    /// The phone shows `Address::label` as the type.
    Custom,
    /// A kind a newer server sent that this crate does not know; see `PhoneKind`.
    Unrecognized(String),
}

/// An instant-messaging handle: the service and the user's name on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImHandle {
    /// One of `IM_PROTOCOLS` (the phone shows its own name and icon for these), or any other
    /// service's name ("teams", "signal"), shown as written (Im `PROTOCOL_CUSTOM`).
    pub protocol: String,
    pub handle: String,
}

/// The services ContactsContract names (`Im.PROTOCOL_AIM` .. `PROTOCOL_NETMEETING`), as the
/// words the wire uses. Android 12 deprecated all but custom ones; a phone still shows them.
pub const IM_PROTOCOLS: [&str; 9] = [
    "aim",
    "msn",
    "yahoo",
    "skype",
    "qq",
    "google_talk",
    "icq",
    "jabber",
    "netmeeting",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoRef {
    /// Lowercase hex SHA-256 of the image bytes; also the download key.
    pub hash: String,
}

impl PhoneKind {
    pub const ALL: [PhoneKind; 8] = [
        PhoneKind::Mobile,
        PhoneKind::Work,
        PhoneKind::WorkMobile,
        PhoneKind::Home,
        PhoneKind::Main,
        PhoneKind::FaxWork,
        PhoneKind::Other,
        PhoneKind::Custom,
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
            PhoneKind::Custom => CUSTOM,
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
    pub const ALL: [EmailKind; 4] = [
        EmailKind::Work,
        EmailKind::Home,
        EmailKind::Other,
        EmailKind::Custom,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            EmailKind::Work => "work",
            EmailKind::Home => "home",
            EmailKind::Other => "other",
            EmailKind::Custom => CUSTOM,
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

impl AddressKind {
    pub const ALL: [AddressKind; 4] = [
        AddressKind::Work,
        AddressKind::Home,
        AddressKind::Other,
        AddressKind::Custom,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            AddressKind::Work => "work",
            AddressKind::Home => "home",
            AddressKind::Other => "other",
            AddressKind::Custom => CUSTOM,
            AddressKind::Unrecognized(word) => word,
        }
    }

    /// One of the kinds this crate knows (`ALL`), or `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What a device reads: a known kind, or the word kept as `Unrecognized`.
    pub fn read(s: &str) -> Self {
        Self::parse(s).unwrap_or_else(|| AddressKind::Unrecognized(s.to_owned()))
    }
}

/// The kind whose type the phone shows from the entry's `label` (`BaseTypes.TYPE_CUSTOM`).
pub const CUSTOM: &str = "custom";

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
open_enum_serde!(AddressKind);

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
    fn a_contact_of_protocol_0_serialises_byte_for_byte_as_before() {
        // Compact JSON in declaration order, every pre-1.0 field set: what servers hashed.
        let old = r#"{"given_name":"Anna","family_name":"Nowak","display_name":"Anna Nowak","organization":"ACME","department":"R&D","title":"CFO","phones":[{"number":"+48 1","kind":"mobile"}],"emails":[{"address":"a@b.c","kind":"work"}],"address":{"street":"Długa 1","city":"Gdańsk","region":"","postcode":"80-001","country":"PL"},"note":"n","photo":{"hash":"ab"}}"#;
        let c: ContactData = serde_json::from_str(old).unwrap_or_default();
        assert_eq!(serde_json::to_string(&c).unwrap_or_default(), old);
    }

    #[test]
    fn custom_labels_preferred_flags_and_address_kinds_travel_and_default_when_absent() {
        let json = r#"{"given_name":"A","family_name":"B","display_name":"A B",
            "phones":[{"number":"1","kind":"custom","label":"Reception","preferred":true},
                      {"number":"2","kind":"work"}],
            "emails":[{"address":"a@b","kind":"custom","label":"Board","preferred":true}],
            "addresses":[{"kind":"home","address":{"city":"C"}},
                         {"kind":"custom","label":"Warehouse","address":{"city":"D"}},
                         {"kind":"depot","address":{"city":"E"},"geo":"1,2"}],
            "ims":[{"protocol":"jabber","handle":"a@x"}],"websites":["https://a.example"]}"#;
        let c: ContactData = serde_json::from_str(json).unwrap_or_default();
        assert_eq!(c.phones[0].kind, PhoneKind::Custom);
        assert_eq!(c.phones[0].label.as_deref(), Some("Reception"));
        assert!(c.phones[0].preferred && !c.phones[1].preferred);
        assert_eq!(c.phones[1].label, None);
        assert_eq!(c.emails[0].label.as_deref(), Some("Board"));
        let kinds: Vec<_> = c.addresses.iter().map(|a| a.kind.clone()).collect();
        assert_eq!(
            kinds,
            [
                AddressKind::Home,
                AddressKind::Custom,
                AddressKind::Unrecognized("depot".into())
            ]
        );
        assert_eq!(c.ims[0].protocol, "jabber");
        // Back out, the defaults stay omitted and the kept word is written as it came.
        let out = serde_json::to_string(&c).unwrap_or_default();
        assert!(out.contains(r#"{"number":"2","kind":"work"}"#), "{out}");
        assert!(out.contains(r#""kind":"depot""#), "{out}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Appending the groups to a contact's JSON gives the bytes serializing it with its
        /// groups gives, whatever its text (quotes, backslashes, a note that says
        /// `"groups":`, non-ASCII) and groups; a JSON that names groups already is refused.
        #[test]
        fn appended_groups_are_what_serializing_the_contact_gives(
            given in ".{0,8}",
            note in proptest::option::of(proptest::prop_oneof![
                proptest::strategy::Just("\"groups\":[]".to_owned()),
                ".{0,12}",
            ]),
            organization in proptest::option::of("[a-zé\"\\\\]{0,6}"),
            phones in proptest::collection::vec(("[0-9+ ]{1,8}", proptest::bool::ANY), 0..3),
            groups in proptest::collection::vec(("[a-z0-9\"\\\\é]{1,5}", ".{0,6}"), 0..4),
        ) {
            let mut c = ContactData {
                given_name: given.clone(),
                family_name: "F".into(),
                display_name: given,
                organization,
                note,
                phones: phones
                    .into_iter()
                    .map(|(n, preferred)| Phone { preferred, ..Phone::new(n, PhoneKind::Mobile) })
                    .collect(),
                ..Default::default()
            };
            let bare = serde_json::to_string(&c).unwrap_or_default();
            c.groups = groups
                .into_iter()
                .map(|(id, name)| GroupRef { id, name })
                .collect();
            let whole = serde_json::to_string(&c).unwrap_or_default();
            proptest::prop_assert_eq!(append_groups_json(&bare, &c.groups), Some(whole.clone()));
            if !c.groups.is_empty() {
                proptest::prop_assert_eq!(append_groups_json(&whole, &c.groups), None);
            }
        }
    }

    #[test]
    fn groups_travel_after_the_data_and_are_absent_when_empty() {
        let mut c = ContactData {
            display_name: "A".into(),
            ..Default::default()
        };
        let bare = serde_json::to_string(&c).unwrap_or_default();
        assert!(!bare.contains("groups"), "{bare}");
        c.groups.push(GroupRef {
            id: "g1".into(),
            name: "Harvey".into(),
        });
        let json = serde_json::to_string(&c).unwrap_or_default();
        assert!(
            json.ends_with(r#""groups":[{"id":"g1","name":"Harvey"}]}"#),
            "{json}"
        );
        let back: ContactData = serde_json::from_str(
            r#"{"given_name":"","family_name":"","display_name":"A","groups":[{"id":"g1","name":"Harvey","color":"red"}]}"#,
        )
        .unwrap_or_default();
        assert_eq!(back, c);
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
