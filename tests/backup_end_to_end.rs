//! Backup and restore against the real server on loopback, and every bad input the issue
//! names: each gives a typed error, leaves the phone and the server's backups intact, and is
//! in the run history.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Cursor, Read, Write};

use chrono::{Duration, Utc};
use common::{clocked, World};
use contacts_agent::agent::Agent;
use contacts_agent::backup::archive::{ArchiveWriter, FORMAT, MANIFEST_NAME, PAYLOAD_NAME};
use contacts_agent::client::{Client, ClientOptions};
use contacts_agent::store::sqlite::SqliteStore;
use contacts_agent::store::{Address, ContactStore, Item, PersonalData, SourceAccount};
use serde_json::{json, Value};

fn person(i: usize) -> PersonalData {
    PersonalData {
        display_name: format!("Osoba {i}, Łódź"),
        prefix: if i.is_multiple_of(2) {
            "Dr".into()
        } else {
            String::new()
        },
        given_name: format!("Zoë{i}"),
        family_name: "Wiśniewska; Nowak".into(),
        phones: vec![
            Item::new(&format!("+48 701 {i:06}"), "mobile"),
            Item::new(&format!("+48 22 {i:06}"), "fax_work"),
            Item::custom(&format!("+48 23 {i:06}"), "Babcia"),
        ],
        emails: vec![Item::new(&format!("p{i}@home.example"), "home")],
        organization: i.is_multiple_of(3).then(|| "Sklep \"Pod Lipą\"".into()),
        title: i.is_multiple_of(3).then(|| "Owner".into()),
        addresses: vec![Address {
            kind: "home".into(),
            street: format!("Długa {i}\nlok. 3"),
            city: "Gdańsk".into(),
            country: "PL".into(),
            ..Default::default()
        }],
        notes: vec![format!("{} end", "long note ".repeat(i % 20))],
        events: i
            .is_multiple_of(4)
            .then(|| Item::new("--02-29", "birthday"))
            .into_iter()
            .collect(),
        photo: i.is_multiple_of(5).then(|| {
            [
                vec![0xFF, 0xD8, 0xFF],
                (0..700u32).map(|b| (b * 31 + i as u32) as u8).collect(),
            ]
            .concat()
        }),
        starred: i.is_multiple_of(6),
        ..Default::default()
    }
}

fn phone_with(w: &World, n: usize) -> Agent<SqliteStore> {
    let mut store = w.phone();
    let people: Vec<PersonalData> = (0..n).map(person).collect();
    for chunk in people.chunks(40) {
        store.insert_personal(None, chunk).unwrap();
    }
    w.agent_with(store)
}

fn personal_keys(agent: &mut Agent<SqliteStore>) -> Vec<[u8; 32]> {
    let mut k: Vec<[u8; 32]> = agent
        .store()
        .personal_page(None, 100_000)
        .unwrap()
        .iter()
        .map(|c| c.data.dedup_key())
        .collect();
    k.sort_unstable();
    k
}

fn backups(w: &World) -> Vec<Value> {
    w.admin
        .get(&format!("/v1/admin/devices/{}/backups", w.device))
        .unwrap()
}

fn no_progress() -> impl FnMut(u64, u64) {
    |_, _| {}
}

#[test]
fn backup_then_restore_brings_back_every_field_without_duplicates() {
    let w = World::new(200);
    let mut agent = phone_with(&w, 300);
    agent.sync_now().unwrap(); // business contacts on the phone too: never in the backup
    let managed_before = agent.store().managed_index().unwrap().len();
    assert!(managed_before > 0);
    let before = personal_keys(&mut agent);
    let r = agent.backup_now().unwrap();
    assert!(r.new_on_server);
    assert_eq!(r.backup.contact_count as usize, before.len());

    // The user loses everything personal.
    let ids: Vec<i64> = agent
        .store()
        .personal_page(None, 10_000)
        .unwrap()
        .iter()
        .map(|c| c.raw_id)
        .collect();
    agent.store().user_deletes_personal(&ids).unwrap();
    let mut lines = Vec::new();
    let mut progress = |done: u64, total: u64| lines.push((done, total));
    let restored = agent.restore(None, None, &mut progress).unwrap();
    assert_eq!(restored.restored as usize, before.len());
    assert_eq!(personal_keys(&mut agent), before);
    assert!(lines.len() > 1, "progress is reported per batch: {lines:?}");
    assert_eq!(
        lines.last().copied(),
        Some((before.len() as u64, before.len() as u64))
    );

    let again = agent
        .restore(Some(&r.backup.id), None, &mut no_progress())
        .unwrap();
    assert_eq!(
        (again.restored as usize, again.already_present as usize),
        (0, before.len())
    );
    assert_eq!(personal_keys(&mut agent), before);
    assert_eq!(
        agent.store().managed_index().unwrap().len(),
        managed_before,
        "restore never touches the managed account"
    );
    let runs = agent.status().unwrap().recent_runs;
    assert_eq!(runs[0].kind, "restore");
    assert_eq!(runs[0].counts.unchanged as usize, before.len());
}

