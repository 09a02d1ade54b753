//! The backup archive: a ZIP holding `contacts.vcf` (vCard 3.0, deflated) and
//! `manifest.json` (format version, count, creation time, SHA-256 of the vCard payload).
//! `docs/backup-format.md` is the description for people.
//!
//! Written streaming, one contact at a time, so the address book is never held in memory.

use std::io::{Read, Seek, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::vcard::write_v3;
use crate::store::PersonalData;

pub const FORMAT: &str = "contacts-agent-backup";
pub const FORMAT_VERSION: u32 = 1;
pub const PAYLOAD_NAME: &str = "contacts.vcf";
pub const MANIFEST_NAME: &str = "manifest.json";
/// A payload larger than this is refused when reading (a zip bomb, or not our archive).
pub const MAX_PAYLOAD_BYTES: u64 = 1 << 30;
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub created_at: String,
    pub contact_count: u64,
    pub payload: String,
    pub payload_bytes: u64,
    /// Lowercase hex SHA-256 of the uncompressed `contacts.vcf`; also the upload's
    /// idempotency key.
    pub payload_sha256: String,
    pub vcard_version: String,
}

#[derive(Debug, Error)]
pub enum ArchiveError {
    #[error("writing the backup archive failed: {0}")]
    Write(String),
    #[error("the backup archive is not readable: {0}")]
    Corrupt(String),
    #[error(
        "the backup archive has format version {0}; this agent reads version {FORMAT_VERSION}"
    )]
    UnsupportedVersion(u32),
    #[error("the backup payload does not match its checksum (archive damaged or tampered with)")]
    ChecksumMismatch,
    #[error("the backup manifest says {said} contacts but the archive holds {held}")]
    CountMismatch { said: u64, held: u64 },
}

impl From<zip::result::ZipError> for ArchiveError {
    fn from(e: zip::result::ZipError) -> Self {
        match e {
            zip::result::ZipError::Io(io) => ArchiveError::Write(io.to_string()),
            other => ArchiveError::Corrupt(other.to_string()),
        }
    }
}

pub struct ArchiveWriter<W: Write + Seek> {
    zip: ZipWriter<W>,
    hasher: Sha256,
    bytes: u64,
    count: u64,
    buf: String,
}

impl<W: Write + Seek> ArchiveWriter<W> {
    pub fn new(out: W) -> Result<Self, ArchiveError> {
        let mut zip = ZipWriter::new(out);
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .large_file(false);
        zip.start_file(PAYLOAD_NAME, options)?;
        Ok(ArchiveWriter {
            zip,
            hasher: Sha256::new(),
            bytes: 0,
            count: 0,
            buf: String::with_capacity(4096),
        })
    }

    pub fn add(&mut self, contact: &PersonalData) -> Result<(), ArchiveError> {
        self.buf.clear();
        write_v3(contact, &mut self.buf);
        self.zip
            .write_all(self.buf.as_bytes())
            .map_err(|e| ArchiveError::Write(e.to_string()))?;
        self.hasher.update(self.buf.as_bytes());
        self.bytes += self.buf.len() as u64;
        self.count += 1;
        Ok(())
    }

    /// Writes the manifest and the ZIP directory; returns the manifest and the writer.
    pub fn finish(mut self, created_at: &str) -> Result<(Manifest, W), ArchiveError> {
        let digest = std::mem::take(&mut self.hasher).finalize();
        let manifest = Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            created_at: created_at.into(),
            contact_count: self.count,
            payload: PAYLOAD_NAME.into(),
            payload_bytes: self.bytes,
            payload_sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
            vcard_version: "3.0".into(),
        };
        let json =
            serde_json::to_vec_pretty(&manifest).map_err(|e| ArchiveError::Write(e.to_string()))?;
        self.zip
            .start_file(MANIFEST_NAME, SimpleFileOptions::default())?;
        self.zip
            .write_all(&json)
            .map_err(|e| ArchiveError::Write(e.to_string()))?;
        let out = self.zip.finish()?;
        Ok((manifest, out))
    }
}

/// Reads only the manifest (the server uses this to check an upload).
pub fn read_manifest<R: Read + Seek>(input: R) -> Result<Manifest, ArchiveError> {
    let mut zip = ZipArchive::new(input)?;
    manifest_of(&mut zip)
}

fn manifest_of<R: Read + Seek>(zip: &mut ZipArchive<R>) -> Result<Manifest, ArchiveError> {
    let mut text = Vec::new();
    zip.by_name(MANIFEST_NAME)
        .map_err(|_| ArchiveError::Corrupt("no manifest.json in the archive".into()))?
        .take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut text)
        .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    // Check the version before the shape, so a future format says so instead of "invalid".
    let v: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| ArchiveError::Corrupt(format!("manifest: {e}")))?;
    if v["format"] != FORMAT {
        return Err(ArchiveError::Corrupt("not a contacts-agent backup".into()));
    }
    match v["format_version"].as_u64() {
        Some(n) if n == u64::from(FORMAT_VERSION) => {}
        Some(n) => {
            return Err(ArchiveError::UnsupportedVersion(
                u32::try_from(n).unwrap_or(u32::MAX),
            ))
        }
        None => {
            return Err(ArchiveError::Corrupt(
                "manifest has no format_version".into(),
            ))
        }
    }
    serde_json::from_value(v).map_err(|e| ArchiveError::Corrupt(format!("manifest: {e}")))
}

