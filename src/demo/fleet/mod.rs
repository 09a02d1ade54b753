//! The fleet load generator (`cargo bench --bench fleet`): N simulated phones, each syncing
//! as `run_due` does, against the reference server on loopback (or any server by URL), in
//! rounds of one sync per phone, and what each kind of sync costs the server.
//!
//! Rounds, in order: every phone's first sync; a sync with nothing changed; a sync after
//! an unrelated change (a new device created; a user in no group edited); a sync after a
//! relevant change (one user every phone holds edited). Then the no-change and relevant
//! rounds again with 1, 4 and 8 concurrent clients for syncs per second and latency.
//! Bounded: `devices` phones, one sync each per round, nothing but loopback by default.

pub mod backend;
pub mod phone;
pub mod report;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use contacts_agent_server::seed;
use serde_json::{json, Value};

use super::admin::{AdminClient, AdminError};
pub use backend::{serve_child_if_asked, ServerChoice};
use backend::{Backend, BackendError, Probe};
use phone::{Interner, Phone, PhoneError, RunStats};
pub use report::{FleetReport, Kind, Round};

pub const POLICY: &str = "fleet-all";
/// A user in no group: editing them changes nothing an all-groups phone holds.
pub const OUTSIDER: &str = "fleet-outsider";

#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub devices: usize,
    /// People seeded into the reference server (not used with an external one).
    pub users: usize,
    /// Concurrent clients for the rounds by kind.
    pub clients: usize,
    /// Concurrent clients of the throughput rounds.
    pub throughput_clients: Vec<usize>,
    /// Contacts per page the phones ask for (the agent's default).
    pub page_size: usize,
    pub server: ServerChoice,
    /// Where the server's database goes; a fresh temporary folder, removed after, if `None`.
    pub workdir: Option<PathBuf>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            devices: 200,
            users: 10_000,
            clients: 4,
            throughput_clients: vec![1, 4, 8],
            page_size: 500,
            server: ServerChoice::Child { workers: 4 },
            workdir: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("fleet setup: {0}")]
    Setup(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("phone {phone}: {source}")]
    Phone { phone: String, source: PhoneError },
}

/// A temporary folder removed when dropped (the server's database can be large).
struct Workdir {
    path: PathBuf,
    remove: bool,
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Runs the whole fleet, writing progress to `out`; returns the figures.
pub fn run(opts: &FleetOptions, out: &mut dyn Write) -> Result<FleetReport, FleetError> {
    let setup = |e: std::io::Error| FleetError::Setup(e.to_string());
    let workdir = match &opts.workdir {
        Some(p) => Workdir {
            path: p.clone(),
            remove: false,
        },
        None => Workdir {
            path: std::env::temp_dir().join(format!("contacts-fleet-{}", std::process::id())),
            remove: true,
        },
    };
    std::fs::create_dir_all(&workdir.path).map_err(setup)?;
    let backend = Backend::start(&opts.server, &workdir.path, opts.users)?;
    let admin = AdminClient::new(&backend.urls[0], &backend.admin_token);
    let mut world = World {
        admin,
        relevant: String::new(),
        changes: 0,
    };
    world.prepare()?;
    let storage_before = backend.probe.storage();

    let t = Instant::now();
    let mut phones = Vec::with_capacity(opts.devices);
    for i in 0..opts.devices {
        let name = format!("fleet-{i:06}");
        let code = world.new_device(&name)?;
        let url = &backend.urls[i % backend.urls.len()];
        let phone = Phone::enroll(url, &code, &name).map_err(|source| FleetError::Phone {
            phone: name,
            source,
        })?;
        phones.push(Mutex::new(phone));
    }
    let _ = writeln!(
        out,
        "{} devices created and enrolled in {:.1} s",
        opts.devices,
        t.elapsed().as_secs_f64()
    );

    let sets = Interner::default();
    let fleet = Fleet {
        phones: &phones,
        urls: &backend.urls,
        rounds_done: AtomicUsize::new(0),
        page_size: opts.page_size,
        sets: &sets,
        probe: &backend.probe,
    };
    let mut rounds = Vec::new();
    let mut go = |kind: Kind, clients: usize, out: &mut dyn Write| {
        let r = fleet.round(kind, clients);
        let _ = writeln!(out, "{}", r.progress_line());
        rounds.push(r);
    };
    go(Kind::First, opts.clients, out);
    let storage_first = backend.probe.storage();
    go(Kind::NoChange, opts.clients, out);
    world.new_device("fleet-unrelated")?;
    go(Kind::UnrelatedDevice, opts.clients, out);
    world.edit_user(OUTSIDER)?;
    go(Kind::UnrelatedUser, opts.clients, out);
    world.edit_relevant()?;
    go(Kind::Relevant, opts.clients, out);
    for &c in &opts.throughput_clients {
        go(Kind::NoChange, c, out);
        world.edit_relevant()?;
        go(Kind::Relevant, c, out);
    }
    let contacts_per_device = phones
        .first()
        .map(|p| p.lock().unwrap_or_else(|e| e.into_inner()).held().len())
        .unwrap_or(0);
    // The server's own check of each phone's last report: it holds exactly its token's set.
    let mut verified = 0;
    for phone in &phones {
        let id = phone
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .device_id
            .clone();
        let status: Value = world.admin.get(&format!("/v1/admin/devices/{id}/status"))?;
        verified += usize::from(status["contacts_verified"] == json!(true));
    }
    let report = FleetReport {
        verified,
        devices: opts.devices,
        contacts_per_device,
        backend: backend.describe.clone(),
        measured_cpu: backend.probe.cpu().is_some(),
        storage_before,
        storage_first,
        storage_end: backend.probe.storage(),
        peak_rss_kib: backend.probe.peak_rss_kib(),
        rounds,
    };
    backend.stop();
    Ok(report)
}

/// The admin's side: the policy, the users changed between rounds, new devices.
struct World {
    admin: AdminClient,
    /// A user in a group, so on every all-groups phone.
    relevant: String,
    changes: u32,
}

impl World {
    fn prepare(&mut self) -> Result<(), FleetError> {
        let policy = json!({"id": POLICY, "name": "Fleet: all groups, daily",
            "basic_type": "all_groups", "sync_interval": "daily"});
        self.create("/v1/admin/policies", &policy)?;
        let outsider = json!({"id": OUTSIDER, "contact": seed::person(0, 7), "groups": []});
        self.create("/v1/admin/users", &outsider)?;
        let group = seed::GROUPS
            .first()
            .map(|g| g.0)
            .ok_or_else(|| FleetError::Setup("no seeded groups".into()))?;
        let members: Vec<String> = self
            .admin
            .get(&format!("/v1/admin/groups/{group}/members"))?;
        self.relevant = members.into_iter().next().ok_or_else(|| {
            FleetError::Setup(format!(
                "group {group} has no members: seed the server first"
            ))
        })?;
        Ok(())
    }

