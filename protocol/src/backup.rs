//! The backup archive's manifest: the one definition the agent writes and reads and the server
//! checks an upload against (`docs/backup-format.md`). An archive is a ZIP holding the vCard
//! payload and `manifest.json`; the ZIP itself is the caller's business (this crate does no
//! I/O), what the manifest says and how a payload is measured against it are here.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// `manifest.json`'s `format`: not a contacts-agent backup without it.
pub const FORMAT: &str = "contacts-agent-backup";
/// The one version written and read. A reader refuses any other, naming it.
pub const FORMAT_VERSION: u32 = 1;
pub const PAYLOAD_NAME: &str = "contacts.vcf";
pub const MANIFEST_NAME: &str = "manifest.json";
/// A payload that inflates past this is refused (a zip bomb, or not our archive).
pub const MAX_PAYLOAD_BYTES: u64 = 1 << 30;
/// A manifest is a few hundred bytes; a reader takes no more than this of it.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub created_at: String,
    pub contact_count: u64,
    /// The payload's name inside the archive (`contacts.vcf`).
    pub payload: String,
    pub payload_bytes: u64,
    /// Lowercase hex SHA-256 of the uncompressed payload; also the upload's
    /// `Idempotency-Key`.
    pub payload_sha256: String,
    pub vcard_version: String,
}

/// Why a manifest, or a payload measured against it, is refused. Says what is wrong, never
/// what the archive holds.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ManifestError {
    #[error("manifest.json is not JSON")]
    NotJson,
    #[error("manifest.json does not describe a contacts-agent backup")]
    NotABackup,
    #[error("manifest.json has no format_version")]
    NoVersion,
    #[error("the backup has format version {0}; this reader knows version {FORMAT_VERSION}")]
    UnsupportedVersion(u64),
    #[error("manifest.json is not a backup manifest: {0}")]
    Shape(String),
    #[error(
        "the payload does not match the manifest's checksum (archive damaged or tampered with)"
    )]
    ChecksumMismatch,
    #[error("the payload inflates past 1 GiB")]
    PayloadTooLarge,
    #[error("the manifest says {said} contacts but the payload holds {held}")]
    CountMismatch { said: u64, held: u64 },
}

impl Manifest {
    /// The manifest for a payload just written.
    pub fn describing(payload: &PayloadSummary, created_at: &str) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            created_at: created_at.into(),
            contact_count: payload.cards,
            payload: PAYLOAD_NAME.into(),
            payload_bytes: payload.bytes,
            payload_sha256: payload.sha256.clone(),
            vcard_version: "3.0".into(),
        }
    }

    /// Parses `manifest.json`. The format and version are looked at before the shape, so a
    /// manifest from a newer agent says "version 2" rather than "missing field".
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let v: serde_json::Value =
            serde_json::from_slice(text).map_err(|_| ManifestError::NotJson)?;
        if v["format"] != FORMAT {
            return Err(ManifestError::NotABackup);
        }
        match v["format_version"].as_u64() {
            Some(n) if n == u64::from(FORMAT_VERSION) => {}
            Some(n) => return Err(ManifestError::UnsupportedVersion(n)),
            None => return Err(ManifestError::NoVersion),
        }
        serde_json::from_value(v).map_err(|e| ManifestError::Shape(e.to_string()))
    }

    /// Whether the payload as read is the one this manifest describes: same SHA-256, same
    /// length, as many cards as it says.
    pub fn verify(&self, payload: &PayloadSummary) -> Result<(), ManifestError> {
        if payload.bytes != self.payload_bytes || payload.sha256 != self.payload_sha256 {
            return Err(ManifestError::ChecksumMismatch);
        }
        if payload.cards != self.contact_count {
            return Err(ManifestError::CountMismatch {
                said: self.contact_count,
                held: payload.cards,
            });
        }
        Ok(())
    }
}

/// What a payload measures: its SHA-256 (lowercase hex), length and cards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadSummary {
    pub sha256: String,
    pub bytes: u64,
    pub cards: u64,
}

/// Measures a payload fed in pieces of any size, so neither side holds it whole to check it.
/// A card is a `BEGIN:VCARD` line (any case, trailing whitespace ignored): what the
/// manifest's `contact_count` counts.
#[derive(Default)]
pub struct PayloadMeter {
    hasher: Sha256,
    bytes: u64,
    cards: u64,
    /// The start of the current line, up to `LINE_PREFIX` bytes.
    line: Vec<u8>,
    /// The current line is longer than any `BEGIN:VCARD` line can be.
    long_line: bool,
}

/// `BEGIN:VCARD` and room for trailing blanks; a longer line is not a card's start.
const LINE_PREFIX: usize = 64;

impl PayloadMeter {
    pub fn new() -> PayloadMeter {
        PayloadMeter::default()
    }

