//! `cargo bench --bench fleet -- [--devices N] [--users N] ...`: the fleet load generator
//! (`contacts_agent::demo::fleet`). N simulated phones sync as `run_due` does against the
//! reference server in a child process on loopback, over a real SQLite file; prints the
//! server's CPU per sync by kind, syncs per second and latency at 1/4/8 clients, storage
//! per device and the server's peak RSS. Prints, asserts nothing.
//!
//! `--server-url URL --admin-token T [--server-pid PID] [--storage-file F]...` drives a
//! server started and seeded elsewhere instead; `--server-url` and `--server-pid` repeat
//! for several server processes on one database (phones alternate between the URLs), and
//! `--storage-command` measures a database that is not a file.

use std::path::PathBuf;

use clap::Parser;
use contacts_agent::demo::fleet::{self, FleetOptions, ServerChoice};

#[derive(Parser)]
#[command(about = "Fleet load generator: N phones syncing as run_due does")]
struct Args {
    /// Simulated phones.
    #[arg(long, env = "FLEET_DEVICES", default_value_t = 200)]
    devices: usize,
    /// People seeded into the reference server.
    #[arg(long, env = "FLEET_USERS", default_value_t = 10_000)]
    users: usize,
    /// Concurrent clients for the rounds by kind.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Concurrent clients of the throughput rounds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,8")]
    throughput_clients: Vec<usize>,
    /// The reference server's workers (each with its own SQLite connection).
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Run the reference server in this process (CPU figures then include the phones').
    #[arg(long)]
    in_process: bool,
    /// Drive a server started elsewhere (already seeded) instead of starting one; repeat
    /// for several processes on one database (each phone alternates between them).
    #[arg(long, requires = "admin_token")]
    server_url: Vec<String>,
    /// Its admin token.
    #[arg(long, env = "CONTACTS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Its process id, to read its CPU time and peak RSS (with its child processes': give
    /// PostgreSQL's postmaster too to count the database's work); repeat for several.
    #[arg(long)]
    server_pid: Vec<u32>,
    /// Files whose sizes make its storage (repeat: the database, its WAL).
    #[arg(long)]
    storage_file: Vec<PathBuf>,
    /// A shell command printing the storage's size in bytes (a database that is not a file).
    #[arg(long)]
    storage_command: Option<String>,
    /// Keep the server's database here instead of a temporary folder.
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    if fleet::serve_child_if_asked() {
        return;
    }
    let args = Args::parse();
    let server = match (args.server_url, args.admin_token) {
        (urls, Some(admin_token)) if !urls.is_empty() => ServerChoice::External {
            urls,
            admin_token,
            pids: args.server_pid,
            storage_files: args.storage_file,
            storage_command: args.storage_command,
        },
        _ if args.in_process => ServerChoice::InProcess {
            workers: args.workers,
        },
        _ => ServerChoice::Child {
            workers: args.workers,
        },
    };
    let opts = FleetOptions {
        devices: args.devices,
        users: args.users,
        clients: args.clients,
        throughput_clients: args.throughput_clients,
        server,
        workdir: args.workdir,
        ..FleetOptions::default()
    };
    match fleet::run(&opts, &mut std::io::stdout()) {
        Ok(report) => print!("{report}"),
        Err(e) => {
            eprintln!("fleet: {e}");
            std::process::exit(1);
        }
    }
}