    /// POSTs `body`; one that exists already (a rerun against an external server) is fine.
    fn create(&self, path: &str, body: &Value) -> Result<(), FleetError> {
        let (status, answer) = self
            .admin
            .raw("POST", path, Some(body.to_string().as_bytes()))?;
        match status {
            200..=299 | 409 => Ok(()),
            _ => Err(FleetError::Setup(format!(
                "POST {path} answered HTTP {status}: {}",
                String::from_utf8_lossy(&answer)
            ))),
        }
    }

    /// A device on the fleet policy; its enrollment code.
    fn new_device(&self, name: &str) -> Result<String, FleetError> {
        let created: Value = self.admin.post(
            "/v1/admin/devices",
            &json!({"name": name, "policy_id": POLICY}),
        )?;
        created["enrollment_code"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| FleetError::Setup("no enrollment code in the answer".into()))
    }

    fn edit_user(&mut self, id: &str) -> Result<(), FleetError> {
        self.changes += 1;
        let user: Value = self.admin.get(&format!("/v1/admin/users/{id}"))?;
        let mut contact = user["contact"].clone();
        contact["title"] = json!(format!("Fleet change {}", self.changes));
        let _: Value = self.admin.put(&format!("/v1/admin/users/{id}"), &contact)?;
        Ok(())
    }

    fn edit_relevant(&mut self) -> Result<(), FleetError> {
        let id = self.relevant.clone();
        self.edit_user(&id)
    }
}

struct Fleet<'a> {
    phones: &'a [Mutex<Phone>],
    /// Phone `i` syncs in round `r` with `urls[(i + r) % urls.len()]`: with several server
    /// processes on one database each phone alternates between them from one sync to the next.
    urls: &'a [String],
    rounds_done: AtomicUsize,
    page_size: usize,
    sets: &'a Interner,
    probe: &'a Probe,
}

impl Fleet<'_> {
    /// Every phone runs once, `clients` at a time; the server's CPU time is read before and
    /// after.
    fn round(&self, kind: Kind, clients: usize) -> Round {
        let next = AtomicUsize::new(0);
        let round = self.rounds_done.fetch_add(1, Ordering::Relaxed);
        let results: Mutex<Vec<Result<RunStats, String>>> =
            Mutex::new(Vec::with_capacity(self.phones.len()));
        let cpu_before = self.probe.cpu();
        let started = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..clients.max(1) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(phone) = self.phones.get(i) else {
                        break;
                    };
                    let mut phone = phone.lock().unwrap_or_else(|e| e.into_inner());
                    let url = &self.urls[(i + round) % self.urls.len()];
                    let r = phone
                        .run_due(url, self.page_size, self.sets)
                        .map_err(|e| format!("{}: {e}", phone.name));
                    results.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                });
            }
        });
        let wall = started.elapsed();
        let server_cpu = match (cpu_before, self.probe.cpu()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        Round::from_runs(
            kind,
            clients,
            wall,
            server_cpu,
            results,
            self.probe.storage(),
        )
    }
}
