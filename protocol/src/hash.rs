//! Content hash of a contact and fingerprint of a set of contacts.
//!
//! The device treats a server's hash as opaque and only compares it for equality, so another
//! vendor may hash differently. The reference server uses `content_hash`, which is stable
//! across runs and platforms: SHA-256 over the compact JSON of `ContactData` (fields in
//! declaration order, absent optionals omitted), first 16 bytes in lowercase hex.
//!
//! The groups a contact was sent for are part of its hash (a membership change or a group
//! rename must reach the phone) but hashed apart from the data (`with_groups`): a server keeps
//! one hash per contact and derives each device's without re-reading the contact, since which
//! of a contact's groups a device sees depends on its policy. A contact in no group hashes as
//! before groups existed.

use sha2::{Digest, Sha256};

use crate::contact::{ContactData, GroupRef};

/// 128 bits is plenty to detect a change; half of SHA-256 keeps 10k-contact pages smaller.
const HASH_BYTES: usize = 16;

pub fn content_hash(contact: &ContactData) -> String {
    if contact.groups.is_empty() {
        return data_hash(contact);
    }
    let data = ContactData {
        groups: Vec::new(),
        ..contact.clone()
    };
    with_groups(&data_hash(&data), &contact.groups)
}

/// The hash of a contact whose data hashes to `data_hash` sent with `groups` (in the order
/// given; the reference server sorts them by id): `data_hash` itself when there are none.
pub fn with_groups(data_hash: &str, groups: &[GroupRef]) -> String {
    if groups.is_empty() {
        return data_hash.to_owned();
    }
    let mut hasher = Sha256::new();
    hasher.update(data_hash.as_bytes());
    for g in groups {
        // Lengths first, so no two lists of names run together into the same bytes.
        for part in [&g.id, &g.name] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hex_prefix(&hasher.finalize(), HASH_BYTES)
}

fn data_hash(contact: &ContactData) -> String {
    let mut hasher = Sha256::new();
    // Serialising plain structs of strings, enums and vectors cannot fail; fall back to the
    // Debug form rather than panic so a hash is always produced.
    match serde_json::to_vec(contact) {
        Ok(bytes) => hasher.update(&bytes),
        Err(_) => hasher.update(format!("{contact:?}").as_bytes()),
    }
    hex_prefix(&hasher.finalize(), HASH_BYTES)
}

/// Order-independent fingerprint of `(id, hash)` pairs: what the device reports so that the
/// server can tell whether the phone holds exactly the snapshot of its sync token.
pub fn set_fingerprint<'a, I>(entries: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut pairs: Vec<(&str, &str)> = entries.into_iter().collect();
    pairs.sort_unstable();
    sorted_set_fingerprint(pairs)
}

/// `set_fingerprint` of pairs the caller has already sorted (ascending, as tuples), without
/// a copy of them: at 100,000 contacts the copy was 3 MB of the agent's peak memory. Pairs out
/// of order give another fingerprint, so callers sort what they pass right before.
pub fn sorted_set_fingerprint<'a, I>(sorted: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut hasher = Sha256::new();
    for (id, hash) in sorted {
        hasher.update(id.as_bytes());
        hasher.update([0u8]);
        hasher.update(hash.as_bytes());
        hasher.update([b'\n']);
    }
    hex_prefix(&hasher.finalize(), HASH_BYTES)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex_prefix(&Sha256::digest(bytes), 32)
}

