//! The exported (uniffi) API: a thin object over `agent::Agent`. Every method delegates, and
//! `From<Error> for AgentError` is the one place internal errors become public ones. uniffi
//! catches panics at the boundary as well; `guard` turns them into `AgentError::Internal`
//! first so Kotlin always gets one exception type.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use contacts_agent_protocol::{
    BackupInterval as CoreBackupInterval, BasicType, SyncInterval as CoreSyncInterval,
};

use crate::agent::{self, Agent as Core, AgentConfig as CoreConfig};
use crate::client::ClientError;
use crate::error::Error;
use crate::interrupt::Interruptor;
use crate::progress::{self, Phase};
use crate::store::sqlite::SqliteStore;
use crate::store::{ContactStore, StoreError};

pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// `crate::store::jni::BridgeBenchmark` with the API's signed numbers.
#[derive(Debug, Clone)]
pub struct BridgeBenchmark {
    pub contacts: i32,
    pub batches: i32,
    pub index_read_ms: f64,
    pub batched_insert_ms: f64,
    pub per_contact_insert_ms: f64,
    pub batched_read_ms: f64,
    pub per_contact_read_ms: f64,
    pub batched_delete_ms: f64,
    pub per_contact_delete_ms: f64,
    pub empty_calls_ms: f64,
}

pub fn bridge_benchmark(store_handle: i64, contacts: i32) -> Result<BridgeBenchmark, AgentError> {
    guard(|| {
        let contacts = non_negative("contacts", contacts)?;
        let mut store = crate::store::jni::JniStore::from_handle(handle(store_handle)?, "")
            .map_err(|e| AgentError::from(Error::Store(e)))?;
        let b = crate::store::jni::benchmark(&mut store, contacts)
            .map_err(|e| AgentError::from(Error::Store(e)))?;
        Ok(BridgeBenchmark {
            contacts: int(b.contacts),
            batches: int(b.batches),
            index_read_ms: b.index_read_ms,
            batched_insert_ms: b.batched_insert_ms,
            per_contact_insert_ms: b.per_contact_insert_ms,
            batched_read_ms: b.batched_read_ms,
            per_contact_read_ms: b.per_contact_read_ms,
            batched_delete_ms: b.batched_delete_ms,
            per_contact_delete_ms: b.per_contact_delete_ms,
            empty_calls_ms: b.empty_calls_ms,
        })
    })
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub state_dir: String,
    pub account_type: String,
    pub page_size: i32,
    pub command_poll_seconds: i32,
    pub ca_certificate_pem: Option<String>,
    pub spki_pins: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("not enrolled: {reason}")]
    NotEnrolled { reason: String },
    /// The server refused the device (401/403): enroll again.
    #[error("unauthorized: {reason}")]
    Unauthorized { reason: String },
    /// READ_CONTACTS / WRITE_CONTACTS is missing: ask the user for it.
    #[error("permission denied: {reason}")]
    PermissionDenied { reason: String },
    #[error("network: {reason}")]
    Network { reason: String },
    #[error("server: {reason}")]
    Server { reason: String },
    #[error("protocol: {reason}")]
    Protocol { reason: String },
    #[error("contact store: {reason}")]
    Store { reason: String },
    #[error("agent storage: {reason}")]
    Storage { reason: String },
    #[error("backup: {reason}")]
    Backup { reason: String },
    /// Another run holds the state folder.
    #[error("busy: {reason}")]
    Busy { reason: String },
    #[error("interrupted: {reason}")]
    Interrupted { reason: String },
    #[error("invalid argument: {reason}")]
    InvalidArgument { reason: String },
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

/// A progress listener that threw something other than an AgentException.
impl From<uniffi::UnexpectedUniFFICallbackError> for AgentError {
    fn from(_: uniffi::UnexpectedUniFFICallbackError) -> Self {
        // The foreign exception's text is not kept: it may hold anything.
        AgentError::Internal {
            reason: "the progress listener threw".into(),
        }
    }
}

