//! contacts-agent: keeps a company address book on a managed phone.
//!
//! Layout: `agent` (what the shell calls) → `sync` (one sync) → `diff` (pure) → `store`
//! (the phone's contacts); `client` speaks the server protocol; `schedule` (pure) decides
//! when; `state` remembers.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod agent;
pub mod backup;
pub mod client;
pub mod db;
#[cfg(feature = "demo")]
pub mod demo;
pub mod diff;
pub mod error;
pub mod ffi;
pub mod groups;
pub mod interrupt;
pub mod logging;
pub mod progress;
pub mod run_lock;
pub mod schedule;
pub mod state;
pub mod status_table;
pub mod store;
pub mod sync;
pub mod tls;

pub use agent::{Reason, RunDueReport, StatusView, SyncReport};
pub use error::Error;
pub use ffi::{
    bridge_benchmark, library_version, Agent, AgentConfig, AgentError, BackupInfo, BackupInterval,
    BackupResult, BridgeBenchmark, FailureKind, ManagedContact, Progress, ProgressListener,
    ProgressPhase, RestoreResult, RunDueResult, RunFailure, RunOutcome, RunReason, SyncInterval,
    SyncResult, SyncStatus, SyncType, UnenrollResult,
};

uniffi::include_scaffolding!("contacts_agent");

/// The JSON bridge, kept only for the JVM bench's comparison (`--features bridge-json-bench`).
#[cfg(feature = "bridge-json-bench")]
#[path = "../benches/jvm/bridge_json.rs"]
mod bridge_json_bench;
