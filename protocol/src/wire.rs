//! JSON bodies of the device API. `docs/openapi.yaml` is the normative description; these
//! types are what the device and the reference server serialise.
//!
//! What the device reads ignores fields it does not know (must-ignore); what only the server
//! reads (`EnrollRequest`) stays closed. The protocol version travels in a header both ways.

use serde::{Deserialize, Serialize};

use crate::contact::ContactData;
use crate::policy::{BasicType, SyncInterval};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub enrollment_code: String,
    #[serde(default)]
    pub device_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub device_id: String,
    pub token: String,
}

/// One page of `GET /v1/device/contacts`. `C` is how a contact is held: parsed
/// (`ContactData`, the device) or as the JSON text it is sent as (the server, which writes
/// each contact's stored JSON without parsing it: `contact::append_groups_json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactsPage<C = ContactData> {
    #[serde(default)]
    pub upserts: Vec<Upsert<C>>,
    #[serde(default)]
    pub deletes: Vec<String>,
    /// With `more`, a cursor for the next page; without, the sync token to keep.
    pub next_token: String,
    pub more: bool,
    /// True when this answer is the full set (no `since`, or the server chose to send all):
    /// the device then deletes every managed contact the pages did not name.
    #[serde(default)]
    pub full: bool,
    /// The policy version the server resolved this set with. When it equals the version the
    /// device holds, the device skips fetching the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upsert<C = ContactData> {
    pub id: String,
    pub hash: String,
    pub contact: C,
}

/// What the device reports after each run (and what the console shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub reported_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_type: Option<BasicType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_interval: Option<SyncInterval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_result: Option<String>,
    /// Why the run at `last_sync_at` ran. Absent from agents older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_reason: Option<SyncReason>,
    /// How long the run at `last_sync_at` took, start to end, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_sync_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_sync_at: Option<String>,
    /// Sync token the phone's contacts correspond to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    pub managed_count: u64,
    pub managed_fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup_result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_backup_at: Option<String>,
    /// Commands (force sync) this run carried out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub completed_commands: Vec<String>,
}

/// Why a sync ran: a closed set of words, never free text (the console translates them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncReason {
    /// The interval came round.
    Scheduled,
    /// The admin's "Synchronize contacts" (a `sync_now` command).
    Forced,
    /// A policy version not yet synced (the first sync after enrolling included).
    PolicyApplied,
    /// A retry on the backoff schedule after a failed run.
    Retry,
    /// Someone asked on the phone (the app's button, the CLI's `sync`).
    Manual,
    /// The phone no longer held what the last sync left (contacts deleted or edited there).
    Repair,
    /// A word a newer agent sends that this reader does not know: the run is kept, its
    /// reason shown as unknown, rather than the whole report refused.
    #[serde(other)]
    Unrecognized,
}

impl SyncReason {
    pub const KNOWN: [SyncReason; 6] = [
        SyncReason::Scheduled,
        SyncReason::Forced,
        SyncReason::PolicyApplied,
        SyncReason::Retry,
        SyncReason::Manual,
        SyncReason::Repair,
    ];

