//! Shared setup for the integration tests: a real reference server on loopback with a
//! seeded company, an admin client, and an agent over a real SQLite phone store.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use contacts_agent::agent::{Agent, AgentConfig};
use contacts_agent::demo::admin::AdminClient;
use contacts_agent::store::sqlite::SqliteStore;
use contacts_agent::store::{
    ContactStore, IndexEntry, PersonalContact, PersonalData, PhoneGroup, SourceAccount, StoreError,
    StoreOp, StoredContact,
};
use contacts_agent_server::{seed, Config, Server};
use serde_json::{json, Value};

pub const ACCOUNT: &str = "app.contactsagent.business";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub struct World {
    pub server: Server,
    pub admin: AdminClient,
    pub dir: tempfile::TempDir,
    pub device: String,
    pub code: String,
}

impl World {
    /// A company of `users` people, a policy `p` (none + Harvey, daily), a device for user 0.
    pub fn new(users: usize) -> World {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("server.db");
        {
            let conn = contacts_agent_server::db::open(&db).unwrap();
            seed::seed_company(&conn, users, 42).unwrap();
        }
        let server = Server::start(Config {
            workers: 2,
            ..Config::local(db, ADMIN_TOKEN)
        })
        .unwrap();
        let admin = AdminClient::new(&server.url(), ADMIN_TOKEN);
        let _: Value = admin
            .post(
                "/v1/admin/policies",
                &json!({"id": "p", "name": "P", "basic_type": "none",
                        "additional_groups": ["harvey"], "sync_interval": "daily"}),
            )
            .unwrap();
        let created: Value = admin
            .post(
                "/v1/admin/devices",
                &json!({"name": "phone", "user_id": seed::user_id(0), "policy_id": "p"}),
            )
            .unwrap();
        World {
            device: created["device"]["id"].as_str().unwrap().to_owned(),
            code: created["enrollment_code"].as_str().unwrap().to_owned(),
            server,
            admin,
            dir,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn set_policy(&self, basic: &str, groups: &[&str], interval: &str) {
        let _: Value = self
            .admin
            .put(
                "/v1/admin/policies/p",
                &json!({"name": "P", "basic_type": basic, "additional_groups": groups,
                        "sync_interval": interval}),
            )
            .unwrap();
    }

    pub fn members(&self, groups: &[&str]) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        for g in groups {
            let ids: Vec<String> = self
                .admin
                .get(&format!("/v1/admin/groups/{g}/members"))
                .unwrap();
            out.extend(ids);
        }
        out
    }

    /// An enrolled agent whose phone holds three personal contacts.
    pub fn agent(&self) -> Agent<SqliteStore> {
        self.agent_with(self.phone())
    }

    pub fn phone(&self) -> SqliteStore {
        let mut store = SqliteStore::open(&self.path("phone.db"), ACCOUNT).unwrap();
        if store.personal_fingerprint().unwrap().0 == 0 {
            for i in 0..3 {
                let c = seed::person(90_000 + i, 7);
                store
                    .add_personal(if i == 0 { None } else { Some("com.google") }, &c)
                    .unwrap();
            }
        }
        store
    }

    pub fn agent_with<S: ContactStore>(&self, store: S) -> Agent<S> {
        let mut config = AgentConfig::new(self.path("state.db"));
        config.page_size = 100;
        config.client.retry_base = std::time::Duration::from_millis(10);
        let mut agent = Agent::open(config, store).unwrap();
        if agent.state().enrollment().unwrap().is_none() {
            agent
                .enroll(&self.server.url(), &self.code, "phone", false)
                .unwrap();
        }
        agent
    }
}

/// Puts the agent on a clock the test moves by hand; returns the hand.
pub fn clocked<S: ContactStore>(
    agent: &mut Agent<S>,
) -> std::sync::Arc<std::sync::Mutex<chrono::DateTime<chrono::Utc>>> {
    let now = std::sync::Arc::new(std::sync::Mutex::new(chrono::Utc::now()));
    let handle = std::sync::Arc::clone(&now);
    agent.set_clock(move || *handle.lock().unwrap());
    now
}

/// The ids and hashes of the managed contacts on a phone.
pub fn held<S: ContactStore>(agent: &mut Agent<S>) -> std::collections::BTreeSet<String> {
    agent
        .store()
        .managed_index()
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// A real SQLite phone that starts failing after `ok_batches` successful batches, like a
/// process killed or a provider crashing mid-sync, or (with `fail_reads`) every call, like a
/// permission revoked. Only injects the failure: everything else is the real store.
pub struct Faulty {
    pub inner: SqliteStore,
    pub ok_batches: usize,
    pub seen: usize,
    pub error: fn() -> StoreError,
    pub fail_reads: bool,
}

impl Faulty {
    pub fn failing_after(inner: SqliteStore, ok_batches: usize) -> Faulty {
        Faulty {
            inner,
            ok_batches,
            seen: 0,
            error: || StoreError::Bridge("injected failure".into()),
            fail_reads: false,
        }
    }

    pub fn healthy(inner: SqliteStore) -> Faulty {
        Faulty::failing_after(inner, usize::MAX)
    }

    fn failing(&self) -> bool {
        self.seen >= self.ok_batches
    }
}

impl ContactStore for Faulty {
    fn managed_index(&mut self) -> Result<Vec<IndexEntry>, StoreError> {
        if self.fail_reads && self.failing() {
            return Err((self.error)());
        }
        self.inner.managed_index()
    }
    fn apply_batch(&mut self, ops: &[StoreOp]) -> Result<(), StoreError> {
        if self.failing() {
            return Err((self.error)());
        }
        self.seen += 1;
        self.inner.apply_batch(ops)
    }
    fn managed_groups(&mut self) -> Result<Vec<PhoneGroup>, StoreError> {
        self.inner.managed_groups()
    }
    fn managed_contacts(&mut self, o: usize, l: usize) -> Result<Vec<StoredContact>, StoreError> {
        self.inner.managed_contacts(o, l)
    }
    fn personal_page(
        &mut self,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<PersonalContact>, StoreError> {
        self.inner.personal_page(after, limit)
    }
    fn check_personal_account(&self, account: Option<&SourceAccount>) -> Result<(), StoreError> {
        self.inner.check_personal_account(account)
    }
    fn personal_accounts(&mut self) -> Result<Vec<SourceAccount>, StoreError> {
        self.inner.personal_accounts()
    }
    fn insert_personal(
        &mut self,
        account: Option<&SourceAccount>,
        c: &[PersonalData],
    ) -> Result<(), StoreError> {
        self.inner.insert_personal(account, c)
    }
}

/// An agent over a fresh phone in `dir` already enrolled at `addr` (a scripted test server,
/// plain http on loopback): the phone holds `managed` and one personal contact ("Mama").
/// Retries are quick; `tweak` adjusts the rest of the configuration.
pub fn phone_enrolled_at(
    addr: std::net::SocketAddr,
    dir: &std::path::Path,
    managed: &[StoreOp],
    tweak: impl FnOnce(&mut AgentConfig),
) -> Agent<SqliteStore> {
    let mut store = SqliteStore::open(&dir.join("phone.db"), "biz").unwrap();
    store.apply_batch(managed).unwrap();
    let personal = contacts_agent_protocol::ContactData {
        given_name: "Mama".into(),
        display_name: "Mama".into(),
        ..Default::default()
    };
    store.add_personal(None, &personal).unwrap();
    let mut config = AgentConfig::new(dir.join("state.db"));
    config.client.retry_base = std::time::Duration::from_millis(5);
    config.client.request_timeout = std::time::Duration::from_secs(5);
    tweak(&mut config);
    let agent = Agent::open(config, store).unwrap();
    agent
        .state()
        .set_enrollment(
            &contacts_agent::state::Enrollment {
                server_url: format!("http://{addr}"),
                device_id: "d-1".into(),
                token: "device-token".into(),
            },
            chrono::Utc::now(),
        )
        .unwrap();
    agent
}
