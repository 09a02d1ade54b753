//! A contact as ContactsContract data rows (mimetype + data1..data10), the shape both the
//! SQLite model of the phone and the Android shell use. Pure conversion both ways.

use contacts_agent_protocol::contact::CUSTOM;
use contacts_agent_protocol::{
    Address as TypedAddress, AddressKind as TypedAddressKind, ContactData, Email, EmailKind,
    ImHandle, Phone, PhoneKind, PostalAddress, IM_PROTOCOLS,
};

use super::personal::{Address, Im, Item, PersonalData};

pub const MIME_NAME: &str = "vnd.android.cursor.item/name";
pub const MIME_PHONE: &str = "vnd.android.cursor.item/phone_v2";
pub const MIME_EMAIL: &str = "vnd.android.cursor.item/email_v2";
pub const MIME_ORGANIZATION: &str = "vnd.android.cursor.item/organization";
pub const MIME_POSTAL: &str = "vnd.android.cursor.item/postal-address_v2";
pub const MIME_NOTE: &str = "vnd.android.cursor.item/note";
pub const MIME_EVENT: &str = "vnd.android.cursor.item/contact_event";
/// The `CommonDataKinds` of protocol 1.0's richer contact (docs/contacts-provider-model.md
/// has the column map).
pub const MIME_NICKNAME: &str = "vnd.android.cursor.item/nickname";
pub const MIME_WEBSITE: &str = "vnd.android.cursor.item/website";
pub const MIME_SIP: &str = "vnd.android.cursor.item/sip_address";
pub const MIME_IM: &str = "vnd.android.cursor.item/im";
pub const MIME_RELATION: &str = "vnd.android.cursor.item/relation";
/// `Photo.CONTENT_ITEM_TYPE`: written by the provider itself when a display photo file is
/// written, never by a batch of ours; `PHOTO_FILE_ID` is `DATA14`.
pub const MIME_PHOTO: &str = "vnd.android.cursor.item/photo";
/// `GroupMembership.CONTENT_ITEM_TYPE`: one row per MDM group of a managed contact, written
/// with `GROUP_SOURCE_ID` (the server's group id); the provider stores the group's `_ID` in
/// `GROUP_ROW_ID` (`DATA1`). Written by each store from `ContactData::groups`, not by
/// `to_rows`: the source id is not a data column. A personal contact's memberships use the
/// same rows; stores resolve `DATA1` to the group's title for a backup.
pub const MIME_GROUP_MEMBERSHIP: &str = "vnd.android.cursor.item/group_membership";

/// The mimetypes a business contact's rows are written with (`to_rows`): an update replaces
/// exactly these on our raw contact. The Photo row (written through the display-photo file)
/// and rows other apps added are never ours to delete (DAVx5's `AndroidContact.update` does
/// the same; docs/contacts-provider-model.md).
pub const OWNED_MIMETYPES: [&str; 12] = [
    MIME_NAME,
    MIME_PHONE,
    MIME_EMAIL,
    MIME_ORGANIZATION,
    MIME_POSTAL,
    MIME_NOTE,
    MIME_NICKNAME,
    MIME_WEBSITE,
    MIME_SIP,
    MIME_IM,
    MIME_RELATION,
    MIME_GROUP_MEMBERSHIP,
];
/// `BaseTypes.TYPE_CUSTOM` (0): the row's `LABEL` says what it is.
const TYPE_CUSTOM: &str = CUSTOM;
/// Types of the rows only business contacts write, as words like the others (the shell maps
/// them to the `CommonDataKinds` integers): a directory's website, SIP address and chat
/// handle are work ones; a nickname is `Nickname.TYPE_DEFAULT`.
const TYPE_WORK: &str = "work";
const NICKNAME_DEFAULT: &str = "default";
const RELATION_MANAGER: &str = "manager";
const RELATION_ASSISTANT: &str = "assistant";

