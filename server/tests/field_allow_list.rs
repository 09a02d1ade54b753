//! A policy's field allow-list over real HTTP: the server filters each contact before
//! hashing it, so pages, snapshots and the device's fingerprint agree; changing the list
//! changes the hashes and the next delta carries the filtered contacts; a photo not allowed
//! cannot be downloaded; an unknown field name is refused by name with nothing written.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{request, TestServer, ADMIN_TOKEN};
use contacts_agent_protocol::hash::sha256_hex;
use contacts_agent_protocol::{content_hash, ContactData, PhoneKind};
use serde_json::{json, Value};

const HOLDER: &str = "u-000010";

/// `u-000010` in Harvey with a photo and every kind of number, a note and an address.
fn company() -> (TestServer, Vec<u8>) {
    let t = TestServer::start(40);
    t.admin_ok(
        "PUT",
        &format!("/v1/admin/groups/harvey/members/{HOLDER}"),
        Value::Null,
    );
    t.admin_ok(
        "PUT",
        &format!("/v1/admin/users/{HOLDER}"),
        json!({"given_name": "Anna", "family_name": "Nowak", "display_name": "Anna Nowak",
               "organization": "Pearson Hardman", "title": "Partner",
               "phones": [{"number": "+48 22 100 00 01", "kind": "work"},
                          {"number": "+48 500 100 001", "kind": "mobile"},
                          {"number": "+48 22 700 00 01", "kind": "home"},
                          {"number": "+48 600 100 001", "kind": "work_mobile"}],
               "emails": [{"address": "anna@pearson-hardman.example", "kind": "work"},
                          {"address": "anna@home.example", "kind": "home"}],
               "address": {"city": "Warszawa"}, "note": "Desk 4"}),
    );
    let photo = b"a photo of Anna".to_vec();
    let a = request(
        t.addr(),
        "PUT",
        &format!("/v1/admin/users/{HOLDER}/photo"),
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        &photo,
    );
    assert_eq!(a.status, 204, "{}", a.text());
    (t, photo)
}

/// Every page from `since` to the end: upserts by id, deletes, the final token.
fn sync(
    t: &TestServer,
    token: &str,
    since: Option<&str>,
) -> (BTreeMap<String, (String, ContactData)>, Vec<String>, String) {
    let (next, pages) = t.sync_pages(token, since, 7);
    let mut upserts = BTreeMap::new();
    let mut deletes = Vec::new();
    for page in &pages {
        for u in page["upserts"].as_array().unwrap() {
            let c: ContactData = serde_json::from_value(u["contact"].clone()).unwrap();
            let (id, hash) = common::id_and_hash(u);
            upserts.insert(id, (hash, c));
        }
        for d in page["deletes"].as_array().unwrap() {
            deletes.push(d.as_str().unwrap().to_owned());
        }
    }
    (upserts, deletes, next)
}

/// The phone (`device_token`) tells the server it holds `held` at `sync_token`; whether the
/// console calls that exactly the snapshot of the token.
fn verified(
    t: &TestServer,
    id: &str,
    device_token: &str,
    sync_token: &str,
    held: &BTreeMap<String, String>,
) -> bool {
    t.report_held(
        device_token,
        sync_token,
        held.iter().map(|(a, b)| (a.as_str(), b.as_str())),
    );
    let status = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/status"),
        Value::Null,
    );
    status["contacts_verified"] == json!(true)
}

fn kinds(c: &ContactData) -> Vec<&str> {
    c.phones.iter().map(|p| p.kind.as_str()).collect()
}

