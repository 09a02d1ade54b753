//! The generator's figures: one `Round` per round of syncs, and the report it prints
//! (a Markdown table, as the README carries it).

use std::fmt;
use std::time::Duration;

use super::phone::RunStats;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    First,
    NoChange,
    /// After a device was created (with the fleet's policy).
    UnrelatedDevice,
    /// After a user in no group was edited.
    UnrelatedUser,
    /// After one user every phone holds was edited.
    Relevant,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::First => "first sync",
            Kind::NoChange => "no change",
            Kind::UnrelatedDevice => "unrelated change: a device created",
            Kind::UnrelatedUser => "unrelated change: a user in no group edited",
            Kind::Relevant => "relevant change: one user edited",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Round {
    pub kind: Kind,
    pub clients: usize,
    /// Runs that completed.
    pub syncs: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub wall: Duration,
    /// The server process's CPU time over the round, when it can be read.
    pub server_cpu: Option<Duration>,
    /// Each completed run's wall time, sorted.
    pub latencies: Vec<Duration>,
    pub pages: u64,
    pub upserts: u64,
    pub deletes: u64,
    /// Runs the server answered with the full set.
    pub full: usize,
    /// Runs the server answered with the same token and nothing in it.
    pub unchanged: usize,
    pub bytes: u64,
    /// Sizes of the storage files after the round.
    pub storage: Option<Vec<u64>>,
}

impl Round {
    pub fn from_runs(
        kind: Kind,
        clients: usize,
        wall: Duration,
        server_cpu: Option<Duration>,
        runs: Vec<Result<RunStats, String>>,
        storage: Option<Vec<u64>>,
    ) -> Round {
        let mut r = Round {
            kind,
            clients,
            syncs: 0,
            errors: 0,
            first_error: None,
            wall,
            server_cpu,
            latencies: Vec::with_capacity(runs.len()),
            pages: 0,
            upserts: 0,
            deletes: 0,
            full: 0,
            unchanged: 0,
            bytes: 0,
            storage,
        };
        for run in runs {
            match run {
                Ok(s) => {
                    r.syncs += 1;
                    r.latencies.push(s.latency);
                    r.pages += u64::from(s.pages);
                    r.upserts += s.upserts;
                    r.deletes += s.deletes;
                    r.full += usize::from(s.full);
                    r.unchanged += usize::from(s.unchanged);
                    r.bytes += s.bytes;
                }
                Err(e) => {
                    r.errors += 1;
                    r.first_error.get_or_insert(e);
                }
            }
        }
        r.latencies.sort_unstable();
        r
    }

    /// Server CPU time per completed sync.
    pub fn cpu_per_sync(&self) -> Option<Duration> {
        let n = u32::try_from(self.syncs).ok().filter(|n| *n > 0)?;
        Some(self.server_cpu? / n)
    }

    pub fn syncs_per_second(&self) -> f64 {
        self.syncs as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Nearest-rank percentile of the runs' wall times (`p` in 0..=100).
    pub fn percentile(&self, p: u32) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (self.latencies.len() * p as usize).div_ceil(100).max(1);
        self.latencies[rank.min(self.latencies.len()) - 1]
    }

    /// What the server answered, in a few words.
    pub fn answer(&self) -> String {
        let n = self.syncs.max(1) as f64;
        if self.full == self.syncs && self.syncs > 0 {
            format!("full set, {:.0} contacts", self.upserts as f64 / n)
        } else if self.unchanged == self.syncs && self.syncs > 0 {
            "same token, nothing".into()
        } else {
            format!(
                "delta, {:.1} upserts + {:.1} deletes",
                self.upserts as f64 / n,
                self.deletes as f64 / n
            )
        }
    }