/// One `ContactsContract.Data` row: `data[0]` is `DATA1`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataRow {
    pub mimetype: &'static str,
    pub data: [Option<String>; 10],
    /// `Data.IS_PRIMARY` and `IS_SUPER_PRIMARY`: the preferred phone or e-mail. Written as
    /// DAVx5 writes a vCard's `PREF` (both set), so the dialer and the Contacts app use it.
    pub primary: bool,
}

impl DataRow {
    fn new(mimetype: &'static str, fields: &[(usize, &str)]) -> Self {
        let mut row = DataRow {
            mimetype,
            data: Default::default(),
            primary: false,
        };
        for (col, value) in fields {
            if let Some(slot) = row.data.get_mut(col - 1) {
                *slot = Some((*value).to_owned());
            }
        }
        row
    }

    /// A GroupMembership row naming its group by row id (`GROUP_ROW_ID`, DATA1).
    pub fn membership(group_row: i64) -> Self {
        DataRow::new(MIME_GROUP_MEMBERSHIP, &[(1, &group_row.to_string())])
    }

    fn get(&self, col: usize) -> String {
        self.data
            .get(col - 1)
            .and_then(|v| v.clone())
            .unwrap_or_default()
    }

    fn opt(&self, col: usize) -> Option<String> {
        self.data.get(col - 1).and_then(|v| v.clone())
    }

    /// Sets column `col` to `value` (absent stays NULL).
    fn with(mut self, col: usize, value: &Option<String>) -> Self {
        if let Some(slot) = self.data.get_mut(col - 1) {
            *slot = value.clone();
        }
        self
    }
}

/// Phones, e-mails and the organisation row (organisation, title, department, office
/// location): written the same way for business and personal contacts.
fn push_common_rows(
    rows: &mut Vec<DataRow>,
    phones: &[Phone],
    emails: &[Email],
    [organization, title, department, office]: [&Option<String>; 4],
) {
    // ContactsProvider keeps one primary row per mimetype on a raw contact (the last one
    // set); the first preferred one is the one marked, so the model and the phone agree.
    let mut primary = false;
    for p in phones {
        let mut row = kinded_row(MIME_PHONE, &p.number, p.kind.as_str(), p.label.as_deref());
        row.primary = p.preferred && !primary;
        primary |= p.preferred;
        rows.push(row);
    }
    let mut primary = false;
    for e in emails {
        let mut row = kinded_row(MIME_EMAIL, &e.address, e.kind.as_str(), e.label.as_deref());
        row.primary = e.preferred && !primary;
        primary |= e.preferred;
        rows.push(row);
    }
    if organization.is_some() || department.is_some() || title.is_some() || office.is_some() {
        rows.push(
            DataRow::new(MIME_ORGANIZATION, &[])
                .with(1, organization)
                .with(4, title)
                .with(5, department)
                .with(9, office),
        );
    }
}

/// A phone, e-mail (value in `DATA1`) or postal row's type and label: a known kind as its word
/// in `TYPE` (`DATA2`), `custom` or a word this agent does not know ("pager") as
/// `TYPE_CUSTOM` with `LABEL` (`DATA3`) = the entry's label, else the word, so the Contacts
/// app shows "pager" rather than a wrong type. A label of another kind is kept in `LABEL`
/// (the app does not show it) so it reads back as sent.
fn kinded_row(mimetype: &'static str, value: &str, word: &str, label: Option<&str>) -> DataRow {
    let known = match mimetype {
        MIME_PHONE => PhoneKind::parse(word).is_some(),
        MIME_EMAIL => EmailKind::parse(word).is_some(),
        _ => TypedAddressKind::parse(word).is_some(),
    };
    let (kind, label) = if known {
        (word, label)
    } else {
        (TYPE_CUSTOM, Some(label.unwrap_or(word)))
    };
    let mut row = DataRow::new(mimetype, &[(1, value), (2, kind)]);
    row.data[2] = label.map(str::to_owned);
    row
}

