//! `contacts-agent-server`: the reference MDM server.

use std::path::PathBuf;

use clap::Parser;
use contacts_agent_server::{seed, Config, Server};

#[derive(Parser)]
#[command(
    version,
    about = "Reference MDM server for contacts-agent (admin + device API over HTTP)"
)]
struct Args {
    /// SQLite database file (created if missing).
    #[arg(long, default_value = "contacts-server.db")]
    db: PathBuf,
    /// Address to listen on. Keep it on loopback: this server speaks plain HTTP; put a TLS
    /// proxy in front of it for anything else.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: String,
    /// Admin bearer token (at least 16 characters). Read from CONTACTS_ADMIN_TOKEN if unset.
    #[arg(long, env = "CONTACTS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// Seed a deterministic demo company of this many users into an empty database.
    #[arg(long)]
    seed_users: Option<usize>,
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Contact backups kept per device; older ones are deleted when a new one arrives.
    #[arg(long, default_value_t = 5)]
    keep_backups: usize,
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("contacts-agent-server: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(n) = args.seed_users {
        let mut conn = contacts_agent_server::db::open(&args.db)?;
        let s = seed::seed_company(&mut conn, n, 42)?;
        eprintln!("seeded {} users, {} memberships", s.users, s.memberships);
    }
    let server = Server::start(Config {
        db_path: args.db,
        bind: args.bind,
        admin_token: args.admin_token,
        workers: args.workers,
        keep_backups: args.keep_backups,
    })?;
    eprintln!("listening on {}", server.url());
    loop {
        std::thread::park();
    }
}
