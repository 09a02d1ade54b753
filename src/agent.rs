//! The agent: enrollment, deciding what is due, running syncs, recording and reporting
//! status. Everything the OS shell or the CLI calls goes through here.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Local, SecondsFormat, Utc};
use contacts_agent_protocol::wire::{BackupInfo, CommandKind, StatusReport, SyncReason};
use contacts_agent_protocol::{BackupInterval, BasicType, Policy, SyncInterval};

use crate::backup::{self, RestoreReport};
use crate::client::{Client, ClientError, ClientOptions, PolicyFetch};
use crate::error::{Error, Remedy};
use crate::interrupt::{Interruptor, Scope};
use crate::progress::{Phase, Progress, ProgressHook};
use crate::run_lock::{self, RunLock};
use crate::schedule::{self, Jitter, NextRun};
use crate::state::{
    Attention, BackupState, Counts, Enrollment, RunKind, RunRecord, State, SyncState,
};
use crate::store::{ContactStore, EntryState, IndexEntry, StoreOp, StoredContact};
use crate::sync::{self, fingerprint};

#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The agent's own SQLite file.
    pub state_path: PathBuf,
    /// Contacts per page fetched from the server.
    pub page_size: usize,
    /// How often run-due asks the server for commands (force sync) when nothing else is due.
    /// A push hook can call run-due sooner.
    pub command_poll: Duration,
    pub client: ClientOptions,
    /// How long a run waits for another run on the same state folder before failing with
    /// "another run is in progress".
    pub lock_wait: Duration,
}

impl AgentConfig {
    /// Where temporary files (the backup archive being uploaded) go: beside the state.
    pub fn work_dir(&self) -> PathBuf {
        self.state_path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    pub fn new(state_path: PathBuf) -> Self {
        AgentConfig {
            state_path,
            page_size: 500,
            command_poll: Duration::from_secs(30 * 60),
            client: ClientOptions::default(),
            lock_wait: Duration::from_secs(60),
        }
    }
}

/// Why a sync ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The admin's "Synchronize contacts".
    Forced,
    /// A policy version not yet synced (first enrollment included).
    PolicyApplied,
    Scheduled,
    /// Retry after a failure.
    Retry,
    /// Someone called sync directly (CLI `sync`, app button).
    Manual,
    /// The store no longer holds what the last sync left (contacts deleted, edited or
    /// doubled on the phone): put back whatever the interval says.
    Repair,
}

impl Reason {
    pub const ALL: [Reason; 6] = [
        Reason::Forced,
        Reason::PolicyApplied,
        Reason::Scheduled,
        Reason::Retry,
        Reason::Manual,
        Reason::Repair,
    ];

    /// The word the status report carries (the console shows it translated).
    pub fn wire(self) -> SyncReason {
        match self {
            Reason::Forced => SyncReason::Forced,
            Reason::PolicyApplied => SyncReason::PolicyApplied,
            Reason::Scheduled => SyncReason::Scheduled,
            Reason::Retry => SyncReason::Retry,
            Reason::Manual => SyncReason::Manual,
            Reason::Repair => SyncReason::Repair,
        }
    }

    /// The reason a run's stored `as_str` names (the state's runs table keeps that text).
    pub fn of_stored(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Forced => "forced by admin",
            Reason::PolicyApplied => "policy applied",
            Reason::Scheduled => "scheduled",
            Reason::Retry => "retry after failure",
            Reason::Manual => "manual",
            Reason::Repair => "repair",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SyncReport {
    pub reason: Reason,
    pub counts: Counts,
    pub managed_count: u64,
    /// Where the time went (benches print it).
    pub phases: sync::Phases,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub backup: BackupInfo,
    /// False when the server already had a backup with this exact content (a retried upload
    /// or an unchanged address book): nothing new was stored.
    pub new_on_server: bool,
}

/// What `unenroll` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnenrollReport {
    /// Business contacts removed from the phone.
    pub contacts_removed: u64,
    /// The server was told (it shows the device as retired). False when it could not be
    /// reached: the phone is unenrolled all the same, and the admin can revoke the device.
    pub server_notified: bool,
}

#[derive(Debug)]
pub struct RunDueReport {
    /// The command poll or policy check failed (a sync, if due, still ran or was tried).
    pub poll: Option<Error>,
    /// The admin retired the device and this run carried it out: the business contacts are
    /// gone and, when the server was told, the agent is unenrolled (nothing else ran). An
    /// error: the contacts are gone but the server could not be told; the agent stays
    /// enrolled and the next run tells it.
    pub retired: Option<Result<UnenrollReport, Error>>,
    /// `None` when no sync was due.
    pub sync: Option<Result<SyncReport, Error>>,
    /// `None` when no backup was due.
    pub backup: Option<Result<BackupReport, Error>>,
    pub next_wake_up: DateTime<Utc>,
}

impl RunDueReport {
    /// The failures of this run that only a person can fix (the CLI exits non-zero on them).
    pub fn needs_action(&self) -> impl Iterator<Item = &Error> {
        let sync = self.sync.as_ref().and_then(|r| r.as_ref().err());
        let backup = self.backup.as_ref().and_then(|r| r.as_ref().err());
        let retired = self.retired.as_ref().and_then(|r| r.as_ref().err());
        [self.poll.as_ref(), retired, sync, backup]
            .into_iter()
            .flatten()
            .filter(|e| e.remedy() == Remedy::NeedsAction)
    }
}

/// The store does not hold what the last successful sync left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drift {
    /// Managed contacts the last sync left.
    pub expected: u64,
    /// Managed contacts the store holds now (not deleted by the user).
    pub found: u64,
    /// Raw contacts edited, deleted or doubled since.
    pub changed: u64,
}

