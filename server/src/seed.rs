//! A deterministic company for the demo, the tests and the benches: the same seed gives the
//! same people, groups and memberships on every machine.

use crate::sql::Conn;
use contacts_agent_protocol::{
    Address, AddressKind, ContactData, Email, EmailKind, ImHandle, Phone, PhoneKind, PostalAddress,
};

use crate::error::ApiError;
use crate::repo;

/// `(id, name)`. Harvey and Mike are the product documentation's example groups.
pub const GROUPS: &[(&str, &str)] = &[
    ("harvey", "Harvey"),
    ("mike", "Mike"),
    ("sales", "Sales"),
    ("engineering", "Engineering"),
    ("finance", "Finance"),
    ("legal", "Legal"),
    ("operations", "Operations"),
    ("support", "Support"),
    ("marketing", "Marketing"),
    ("management", "Management"),
];

const GIVEN: &[&str] = &[
    "Anna",
    "Piotr",
    "Katarzyna",
    "Tomasz",
    "Małgorzata",
    "Paweł",
    "Agnieszka",
    "Michał",
    "Zofia",
    "Łukasz",
    "Ewa",
    "Grzegorz",
    "Joanna",
    "Krzysztof",
    "Magdalena",
    "Marek",
    "Harvey",
    "Mike",
    "Jessica",
    "Louis",
    "Donna",
    "Rachel",
    "Emma",
    "Noah",
    "Olivia",
    "Liam",
    "Sofía",
    "José",
    "Zoë",
    "Björn",
    "Chloé",
    "Søren",
    "Ana",
    "Mateo",
    "Amélie",
    "Jürgen",
];
const FAMILY: &[&str] = &[
    "Nowak",
    "Kowalski",
    "Wiśniewska",
    "Wójcik",
    "Kowalczyk",
    "Kamiński",
    "Lewandowska",
    "Zieliński",
    "Szymańska",
    "Woźniak",
    "Dąbrowski",
    "Kozłowska",
    "Jankowski",
    "Mazur",
    "Specter",
    "Ross",
    "Pearson",
    "Litt",
    "Paulsen",
    "Zane",
    "Smith",
    "Johnson",
    "García",
    "Müller",
    "O'Brien",
    "Nguyen",
    "Rossi",
    "Dubois",
    "Andersen",
    "Fernández",
];
const TITLES: &[&str] = &[
    "Associate",
    "Senior Associate",
    "Partner",
    "Analyst",
    "Engineer",
    "Manager",
    "Director",
    "Specialist",
    "Coordinator",
    "Consultant",
];
const CITIES: &[(&str, &str)] = &[
    ("Warszawa", "00-001"),
    ("Kraków", "30-001"),
    ("Gdańsk", "80-001"),
    ("Wrocław", "50-001"),
    ("Poznań", "60-001"),
];

/// xorshift64*: tiny, deterministic, good enough to spread memberships.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

pub fn user_id(i: usize) -> String {
    format!("u-{i:06}")
}