/// A count from the host app (Kotlin Int): negative is a caller's bug.
fn non_negative(what: &str, n: i32) -> Result<u32, AgentError> {
    u32::try_from(n).map_err(|_| AgentError::InvalidArgument {
        reason: format!("{what} must not be negative"),
    })
}

/// A count for the host app (Kotlin Long): saturates instead of wrapping.
fn long(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn int(n: impl TryInto<i32>) -> i32 {
    n.try_into().unwrap_or(i32::MAX)
}

/// What kind of failure a run met, for the host app to act on. `FailureKind::of` is the one
/// place an internal error is classified; `AgentError` and `RunFailure` both follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    NotEnrolled,
    Unauthorized,
    PermissionDenied,
    Network,
    Server,
    Protocol,
    ProviderUnavailable,
    Store,
    Storage,
    Backup,
    Busy,
    Interrupted,
    InvalidArgument,
    Internal,
}

const KINDS: [(FailureKind, &str); 14] = [
    (FailureKind::NotEnrolled, "not_enrolled"),
    (FailureKind::Unauthorized, "unauthorized"),
    (FailureKind::PermissionDenied, "permission_denied"),
    (FailureKind::Network, "network"),
    (FailureKind::Server, "server"),
    (FailureKind::Protocol, "protocol"),
    (FailureKind::ProviderUnavailable, "provider_unavailable"),
    (FailureKind::Store, "store"),
    (FailureKind::Storage, "storage"),
    (FailureKind::Backup, "backup"),
    (FailureKind::Busy, "busy"),
    (FailureKind::Interrupted, "interrupted"),
    (FailureKind::InvalidArgument, "invalid_argument"),
    (FailureKind::Internal, "internal"),
];

impl FailureKind {
    pub fn of(e: &Error) -> FailureKind {
        match e {
            Error::NotEnrolled | Error::AlreadyEnrolled(_) => FailureKind::NotEnrolled,
            Error::Server(c) => match c {
                ClientError::Transport(_) | ClientError::Timeout(_) => FailureKind::Network,
                ClientError::InvalidUrl(_) | ClientError::InsecureUrl | ClientError::Trust(_) => {
                    FailureKind::InvalidArgument
                }
                ClientError::Malformed { .. }
                | ClientError::TooLarge { .. }
                | ClientError::PolicyNotUnderstood { .. }
                | ClientError::ProtocolUnsupported { .. } => FailureKind::Protocol,
                ClientError::Unauthorized | ClientError::Revoked | ClientError::Forbidden => {
                    FailureKind::Unauthorized
                }
                ClientError::Interrupted => FailureKind::Interrupted,
                ClientError::TokenExpired | ClientError::Status { .. } => FailureKind::Server,
            },
            Error::Protocol(_) => FailureKind::Protocol,
            Error::Store(StoreError::PermissionDenied(_)) => FailureKind::PermissionDenied,
            Error::Store(StoreError::ProviderUnavailable(_)) => FailureKind::ProviderUnavailable,
            Error::Store(StoreError::Refused(_)) => FailureKind::InvalidArgument,
            Error::Store(_) => FailureKind::Store,
            Error::State(_) | Error::Io(_) => FailureKind::Storage,
            Error::Archive(_) | Error::NoBackups => FailureKind::Backup,
            Error::Busy { .. } => FailureKind::Busy,
            Error::Interrupted => FailureKind::Interrupted,
        }
    }

    /// The word stored in the agent state and shown in status.
    pub fn as_str(self) -> &'static str {
        KINDS
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("internal", |(_, w)| w)
    }

    pub fn parse(word: &str) -> FailureKind {
        KINDS
            .iter()
            .find(|(_, w)| *w == word)
            .map_or(FailureKind::Internal, |(k, _)| *k)
    }
}

