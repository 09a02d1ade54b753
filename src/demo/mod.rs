//! `contacts-agent demo`: the reference server on loopback with a seeded company, one
//! enrolled phone, and the policy walk from the product description, each step checked.

pub mod admin;
pub mod fleet;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use contacts_agent_protocol::fields::{self, AllowList};
use contacts_agent_protocol::{ContactData, Field, PhoneKind};
use contacts_agent_server::testing::{Leaf, TestCa};
use contacts_agent_server::{seed, Config, Server, TlsFiles};
use serde_json::{json, Value};

use crate::agent::{Agent, AgentConfig};
use crate::status_table;
use crate::store::sqlite::SqliteStore;
use crate::store::{Address, ContactStore, Item, PersonalData};
use crate::tls::Trust;
use admin::{AdminClient, AdminError};

pub const ACCOUNT_TYPE: &str = "app.contactsagent.business";
/// The phone user's own contacts in the demo.
const PERSONAL_CONTACTS: usize = 60;
/// Harvey's members who get a photo on the server, so the allow-list step has photos to
/// take away.
const PHOTOS: usize = 10;
/// The allow-list of step (e): everything but photos and private numbers (mobile, home).
const NO_PHOTOS_NO_PRIVATE_NUMBERS: [Field; 8] = [
    Field::Organization,
    Field::WorkPhones,
    Field::OtherPhones,
    Field::WorkEmails,
    Field::HomeEmails,
    Field::OtherEmails,
    Field::Addresses,
    Field::Note,
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo setup failed: {0}")]
    Setup(String),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Agent(#[from] crate::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("check failed in step {step}: {what}")]
    Check { step: &'static str, what: String },
}

pub struct DemoOptions {
    pub users: usize,
    /// Where the server database, the phone and the agent state go (a fresh temporary
    /// folder when `None`).
    pub workdir: Option<PathBuf>,
    /// Serve https with a certificate from a CA made for the demo, which the phone (and the
    /// admin client) trust through their configuration, as an on-premises MDM would be.
    pub tls: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            users: 2000,
            workdir: None,
            tls: false,
        }
    }
}

/// What a finished demo leaves running when asked to (`--serve`).
pub struct Demo {
    pub server: Server,
    pub admin_token: String,
    pub device_id: String,
    pub agent: Agent<SqliteStore>,
    pub workdir: PathBuf,
    cleanup: bool,
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.cleanup {
            let _ = std::fs::remove_dir_all(&self.workdir);
        }
    }
}

/// A CA made for this demo and a server certificate for 127.0.0.1 it signs: the files the
/// server serves, and the trust the phone is configured with (the CA is also written to
/// `demo-ca.crt`, for `contacts-agent --ca-cert`).
fn demo_tls(workdir: &Path) -> Result<(Option<TlsFiles>, Trust), DemoError> {
    let ca = TestCa::new("contacts-agent demo CA").map_err(setup_err)?;
    let files = ca
        .leaf(Leaf::Good)
        .map_err(setup_err)?
        .write(workdir, "demo-server")
        .map_err(setup_err)?;
    std::fs::write(workdir.join("demo-ca.crt"), ca.cert_pem()).map_err(setup_err)?;
    let trust = Trust {
        extra_ca_pem: Some(ca.cert_pem()),
        spki_pins: Vec::new(),
    };
    Ok((Some(files), trust))
}

fn setup_err(e: impl std::fmt::Display) -> DemoError {
    DemoError::Setup(e.to_string())
}

