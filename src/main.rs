//! `contacts-agent`: the device agent from the command line (host builds), and the demo.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use contacts_agent::agent::{Agent, AgentConfig};
use contacts_agent::status_table;
use contacts_agent::store::sqlite::SqliteStore;

#[derive(Parser)]
#[command(
    version,
    about = "Company address book sync agent (host build: SQLite stands in for the phone's contacts)"
)]
struct Cli {
    /// Folder for the agent state and, on the host, the SQLite phone store.
    #[arg(
        long,
        env = "CONTACTS_AGENT_HOME",
        default_value = ".contacts-agent",
        global = true
    )]
    home: PathBuf,
    /// Account type that owns the managed contacts in the store.
    #[arg(long, default_value = "app.contactsagent.business", global = true)]
    account_type: String,
    /// PEM file of an organisation's CA to trust besides the public roots.
    #[arg(long, env = "CONTACTS_AGENT_CA_CERT", global = true)]
    ca_cert: Option<PathBuf>,
    /// SPKI pin of the server's key or its CA's, `sha256/<base64>`; repeat for several.
    #[arg(long = "pin", global = true)]
    pins: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enroll this device with a one-time code from the admin: --server and --code, or the
    /// enrollment link the console shows (and its QR code holds) as --link.
    Enroll {
        /// Server URL (https://…; plain http only on loopback).
        #[arg(long, required_unless_present = "link", conflicts_with = "link")]
        server: Option<String>,
        /// The one-time enrollment code.
        #[arg(long, required_unless_present = "link", conflicts_with = "link")]
        code: Option<String>,
        /// The enrollment link, `<server URL>/enroll#code=<code>`, as the console shows it.
        #[arg(long)]
        link: Option<String>,
        #[arg(long, default_value = "contacts-agent")]
        name: String,
        /// Replace an existing enrollment.
        #[arg(long)]
        force: bool,
    },
    /// Sync business contacts now, whatever the schedule says.
    Sync,
    /// What the OS scheduler calls: poll commands, sync if due, report; prints the next wake-up.
    RunDue,
    /// The sync status: type, interval, next expected and last sync, counts, backups.
    Status,
    /// The contacts the sync put on the phone.
    Contacts {
        #[arg(long, default_value_t = 0)]
        offset: usize,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Back up the phone's personal contacts to the server now.
    Backup,
    /// List this device's backups on the server.
    Backups,
    /// Restore a backup (the newest by default) into the personal side of the phone.
    Restore {
        /// Backup id from `backups`.
        id: Option<String>,
        /// Account type to restore every contact into (default: each contact's own
        /// account when it is on this phone, else the device-local account).
        #[arg(long, requires = "account_name")]
        account: Option<String>,
        /// Account name, with --account.
        #[arg(long)]
        account_name: Option<String>,
    },
    /// Start the reference server with a seeded company and walk the product's policy steps.
    Demo {
        #[arg(long, default_value_t = 2000)]
        users: usize,
        /// Keep the server database, phone and state here instead of a temporary folder.
        #[arg(long)]
        workdir: Option<PathBuf>,
        /// After the steps, keep the server and the phone running (the phone runs run-due
        /// every few seconds) and print the console's address; Ctrl-C stops both.
        #[arg(long)]
        serve: bool,
        /// Everything over https: the server gets a certificate from a CA made for the demo,
        /// which the phone trusts through its configuration (written to demo-ca.crt).
        #[arg(long)]
        tls: bool,
    },
}

fn main() -> ExitCode {
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).build();
    let max = logger.filter();
    // Capped: RUST_LOG=trace must not turn on the HTTP layer's byte dumps.
    if log::set_boxed_logger(Box::new(contacts_agent::logging::Capped(logger))).is_ok() {
        log::set_max_level(max);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("contacts-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

fn open_agent(cli: &Cli) -> Result<Agent<SqliteStore>, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&cli.home)?;
    let store = SqliteStore::open(&cli.home.join("phone.db"), &cli.account_type)?;
    let mut config = AgentConfig::new(cli.home.join("agent-state.db"));
    config.client.trust = contacts_agent::tls::Trust {
        extra_ca_pem: cli
            .ca_cert
            .as_ref()
            .map(|p| {
                std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read the CA file {}: {e}", p.display()))
            })
            .transpose()?,
        spki_pins: cli.pins.clone(),
    };
    Ok(Agent::open(config, store)?)
}