/// The contact of seeded person `i`.
pub fn person(i: usize, rng_seed: u64) -> ContactData {
    let mut rng = Rng(rng_seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let given = GIVEN[rng.below(GIVEN.len())];
    let family = FAMILY[rng.below(FAMILY.len())];
    let mut phones = vec![Phone::new(
        format!(
            "+48 5{:02} {:03} {:03}",
            i / 1_000_000 % 100,
            i / 1000 % 1000,
            i % 1000
        ),
        PhoneKind::Mobile,
    )];
    if rng.chance(40) {
        phones.push(Phone::new(
            format!(
                "+48 22 {:03} {:02} {:02}",
                i % 1000,
                i / 1000 % 100,
                i / 100_000 % 100
            ),
            PhoneKind::Work,
        ));
        // With two numbers, the mobile is the one to call.
        phones[0].preferred = true;
    }
    let ascii = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                'ą' => 'a',
                'ć' => 'c',
                'ę' => 'e',
                'ł' | 'Ł' => 'l',
                'ń' => 'n',
                'ó' => 'o',
                'ś' => 's',
                'ź' | 'ż' => 'z',
                'é' => 'e',
                'ü' => 'u',
                'ë' => 'e',
                'ö' => 'o',
                'ø' => 'o',
                'í' => 'i',
                'á' => 'a',
                '\'' => '-',
                c => c.to_ascii_lowercase(),
            })
            .collect()
    };
    let (city, postcode) = CITIES[rng.below(CITIES.len())];
    let mut c = ContactData {
        given_name: given.into(),
        family_name: family.into(),
        display_name: format!("{given} {family}"),
        organization: Some("Pearson Hardman".into()),
        department: None,
        title: Some(TITLES[rng.below(TITLES.len())].into()),
        phones,
        emails: vec![Email::new(
            format!(
                "{}.{}.{i}@pearson-hardman.example",
                ascii(given),
                ascii(family)
            ),
            EmailKind::Work,
        )],
        addresses: rng
            .chance(30)
            .then(|| Address {
                kind: AddressKind::Work,
                label: None,
                address: PostalAddress {
                    street: format!("ul. Prosta {}", i % 200 + 1),
                    city: city.into(),
                    region: String::new(),
                    postcode: postcode.into(),
                    country: "Poland".into(),
                },
            })
            .into_iter()
            .collect(),
        note: rng
            .chance(10)
            .then(|| format!("Desk {}; floor {}", i % 90, i % 12)),
        ..Default::default()
    };
    // Protocol 1.0's fields, drawn after the older ones so those stay as they were.
    c.office_location = rng
        .chance(50)
        .then(|| format!("Floor {}, room {}", i % 12, 100 + i % 90));
    if rng.chance(20) {
        let g = GIVEN[rng.below(GIVEN.len())];
        let f = FAMILY[rng.below(FAMILY.len())];
        c.manager = Some(format!("{g} {f}"));
    }
    if rng.chance(3) {
        let g = GIVEN[rng.below(GIVEN.len())];
        let f = FAMILY[rng.below(FAMILY.len())];
        c.assistant = Some(format!("{g} {f}"));
    }
    if rng.chance(10) {
        c.nickname = NICKNAMES
            .iter()
            .find(|(full, _)| *full == given)
            .map(|(_, short)| (*short).to_owned());
    }
    if rng.chance(10) {
        c.middle_name = Some(GIVEN[rng.below(GIVEN.len())].into());
    }
    if rng.chance(5) {
        c.prefix = Some("dr".into());
    }
    if rng.chance(10) {
        c.sip_addresses = vec![format!("sip:{}@pbx.pearson-hardman.example", 1000 + i)];
    }
    if rng.chance(5) {
        c.ims = vec![ImHandle {
            protocol: "jabber".into(),
            handle: format!("{}.{i}@chat.pearson-hardman.example", ascii(given)),
        }];
    }
    if i == 0 {
        // The first person shows every field the phone can hold (the demo looks at them).
        c.prefix = Some("dr".into());
        c.suffix = Some("MBA".into());
        c.phonetic_given_name = Some("A-na".into());
        c.phonetic_family_name = Some("No-vak".into());
        c.websites = vec!["https://pearson-hardman.example/people/0".into()];
        c.phones.push(Phone {
            label: Some("Reception".into()),
            ..Phone::new("+48 22 000 00 00", PhoneKind::Custom)
        });
    }
    c
}

/// Polish short forms, for the nicknames of a few seeded people.
const NICKNAMES: &[(&str, &str)] = &[
    ("Anna", "Ania"),
    ("Piotr", "Piotrek"),
    ("Katarzyna", "Kasia"),
    ("Tomasz", "Tomek"),
    ("Małgorzata", "Gosia"),
    ("Krzysztof", "Krzysiek"),
    ("Magdalena", "Madzia"),
];

#[derive(Debug, Clone)]
pub struct Seeded {
    pub users: usize,
    pub memberships: usize,
}

/// Creates `users` people and the groups in `GROUPS`, in one transaction.
pub fn seed_company(conn: &Conn, users: usize, seed: u64) -> Result<Seeded, ApiError> {
    let tx = conn.transaction()?;
    for (id, name) in GROUPS {
        repo::create_group(&tx, Some((*id).into()), name)?;
    }
    let mut rng = Rng(seed | 1);
    let big = &GROUPS[2..];
    let mut memberships = 0;
    for i in 0..users {
        let mut contact = person(i, seed);
        let mut groups = Vec::new();
        // About 4% of the company is in no group at all.
        if !rng.chance(4) {
            groups.push(big[rng.below(big.len())].0);
            if rng.chance(30) {
                groups.push(big[rng.below(big.len())].0);
            }
        }
        if rng.chance(3) {
            groups.push("harvey");
        }
        if rng.chance(2) {
            groups.push("mike");
        }
        groups.dedup();
        contact.department = groups
            .first()
            .and_then(|g| GROUPS.iter().find(|(id, _)| id == g))
            .map(|(_, name)| (*name).to_owned());
        let id = user_id(i);
        repo::create_user(&tx, Some(id.clone()), contact)?;
        for g in groups {
            tx.prepare_cached(
                "INSERT INTO memberships (group_id, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?
            .execute([g, id.as_str()])?;
            memberships += 1;
        }
    }
    tx.commit()?;
    Ok(Seeded { users, memberships })
}