#[test]
fn restore_refuses_the_managed_account() {
    let w = World::new(50);
    let mut agent = phone_with(&w, 5);
    agent.backup_now().unwrap();
    let err = agent
        .restore(
            None,
            Some(&SourceAccount {
                kind: common::ACCOUNT.into(),
                name: "x".into(),
            }),
            &mut no_progress(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("never written into the managed account"),
        "{err}"
    );
    assert!(agent.store().managed_index().unwrap().is_empty());
}

#[test]
fn an_unchanged_address_book_or_a_retried_upload_stores_one_backup() {
    let w = World::new(50);
    let mut agent = phone_with(&w, 20);
    let first = agent.backup_now().unwrap();
    let second = agent.backup_now().unwrap();
    assert!(first.new_on_server && !second.new_on_server);
    assert_eq!(first.backup.id, second.backup.id);
    assert_eq!(backups(&w).len(), 1);

    // The same bytes uploaded twice, as a retry after a lost answer would.
    let token = agent.state().enrollment().unwrap().unwrap().token;
    let client = Client::new(&w.server.url(), Some(token), ClientOptions::default()).unwrap();
    let mut w2 = ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
    w2.add(&person(999)).unwrap();
    let (m, out) = w2.finish("2026-01-01T00:00:00Z").unwrap();
    let bytes = out.into_inner();
    let (a, new_a) = client.upload_backup(&bytes, &m.payload_sha256, 1).unwrap();
    let (b, new_b) = client.upload_backup(&bytes, &m.payload_sha256, 1).unwrap();
    assert!(new_a && !new_b);
    assert_eq!(a, b);
    assert_eq!(backups(&w).len(), 2);
}

#[test]
fn the_server_keeps_the_newest_n_backups() {
    let w = World::new(50);
    let mut agent = phone_with(&w, 3);
    let mut ids = Vec::new();
    for i in 0..7 {
        agent
            .store()
            .insert_personal(None, &[person(1000 + i)])
            .unwrap();
        ids.push(agent.backup_now().unwrap().backup.id);
    }
    let kept: Vec<String> = backups(&w)
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_owned())
        .collect();
    let newest: Vec<String> = ids.iter().rev().take(5).cloned().collect();
    assert_eq!(kept, newest);
}

#[test]
fn backups_follow_the_policy_interval_and_collapse_missed_periods() {
    let w = World::new(50);
    let _: Value = w.admin.put("/v1/admin/policies/p", &json!({"name": "P", "basic_type": "none", "sync_interval": "disabled", "backup_interval": "off"})).unwrap();
    let mut agent = phone_with(&w, 10);
    let now = clocked(&mut agent);
    assert!(agent.run_due().unwrap().backup.is_none(), "backups off");
    assert!(agent.status().unwrap().next_backup.is_none());

    let _: Value = w.admin.put("/v1/admin/policies/p", &json!({"name": "P", "basic_type": "none", "sync_interval": "disabled", "backup_interval": "weekly"})).unwrap();
    assert!(
        agent.run_due().unwrap().backup.unwrap().is_ok(),
        "first backup at once"
    );
    // The next one at the device's slot in the week: at least 3 days on (the weekly
    // minimum gap), at most one period after that.
    let first = *now.lock().unwrap();
    let next = agent.status().unwrap().next_backup.unwrap();
    assert!(next >= first + Duration::days(3) && next <= first + Duration::days(11));
    *now.lock().unwrap() = next - Duration::minutes(1);
    assert!(agent.run_due().unwrap().backup.is_none());
    *now.lock().unwrap() = next + Duration::minutes(1);
    assert!(
        agent.run_due().unwrap().backup.is_some(),
        "at its slot a week on"
    );
    // Off for two months: one backup, not eight.
    *now.lock().unwrap() += Duration::days(60);
    assert!(agent.run_due().unwrap().backup.is_some());
    assert!(agent.run_due().unwrap().backup.is_none());
    let status = agent.status().unwrap();
    let t = *now.lock().unwrap();
    assert!(status.next_backup.unwrap() >= t + Duration::days(3));
    // Ten added here, three the test phone starts with.
    assert!(status
        .last_backup_result
        .unwrap()
        .starts_with("ok: 13 contacts"));
    // And the console sees it.
    let s: Value = w
        .admin
        .get(&format!("/v1/admin/devices/{}/status", w.device))
        .unwrap();
    assert!(s["last_backup"].is_string() && s["next_expected_backup"].is_string());
    assert!(s["last_backup_result"].as_str().unwrap().starts_with("ok"));
}

