//! Reference MDM server for contacts-agent: the admin API an MDM console uses and the device
//! API the agent syncs from (`docs/openapi.yaml`), over real HTTP, stored in SQLite.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin_api;
pub mod console;
pub mod db;
pub mod device_api;
pub mod error;
pub mod http;
pub mod repo;
pub mod resolve;
pub mod routes;
pub mod seed;
pub mod snapshot;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::http::{Request, Response};
use crate::routes::{dispatch, Ctx};

pub struct Config {
    pub db_path: PathBuf,
    /// `127.0.0.1:0` picks a free port.
    pub bind: String,
    pub admin_token: String,
    pub workers: usize,
    /// Backups kept per device (older ones are deleted when a new one arrives).
    pub keep_backups: usize,
}

impl Config {
    /// Loopback on a free port, four workers, five backups per device.
    pub fn local(db_path: PathBuf, admin_token: &str) -> Config {
        Config {
            db_path,
            bind: "127.0.0.1:0".into(),
            admin_token: admin_token.to_owned(),
            workers: 4,
            keep_backups: 5,
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
}

/// A running server; dropping it stops the workers.
pub struct Server {
    http: Arc<tiny_http::Server>,
    addr: SocketAddr,
    workers: Vec<JoinHandle<()>>,
}

impl Server {
    pub fn start(config: Config) -> Result<Server, StartError> {
        if config.admin_token.len() < 16 {
            return Err(StartError::WeakAdminToken);
        }
        // Migrate once before the workers open their own connections.
        db::open(&config.db_path)?;
        let http = tiny_http::Server::http(&config.bind).map_err(|e| StartError::Bind {
            addr: config.bind.clone(),
            reason: e.to_string(),
        })?;
        let addr = http.server_addr().to_ip().ok_or_else(|| StartError::Bind {
            addr: config.bind.clone(),
            reason: "not an IP socket".into(),
        })?;
        let http = Arc::new(http);
        let mut workers = Vec::new();
        for _ in 0..config.workers.max(1) {
            let conn = db::open(&config.db_path)?;
            let mut ctx = Ctx {
                conn,
                admin_token: config.admin_token.clone(),
                keep_backups: config.keep_backups,
            };
            let http = Arc::clone(&http);
            workers.push(std::thread::spawn(move || {
                while let Ok(req) = http.recv() {
                    serve(&mut ctx, req);
                }
            }));
        }
        log::info!("contacts-agent-server listening on {addr}");
        Ok(Server {
            http,
            addr,
            workers,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        for _ in &self.workers {
            self.http.unblock();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(ctx: &mut Ctx, mut raw: tiny_http::Request) {
    let started = Instant::now();
    let method = raw.method().as_str().to_owned();
    // The query string can carry search terms; log the path only.
    let path = raw.url().split('?').next().unwrap_or("").to_owned();
    let response = match Request::from_tiny(&mut raw) {
        Ok(req) => match dispatch(ctx, &req) {
            Ok(resp) => resp,
            Err(e) => {
                if e.status() >= 500 {
                    log::error!("{method} {path}: {e}");
                }
                Response::from_error(&e)
            }
        },
        Err(e) => Response::from_error(&e),
    };
    log::info!(
        "{method} {path} -> {} ({} bytes, {} ms)",
        response.status,
        response.body.len(),
        started.elapsed().as_millis()
    );
    let mut out = tiny_http::Response::from_data(response.body).with_status_code(response.status);
    let headers = std::iter::once(("Content-Type".to_owned(), response.content_type.to_owned()))
        .chain(response.headers);
    for (k, v) in headers {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            out.add_header(h);
        }
    }
    // A client that went away is its own problem; nothing to clean up here.
    let _ = raw.respond(out);
}