impl From<Error> for AgentError {
    fn from(e: Error) -> Self {
        let kind = FailureKind::of(&e);
        let reason = e.to_string();
        match kind {
            FailureKind::NotEnrolled => AgentError::NotEnrolled { reason },
            FailureKind::Unauthorized => AgentError::Unauthorized { reason },
            FailureKind::PermissionDenied => AgentError::PermissionDenied { reason },
            FailureKind::Network => AgentError::Network { reason },
            FailureKind::Server => AgentError::Server { reason },
            FailureKind::Protocol => AgentError::Protocol { reason },
            FailureKind::ProviderUnavailable | FailureKind::Store => AgentError::Store { reason },
            FailureKind::Storage => AgentError::Storage { reason },
            FailureKind::Backup => AgentError::Backup { reason },
            FailureKind::Busy => AgentError::Busy { reason },
            FailureKind::Interrupted => AgentError::Interrupted { reason },
            FailureKind::InvalidArgument => AgentError::InvalidArgument { reason },
            FailureKind::Internal => AgentError::Internal { reason },
        }
    }
}

/// One step's failure inside a `RunDueResult`, typed like `AgentError`.
#[derive(Debug, Clone)]
pub struct RunFailure {
    pub kind: FailureKind,
    pub message: String,
    /// Only a person can fix it (re-enroll, grant the permission); not retried on backoff.
    pub needs_action: bool,
}

impl From<&Error> for RunFailure {
    fn from(e: &Error) -> Self {
        RunFailure {
            kind: FailureKind::of(e),
            message: e.to_string(),
            needs_action: e.remedy() == crate::error::Remedy::NeedsAction,
        }
    }
}

/// Runs `f`, turning a panic into `AgentError::Internal` (no payload text: it may hold data).
fn guard<T>(f: impl FnOnce() -> Result<T, AgentError>) -> Result<T, AgentError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            log::error!("a panic was caught at the FFI boundary");
            Err(AgentError::Internal {
                reason: "the agent hit a bug and stopped this call; the app can keep running"
                    .into(),
            })
        }
    }
}

/// A JniBridge.register handle (a JVM long) as the store registry's key.
fn handle(h: i64) -> Result<u64, AgentError> {
    u64::try_from(h).map_err(|_| AgentError::InvalidArgument {
        reason: "the store handle is not one JniBridge.register returned".into(),
    })
}

fn ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncType {
    None,
    UserGroups,
    AllGroups,
}