#[test]
fn a_full_disk_fails_the_backup_cleanly_and_it_is_retried_soon() {
    let w = World::new(50);
    let _: Value = w
        .admin
        .put(
            "/v1/admin/policies/p",
            &json!({"name": "P", "basic_type": "none", "backup_interval": "daily"}),
        )
        .unwrap();
    let mut agent = phone_with(&w, 30);
    let now = clocked(&mut agent);
    let before = personal_keys(&mut agent);
    // Every write to the archive lands on /dev/full, as on a full disk.
    std::os::unix::fs::symlink("/dev/full", w.path("backup-upload.zip")).unwrap();
    let r = agent.run_due().unwrap();
    let err = r.backup.unwrap().unwrap_err();
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert!(backups(&w).is_empty());
    assert_eq!(personal_keys(&mut agent), before);
    let status = agent.status().unwrap();
    assert!(status.last_backup_result.unwrap().starts_with("failed"));
    let t = *now.lock().unwrap();
    assert!(
        status.next_backup.unwrap() <= t + Duration::minutes(2),
        "backs off, not a whole day"
    );
    // Space again: the retry succeeds.
    // The failed run removed its partial archive (here: the link to /dev/full).
    assert!(!w.path("backup-upload.zip").exists());
    *now.lock().unwrap() += Duration::minutes(2);
    assert!(agent.run_due().unwrap().backup.unwrap().is_ok());
    assert_eq!(backups(&w).len(), 1);
}

fn device_client(agent: &Agent<SqliteStore>, w: &World) -> Client {
    let token = agent.state().enrollment().unwrap().unwrap().token;
    Client::new(&w.server.url(), Some(token), ClientOptions::default()).unwrap()
}

fn zip_of(vcf: &str, manifest: &Value) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file(PAYLOAD_NAME, opts).unwrap();
    zip.write_all(vcf.as_bytes()).unwrap();
    zip.start_file(MANIFEST_NAME, opts).unwrap();
    zip.write_all(manifest.to_string().as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

/// A ZIP with the given payload and manifest, uploaded as a backup.
fn upload_raw(client: &Client, vcf: &str, manifest: Value) -> String {
    let bytes = zip_of(vcf, &manifest);
    let key = format!("{:x}", sha2::Sha256::digest(vcf.as_bytes()));
    let count = manifest["contact_count"].as_u64().unwrap_or(0);
    client.upload_backup(&bytes, &key, count).unwrap().0.id
}

use sha2::Digest;

fn manifest_for(vcf: &str, version: u32) -> Value {
    let count = contacts_agent::backup::archive::count_cards(vcf);
    json!({"format": FORMAT, "format_version": version, "created_at": "2026-01-01T00:00:00Z", "contact_count": count,
           "payload": PAYLOAD_NAME, "payload_bytes": vcf.len(), "payload_sha256": format!("{:x}", sha2::Sha256::digest(vcf.as_bytes())), "vcard_version": "3.0"})
}

#[test]
fn the_server_refuses_a_lying_or_future_archive_with_422_and_keeps_nothing() {
    let w = World::new(50);
    let agent = phone_with(&w, 4);
    let client = device_client(&agent, &w);
    let vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:New\r\nEND:VCARD\r\n";
    let key = format!("{:x}", sha2::Sha256::digest(vcf.as_bytes()));
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"payload_sha256": "0".repeat(64)}),
            "not the Idempotency-Key",
        ),
        (json!({"contact_count": 2}), "X-Contact-Count says 1"),
        (json!({"format_version": 9}), "format version 9"),
        (
            json!({"payload_bytes": 3}),
            "does not match the manifest's checksum",
        ),
    ];
    for (change, expected) in cases {
        let mut m = manifest_for(vcf, 1);
        for (k, v) in change.as_object().unwrap() {
            m[k] = v.clone();
        }
        let bytes = zip_of(vcf, &m);
        let err = client
            .upload_backup(&bytes, &key, 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("HTTP 422") && err.contains(expected),
            "{expected}: {err}"
        );
    }
    // A manifest whose count agrees with the header but not with the payload.
    let two = format!("{vcf}{vcf}");
    let mut m = manifest_for(vcf, 1);
    m["payload_sha256"] = json!(format!("{:x}", sha2::Sha256::digest(two.as_bytes())));
    m["payload_bytes"] = json!(two.len());
    let bytes = zip_of(&two, &m);
    let key2 = format!("{:x}", sha2::Sha256::digest(two.as_bytes()));
    let err = client
        .upload_backup(&bytes, &key2, 1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("says 1 contacts but the payload holds 2"),
        "{err}"
    );
    assert!(backups(&w).is_empty(), "nothing was kept");
}