#[test]
fn a_changed_allow_list_changes_the_hashes_and_the_next_sync_sends_only_the_allowed_fields() {
    let (t, photo) = company();
    let (id, token) = t.enrolled_device("phone");
    let (first, _, t1) = sync(&t, &token, None);
    let (_, anna) = &first[HOLDER];
    assert_eq!(kinds(anna), ["work", "mobile", "home", "work_mobile"]);
    assert!(anna.photo.is_some() && anna.note.is_some());
    let mut held: BTreeMap<String, String> = first
        .iter()
        .map(|(k, (h, _))| (k.clone(), h.clone()))
        .collect();
    assert!(verified(&t, &id, &token, &t1, &held));

    let policy = t.admin_ok(
        "PUT",
        "/v1/admin/policies/p",
        json!({"name": "P", "additional_groups": ["harvey"], "sync_interval": "daily",
               "fields": ["organization", "work_phones", "work_emails", "addresses"]}),
    );
    assert_eq!(
        policy["fields"],
        json!(["organization", "work_phones", "work_emails", "addresses"])
    );

    let (second, deletes, t2) = sync(&t, &token, Some(&t1));
    assert!(deletes.is_empty());
    // Every seeded person has a private mobile: every contact changes.
    assert_eq!(second.len(), first.len());
    for (cid, (hash, c)) in &second {
        // The hash a page carries is the hash of what it carries.
        assert_eq!(hash, &content_hash(c), "{cid}");
        assert!(
            c.phones
                .iter()
                .all(|p| matches!(p.kind, PhoneKind::Work | PhoneKind::WorkMobile)),
            "{cid}: {:?}",
            kinds(c)
        );
        assert!(c.photo.is_none() && c.note.is_none(), "{cid}");
        held.insert(cid.clone(), hash.clone());
    }
    let (_, anna) = &second[HOLDER];
    assert_eq!(kinds(anna), ["work", "work_mobile"]);
    assert_eq!(anna.display_name, "Anna Nowak");
    assert_eq!(anna.organization.as_deref(), Some("Pearson Hardman"));
    assert_eq!(anna.title.as_deref(), Some("Partner"));
    assert_eq!(anna.emails.len(), 1);
    assert_eq!(
        anna.address.as_ref().map(|a| a.city.as_str()),
        Some("Warszawa")
    );
    // The snapshot of the new token is exactly what the phone now holds.
    assert!(verified(&t, &id, &token, &t2, &held));
    // The admin's list of what the sync saved on the device shows what it was sent.
    let listed = t.admin_ok(
        "GET",
        &format!("/v1/admin/devices/{id}/contacts?limit=5000"),
        Value::Null,
    );
    let anna = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == HOLDER)
        .unwrap();
    assert_eq!(
        anna["phones"],
        json!(["+48 22 100 00 01", "+48 600 100 001"])
    );
    assert_eq!(anna["emails"], json!(["anna@pearson-hardman.example"]));
    // Nothing changed since: the same token back, nothing sent.
    let (third, _, t3) = sync(&t, &token, Some(&t2));
    assert!(third.is_empty());
    assert_eq!(t3, t2);

    // The photo is no longer this device's to download, alone or in a batch.
    let hash = sha256_hex(&photo);
    let one = t.device(&token, "GET", &format!("/v1/device/photos/{hash}"), None);
    assert_eq!(one.status, 404);
    let batch = t.device(
        &token,
        "POST",
        "/v1/device/photos",
        Some(json!({"hashes": [hash]})),
    );
    assert_eq!(batch.status, 200);
    assert_eq!(batch.json()["missing"], json!([hash]));
    assert_eq!(batch.json()["photos"], json!([]));

    // Without a list, everything again, and the photo with it.
    t.admin_ok(
        "PUT",
        "/v1/admin/policies/p",
        json!({"name": "P", "additional_groups": ["harvey"], "sync_interval": "daily"}),
    );
    let (fourth, _, _) = sync(&t, &token, Some(&t2));
    let (hash4, anna) = &fourth[HOLDER];
    assert_eq!(kinds(anna), ["work", "mobile", "home", "work_mobile"]);
    assert_eq!(hash4, &first[HOLDER].0);
    let one = t.device(&token, "GET", &format!("/v1/device/photos/{hash}"), None);
    assert_eq!((one.status, one.body), (200, photo));
}

