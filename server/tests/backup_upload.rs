//! Backup uploads over real loopback sockets: streamed to storage under the device's quota,
//! refused as soon as they pass it (507) without being read on, refused whole when the
//! archive lies (422), and nothing kept when a client hangs up mid-body.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;

use common::{upload_in_pieces, Body, TestServer, Upload};
use contacts_agent_protocol::backup::{measure, Manifest, MANIFEST_NAME, PAYLOAD_NAME};

const MIB: u64 = 1024 * 1024;

/// A real archive whose payload is `cards` cards of about 1 KB each, stored (not deflated) so
/// the archive is as large as its payload: `(archive, Idempotency-Key, count)`.
fn archive(cards: usize) -> (Vec<u8>, String, u64) {
    let mut vcf = String::new();
    for i in 0..cards {
        vcf.push_str(&format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person {i}\r\nN:{i};Person;;;\r\nNOTE:{}\r\nEND:VCARD\r\n",
            format!("{i:08x}").repeat(120)
        ));
    }
    let summary = measure(vcf.as_bytes()).unwrap();
    let manifest = Manifest::describing(&summary, "2026-11-25T00:00:00Z");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file(PAYLOAD_NAME, stored).unwrap();
    zip.write_all(vcf.as_bytes()).unwrap();
    zip.start_file(MANIFEST_NAME, stored).unwrap();
    zip.write_all(&serde_json::to_vec(&manifest).unwrap())
        .unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    (bytes, summary.sha256, summary.cards)
}

fn backups(t: &TestServer, token: &str) -> Vec<serde_json::Value> {
    let a = t.device(token, "GET", "/v1/device/backups", None);
    assert_eq!(a.status, 200, "{}", a.text());
    a.json().as_array().unwrap().clone()
}

