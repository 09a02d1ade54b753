//! The server the fleet syncs against, and how its cost is read from outside it.
//!
//! By default the reference server runs as a child process (the generator's own executable
//! again, `serve_child_if_asked`), on loopback, over a real SQLite file: its CPU time and
//! peak RSS are then the server's alone, read from `/proc/<pid>`. An external server
//! (`--server-url`, issue 16's other backends) is measured the same way when its pid is
//! given, and its storage when its files are.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use contacts_agent_server::{seed, Config, Server};

/// Set in the child: the SQLite file to serve.
const SERVE_DB: &str = "CONTACTS_FLEET_SERVE_DB";
const SERVE_WORKERS: &str = "CONTACTS_FLEET_SERVE_WORKERS";
const SERVE_TOKEN: &str = "CONTACTS_FLEET_SERVE_TOKEN";

/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, which Linux fixes at 100 for
/// userland on every architecture (the kernel's own HZ may differ).
const TICKS_PER_SECOND: u64 = 100;

#[derive(Debug, Clone)]
pub enum ServerChoice {
    /// The reference server in a child process, seeded with `users` people.
    Child { workers: usize },
    /// The reference server in this process (CPU figures then include the simulated
    /// phones'); for a quick run without a second process.
    InProcess { workers: usize },
    /// A server somebody else started and seeded.
    External {
        url: String,
        admin_token: String,
        /// Its process, for CPU time and peak RSS.
        pid: Option<u32>,
        /// Files whose sizes add up to its storage (for SQLite the database and its WAL).
        storage_files: Vec<PathBuf>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot prepare the server's database: {0}")]
    Seed(String),
    #[error("cannot start the server: {0}")]
    Start(String),
}

enum Running {
    Child(Child),
    InProcess(Server),
    External,
}

pub struct Backend {
    pub url: String,
    pub admin_token: String,
    pub probe: Probe,
    /// What `storage` measures, for the report.
    pub describe: String,
    running: Running,
}

impl Backend {
    /// Seeds `users` people into `workdir/server.db` (unless the server is external) and
    /// starts the server.
    pub fn start(
        choice: &ServerChoice,
        workdir: &Path,
        users: usize,
    ) -> Result<Backend, BackendError> {
        let db = workdir.join("server.db");
        let token = super::super::random_token().map_err(|e| BackendError::Start(e.to_string()))?;
        let seed_db = || -> Result<(), BackendError> {
            let mut conn = contacts_agent_server::db::open(&db)
                .map_err(|e| BackendError::Seed(e.to_string()))?;
            seed::seed_company(&mut conn, users, 42)
                .map_err(|e| BackendError::Seed(e.to_string()))?;
            Ok(())
        };
        let sqlite_files = vec![db.clone(), wal_of(&db)];
        match choice {
            ServerChoice::Child { workers } => {
                seed_db()?;
                let exe =
                    std::env::current_exe().map_err(|e| BackendError::Start(e.to_string()))?;
                let mut child = Command::new(exe)
                    .env(SERVE_DB, &db)
                    .env(SERVE_WORKERS, workers.to_string())
                    .env(SERVE_TOKEN, &token)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .map_err(|e| BackendError::Start(e.to_string()))?;
                let mut line = String::new();
                if let Some(out) = child.stdout.take() {
                    let _ = BufReader::new(out).read_line(&mut line);
                }
                let url = line.trim().to_owned();
                if !url.starts_with("http://") {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(BackendError::Start(format!(
                        "the server child said {url:?} instead of its address"
                    )));
                }
                Ok(Backend {
                    url,
                    admin_token: token,
                    probe: Probe {
                        pid: Some(child.id()),
                        files: sqlite_files,
                    },
                    describe: format!(
                        "reference server, child process (pid {}), SQLite file, {workers} workers",
                        child.id()
                    ),
                    running: Running::Child(child),
                })
            }
            ServerChoice::InProcess { workers } => {
                seed_db()?;
                let server = Server::start(Config {
                    workers: *workers,
                    ..Config::local(db.clone(), &token)
                })
                .map_err(|e| BackendError::Start(e.to_string()))?;
                Ok(Backend {
                    url: server.url(),
                    admin_token: token,
                    probe: Probe {
                        pid: Some(std::process::id()),
                        files: sqlite_files,
                    },
                    describe: format!("reference server in this process (CPU includes the phones'), SQLite file, {workers} workers"),
                    running: Running::InProcess(server),
                })
            }
            ServerChoice::External {
                url,
                admin_token,
                pid,
                storage_files,
            } => Ok(Backend {
                url: url.trim_end_matches('/').to_owned(),
                admin_token: admin_token.clone(),
                probe: Probe {
                    pid: *pid,
                    files: storage_files.clone(),
                },
                describe: format!(
                    "external server at {url}{}",
                    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
                ),
                running: Running::External,
            }),
        }
    }

    /// Stops a server this backend started: the child sees its stdin close and stops.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        match std::mem::replace(&mut self.running, Running::External) {
            Running::Child(mut child) => {
                drop(child.stdin.take());
                for _ in 0..50 {
                    if let Ok(Some(_)) = child.try_wait() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            Running::InProcess(server) => server.stop(),
            Running::External => {}
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn wal_of(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Reads the server's CPU time, peak RSS and storage from outside it.
pub struct Probe {
    pid: Option<u32>,
    files: Vec<PathBuf>,
}

impl Probe {
    /// User + system CPU time of the whole process (every thread, live or exited).
    pub fn cpu(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid?)).ok()?;
        // The command name (field 2) may hold spaces; fields are counted after its ')'.
        let rest = stat.get(stat.rfind(')')? + 2..)?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
    }

    /// The process's peak resident set (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// Bytes of each storage file (0 for one that does not exist now, as a checkpointed
    /// WAL may not); `None` when no file was named.
    pub fn storage(&self) -> Option<Vec<u64>> {
        if self.files.is_empty() {
            return None;
        }
        Some(
            self.files
                .iter()
                .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
                .collect(),
        )
    }
}

/// In the child the generator starts: serves the database named in the environment until
/// its stdin closes, and returns `true`; in any other process returns `false` at once.
/// Call it first thing in `main` of the executable that runs the fleet.
pub fn serve_child_if_asked() -> bool {
    let Some(db) = std::env::var_os(SERVE_DB) else {
        return false;
    };
    let workers = std::env::var(SERVE_WORKERS)
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(4);
    let token = std::env::var(SERVE_TOKEN).unwrap_or_default();
    let server = match Server::start(Config {
        workers,
        ..Config::local(PathBuf::from(db), &token)
    }) {
        Ok(s) => s,
        Err(e) => {
            println!("error: {e}");
            return true;
        }
    };
    println!("{}", server.url());
    // Until the parent closes our stdin (or dies): then stop, as a server does.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    server.stop();
    true
}