/// What `status` shows: the console's sync-status block, from the device's side.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusView {
    pub device_id: Option<String>,
    pub server_url: Option<String>,
    pub policy_version: Option<u64>,
    pub synced_policy_version: Option<u64>,
    pub sync_type: Option<BasicType>,
    pub additional_groups: Vec<String>,
    pub sync_interval: Option<SyncInterval>,
    pub backup_interval: Option<BackupInterval>,
    pub next_sync: Option<DateTime<Utc>>,
    pub last_sync: Option<DateTime<Utc>>,
    pub last_sync_result: Option<String>,
    pub last_successful_sync: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    pub managed_count: u64,
    pub has_sync_token: bool,
    pub last_backup: Option<DateTime<Utc>>,
    pub last_backup_result: Option<String>,
    /// The last successful backup: id, size, count.
    pub last_good_backup: Option<BackupState>,
    pub next_backup: Option<DateTime<Utc>>,
    pub pending_reports: usize,
    pub recent_runs: Vec<RunRecord>,
    /// A failure only a person can fix (re-enroll, grant the contacts permission).
    pub attention: Option<Attention>,
    /// The store no longer holds what the last sync left (`run-due` repairs it).
    pub drift: Option<Drift>,
}

type Now = Box<dyn Fn() -> DateTime<Utc> + Send>;

