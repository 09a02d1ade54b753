//! The device policy's "Advanced" tab: which contacts the phone holds and how often it
//! syncs and backs up.

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BasicType {
    /// Nothing unless additional groups are chosen (the product's default).
    None,
    /// Every group the device's user belongs to, plus additional groups.
    UserGroups,
    /// Every user assigned to any group.
    AllGroups,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncInterval {
    /// Sync exactly once each time a new policy version is applied.
    Disabled,
    Daily,
    Weekly,
    Monthly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupInterval {
    Off,
    Daily,
    Weekly,
    Monthly,
}

/// A policy as the device receives it. `version` increases on every change the admin saves
/// (or on assigning another policy), which is what "the policy was applied again" means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub version: u64,
    pub basic_type: BasicType,
    #[serde(default)]
    pub additional_groups: Vec<String>,
    pub sync_interval: SyncInterval,
    pub backup_interval: BackupInterval,
    /// Device-local hours the periodic syncs and backups run in; absent: the whole day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_window: Option<SyncWindow>,
    /// The first sync after a new policy version is spread over this many minutes per
    /// device; absent or 0: at once (what servers before this field meant). A first
    /// enrollment and a forced sync are always at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_minutes: Option<u32>,
}

/// A span of device-local wall-clock time, minutes after midnight, that may cross midnight
/// (22:00–02:00). Travels as `{"start":"01:00","end":"05:00"}`; start and end differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "WindowWire", into = "WindowWire")]
pub struct SyncWindow {
    start: u16,
    end: u16,
}

#[derive(Serialize, Deserialize)]
struct WindowWire {
    start: String,
    end: String,
}

const MINUTES_PER_DAY: u16 = 24 * 60;

impl SyncWindow {
    /// From minutes after local midnight; an empty window (start = end) or a minute past
    /// the day is refused.
    pub fn new(start: u16, end: u16) -> Result<Self, PolicyError> {
        if start >= MINUTES_PER_DAY || end >= MINUTES_PER_DAY {
            return Err(PolicyError::WindowOutOfDay);
        }
        if start == end {
            return Err(PolicyError::EmptyWindow);
        }
        Ok(SyncWindow { start, end })
    }

    /// From "HH:MM" words, as an admin types them.
    pub fn parse(start: &str, end: &str) -> Result<Self, PolicyError> {
        Self::new(minute_of_day(start)?, minute_of_day(end)?)
    }

    pub fn start_minute(self) -> u16 {
        self.start
    }
    pub fn end_minute(self) -> u16 {
        self.end
    }
    /// Its length on a day without a clock change, in minutes.
    pub fn length_minutes(self) -> u16 {
        (self.end + MINUTES_PER_DAY - self.start) % MINUTES_PER_DAY
    }
    pub fn crosses_midnight(self) -> bool {
        self.end < self.start
    }
    /// "01:00".
    pub fn start_text(self) -> String {
        hh_mm(self.start)
    }
    /// "05:00".
    pub fn end_text(self) -> String {
        hh_mm(self.end)
    }
    /// "01:00–05:00".
    pub fn label(self) -> String {
        format!("{}–{}", self.start_text(), self.end_text())
    }
}

fn minute_of_day(word: &str) -> Result<u16, PolicyError> {
    let bad = || PolicyError::BadTimeOfDay;
    let (h, m) = word.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn hh_mm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

impl TryFrom<WindowWire> for SyncWindow {
    type Error = PolicyError;
    fn try_from(w: WindowWire) -> Result<Self, PolicyError> {
        SyncWindow::parse(&w.start, &w.end)
    }
}

impl From<SyncWindow> for WindowWire {
    fn from(w: SyncWindow) -> Self {
        WindowWire {
            start: hh_mm(w.start),
            end: hh_mm(w.end),
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("policy version must be at least 1")]
    ZeroVersion,
    #[error("policy lists an empty group id among its additional groups")]
    EmptyGroupId,
    #[error("policy lists additional group {0:?} twice")]
    DuplicateGroup(String),
    #[error("policy lists {0} additional groups; at most {max} are allowed", max = Policy::MAX_ADDITIONAL_GROUPS)]
    TooManyGroups(usize),
    #[error("a sync window needs a start and an end that differ")]
    EmptyWindow,
    #[error("a sync window's times are between 00:00 and 23:59")]
    WindowOutOfDay,
    /// The text is not repeated: it is whatever a client sent.
    #[error("a sync window's start and end are times of day, HH:MM from 00:00 to 23:59")]
    BadTimeOfDay,
    #[error("the rollout spread is {0} minutes; at most {max} are allowed", max = Policy::MAX_ROLLOUT_MINUTES)]
    RolloutTooLong(u32),
}

/// Why a device could not take a policy the server sent.
#[derive(Debug, Error)]
pub enum PolicyReadError {
    /// A basic sync type, sync or backup interval this version does not know: a newer server.
    /// Guessing would sync the wrong contacts or at the wrong times, so the device stops.
    #[error("the server sent a policy this agent does not understand ({field}); update the app")]
    NotUnderstood { field: &'static str },
    #[error(transparent)]
    Malformed(#[from] serde_json::Error),
}

impl Policy {
    /// A policy from a server's answer. Unknown fields are ignored (must-ignore); an unknown
    /// value in one of the three enums is `NotUnderstood`, not a parse error, so the device
    /// can say "update the app" rather than "the server is broken".
    pub fn from_json(bytes: &[u8]) -> Result<Policy, PolicyReadError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)?;
        let word = |field: &str| value.get(field).and_then(serde_json::Value::as_str);
        let known = [
            ("basic_type", BasicType::ALL.map(BasicType::as_str).to_vec()),
            (
                "sync_interval",
                SyncInterval::ALL.map(SyncInterval::as_str).to_vec(),
            ),
            (
                "backup_interval",
                BackupInterval::ALL.map(BackupInterval::as_str).to_vec(),
            ),
        ];
        for (field, words) in known {
            if let Some(w) = word(field) {
                if !words.contains(&w) {
                    return Err(PolicyReadError::NotUnderstood { field });
                }
            }
        }
        Ok(serde_json::from_value(value)?)
    }
}

impl Policy {
    pub const MAX_ADDITIONAL_GROUPS: usize = 1000;
    /// A week: longer would leave phones on the old policy for most of an interval.
    pub const MAX_ROLLOUT_MINUTES: u32 = 7 * 24 * 60;

    /// How long the first sync after a new version may wait on this policy, at most.
    pub fn rollout_minutes(&self) -> u32 {
        self.rollout_minutes
            .unwrap_or(0)
            .min(Self::MAX_ROLLOUT_MINUTES)
    }

    /// Checks what a device can check without knowing the server's groups; the server
    /// additionally refuses groups that do not exist.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.version == 0 {
            return Err(PolicyError::ZeroVersion);
        }
        if let Some(m) = self
            .rollout_minutes
            .filter(|m| *m > Self::MAX_ROLLOUT_MINUTES)
        {
            return Err(PolicyError::RolloutTooLong(m));
        }
        if self.additional_groups.len() > Self::MAX_ADDITIONAL_GROUPS {
            return Err(PolicyError::TooManyGroups(self.additional_groups.len()));
        }
        let mut seen = std::collections::HashSet::new();
        for g in &self.additional_groups {
            if g.trim().is_empty() {
                return Err(PolicyError::EmptyGroupId);
            }
            if !seen.insert(g.as_str()) {
                return Err(PolicyError::DuplicateGroup(g.clone()));
            }
        }
        Ok(())
    }
}

impl BasicType {
    pub const ALL: [BasicType; 3] = [BasicType::None, BasicType::UserGroups, BasicType::AllGroups];

    pub fn as_str(self) -> &'static str {
        match self {
            BasicType::None => "none",
            BasicType::UserGroups => "user_groups",
            BasicType::AllGroups => "all_groups",
        }
    }
    /// The console's wording.
    pub fn label(self) -> &'static str {
        match self {
            BasicType::None => "No contacts",
            BasicType::UserGroups => "Contacts from the user's groups",
            BasicType::AllGroups => "Contacts from all groups",
        }
    }
}

