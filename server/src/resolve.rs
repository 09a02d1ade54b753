//! Which groups a device's policy entitles it to. Pure; the repository turns the groups
//! into their members.

use std::collections::BTreeSet;

use contacts_agent_protocol::BasicType;

/// Groups whose members the device receives:
/// - `none`: the additional groups only;
/// - `user_groups`: the groups of the device's user, plus the additional groups;
/// - `all_groups`: every group (so every user assigned to any group).
pub fn entitled_groups(
    basic_type: BasicType,
    additional: &[String],
    user_groups: &[String],
    all_groups: &[String],
) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = additional.iter().cloned().collect();
    match basic_type {
        BasicType::None => {}
        BasicType::UserGroups => out.extend(user_groups.iter().cloned()),
        BasicType::AllGroups => out.extend(all_groups.iter().cloned()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_three_basic_types_with_additional_groups() {
        let all = s(&["harvey", "mike", "sales", "eng"]);
        let mine = s(&["sales"]);
        let extra = s(&["harvey", "mike"]);
        let none = entitled_groups(BasicType::None, &extra, &mine, &all);
        assert_eq!(
            none,
            ["harvey", "mike"].iter().map(|x| x.to_string()).collect()
        );
        let user = entitled_groups(BasicType::UserGroups, &s(&["mike"]), &mine, &all);
        assert_eq!(
            user,
            ["mike", "sales"].iter().map(|x| x.to_string()).collect()
        );
        let every = entitled_groups(BasicType::AllGroups, &[], &mine, &all);
        assert_eq!(every.len(), 4);
        assert!(entitled_groups(BasicType::None, &[], &mine, &all).is_empty());
    }
}
