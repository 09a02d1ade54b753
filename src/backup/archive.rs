//! The backup archive: a ZIP holding `contacts.vcf` (vCard 3.0, deflated) and
//! `manifest.json` (format version, count, creation time, SHA-256 of the vCard payload).
//! `docs/backup-format.md` is the description for people. The manifest and how a payload is
//! measured against it are `contacts_agent_protocol::backup`, shared with the server's check.
//!
//! Written streaming, one contact at a time, so the address book is never held in memory.

use std::io::{Read, Seek, Write};

pub use contacts_agent_protocol::backup::{
    count_cards, Manifest, ManifestError, FORMAT, FORMAT_VERSION, MANIFEST_NAME, MAX_PAYLOAD_BYTES,
    PAYLOAD_NAME,
};
use contacts_agent_protocol::backup::{measure, PayloadMeter, MAX_MANIFEST_BYTES};
use thiserror::Error;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::vcard::write_v3;
use crate::store::PersonalData;

#[derive(Debug, Error)]
pub enum ArchiveError {
    #[error("writing the backup archive failed: {0}")]
    Write(String),
    #[error("the backup archive is not readable: {0}")]
    Corrupt(String),
    #[error(
        "the backup archive has format version {0}; this agent reads version {FORMAT_VERSION}"
    )]
    UnsupportedVersion(u64),
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

impl From<ManifestError> for ArchiveError {
    fn from(e: ManifestError) -> Self {
        match e {
            ManifestError::UnsupportedVersion(n) => ArchiveError::UnsupportedVersion(n),
            ManifestError::ChecksumMismatch => ArchiveError::ChecksumMismatch,
            ManifestError::CountMismatch { said, held } => {
                ArchiveError::CountMismatch { said, held }
            }
            other => ArchiveError::Corrupt(other.to_string()),
        }
    }
}

pub struct ArchiveWriter<W: Write + Seek> {
    zip: ZipWriter<W>,
    meter: PayloadMeter,
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
            meter: PayloadMeter::new(),
            buf: String::with_capacity(4096),
        })
    }

    pub fn add(&mut self, contact: &PersonalData) -> Result<(), ArchiveError> {
        self.buf.clear();
        write_v3(contact, &mut self.buf);
        self.zip
            .write_all(self.buf.as_bytes())
            .map_err(|e| ArchiveError::Write(e.to_string()))?;
        self.meter.update(self.buf.as_bytes())?;
        Ok(())
    }

    /// Writes the manifest and the ZIP directory; returns the manifest and the writer.
    pub fn finish(mut self, created_at: &str) -> Result<(Manifest, W), ArchiveError> {
        let payload = std::mem::take(&mut self.meter).finish();
        let manifest = Manifest::describing(&payload, created_at);
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

fn manifest_of<R: Read + Seek>(zip: &mut ZipArchive<R>) -> Result<Manifest, ArchiveError> {
    let mut text = Vec::new();
    zip.by_name(MANIFEST_NAME)
        .map_err(|_| ArchiveError::Corrupt("no manifest.json in the archive".into()))?
        .take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut text)
        .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    Ok(Manifest::parse(&text)?)
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
    // One byte past the limit is enough for the meter to refuse it.
    manifest.verify(&measure(&payload)?)?;
    let text = String::from_utf8(payload)
        .map_err(|_| ArchiveError::Corrupt("payload is not UTF-8".into()))?;
    Ok((manifest, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
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
