//! The agent's internal error: one enum over the layers below it. Messages say what failed
//! and what to do; none carries a name, number, e-mail or token.

use thiserror::Error;

use crate::backup::archive::ArchiveError;
use crate::client::ClientError;
use crate::diff::DiffError;
use crate::interrupt::Interrupted;
use crate::state::StateError;
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum Error {
    #[error("this device is not enrolled: enroll it with the code from the MDM first")]
    NotEnrolled,
    #[error("this device is already enrolled (device {0}); use --force to enroll again")]
    AlreadyEnrolled(String),
    #[error(transparent)]
    Server(ClientError),
    #[error("the server broke the protocol: {0}")]
    Protocol(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the run was interrupted")]
    Interrupted,
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("the agent's work folder: {0}")]
    Io(String),
    #[error("the server holds no backup of this device")]
    NoBackups,
    /// Another run holds the state folder's lock (`run_lock`).
    #[error("another run is in progress on this state folder (waited {waited_secs} s); try again when it has finished")]
    Busy { waited_secs: u64 },
}

impl From<ClientError> for Error {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Interrupted => Error::Interrupted,
            other => Error::Server(other),
        }
    }
}

impl From<Interrupted> for Error {
    fn from(_: Interrupted) -> Self {
        Error::Interrupted
    }
}

impl From<DiffError> for Error {
    fn from(e: DiffError) -> Self {
        Error::Protocol(e.to_string())
    }
}

/// What a failure asks for, decided here once: the schedule, the CLI's exit code and the
/// public API all read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// Try again later on the backoff schedule: the network, the server or the phone's
    /// provider may recover by themselves.
    Retry,
    /// Nothing will change until a person acts (re-enroll, grant the contacts permission,
    /// fix the configuration): retried only at the ordinary poll, never in a backoff loop.
    NeedsAction,
}

impl Error {
    pub fn remedy(&self) -> Remedy {
        match self {
            Error::Server(
                ClientError::Unauthorized
                | ClientError::Revoked
                | ClientError::Forbidden
                | ClientError::InvalidUrl(_)
                | ClientError::InsecureUrl
                | ClientError::Trust(_)
                // A newer server: only an update of the app helps.
                | ClientError::PolicyNotUnderstood { .. }
                | ClientError::ProtocolUnsupported { .. },
            )
            | Error::Store(StoreError::PermissionDenied(_)) => Remedy::NeedsAction,
            // A server that answers wrongly may be fixed; retried on the backoff schedule.
            Error::Server(_) => Remedy::Retry,
            // A full disk, a dead provider process, a server bug: may recover by itself.
            Error::Protocol(_)
            | Error::Store(_)
            | Error::State(_)
            | Error::Archive(_)
            | Error::Interrupted
            | Error::Io(_)
            | Error::Busy { .. } => Remedy::Retry,
            Error::NotEnrolled | Error::AlreadyEnrolled(_) | Error::NoBackups => {
                Remedy::NeedsAction
            }
        }
    }

    /// Worth retrying on the backoff schedule (the server or network may recover), as opposed
    /// to needing a person (enrollment, permission, configuration).
    pub fn is_transient(&self) -> bool {
        self.remedy() == Remedy::Retry
    }
}
