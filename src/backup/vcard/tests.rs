use super::*;
use proptest::prelude::*;

fn written(c: &PersonalData) -> String {
    let mut s = String::new();
    write_v3(c, &mut s);
    s
}

fn hard_case() -> PersonalData {
    PersonalData {
        display_name: "Zoë O'Brien, Jr.".into(),
        prefix: "Dr.".into(),
        given_name: "Zoë".into(),
        middle_name: "Anna; Maria".into(),
        family_name: "O'Brien".into(),
        suffix: "Jr.".into(),
        phones: vec![
            Phone {
                number: "+48 600 100 200".into(),
                kind: PhoneKind::Mobile,
            },
            Phone {
                number: "+48 22 100 20 30".into(),
                kind: PhoneKind::FaxWork,
            },
            Phone {
                number: "+1 555 0100".into(),
                kind: PhoneKind::Main,
            },
        ],
        emails: vec![Email {
            address: "zoe@example.org".into(),
            kind: EmailKind::Home,
        }],
        organization: Some("Gęślą, Jaźń & Co".into()),
        department: Some("R&D; Labs".into()),
        title: Some("Chief \\ Officer".into()),
        addresses: vec![
            Address {
                kind: AddressKind::Home,
                address: PostalAddress {
                    street: "ul. Długa 1\nlok. 2".into(),
                    city: "Gdańsk".into(),
                    region: String::new(),
                    postcode: "80-001".into(),
                    country: "Polska".into(),
                },
            },
            Address {
                kind: AddressKind::Other,
                address: PostalAddress {
                    city: "東京".into(),
                    ..Default::default()
                },
            },
        ],
        notes: vec![
            "Line one\nline two, with commas; and semicolons".into(),
            "x".repeat(300),
        ],
        birthday: Some("1990-02-03".into()),
        photo: Some((0..=255u8).cycle().take(5000).collect()),
    }
}

#[test]
fn the_hard_cases_survive_a_round_trip() {
    let c = hard_case();
    let text = written(&c);
    let parsed = parse_all(&text);
    assert_eq!(parsed, vec![Ok(c)]);
}

#[test]
fn output_is_vcard_3_with_crlf_lines_folded_at_75_octets() {
    let text = written(&hard_case());
    assert!(text.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"), "{text}");
    assert!(text.ends_with("END:VCARD\r\n"));
    for line in text.split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
        assert!(!line.contains('\n'));
    }
    assert!(text.contains("PHOTO;ENCODING=b;TYPE=JPEG:") || text.contains("PHOTO;ENCODING=b"));
    assert!(text.contains("\\,") && text.contains("\\;") && text.contains("\\n"));
    // The property and type tokens docs/backup-format.md promises.
    for token in [
        "\r\nFN;CHARSET=UTF-8:",
        "\r\nN;CHARSET=UTF-8:O'Brien;Zo",
        "\r\nTEL;TYPE=CELL:+48 600 100 200",
        "\r\nTEL;TYPE=WORK,FAX:",
        "\r\nTEL;TYPE=MAIN-NUMBER:",
        "\r\nEMAIL;TYPE=INTERNET,HOME:",
        "\r\nORG;CHARSET=UTF-8:",
        "\r\nADR;TYPE=HOME;CHARSET=UTF-8:;;ul. D",
        "\r\nBDAY:1990-02-03\r\n",
    ] {
        assert!(text.contains(token), "missing {token:?} in\n{text}");
    }
}

#[test]
fn a_year_less_birthday_round_trips() {
    let c = PersonalData {
        display_name: "A".into(),
        birthday: Some("--02-29".into()),
        ..Default::default()
    };
    assert_eq!(parse_all(&written(&c)), vec![Ok(c)]);
}

#[test]
fn the_reader_accepts_vcard_4_and_2_1() {
    let text = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Four\r\nTEL;TYPE=\"work,voice\";VALUE=uri:tel:+48-1\r\nEMAIL;TYPE=home:f@x.y\r\nEND:VCARD\r\n\
                BEGIN:VCARD\r\nVERSION:2.1\r\nN:Two;One\r\nTEL;CELL:+48 2\r\nEND:VCARD\r\n";
    let parsed = parse_all(text);
    assert_eq!(parsed.len(), 2);
    let four = parsed[0].clone().unwrap();
    assert_eq!(four.display_name, "Four");
    assert_eq!(four.emails[0].kind, EmailKind::Home);
    assert_eq!(four.phones[0].kind, PhoneKind::Work);
    let two = parsed[1].clone().unwrap();
    assert_eq!(
        (two.family_name.as_str(), two.given_name.as_str()),
        ("Two", "One")
    );
    assert_eq!(two.display_name, "One Two");
}

