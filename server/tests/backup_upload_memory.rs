//! The server does not hold an upload in memory: the peak resident memory of this process
//! (server and client both; the client sends from a buffer made before the measurement) grows
//! by far less than the archive it stores. One test in its own binary, so no other test's
//! memory is in the figure.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;

use common::{upload_in_pieces, Body, TestServer};
use contacts_agent_protocol::backup::{measure, Manifest, MANIFEST_NAME, PAYLOAD_NAME};

const MIB: u64 = 1024 * 1024;

/// `VmHWM` (peak resident set) or `VmRSS` of this process, in bytes.
fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = text.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn a_48_mib_upload_is_stored_without_the_server_holding_it() {
    let t = TestServer::start_with(5, |c| c.backup_quota = 200 * MIB);
    let (_, token) = t.enrolled_device("big");
    // A real archive, stored (not deflated), so the upload is as large as its payload.
    let mut vcf = String::new();
    let mut i = 0u64;
    while (vcf.len() as u64) < 48 * MIB {
        vcf.push_str(&format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person {i}\r\nNOTE:{}\r\nEND:VCARD\r\n",
            format!("{i:016x}").repeat(60)
        ));
        i += 1;
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
    drop(vcf);
    // Linux: writing 5 to clear_refs resets the peak to the current resident set.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let base = status_kib("VmHWM:");
    let u = upload_in_pieces(
        t.addr(),
        &token,
        &summary.sha256,
        summary.cards,
        &Body::whole(&bytes).with_length(),
    );
    let peak = status_kib("VmHWM:");
    let a = u.answer.unwrap();
    assert_eq!(a.status, 201, "{}", a.text());
    assert_eq!(a.json()["size"], bytes.len() as u64);
    let grew = peak.saturating_sub(base);
    eprintln!(
        "stored a {:.1} MiB backup; peak resident memory grew by {:.1} MiB",
        bytes.len() as f64 / MIB as f64,
        grew as f64 / MIB as f64
    );
    assert!(
        grew < 16 * MIB,
        "the upload was held in memory: the peak grew by {grew} bytes"
    );
}