#[test]
fn the_server_enforces_a_per_device_quota_with_507() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let server = contacts_agent_server::Server::start(contacts_agent_server::Config {
        workers: 2,
        backup_quota: 4000,
        ..contacts_agent_server::Config::local(db, "admin-token-for-quota-test")
    })
    .unwrap();
    let admin =
        contacts_agent::demo::admin::AdminClient::new(&server.url(), "admin-token-for-quota-test");
    let created: Value = admin
        .post("/v1/admin/devices", &json!({"name": "q"}))
        .unwrap();
    let code = created["enrollment_code"].as_str().unwrap();
    let anon = Client::new(&server.url(), None, ClientOptions::default()).unwrap();
    let token = anon.enroll(code, "q").unwrap().token;
    let client = Client::new(&server.url(), Some(token), ClientOptions::default()).unwrap();
    let upload = |n: usize| {
        let mut w = ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
        for i in 0..n {
            w.add(&person(i)).unwrap();
        }
        let (m, out) = w.finish("t").unwrap();
        client.upload_backup(&out.into_inner(), &m.payload_sha256, m.contact_count)
    };
    upload(1).unwrap();
    let err = upload(40).unwrap_err().to_string();
    assert!(
        err.contains("HTTP 507") && err.contains("quota of 4000 bytes"),
        "{err}"
    );
    assert_eq!(
        client.list_backups().unwrap().len(),
        1,
        "the refused one was not kept"
    );
    server.stop();
}

#[test]
fn garbage_lines_are_skipped_and_counted_and_nameless_cards_restored() {
    let w = World::new(50);
    let mut agent = phone_with(&w, 0);
    let client = device_client(&agent, &w);
    let vcf = "garbage before\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN:Kept One\r\nTEL;TYPE=CELL:+48 1\r\nEND:VCARD\r\n\
               BEGIN:VCARD\r\nVERSION:3.0\r\nTEL:+48 2\r\nEND:VCARD\r\n\
               BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Kept Two\r\nEND:VCARD\r\n";
    let id = upload_raw(&client, vcf, manifest_for(vcf, 1));
    let r = agent.restore(Some(&id), None, &mut no_progress()).unwrap();
    assert_eq!(r.restored, 3, "the number-only card is restored too");
    assert!(r.skipped_total() >= 1, "{r:?}");
    let msg = r.describe_skipped();
    assert!(msg.contains("not a vCard property"), "{msg}");
    let names: Vec<String> = agent
        .store()
        .personal_page(None, 100)
        .unwrap()
        .into_iter()
        .map(|c| c.data.display_name)
        .collect();
    assert!(names.contains(&"Kept One".to_owned()) && names.contains(&"Kept Two".to_owned()));
}

