//! Hand-picked cases; the property test over every field (through the host phone model) is
//! `tests/backup_end_to_end.rs`.

use super::*;

fn written(c: &PersonalData) -> String {
    let mut s = String::new();
    write_v3(c, &mut s);
    s
}

fn read_one(text: &str) -> Result<PersonalData, SkipReason> {
    let mut all = parse_all(text);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0).map(|r| r.contact)
}

fn item(value: &str, kind: &str) -> Item {
    Item::new(value, kind)
}

fn hard_case() -> PersonalData {
    PersonalData {
        display_name: "Zoë O'Brien, Jr.".into(),
        prefix: "Dr.".into(),
        given_name: "Zoë".into(),
        middle_name: "Anna; Maria".into(),
        family_name: "O'Brien".into(),
        suffix: "Jr.".into(),
        phonetic_given: "ゾーイ".into(),
        phonetic_middle: String::new(),
        phonetic_family: "オブライエン".into(),
        nicknames: vec!["Zo, the great".into()],
        phones: vec![
            item("+48 600 100 200", "mobile"),
            item("+48 22 100 20 30", "fax_work"),
            item("+1 555 0100", "main"),
            item("+1 555 0101", "pager"),
            item("+1 555 0102", "callback"),
            Item::custom("+48 1", "Babcia"),
            Item::custom("+48 2", "Teściowa; druga, ta od kota"),
        ],
        emails: vec![
            item("zoe@example.org", "home"),
            item("z@m.example", "mobile"),
            Item::custom("zz@example.org", "Stary adres"),
        ],
        organization: Some("Gęślą, Jaźń & Co".into()),
        department: Some("R&D; Labs".into()),
        title: Some("Chief \\ Officer".into()),
        addresses: vec![
            Address {
                kind: "home".into(),
                street: "ul. Długa 1\nlok. 2".into(),
                city: "Gdańsk".into(),
                postcode: "80-001".into(),
                country: "Polska".into(),
                pobox: "PO 7".into(),
                neighborhood: "Stare Miasto".into(),
                ..Default::default()
            },
            Address {
                kind: "other".into(),
                formatted: "東京, somewhere\nnear the station".into(),
                ..Default::default()
            },
            Address {
                kind: CUSTOM.into(),
                label: "Działka".into(),
                city: "Hel".into(),
                formatted: "Hel".into(),
                ..Default::default()
            },
        ],
        websites: vec![
            item("https://zoe.example/", "homepage"),
            item("https://blog.example/", "blog"),
            item("ftp://x.example/", "other"),
        ],
        ims: vec![
            Im {
                handle: "zoe@jabber.example".into(),
                protocol: "jabber".into(),
                kind: "work".into(),
                ..Default::default()
            },
            Im {
                handle: "zoe#1".into(),
                protocol: CUSTOM.into(),
                custom_protocol: "Matrix".into(),
                kind: CUSTOM.into(),
                label: "prywatny".into(),
            },
        ],
        sip_addresses: vec![item("sip:zoe@voip.example", "home")],
        events: vec![
            item("1990-02-03", "birthday"),
            item("2015-06-20", "anniversary"),
            Item::custom("--12-24", "Imieniny"),
        ],
        relations: vec![item("Anna", "mother"), Item::custom("Burek", "Pies")],
        notes: vec![
            "Line one\nline two, with commas; and semicolons".into(),
            "x".repeat(300),
        ],
        photo: Some(
            [0xFF, 0xD8, 0xFF, 0xE0]
                .into_iter()
                .chain((0..=255u8).cycle().take(5000))
                .collect(),
        ),
        starred: true,
        groups: vec!["Rodzina".into(), "Friends & Co".into()],
        account: Some(SourceAccount {
            kind: "com.google".into(),
            name: "zoe@gmail.example".into(),
        }),
    }
}

#[test]
fn every_field_survives_a_round_trip() {
    let c = hard_case();
    assert_eq!(read_one(&written(&c)), Ok(c));
}