fn random_token() -> Result<String, DemoError> {
    let mut buf = [0u8; 24];
    getrandom::fill(&mut buf).map_err(setup_err)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The phone user's own contacts: every field a backup must carry (several addresses,
/// birthday, notes with commas and newlines, a photo, non-ASCII text).
fn personal(i: usize) -> PersonalData {
    let names = [
        ("Mama", ""),
        ("Dentist", "Dr Kowal"),
        ("Pizza", "Roma"),
        ("Jan", "Sąsiad"),
        ("Ola", "Z Siłowni"),
    ];
    let (g, f) = names[i % names.len()];
    let given = if i < names.len() {
        g.to_owned()
    } else {
        format!("{g} {i}")
    };
    PersonalData {
        display_name: format!("{given} {f}").trim().into(),
        given_name: given,
        family_name: f.into(),
        phones: vec![Item::new(&format!("+48 700 000 {i:03}"), "home")],
        emails: vec![Item::new(&format!("personal{i}@home.example"), "home")],
        addresses: (0..i % 3)
            .map(|k| Address {
                kind: if k == 0 { "home" } else { "work" }.into(),
                street: format!("ul. Polna {i}\nm. {k}"),
                city: "Łódź".into(),
                ..Default::default()
            })
            .collect(),
        notes: if i.is_multiple_of(4) {
            vec![format!("Gate code {i}, ring twice; bring cake")]
        } else {
            vec![]
        },
        events: i
            .is_multiple_of(5)
            .then(|| {
                let date = format!("19{:02}-0{}-1{}", 50 + i % 40, 1 + i % 9, i % 10);
                Item::new(&date, "birthday")
            })
            .into_iter()
            .collect(),
        // A JPEG header and some body (not a viewable image; enough to travel as one).
        photo: i.is_multiple_of(7).then(|| {
            let body = (0..2000u32)
                .map(|b| (b.wrapping_mul(2_654_435_761).wrapping_add(i as u32) >> 11) as u8);
            [0xFF, 0xD8, 0xFF, 0xE0].into_iter().chain(body).collect()
        }),
        ..Default::default()
    }
}

struct Walk<'a> {
    out: &'a mut dyn Write,
    admin: AdminClient,
    device: String,
    personal_before: (usize, String),
}

