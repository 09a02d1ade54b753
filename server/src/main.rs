//! `contacts-agent-server`: the reference MDM server.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use contacts_agent_server::sql::Database;
use contacts_agent_server::{import, seed, Config, Limits, Server, TlsFiles};

#[derive(Parser)]
#[command(
    version,
    about = "Reference MDM server for contacts-agent (admin + device API over HTTP or HTTPS)"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// SQLite database file (created if missing). Ignored when --database is given.
    #[arg(long, default_value = "contacts-server.db", global = true)]
    db: PathBuf,
    /// The database: `postgres://user[:password]@host:port/dbname` (or `postgresql://`) for
    /// PostgreSQL, anything else a SQLite file. Read from CONTACTS_AGENT_DATABASE if unset;
    /// --db when neither is given.
    #[arg(
        long,
        env = "CONTACTS_AGENT_DATABASE",
        hide_env_values = true,
        global = true
    )]
    database: Option<String>,
    /// Address to listen on. Without --tls-cert/--tls-key it speaks plain HTTP: keep it on
    /// loopback then (the agent refuses plain HTTP anywhere else).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: String,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Admin bearer token (at least 16 characters). Read from CONTACTS_ADMIN_TOKEN if unset.
    #[arg(long, env = "CONTACTS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Seed a deterministic demo company of this many users into an empty database.
    #[arg(long)]
    seed_users: Option<usize>,
    /// Requests handled at once, each worker with its own database connection.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Contact backups kept per device; older ones are deleted when a new one arrives.
    #[arg(long, default_value_t = 5)]
    keep_backups: usize,
    /// Bytes of backups one device may hold, in MiB (the newest --keep-backups count).
    #[arg(long, default_value_t = 100)]
    backup_quota_mib: u64,
    /// Largest backup upload accepted, in MiB.
    #[arg(long, default_value_t = 64)]
    max_backup_mib: usize,
    /// Days an enrollment code works before it expires.
    #[arg(long, default_value_t = 7)]
    enrollment_code_days: u64,
    /// A proxy in front terminates TLS: console cookies are `Secure`, and wrong sign-ins are
    /// counted per the address in its `X-Forwarded-For`.
    #[arg(long)]
    behind_tls_proxy: bool,
    /// The URL phones reach this server at (https://mdm.example.com), for the enrollment
    /// links and QR codes the console shows. Default: the address the admin's browser used.
    #[arg(long)]
    public_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Load users with their group memberships from an NDJSON file (one user per line, as
    /// `POST /v1/admin/import` takes it) into --db, in one transaction, and exit. A bad line
    /// anywhere imports nothing; the error names its line number and field.
    Import {
        /// The NDJSON file.
        file: PathBuf,
    },
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("contacts-agent-server: {e}");
        std::process::exit(1);
    }
}

fn import_file(db: &Database, file: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let data = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let conn = contacts_agent_server::db::open(db)?;
    let tx = conn.transaction()?;
    let done = import::ndjson(&tx, &data)?;
    tx.commit()?;
    eprintln!(
        "imported {} users ({} created, {} updated), {} memberships",
        done.users, done.created, done.updated, done.memberships
    );
    Ok(())
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let database = match &args.database {
        Some(url) => Database::parse(url),
        None => Database::Sqlite(args.db.clone()),
    };
    if let Some(Command::Import { file }) = &args.command {
        return import_file(&database, file);
    }
    let admin_token = args
        .admin_token
        .ok_or("--admin-token (or CONTACTS_ADMIN_TOKEN) is required to serve")?;
    if let Some(n) = args.seed_users {
        let conn = contacts_agent_server::db::open(&database)?;
        let s = seed::seed_company(&conn, n, 42)?;
        eprintln!("seeded {} users, {} memberships", s.users, s.memberships);
    }
    let server = Server::start(Config {
        database,
        bind: args.bind,
        admin_token,
        workers: args.workers,
        keep_backups: args.keep_backups,
        backup_quota: args.backup_quota_mib.saturating_mul(1024 * 1024),
        tls: args
            .tls_cert
            .zip(args.tls_key)
            .map(|(cert_chain, private_key)| TlsFiles {
                cert_chain,
                private_key,
            }),
        limits: Limits {
            backup_body: args.max_backup_mib.saturating_mul(1024 * 1024),
            ..Limits::default()
        },
        enrollment_code_ttl: std::time::Duration::from_secs(
            args.enrollment_code_days.saturating_mul(24 * 3600),
        ),
        behind_tls_proxy: args.behind_tls_proxy,
        public_url: args.public_url,
    })?;
    eprintln!("listening on {}", server.url());
    loop {
        std::thread::park();
    }
}