    pub fn update(&mut self, piece: &[u8]) -> Result<(), ManifestError> {
        self.bytes += piece.len() as u64;
        if self.bytes > MAX_PAYLOAD_BYTES {
            return Err(ManifestError::PayloadTooLarge);
        }
        self.hasher.update(piece);
        for &b in piece {
            if b == b'\n' {
                self.end_line();
            } else if self.line.len() < LINE_PREFIX {
                self.line.push(b);
            } else {
                self.long_line = true;
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> PayloadSummary {
        self.end_line();
        PayloadSummary {
            sha256: self
                .hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            bytes: self.bytes,
            cards: self.cards,
        }
    }

    fn end_line(&mut self) {
        if !self.long_line && is_begin(&self.line) {
            self.cards += 1;
        }
        self.line.clear();
        self.long_line = false;
    }
}

fn is_begin(line: &[u8]) -> bool {
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    line[..end].eq_ignore_ascii_case(b"BEGIN:VCARD")
}

/// Cards in a whole vCard text, counted as `PayloadMeter` counts them.
pub fn count_cards(text: &str) -> u64 {
    measure(text.as_bytes()).map_or(0, |s| s.cards)
}

/// A whole payload's summary.
pub fn measure(payload: &[u8]) -> Result<PayloadSummary, ManifestError> {
    let mut m = PayloadMeter::new();
    m.update(payload)?;
    Ok(m.finish())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CARD: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\n";

    #[test]
    fn a_manifest_written_for_a_payload_verifies_against_it() {
        let s = measure(format!("{CARD}{CARD}").as_bytes()).unwrap();
        assert_eq!(s.cards, 2);
        let m = Manifest::describing(&s, "2026-01-01T00:00:00Z");
        let text = serde_json::to_vec(&m).unwrap();
        let back = Manifest::parse(&text).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.verify(&s), Ok(()));
    }

    #[test]
    fn the_version_is_named_before_the_shape_is_looked_at() {
        let e = Manifest::parse(br#"{"format":"contacts-agent-backup","format_version":7}"#);
        assert_eq!(e, Err(ManifestError::UnsupportedVersion(7)));
        assert!(e.unwrap_err().to_string().contains("version 7"));
        assert_eq!(
            Manifest::parse(br#"{"format":"contacts-agent-backup"}"#),
            Err(ManifestError::NoVersion)
        );
        assert_eq!(
            Manifest::parse(br#"{"format":"other","format_version":1}"#),
            Err(ManifestError::NotABackup)
        );
        assert_eq!(Manifest::parse(b"PK\x03\x04"), Err(ManifestError::NotJson));
        assert!(matches!(
            Manifest::parse(br#"{"format":"contacts-agent-backup","format_version":1}"#),
            Err(ManifestError::Shape(_))
        ));
    }

    #[test]
    fn a_lying_manifest_is_caught() {
        let s = measure(CARD.as_bytes()).unwrap();
        let mut m = Manifest::describing(&s, "t");
        m.contact_count = 2;
        assert_eq!(
            m.verify(&s),
            Err(ManifestError::CountMismatch { said: 2, held: 1 })
        );
        let mut m = Manifest::describing(&s, "t");
        m.payload_bytes += 1;
        assert_eq!(m.verify(&s), Err(ManifestError::ChecksumMismatch));
        let mut m = Manifest::describing(&s, "t");
        m.payload_sha256 = "0".repeat(64);
        assert_eq!(m.verify(&s), Err(ManifestError::ChecksumMismatch));
    }

    #[test]
    fn only_whole_begin_lines_count_as_cards() {
        assert_eq!(
            count_cards("begin:vcard\nBEGIN:VCARD  \r\n BEGIN:VCARD\n"),
            2
        );
        assert_eq!(count_cards("BEGIN:VCARD"), 1, "a last line without newline");
        let long = format!("BEGIN:VCARD{}X\n", " ".repeat(LINE_PREFIX));
        assert_eq!(count_cards(&long), 0, "a long line that starts like one");
        assert_eq!(count_cards("NOTE:BEGIN:VCARD\n"), 0);
    }

    proptest! {
        #[test]
        fn pieces_of_any_size_measure_as_the_whole(
            text in "(BEGIN:VCARD\r?\n|[a-z: ]{0,80}\r?\n){0,20}",
            cuts in proptest::collection::vec(0usize..2000, 0..6),
        ) {
            let whole = measure(text.as_bytes()).unwrap();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (text.len() + 1)).collect();
            cuts.sort_unstable();
            let mut meter = PayloadMeter::new();
            let mut from = 0;
            for c in cuts.into_iter().chain([text.len()]) {
                meter.update(&text.as_bytes()[from..c]).unwrap();
                from = c;
            }
            prop_assert_eq!(meter.finish(), whole.clone());
            let lines = text.lines().filter(|l| l.trim_end().eq_ignore_ascii_case("BEGIN:VCARD")).count();
            prop_assert_eq!(whole.cards, lines as u64);
        }
    }
}