impl Walk<'_> {
    fn say(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
    }

    fn members(&self, group: &str) -> Result<BTreeSet<String>, DemoError> {
        let ids: Vec<String> = self
            .admin
            .get(&format!("/v1/admin/groups/{group}/members"))?;
        Ok(ids.into_iter().collect())
    }

    /// The phone's contact groups (what its Contacts app filters by) are the entitled MDM
    /// groups that have members, each with the server's name and member count.
    fn check_groups(
        &mut self,
        step: &'static str,
        agent: &mut Agent<SqliteStore>,
        groups: &[&str],
    ) -> Result<(), DemoError> {
        let mut expected = Vec::new();
        for g in groups {
            let group: Value = self.admin.get(&format!("/v1/admin/groups/{g}"))?;
            let members = self.members(g)?.len() as u64;
            if members > 0 {
                expected.push((
                    group["name"].as_str().unwrap_or_default().to_owned(),
                    members,
                ));
            }
        }
        expected.sort();
        let on_phone = agent.store().group_summary()?;
        let shown: Vec<String> = on_phone
            .iter()
            .map(|(title, n)| format!("{title}: {n} contacts"))
            .collect();
        if on_phone != expected {
            return Err(DemoError::Check {
                step,
                what: format!(
                    "the phone's groups are [{}], expected {} groups",
                    shown.join(", "),
                    expected.len()
                ),
            });
        }
        self.say(&format!(
            "  ✔ Groups on the phone: {}",
            if shown.is_empty() {
                "none".to_owned()
            } else {
                shown.join(", ")
            }
        ));
        Ok(())
    }

    fn set_policy(&self, basic: &str, groups: &[&str]) -> Result<(), DemoError> {
        self.set_policy_with_backup(basic, groups, "off")
    }

    fn set_policy_with_backup(
        &self,
        basic: &str,
        groups: &[&str],
        backup: &str,
    ) -> Result<(), DemoError> {
        let _: Value = self.admin.put(
            "/v1/admin/policies/demo",
            &json!({ "name": "Demo policy", "basic_type": basic, "additional_groups": groups,
                     "sync_interval": "daily", "backup_interval": backup }),
        )?;
        Ok(())
    }

    /// All groups, sending only `allowed` (and the name).
    fn set_policy_fields(&self, allowed: &[Field]) -> Result<(), DemoError> {
        let _: Value = self.admin.put(
            "/v1/admin/policies/demo",
            &json!({ "name": "Demo policy", "basic_type": "all_groups", "sync_interval": "daily",
                     "fields": allowed }),
        )?;
        Ok(())
    }

    /// Every user's contact as the server keeps it, by id.
    fn directory(&self) -> Result<std::collections::BTreeMap<String, ContactData>, DemoError> {
        let mut out = std::collections::BTreeMap::new();
        loop {
            let page: Value = self
                .admin
                .get(&format!("/v1/admin/users?limit=1000&offset={}", out.len()))?;
            let items = page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if items.is_empty() {
                return Ok(out);
            }
            for u in items {
                let contact = serde_json::from_value(u["contact"].clone()).map_err(setup_err)?;
                out.insert(u["id"].as_str().unwrap_or_default().to_owned(), contact);
            }
        }
    }

    /// Runs the agent as the OS scheduler would, then checks the phone against `expected`
    /// and prints the console's status block.
    fn check(
        &mut self,
        step: &'static str,
        agent: &mut Agent<SqliteStore>,
        expected: &BTreeSet<String>,
        groups: &[&str],
    ) -> Result<(), DemoError> {
        let ran = agent.run_due()?;
        match ran.sync {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                return Err(DemoError::Check {
                    step,
                    what: format!("the sync failed: {e}"),
                })
            }
            None => {
                return Err(DemoError::Check {
                    step,
                    what: "no sync was due".into(),
                })
            }
        }
        let held: BTreeSet<String> = agent
            .store()
            .managed_index()?
            .into_iter()
            .map(|e| e.id)
            .collect();
        if &held != expected {
            let missing = expected.difference(&held).count();
            let extra = held.difference(expected).count();
            return Err(DemoError::Check {
                step,
                what: format!("phone holds {} managed contacts, expected {} ({missing} missing, {extra} extra)", held.len(), expected.len()),
            });
        }
        let personal_now = agent.store().personal_fingerprint()?;
        if personal_now != self.personal_before {
            return Err(DemoError::Check {
                step,
                what: "personal contacts changed".into(),
            });
        }
        let status: Value = self
            .admin
            .get(&format!("/v1/admin/devices/{}/status", self.device))?;
        if status["contacts_on_device"].as_u64() != Some(expected.len() as u64)
            || status["contacts_verified"] != json!(true)
        {
            return Err(DemoError::Check {
                step,
                what: format!(
                    "the console shows {} contacts (verified: {}), expected {}",
                    status["contacts_on_device"],
                    status["contacts_verified"],
                    expected.len()
                ),
            });
        }
        // Counted as the user sees them: the fingerprint's count includes the tombstones a
        // sync-adapter account's deleted contacts leave.
        let personal = personal_keys(agent)?.len();
        self.say(&format!(
            "  ✔ {} managed contacts on the phone, exactly the expected set; {personal} personal contacts untouched",
            held.len(),
        ));
        self.check_groups(step, agent, groups)?;
        self.say("  Console — Sync status:");
        for (label, key) in [
            ("Sync type", "sync_type_label"),
            ("Sync interval", "sync_interval_label"),
            ("Next expected contacts sync", "next_expected_sync"),
            ("Last contacts sync", "last_sync"),
            ("Last result", "last_sync_result"),
            ("Contacts on device", "contacts_on_device"),
        ] {
            let v = match &status[key] {
                Value::String(s) => s.clone(),
                Value::Null => "—".into(),
                other => other.to_string(),
            };
            self.say(&format!("    {label:<28} {v}"));
        }
        Ok(())
    }
}

