//! A contact as ContactsContract data rows (mimetype + data1..data10), the shape both the
//! SQLite model of the phone and the Android shell use. Pure conversion both ways.

use contacts_agent_protocol::{ContactData, Email, EmailKind, Phone, PhoneKind, PostalAddress};

use super::personal::{Address, Im, Item, PersonalData, CUSTOM};

pub const MIME_NAME: &str = "vnd.android.cursor.item/name";
pub const MIME_PHONE: &str = "vnd.android.cursor.item/phone_v2";
pub const MIME_EMAIL: &str = "vnd.android.cursor.item/email_v2";
pub const MIME_ORGANIZATION: &str = "vnd.android.cursor.item/organization";
pub const MIME_POSTAL: &str = "vnd.android.cursor.item/postal-address_v2";
pub const MIME_NOTE: &str = "vnd.android.cursor.item/note";
pub const MIME_EVENT: &str = "vnd.android.cursor.item/contact_event";
/// `Photo.CONTENT_ITEM_TYPE`: written by the provider itself when a display photo file is
/// written, never by a batch of ours; `PHOTO_FILE_ID` is `DATA14`.
pub const MIME_PHOTO: &str = "vnd.android.cursor.item/photo";

/// The mimetypes a business contact's rows are written with (`to_rows`): an update replaces
/// exactly these on our raw contact. The Photo row (written through the display-photo file)
/// and rows other apps added are never ours to delete (DAVx5's `AndroidContact.update` does
/// the same; docs/contacts-provider-model.md).
pub const OWNED_MIMETYPES: [&str; 6] = [
    MIME_NAME,
    MIME_PHONE,
    MIME_EMAIL,
    MIME_ORGANIZATION,
    MIME_POSTAL,
    MIME_NOTE,
];
/// `BaseTypes.TYPE_CUSTOM` (0): the row's `LABEL` says what it is.
const TYPE_CUSTOM: &str = "custom";

/// One `ContactsContract.Data` row: `data[0]` is `DATA1`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataRow {
    pub mimetype: &'static str,
    pub data: [Option<String>; 10],
}

