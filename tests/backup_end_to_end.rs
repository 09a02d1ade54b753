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
use contacts_agent::store::{Address, AddressKind, ContactStore, PersonalData};
use contacts_agent_protocol::{Email, EmailKind, Phone, PhoneKind, PostalAddress};
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
            Phone {
                number: format!("+48 701 {i:06}"),
                kind: PhoneKind::Mobile,
            },
            Phone {
                number: format!("+48 22 {i:06}"),
                kind: PhoneKind::FaxWork,
            },
        ],
        emails: vec![Email {
            address: format!("p{i}@home.example"),
            kind: EmailKind::Home,
        }],
        organization: i.is_multiple_of(3).then(|| "Sklep \"Pod Lipą\"".into()),
        title: i.is_multiple_of(3).then(|| "Owner".into()),
        addresses: vec![Address {
            kind: AddressKind::Home,
            address: PostalAddress {
                street: format!("Długa {i}\nlok. 3"),
                city: "Gdańsk".into(),
                country: "PL".into(),
                ..Default::default()
            },
        }],
        notes: vec![format!("{} end", "long note ".repeat(i % 20))],
        birthday: i.is_multiple_of(4).then(|| "--02-29".into()),
        photo: i.is_multiple_of(5).then(|| {
            [
                vec![0xFF, 0xD8, 0xFF],
                (0..700u32).map(|b| (b * 31 + i as u32) as u8).collect(),
            ]
            .concat()
        }),
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
        .restore(None, Some(common::ACCOUNT), &mut no_progress())
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
    *now.lock().unwrap() += Duration::days(3);
    assert!(agent.run_due().unwrap().backup.is_none());
    *now.lock().unwrap() += Duration::days(5);
    assert!(agent.run_due().unwrap().backup.is_some(), "a week later");
    // Off for two months: one backup, not eight.
    *now.lock().unwrap() += Duration::days(60);
    assert!(agent.run_due().unwrap().backup.is_some());
    assert!(agent.run_due().unwrap().backup.is_none());
    let status = agent.status().unwrap();
    let t = *now.lock().unwrap();
    assert!(status.next_backup.unwrap() > t + Duration::days(3));
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

/// A ZIP with the given payload and manifest, uploaded as a backup.
fn upload_raw(client: &Client, vcf: &str, manifest: Value) -> String {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file(PAYLOAD_NAME, opts).unwrap();
    zip.write_all(vcf.as_bytes()).unwrap();
    zip.start_file(MANIFEST_NAME, opts).unwrap();
    zip.write_all(manifest.to_string().as_bytes()).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let key = format!("{:x}", sha2::Sha256::digest(vcf.as_bytes()));
    client.upload_backup(&bytes, &key, 1).unwrap().0.id
}

use sha2::Digest;

fn manifest_for(vcf: &str, version: u32) -> Value {
    json!({"format": FORMAT, "format_version": version, "created_at": "2026-01-01T00:00:00Z", "contact_count": 2,
           "payload": PAYLOAD_NAME, "payload_bytes": vcf.len(), "payload_sha256": format!("{:x}", sha2::Sha256::digest(vcf.as_bytes())), "vcard_version": "3.0"})
}

#[test]
fn a_wrong_checksum_or_unknown_version_restores_nothing() {
    let w = World::new(50);
    let mut agent = phone_with(&w, 4);
    let good = agent.backup_now().unwrap().backup.id;
    let client = device_client(&agent, &w);
    let vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:New\r\nEND:VCARD\r\n";
    let mut bad = manifest_for(vcf, 1);
    bad["payload_sha256"] = json!("0".repeat(64));
    let tampered = upload_raw(&client, vcf, bad);
    let future = upload_raw(
        &client,
        &vcf.replace("New", "Newer"),
        manifest_for(&vcf.replace("New", "Newer"), 9),
    );
    let before = personal_keys(&mut agent);
    let err = agent
        .restore(Some(&tampered), None, &mut no_progress())
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match its checksum"), "{err}");
    let err = agent
        .restore(Some(&future), None, &mut no_progress())
        .unwrap_err()
        .to_string();
    assert!(err.contains("format version 9"), "{err}");
    assert_eq!(personal_keys(&mut agent), before);
    assert_eq!(agent.status().unwrap().recent_runs[0].outcome, "failed");
    // The good backup is still there and still restores.
    assert!(backups(&w).iter().any(|b| b["id"] == good.as_str()));
    let again = agent
        .restore(Some(&good), None, &mut no_progress())
        .unwrap();
    assert_eq!(again.already_present as usize, before.len());
}

#[test]
fn garbage_lines_and_nameless_cards_are_skipped_and_counted() {
    let w = World::new(50);
    let mut agent = phone_with(&w, 0);
    let client = device_client(&agent, &w);
    let vcf = "garbage before\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN:Kept One\r\nTEL;TYPE=CELL:+48 1\r\nEND:VCARD\r\n\
               BEGIN:VCARD\r\nVERSION:3.0\r\nTEL:+48 2\r\nEND:VCARD\r\n\
               BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Kept Two\r\nEND:VCARD\r\n";
    let id = upload_raw(&client, vcf, manifest_for(vcf, 1));
    let r = agent.restore(Some(&id), None, &mut no_progress()).unwrap();
    assert_eq!(r.restored, 2);
    assert!(r.skipped_total() >= 2, "{r:?}");
    let msg = r.describe_skipped();
    assert!(
        msg.contains("without a name") && msg.contains("not a vCard property"),
        "{msg}"
    );
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