#[test]
fn output_is_strict_vcard_3_with_crlf_lines_folded_at_75_octets() {
    let text = written(&hard_case());
    assert!(text.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"), "{text}");
    assert!(text.ends_with("END:VCARD\r\n"));
    for line in text.split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
        assert!(!line.contains('\n'));
    }
    assert!(!text.to_ascii_uppercase().contains("CHARSET"), "{text}");
    assert!(!text.contains("MAIN-NUMBER"), "{text}");
    // Unfolded, each TEL's types are RFC 2426 words.
    let unfolded = text.replace("\r\n ", "");
    for line in unfolded.lines().filter(|l| l.starts_with("TEL")) {
        let head = line.split(':').next().unwrap_or_default();
        for t in head.trim_start_matches("TEL").split([';', ',', '=']) {
            assert!(
                [
                    "", "TYPE", "home", "work", "cell", "fax", "pager", "voice", "msg", "car",
                    "isdn"
                ]
                .contains(&t)
                    || t.starts_with("X-"),
                "{t} in {line}"
            );
        }
    }
    for token in [
        "\r\nFN:Zoë O'Brien\\, Jr.\r\n",
        "\r\nTEL;TYPE=cell:+48 600 100 200\r\n",
        "\r\nTEL;TYPE=work,fax:",
        "\r\nTEL;TYPE=pager:+1 555 0101\r\n",
        "\r\nTEL:+1 555 0102\r\nX-CONTACTS-AGENT-TYPE:callback\r\n",
        "\r\nTEL;TYPE=X-Babcia:+48 1\r\nX-CONTACTS-AGENT-LABEL:Babcia\r\n",
        "\r\nEMAIL;TYPE=internet,home:",
        "\r\nADR;TYPE=home:PO 7;Stare Miasto;ul. D",
        "\r\nBDAY:1990-02-03\r\n",
        "\r\nX-ANDROID-CUSTOM:vnd.android.cursor.item/relation;Anna;8;",
        "\r\nCATEGORIES:Rodzina,Friends & Co\r\n",
        "\r\nX-CONTACTS-AGENT-STARRED:1\r\n",
    ] {
        assert!(
            unfolded.contains(token.trim_start_matches("\r\n")),
            "missing {token:?} in\n{text}"
        );
    }
}

#[test]
fn a_contact_without_a_name_is_written_with_its_number_as_fn_and_restores() {
    let c = PersonalData {
        phones: vec![item("+48 600 000 001", "mobile")],
        ..Default::default()
    };
    let text = written(&c);
    assert!(text.contains("\r\nFN:+48 600 000 001\r\n"), "{text}");
    assert!(text.contains("\r\nN:;;;;\r\n"), "{text}");
    assert_eq!(read_one(&text), Ok(c));
    let email_only = PersonalData {
        emails: vec![item("only@example.org", "other")],
        ..Default::default()
    };
    assert!(written(&email_only).contains("\r\nFN:only@example.org\r\n"));
    assert_eq!(read_one(&written(&email_only)), Ok(email_only));
}

#[test]
fn a_nameless_card_from_another_exporter_restores_too() {
    // What Android's own exporter writes for a number-only contact: empty FN and N.
    let text =
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:;;;;\r\nFN:\r\nTEL;TYPE=CELL:+48 1\r\nEND:VCARD\r\n";
    let c = read_one(text).unwrap();
    assert_eq!(c.phones, [item("+48 1", "mobile")]);
    assert_eq!(c.display_name, "");
}

#[test]
fn free_form_and_year_less_birthdays_are_kept_exactly() {
    for date in ["May 1, 1990", "--02-29", "1990-13-45", "1.5.1990"] {
        let c = PersonalData {
            display_name: "A".into(),
            events: vec![item(date, "birthday")],
            ..Default::default()
        };
        let text = written(&c);
        assert!(
            !text.contains("BDAY"),
            "{date} is not an RFC 2426 date: {text}"
        );
        assert!(text.contains("X-ANDROID-CUSTOM:vnd.android.cursor.item/contact_event;"));
        assert_eq!(read_one(&text), Ok(c));
    }
}

#[test]
fn the_reader_accepts_vcard_4_and_2_1() {
    let text = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Four\r\nTEL;TYPE=\"work,voice\";VALUE=uri:tel:+48-1\r\nEMAIL;TYPE=home:f@x.y\r\nEND:VCARD\r\n\
                BEGIN:VCARD\r\nVERSION:2.1\r\nN:Two;One\r\nTEL;CELL:+48 2\r\nBDAY:--05-01\r\nEND:VCARD\r\n";
    let parsed: Vec<PersonalData> = parse_all(text)
        .into_iter()
        .map(|r| r.map(|r| r.contact))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(parsed[0].display_name, "Four");
    assert_eq!(parsed[0].emails[0].kind, "home");
    assert_eq!(parsed[0].phones[0].kind, "work");
    assert_eq!(
        (
            parsed[1].family_name.as_str(),
            parsed[1].given_name.as_str()
        ),
        ("Two", "One")
    );
    assert_eq!(parsed[1].phones[0].kind, "mobile");
    assert_eq!(parsed[1].events, [item("--05-01", "birthday")]);
}

#[test]
fn empty_and_cut_off_cards_are_skipped_with_a_reason() {
    let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:\r\nN:;;;;\r\nEND:VCARD\r\n\
                BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Good\r\nEND:VCARD\r\n\
                BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Cut";
    let parsed = parse_all(text);
    assert_eq!(parsed[0], Err(SkipReason::Empty));
    assert_eq!(
        parsed[1].as_ref().map(|c| c.contact.display_name.as_str()),
        Ok("Good")
    );
    assert!(parsed[2..].iter().all(|r| r.is_err()), "{parsed:?}");
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
        .map(|c| c.contact.display_name.as_str())
        .collect();
    assert_eq!(kept, ["Kept"]);
    assert!(parsed.iter().any(|r| r.is_err()));
}