    /// The wire word (what serde writes), for storing beside other columns.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncReason::Scheduled => "scheduled",
            SyncReason::Forced => "forced",
            SyncReason::PolicyApplied => "policy_applied",
            SyncReason::Retry => "retry",
            SyncReason::Manual => "manual",
            SyncReason::Repair => "repair",
            SyncReason::Unrecognized => "unrecognized",
        }
    }

    /// The reason a stored word names; `Unrecognized` for any other.
    pub fn parse(word: &str) -> SyncReason {
        SyncReason::KNOWN
            .into_iter()
            .find(|r| r.as_str() == word)
            .unwrap_or(SyncReason::Unrecognized)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandList {
    pub commands: Vec<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub id: String,
    pub kind: CommandKind,
    pub issued_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// The admin's "Synchronize contacts": sync now, whatever the schedule says.
    SyncNow,
    /// The admin retires the device: remove every business contact, then leave management
    /// (`POST /v1/device/retire`, which completes the command). Never listed as done in a
    /// status report.
    Retire,
    /// A command a newer server sends that this agent cannot carry out: left pending.
    #[serde(other)]
    Unrecognized,
}

/// Request and answer header naming the protocol version the message is written in.
pub const PROTOCOL_HEADER: &str = "Contacts-Protocol";
/// Answer header: the versions the server speaks, `<lowest>-<highest>` ("1-1").
pub const PROTOCOL_RANGE_HEADER: &str = "Contacts-Protocol-Supported";
/// The version this crate writes. A change a must-ignore reader survives (a new field, a new
/// enum value with a documented fallback) keeps it; anything else takes a new one
/// (`docs/openapi.yaml`, "Compatibility rules for vendors").
pub const PROTOCOL_VERSION: u32 = 1;

/// Versions a peer speaks, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolRange {
    pub lowest: u32,
    pub highest: u32,
}

impl ProtocolRange {
    /// What this crate speaks.
    pub const OURS: ProtocolRange = ProtocolRange {
        lowest: PROTOCOL_VERSION,
        highest: PROTOCOL_VERSION,
    };

    /// `"1-3"`, or a single `"1"`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (lo, hi) = s.split_once('-').unwrap_or((s, s));
        let range = ProtocolRange {
            lowest: lo.trim().parse().ok()?,
            highest: hi.trim().parse().ok()?,
        };
        (range.lowest <= range.highest).then_some(range)
    }

    pub fn contains(self, version: u32) -> bool {
        (self.lowest..=self.highest).contains(&version)
    }
}

impl std::fmt::Display for ProtocolRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.lowest, self.highest)
    }
}

/// A stored backup of a device's personal contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    pub id: String,
    pub created_at: String,
    /// Archive size in bytes.
    pub size: u64,
    pub contact_count: u64,
    /// SHA-256 of the archive's vCard payload (the upload's idempotency key).
    pub checksum: String,
}

/// Every error body of both APIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// A JSON error's category and position without the text around it: serde's messages quote
/// the offending value, which may be a name or a number, and must not reach logs or status.
pub fn redacted_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let kind = text
        .split(['`', '"'])
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches(':')
        .trim_end_matches(" at line");
    format!("{kind} at line {} column {}", e.line(), e.column())
}

