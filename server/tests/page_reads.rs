//! A page's contacts read at once (issue 13): `repo::contacts_for_device` reads the users and
//! the memberships over the page's id range in one statement each, and falls back to one
//! lookup per contact when the range holds many more users than the page. Either way it must
//! give, for every id, exactly what `repo::contact_for_device` gives alone: the same hash and
//! the same JSON, with and without a field allow-list, for neighbours, for ids far apart, and
//! for an id no longer in the directory. On whichever backend the suite runs on.
#![allow(clippy::unwrap_used)]

mod common;

use common::fresh_database;
use contacts_agent_protocol::fields::{AllowList, Field};
use contacts_agent_server::{db, repo, seed};

#[test]
fn a_page_read_at_once_equals_each_contact_read_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (database, _drop) = fresh_database(dir.path());
    let conn = db::open(&database).unwrap();
    seed::seed_company(&conn, 300, 7).unwrap();
    let ids: Vec<String> = (0..300).map(|i| format!("u-{i:06}")).collect();
    let id = |i: usize| ids[i].as_str();
    let pages: Vec<Vec<&str>> = vec![
        // Neighbours: read by range.
        (40..90).map(id).collect(),
        // A neighbourhood with one id no longer in the directory.
        vec![id(5), "u-000005x", id(6), id(7)],
        // Far apart: the range holds ~300 users for 3 ids, read one by one.
        vec![id(0), id(150), id(299)],
        // One id, and none.
        vec![id(12)],
        vec![],
    ];
    let allow = AllowList::of(&[Field::Name, Field::MobilePhones]);
    for groups_json in [
        r#"["harvey","mike"]"#,
        r#"["engineering","finance","harvey","legal","management","marketing","mike","operations","sales","support"]"#,
        r#"[]"#,
    ] {
        for allowed in [None, Some(&allow)] {
            for page in &pages {
                let groups = repo::EntitledGroups::read(&conn, groups_json).unwrap();
                let at_once = repo::contacts_for_device(&conn, page, &groups, allowed).unwrap();
                let alone: Vec<_> = page
                    .iter()
                    .map(|i| repo::contact_for_device(&conn, i, &groups, allowed).unwrap())
                    .collect();
                assert_eq!(at_once, alone, "{groups_json} {page:?}");
                assert_eq!(
                    at_once.iter().filter(|c| c.is_none()).count(),
                    page.iter().filter(|i| i.ends_with('x')).count()
                );
            }
        }
    }
}