/// Runs the whole demo, writing what happens to `out`. Returns the running pieces so the
/// caller can keep serving (`--serve`) or drop them.
pub fn run(opts: DemoOptions, out: &mut dyn Write) -> Result<Demo, DemoError> {
    let (workdir, cleanup) = match opts.workdir {
        Some(d) => (d, false),
        None => {
            let d = std::env::temp_dir().join(format!(
                "contacts-agent-demo-{}-{}",
                std::process::id(),
                random_token()?.get(..8).unwrap_or("x")
            ));
            (d, true)
        }
    };
    std::fs::create_dir_all(&workdir).map_err(setup_err)?;
    let admin_token = random_token()?;
    let db_path = workdir.join("server.db");
    {
        let conn = contacts_agent_server::db::open(&db_path).map_err(setup_err)?;
        seed::seed_company(&conn, opts.users, 42).map_err(setup_err)?;
    }
    let (tls, trust) = if opts.tls {
        demo_tls(&workdir)?
    } else {
        (None, Trust::default())
    };
    let server = Server::start(Config {
        tls,
        ..Config::local(db_path, &admin_token)
    })
    .map_err(setup_err)?;
    let _ = writeln!(
        out,
        "Reference server on {} with {} seeded users in {} groups",
        server.url(),
        opts.users,
        seed::GROUPS.len()
    );
    if opts.tls {
        let _ = writeln!(
            out,
            "Over https, with a certificate from the demo's own CA ({}), which the phone trusts by configuration",
            workdir.join("demo-ca.crt").display()
        );
    }
    let admin = AdminClient::with_trust(&server.url(), &admin_token, &trust).map_err(setup_err)?;

    // The phone's user: someone in exactly two groups, neither of them Harvey or Mike.
    let users: Value = admin.get("/v1/admin/users?limit=1000")?;
    let user = users["items"]
        .as_array()
        .and_then(|items| {
            items.iter().find(|u| {
                let g = u["groups"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                g.len() == 2 && !g.iter().any(|x| x == "harvey" || x == "mike")
            })
        })
        .ok_or_else(|| DemoError::Setup("no user in exactly two groups in the seed".into()))?;
    let user_id = user["id"].as_str().unwrap_or_default().to_owned();
    let user_groups: Vec<String> = user["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let extra_group = seed::GROUPS
        .iter()
        .map(|(id, _)| *id)
        .find(|g| !user_groups.iter().any(|u| u == g) && *g != "harvey" && *g != "mike")
        .unwrap_or("finance");

    let _: Value = admin.post(
        "/v1/admin/policies",
        &json!({ "id": "demo", "name": "Demo policy", "basic_type": "none",
                 "additional_groups": ["harvey", "mike"], "sync_interval": "daily", "backup_interval": "off" }),
    )?;
    let created: Value = admin.post(
        "/v1/admin/devices",
        &json!({ "name": "Demo phone", "user_id": user_id, "policy_id": "demo" }),
    )?;
    let device = created["device"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let code = created["enrollment_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let mut store = SqliteStore::open(&workdir.join("phone.db"), ACCOUNT_TYPE)?;
    let people: Vec<PersonalData> = (0..PERSONAL_CONTACTS).map(personal).collect();
    let (local, google) = people.split_at(PERSONAL_CONTACTS / 2);
    // Half of them in a Google account signed in on the phone: a restore puts those back
    // into it.
    let google_account = crate::store::SourceAccount {
        kind: "com.google".into(),
        name: "ola@gmail.example".into(),
    };
    store.add_account(&google_account)?;
    store.insert_personal(None, local)?;
    store.insert_personal(Some(&google_account), google)?;
    let personal_before = store.personal_fingerprint()?;
    let mut agent_config = AgentConfig::new(workdir.join("agent-state.db"));
    agent_config.client.trust = trust;
    let mut agent = Agent::open(agent_config, store)?;
    agent.enroll(&server.url(), &code, "Demo phone", true)?;
    let _ = writeln!(out, "Enrolled device {device} (its user is in groups {}); the phone holds {} personal contacts\n", user_groups.join(" and "), personal_before.0);

    let mut walk = Walk {
        out,
        admin,
        device: device.clone(),
        personal_before,
    };

    for id in walk.members("harvey")?.iter().take(PHOTOS) {
        let (status, _) = walk.admin.raw(
            "PUT",
            &format!("/v1/admin/users/{id}/photo"),
            Some(&demo_photo(id)),
        )?;
        if status != 204 {
            return Err(DemoError::Setup(format!(
                "photo upload answered HTTP {status}"
            )));
        }
    }

    walk.say("(a) No contacts + additional groups Harvey and Mike");
    let expected = &walk.members("harvey")? | &walk.members("mike")?;
    walk.check("a", &mut agent, &expected, &["harvey", "mike"])?;

    walk.say(&format!(
        "\n(b) Contacts from the user's groups ({}) + additional group {extra_group}",
        user_groups.join(", ")
    ));
    walk.set_policy("user_groups", &[extra_group])?;
    let mut expected = walk.members(extra_group)?;
    for g in &user_groups {
        expected.extend(walk.members(g)?);
    }
    let mut entitled: Vec<&str> = user_groups.iter().map(String::as_str).collect();
    entitled.push(extra_group);
    walk.check("b", &mut agent, &expected, &entitled)?;

    walk.say("\n(c) Contacts from all groups");
    walk.set_policy("all_groups", &[])?;
    let mut expected = BTreeSet::new();
    for (g, _) in seed::GROUPS {
        expected.extend(walk.members(g)?);
    }
    let every: Vec<&str> = seed::GROUPS.iter().map(|(g, _)| *g).collect();
    walk.check("c", &mut agent, &expected, &every)?;

    walk.say("\n(c2) The admin renames group Mike to \"Mike's team\" and presses \"Synchronize contacts\"");
    let _: Value = walk
        .admin
        .put("/v1/admin/groups/mike", &json!({ "name": "Mike's team" }))?;
    let _: Value = walk
        .admin
        .post(&format!("/v1/admin/devices/{device}/sync"), &json!({}))?;
    walk.check("c2", &mut agent, &expected, &every)?;

    walk.say("\n(d) The server changes contacts, the phone's user edits and deletes business contacts, the admin presses \"Synchronize contacts\"");
    let ids: Vec<String> = expected.iter().take(5).cloned().collect();
    for id in ids.iter().take(3) {
        let mut u: Value = walk.admin.get(&format!("/v1/admin/users/{id}"))?;
        u["contact"]["title"] = json!("Managing Partner");
        let _: Value = walk
            .admin
            .put(&format!("/v1/admin/users/{id}"), &u["contact"])?;
    }
    walk.admin.delete(&format!("/v1/admin/users/{}", ids[3]))?;
    expected.remove(&ids[3]);
    let edited = ids.get(4).cloned().unwrap_or_default();
    // Our rows are read-only, so an in-place edit is ignored by the provider; what does land
    // is a row the user adds (a number), which the provider marks DIRTY.
    agent.store().user_adds_phone(&edited, "+48 000 000 000")?;
    let deleted_by_user = expected.iter().nth(10).cloned().unwrap_or_default();
    agent.store().user_deletes_managed(&deleted_by_user)?;
    let _: Value = walk
        .admin
        .post(&format!("/v1/admin/devices/{device}/sync"), &json!({}))?;
    walk.check("d", &mut agent, &expected, &every)?;
    let on_phone = agent.managed_contacts(0, usize::MAX)?;
    let changed_ok = ids.iter().take(3).all(|id| {
        on_phone
            .iter()
            .any(|c| &c.id == id && c.data.title.as_deref() == Some("Managing Partner"))
    });
    let restored = on_phone
        .iter()
        .any(|c| c.id == edited && c.data.phones.iter().all(|p| p.number != "+48 000 000 000"))
        && on_phone.iter().any(|c| c.id == deleted_by_user);
    if !changed_ok || !restored {
        return Err(DemoError::Check {
            step: "d",
            what: format!("server changes applied: {changed_ok}; user edits put back: {restored}"),
        });
    }
    let pending: Vec<Value> = walk
        .admin
        .get(&format!("/v1/admin/devices/{device}/commands"))?;
    if pending.iter().any(|c| c["completed_at"].is_null()) {
        return Err(DemoError::Check {
            step: "d",
            what: "the force-sync command is still pending".into(),
        });
    }
    walk.say("  ✔ 3 changed contacts updated, 1 deleted contact removed, the user's edit and deletion put back, command completed");

    allow_list_step(&mut walk, &mut agent, &expected, &every)?;

    walk.say("\n(f) No contacts, no additional groups");
    walk.set_policy("none", &[])?;
    walk.check("f", &mut agent, &BTreeSet::new(), &[])?;

    walk.say("\nEvery sync step checked out; personal contacts were never touched.");

    walk.say(
        "\n(g) The policy turns on daily backups; the user then loses some contacts and restores",
    );
    walk.set_policy_with_backup("none", &[], "daily")?;
    backup_and_restore(&mut walk, &mut agent)?;

    // The demo leaves the phone holding contacts, so that a console opened after it (with
    // `--serve`) shows a device with something on it.
    walk.say(&format!(
        "\n(h) The phone ends on the user's groups ({}) + Harvey, synced daily, backed up daily",
        user_groups.join(", ")
    ));
    walk.set_policy_with_backup("user_groups", &["harvey"], "daily")?;
    // The restore re-inserted a third of the personal contacts (same content, new rows):
    // from here on the phone's personal side is what the restore left.
    walk.personal_before = agent.store().personal_fingerprint()?;
    let mut expected = walk.members("harvey")?;
    let mut entitled: Vec<&str> = user_groups.iter().map(String::as_str).collect();
    for g in &user_groups {
        expected.extend(walk.members(g)?);
    }
    entitled.push("harvey");
    walk.check("h", &mut agent, &expected, &entitled)?;
    walk.say("\nThe phone's own view (`contacts-agent status`):");
    let table = status_table::render(&agent.status()?);
    walk.say(&table);
    Ok(Demo {
        server,
        admin_token,
        device_id: device,
        agent,
        workdir,
        cleanup,
    })
}

/// A JPEG header and a body of its own for each contact (not a viewable image; enough to
/// travel as one).
fn demo_photo(id: &str) -> Vec<u8> {
    let seed = id
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let body = (0..1500u32).map(|b| (b.wrapping_mul(2_654_435_761) ^ seed).to_le_bytes()[1]);
    [0xFF, 0xD8, 0xFF, 0xE0].into_iter().chain(body).collect()
}

/// Step (e): the policy stops sending photos and private numbers; the phone must lose
/// exactly those, and keep every other field of every contact as the server has it.
fn allow_list_step(
    walk: &mut Walk,
    agent: &mut Agent<SqliteStore>,
    expected: &BTreeSet<String>,
    groups: &[&str],
) -> Result<(), DemoError> {
    let step = "e";
    walk.say("\n(e) The policy's field allow-list stops sending photos and private numbers (mobile, home)");
    let private = |c: &ContactData| {
        c.phones
            .iter()
            .filter(|p| matches!(p.kind, PhoneKind::Mobile | PhoneKind::Home))
            .count()
    };
    let before = agent.managed_contacts(0, usize::MAX)?;
    let photos_before = before.iter().filter(|c| c.has_photo).count();
    let private_before: usize = before.iter().map(|c| private(&c.data)).sum();
    if photos_before == 0 || private_before == 0 {
        return Err(DemoError::Check {
            step,
            what: format!("before the change the phone holds {photos_before} photos and {private_before} private numbers: nothing to take away"),
        });
    }
    walk.set_policy_fields(&NO_PHOTOS_NO_PRIVATE_NUMBERS)?;
    walk.check(step, agent, expected, groups)?;
    let allowed = AllowList::of(&NO_PHOTOS_NO_PRIVATE_NUMBERS);
    let directory = walk.directory()?;
    let after = agent.managed_contacts(0, usize::MAX)?;
    let photos_after = after.iter().filter(|c| c.has_photo).count();
    let private_after: usize = after.iter().map(|c| private(&c.data)).sum();
    // The rest of each contact: exactly the server's contact, filtered.
    let differing = after
        .iter()
        .filter(|c| {
            directory
                .get(&c.id)
                // The groups are the phone's memberships, checked by `check`.
                .is_none_or(|d| {
                    fields::filter(d, &allowed)
                        != ContactData {
                            groups: Vec::new(),
                            ..c.data.clone()
                        }
                })
        })
        .count();
    let work_numbers: usize = after
        .iter()
        .map(|c| {
            c.data
                .phones
                .iter()
                .filter(|p| Field::of_phone(&p.kind) == Field::WorkPhones)
                .count()
        })
        .sum();
    let emails: usize = after.iter().map(|c| c.data.emails.len()).sum();
    if photos_after != 0 || private_after != 0 || differing != 0 || work_numbers == 0 {
        return Err(DemoError::Check {
            step,
            what: format!("after the change the phone holds {photos_after} photos, {private_after} private numbers, {work_numbers} work numbers; {differing} contacts differ from the server's allowed fields"),
        });
    }
    walk.say(&format!(
        "  ✔ {photos_before} photos and {private_before} private numbers removed from the phone; \
         {work_numbers} work numbers, {emails} e-mail addresses and every other field of the {} contacts kept as the server has them",
        after.len()
    ));
    Ok(())
}

fn personal_keys(agent: &mut Agent<SqliteStore>) -> Result<Vec<[u8; 32]>, DemoError> {
    let mut keys: Vec<[u8; 32]> = agent
        .store()
        .personal_page(None, usize::MAX / 2)?
        .iter()
        .map(|c| c.data.dedup_key())
        .collect();
    keys.sort_unstable();
    Ok(keys)
}

fn backup_and_restore(walk: &mut Walk, agent: &mut Agent<SqliteStore>) -> Result<(), DemoError> {
    let step = "g";
    let before = personal_keys(agent)?;
    let ran = agent.run_due()?;
    let backup = match ran.backup {
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            return Err(DemoError::Check {
                step,
                what: format!("the backup failed: {e}"),
            })
        }
        None => {
            return Err(DemoError::Check {
                step,
                what: "no backup was due".into(),
            })
        }
    };
    if backup.backup.contact_count != before.len() as u64 {
        return Err(DemoError::Check {
            step,
            what: format!(
                "backup holds {} contacts, the phone {}",
                backup.backup.contact_count,
                before.len()
            ),
        });
    }
    let listed: Vec<Value> = walk
        .admin
        .get(&format!("/v1/admin/devices/{}/backups", walk.device))?;
    if listed.len() != 1 || listed[0]["contact_count"] != json!(before.len()) {
        return Err(DemoError::Check {
            step,
            what: "the console does not list the backup".into(),
        });
    }
    walk.say(&format!(
        "  ✔ backup {} stored on the server: {} personal contacts, {} bytes (no business contacts in it)",
        backup.backup.id, backup.backup.contact_count, backup.backup.size
    ));
    let victims: Vec<i64> = agent
        .store()
        .personal_page(None, 1000)?
        .iter()
        .step_by(3)
        .map(|c| c.raw_id)
        .collect();
    agent.store().user_deletes_personal(&victims)?;
    walk.say(&format!(
        "  The user deletes {} of their contacts by mistake",
        victims.len()
    ));
    let mut progress = |_: u64, _: u64| {};
    let r = agent.restore(None, None, &mut progress)?;
    let after = personal_keys(agent)?;
    if r.restored != victims.len() as u64 || after != before {
        return Err(DemoError::Check {
            step,
            what: format!(
                "restore put back {} of {} (phone has {} personal contacts, had {})",
                r.restored,
                victims.len(),
                after.len(),
                before.len()
            ),
        });
    }
    let again = agent.restore(None, None, &mut progress)?;
    if again.restored != 0 || personal_keys(agent)? != before {
        return Err(DemoError::Check {
            step,
            what: format!("a second restore added {} duplicates", again.restored),
        });
    }
    if agent.store().managed_count()? != 0 {
        return Err(DemoError::Check {
            step,
            what: "restore wrote into the managed account".into(),
        });
    }
    walk.say(&format!(
        "  ✔ restore put back {} contacts ({} were still there); every field matches the original, and a second restore added nothing",
        r.restored, r.already_present
    ));
    Ok(())
}

/// For callers that only need the path of a demo's phone.
pub fn phone_path(workdir: &Path) -> PathBuf {
    workdir.join("phone.db")
}
