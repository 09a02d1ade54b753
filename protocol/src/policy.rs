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

    /// Checks what a device can check without knowing the server's groups; the server
    /// additionally refuses groups that do not exist.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.version == 0 {
            return Err(PolicyError::ZeroVersion);
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
        }
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