impl SyncInterval {
    pub const ALL: [SyncInterval; 4] = [
        SyncInterval::Disabled,
        SyncInterval::Daily,
        SyncInterval::Weekly,
        SyncInterval::Monthly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncInterval::Disabled => "disabled",
            SyncInterval::Daily => "daily",
            SyncInterval::Weekly => "weekly",
            SyncInterval::Monthly => "monthly",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            SyncInterval::Disabled => "Disabled (once per policy)",
            SyncInterval::Daily => "Once a day",
            SyncInterval::Weekly => "Once a week",
            SyncInterval::Monthly => "Once a month",
        }
    }
}

impl BackupInterval {
    pub const ALL: [BackupInterval; 4] = [
        BackupInterval::Off,
        BackupInterval::Daily,
        BackupInterval::Weekly,
        BackupInterval::Monthly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BackupInterval::Off => "off",
            BackupInterval::Daily => "daily",
            BackupInterval::Weekly => "weekly",
            BackupInterval::Monthly => "monthly",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            version: 1,
            basic_type: BasicType::None,
            additional_groups: vec!["g1".into(), "g2".into()],
            sync_interval: SyncInterval::Daily,
            backup_interval: BackupInterval::Off,
            sync_window: None,
            rollout_minutes: None,
        }
    }

    #[test]
    fn a_window_travels_as_hh_mm_and_may_cross_midnight() {
        let json = r#"{"version":1,"basic_type":"none","sync_interval":"daily","backup_interval":"off","sync_window":{"start":"22:30","end":"02:00"}}"#;
        let p = Policy::from_json(json.as_bytes()).ok();
        let w = p.as_ref().and_then(|p| p.sync_window);
        assert_eq!(w, SyncWindow::new(22 * 60 + 30, 120).ok());
        assert_eq!(w.map(SyncWindow::length_minutes), Some(210));
        assert_eq!(w.map(SyncWindow::crosses_midnight), Some(true));
        let back = p.map(|p| serde_json::to_string(&p).unwrap_or_default());
        assert!(
            back.is_some_and(|s| s.contains(r#""sync_window":{"start":"22:30","end":"02:00"}"#))
        );
    }

    #[test]
    fn an_empty_or_malformed_window_is_refused_with_its_reason() {
        assert_eq!(
            SyncWindow::parse("01:00", "01:00"),
            Err(PolicyError::EmptyWindow)
        );
        assert_eq!(
            SyncWindow::parse("24:00", "05:00"),
            Err(PolicyError::BadTimeOfDay)
        );
        assert_eq!(
            SyncWindow::parse("1:00", "05:00"),
            Err(PolicyError::BadTimeOfDay)
        );
        let json = r#"{"version":1,"basic_type":"none","sync_interval":"daily","backup_interval":"off","sync_window":{"start":"03:00","end":"03:00"}}"#;
        let err = Policy::from_json(json.as_bytes())
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("start and an end that differ")));
    }

    #[test]
    fn the_rollout_spread_defaults_to_at_once_and_is_bounded() {
        let mut p = policy();
        assert_eq!(p.rollout_minutes(), 0);
        p.rollout_minutes = Some(60);
        assert_eq!(p.rollout_minutes(), 60);
        p.rollout_minutes = Some(Policy::MAX_ROLLOUT_MINUTES + 1);
        assert_eq!(
            p.validate(),
            Err(PolicyError::RolloutTooLong(Policy::MAX_ROLLOUT_MINUTES + 1))
        );
    }

    #[test]
    fn a_well_formed_policy_validates() {
        assert_eq!(policy().validate(), Ok(()));
    }

    #[test]
    fn duplicate_or_empty_groups_and_version_zero_are_refused() {
        let mut p = policy();
        p.additional_groups.push("g1".into());
        assert_eq!(p.validate(), Err(PolicyError::DuplicateGroup("g1".into())));
        let mut p = policy();
        p.additional_groups.push(" ".into());
        assert_eq!(p.validate(), Err(PolicyError::EmptyGroupId));
        let mut p = policy();
        p.version = 0;
        assert_eq!(p.validate(), Err(PolicyError::ZeroVersion));
    }

    #[test]
    fn unknown_enum_values_are_a_policy_not_understood() {
        let json = r#"{"version":1,"basic_type":"some_groups","sync_interval":"daily","backup_interval":"off"}"#;
        let err = Policy::from_json(json.as_bytes()).err();
        assert!(
            matches!(
                err,
                Some(PolicyReadError::NotUnderstood {
                    field: "basic_type"
                })
            ),
            "{err:?}"
        );
        let json =
            r#"{"version":1,"basic_type":"none","sync_interval":"hourly","backup_interval":"off"}"#;
        let msg = Policy::from_json(json.as_bytes())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            msg.as_deref(),
            Some("the server sent a policy this agent does not understand (sync_interval); update the app")
        );
    }

    #[test]
    fn unknown_policy_fields_are_ignored_and_a_missing_one_is_malformed() {
        let json = r#"{"version":2,"basic_type":"all_groups","sync_interval":"weekly","backup_interval":"daily","fields":["phones"],"x":{"y":1}}"#;
        let p = Policy::from_json(json.as_bytes()).ok();
        assert_eq!(p.map(|p| p.sync_interval), Some(SyncInterval::Weekly));
        let err = Policy::from_json(br#"{"version":2,"basic_type":"none"}"#).err();
        assert!(
            matches!(err, Some(PolicyReadError::Malformed(_))),
            "{err:?}"
        );
    }
}