fn hex_prefix(digest: &[u8], n: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(n * 2);
    for b in digest.iter().take(n) {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::{Phone, PhoneKind};

    fn sample() -> ContactData {
        ContactData {
            given_name: "Anna".into(),
            family_name: "Nowak".into(),
            display_name: "Anna Nowak".into(),
            phones: vec![Phone::new("+48 600 100 200", PhoneKind::Mobile)],
            ..Default::default()
        }
    }

    #[test]
    fn content_hash_is_pinned_so_it_is_stable_across_platforms_and_releases() {
        // Pinned value, computed independently (Python: sha256 of the compact JSON). If it changes, every device re-downloads every contact.
        assert_eq!(content_hash(&sample()), "45626ee59d1bacc2396fe156196d13da");
    }

    #[test]
    fn a_contact_without_the_1_0_fields_keeps_its_hash() {
        // Every pre-1.0 field set; the hash pinned before the richer contact existed
        // (sha256 of the compact JSON, first 16 bytes), so no device re-downloads it.
        let old = ContactData {
            organization: Some("ACME".into()),
            department: Some("R&D".into()),
            title: Some("CFO".into()),
            emails: vec![crate::Email::new("a@b.c", crate::EmailKind::Work)],
            address: Some(crate::PostalAddress {
                street: "Długa 1".into(),
                city: "Gdańsk".into(),
                region: String::new(),
                postcode: "80-001".into(),
                country: "PL".into(),
            }),
            note: Some("n".into()),
            photo: Some(crate::PhotoRef { hash: "ab".into() }),
            ..sample()
        };
        assert_eq!(content_hash(&old), "f5914348a6cecfcfa0dbd677e231412c");
        assert_eq!(content_hash(&sample()), "45626ee59d1bacc2396fe156196d13da");
    }

    #[test]
    fn each_1_0_field_changes_the_hash() {
        let base = content_hash(&sample());
        let mut variants = Vec::new();
        let mut c = sample();
        c.phones[0].preferred = true;
        variants.push(c);
        let mut c = sample();
        c.phones[0].kind = PhoneKind::Custom;
        c.phones[0].label = Some("Desk".into());
        variants.push(c);
        for set in [
            |c: &mut ContactData| c.prefix = Some("Dr.".into()),
            |c: &mut ContactData| c.middle_name = Some("M".into()),
            |c: &mut ContactData| c.suffix = Some("Jr.".into()),
            |c: &mut ContactData| c.phonetic_given_name = Some("A".into()),
            |c: &mut ContactData| c.phonetic_family_name = Some("N".into()),
            |c: &mut ContactData| c.nickname = Some("Ania".into()),
            |c: &mut ContactData| c.websites = vec!["https://a.example".into()],
            |c: &mut ContactData| c.sip_addresses = vec!["sip:a@pbx".into()],
            |c: &mut ContactData| c.office_location = Some("B2".into()),
            |c: &mut ContactData| c.manager = Some("J".into()),
            |c: &mut ContactData| c.assistant = Some("D".into()),
        ] {
            let mut c = sample();
            set(&mut c);
            variants.push(c);
        }
        for v in &variants {
            assert_ne!(content_hash(v), base, "{v:?}");
        }
    }

    #[test]
    fn content_hash_changes_with_any_visible_field() {
        let mut other = sample();
        other.phones[0].kind = PhoneKind::Work;
        assert_ne!(content_hash(&sample()), content_hash(&other));
    }

    #[test]
    fn groups_change_the_hash_but_a_contact_in_none_hashes_as_before() {
        let g = |id: &str, name: &str| GroupRef {
            id: id.into(),
            name: name.into(),
        };
        let mut harvey = sample();
        harvey.groups = vec![g("g1", "Harvey")];
        let plain = content_hash(&sample());
        let in_harvey = content_hash(&harvey);
        assert_ne!(in_harvey, plain);
        assert_eq!(with_groups(&plain, &harvey.groups), in_harvey);
        assert_eq!(with_groups(&plain, &[]), plain);
        let mut renamed = harvey.clone();
        renamed.groups[0].name = "Harvey Team".into();
        assert_ne!(content_hash(&renamed), in_harvey);
        let mut two = harvey.clone();
        two.groups.push(g("g2", "Mike"));
        assert_ne!(content_hash(&two), in_harvey);
        // Lengths keep ("ab","") and ("a","b") apart.
        assert_ne!(
            with_groups(&plain, &[g("ab", "")]),
            with_groups(&plain, &[g("a", "b")])
        );
    }

    #[test]
    fn fingerprint_ignores_order_but_not_content() {
        let a = set_fingerprint([("1", "a"), ("2", "b")]);
        let b = set_fingerprint([("2", "b"), ("1", "a")]);
        let c = set_fingerprint([("2", "b"), ("1", "c")]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        // The separator keeps ("1a","") and ("1","a") apart.
        assert_ne!(set_fingerprint([("1a", "")]), set_fingerprint([("1", "a")]));
    }
}