impl DataRow {
    fn new(mimetype: &'static str, fields: &[(usize, &str)]) -> Self {
        let mut row = DataRow {
            mimetype,
            data: Default::default(),
        };
        for (col, value) in fields {
            if let Some(slot) = row.data.get_mut(col - 1) {
                *slot = Some((*value).to_owned());
            }
        }
        row
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
}

/// Phones, e-mails and the organisation row (organisation, title, department): written the
/// same way for business and personal contacts.
fn push_common_rows(
    rows: &mut Vec<DataRow>,
    phones: &[Phone],
    emails: &[Email],
    [organization, title, department]: [&Option<String>; 3],
) {
    for p in phones {
        rows.push(match &p.kind {
            PhoneKind::Unrecognized(word) => custom_row(MIME_PHONE, &p.number, word),
            kind => DataRow::new(MIME_PHONE, &[(1, &p.number), (2, kind.as_str())]),
        });
    }
    for e in emails {
        rows.push(match &e.kind {
            EmailKind::Unrecognized(word) => custom_row(MIME_EMAIL, &e.address, word),
            kind => DataRow::new(MIME_EMAIL, &[(1, &e.address), (2, kind.as_str())]),
        });
    }
    if organization.is_some() || department.is_some() || title.is_some() {
        let mut row = DataRow::new(MIME_ORGANIZATION, &[]);
        row.data[0] = organization.clone();
        row.data[3] = title.clone();
        row.data[4] = department.clone();
        rows.push(row);
    }
}

/// The reading side of `push_common_rows`. An unknown phone or e-mail type reads as "other".
fn read_common_row(
    mime: &str,
    row: &DataRow,
    phones: &mut Vec<Phone>,
    emails: &mut Vec<Email>,
    [organization, title, department]: [&mut Option<String>; 3],
) {
    match mime {
        MIME_PHONE => phones.push(Phone {
            number: row.get(1),
            kind: match custom_label(row) {
                Some(word) => PhoneKind::Unrecognized(word),
                None => PhoneKind::parse(&row.get(2)).unwrap_or(PhoneKind::Other),
            },
        }),
        MIME_EMAIL => emails.push(Email {
            address: row.get(1),
            kind: match custom_label(row) {
                Some(word) => EmailKind::Unrecognized(word),
                None => EmailKind::parse(&row.get(2)).unwrap_or(EmailKind::Other),
            },
        }),
        _ => {
            *organization = row.opt(1);
            *title = row.opt(4);
            *department = row.opt(5);
        }
    }
}

/// A kind the server sent that this agent does not know ("pager") is written as the
/// provider's custom type (`TYPE_CUSTOM`) with the word as its `LABEL` (`DATA3`), so the
/// Contacts app shows "pager" rather than a wrong type.
fn custom_row(mimetype: &'static str, value: &str, word: &str) -> DataRow {
    DataRow::new(mimetype, &[(1, value), (2, TYPE_CUSTOM), (3, word)])
}

/// The label of a custom-typed phone or e-mail row, when it has one.
fn custom_label(row: &DataRow) -> Option<String> {
    (row.get(2) == TYPE_CUSTOM)
        .then(|| row.get(3))
        .filter(|w| !w.is_empty())
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
        + usize::from(c.organization.is_some() || c.department.is_some() || c.title.is_some())
        + usize::from(c.address.is_some())
        + usize::from(c.note.is_some())
}

pub fn to_rows(c: &ContactData) -> Vec<DataRow> {
    let mut rows = Vec::with_capacity(data_row_count(c));
    rows.push(DataRow::new(
        MIME_NAME,
        &[
            (1, &c.display_name),
            (2, &c.given_name),
            (3, &c.family_name),
        ],
    ));
    push_common_rows(
        &mut rows,
        &c.phones,
        &c.emails,
        [&c.organization, &c.title, &c.department],
    );
    if let Some(a) = &c.address {
        rows.push(postal_row(None, a));
    }
    if let Some(n) = &c.note {
        rows.push(DataRow::new(MIME_NOTE, &[(1, n)]));
    }
    rows
}

/// Rebuilds a contact from its rows. Rows of unknown mimetypes (another app's) are ignored;
/// an unknown phone or e-mail type reads as "other" rather than failing the whole read.
pub fn from_rows<'a, I>(rows: I) -> ContactData
where
    I: IntoIterator<Item = (&'a str, [Option<String>; 10])>,
{
    let mut c = ContactData::default();
    for (mime, data) in rows {
        let row = DataRow { mimetype: "", data };
        match mime {
            MIME_NAME => {
                c.display_name = row.get(1);
                c.given_name = row.get(2);
                c.family_name = row.get(3);
            }
            MIME_PHONE | MIME_EMAIL | MIME_ORGANIZATION => read_common_row(
                mime,
                &row,
                &mut c.phones,
                &mut c.emails,
                [&mut c.organization, &mut c.title, &mut c.department],
            ),
            MIME_POSTAL => c.address = Some(postal_from(&row)),
            MIME_NOTE => c.note = row.opt(1),
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

pub const MIME_NICKNAME: &str = "vnd.android.cursor.item/nickname";
pub const MIME_WEBSITE: &str = "vnd.android.cursor.item/website";
pub const MIME_IM: &str = "vnd.android.cursor.item/im";
pub const MIME_SIP: &str = "vnd.android.cursor.item/sip_address";
pub const MIME_RELATION: &str = "vnd.android.cursor.item/relation";
/// `GroupMembership`: `DATA1` is the group's row id; stores resolve it to the group's title.
pub const MIME_GROUP_MEMBERSHIP: &str = "vnd.android.cursor.item/group_membership";

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
        let row = DataRow { mimetype: "", data };
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
mod tests {
    use super::*;

    #[test]
    fn every_field_survives_rows_and_back() {
        let c = ContactData {
            given_name: "Zażółć".into(),
            family_name: "Gęślą; jaźń".into(),
            display_name: "Zażółć Gęślą".into(),
            organization: Some("ACME".into()),
            department: Some("R&D".into()),
            title: None,
            phones: vec![
                Phone {
                    number: "+48 1".into(),
                    kind: PhoneKind::Mobile,
                },
                Phone {
                    number: "+48 2".into(),
                    kind: PhoneKind::FaxWork,
                },
            ],
            emails: vec![Email {
                address: "a@b.c".into(),
                kind: EmailKind::Work,
            }],
            address: Some(PostalAddress {
                street: "Długa 1\nlok. 2".into(),
                city: "Gdańsk".into(),
                region: String::new(),
                postcode: "80-001".into(),
                country: "PL".into(),
            }),
            note: Some("note".into()),
            photo: None,
        };
        let rows = to_rows(&c);
        assert_eq!(rows.len(), data_row_count(&c));
        assert!(rows.iter().all(|r| OWNED_MIMETYPES.contains(&r.mimetype)));
        let back = from_rows(rows.into_iter().map(|r| (r.mimetype, r.data)));
        assert_eq!(back, c);
    }

    #[test]
    fn a_kind_this_agent_does_not_know_becomes_a_custom_label_and_reads_back() {
        let c = ContactData {
            display_name: "A".into(),
            phones: vec![Phone {
                number: "+48 3".into(),
                kind: PhoneKind::Unrecognized("pager".into()),
            }],
            emails: vec![Email {
                address: "a@b.c".into(),
                kind: EmailKind::Unrecognized("alias".into()),
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
        let back = from_rows(rows.into_iter().map(|r| (r.mimetype, r.data)));
        assert_eq!(back, c);
    }
}