pub struct Agent<S: ContactStore> {
    config: AgentConfig,
    state: State,
    store: S,
    now: Now,
    interruptor: Interruptor,
    progress: Option<ProgressHook>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A status report's times keep the milliseconds: the server tells runs apart by
/// `last_sync_at`, and two runs in one second (a policy applied, then a forced sync) are two
/// rows of the console's history.
fn report_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl<S: ContactStore> Agent<S> {
    pub fn open(config: AgentConfig, store: S) -> Result<Self, Error> {
        let state = State::open(&config.state_path)?;
        Ok(Agent {
            config,
            state,
            store,
            now: Box::new(Utc::now),
            interruptor: Interruptor::new(),
            progress: None,
        })
    }

    /// Replaces the clock (tests drive time by hand).
    pub fn set_clock(&mut self, now: impl Fn() -> DateTime<Utc> + Send + 'static) {
        self.now = Box::new(now);
    }

    /// Where the long calls report their progress (`None`: nowhere).
    pub fn set_progress(&mut self, hook: Option<ProgressHook>) {
        self.progress = hook;
    }

    fn emit(&self, phase: Phase, done: u64, total: Option<u64>) {
        if let Some(hook) = &self.progress {
            hook(Progress { phase, done, total });
        }
    }

    /// Stops the calls running when it is used, at their next page, batch or retry wait.
    pub fn interrupt_handle(&self) -> Interruptor {
        self.interruptor.clone()
    }

    /// Starts one call that writes: its interrupt scope, then the state folder's run lock
    /// (waiting a bounded time for a run that holds it).
    fn begin(&self) -> Result<(Scope, RunLock), Error> {
        let scope = self.interruptor.scope();
        let lock = RunLock::acquire(
            &run_lock::lock_path(&self.config.state_path),
            self.config.lock_wait,
            &scope,
        )?;
        Ok((scope, lock))
    }

    pub fn store(&mut self) -> &mut S {
        &mut self.store
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn enroll(
        &mut self,
        server_url: &str,
        code: &str,
        device_name: &str,
        force: bool,
    ) -> Result<String, Error> {
        let (scope, _lock) = self.begin()?;
        if let (Some(e), false) = (self.state.enrollment()?, force) {
            return Err(Error::AlreadyEnrolled(e.device_id));
        }
        let client =
            Client::new(server_url, None, self.config.client.clone())?.with_interrupt(scope);
        let answer = client.enroll(code, device_name)?;
        let enrollment = Enrollment {
            server_url: crate::client::check_url(server_url)?,
            device_id: answer.device_id.clone(),
            token: answer.token,
        };
        self.state.set_enrollment(&enrollment, (self.now)())?;
        self.state.clear_attention()?;
        log::info!("enrolled as device {}", answer.device_id);
        Ok(answer.device_id)
    }

    fn client(&self, scope: &Scope) -> Result<(Client, Enrollment), Error> {
        let e = self.state.enrollment()?.ok_or(Error::NotEnrolled)?;
        let client = Client::new(
            &e.server_url,
            Some(e.token.clone()),
            self.config.client.clone(),
        )?
        .with_interrupt(scope.clone());
        Ok((client, e))
    }

    fn refresh_policy(&self, client: &Client) -> Result<Policy, Error> {
        refresh_policy(&self.state, client, (self.now)())
    }

    /// Syncs now, whatever the schedule says.
    pub fn sync_now(&mut self) -> Result<SyncReport, Error> {
        let (scope, _lock) = self.begin()?;
        let (client, _) = self.client(&scope)?;
        let (report, index) = self.run_sync(&client, &scope, Reason::Manual, &[]);
        self.report(&client, &[], index);
        report
    }

    /// Runs a sync and records it. After a successful one, also the store's managed index
    /// as the sync left it, for the status report sent right after (`report`).
    fn run_sync(
        &mut self,
        client: &Client,
        scope: &Scope,
        reason: Reason,
        _commands: &[String],
    ) -> (Result<SyncReport, Error>, Option<Vec<IndexEntry>>) {
        match self.run_sync_recorded(client, scope, reason) {
            Ok((report, index)) => (Ok(report), Some(index)),
            Err(e) => (Err(e), None),
        }
    }

    fn run_sync_recorded(
        &mut self,
        client: &Client,
        scope: &Scope,
        reason: Reason,
    ) -> Result<(SyncReport, Vec<IndexEntry>), Error> {
        let started = (self.now)();
        let run = self
            .state
            .start_run(RunKind::Sync, reason.as_str(), started)?;
        let mut counts = Counts::default();
        client.take_page_parse_time();
        let result = self.sync_inner(client, scope, &mut counts);
        counts.bytes_received = client.take_bytes_received();
        let parse = client.take_page_parse_time();
        let ended = (self.now)();
        match result {
            Ok((policy, outcome)) => {
                let new_state = SyncState {
                    sync_token: Some(outcome.sync_token),
                    store_fingerprint: Some(outcome.store_fingerprint),
                    synced_policy_version: Some(outcome.policy_version.unwrap_or(policy.version)),
                    managed_count: outcome.managed_count,
                    photos_pending: outcome.photos_pending,
                };
                self.state.finish_sync_ok(run, ended, &counts, &new_state)?;
                log::info!(
                    "sync ok ({}): +{} ~{} -{} ={}, {} managed",
                    reason.as_str(),
                    counts.inserted,
                    counts.updated,
                    counts.deleted,
                    counts.unchanged,
                    outcome.managed_count
                );
                let report = SyncReport {
                    reason,
                    counts,
                    managed_count: outcome.managed_count,
                    phases: sync::Phases {
                        parse,
                        ..outcome.phases
                    },
                };
                Ok((report, outcome.index))
            }
            Err(e) => {
                log::warn!("sync failed ({}): {e}", reason.as_str());
                self.record_failure(run, RunKind::Sync, &e, &counts)?;
                if let Ok(index) = self.store.managed_index() {
                    self.state.set_managed_count(index.len() as u64)?;
                }
                Err(e)
            }
        }
    }

    /// Records a failed run: on the backoff schedule when it may recover by itself, as
    /// "needs action" (status, no backoff) when only a person can fix it.
    fn record_failure(
        &self,
        run: i64,
        kind: RunKind,
        e: &Error,
        counts: &Counts,
    ) -> Result<(), Error> {
        let now = (self.now)();
        match e.remedy() {
            Remedy::NeedsAction => {
                let attention = Attention {
                    kind: crate::ffi::FailureKind::of(e).as_str().to_owned(),
                    message: e.to_string(),
                    since: now,
                };
                self.state
                    .finish_needs_action(run, kind, now, &attention, counts)?;
            }
            Remedy::Retry => {
                self.state
                    .finish_failed(run, kind, now, &e.to_string(), counts)?;
            }
        }
        Ok(())
    }

    fn sync_inner(
        &mut self,
        client: &Client,
        scope: &Scope,
        counts: &mut Counts,
    ) -> Result<(Policy, sync::SyncOutcome), Error> {
        let prior = self.state.sync_state()?;
        let now = (self.now)();
        let state = &self.state;
        // The contacts answer names the policy version it was resolved with; fetch the
        // policy only when that is not the one the device holds, and before writing anything.
        let mut policy = None;
        let mut before_apply = |version: Option<u64>| -> Result<(), Error> {
            policy = Some(match (state.policy()?, version) {
                (Some(p), Some(v)) if p.version == v => p,
                _ => refresh_policy(state, client, now)?,
            });
            Ok(())
        };
        let hook = self.progress.clone();
        let progress = move |done: u64| {
            if let Some(hook) = &hook {
                hook(Progress {
                    phase: Phase::Sync,
                    done,
                    total: None,
                });
            }
        };
        let mut run = sync::Run {
            prior: &prior,
            page_size: self.config.page_size,
            interrupt: scope,
            before_apply: &mut before_apply,
            progress: &progress,
        };
        let outcome = sync::sync(client, &mut self.store, &mut run, counts)?;
        let policy = match policy {
            Some(p) => p,
            None => refresh_policy(&self.state, client, now)?,
        };
        Ok((policy, outcome))
    }

    /// What the OS scheduler calls: polls commands, refreshes the policy, runs a sync if one
    /// is due (or forced, or the store drifted from what the last sync left), backs up if
    /// due, reports status, and says when to wake up next.
    ///
    /// Fails as a whole only when nothing could run: not enrolled, another run in progress,
    /// the server refusing the device (401/403: re-enroll), or an interrupt. Other failures
    /// of a step are recorded and returned in the report.
    pub fn run_due(&mut self) -> Result<RunDueReport, Error> {
        let (scope, _lock) = self.begin()?;
        let (client, _) = self.client(&scope)?;
        let mut poll = None;
        let (commands, retire) = match client.commands() {
            // Only the kinds this agent knows; any other stays pending on the server.
            Ok(list) => (
                list.commands
                    .iter()
                    .filter(|c| c.kind == CommandKind::SyncNow)
                    .map(|c| c.id.clone())
                    .collect::<Vec<_>>(),
                list.commands.iter().any(|c| c.kind == CommandKind::Retire),
            ),
            Err(e) => {
                poll = Some(Error::from(e));
                (Vec::new(), false)
            }
        };
        if retire {
            // Nothing else runs: a sync would only bring back what is being removed.
            let retired = self.retire_on_command(&client, &scope);
            scope.check()?;
            return Ok(RunDueReport {
                poll: None,
                retired: Some(retired),
                sync: None,
                backup: None,
                next_wake_up: self.next_wake_up()?,
            });
        }
        if poll.is_none() {
            poll = self.refresh_policy(&client).err();
        }
        if let Some(e) = &poll {
            log::warn!("command poll / policy check failed: {e}");
            let run = self.state.start_run(RunKind::Poll, "poll", (self.now)())?;
            self.record_failure(run, RunKind::Poll, e, &Counts::default())?;
            if matches!(e, Error::Server(ClientError::Revoked)) {
                let n = self.remove_business_contacts(&scope)?;
                log::warn!("device retired by the admin: {n} business contacts removed");
            }
            if matches!(e, Error::Interrupted) || e.remedy() == Remedy::NeedsAction {
                // Nothing will get past a server that refuses the device.
                return Err(poll.unwrap_or(Error::Interrupted));
            }
        } else if self
            .state
            .attention()?
            .is_some_and(|a| a.kind == crate::ffi::FailureKind::Unauthorized.as_str())
        {
            self.state.clear_attention()?;
        }
        let now = (self.now)();
        let reason = if !commands.is_empty() {
            Some(Reason::Forced)
        } else {
            match self.sync_due_reason(now)? {
                Some(r) => Some(r),
                None => self.repair_due()?,
            }
        };
        let sync = match reason {
            Some(reason) => {
                let (result, index) = self.run_sync(&client, &scope, reason, &commands);
                let done: &[String] = if result.is_ok() { &commands } else { &[] };
                self.report(&client, done, index);
                Some(result)
            }
            None => None,
        };
        let backup = if self.next_backup()?.is_due((self.now)()) {
            let result = self.run_backup(&client, &scope);
            self.report(&client, &[], None);
            Some(result)
        } else {
            None
        };
        if sync.is_none() && backup.is_none() {
            self.flush_reports(&client);
        }
        scope.check()?;
        Ok(RunDueReport {
            poll,
            retired: None,
            sync,
            backup,
            next_wake_up: self.next_wake_up()?,
        })
    }

    /// The admin retired this device: the company's contacts leave the phone (every raw
    /// contact of our account, by id, in batches; personal contacts are never named), and
    /// the sync state is forgotten so a new enrollment starts from a full fetch.
    fn remove_business_contacts(&mut self, scope: &Scope) -> Result<u64, Error> {
        let index = self.store.managed_index()?;
        let mut ids: Vec<String> = index.into_iter().map(|e| e.id).collect();
        ids.sort_unstable();
        ids.dedup();
        let n = ids.len() as u64;
        let mut done = 0u64;
        self.emit(Phase::Unenroll, 0, Some(n));
        // Our account's contact groups go with them (never another account's).
        let groups = self.store.managed_groups()?;
        let ops = ids
            .into_iter()
            .map(|id| StoreOp::Delete { id })
            .chain(
                groups
                    .into_iter()
                    .map(|g| StoreOp::DeleteGroup { row_id: g.row_id }),
            )
            .collect();
        for batch in crate::store::pack_batches(ops, crate::store::MAX_BATCH_OPS) {
            scope.check()?;
            self.store.apply_batch(&batch)?;
            // Progress counts contacts; the groups ride along in the last batches.
            done += batch
                .iter()
                .filter(|op| matches!(op, StoreOp::Delete { .. }))
                .count() as u64;
            self.emit(Phase::Unenroll, done, Some(n));
        }
        self.state.forget_sync()?;
        Ok(n)
    }

    /// Leaves management: removes every business contact from the phone (personal contacts
    /// are never named), tells the server (`POST /v1/device/retire`: the console shows the
    /// device as retired and its token stops working), and wipes the agent's state, so the
    /// agent is as a fresh install (`NotEnrolled` until it enrolls again).
    ///
    /// The phone's side is done whatever the server says: a server that cannot be reached
    /// leaves `server_notified` false. Interrupted or failed before the wipe, nothing is
    /// lost: the agent is still enrolled and calling it again finishes the job.
    pub fn unenroll(&mut self) -> Result<UnenrollReport, Error> {
        let (scope, _lock) = self.begin()?;
        let (client, _) = self.client(&scope)?;
        let contacts_removed = self.remove_business_contacts(&scope)?;
        let server_notified = match client.retire() {
            // Revoked: the server had already retired this token (a retried unenroll).
            Ok(()) | Err(ClientError::Revoked) => true,
            Err(ClientError::Interrupted) => return Err(Error::Interrupted),
            Err(e) => {
                log::warn!("unenroll: the server could not be told ({e}); unenrolling anyway");
                false
            }
        };
        self.state.wipe()?;
        log::info!("unenrolled: {contacts_removed} business contacts removed");
        Ok(UnenrollReport {
            contacts_removed,
            server_notified,
        })
    }

    /// The admin's retire command: the business contacts go (as in `unenroll`), then the
    /// server is told, which completes the command and kills the token; only then is the
    /// state wiped. A server that cannot be told leaves the agent enrolled, its contacts
    /// removed and its sync state forgotten: the next run finds the command still pending
    /// and tells it then.
    fn retire_on_command(
        &mut self,
        client: &Client,
        scope: &Scope,
    ) -> Result<UnenrollReport, Error> {
        let contacts_removed = self.remove_business_contacts(scope)?;
        match client.retire() {
            // Revoked: the server already took this token back (a retried retire).
            Ok(()) | Err(ClientError::Revoked) => {}
            Err(e) => {
                log::warn!("retired by the admin: {contacts_removed} business contacts removed, but the server could not be told ({e}); telling it on the next run");
                return Err(e.into());
            }
        }
        self.state.wipe()?;
        log::info!(
            "retired by the admin: {contacts_removed} business contacts removed, unenrolled"
        );
        Ok(UnenrollReport {
            contacts_removed,
            server_notified: true,
        })
    }

    /// Compares the store with what the last successful sync left: count and fingerprint of
    /// the managed index, and whether the user touched any of it. Cheap (one index read, no
    /// network). `None` before the first sync.
    pub fn drift(&mut self) -> Result<Option<Drift>, Error> {
        let st = self.state.sync_state()?;
        if st.store_fingerprint.is_none() {
            return Ok(None);
        }
        let index = self.store.managed_index()?;
        Ok(drift_of(&st, &index))
    }

    /// A repair sync is due when the store drifted, whatever the interval ("disabled" means
    /// "don't fetch again", not "let the phone drift"). After a failed sync the backoff
    /// schedule decides instead: its retry is a full sync and repairs as well.
    fn repair_due(&mut self) -> Result<Option<Reason>, Error> {
        if self.state.clock(RunKind::Sync)?.clock.consecutive_failures > 0 {
            return Ok(None);
        }
        Ok(match self.drift() {
            Ok(Some(d)) => {
                log::info!(
                    "the phone holds {} of the {} business contacts the last sync left ({} changed); repairing",
                    d.found,
                    d.expected,
                    d.changed
                );
                Some(Reason::Repair)
            }
            Ok(None) => None,
            // An unreadable store: the sync attempt records why (permission, provider).
            Err(_) => Some(Reason::Repair),
        })
    }

    fn next_backup(&self) -> Result<NextRun, Error> {
        let Some(policy) = self.state.policy()? else {
            return Ok(NextRun::Never);
        };
        let clock = self.state.clock(RunKind::Backup)?.clock;
        Ok(schedule::next_backup(
            policy.backup_interval,
            policy.sync_window,
            &clock,
            self.jitter()?,
            &Local,
        ))
    }

    /// Backs up the phone's personal contacts now, whatever the schedule says.
    pub fn backup_now(&mut self) -> Result<BackupReport, Error> {
        let (scope, _lock) = self.begin()?;
        let (client, _) = self.client(&scope)?;
        let result = self.run_backup(&client, &scope);
        self.report(&client, &[], None);
        result
    }

    fn run_backup(&mut self, client: &Client, scope: &Scope) -> Result<BackupReport, Error> {
        let run = self
            .state
            .start_run(RunKind::Backup, "backup", (self.now)())?;
        let path = self.config.work_dir().join("backup-upload.zip");
        let result = (|| -> Result<BackupReport, Error> {
            let created_at = ts((self.now)());
            self.emit(Phase::Backup, 0, None);
            let (manifest, _) = backup::write_archive(&mut self.store, &path, &created_at, scope)?;
            // Written: what is left is one upload of all of it.
            let n = manifest.contact_count;
            self.emit(Phase::Backup, n, Some(n));
            let bytes = std::fs::read(&path)
                .map_err(|e| Error::Io(format!("reading the backup archive: {e}")))?;
            let (info, new_on_server) =
                client.upload_backup(&bytes, &manifest.payload_sha256, manifest.contact_count)?;
            Ok(BackupReport {
                backup: info,
                new_on_server,
            })
        })();
        let _ = std::fs::remove_file(&path);
        let now = (self.now)();
        match &result {
            Ok(r) => {
                let b = &r.backup;
                let summary = format!("ok: {} contacts, {} bytes", b.contact_count, b.size);
                let stored = BackupState {
                    backup_id: b.id.clone(),
                    size: b.size,
                    contact_count: b.contact_count,
                    checksum: b.checksum.clone(),
                    created_at: b.created_at.clone(),
                };
                self.state.finish_backup_ok(run, now, &stored, &summary)?;
                log::info!("backup {} {summary}", b.id);
            }
            Err(e) => {
                log::warn!("backup failed: {e}");
                self.record_failure(run, RunKind::Backup, e, &Counts::default())?;
            }
        }
        result
    }

    /// This device's backups on the server, newest first.
    pub fn list_backups(&self) -> Result<Vec<BackupInfo>, Error> {
        let (client, _) = self.client(&self.interruptor.scope())?;
        Ok(client.list_backups()?)
    }

    /// Restores a backup (the newest when `id` is `None`) into the personal side of the
    /// store. `account`: `None` puts each contact back into the account it was backed up
    /// from when that account is on the phone, else into the device-local account (the
    /// report counts those in `source_account_missing`); `Some` puts every contact into that
    /// account (never the managed one). Verifies the archive (checksum, count) before
    /// writing anything; inserts only contacts not already present, whole contacts only.
    pub fn restore(
        &mut self,
        id: Option<&str>,
        account: Option<&crate::store::SourceAccount>,
        progress: backup::Progress,
    ) -> Result<RestoreReport, Error> {
        let (scope, _lock) = self.begin()?;
        let (client, _) = self.client(&scope)?;
        let run = self
            .state
            .start_run(RunKind::Restore, "restore", (self.now)())?;
        let mut report = RestoreReport::default();
        let result = (|| -> Result<(), Error> {
            let id = match id {
                Some(id) => id.to_owned(),
                None => client
                    .list_backups()?
                    .into_iter()
                    .next()
                    .map(|b| b.id)
                    .ok_or(Error::NoBackups)?,
            };
            report.backup_id = id.clone();
            self.store.check_personal_account(account)?;
            let hook = self.progress.clone();
            let mut forward = |done: u64, total: u64| {
                progress(done, total);
                if let Some(hook) = &hook {
                    hook(Progress {
                        phase: Phase::Restore,
                        done,
                        total: Some(total),
                    });
                }
            };
            let bytes = client.download_backup(&id)?;
            let (_, vcf) = backup::archive::read_archive(std::io::Cursor::new(bytes))?;
            let target = match account {
                Some(a) => backup::Target::Account(Some(a)),
                None => backup::Target::SourceAccounts,
            };
            backup::restore_into(
                &mut self.store,
                &vcf,
                target,
                &scope,
                &mut forward,
                &mut report,
            )
        })();
        let counts = Counts {
            inserted: report.restored,
            unchanged: report.already_present,
            ignored: report.skipped_total(),
            ..Counts::default()
        };
        let now = (self.now)();
        match result {
            Ok(()) => {
                self.state.finish_restore_ok(run, now, &counts)?;
                log::info!(
                    "restore of {}: {} restored, {} already present, {} skipped",
                    report.backup_id,
                    report.restored,
                    report.already_present,
                    report.skipped_total()
                );
                Ok(report)
            }
            Err(e) => {
                self.record_failure(run, RunKind::Restore, &e, &counts)?;
                Err(e)
            }
        }
    }

    fn sync_due_reason(&self, now: DateTime<Utc>) -> Result<Option<Reason>, Error> {
        let Some((next, pending, clock)) = self.sync_schedule()? else {
            return Ok(Some(Reason::PolicyApplied));
        };
        if !next.is_due(now) {
            return Ok(None);
        }
        Ok(Some(
            if clock.consecutive_failures > 0 || self.state.attention()?.is_some() {
                Reason::Retry
            } else if pending {
                Reason::PolicyApplied
            } else {
                Reason::Scheduled
            },
        ))
    }

    /// The next sync by the policy the device holds (none yet: `None`), whether that policy
    /// version is still to be synced, and the sync clock.
    fn sync_schedule(&self) -> Result<Option<(NextRun, bool, schedule::RunClock)>, Error> {
        let Some(policy) = self.state.policy()? else {
            return Ok(None);
        };
        let st = self.state.sync_state()?;
        let clock = self.state.clock(RunKind::Sync)?.clock;
        let pending = match st.synced_policy_version == Some(policy.version) {
            true => None,
            false => Some(schedule::PendingPolicy {
                received_at: self
                    .state
                    .policy_received_at()?
                    .unwrap_or_else(|| (self.now)()),
                rollout: chrono::Duration::minutes(policy.rollout_minutes().into()),
            }),
        };
        let next = schedule::next_sync(
            policy.sync_interval,
            policy.sync_window,
            pending,
            &clock,
            self.jitter()?,
            &Local,
        );
        Ok(Some((next, pending.is_some(), clock)))
    }

    fn jitter(&self) -> Result<Jitter, Error> {
        Ok(match self.state.enrollment()? {
            Some(e) => Jitter::for_device(&e.device_id),
            None => Jitter::none(),
        })
    }

    fn next_sync(&self) -> Result<NextRun, Error> {
        Ok(self
            .sync_schedule()?
            .map_or(NextRun::Now, |(next, _, _)| next))
    }

    /// When the OS should call `run_due` next: the next sync, or the next command poll,
    /// whichever is sooner.
    pub fn next_wake_up(&self) -> Result<DateTime<Utc>, Error> {
        let now = (self.now)();
        let poll = now
            + chrono::Duration::from_std(self.config.command_poll)
                .unwrap_or(chrono::Duration::minutes(30));
        let soonest = [self.next_sync()?, self.next_backup()?]
            .into_iter()
            .filter_map(|n| n.at(now))
            .min();
        Ok(soonest.map_or(poll, |t| t.min(poll)).max(now))
    }

    /// The status, with the contacts the store really holds now (one index read): never a
    /// count remembered from the last sync for a phone that lost them since.
    pub fn status(&mut self) -> Result<StatusView, Error> {
        let index = self.store.managed_index().ok();
        self.status_from(index.as_deref())
    }

    /// The status given the store's index as just read (`None`: unreadable).
    fn status_from(&self, index: Option<&[IndexEntry]>) -> Result<StatusView, Error> {
        let st = self.state.sync_state()?;
        let drift = index.and_then(|i| drift_of(&st, i));
        let now = (self.now)();
        let enrollment = self.state.enrollment()?;
        let policy = self.state.policy()?;
        let sync_clock = self.state.clock(RunKind::Sync)?;
        let backup_clock = self.state.clock(RunKind::Backup)?;
        let next_sync = if enrollment.is_some() {
            self.next_sync()?.at(now)
        } else {
            None
        };
        Ok(StatusView {
            device_id: enrollment.as_ref().map(|e| e.device_id.clone()),
            server_url: enrollment.as_ref().map(|e| e.server_url.clone()),
            policy_version: policy.as_ref().map(|p| p.version),
            synced_policy_version: st.synced_policy_version,
            sync_type: policy.as_ref().map(|p| p.basic_type),
            additional_groups: policy
                .as_ref()
                .map(|p| p.additional_groups.clone())
                .unwrap_or_default(),
            sync_interval: policy.as_ref().map(|p| p.sync_interval),
            backup_interval: policy.as_ref().map(|p| p.backup_interval),
            next_sync,
            last_sync: sync_clock.last_attempt,
            last_sync_result: sync_clock.last_result,
            last_successful_sync: sync_clock.clock.last_success,
            consecutive_failures: sync_clock.clock.consecutive_failures,
            managed_count: drift.map_or(st.managed_count, |d| d.found),
            has_sync_token: st.sync_token.is_some(),
            last_backup: backup_clock.last_attempt,
            last_backup_result: backup_clock.last_result,
            last_good_backup: self.state.backup_state()?,
            next_backup: if enrollment.is_some() {
                self.next_backup()?.at(now)
            } else {
                None
            },
            pending_reports: self.state.pending_reports()?.len(),
            recent_runs: self.state.recent_runs(10)?,
            attention: self.state.attention()?,
            drift,
        })
    }

    pub fn managed_contacts(
        &mut self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<StoredContact>, Error> {
        Ok(self.store.managed_contacts(offset, limit)?)
    }

    /// `just_synced`: the index a sync of this same run left (`run_sync`), which is what the
    /// store holds now.
    fn status_report(
        &mut self,
        completed: &[String],
        just_synced: Option<Vec<IndexEntry>>,
    ) -> Result<StatusReport, Error> {
        // Always what the store holds now, never what the last sync left: the console must
        // not say "verified" for a phone that lost its contacts since. One index read serves
        // the status and the report, and none right after a sync of this run.
        let mut index = match just_synced {
            Some(index) => Some(index),
            None => self.store.managed_index().ok(),
        };
        if let Some(index) = &mut index {
            // In place, so neither fingerprint below copies 100,000 pairs.
            sync::sort_index(index);
        }
        let v = self.status_from(index.as_deref())?;
        let st = self.state.sync_state()?;
        let last_run = self.state.last_finished_run(RunKind::Sync)?;
        let (managed_count, managed_fingerprint) = match &mut index {
            Some(index) => sync::held_fingerprint(index),
            // Unreadable (permission revoked): say so rather than repeat the last sync's.
            None => (0, String::new()),
        };
        Ok(StatusReport {
            reported_at: report_ts((self.now)()),
            policy_version: v.synced_policy_version,
            sync_type: v.sync_type,
            sync_interval: v.sync_interval,
            last_sync_at: v.last_sync.map(report_ts),
            last_sync_result: v.last_sync_result,
            last_sync_reason: last_run
                .as_ref()
                .and_then(|r| Reason::of_stored(&r.reason))
                .map(Reason::wire),
            last_sync_duration_ms: last_run.as_ref().and_then(run_duration_ms),
            last_successful_sync_at: v.last_successful_sync.map(report_ts),
            next_sync_at: v.next_sync.map(report_ts),
            sync_token: st.sync_token,
            managed_count,
            managed_fingerprint,
            last_backup_at: v.last_backup.map(report_ts),
            last_backup_result: v.last_backup_result,
            next_backup_at: v.next_backup.map(report_ts),
            completed_commands: completed.to_vec(),
        })
    }

    /// Queues a fresh status report and delivers every queued one it can. A report that
    /// cannot be delivered now stays queued; nothing here fails the run.
    fn report(&mut self, client: &Client, completed: &[String], index: Option<Vec<IndexEntry>>) {
        let queued = self.status_report(completed, index).and_then(|r| {
            let body = serde_json::to_string(&r).map_err(|e| Error::Protocol(e.to_string()))?;
            self.state.queue_report(&body, (self.now)())?;
            Ok(())
        });
        if let Err(e) = queued {
            log::warn!("could not build the status report: {e}");
        }
        self.flush_reports(client);
    }

    fn flush_reports(&self, client: &Client) {
        let Ok(pending) = self.state.pending_reports() else {
            return;
        };
        for (id, body) in pending {
            match client.report_status(&body) {
                Ok(()) => {
                    if let Err(e) = self.state.delete_report(id) {
                        log::warn!("could not clear a delivered report: {e}");
                    }
                }
                // The server read it and refused it for good (a report it finds malformed):
                // keeping it would block every later report behind it.
                Err(ClientError::Status { status, .. })
                    if (400..500).contains(&status) && status != 408 && status != 429 =>
                {
                    log::warn!("status report refused by the server (HTTP {status}); dropped");
                    if let Err(e) = self.state.delete_report(id) {
                        log::warn!("could not drop a refused report: {e}");
                        return;
                    }
                }
                Err(e) => {
                    log::warn!("status report not delivered, kept for later: {e}");
                    return;
                }
            }
        }
    }
}

/// A finished run's length, start to end (`None` for a clock that went backwards).
fn run_duration_ms(run: &RunRecord) -> Option<u64> {
    let parse = |t: &str| DateTime::parse_from_rfc3339(t).ok();
    let (start, end) = (parse(&run.started_at)?, parse(run.ended_at.as_deref()?)?);
    u64::try_from((end - start).num_milliseconds()).ok()
}

/// How the store's `index` differs from what the sync recorded in `st` left, if it does
/// (`None` before the first sync too).
fn drift_of(st: &SyncState, index: &[IndexEntry]) -> Option<Drift> {
    let expected_fp = st.store_fingerprint.as_deref()?;
    let mut held: Vec<&str> = index
        .iter()
        .filter(|e| e.state != EntryState::Deleted)
        .map(|e| e.id.as_str())
        .collect();
    held.sort_unstable();
    let live = held.len();
    held.dedup();
    let changed = index
        .iter()
        .filter(|e| e.state != EntryState::Clean)
        .count()
        + (live - held.len());
    let same = fingerprint(index) == expected_fp && index.len() as u64 == st.managed_count;
    if same && changed == 0 {
        return None;
    }
    Some(Drift {
        expected: st.managed_count,
        found: held.len() as u64,
        changed: changed as u64,
    })
}

/// Fetches the policy (conditionally, by ETag) and stores a new one.
fn refresh_policy(state: &State, client: &Client, now: DateTime<Utc>) -> Result<Policy, Error> {
    let etag = state.policy_etag()?;
    let have = state.policy()?;
    match (
        client.policy(etag.as_deref().filter(|_| have.is_some()))?,
        have,
    ) {
        (PolicyFetch::NotModified, Some(p)) => Ok(p),
        (PolicyFetch::NotModified, None) => Err(Error::Protocol(
            "the server answered 304 for a policy the device never had".into(),
        )),
        (PolicyFetch::Fresh { policy, etag }, have) => {
            if have.as_ref().map(|p| p.version) != Some(policy.version) {
                log::info!("policy version {} received", policy.version);
            }
            state.set_policy(&policy, etag.as_deref(), now)?;
            Ok(policy)
        }
    }
}