#[test]
fn the_name_alone_is_a_valid_list_and_every_field_listed_is_the_same_as_no_list() {
    let (t, _) = company();
    let (_, token) = t.enrolled_device("phone");
    let (all, _, _) = sync(&t, &token, None);
    let names: Vec<&str> = contacts_agent_protocol::Field::ALL
        .map(contacts_agent_protocol::Field::as_str)
        .to_vec();
    t.admin_ok(
        "PUT",
        "/v1/admin/policies/p",
        json!({"name": "P", "additional_groups": ["harvey"], "fields": names}),
    );
    let (every, _, _) = sync(&t, &token, None);
    assert_eq!(every, all);
    t.admin_ok(
        "PUT",
        "/v1/admin/policies/p",
        json!({"name": "P", "additional_groups": ["harvey"], "fields": []}),
    );
    let (bare, _, _) = sync(&t, &token, None);
    let (_, anna) = &bare[HOLDER];
    assert_eq!(
        (
            anna.display_name.as_str(),
            anna.phones.len(),
            anna.organization.as_deref()
        ),
        ("Anna Nowak", 0, None)
    );
}

#[test]
fn an_unknown_field_is_refused_by_name_and_nothing_is_written() {
    let (t, _) = company();
    let (_, token) = t.enrolled_device("phone");
    t.admin_ok(
        "PUT",
        "/v1/admin/policies/p",
        json!({"name": "P", "additional_groups": ["harvey"], "fields": ["work_phones"]}),
    );
    let before = t.admin_ok("GET", "/v1/admin/policies/p", Value::Null);
    let etag = |t: &TestServer| {
        t.device(&token, "GET", "/v1/device/policy", None)
            .header("etag")
            .map(str::to_owned)
    };
    let version = etag(&t);

    let a = t.admin(
        "PUT",
        "/v1/admin/policies/p",
        Some(json!({"name": "Renamed", "additional_groups": [],
                    "fields": ["work_phones", "pager_phones"]})),
    );
    assert_eq!(a.status, 422, "{}", a.text());
    let msg = a.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        msg.starts_with(
            "fields lists \"pager_phones\", which is not a field; the fields are: name,"
        ),
        "{}",
        a.text()
    );
    let after = t.admin_ok("GET", "/v1/admin/policies/p", Value::Null);
    assert_eq!(after, before);
    assert_eq!(etag(&t), version);

    // Something that is not a word is not quoted back (it may be a number pasted by mistake).
    let a = t.admin(
        "POST",
        "/v1/admin/policies",
        Some(json!({"id": "q", "name": "Q", "fields": ["+48 500 100 001"]})),
    );
    assert_eq!(a.status, 422);
    assert!(!a.text().contains("500"), "{}", a.text());
    assert_eq!(t.admin("GET", "/v1/admin/policies/q", None).status, 404);
    let a = t.admin(
        "POST",
        "/v1/admin/policies",
        Some(json!({"id": "q", "name": "Q", "fields": ["note", "note"]})),
    );
    assert_eq!(a.status, 422);
    assert!(a.text().contains("twice"), "{}", a.text());
    let a = t.admin(
        "POST",
        "/v1/admin/policies",
        Some(json!({"id": "q", "name": "Q", "fields": "photo"})),
    );
    assert_eq!(a.status, 422);
    assert_eq!(t.admin("GET", "/v1/admin/policies/q", None).status, 404);
}

#[test]
fn a_version_4_database_keeps_its_policies_sending_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    {
        // The released schema as it was before version 5.
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in [
            include_str!("../src/schema.sql"),
            include_str!("../src/schema_2_backups.sql"),
            include_str!("../src/schema_3_console.sql"),
            include_str!("../src/schema_4_devices.sql"),
        ] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 4).unwrap();
        conn.execute(
            "INSERT INTO policies (id, name, basic_type, additional_groups, sync_interval, backup_interval, updated_at)
             VALUES ('old', 'Old', 'all_groups', '[]', 'daily', 'off', '2026-01-01T00:00:00.000Z')",
            [],
        )
        .unwrap();
    }
    let conn = contacts_agent_server::db::open(&path).unwrap();
    let p = contacts_agent_server::repo::get_policy(&conn, "old").unwrap();
    assert_eq!(p.fields, None);
    assert!(p.allow_list().is_none());
}