#[test]
fn an_upload_cut_off_mid_body_stores_nothing() {
    let w = World::new(50);
    let mut agent = phone_with(&w, 5);
    agent.backup_now().unwrap();
    let token = agent.state().enrollment().unwrap().unwrap().token;
    let mut archive = ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
    for i in 0..50 {
        archive.add(&person(i)).unwrap();
    }
    let (m, out) = archive.finish("t").unwrap();
    let bytes = out.into_inner();
    let mut s = std::net::TcpStream::connect(w.server.addr()).unwrap();
    write!(
        s,
        "POST /v1/device/backups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nIdempotency-Key: {}\r\nX-Contact-Count: 50\r\nContent-Length: {}\r\n\r\n",
        m.payload_sha256,
        bytes.len()
    )
    .unwrap();
    s.write_all(&bytes[..bytes.len() / 2]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(!answer.starts_with("HTTP/1.1 20"), "{answer}");
    // A complete-looking but truncated archive is refused too.
    let client = Client::new(&w.server.url(), Some(token), ClientOptions::default()).unwrap();
    let err = client
        .upload_backup(&bytes[..bytes.len() - 30], &m.payload_sha256, 50)
        .unwrap_err();
    assert!(err.to_string().contains("HTTP 422"), "{err}");
    assert_eq!(
        backups(&w).len(),
        1,
        "the earlier backup is intact and nothing was added"
    );
}

#[test]
fn a_server_refusing_the_upload_is_a_typed_error_in_the_history() {
    use std::net::TcpListener;
    let w = World::new(50);
    let mut agent = phone_with(&w, 5);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 65536];
            let _ = s.read(&mut buf);
            let body = r#"{"error":"too_large","message":"storage quota exceeded"}"#;
            let _ = write!(s, "HTTP/1.1 507 Insufficient Storage\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    let e = agent.state().enrollment().unwrap().unwrap();
    agent
        .state()
        .set_enrollment(
            &contacts_agent::state::Enrollment {
                server_url: format!("http://{addr}"),
                ..e
            },
            Utc::now(),
        )
        .unwrap();
    let before = personal_keys(&mut agent);
    let err = agent.backup_now().unwrap_err().to_string();
    assert!(err.contains("HTTP 507: storage quota exceeded"), "{err}");
    assert_eq!(personal_keys(&mut agent), before);
    let run = &agent.status().unwrap().recent_runs[0];
    assert_eq!(
        (run.kind.as_str(), run.outcome.as_str()),
        ("backup", "failed")
    );
    assert!(
        !w.path("backup-upload.zip").exists(),
        "the temporary archive is removed"
    );
}

// ------------------------------------------------------------ every field, property-tested

use contacts_agent::backup::{archive, restore_into, vcard, write_archive, RestoreReport, Target};
use contacts_agent::interrupt::Interruptor;
use contacts_agent::store::Im;
use proptest::prelude::*;

/// Text as people type it: the characters vCard escapes, non-ASCII, newlines, long runs.
/// Never leading or trailing blanks (vCard readers trim values) nor CR (no escape exists).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ,;:\\\\.'\"@+()&-]{1,20}",
        "[ąęółśżźćńÄÖÜßéèçñ東京日本 ,;]{1,12}",
        "[a-z\n]{1,10}",
        "[a-z]{60,200}",
    ]
    .prop_map(|s| s.trim().to_owned())
    .prop_filter("non-empty", |s| !s.is_empty())
}

fn maybe_text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), text()]
}

/// A kind from the provider's table for this mimetype, with a label when it is `custom`:
/// any text, or one that is an x-name ("Babcia", "Klub-2"), which is also written as the
/// line's `TYPE=X-…`.
fn kind(table: &'static [(&'static str, i32)]) -> impl Strategy<Value = (String, String)> {
    let label = prop_oneof![text(), "[A-Za-z][A-Za-z0-9-]{0,11}"];
    (prop::sample::select(table.to_vec()), label).prop_map(|((word, _), label)| {
        let label = if word == "custom" {
            label
        } else {
            String::new()
        };
        (word.to_owned(), label)
    })
}

fn items(table: &'static [(&'static str, i32)], max: usize) -> impl Strategy<Value = Vec<Item>> {
    prop::collection::vec((text(), kind(table)), 0..max).prop_map(|v| {
        v.into_iter()
            .map(|(value, (kind, label))| Item { value, kind, label })
            .collect()
    })
}