#[test]
fn cards_without_a_name_and_cut_off_cards_are_skipped_with_a_reason() {
    let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nTEL:+48 1\r\nEND:VCARD\r\n\
                BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Good\r\nEND:VCARD\r\n\
                BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Cut";
    let parsed = parse_all(text);
    assert_eq!(parsed[0], Err(SkipReason::MissingName));
    assert_eq!(
        parsed[1].as_ref().map(|c| c.display_name.as_str()),
        Ok("Good")
    );
    assert!(parsed[2..].iter().all(|r| r.is_err()), "{parsed:?}");
    assert_eq!(parsed.iter().filter(|r| r.is_ok()).count(), 1);
}

#[test]
fn garbage_between_cards_does_not_lose_the_cards() {
    let text =
        "this is not a vcard\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN:Kept\r\nEND:VCARD\r\n%%%\r\n\
                BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
    let parsed = parse_all(text);
    let kept: Vec<&str> = parsed
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|c| c.display_name.as_str())
        .collect();
    assert_eq!(kept, ["Kept"]);
    assert!(parsed.iter().any(|r| r.is_err()));
}

fn text_strategy() -> impl Strategy<Value = String> {
    // Printable text with the characters vCard must escape, non-ASCII, and long runs;
    // no CR (vCard has no escape for it) and no leading/trailing spaces (readers trim).
    prop_oneof![
        "[a-zA-Z0-9 ,;:\\\\.'\"@+()-]{1,20}",
        "[ąęółśżźćńÄÖÜßéèçñ東京日本 ,;]{1,12}",
        "[a-z\n]{1,10}",
        "[a-z]{60,120}",
    ]
    .prop_map(|s| s.trim().to_owned())
    .prop_filter("non-empty", |s| !s.is_empty())
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text_strategy())
}

prop_compose! {
    fn arb_contact()(
        display_name in text_strategy(),
        names in prop::collection::vec(prop_oneof![Just(String::new()), text_strategy()], 5),
        phones in prop::collection::vec((text_strategy(), prop::sample::select(PhoneKind::ALL.to_vec())), 0..4),
        emails in prop::collection::vec((text_strategy(), prop::sample::select(EmailKind::ALL.to_vec())), 0..3),
        organization in opt_text(), department in opt_text(), title in opt_text(),
        addresses in prop::collection::vec((prop::sample::select(vec![AddressKind::Home, AddressKind::Work, AddressKind::Other]), opt_text(), opt_text(), opt_text()), 0..3),
        notes in prop::collection::vec(text_strategy(), 0..2),
        birthday in prop::option::of((1900u16..2030, 1u8..=12, 1u8..=28, any::<bool>())),
        photo in prop::option::of(prop::collection::vec(any::<u8>(), 1..400)),
    ) -> PersonalData {
        PersonalData {
            display_name,
            family_name: names[0].clone(), given_name: names[1].clone(), middle_name: names[2].clone(),
            prefix: names[3].clone(), suffix: names[4].clone(),
            phones: phones.into_iter().map(|(number, kind)| Phone { number, kind }).collect(),
            emails: emails.into_iter().map(|(address, kind)| Email { address, kind }).collect(),
            organization, department, title,
            addresses: addresses.into_iter().map(|(kind, street, city, country)| Address {
                kind,
                address: PostalAddress {
                    street: street.unwrap_or_default(),
                    city: city.unwrap_or_default(),
                    country: country.unwrap_or_default(),
                    ..Default::default()
                },
            }).collect(),
            notes,
            birthday: birthday.map(|(y, m, d, with_year)| if with_year { format!("{y:04}-{m:02}-{d:02}") } else { format!("--{m:02}-{d:02}") }),
            photo,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn random_contacts_round_trip_through_vcard_3(contacts in prop::collection::vec(arb_contact(), 1..5)) {
        let mut text = String::new();
        for c in &contacts {
            write_v3(c, &mut text);
        }
        for line in text.split("\r\n") {
            prop_assert!(line.len() <= 75);
        }
        let parsed: Vec<PersonalData> = parse_all(&text).into_iter().collect::<Result<_, _>>().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(parsed, contacts);
    }
}