/// Keeps the demo's server and phone running until Ctrl-C.
fn serve_demo(demo: &mut contacts_agent::demo::Demo) -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))?;
    println!("\nConsole: {}/console/login", demo.server.url());
    println!("Sign in with the admin token: {}", demo.admin_token);
    println!("The demo phone runs run-due every 5 seconds. Ctrl-C stops the server and the phone.");
    while !stop.load(Ordering::SeqCst) {
        if let Err(e) = demo.agent.run_due() {
            eprintln!("run-due: {e}");
        }
        for _ in 0..50 {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    println!("stopped");
    Ok(())
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match &cli.command {
        Command::Enroll {
            server,
            code,
            link,
            name,
            force,
        } => {
            let (server, code) = match (link, server, code) {
                (Some(link), _, _) => {
                    let link = contacts_agent_protocol::enroll_link::parse(link)?;
                    (link.server_url, link.code)
                }
                (None, Some(server), Some(code)) => (server.clone(), code.clone()),
                _ => return Err("enroll needs --server and --code, or --link".into()),
            };
            let mut agent = open_agent(&cli)?;
            let id = agent.enroll(&server, &code, name, *force)?;
            println!("enrolled as device {id}");
        }
        Command::Sync => {
            let mut agent = open_agent(&cli)?;
            let r = agent.sync_now()?;
            let c = r.counts;
            println!(
                "sync ok: {} inserted, {} updated, {} deleted, {} unchanged; {} contacts on the phone",
                c.inserted, c.updated, c.deleted, c.unchanged, r.managed_count
            );
        }
        Command::RunDue => {
            let mut agent = open_agent(&cli)?;
            let r = agent.run_due()?;
            if let Some(e) = &r.poll {
                println!("command poll failed: {e}");
            }
            match &r.retired {
                None => {}
                Some(Ok(u)) => println!(
                    "retired by the admin: {} business contacts removed; this device is no longer enrolled",
                    u.contacts_removed
                ),
                Some(Err(e)) => println!(
                    "retired by the admin: business contacts removed, but the server could not be told ({e}); run-due tells it next time"
                ),
            }
            match &r.sync {
                None => println!("sync: nothing due"),
                Some(Ok(s)) => println!(
                    "sync ({}) ok: +{} ~{} -{}; {} contacts on the phone{}",
                    s.reason.as_str(),
                    s.counts.inserted,
                    s.counts.updated,
                    s.counts.deleted,
                    s.managed_count,
                    if s.counts.duplicates_removed > 0 {
                        format!("; {} duplicates removed", s.counts.duplicates_removed)
                    } else {
                        String::new()
                    }
                ),
                Some(Err(e)) => println!("sync failed: {e}"),
            }
            match &r.backup {
                None => {}
                Some(Ok(b)) => println!(
                    "backup ok: {} contacts, {} bytes",
                    b.backup.contact_count, b.backup.size
                ),
                Some(Err(e)) => println!("backup failed: {e}"),
            }
            println!("next wake-up: {}", r.next_wake_up.to_rfc3339());
            let action = r
                .needs_action()
                .next()
                .map(|e| format!("needs action: {e}"));
            if let Some(message) = action {
                return Err(message.into());
            }
        }
        Command::Backup => {
            let mut agent = open_agent(&cli)?;
            let r = agent.backup_now()?;
            let b = &r.backup;
            println!(
                "backup {}: {} contacts, {} bytes{}",
                b.id,
                b.contact_count,
                b.size,
                if r.new_on_server {
                    ""
                } else {
                    " (unchanged since the last backup; nothing new stored)"
                }
            );
        }
        Command::Backups => {
            let agent = open_agent(&cli)?;
            for b in agent.list_backups()? {
                println!(
                    "{:<20} {:<26} {:>8} contacts {:>10} bytes  sha256 {}",
                    b.id,
                    b.created_at,
                    b.contact_count,
                    b.size,
                    &b.checksum[..16.min(b.checksum.len())]
                );
            }
        }
        Command::Restore {
            id,
            account,
            account_name,
        } => {
            let mut agent = open_agent(&cli)?;
            let mut err = std::io::stderr();
            let mut progress = contacts_agent::backup::progress_line(&mut err);
            let target = account
                .as_ref()
                .map(|kind| contacts_agent::store::SourceAccount {
                    kind: kind.clone(),
                    name: account_name.clone().unwrap_or_default(),
                });
            let r = agent.restore(id.as_deref(), target.as_ref(), &mut progress)?;
            println!(
                "restored {} of {} contacts from backup {} ({} already on the phone)",
                r.restored, r.in_archive, r.backup_id, r.already_present
            );
            if r.source_account_missing > 0 {
                println!(
                    "{} went into the device-local account: the account they were backed up from is not on this phone",
                    r.source_account_missing
                );
            }
            if r.photos_dropped > 0 {
                println!(
                    "{} restored without their photo (not an image)",
                    r.photos_dropped
                );
            }
            if r.skipped_total() > 0 {
                println!("skipped {}: {}", r.skipped_total(), r.describe_skipped());
            }
        }
        Command::Status => {
            let mut agent = open_agent(&cli)?;
            print!("{}", status_table::render(&agent.status()?));
        }
        Command::Contacts { offset, limit } => {
            let mut agent = open_agent(&cli)?;
            for c in agent.managed_contacts(*offset, *limit)? {
                let phones: Vec<&str> = c.data.phones.iter().map(|p| p.number.as_str()).collect();
                let emails: Vec<&str> = c.data.emails.iter().map(|e| e.address.as_str()).collect();
                println!(
                    "{:<10} {:<30} {:<36} {}",
                    c.id,
                    c.data.display_name,
                    phones.join(", "),
                    emails.join(", ")
                );
            }
        }
        Command::Demo {
            users,
            workdir,
            serve,
            tls,
        } => {
            let opts = contacts_agent::demo::DemoOptions {
                users: *users,
                workdir: workdir.clone(),
                tls: *tls,
            };
            let mut out = std::io::stdout();
            let mut demo = contacts_agent::demo::run(opts, &mut out)?;
            if *serve {
                serve_demo(&mut demo)?;
            }
        }
    }
    Ok(())
}
