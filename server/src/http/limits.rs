//! How much a client may send and how long it may take: per-route body limits and the
//! connection timeouts. The route table names a body class per route; `Limits` gives the class
//! its size, so a deployment can raise the backup cap without touching the table.

use std::time::Duration;

/// What a route accepts as a body. Everything not named otherwise is `Small`: enrollment,
/// status reports, console forms, admin JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyClass {
    Small,
    /// A user's contact (admin create/replace): 256 KiB, as a contact with every field at its
    /// limit in four-byte characters is ~130 KB of JSON (`input`'s limits).
    Contact,
    /// A contact photo (admin upload).
    Photo,
    /// A device's contact backup archive.
    Backup,
    /// A bulk directory import (`POST /v1/admin/import`): 64 MiB, ~150,000 users.
    Import,
}

#[derive(Clone, Debug)]
pub struct Limits {
    /// JSON bodies, forms, enrollment, status reports.
    pub small_body: usize,
    pub photo_body: usize,
    pub backup_body: usize,
    /// Request line plus headers.
    pub max_header_bytes: usize,
    /// From the moment the server waits for a request (a new connection, or the end of the
    /// previous answer on a kept-alive one) to the end of its headers. In hyper this one timer
    /// is both the slow-header guard and the idle keep-alive timeout.
    pub header_read_timeout: Duration,
    /// Longest wait for the next piece of a request body.
    pub body_read_timeout: Duration,
    /// Longest a write may wait for a client that does not read its answer.
    pub write_timeout: Duration,
    /// A TLS handshake must finish within this.
    pub tls_handshake_timeout: Duration,
    /// Open connections at most; past it the server stops accepting until one closes.
    pub max_connections: usize,
    /// `stop()` lets requests in flight finish for at most this long.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            small_body: 64 * 1024,
            photo_body: 5 * 1024 * 1024,
            backup_body: 64 * 1024 * 1024,
            max_header_bytes: 32 * 1024,
            // Above ureq's 15 s idle pool age, so the agent's client always closes a kept-alive
            // connection before the server does (no reset on a reused connection).
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl BodyClass {
    /// Streamed to a temporary file under a budget the route gives (`routes::spool_budget`)
    /// instead of read into memory: the uploads a device stores, limited by its quota.
    pub fn spooled(self) -> bool {
        self == BodyClass::Backup
    }
}

impl Limits {
    pub fn body(&self, class: BodyClass) -> usize {
        match class {
            BodyClass::Small => self.small_body,
            BodyClass::Contact => 256 * 1024,
            BodyClass::Photo => self.photo_body,
            BodyClass::Backup => self.backup_body,
            BodyClass::Import => 64 * 1024 * 1024,
        }
    }
}
