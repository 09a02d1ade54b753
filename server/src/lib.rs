//! Reference MDM server for contacts-agent: the admin API an MDM console uses and the device
//! API the agent syncs from (`docs/openapi.yaml`), over real HTTP, stored in SQLite or
//! PostgreSQL (`sql`).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin_api;
pub mod backup_check;
pub mod checkpoint;
pub mod console;
pub mod db;
pub mod device_api;
pub mod device_backups;
pub mod device_list;
pub mod enroll_qr;
pub mod entitled_sets;
pub mod error;
pub mod http;
pub mod import;
pub mod input;
pub mod repo;
pub mod resolve;
pub mod routes;
pub mod seed;
pub mod snapshot;
pub mod sql;

#[cfg(feature = "test-support")]
pub mod testing;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

pub use crate::http::limits::Limits;
use crate::http::pool::Pool;
use crate::http::serve::{accept_loop, Shared};
pub use crate::http::tls::{TlsError, TlsFiles};
use crate::routes::Ctx;
use crate::sql::Database;

pub struct Config {
    /// A SQLite file or a PostgreSQL URL (`sql::Database::parse`).
    pub database: Database,
    /// `127.0.0.1:0` picks a free port.
    pub bind: String,
    pub admin_token: String,
    /// Blocking workers, each with its own database connection: how many requests are handled
    /// at once. Connections beyond that wait on the async side, costing no thread.
    pub workers: usize,
    /// Backups kept per device (older ones are deleted when a new one arrives).
    pub keep_backups: usize,
    /// Bytes of backups one device may hold, the new upload included (507 past it).
    pub backup_quota: u64,
    /// Serve HTTPS with this certificate and key; plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
    /// Body limits per route class, timeouts, connection cap.
    pub limits: Limits,
    /// How long an enrollment code works (7 days by default).
    pub enrollment_code_ttl: Duration,
    /// A proxy in front terminates TLS: console cookies are `Secure` and sign-in waits
    /// follow the address it saw (its `X-Forwarded-For`).
    pub behind_tls_proxy: bool,
    /// The URL phones reach the server at, for enrollment links and their QR codes. `None`:
    /// the scheme and `Host` of the admin's request that asks for one.
    pub public_url: Option<String>,
}

impl Config {
    /// Loopback on a free port, four workers, five backups per device, plain HTTP, default
    /// limits.
    pub fn local(db_path: PathBuf, admin_token: &str) -> Config {
        Config::on(Database::Sqlite(db_path), admin_token)
    }

    /// As `local`, on any database.
    pub fn on(database: Database, admin_token: &str) -> Config {
        Config {
            database,
            bind: "127.0.0.1:0".into(),
            admin_token: admin_token.to_owned(),
            workers: 4,
            keep_backups: 5,
            backup_quota: 100 * 1024 * 1024,
            tls: None,
            limits: Limits::default(),
            enrollment_code_ttl: Duration::from_secs(7 * 24 * 3600),
            behind_tls_proxy: false,
            public_url: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("the admin token must be at least 16 characters")]
    WeakAdminToken,
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot start the server's threads: {0}")]
    Runtime(String),
}

/// A running server. `stop()` (or dropping it) stops accepting, lets requests in flight
/// finish within `Limits::shutdown_grace`, and closes every connection, idle ones included.
pub struct Server {
    addr: SocketAddr,
    https: bool,
    stop: Option<watch::Sender<bool>>,
    /// Behind a mutex only so that `Server` is `Sync` (tests share one across threads).
    stopped: Mutex<Option<mpsc::Receiver<()>>>,
    runtime: Option<tokio::runtime::Runtime>,
    grace: Duration,
    /// SQLite only: WAL checkpoints off the requests' path (`checkpoint.rs`).
    checkpointer: Option<checkpoint::Checkpointer>,
}

impl Server {
    pub fn start(config: Config) -> Result<Server, StartError> {
        if config.admin_token.len() < 16 {
            return Err(StartError::WeakAdminToken);
        }
        // Migrate once before the workers open their own connections.
        db::open(&config.database)?;
        let tls = config.tls.as_ref().map(http::tls::acceptor).transpose()?;
        let mut ctxs = Vec::new();
        for _ in 0..config.workers.max(1) {
            ctxs.push(Ctx::new(db::open(&config.database)?, &config));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // One per worker, and two for writing spooled uploads to disk.
            .max_blocking_threads(ctxs.len() + 2)
            .thread_name("contacts-server")
            .enable_all()
            .build()
            .map_err(|e| StartError::Runtime(e.to_string()))?;
        let bind_err = |reason: String| StartError::Bind {
            addr: config.bind.clone(),
            reason,
        };
        let listener = {
            let _in_runtime = runtime.enter();
            listen(&config.bind).map_err(|e| bind_err(e.to_string()))?
        };
        let addr = listener.local_addr().map_err(|e| bind_err(e.to_string()))?;
        // Backup uploads are spooled beside a SQLite database: the disk they will end up on,
        // rather than a /tmp that may be memory. With PostgreSQL, the system's temp directory.
        let spool_dir = match &config.database {
            Database::Sqlite(path) => match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
                _ => PathBuf::from("."),
            },
            Database::Postgres(_) => std::env::temp_dir(),
        };
        let shared = Arc::new(Shared {
            pool: Pool::new(ctxs),
            spool_dir,
            limits: config.limits.clone(),
            tls,
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let (stopped_tx, stopped_rx) = mpsc::channel();
        runtime.spawn(async move {
            accept_loop(listener, shared, stop_rx).await;
            let _ = stopped_tx.send(());
        });
        let checkpointer = match &config.database {
            Database::Sqlite(_) => Some(
                checkpoint::Checkpointer::start(db::open(&config.database)?)
                    .map_err(|e| StartError::Runtime(e.to_string()))?,
            ),
            Database::Postgres(_) => None,
        };
        let https = config.tls.is_some();
        log::info!(
            "contacts-agent-server listening on {}://{addr}",
            if https { "https" } else { "http" }
        );
        Ok(Server {
            addr,
            https,
            stop: Some(stop_tx),
            stopped: Mutex::new(Some(stopped_rx)),
            runtime: Some(runtime),
            grace: config.limits.shutdown_grace,
            checkpointer,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://` or `https://` and the address, as a client should call it.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        let stopped = self
            .stopped
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(stopped) = stopped {
            let _ = stopped.recv_timeout(self.grace + Duration::from_secs(1));
        }
        if let Some(runtime) = self.runtime.take() {
            // Whatever outlived the grace period is dropped with its connection; a handler
            // still running finishes on its thread and returns its worker to a pool nobody uses.
            runtime.shutdown_background();
        }
        drop(self.checkpointer.take());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A listening socket with a backlog for bursts (std's is 128).
fn listen(bind: &str) -> std::io::Result<tokio::net::TcpListener> {
    let addr = bind.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind")
    })?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