/// Bytes the database takes on disk (main file and WAL).
fn database_bytes(t: &TestServer) -> u64 {
    std::fs::read_dir(t.dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// Files this process holds open under `dir` (Linux: `/proc/self/fd`), deleted ones too.
fn open_files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .map(|target| target.display().to_string())
        .collect()
}

fn answer(u: &Upload) -> &common::Answer {
    u.answer
        .as_ref()
        .unwrap_or_else(|| panic!("no answer after {} bytes", u.sent))
}

#[test]
fn a_chunked_archive_is_streamed_to_storage_and_downloads_byte_for_byte() {
    let t = TestServer::start(5);
    let (_, token) = t.enrolled_device("streamed");
    let (bytes, key, count) = archive(4000);
    assert!(bytes.len() as u64 > 3 * MIB, "{}", bytes.len());
    let u = upload_in_pieces(t.addr(), &token, &key, count, &Body::whole(&bytes));
    let a = answer(&u);
    assert_eq!(a.status, 201, "{}", a.text());
    assert_eq!(a.json()["size"], bytes.len() as u64);
    assert_eq!(a.json()["contact_count"], 4000);
    let id = a.json()["id"].as_str().unwrap().to_owned();
    let back = t.device(&token, "GET", &format!("/v1/device/backups/{id}"), None);
    assert_eq!(back.status, 200);
    assert!(back.body == bytes, "the stored archive is the one sent");
    // Sent again with a Content-Length: the retry is answered with the stored backup.
    let again = upload_in_pieces(
        t.addr(),
        &token,
        &key,
        count,
        &Body::whole(&bytes).with_length(),
    );
    assert_eq!(answer(&again).status, 200, "{}", answer(&again).text());
    assert_eq!(backups(&t, &token).len(), 1);
}

#[test]
fn a_body_past_the_quota_is_refused_with_507_as_it_streams_and_not_read_on() {
    let t = TestServer::start_with(5, |c| c.backup_quota = 2 * MIB);
    let (_, token) = t.enrolled_device("quota");
    let before = database_bytes(&t);
    let key = "ab".repeat(32);
    // 1 GiB offered in chunks, with no length said up front: the server must cut it off.
    let offered = 1024 * MIB;
    let u = upload_in_pieces(
        t.addr(),
        &token,
        &key,
        1,
        &Body::repeated(&[b'x'; 64 * 1024], offered),
    );
    let a = answer(&u);
    assert_eq!(a.status, 507, "{}", a.text());
    assert_eq!(a.json()["error"], "backup_quota_exceeded");
    let msg = a.json()["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("quota of 2097152 bytes") && msg.contains("nothing was stored"),
        "{msg}"
    );
    // What the client got onto the wire before the server closed: the quota plus what the
    // sockets' buffers hold, nowhere near the gigabyte offered.
    eprintln!(
        "chunked upload past a 2 MiB quota: {:.1} MiB of 1024 MiB accepted by the socket",
        u.sent as f64 / MIB as f64
    );
    assert!(u.sent < 64 * MIB, "the server read on: {} bytes", u.sent);
    // A length said up front (under the 64 MiB route limit, over the quota) is refused
    // before a byte of the body is read.
    let said = upload_in_pieces(
        t.addr(),
        &token,
        &key,
        1,
        &Body::repeated(&[b'x'; 64 * 1024], 32 * MIB).with_length(),
    );
    assert_eq!(answer(&said).status, 507, "{}", answer(&said).text());
    assert!(said.sent < 32 * MIB, "{}", said.sent);
    assert!(backups(&t, &token).is_empty(), "nothing was kept");
    assert!(
        database_bytes(&t) < before + MIB,
        "the database did not take the refused bytes: {} -> {}",
        before,
        database_bytes(&t)
    );
    // The quota counts what is kept: a backup that fits is still taken.
    let (bytes, key, count) = archive(500);
    let ok = upload_in_pieces(t.addr(), &token, &key, count, &Body::whole(&bytes));
    assert_eq!(answer(&ok).status, 201, "{}", answer(&ok).text());
}

#[test]
fn the_quota_counts_the_backups_retention_keeps_beside_the_new_one() {
    let t = TestServer::start_with(5, |c| {
        c.backup_quota = 2 * MIB;
        c.keep_backups = 2;
    });
    let (_, token) = t.enrolled_device("kept");
    let (first, k1, c1) = archive(1200); // ~1.2 MB
    let (second, k2, c2) = archive(1300);
    let (third, k3, c3) = archive(700);
    let up = |bytes: &[u8], key: &str, count: u64| {
        upload_in_pieces(t.addr(), &token, key, count, &Body::whole(bytes))
    };
    assert_eq!(answer(&up(&first, &k1, c1)).status, 201);
    // Kept beside the first, the second would pass 2 MiB.
    let refused = up(&second, &k2, c2);
    assert_eq!(answer(&refused).status, 507, "{}", answer(&refused).text());
    // The third fits beside the first.
    assert_eq!(answer(&up(&third, &k3, c3)).status, 201);
    assert_eq!(backups(&t, &token).len(), 2);
}

#[test]
fn a_lying_archive_streamed_in_full_is_refused_with_422_and_nothing_is_kept() {
    let t = TestServer::start(5);
    let (_, token) = t.enrolled_device("liar");
    let (bytes, key, count) = archive(50);
    // The count the headers say is not the manifest's.
    let u = upload_in_pieces(t.addr(), &token, &key, count + 1, &Body::whole(&bytes));
    assert_eq!(answer(&u).status, 422, "{}", answer(&u).text());
    assert!(answer(&u).text().contains("X-Contact-Count says 51"));
    // A byte of the stored payload changed: its hash is no longer the manifest's.
    let mut flipped = bytes.clone();
    let at = flipped.windows(9).position(|w| w == b"FN:Person").unwrap();
    flipped[at + 3] = b'Q';
    let u = upload_in_pieces(t.addr(), &token, &key, count, &Body::whole(&flipped));
    assert_eq!(answer(&u).status, 422, "{}", answer(&u).text());
    // Not a ZIP at all.
    let u = upload_in_pieces(
        t.addr(),
        &token,
        &key,
        count,
        &Body::repeated(b"junk", 5000),
    );
    assert_eq!(answer(&u).status, 422, "{}", answer(&u).text());
    assert!(backups(&t, &token).is_empty());
}

#[test]
fn a_client_that_hangs_up_mid_upload_leaves_nothing_and_the_server_carries_on() {
    let t = TestServer::start(5);
    let (_, token) = t.enrolled_device("hang-up");
    let before = database_bytes(&t);
    let (bytes, key, count) = archive(6000); // ~6 MB
    let half = bytes.len() as u64 / 2;
    for body in [
        Body::whole(&bytes).with_length().hang_up_after(half),
        Body::whole(&bytes).hang_up_after(half),
    ] {
        let u = upload_in_pieces(t.addr(), &token, &key, count, &body);
        if let Some(a) = &u.answer {
            assert!(a.status >= 400, "a half upload was answered {}", a.status);
        }
    }
    assert!(backups(&t, &token).is_empty(), "nothing was kept");
    assert!(
        database_bytes(&t) < before + MIB,
        "{} -> {}",
        before,
        database_bytes(&t)
    );
    // The spool files had no name in the directory and are closed once the server has
    // seen the hang-up (their space goes back to the disk): none is still open.
    let spools = || {
        open_files_in(t.dir.path())
            .into_iter()
            .filter(|f| !f.contains("server.db"))
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while spools() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(spools(), 0, "{:?}", open_files_in(t.dir.path()));
    // The same upload, whole, goes through afterwards.
    let u = upload_in_pieces(t.addr(), &token, &key, count, &Body::whole(&bytes));
    assert_eq!(answer(&u).status, 201, "{}", answer(&u).text());
}

#[test]
fn an_upload_without_a_valid_token_or_key_is_refused_before_its_body() {
    let t = TestServer::start(5);
    let (_, token) = t.enrolled_device("heads");
    let u = upload_in_pieces(
        t.addr(),
        "not-a-token",
        &"ab".repeat(32),
        1,
        &Body::repeated(&[0; 1024], 32 * MIB).with_length(),
    );
    assert_eq!(answer(&u).status, 401);
    assert!(u.sent < 32 * MIB, "{}", u.sent);
    let u = upload_in_pieces(
        t.addr(),
        &token,
        "not-a-hash",
        1,
        &Body::repeated(&[0; 1024], 32 * MIB).with_length(),
    );
    assert_eq!(answer(&u).status, 400, "{}", answer(&u).text());
    assert!(answer(&u).text().contains("Idempotency-Key"));
}
