//! Progress of a long call (sync, backup, restore, unenroll), for a host app's progress bar.
//! The agent calls the hook it was given between steps; the hook must be quick and must not
//! call back into the agent. Counts only: never a name, number or e-mail.

use std::sync::Arc;

/// Which long call is reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Contacts received from the server and applied to the phone so far.
    Sync,
    /// Personal contacts written to the archive (then uploaded).
    Backup,
    /// Contacts of the backup inserted into the phone so far, of how many to insert.
    Restore,
    /// Business contacts removed from the phone so far, of how many.
    Unenroll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub phase: Phase,
    pub done: u64,
    /// `None` while the total is not known yet (a sync learns it page by page).
    pub total: Option<u64>,
}

/// Where progress goes. Shared with the exported agent, which swaps listeners.
pub type ProgressHook = Arc<dyn Fn(Progress) + Send + Sync>;