/// Percent-encodes a path segment or query value (RFC 3986 unreserved characters stay), as
/// both sides of the protocol build URLs with ids and tokens in them.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_ranges_parse_both_forms_and_refuse_nonsense() {
        let r = ProtocolRange::parse("1-3");
        assert_eq!(
            r,
            Some(ProtocolRange {
                lowest: 1,
                highest: 3
            })
        );
        assert!(r.is_some_and(|r| r.contains(2) && !r.contains(4)));
        assert_eq!(
            ProtocolRange::parse(" 2 "),
            Some(ProtocolRange {
                lowest: 2,
                highest: 2
            })
        );
        for bad in ["", "3-1", "a", "1-", "-1"] {
            assert_eq!(ProtocolRange::parse(bad), None, "{bad}");
        }
        assert_eq!(ProtocolRange::OURS.to_string(), "1-1");
    }

    #[test]
    fn a_page_from_a_newer_server_reads_and_an_unknown_command_is_kept_apart() {
        let page = r#"{"upserts":[{"id":"1","hash":"h","etag":"e","contact":{"given_name":"A","family_name":"B","display_name":"A B","x":1}}],
            "deletes":[],"next_token":"t","more":false,"full":true,"server_time":"now"}"#;
        let page = serde_json::from_str::<ContactsPage>(page).ok();
        assert_eq!(page.map(|p| p.upserts.len()), Some(1));
        let list = r#"{"commands":[{"id":"1","kind":"wipe_photos","issued_at":"t","by":"x"}]}"#;
        let list = serde_json::from_str::<CommandList>(list).ok();
        assert_eq!(
            list.map(|l| l.commands[0].kind),
            Some(CommandKind::Unrecognized)
        );
    }

    fn report() -> StatusReport {
        StatusReport {
            reported_at: "2026-11-25T20:00:00Z".into(),
            policy_version: Some(3),
            sync_type: Some(BasicType::UserGroups),
            sync_interval: Some(SyncInterval::Daily),
            last_sync_at: Some("2026-11-25T19:59:58Z".into()),
            last_sync_result: Some("ok".into()),
            last_sync_reason: Some(SyncReason::Forced),
            last_sync_duration_ms: Some(1234),
            last_successful_sync_at: Some("2026-11-25T19:59:58Z".into()),
            next_sync_at: None,
            sync_token: Some("t".into()),
            managed_count: 7,
            managed_fingerprint: "f".into(),
            last_backup_at: None,
            last_backup_result: None,
            next_backup_at: None,
            completed_commands: vec!["c-1".into()],
        }
    }

    #[test]
    fn a_status_report_carries_the_runs_reason_and_duration_both_ways() {
        let r = report();
        let json = serde_json::to_value(&r).ok();
        assert_eq!(
            json.as_ref().map(|j| (
                j["last_sync_reason"].clone(),
                j["last_sync_duration_ms"].clone()
            )),
            Some((serde_json::json!("forced"), serde_json::json!(1234)))
        );
        let back = json.and_then(|j| serde_json::from_value::<StatusReport>(j).ok());
        assert_eq!(back, Some(r));
        for reason in SyncReason::KNOWN {
            let word = serde_json::to_value(reason).ok();
            assert_eq!(word, Some(serde_json::json!(reason.as_str())));
            assert_eq!(SyncReason::parse(reason.as_str()), reason);
        }
    }

    #[test]
    fn an_older_agents_report_reads_without_them_and_a_newer_word_is_kept_apart() {
        let mut old = serde_json::to_value(report()).unwrap_or_default();
        if let Some(o) = old.as_object_mut() {
            o.remove("last_sync_reason");
            o.remove("last_sync_duration_ms");
        }
        let read = serde_json::from_value::<StatusReport>(old).ok();
        assert_eq!(
            read.map(|r| (r.last_sync_reason, r.last_sync_duration_ms)),
            Some((None, None))
        );
        let mut newer = serde_json::to_value(report()).unwrap_or_default();
        newer["last_sync_reason"] = serde_json::json!("battery_saver_exit");
        let read = serde_json::from_value::<StatusReport>(newer).ok();
        assert_eq!(
            read.and_then(|r| r.last_sync_reason),
            Some(SyncReason::Unrecognized)
        );
        assert_eq!(
            SyncReason::parse("forced by admin"),
            SyncReason::Unrecognized
        );
        let mut bad = serde_json::to_value(report()).unwrap_or_default();
        bad["last_sync_duration_ms"] = serde_json::json!(-1);
        assert!(serde_json::from_value::<StatusReport>(bad).is_err());
    }

    #[test]
    fn redacted_errors_keep_the_category_and_drop_the_value() {
        let e = serde_json::from_str::<EnrollRequest>(
            r#"{"enrollment_code": 5, "device_name": "Anna's phone"}"#,
        )
        .err();
        let msg = e.map(|e| redacted_json_error(&e)).unwrap_or_default();
        assert!(msg.starts_with("invalid type"), "{msg}");
        assert!(msg.contains("line 1"), "{msg}");
        let e = serde_json::from_str::<Upsert>(
            r#"{"id":"1","hash":"h","contact":{"given_name":"Anna Secret"}}"#,
        )
        .err();
        let msg = e.map(|e| redacted_json_error(&e)).unwrap_or_default();
        assert!(!msg.contains("Secret"), "{msg}");
    }
}