/// The reading side of `kinded_row`: the kind (an unknown `TYPE` reads as "other") and label.
fn kind_and_label(row: &DataRow) -> (String, Option<String>) {
    (row.get(2), row.opt(3).filter(|l| !l.is_empty()))
}

/// The reading side of `push_common_rows`. An unknown phone or e-mail type reads as "other".
fn read_common_row(
    mime: &str,
    row: &DataRow,
    phones: &mut Vec<Phone>,
    emails: &mut Vec<Email>,
    [organization, title, department, office]: [&mut Option<String>; 4],
) {
    let (kind, label) = kind_and_label(row);
    match mime {
        MIME_PHONE => phones.push(Phone {
            number: row.get(1),
            kind: PhoneKind::parse(&kind).unwrap_or(PhoneKind::Other),
            label,
            preferred: row.primary,
        }),
        MIME_EMAIL => emails.push(Email {
            address: row.get(1),
            kind: EmailKind::parse(&kind).unwrap_or(EmailKind::Other),
            label,
            preferred: row.primary,
        }),
        _ => {
            *organization = row.opt(1);
            *title = row.opt(4);
            *department = row.opt(5);
            *office = row.opt(9);
        }
    }
}

/// The row readers match on these constants; a stored mimetype maps back to one of them
/// (others, another app's rows, map to "" and are ignored).
pub fn known_mime(m: &str) -> &'static str {
    OWNED_MIMETYPES
        .into_iter()
        .chain(PERSONAL_MIMETYPES)
        .find(|k| *k == m)
        .unwrap_or("")
}

pub fn data_row_count(c: &ContactData) -> usize {
    1 + c.phones.len()
        + c.emails.len()
        + usize::from(
            c.organization.is_some()
                || c.department.is_some()
                || c.title.is_some()
                || c.office_location.is_some(),
        )
        + usize::from(c.address.is_some())
        + c.addresses.len()
        + usize::from(c.note.is_some())
        + usize::from(c.nickname.is_some())
        + c.websites.len()
        + c.sip_addresses.len()
        + c.ims.len()
        + usize::from(c.manager.is_some())
        + usize::from(c.assistant.is_some())
}

pub fn to_rows(c: &ContactData) -> Vec<DataRow> {
    let mut rows = Vec::with_capacity(data_row_count(c));
    rows.push(
        DataRow::new(
            MIME_NAME,
            &[
                (1, &c.display_name),
                (2, &c.given_name),
                (3, &c.family_name),
            ],
        )
        .with(4, &c.prefix)
        .with(5, &c.middle_name)
        .with(6, &c.suffix)
        .with(7, &c.phonetic_given_name)
        .with(9, &c.phonetic_family_name),
    );
    if let Some(n) = &c.nickname {
        rows.push(DataRow::new(
            MIME_NICKNAME,
            &[(1, n), (2, NICKNAME_DEFAULT)],
        ));
    }
    push_common_rows(
        &mut rows,
        &c.phones,
        &c.emails,
        [&c.organization, &c.title, &c.department, &c.office_location],
    );
    // The draft protocol's untyped address: a postal row without a type, as before.
    if let Some(a) = &c.address {
        rows.push(postal_row(None, a));
    }
    for a in &c.addresses {
        let mut row = kinded_row(MIME_POSTAL, "", a.kind.as_str(), a.label.as_deref());
        row.data[0] = None;
        let postal = postal_row(None, &a.address);
        for col in [4, 7, 8, 9, 10] {
            row.data[col - 1] = postal.data[col - 1].clone();
        }
        rows.push(row);
    }
    for w in &c.websites {
        rows.push(DataRow::new(MIME_WEBSITE, &[(1, w), (2, TYPE_WORK)]));
    }
    for s in &c.sip_addresses {
        rows.push(DataRow::new(MIME_SIP, &[(1, s), (2, TYPE_WORK)]));
    }
    for im in &c.ims {
        rows.push(im_row(im));
    }
    for (name, kind) in [
        (&c.manager, RELATION_MANAGER),
        (&c.assistant, RELATION_ASSISTANT),
    ] {
        if let Some(name) = name {
            rows.push(DataRow::new(MIME_RELATION, &[(1, name), (2, kind)]));
        }
    }
    if let Some(n) = &c.note {
        rows.push(DataRow::new(MIME_NOTE, &[(1, n)]));
    }
    rows
}

