//! The agent's internal error: one enum over the layers below it. Messages say what failed
//! and what to do; none carries a name, number, e-mail or token.

use thiserror::Error;

use crate::backup::archive::ArchiveError;
use crate::client::ClientError;
use crate::diff::DiffError;
use crate::state::StateError;
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum Error {
    #[error("this device is not enrolled; run `contacts-agent enroll` first")]
    NotEnrolled,
    #[error("this device is already enrolled (device {0}); use --force to enroll again")]
    AlreadyEnrolled(String),
    #[error(transparent)]
    Server(#[from] ClientError),
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
}

impl From<DiffError> for Error {
    fn from(e: DiffError) -> Self {
        Error::Protocol(e.to_string())
    }
}

impl Error {
    /// Worth retrying on the backoff schedule (the server or network may recover), as opposed
    /// to needing a person (enrollment, configuration).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Server(e) => e.is_transient(),
            Error::Protocol(_) | Error::Store(_) | Error::Interrupted | Error::Io(_) => true,
            Error::NotEnrolled
            | Error::AlreadyEnrolled(_)
            | Error::State(_)
            | Error::Archive(_)
            | Error::NoBackups => false,
        }
    }
}