/// Real URLs and whatever else a person typed into the website field.
fn websites() -> impl Strategy<Value = Vec<Item>> {
    let value = prop_oneof![
        "(https?|ftp)://[a-z]{1,10}\\.example/[a-z0-9%~?=&]{0,12}",
        text()
    ];
    prop::collection::vec((value, kind(kinds::WEBSITE)), 0..3).prop_map(|v| {
        v.into_iter()
            .map(|(value, (kind, label))| Item { value, kind, label })
            .collect()
    })
}

fn events() -> impl Strategy<Value = Vec<Item>> {
    let date = prop_oneof![
        (1900u16..2030, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        (1u8..=12, 1u8..=28).prop_map(|(m, d)| format!("--{m:02}-{d:02}")),
        text(),
    ];
    prop::collection::vec((date, kind(kinds::EVENT)), 0..4).prop_map(|v| {
        v.into_iter()
            .map(|(value, (kind, label))| Item { value, kind, label })
            .collect()
    })
}

fn addresses() -> impl Strategy<Value = Vec<Address>> {
    let one = (
        kind(kinds::PLACE),
        maybe_text(),
        prop::collection::vec(maybe_text(), 7),
    );
    prop::collection::vec(one, 0..3).prop_map(|v| {
        v.into_iter()
            .map(|((kind, label), formatted, p)| Address {
                kind,
                label,
                formatted,
                street: p[0].clone(),
                pobox: p[1].clone(),
                neighborhood: p[2].clone(),
                city: p[3].clone(),
                region: p[4].clone(),
                postcode: p[5].clone(),
                country: p[6].clone(),
            })
            .collect()
    })
}

fn ims() -> impl Strategy<Value = Vec<Im>> {
    let one = (
        text(),
        prop::sample::select(kinds::IM_PROTOCOL.to_vec()),
        text(),
        kind(kinds::PLACE),
    );
    prop::collection::vec(one, 0..3).prop_map(|v| {
        v.into_iter()
            .map(|(handle, (protocol, _), custom, (kind, label))| Im {
                handle,
                custom_protocol: if protocol == "custom" {
                    custom
                } else {
                    String::new()
                },
                protocol: protocol.to_owned(),
                kind,
                label,
            })
            .collect()
    })
}

fn photo() -> impl Strategy<Value = Option<Vec<u8>>> {
    let magic = prop::sample::select(vec![&b"\xFF\xD8\xFF\xE0"[..], &b"\x89PNG\r\n\x1a\n"[..]]);
    prop::option::of((magic, prop::collection::vec(any::<u8>(), 0..3000)))
        .prop_map(|p| p.map(|(m, body)| [m, &body[..]].concat()))
}

/// The accounts contacts come from; the first two are on the phone, the third is not.
fn accounts() -> Vec<SourceAccount> {
    ["com.google", "com.google", "com.example.gone"]
        .iter()
        .zip([
            "ola@gmail.example",
            "praca@firma.example",
            "old@gone.example",
        ])
        .map(|(k, n)| SourceAccount {
            kind: (*k).into(),
            name: n.into(),
        })
        .collect()
}

prop_compose! {
    fn contact()(
        names in prop::collection::vec(maybe_text(), 9),
        nicknames in prop::collection::vec(text(), 0..2),
        phones in items(kinds::PHONE, 5),
        emails in items(kinds::EMAIL, 3),
        addresses in addresses(),
        websites in websites(),
        ims in ims(),
        sip_addresses in items(kinds::PLACE, 2),
        events in events(),
        relations in items(kinds::RELATION, 3),
        org in prop::option::of(text()), department in prop::option::of(text()), title in prop::option::of(text()),
        notes in prop::collection::vec(text(), 0..2),
        photo in photo(),
        starred in any::<bool>(),
        groups in prop::collection::btree_set("[A-Za-zżółć &;]{1,12}".prop_map(|s| s.trim().to_owned()).prop_filter("non-empty", |s| !s.is_empty()), 0..3),
        account in prop::option::of(0usize..2),
    ) -> PersonalData {
        PersonalData {
            display_name: names[0].clone(), prefix: names[1].clone(), given_name: names[2].clone(),
            middle_name: names[3].clone(), family_name: names[4].clone(), suffix: names[5].clone(),
            phonetic_given: names[6].clone(), phonetic_middle: names[7].clone(), phonetic_family: names[8].clone(),
            nicknames, phones, emails, addresses, websites, ims, sip_addresses, events, relations,
            organization: org, department, title, notes, photo, starred,
            groups: groups.into_iter().collect(),
            account: account.map(|i| accounts()[i].clone()),
        }
    }
}

use contacts_agent::store::personal::kinds;

fn everything_personal(store: &mut SqliteStore) -> Vec<PersonalData> {
    let mut all: Vec<PersonalData> = store
        .personal_page(None, 100_000)
        .unwrap()
        .into_iter()
        .map(|c| c.data)
        .collect();
    all.sort_by_key(|c| format!("{c:?}"));
    all
}

/// Backs the phone up into a real archive file, reads it back, checks it, restores it.
fn backup_and_restore(store: &mut SqliteStore, wipe: bool) -> (RestoreReport, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.zip");
    let scope = Interruptor::default().scope();
    write_archive(store, &path, "2026-11-25T00:00:00Z", &scope).unwrap();
    if wipe {
        let ids: Vec<i64> = store
            .personal_page(None, 100_000)
            .unwrap()
            .iter()
            .map(|c| c.raw_id)
            .collect();
        store.user_deletes_personal(&ids).unwrap();
        assert!(store.personal_page(None, 10).unwrap().is_empty());
    }
    let (_, vcf) = archive::read_archive(std::fs::File::open(&path).unwrap()).unwrap();
    let mut report = RestoreReport::default();
    restore_into(
        store,
        &vcf,
        Target::SourceAccounts,
        &scope,
        &mut |_, _| {},
        &mut report,
    )
    .unwrap();
    (report, vcf)
}

fn phone_holding(contacts: &[PersonalData]) -> SqliteStore {
    let mut store = SqliteStore::open_in_memory(common::ACCOUNT).unwrap();
    for a in &accounts()[..2] {
        store.add_account(a).unwrap();
    }
    for c in contacts {
        store
            .insert_personal(c.account.as_ref(), std::slice::from_ref(c))
            .unwrap();
    }
    store
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Every field ContactsProvider holds for a personal contact survives backup, delete and
    /// restore through the host phone model, in its own account; a second restore adds nothing.
    #[test]
    fn every_field_survives_backup_delete_restore_and_a_second_restore_adds_nothing(
        contacts in prop::collection::vec(contact(), 1..6)
    ) {
        let mut store = phone_holding(&contacts);
        let before = everything_personal(&mut store);
        prop_assert_eq!(before.len(), contacts.len());
        let (report, _) = backup_and_restore(&mut store, true);
        prop_assert_eq!(report.restored as usize, contacts.len());
        prop_assert_eq!(report.skipped_total(), 0);
        prop_assert_eq!(report.source_account_missing, 0);
        prop_assert_eq!(everything_personal(&mut store), before.clone());
        let (again, _) = backup_and_restore(&mut store, false);
        prop_assert_eq!((again.restored, again.already_present as usize), (0, contacts.len()));
        prop_assert_eq!(everything_personal(&mut store), before);
    }
}

#[test]
fn a_contact_whose_account_is_gone_comes_back_device_local_and_the_report_says_so() {
    let mut google = person(1);
    google.account = Some(accounts()[0].clone());
    google.groups = vec!["Rodzina".into()];
    let mut store = phone_holding(&[google.clone(), person(2)]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.zip");
    let scope = Interruptor::default().scope();
    write_archive(&mut store, &path, "t", &scope).unwrap();
    // The user removes the Google account (its contacts go with it), then restores.
    store.remove_account(&accounts()[0]).unwrap();
    assert_eq!(everything_personal(&mut store).len(), 1);
    let (_, vcf) = archive::read_archive(std::fs::File::open(&path).unwrap()).unwrap();
    let mut report = RestoreReport::default();
    restore_into(
        &mut store,
        &vcf,
        Target::SourceAccounts,
        &scope,
        &mut |_, _| {},
        &mut report,
    )
    .unwrap();
    assert_eq!((report.restored, report.source_account_missing), (1, 1));
    let back = everything_personal(&mut store);
    let restored = back
        .iter()
        .find(|c| c.display_name == google.display_name)
        .unwrap();
    assert_eq!(restored.account, None, "into the device-local account");
    assert_eq!(restored.groups, google.groups, "its groups recreated there");
    // Into an account named by the caller, whatever the backup says.
    let mut other = SqliteStore::open_in_memory(common::ACCOUNT).unwrap();
    let work = accounts()[1].clone();
    other.add_account(&work).unwrap();
    let mut report = RestoreReport::default();
    restore_into(
        &mut other,
        &vcf,
        Target::Account(Some(&work)),
        &scope,
        &mut |_, _| {},
        &mut report,
    )
    .unwrap();
    assert_eq!(report.restored, 2);
    assert!(everything_personal(&mut other)
        .iter()
        .all(|c| c.account.as_ref() == Some(&work)));
}

#[test]
fn a_lying_count_and_oversized_cards_write_nothing_or_only_whole_contacts() {
    let mut store = phone_holding(&[]);
    let scope = Interruptor::default().scope();
    let mut vcf = String::new();
    vcard::write_v3(&person(1), &mut vcf);
    let many = PersonalData {
        display_name: "Many".into(),
        phones: (0..10_000)
            .map(|i| Item::new(&format!("+48 {i}"), "mobile"))
            .collect(),
        ..Default::default()
    };
    vcard::write_v3(&many, &mut vcf);
    let huge_note = PersonalData {
        display_name: "Huge".into(),
        notes: vec!["x".repeat(10 << 20)],
        ..Default::default()
    };
    vcard::write_v3(&huge_note, &mut vcf);
    let mut report = RestoreReport::default();
    restore_into(
        &mut store,
        &vcf,
        Target::SourceAccounts,
        &scope,
        &mut |_, _| {},
        &mut report,
    )
    .unwrap();
    assert_eq!(report.restored, 1);
    assert_eq!(report.skipped[&vcard::SkipReason::TooManyRows], 1);
    assert_eq!(report.skipped[&vcard::SkipReason::ValueTooLarge], 1);
    let names: Vec<String> = everything_personal(&mut store)
        .into_iter()
        .map(|c| c.display_name)
        .collect();
    assert_eq!(names, [person(1).display_name]);

    // A manifest that says more (or fewer) contacts than the payload holds: nothing read.
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
    w.add(&person(3)).unwrap();
    let (m, out) = w.finish("t").unwrap();
    let bytes = out.into_inner();
    let lying = rewrite_manifest(&bytes, |m| m["contact_count"] = json!(2));
    let err = archive::read_archive(Cursor::new(lying))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("says 2 contacts but the archive holds 1"),
        "{err}"
    );
    assert_eq!(m.contact_count, 1);
}

/// The same archive with its manifest changed.
fn rewrite_manifest(bytes: &[u8], change: impl Fn(&mut Value)) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut vcf = String::new();
    zip.by_name(PAYLOAD_NAME)
        .unwrap()
        .read_to_string(&mut vcf)
        .unwrap();
    let mut manifest: Value = serde_json::from_reader(zip.by_name(MANIFEST_NAME).unwrap()).unwrap();
    change(&mut manifest);
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    out.start_file(PAYLOAD_NAME, opts).unwrap();
    out.write_all(vcf.as_bytes()).unwrap();
    out.start_file(MANIFEST_NAME, opts).unwrap();
    out.write_all(manifest.to_string().as_bytes()).unwrap();
    out.finish().unwrap().into_inner()
}

/// Writes `target/interop/contacts.vcf`: 200 generated contacts with every kind of field,
/// for `scripts/test.sh` to hand to a strict RFC 2426 validator and to vobject (Python).
#[test]
fn sample_archive_for_interop_checks() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let mut contacts: Vec<PersonalData> = (0..200)
        .map(|_| contact().new_tree(&mut runner).unwrap().current())
        .collect();
    contacts.push(PersonalData {
        phones: vec![Item::new("+48 600 000 000", "mobile")],
        ..Default::default()
    });
    let mut store = phone_holding(&contacts);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/interop");
    std::fs::create_dir_all(&dir).unwrap();
    let scope = Interruptor::default().scope();
    let (m, _) = write_archive(&mut store, &dir.join("backup.zip"), "t", &scope).unwrap();
    let (_, vcf) =
        archive::read_archive(std::fs::File::open(dir.join("backup.zip")).unwrap()).unwrap();
    std::fs::write(dir.join("contacts.vcf"), &vcf).unwrap();
    std::fs::write(dir.join("count"), m.contact_count.to_string()).unwrap();
    assert_eq!(m.contact_count, 201);
}