/// Opens an archive, checks its manifest and the payload's checksum, and returns both.
pub fn read_archive<R: Read + Seek>(input: R) -> Result<(Manifest, String), ArchiveError> {
    let mut zip = ZipArchive::new(input)?;
    let manifest = manifest_of(&mut zip)?;
    let mut payload = Vec::new();
    zip.by_name(&manifest.payload)
        .map_err(|_| ArchiveError::Corrupt("the payload named by the manifest is missing".into()))?
        .take(MAX_PAYLOAD_BYTES + 1)
        .read_to_end(&mut payload)
        .map_err(|e| ArchiveError::Corrupt(format!("payload: {e}")))?;
    if payload.len() as u64 > MAX_PAYLOAD_BYTES {
        return Err(ArchiveError::Corrupt("payload larger than 1 GiB".into()));
    }
    let digest: String = Sha256::digest(&payload)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != manifest.payload_sha256 || payload.len() as u64 != manifest.payload_bytes {
        return Err(ArchiveError::ChecksumMismatch);
    }
    let text = String::from_utf8(payload)
        .map_err(|_| ArchiveError::Corrupt("payload is not UTF-8".into()))?;
    let held = count_cards(&text);
    if held != manifest.contact_count {
        return Err(ArchiveError::CountMismatch {
            said: manifest.contact_count,
            held,
        });
    }
    Ok((manifest, text))
}

/// Cards in a vCard text: its `BEGIN:VCARD` lines (what the manifest's count counts).
pub fn count_cards(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.trim_end().eq_ignore_ascii_case("BEGIN:VCARD"))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn contact(i: usize) -> PersonalData {
        PersonalData {
            display_name: format!("Person {i}"),
            given_name: "Person".into(),
            family_name: i.to_string(),
            notes: vec!["ąę, ;".into()],
            ..Default::default()
        }
    }

    fn archive(n: usize) -> (Manifest, Vec<u8>) {
        let mut w = ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
        for i in 0..n {
            w.add(&contact(i)).unwrap();
        }
        let (m, out) = w.finish("2026-01-01T00:00:00Z").unwrap();
        (m, out.into_inner())
    }

    #[test]
    fn an_archive_reads_back_with_its_manifest() {
        let (m, bytes) = archive(20);
        assert_eq!(m.contact_count, 20);
        let (read, text) = read_archive(Cursor::new(bytes)).unwrap();
        assert_eq!(read, m);
        let parsed = super::super::vcard::parse_all(&text);
        assert_eq!(parsed.len(), 20);
        assert_eq!(parsed[3].as_ref().unwrap().contact, contact(3));
    }

    #[test]
    fn a_truncated_archive_is_refused() {
        let (_, bytes) = archive(50);
        for cut in [10, bytes.len() / 2, bytes.len() - 10] {
            let err = read_archive(Cursor::new(bytes[..cut].to_vec())).unwrap_err();
            assert!(
                matches!(err, ArchiveError::Corrupt(_)),
                "cut at {cut}: {err}"
            );
        }
    }

    #[test]
    fn a_flipped_payload_byte_is_caught() {
        // Stored (uncompressed) so the flipped byte lands in the vCard text itself.
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        zip.start_file(PAYLOAD_NAME, stored).unwrap();
        let vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna\r\nEND:VCARD\r\n";
        zip.write_all(vcf.as_bytes()).unwrap();
        let mut m = Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            created_at: "x".into(),
            contact_count: 1,
            payload: PAYLOAD_NAME.into(),
            payload_bytes: vcf.len() as u64,
            payload_sha256: format!("{:x}", Sha256::digest(vcf.as_bytes())),
            vcard_version: "3.0".into(),
        };
        m.payload_sha256 = m.payload_sha256.replace('a', "b").replace('1', "2");
        zip.start_file(MANIFEST_NAME, stored).unwrap();
        zip.write_all(&serde_json::to_vec(&m).unwrap()).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        assert!(matches!(
            read_archive(Cursor::new(bytes)),
            Err(ArchiveError::ChecksumMismatch)
        ));
    }

    #[test]
    fn an_unknown_format_version_is_named_in_the_error() {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file(MANIFEST_NAME, SimpleFileOptions::default())
            .unwrap();
        zip.write_all(br#"{"format":"contacts-agent-backup","format_version":7}"#)
            .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let err = read_archive(Cursor::new(bytes)).unwrap_err();
        assert!(matches!(err, ArchiveError::UnsupportedVersion(7)), "{err}");
        assert!(err.to_string().contains("version 7"));
    }

    #[test]
    fn a_full_disk_while_writing_is_a_write_error() {
        // /dev/full: every write fails with ENOSPC, as on a full disk.
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let result = ArchiveWriter::new(full).and_then(|mut w| {
            for i in 0..200 {
                w.add(&contact(i))?;
            }
            w.finish("t").map(|_| ())
        });
        let err = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("No space left"), "{err}");
    }
}
