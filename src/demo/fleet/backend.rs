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
    /// A server somebody else started and seeded: one process, or several on one database
    /// (PostgreSQL), phones alternating between their URLs.
    External {
        /// One or more; the admin's calls go to the first.
        urls: Vec<String>,
        admin_token: String,
        /// Its processes, for CPU time and peak RSS (summed over them).
        pids: Vec<u32>,
        /// Files whose sizes add up to its storage (for SQLite the database and its WAL).
        storage_files: Vec<PathBuf>,
        /// A shell command printing the storage's size in bytes, for a database that is not
        /// a file (PostgreSQL: `psql -Atc "select pg_database_size('…')"`).
        storage_command: Option<String>,
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
    /// The admin's calls and the phones' go here; with several, phones alternate.
    pub urls: Vec<String>,
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
            let conn = contacts_agent_server::db::open(&db)
                .map_err(|e| BackendError::Seed(e.to_string()))?;
            seed::seed_company(&conn, users, 42).map_err(|e| BackendError::Seed(e.to_string()))?;
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
                    urls: vec![url],
                    admin_token: token,
                    probe: Probe {
                        pids: vec![child.id()],
                        files: sqlite_files,
                        command: None,
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
                    urls: vec![server.url()],
                    admin_token: token,
                    probe: Probe {
                        pids: vec![std::process::id()],
                        files: sqlite_files,
                        command: None,
                    },
                    describe: format!("reference server in this process (CPU includes the phones'), SQLite file, {workers} workers"),
                    running: Running::InProcess(server),
                })
            }
            ServerChoice::External {
                urls,
                admin_token,
                pids,
                storage_files,
                storage_command,
            } => {
                if urls.is_empty() {
                    return Err(BackendError::Start("no server URL".into()));
                }
                let urls: Vec<String> = urls
                    .iter()
                    .map(|u| u.trim_end_matches('/').to_owned())
                    .collect();
                let pids_text = if pids.is_empty() {
                    String::new()
                } else {
                    let p: Vec<String> = pids.iter().map(u32::to_string).collect();
                    format!(" (pid {})", p.join(", "))
                };
                Ok(Backend {
                    describe: format!("external server at {}{pids_text}", urls.join(", ")),
                    urls,
                    admin_token: admin_token.clone(),
                    probe: Probe {
                        pids: pids.clone(),
                        files: storage_files.clone(),
                        command: storage_command.clone(),
                    },
                    running: Running::External,
                })
            }
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
    /// The server's processes: figures are their sums.
    pids: Vec<u32>,
    files: Vec<PathBuf>,
    command: Option<String>,
}

impl Probe {
    /// User + system CPU time of the server's processes (every thread, live or exited).
    pub fn cpu(&self) -> Option<Duration> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|&p| process_cpu(p)).sum()
    }

    /// The processes' peak resident sets (VmHWM) added up, in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|&p| process_peak_rss_kib(p)).sum()
    }

    /// Bytes of each storage file (0 for one that does not exist now, as a checkpointed
    /// WAL may not), then what the storage command printed; `None` when neither was named
    /// or the command failed.
    pub fn storage(&self) -> Option<Vec<u64>> {
        if self.files.is_empty() && self.command.is_none() {
            return None;
        }
        let mut sizes: Vec<u64> = self
            .files
            .iter()
            .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
            .collect();
        if let Some(command) = &self.command {
            let out = Command::new("sh").arg("-c").arg(command).output().ok()?;
            if !out.status.success() {
                return None;
            }
            sizes.push(String::from_utf8_lossy(&out.stdout).trim().parse().ok()?);
        }
        Some(sizes)
    }
}

/// User + system CPU time of one process and its child processes, live or exited: a
/// PostgreSQL postmaster's pid then counts its backends, which do the database's work.
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = stat_fields(pid)?;
    // utime, stime, cutime, cstime are fields 14-17 of the line, 12-15 after the name;
    // cutime and cstime hold the children that exited and were waited for.
    let mut ticks = 0;
    for i in 11..=14 {
        ticks += stat.get(i)?.parse::<u64>().ok()?;
    }
    let mut cpu = Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND);
    for child in children_of(pid) {
        // A child that exits between the listing and its reading counts in cutime next time.
        cpu += process_cpu(child).unwrap_or_default();
    }
    Some(cpu)
}

/// The fields of `/proc/<pid>/stat` after the command name, which may hold spaces.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Live processes whose parent is `pid` (field 4 of their stat line, 2 after the name).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| stat_fields(p).and_then(|f| f.get(1)?.parse::<u32>().ok()) == Some(pid))
        .collect()
}

/// One process's peak resident set (VmHWM), in KiB.
fn process_peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
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
