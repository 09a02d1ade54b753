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
#[serde(deny_unknown_fields)]
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
    fn unknown_enum_values_do_not_parse() {
        let json = r#"{"version":1,"basic_type":"some_groups","sync_interval":"daily","backup_interval":"off"}"#;
        assert!(serde_json::from_str::<Policy>(json).is_err());
    }
}
