//! The server's one error type; every handler returns it and `http` turns it into a JSON
//! error body. Messages never carry contact data or tokens.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// A device token the admin revoked: the device must remove its managed contacts and
    /// enroll again (a different code from `Unauthorized`, so the agent can tell them apart).
    #[error("this device was revoked; remove its managed contacts and enroll again")]
    Revoked,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    #[error("request body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Unprocessable(String),
    /// The device's backups would pass its storage quota.
    #[error("{0}")]
    InsufficientStorage(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// The database cannot answer now (connection lost, restarting, too many connections):
    /// the transaction was rolled back and the client should retry after `RETRY_AFTER_SECS`.
    #[error("the server's database is unavailable; try again shortly ({0})")]
    Unavailable(String),
    /// The request names a protocol version (`Contacts-Protocol`) this server does not speak.
    #[error(
        "this server speaks protocol versions {0}; the request names another (Contacts-Protocol)"
    )]
    UnsupportedProtocol(contacts_agent_protocol::wire::ProtocolRange),
}

/// Seconds a client is told to wait (`Retry-After`) after a 503 from a database that is away.
pub const RETRY_AFTER_SECS: u32 = 2;

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) | ApiError::UnsupportedProtocol(_) => 400,
            ApiError::Unauthorized | ApiError::Revoked => 401,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Conflict(_) => 409,
            ApiError::Gone(_) => 410,
            ApiError::TooLarge(_) => 413,
            ApiError::Unprocessable(_) => 422,
            ApiError::InsufficientStorage(_) => 507,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Revoked => "device_revoked",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::Gone(_) => "sync_token_expired",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::InsufficientStorage(_) => "backup_quota_exceeded",
            ApiError::Internal(_) => "internal",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::UnsupportedProtocol(_) => "unsupported_protocol",
        }
    }
}

impl From<crate::sql::Error> for ApiError {
    fn from(e: crate::sql::Error) -> Self {
        use crate::sql::Error;
        match e {
            Error::NoRows => ApiError::NotFound("not found".into()),
            Error::Constraint => ApiError::Conflict("conflicts with an existing record".into()),
            Error::Unavailable(why) => ApiError::Unavailable(why),
            Error::Other(why) => ApiError::Internal(format!("database: {why}")),
        }
    }
}