/// `Im.PROTOCOL` (`DATA5`) is a service ContactsContract names, as its word; any other
/// service is `PROTOCOL_CUSTOM` with its name in `CUSTOM_PROTOCOL` (`DATA6`).
fn im_row(im: &ImHandle) -> DataRow {
    if IM_PROTOCOLS.contains(&im.protocol.as_str()) {
        DataRow::new(
            MIME_IM,
            &[(1, &im.handle), (2, TYPE_WORK), (5, &im.protocol)],
        )
    } else {
        DataRow::new(
            MIME_IM,
            &[
                (1, &im.handle),
                (2, TYPE_WORK),
                (5, TYPE_CUSTOM),
                (6, &im.protocol),
            ],
        )
    }
}

fn im_from(row: &DataRow) -> ImHandle {
    ImHandle {
        protocol: if row.get(5) == TYPE_CUSTOM {
            row.get(6)
        } else {
            row.get(5)
        },
        handle: row.get(1),
    }
}

/// Rebuilds a contact from its rows (mimetype, `DATA1..10`, `IS_PRIMARY`). Rows of unknown
/// mimetypes (another app's) are ignored; an unknown phone or e-mail type reads as "other"
/// rather than failing the whole read.
pub fn from_rows<'a, I>(rows: I) -> ContactData
where
    I: IntoIterator<Item = (&'a str, [Option<String>; 10], bool)>,
{
    let mut c = ContactData::default();
    for (mime, data, primary) in rows {
        let row = DataRow {
            mimetype: "",
            data,
            primary,
        };
        match mime {
            MIME_NAME => {
                c.display_name = row.get(1);
                c.given_name = row.get(2);
                c.family_name = row.get(3);
                c.prefix = row.opt(4);
                c.middle_name = row.opt(5);
                c.suffix = row.opt(6);
                c.phonetic_given_name = row.opt(7);
                c.phonetic_family_name = row.opt(9);
            }
            MIME_PHONE | MIME_EMAIL | MIME_ORGANIZATION => read_common_row(
                mime,
                &row,
                &mut c.phones,
                &mut c.emails,
                [
                    &mut c.organization,
                    &mut c.title,
                    &mut c.department,
                    &mut c.office_location,
                ],
            ),
            MIME_POSTAL if row.opt(2).is_none() => c.address = Some(postal_from(&row)),
            MIME_POSTAL => {
                let (kind, label) = kind_and_label(&row);
                c.addresses.push(TypedAddress {
                    kind: TypedAddressKind::parse(&kind).unwrap_or(TypedAddressKind::Other),
                    label,
                    address: postal_from(&row),
                });
            }
            MIME_NOTE => c.note = row.opt(1),
            MIME_NICKNAME => c.nickname = row.opt(1),
            MIME_WEBSITE => c.websites.push(row.get(1)),
            MIME_SIP => c.sip_addresses.push(row.get(1)),
            MIME_IM => c.ims.push(im_from(&row)),
            MIME_RELATION if row.get(2) == RELATION_MANAGER => c.manager = row.opt(1),
            MIME_RELATION if row.get(2) == RELATION_ASSISTANT => c.assistant = row.opt(1),
            _ => {}
        }
    }
    c
}

fn postal_row(kind: Option<&str>, a: &PostalAddress) -> DataRow {
    let mut row = DataRow::new(
        MIME_POSTAL,
        &[
            (4, &a.street),
            (7, &a.city),
            (8, &a.region),
            (9, &a.postcode),
            (10, &a.country),
        ],
    );
    row.data[1] = kind.map(str::to_owned);
    row
}

fn postal_from(row: &DataRow) -> PostalAddress {
    PostalAddress {
        street: row.get(4),
        city: row.get(7),
        region: row.get(8),
        postcode: row.get(9),
        country: row.get(10),
    }
}

/// Every mimetype a personal contact's rows use (`personal_to_rows`).
pub const PERSONAL_MIMETYPES: [&str; 12] = [
    MIME_NAME,
    MIME_NICKNAME,
    MIME_PHONE,
    MIME_EMAIL,
    MIME_POSTAL,
    MIME_WEBSITE,
    MIME_IM,
    MIME_SIP,
    MIME_EVENT,
    MIME_RELATION,
    MIME_ORGANIZATION,
    MIME_NOTE,
];

/// A row whose empty values are NULL, as the provider stores what an app leaves out.
fn sparse_row(mimetype: &'static str, fields: &[(usize, &str)]) -> DataRow {
    let mut row = DataRow::new(mimetype, &[]);
    for (col, value) in fields {
        if !value.is_empty() {
            row.data[col - 1] = Some((*value).to_owned());
        }
    }
    row
}

/// `DATA1` value, `DATA2` type, `DATA3` label (only for `custom`): phones, e-mails,
/// websites, SIP addresses, events, relations.
fn item_row(mimetype: &'static str, i: &Item) -> DataRow {
    let label = if i.kind == CUSTOM {
        i.label.as_str()
    } else {
        ""
    };
    let mut row = sparse_row(mimetype, &[(1, &i.value), (3, label)]);
    // The type is always written: an empty word is a type too, and must read back as one.
    row.data[1] = Some(i.kind.clone());
    row
}

fn item_from(row: &DataRow) -> Item {
    let kind = row.get(2);
    let label = if kind == CUSTOM {
        row.get(3)
    } else {
        String::new()
    };
    Item {
        value: row.get(1),
        kind,
        label,
    }
}

/// A personal contact's data rows. The photo and group memberships are not rows here:
/// stores write them beside (a photo through its file, memberships by group title).
pub fn personal_to_rows(c: &PersonalData) -> Vec<DataRow> {
    let mut rows = Vec::with_capacity(c.data_rows());
    if c.has_name() {
        rows.push(sparse_row(
            MIME_NAME,
            &[
                (1, &c.display_name),
                (2, &c.given_name),
                (3, &c.family_name),
                (4, &c.prefix),
                (5, &c.middle_name),
                (6, &c.suffix),
                (7, &c.phonetic_given),
                (8, &c.phonetic_middle),
                (9, &c.phonetic_family),
            ],
        ));
    }
    for n in &c.nicknames {
        rows.push(sparse_row(MIME_NICKNAME, &[(1, n)]));
    }
    for (mime, items) in [
        (MIME_PHONE, &c.phones),
        (MIME_EMAIL, &c.emails),
        (MIME_WEBSITE, &c.websites),
        (MIME_SIP, &c.sip_addresses),
        (MIME_EVENT, &c.events),
        (MIME_RELATION, &c.relations),
    ] {
        rows.extend(items.iter().map(|i| item_row(mime, i)));
    }
    for a in &c.addresses {
        let label = if a.kind == CUSTOM {
            a.label.as_str()
        } else {
            ""
        };
        let mut row = sparse_row(
            MIME_POSTAL,
            &[
                (1, &a.formatted),
                (3, label),
                (4, &a.street),
                (5, &a.pobox),
                (6, &a.neighborhood),
                (7, &a.city),
                (8, &a.region),
                (9, &a.postcode),
                (10, &a.country),
            ],
        );
        row.data[1] = Some(a.kind.clone());
        rows.push(row);
    }
    for im in &c.ims {
        let label = if im.kind == CUSTOM {
            im.label.as_str()
        } else {
            ""
        };
        let mut row = sparse_row(
            MIME_IM,
            &[
                (1, &im.handle),
                (3, label),
                (5, &im.protocol),
                (6, &im.custom_protocol),
            ],
        );
        row.data[1] = Some(im.kind.clone());
        rows.push(row);
    }
    if c.has_organization() {
        let mut row = DataRow::new(MIME_ORGANIZATION, &[]);
        row.data[0] = c.organization.clone();
        row.data[3] = c.title.clone();
        row.data[4] = c.department.clone();
        rows.push(row);
    }
    for n in &c.notes {
        rows.push(DataRow::new(MIME_NOTE, &[(1, n)]));
    }
    rows
}

/// Rebuilds a personal contact from its rows (another app's mimetypes are ignored; the
/// photo, starred, groups and account are the store's to fill in).
pub fn personal_from_rows<'a, I>(rows: I) -> PersonalData
where
    I: IntoIterator<Item = (&'a str, [Option<String>; 10])>,
{
    let mut c = PersonalData::default();
    for (mime, data) in rows {
        let row = DataRow {
            mimetype: "",
            data,
            primary: false,
        };
        match mime {
            MIME_NAME => {
                c.display_name = row.get(1);
                c.given_name = row.get(2);
                c.family_name = row.get(3);
                c.prefix = row.get(4);
                c.middle_name = row.get(5);
                c.suffix = row.get(6);
                c.phonetic_given = row.get(7);
                c.phonetic_middle = row.get(8);
                c.phonetic_family = row.get(9);
            }
            MIME_NICKNAME => c.nicknames.push(row.get(1)),
            MIME_PHONE => c.phones.push(item_from(&row)),
            MIME_EMAIL => c.emails.push(item_from(&row)),
            MIME_WEBSITE => c.websites.push(item_from(&row)),
            MIME_SIP => c.sip_addresses.push(item_from(&row)),
            MIME_EVENT => c.events.push(item_from(&row)),
            MIME_RELATION => c.relations.push(item_from(&row)),
            MIME_POSTAL => {
                let kind = row.get(2);
                c.addresses.push(Address {
                    label: if kind == CUSTOM {
                        row.get(3)
                    } else {
                        String::new()
                    },
                    kind,
                    formatted: row.get(1),
                    street: row.get(4),
                    pobox: row.get(5),
                    neighborhood: row.get(6),
                    city: row.get(7),
                    region: row.get(8),
                    postcode: row.get(9),
                    country: row.get(10),
                })
            }
            MIME_IM => {
                let kind = row.get(2);
                c.ims.push(Im {
                    handle: row.get(1),
                    label: if kind == CUSTOM {
                        row.get(3)
                    } else {
                        String::new()
                    },
                    kind,
                    protocol: row.get(5),
                    custom_protocol: row.get(6),
                })
            }
            MIME_ORGANIZATION => {
                c.organization = row.opt(1);
                c.title = row.opt(4);
                c.department = row.opt(5);
            }
            MIME_NOTE => c.notes.push(row.get(1)),
            _ => {}
        }
    }
    c
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn back(rows: Vec<DataRow>) -> ContactData {
        from_rows(rows.into_iter().map(|r| (r.mimetype, r.data, r.primary)))
    }

    fn postal(city: &str) -> PostalAddress {
        PostalAddress {
            street: "Długa 1\nlok. 2".into(),
            city: city.into(),
            region: String::new(),
            postcode: "80-001".into(),
            country: "PL".into(),
        }
    }

    /// Every field of protocol 1.0 set, custom labels and preferred flags included.
    pub(crate) fn every_field() -> ContactData {
        ContactData {
            given_name: "Zażółć".into(),
            family_name: "Gęślą; jaźń".into(),
            display_name: "Zażółć Gęślą".into(),
            organization: Some("ACME".into()),
            department: Some("R&D".into()),
            title: None,
            phones: vec![
                Phone {
                    preferred: true,
                    ..Phone::new("+48 1", PhoneKind::Mobile)
                },
                Phone::new("+48 2", PhoneKind::FaxWork),
                Phone {
                    label: Some("Reception".into()),
                    ..Phone::new("+48 3", PhoneKind::Custom)
                },
            ],
            emails: vec![
                Email::new("a@b.c", EmailKind::Work),
                Email {
                    label: Some("Board".into()),
                    preferred: true,
                    ..Email::new("board@b.c", EmailKind::Custom)
                },
            ],
            address: Some(postal("Gdańsk")),
            note: Some("note".into()),
            photo: None,
            prefix: Some("dr".into()),
            middle_name: Some("Maria".into()),
            suffix: Some("MBA".into()),
            phonetic_given_name: Some("Zazulch".into()),
            phonetic_family_name: Some("Gensla".into()),
            nickname: Some("Zaza".into()),
            addresses: vec![
                TypedAddress {
                    kind: TypedAddressKind::Work,
                    label: None,
                    address: postal("Warszawa"),
                },
                TypedAddress {
                    kind: TypedAddressKind::Custom,
                    label: Some("Warehouse".into()),
                    address: postal("Łódź"),
                },
            ],
            websites: vec!["https://acme.example/zaza".into()],
            sip_addresses: vec!["sip:1001@pbx.acme.example".into()],
            ims: vec![
                ImHandle {
                    protocol: "jabber".into(),
                    handle: "zaza@chat.example".into(),
                },
                ImHandle {
                    protocol: "teams".into(),
                    handle: "zaza@acme.example".into(),
                },
            ],
            office_location: Some("B2, floor 3".into()),
            manager: Some("Jessica Pearson".into()),
            assistant: Some("Donna Paulsen".into()),
            // Groups are membership rows each store writes itself, not `to_rows`'.
            groups: Vec::new(),
        }
    }

    #[test]
    fn every_field_survives_rows_and_back() {
        let c = every_field();
        let rows = to_rows(&c);
        assert_eq!(rows.len(), data_row_count(&c));
        assert!(rows.iter().all(|r| OWNED_MIMETYPES.contains(&r.mimetype)));
        assert_eq!(back(rows), c);
    }

    #[test]
    fn each_field_lands_in_its_contacts_contract_column() {
        let rows = to_rows(&every_field());
        let of =
            |mime: &str| -> Vec<&DataRow> { rows.iter().filter(|r| r.mimetype == mime).collect() };
        let col = |r: &DataRow, n: usize| r.opt(n);
        let s = |v: &str| Some(v.to_owned());
        // StructuredName: PREFIX 4, MIDDLE_NAME 5, SUFFIX 6, PHONETIC_GIVEN 7, PHONETIC_FAMILY 9.
        let name = of(MIME_NAME)[0];
        assert_eq!(
            (4..=9).map(|n| col(name, n)).collect::<Vec<_>>(),
            [
                s("dr"),
                s("Maria"),
                s("MBA"),
                s("Zazulch"),
                None,
                s("Gensla")
            ]
        );
        // Nickname: NAME 1, TYPE_DEFAULT.
        assert_eq!(
            of(MIME_NICKNAME)
                .iter()
                .map(|r| (r.get(1), r.get(2)))
                .collect::<Vec<_>>(),
            [("Zaza".into(), "default".into())]
        );
        // Phones: the preferred one is primary; custom is TYPE_CUSTOM + LABEL.
        let phones = of(MIME_PHONE);
        assert_eq!(
            phones.iter().map(|r| r.primary).collect::<Vec<_>>(),
            [true, false, false]
        );
        assert_eq!(
            (phones[2].get(2), phones[2].get(3)),
            ("custom".into(), "Reception".into())
        );
        let emails = of(MIME_EMAIL);
        assert!(!emails[0].primary && emails[1].primary);
        // Organization: OFFICE_LOCATION is DATA9.
        assert_eq!(col(of(MIME_ORGANIZATION)[0], 9), s("B2, floor 3"));
        // StructuredPostal: the legacy address has no TYPE; typed ones TYPE (+ LABEL).
        let postal = of(MIME_POSTAL);
        assert_eq!(
            postal
                .iter()
                .map(|r| (col(r, 2), col(r, 3), col(r, 7)))
                .collect::<Vec<_>>(),
            [
                (None, None, s("Gdańsk")),
                (s("work"), None, s("Warszawa")),
                (s("custom"), s("Warehouse"), s("Łódź"))
            ]
        );
        // Website, SipAddress: DATA1 + a work TYPE.
        assert_eq!(of(MIME_WEBSITE)[0].get(2), "work");
        assert_eq!(of(MIME_SIP)[0].get(1), "sip:1001@pbx.acme.example");
        // Im: PROTOCOL 5 = a named service, or custom + CUSTOM_PROTOCOL 6.
        let ims = of(MIME_IM);
        assert_eq!((col(ims[0], 5), col(ims[0], 6)), (s("jabber"), None));
        assert_eq!((col(ims[1], 5), col(ims[1], 6)), (s("custom"), s("teams")));
        // Relation: NAME 1, TYPE manager / assistant.
        assert_eq!(
            of(MIME_RELATION)
                .iter()
                .map(|r| (r.get(1), r.get(2)))
                .collect::<Vec<_>>(),
            [
                ("Jessica Pearson".into(), "manager".into()),
                ("Donna Paulsen".into(), "assistant".into())
            ]
        );
    }

    #[test]
    fn only_the_first_preferred_phone_is_primary_as_the_provider_keeps_one() {
        let c = ContactData {
            display_name: "A".into(),
            phones: vec![
                Phone {
                    preferred: true,
                    ..Phone::new("1", PhoneKind::Work)
                },
                Phone {
                    preferred: true,
                    ..Phone::new("2", PhoneKind::Home)
                },
            ],
            ..Default::default()
        };
        let flags: Vec<bool> = to_rows(&c).iter().skip(1).map(|r| r.primary).collect();
        assert_eq!(flags, [true, false]);
    }

    #[test]
    fn a_kind_this_agent_does_not_know_becomes_a_custom_label_and_reads_back_as_custom() {
        let c = ContactData {
            display_name: "A".into(),
            phones: vec![Phone::new("+48 3", PhoneKind::Unrecognized("pager".into()))],
            emails: vec![Email::new("a@b.c", EmailKind::Unrecognized("alias".into()))],
            addresses: vec![TypedAddress {
                kind: TypedAddressKind::Unrecognized("depot".into()),
                label: Some("Depot 7".into()),
                address: PostalAddress::default(),
            }],
            ..Default::default()
        };
        let rows = to_rows(&c);
        let phone = rows.iter().find(|r| r.mimetype == MIME_PHONE);
        assert_eq!(
            phone.map(|r| (r.get(2), r.get(3))),
            Some(("custom".to_owned(), "pager".to_owned()))
        );
        let email = rows.iter().find(|r| r.mimetype == MIME_EMAIL);
        assert_eq!(email.map(|r| r.get(3)), Some("alias".to_owned()));
        // The server's own label wins over the word.
        let postal = rows.iter().find(|r| r.mimetype == MIME_POSTAL);
        assert_eq!(postal.map(|r| r.get(3)), Some("Depot 7".to_owned()));
        let back = back(rows);
        assert_eq!(back.phones[0].kind, PhoneKind::Custom);
        assert_eq!(back.phones[0].label.as_deref(), Some("pager"));
        assert_eq!(back.emails[0].label.as_deref(), Some("alias"));
        assert_eq!(back.addresses[0].kind, TypedAddressKind::Custom);
    }
}