#[test]
fn a_photo_that_is_not_an_image_is_dropped_and_the_contact_kept() {
    let c = PersonalData {
        display_name: "A".into(),
        photo: Some(b"%PDF-1.4 not a picture".to_vec()),
        ..Default::default()
    };
    let text = written(&c);
    assert!(
        text.contains("PHOTO;ENCODING=b:"),
        "no image TYPE for it: {text}"
    );
    let r = parse_all(&text).remove(0).unwrap();
    assert!(r.photo_dropped);
    assert_eq!(r.contact.photo, None);
    assert_eq!(r.contact.display_name, "A");
}

#[test]
fn a_card_too_large_for_the_phone_is_skipped_not_cut() {
    let many = PersonalData {
        display_name: "Many".into(),
        phones: (0..10_000)
            .map(|i| item(&format!("+48 {i}"), "mobile"))
            .collect(),
        ..Default::default()
    };
    assert_eq!(read_one(&written(&many)), Err(SkipReason::TooManyRows));
    let long = PersonalData {
        display_name: "Long".into(),
        notes: vec!["n".repeat(10 << 20)],
        ..Default::default()
    };
    assert_eq!(read_one(&written(&long)), Err(SkipReason::ValueTooLarge));
}

#[test]
fn android_exported_rows_are_read_back() {
    // Android's exporter writes rows vCard 3.0 has no property for as X-ANDROID-CUSTOM.
    let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\n\
                X-ANDROID-CUSTOM:vnd.android.cursor.item/relation;Ewa;14;;;;;;;;;;;;;\r\n\
                X-ANDROID-CUSTOM:vnd.android.cursor.item/nickname;Bob;1;;;;;;;;;;;;;\r\n\
                END:VCARD\r\n";
    let c = read_one(text).unwrap();
    assert_eq!(c.relations, [item("Ewa", "spouse")]);
}

#[test]
fn quotes_backslashes_and_runs_of_blanks_survive() {
    let c = PersonalData {
        display_name: "A  \"B\"  C".into(),
        nicknames: vec!["b5v& \\:K.\"\"5  fDDq5G".into()],
        notes: vec!["\"quoted\"   and\\n not a newline".into()],
        groups: vec!["x  \"y\"".into()],
        ..Default::default()
    };
    assert_eq!(read_one(&written(&c)), Ok(c));
}

#[test]
fn a_custom_label_that_is_an_x_name_is_also_written_as_the_type_android_reads_back() {
    let c = PersonalData {
        display_name: "Anna".into(),
        phones: vec![
            Item::custom("+48 1", "Babcia"),
            Item::custom("+48 2", "Babcia Zosia"),
            Item::custom("+48 3", "Żona"),
        ],
        emails: vec![Item::custom("a@example.org", "Klub-2")],
        addresses: vec![Address {
            kind: "custom".into(),
            label: "Dacza".into(),
            street: "Leśna 1".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let text = written(&c);
    let unfolded = text.replace("\r\n ", "");
    for token in [
        "\r\nTEL;TYPE=X-Babcia:+48 1\r\nX-CONTACTS-AGENT-LABEL:Babcia\r\n",
        // A space or a letter outside ASCII cannot be in an x-name: our line alone keeps it.
        "\r\nTEL:+48 2\r\nX-CONTACTS-AGENT-LABEL:Babcia Zosia\r\n",
        "\r\nTEL:+48 3\r\nX-CONTACTS-AGENT-LABEL:Żona\r\n",
        // No `internet` before it: Android takes the first unknown type as the label.
        "\r\nEMAIL;TYPE=X-Klub-2:a@example.org\r\nX-CONTACTS-AGENT-LABEL:Klub-2\r\n",
        "\r\nADR;TYPE=X-Dacza:;;Leśna 1;;;;\r\nX-CONTACTS-AGENT-LABEL:Dacza\r\n",
    ] {
        assert!(unfolded.contains(token), "missing {token:?} in\n{text}");
    }
    assert_eq!(read_one(&text), Ok(c));
}

#[test]
fn an_x_type_from_another_exporter_is_read_as_the_custom_label() {
    // What Android's exporter writes for custom labels (VCardBuilder: "X-" + label), with no
    // line of ours after it.
    let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nN:;A;;;\r\n\
                TEL;TYPE=X-Babcia:+48 1\r\nTEL;TYPE=CELL:+48 2\r\nTEL;TYPE=x-main:+48 3\r\n\
                EMAIL;TYPE=X-Stary:old@example.org\r\n\
                ADR;TYPE=X-OTHER:;;Polna 2;;;;\r\nADR;TYPE=X-Dacza:;;Leśna 1;;;;\r\nEND:VCARD\r\n";
    let c = read_one(text).unwrap();
    assert_eq!(
        c.phones,
        [
            Item::custom("+48 1", "Babcia"),
            item("+48 2", "mobile"),
            item("+48 3", "main")
        ]
    );
    assert_eq!(c.emails, [Item::custom("old@example.org", "Stary")]);
    let kinds: Vec<(&str, &str)> = c
        .addresses
        .iter()
        .map(|a| (a.kind.as_str(), a.label.as_str()))
        .collect();
    assert_eq!(kinds, [("other", ""), ("custom", "Dacza")]);
}
