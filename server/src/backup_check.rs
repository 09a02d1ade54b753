//! What the server checks in an uploaded backup before it keeps a byte of it: a ZIP whose
//! `manifest.json` has the format and version this server knows, a payload whose SHA-256,
//! length and number of cards are the ones the manifest states, and a manifest hash equal to
//! the upload's `Idempotency-Key` and a count equal to its `X-Contact-Count`. The manifest
//! and how a payload is measured are `contacts_agent_protocol::backup` (the agent writes with
//! the same definition); the format for people is `docs/backup-format.md`.
//!
//! The archive is read from the spooled upload (`http/spool.rs`) in pieces: a check holds the
//! ZIP's directory and one read buffer, never the archive.

use std::io::{Read, Seek};

use contacts_agent_protocol::backup::{Manifest, PayloadMeter, MANIFEST_NAME, MAX_MANIFEST_BYTES};

/// Why an upload is not stored (422). Says what is wrong, never what the archive holds.
pub fn check(archive: impl Read + Seek, key: &str, count: u64) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(archive)
        .map_err(|e| format!("the body is not a complete backup archive (ZIP): {e}"))?;
    let mut text = Vec::new();
    zip.by_name(MANIFEST_NAME)
        .map_err(|_| "the archive has no manifest.json".to_owned())?
        .take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut text)
        .map_err(|e| format!("manifest.json is not readable: {e}"))?;
    let m = Manifest::parse(&text).map_err(|e| e.to_string())?;
    if m.payload_sha256 != key {
        return Err("the manifest's payload_sha256 is not the Idempotency-Key".into());
    }
    if m.contact_count != count {
        return Err(format!(
            "the manifest says {} contacts, X-Contact-Count says {count}",
            m.contact_count
        ));
    }
    let payload = zip
        .by_name(&m.payload)
        .map_err(|_| "the payload named by the manifest is missing".to_owned())?;
    m.verify(&measure(payload)?).map_err(|e| e.to_string())
}

/// The payload's summary, read in pieces.
fn measure(
    mut payload: impl Read,
) -> Result<contacts_agent_protocol::backup::PayloadSummary, String> {
    let mut meter = PayloadMeter::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = payload
            .read(&mut buf)
            .map_err(|e| format!("the payload is not readable: {e}"))?;
        if n == 0 {
            return Ok(meter.finish());
        }
        meter.update(&buf[..n]).map_err(|e| e.to_string())?;
    }
}