    pub fn progress_line(&self) -> String {
        format!(
            "{:<45} {} clients: {} syncs in {:.1} s, server CPU {} per sync, p50 {}, p99 {}{}",
            self.kind.label(),
            self.clients,
            self.syncs,
            self.wall.as_secs_f64(),
            self.cpu_per_sync().map(ms).unwrap_or_else(|| "n/a".into()),
            ms(self.percentile(50)),
            ms(self.percentile(99)),
            match &self.first_error {
                Some(e) => format!("; {} FAILED, first: {e}", self.errors),
                None => String::new(),
            }
        )
    }
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v < 10.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.0} ms")
    }
}

fn bytes(b: f64) -> String {
    if b >= 1e6 {
        format!("{:.2} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} KB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

#[derive(Debug, Clone)]
pub struct FleetReport {
    pub devices: usize,
    /// What the first phone holds at the end.
    pub contacts_per_device: usize,
    pub backend: String,
    /// The server's CPU time could be read (its process is known).
    pub measured_cpu: bool,
    /// Storage file sizes before the devices were created, after the first round, at the end.
    pub storage_before: Option<Vec<u64>>,
    pub storage_first: Option<Vec<u64>>,
    pub storage_end: Option<Vec<u64>>,
    pub peak_rss_kib: Option<u64>,
    pub rounds: Vec<Round>,
    /// Phones whose last report the server found to hold exactly their token's set (the
    /// console's "verified").
    pub verified: usize,
}

impl FleetReport {
    /// Growth of all the storage files since before the devices existed, per device.
    pub fn storage_per_device(&self, after: &Option<Vec<u64>>) -> Option<f64> {
        let before: u64 = self.storage_before.as_ref()?.iter().sum();
        let after: u64 = after.as_ref()?.iter().sum();
        Some((after as f64 - before as f64) / self.devices.max(1) as f64)
    }

    /// The first round of `kind` (the one measured at the default clients).
    pub fn round(&self, kind: Kind) -> Option<&Round> {
        self.rounds.iter().find(|r| r.kind == kind)
    }
}

impl fmt::Display for FleetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "\nfleet: {} phones, {} contacts each (all groups, daily); {}",
            self.devices, self.contacts_per_device, self.backend
        )?;
        if self.measured_cpu {
            writeln!(f, "server CPU: utime+stime of the server's processes and their child processes (/proc/<pid>/stat, 10 ms ticks) over each round, divided by its syncs; a sync is a whole run_due (commands, policy, contact pages, status report)")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "| sync | clients | syncs | server CPU / sync | syncs/s | p50 | p99 | answer | received / sync |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|---:|---|---:|")?;
        for r in &self.rounds {
            writeln!(
                f,
                "| {} | {} | {}{} | {} | {:.1} | {} | {} | {} | {} |",
                r.kind.label(),
                r.clients,
                r.syncs,
                if r.errors > 0 {
                    format!(" ({} failed)", r.errors)
                } else {
                    String::new()
                },
                r.cpu_per_sync().map(ms).unwrap_or_else(|| "n/a".into()),
                r.syncs_per_second(),
                ms(r.percentile(50)),
                ms(r.percentile(99)),
                r.answer(),
                bytes(r.bytes as f64 / r.syncs.max(1) as f64),
            )?;
        }
        writeln!(f)?;
        match (
            self.storage_per_device(&self.storage_first),
            self.storage_per_device(&self.storage_end),
            &self.storage_end,
        ) {
            (Some(first), Some(end), Some(files)) => {
                writeln!(
                    f,
                    "storage per device (growth of the storage files since before the devices, / devices): {} after the first sync, {} at the end",
                    bytes(first),
                    bytes(end)
                )?;
                let sizes: Vec<String> = files.iter().map(|b| bytes(*b as f64)).collect();
                writeln!(f, "  storage files at the end: {}", sizes.join(" + "))?;
            }
            _ => writeln!(f, "storage: not measured (no storage files named)")?,
        }
        writeln!(
            f,
            "phones the server verified as holding exactly their set: {} of {}",
            self.verified, self.devices
        )?;
        match self.peak_rss_kib {
            Some(k) => writeln!(f, "server peak RSS: {:.1} MiB", k as f64 / 1024.0),
            None => writeln!(f, "server peak RSS: not measured (no server pid)"),
        }
    }
}
