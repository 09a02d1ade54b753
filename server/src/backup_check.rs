//! What the server checks in an uploaded backup before it keeps a byte of it: a ZIP whose
//! `manifest.json` has the format and version this server knows, a `contacts.vcf` whose
//! SHA-256, length and number of cards are the ones the manifest states, and a manifest
//! hash equal to the upload's `Idempotency-Key` and a count equal to its `X-Contact-Count`.
//! The format is `docs/backup-format.md`; the agent's writer is `src/backup/archive.rs`.

use std::io::{Cursor, Read};

use serde::Deserialize;
use sha2::{Digest, Sha256};

pub const FORMAT: &str = "contacts-agent-backup";
pub const FORMAT_VERSION: u64 = 1;
pub const MANIFEST_NAME: &str = "manifest.json";
/// A payload that inflates past this is refused (a zip bomb, or not our archive).
pub const MAX_PAYLOAD_BYTES: u64 = 1 << 30;
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

#[derive(Debug, Deserialize)]
struct Manifest {
    contact_count: u64,
    payload: String,
    payload_bytes: u64,
    payload_sha256: String,
}

/// Why an upload is not stored (422). Says what is wrong, never what the archive holds.
pub fn check(body: &[u8], key: &str, count: u64) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(body))
        .map_err(|e| format!("the body is not a complete backup archive (ZIP): {e}"))?;
    let mut text = Vec::new();
    zip.by_name(MANIFEST_NAME)
        .map_err(|_| "the archive has no manifest.json".to_owned())?
        .take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut text)
        .map_err(|e| format!("manifest.json is not readable: {e}"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&text).map_err(|_| "manifest.json is not JSON".to_owned())?;
    if v["format"] != FORMAT {
        return Err("manifest.json does not describe a contacts-agent backup".into());
    }
    match v["format_version"].as_u64() {
        Some(FORMAT_VERSION) => {}
        Some(n) => {
            return Err(format!(
                "backup format version {n}; this server stores version {FORMAT_VERSION}"
            ))
        }
        None => return Err("manifest.json has no format_version".into()),
    }
    let m: Manifest = serde_json::from_value(v)
        .map_err(|e| format!("manifest.json is not a backup manifest: {e}"))?;
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
    let (digest, bytes, cards) = hash_and_count(payload)?;
    if bytes != m.payload_bytes || digest != m.payload_sha256 {
        return Err("the payload does not match the manifest's checksum".into());
    }
    if cards != m.contact_count {
        return Err(format!(
            "the manifest says {} contacts but the payload holds {cards}",
            m.contact_count
        ));
    }
    Ok(())
}

/// SHA-256, length and `BEGIN:VCARD` lines of the payload, read in pieces (never whole).
fn hash_and_count(mut payload: impl Read) -> Result<(String, u64, u64), String> {
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut cards = 0u64;
    let mut line: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = payload
            .read(&mut buf)
            .map_err(|e| format!("the payload is not readable: {e}"))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        if bytes > MAX_PAYLOAD_BYTES {
            return Err("the payload inflates past 1 GiB".into());
        }
        hasher.update(&buf[..n]);
        for &b in &buf[..n] {
            if b == b'\n' {
                cards += u64::from(is_begin(&line));
                line.clear();
            } else if line.len() < 16 {
                line.push(b);
            }
        }
    }
    cards += u64::from(is_begin(&line));
    let digest = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((digest, bytes, cards))
}

fn is_begin(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.eq_ignore_ascii_case(b"BEGIN:VCARD")
}