impl From<BasicType> for SyncType {
    fn from(t: BasicType) -> Self {
        match t {
            BasicType::None => SyncType::None,
            BasicType::UserGroups => SyncType::UserGroups,
            BasicType::AllGroups => SyncType::AllGroups,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncInterval {
    Disabled,
    Daily,
    Weekly,
    Monthly,
}

impl From<CoreSyncInterval> for SyncInterval {
    fn from(i: CoreSyncInterval) -> Self {
        match i {
            CoreSyncInterval::Disabled => SyncInterval::Disabled,
            CoreSyncInterval::Daily => SyncInterval::Daily,
            CoreSyncInterval::Weekly => SyncInterval::Weekly,
            CoreSyncInterval::Monthly => SyncInterval::Monthly,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupInterval {
    Off,
    Daily,
    Weekly,
    Monthly,
}

impl From<CoreBackupInterval> for BackupInterval {
    fn from(i: CoreBackupInterval) -> Self {
        match i {
            CoreBackupInterval::Off => BackupInterval::Off,
            CoreBackupInterval::Daily => BackupInterval::Daily,
            CoreBackupInterval::Weekly => BackupInterval::Weekly,
            CoreBackupInterval::Monthly => BackupInterval::Monthly,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunReason {
    Forced,
    PolicyApplied,
    Scheduled,
    Retry,
    Manual,
    Repair,
}

impl From<agent::Reason> for RunReason {
    fn from(r: agent::Reason) -> Self {
        match r {
            agent::Reason::Forced => RunReason::Forced,
            agent::Reason::PolicyApplied => RunReason::PolicyApplied,
            agent::Reason::Scheduled => RunReason::Scheduled,
            agent::Reason::Retry => RunReason::Retry,
            agent::Reason::Manual => RunReason::Manual,
            agent::Reason::Repair => RunReason::Repair,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Succeeded,
    Failed,
}

impl RunOutcome {
    /// The state records "ok" for a run that succeeded, what went wrong otherwise.
    fn of(result: Option<&str>) -> Option<RunOutcome> {
        result.map(|r| {
            if r == "ok" || r.starts_with("ok:") {
                RunOutcome::Succeeded
            } else {
                RunOutcome::Failed
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressPhase {
    Sync,
    Backup,
    Restore,
    Unenroll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub phase: ProgressPhase,
    pub done: i64,
    pub total: Option<i64>,
}

impl From<progress::Progress> for Progress {
    fn from(p: progress::Progress) -> Self {
        Progress {
            phase: match p.phase {
                Phase::Sync => ProgressPhase::Sync,
                Phase::Backup => ProgressPhase::Backup,
                Phase::Restore => ProgressPhase::Restore,
                Phase::Unenroll => ProgressPhase::Unenroll,
            },
            done: long(p.done),
            total: p.total.map(long),
        }
    }
}

/// The host app's progress listener (a uniffi callback interface).
pub trait ProgressListener: Send + Sync {
    fn on_progress(&self, progress: Progress) -> Result<(), AgentError>;
}

/// Calls the listener; whatever it throws (or a panic on the way) is logged without its
/// text and the call goes on.
fn notify(listener: &dyn ProgressListener, p: progress::Progress) {
    match catch_unwind(AssertUnwindSafe(|| listener.on_progress(p.into()))) {
        Ok(Ok(())) => {}
        Ok(Err(_)) | Err(_) => log::warn!("the progress listener threw; ignored"),
    }
}

#[derive(Debug, Clone)]
pub struct SyncStatus {
    pub device_id: Option<String>,
    pub sync_type: Option<SyncType>,
    pub additional_groups: Vec<String>,
    pub sync_interval: Option<SyncInterval>,
    pub backup_interval: Option<BackupInterval>,
    pub next_sync_ms: Option<i64>,
    pub last_sync_ms: Option<i64>,
    pub last_sync_outcome: Option<RunOutcome>,
    pub last_sync_result: Option<String>,
    pub last_successful_sync_ms: Option<i64>,
    pub contacts_on_phone: i64,
    pub consecutive_failures: i32,
    pub last_backup_ms: Option<i64>,
    pub last_backup_outcome: Option<RunOutcome>,
    pub last_backup_result: Option<String>,
    pub next_backup_ms: Option<i64>,
    pub pending_reports: i32,
    /// A failure only a person can fix, until a run gets past it.
    pub needs_action: Option<RunFailure>,
}

#[derive(Debug, Clone)]
pub struct SyncResult {
    pub reason: RunReason,
    pub inserted: i64,
    pub updated: i64,
    pub deleted: i64,
    pub unchanged: i64,
    pub contacts_on_phone: i64,
    pub duplicates_removed: i64,
    pub photos_failed: i64,
}

#[derive(Debug, Clone)]
pub struct BackupInfo {
    pub backup_id: String,
    pub created_at_ms: Option<i64>,
    pub contact_count: i64,
    pub size: i64,
}

#[derive(Debug, Clone)]
pub struct BackupResult {
    pub backup_id: String,
    pub contact_count: i64,
    pub size: i64,
    pub new_on_server: bool,
}

#[derive(Debug, Clone)]
pub struct RestoreResult {
    pub backup_id: String,
    pub in_archive: i64,
    pub restored: i64,
    pub already_present: i64,
    pub into_source_account: i64,
    pub source_account_missing: i64,
    pub photos_dropped: i64,
    pub skipped: i64,
    pub skipped_reasons: String,
}

impl From<crate::backup::RestoreReport> for RestoreResult {
    fn from(r: crate::backup::RestoreReport) -> Self {
        RestoreResult {
            in_archive: long(r.in_archive),
            restored: long(r.restored),
            already_present: long(r.already_present),
            into_source_account: long(r.into_source_account),
            source_account_missing: long(r.source_account_missing),
            photos_dropped: long(r.photos_dropped),
            skipped: long(r.skipped_total()),
            skipped_reasons: r.describe_skipped(),
            backup_id: r.backup_id,
        }
    }
}

#[derive(Debug, Clone)]
pub struct UnenrollResult {
    pub contacts_removed: i64,
    pub server_notified: bool,
}

#[derive(Debug, Clone)]
pub struct RunDueResult {
    /// The command poll or policy check failed (the server was not reachable, say), or the
    /// admin's retire could not tell the server.
    pub poll_error: Option<RunFailure>,
    /// The admin's retire, carried out: the agent is unenrolled.
    pub retired_by_admin: Option<UnenrollResult>,
    pub sync: Option<SyncResult>,
    pub sync_error: Option<RunFailure>,
    pub backup: Option<BackupResult>,
    pub backup_error: Option<RunFailure>,
    pub next_wake_up_ms: i64,
}

#[derive(Debug, Clone)]
pub struct ManagedContact {
    pub id: String,
    pub display_name: String,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub organization: Option<String>,
    pub title: Option<String>,
}

impl From<agent::SyncReport> for SyncResult {
    fn from(r: agent::SyncReport) -> Self {
        SyncResult {
            reason: r.reason.into(),
            inserted: long(r.counts.inserted),
            updated: long(r.counts.updated),
            deleted: long(r.counts.deleted),
            unchanged: long(r.counts.unchanged),
            contacts_on_phone: long(r.managed_count),
            duplicates_removed: long(r.counts.duplicates_removed),
            photos_failed: long(r.counts.photos_failed),
        }
    }
}

impl From<agent::BackupReport> for BackupResult {
    fn from(r: agent::BackupReport) -> Self {
        BackupResult {
            backup_id: r.backup.id,
            contact_count: long(r.backup.contact_count),
            size: long(r.backup.size),
            new_on_server: r.new_on_server,
        }
    }
}

impl From<contacts_agent_protocol::wire::BackupInfo> for BackupInfo {
    fn from(b: contacts_agent_protocol::wire::BackupInfo) -> Self {
        BackupInfo {
            created_at_ms: DateTime::parse_from_rfc3339(&b.created_at)
                .ok()
                .map(|t| t.timestamp_millis()),
            backup_id: b.id,
            contact_count: long(b.contact_count),
            size: long(b.size),
        }
    }
}

/// The store behind an exported agent: boxed so the same object serves the SQLite store
/// (host) and the JNI bridge (phone).
pub type DynStore = Box<dyn ContactStore + Send>;

impl<S: ContactStore + ?Sized> ContactStore for Box<S> {
    fn managed_index(&mut self) -> Result<Vec<crate::store::IndexEntry>, StoreError> {
        (**self).managed_index()
    }
    fn apply_batch(&mut self, ops: &[crate::store::StoreOp]) -> Result<(), StoreError> {
        (**self).apply_batch(ops)
    }
    fn managed_groups(&mut self) -> Result<Vec<crate::store::PhoneGroup>, StoreError> {
        (**self).managed_groups()
    }
    fn managed_contacts(
        &mut self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<crate::store::StoredContact>, StoreError> {
        (**self).managed_contacts(offset, limit)
    }
    fn personal_page(
        &mut self,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<crate::store::PersonalContact>, StoreError> {
        (**self).personal_page(after, limit)
    }
    fn check_personal_account(
        &self,
        account: Option<&crate::store::SourceAccount>,
    ) -> Result<(), StoreError> {
        (**self).check_personal_account(account)
    }
    fn personal_accounts(&mut self) -> Result<Vec<crate::store::SourceAccount>, StoreError> {
        (**self).personal_accounts()
    }
    fn insert_personal(
        &mut self,
        account: Option<&crate::store::SourceAccount>,
        contacts: &[crate::store::PersonalData],
    ) -> Result<(), StoreError> {
        (**self).insert_personal(account, contacts)
    }
}

pub struct Agent {
    inner: Mutex<Core<DynStore>>,
    interrupt: Interruptor,
    /// The listener the core's progress hook forwards to; swapped without taking `inner`
    /// (which a running call holds).
    listener: Arc<Mutex<Option<Box<dyn ProgressListener>>>>,
}

impl Agent {
    /// The host agent: its contact store is a SQLite model of ContactsProvider.
    pub fn for_host(config: AgentConfig) -> Result<Self, AgentError> {
        guard(|| {
            let dir = PathBuf::from(&config.state_dir);
            std::fs::create_dir_all(&dir).map_err(|e| AgentError::Storage {
                reason: format!("cannot create the state folder: {e}"),
            })?;
            let store = SqliteStore::open(&dir.join("phone.db"), &config.account_type)
                .map_err(|e| AgentError::from(Error::Store(e)))?;
            Agent::with_store(config, Box::new(store))
        })
    }

    /// An agent over the Kotlin store registered under `store_handle`.
    pub fn with_jni_store(config: AgentConfig, store_handle: i64) -> Result<Self, AgentError> {
        guard(|| {
            let store = crate::store::jni::JniStore::from_handle(
                handle(store_handle)?,
                &config.account_type,
            )
            .map_err(|e| AgentError::from(Error::Store(e)))?;
            std::fs::create_dir_all(&config.state_dir).map_err(|e| AgentError::Storage {
                reason: format!("cannot create the state folder: {e}"),
            })?;
            Agent::with_store(config, Box::new(store))
        })
    }

    /// An agent over any store.
    pub fn with_store(config: AgentConfig, store: DynStore) -> Result<Self, AgentError> {
        if config.account_type.trim().is_empty() {
            return Err(AgentError::InvalidArgument {
                reason: "account_type must not be empty".into(),
            });
        }
        let dir = PathBuf::from(&config.state_dir);
        let mut core_config = CoreConfig::new(dir.join("agent-state.db"));
        core_config.page_size =
            (non_negative("page_size", config.page_size)? as usize).clamp(1, 2000);
        core_config.command_poll = Duration::from_secs(u64::from(
            non_negative("command_poll_seconds", config.command_poll_seconds)?.max(60),
        ));
        core_config.client.trust = crate::tls::Trust {
            extra_ca_pem: config.ca_certificate_pem.clone(),
            spki_pins: config.spki_pins.clone(),
        };
        // Refuse a bad CA or pin now, not on the first sync.
        crate::tls::client_config(&core_config.client.trust)
            .map_err(|e| AgentError::from(Error::Server(ClientError::Trust(e))))?;
        let mut core = Core::open(core_config, store)?;
        let listener: Arc<Mutex<Option<Box<dyn ProgressListener>>>> = Arc::default();
        let forward = Arc::clone(&listener);
        core.set_progress(Some(Arc::new(move |p| {
            let held = forward.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(l) = held.as_deref() {
                notify(l, p);
            }
        })));
        Ok(Agent {
            interrupt: core.interrupt_handle(),
            inner: Mutex::new(core),
            listener,
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Core<DynStore>) -> Result<T, Error>,
    ) -> Result<T, AgentError> {
        guard(|| {
            // A poisoned lock means an earlier call panicked mid-way; the state is in SQLite
            // and consistent per transaction, so carry on with it.
            let mut core = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut core).map_err(AgentError::from)
        })
    }

    pub fn enroll(
        &self,
        server_url: String,
        enrollment_code: String,
        device_name: String,
    ) -> Result<String, AgentError> {
        self.with(|a| a.enroll(&server_url, &enrollment_code, &device_name, true))
    }

    pub fn run_due(&self) -> Result<RunDueResult, AgentError> {
        self.with(|a| {
            let r = a.run_due()?;
            let (sync, sync_error) = match r.sync {
                Some(Ok(s)) => (Some(s.into()), None),
                Some(Err(e)) => (None, Some(RunFailure::from(&e))),
                None => (None, None),
            };
            let (backup, backup_error) = match r.backup {
                Some(Ok(b)) => (Some(b.into()), None),
                Some(Err(e)) => (None, Some(RunFailure::from(&e))),
                None => (None, None),
            };
            let (retired_by_admin, retire_error) = match r.retired {
                Some(Ok(u)) => (
                    Some(UnenrollResult {
                        contacts_removed: long(u.contacts_removed),
                        server_notified: u.server_notified,
                    }),
                    None,
                ),
                Some(Err(e)) => (None, Some(RunFailure::from(&e))),
                None => (None, None),
            };
            Ok(RunDueResult {
                poll_error: r.poll.as_ref().map(RunFailure::from).or(retire_error),
                retired_by_admin,
                sync,
                sync_error,
                backup,
                backup_error,
                next_wake_up_ms: r.next_wake_up.timestamp_millis(),
            })
        })
    }

    pub fn sync_now(&self) -> Result<SyncResult, AgentError> {
        self.with(|a| a.sync_now().map(SyncResult::from))
    }

    pub fn backup_now(&self) -> Result<BackupResult, AgentError> {
        self.with(|a| a.backup_now().map(BackupResult::from))
    }

    pub fn list_backups(&self) -> Result<Vec<BackupInfo>, AgentError> {
        self.with(|a| {
            Ok(a.list_backups()?
                .into_iter()
                .map(BackupInfo::from)
                .collect())
        })
    }

    pub fn restore(
        &self,
        backup_id: Option<String>,
        account: Option<String>,
    ) -> Result<RestoreResult, AgentError> {
        self.with(|a| {
            // Progress goes to the listener through the core's hook.
            let mut progress = |_: u64, _: u64| {};
            // One word names an account on the phone (its name, or a type it has once); no
            // account: each contact back into its own.
            let account = match account {
                None => None,
                Some(wanted) => {
                    let on_phone = a.store().personal_accounts()?;
                    Some(
                        crate::store::pick_account(&on_phone, &wanted).ok_or_else(|| {
                            StoreError::Refused(
                                "no account on this phone has that name, nor is it the type of \
                             exactly one account: pass the account's name"
                                    .into(),
                            )
                        })?,
                    )
                }
            };
            let r = a.restore(backup_id.as_deref(), account.as_ref(), &mut progress)?;
            Ok(r.into())
        })
    }

    pub fn unenroll(&self) -> Result<UnenrollResult, AgentError> {
        self.with(|a| {
            let r = a.unenroll()?;
            Ok(UnenrollResult {
                contacts_removed: long(r.contacts_removed),
                server_notified: r.server_notified,
            })
        })
    }

    pub fn set_progress_listener(&self, listener: Box<dyn ProgressListener>) {
        *self.listener.lock().unwrap_or_else(|p| p.into_inner()) = Some(listener);
    }

    pub fn clear_progress_listener(&self) {
        *self.listener.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn status(&self) -> Result<SyncStatus, AgentError> {
        self.with(|a| {
            let v = a.status()?;
            Ok(SyncStatus {
                device_id: v.device_id,
                sync_type: v.sync_type.map(SyncType::from),
                additional_groups: v.additional_groups,
                sync_interval: v.sync_interval.map(SyncInterval::from),
                backup_interval: v.backup_interval.map(BackupInterval::from),
                next_sync_ms: ms(v.next_sync),
                last_sync_ms: ms(v.last_sync),
                last_sync_outcome: RunOutcome::of(v.last_sync_result.as_deref()),
                last_sync_result: v.last_sync_result,
                last_successful_sync_ms: ms(v.last_successful_sync),
                contacts_on_phone: long(v.managed_count),
                consecutive_failures: int(v.consecutive_failures),
                last_backup_ms: ms(v.last_backup),
                last_backup_outcome: RunOutcome::of(v.last_backup_result.as_deref()),
                last_backup_result: v.last_backup_result,
                next_backup_ms: ms(v.next_backup),
                pending_reports: int(v.pending_reports),
                needs_action: v.attention.map(|a| RunFailure {
                    kind: FailureKind::parse(&a.kind),
                    message: a.message,
                    needs_action: true,
                }),
            })
        })
    }

    pub fn managed_contacts(
        &self,
        offset: i32,
        limit: i32,
    ) -> Result<Vec<ManagedContact>, AgentError> {
        let offset = non_negative("offset", offset)? as usize;
        let limit = non_negative("limit", limit)? as usize;
        self.with(|a| {
            Ok(a.managed_contacts(offset, limit)?
                .into_iter()
                .map(|c| ManagedContact {
                    id: c.id,
                    display_name: c.data.display_name,
                    phones: c.data.phones.into_iter().map(|p| p.number).collect(),
                    emails: c.data.emails.into_iter().map(|e| e.address).collect(),
                    organization: c.data.organization,
                    title: c.data.title,
                })
                .collect())
        })
    }

    pub fn next_wake_up_ms(&self) -> Result<i64, AgentError> {
        self.with(|a| Ok(a.next_wake_up()?.timestamp_millis()))
    }

    pub fn interrupt(&self) {
        self.interrupt.interrupt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_a_call_becomes_an_internal_error_without_its_message() {
        let r: Result<(), AgentError> = guard(|| panic!("secret +48 600 100 200"));
        match r {
            Err(AgentError::Internal { reason }) => assert!(!reason.contains("+48"), "{reason}"),
            other => panic!("expected Internal, got {other:?}"),
        }
    }

    #[test]
    fn internal_errors_map_to_the_public_kinds() {
        let e: AgentError = Error::NotEnrolled.into();
        assert!(matches!(e, AgentError::NotEnrolled { .. }));
        let e: AgentError = Error::Server(ClientError::InsecureUrl).into();
        assert!(matches!(e, AgentError::InvalidArgument { .. }));
        let e: AgentError = Error::Server(ClientError::Transport("x".into())).into();
        assert!(matches!(e, AgentError::Network { .. }));
        let e: AgentError = Error::Interrupted.into();
        assert!(matches!(e, AgentError::Interrupted { .. }));
    }

    #[test]
    fn a_restore_result_carries_everything_the_core_reports() {
        let mut skipped = std::collections::BTreeMap::new();
        skipped.insert(crate::backup::vcard::SkipReason::Unterminated, 2);
        skipped.insert(crate::backup::vcard::SkipReason::ValueTooLarge, 1);
        let r: RestoreResult = crate::backup::RestoreReport {
            backup_id: "b-1".into(),
            in_archive: 20,
            restored: 11,
            already_present: 6,
            into_source_account: 7,
            source_account_missing: 4,
            photos_dropped: 3,
            skipped,
        }
        .into();
        assert_eq!(r.backup_id, "b-1");
        assert_eq!(
            (r.in_archive, r.restored, r.already_present, r.skipped),
            (20, 11, 6, 3)
        );
        assert_eq!(
            (
                r.into_source_account,
                r.source_account_missing,
                r.photos_dropped
            ),
            (7, 4, 3)
        );
        assert!(
            r.skipped_reasons.contains("2 × card cut off")
                && r.skipped_reasons
                    .contains("1 × card with a value over 1 MiB"),
            "{}",
            r.skipped_reasons
        );
    }

    #[test]
    fn an_interrupt_before_a_call_does_not_leak_into_it() {
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::for_host(AgentConfig {
            state_dir: dir.path().display().to_string(),
            account_type: "acme".into(),
            page_size: 500,
            command_poll_seconds: 1800,
            ca_certificate_pem: None,
            spki_pins: vec![],
        })
        .unwrap();
        // interrupt() only stops a running call: the next one starts clean and fails for
        // its own reason (not enrolled), not as Interrupted.
        agent.interrupt();
        assert!(matches!(
            agent.sync_now(),
            Err(AgentError::NotEnrolled { .. })
        ));
    }
}
