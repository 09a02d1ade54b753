//! When the next sync or backup is due: pure arithmetic over the policy interval, the last
//! runs and the device's jitter. The rules are DESIGN.md's "Schedule rules".
//!
//! "Daily" is read as a person reads it: the same local wall-clock time each day, so the
//! arithmetic happens in the device's time zone and DST does not drift it. Results are UTC.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use contacts_agent_protocol::{BackupInterval, SyncInterval};
use sha2::{Digest, Sha256};

/// First retry after a failure; doubles per consecutive failure.
pub const BACKOFF_BASE: Duration = Duration::minutes(1);
/// Retries never wait longer than this, so a fixed server is used within hours.
pub const BACKOFF_CAP: Duration = Duration::hours(6);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    Daily,
    Weekly,
    Monthly,
}

impl Cadence {
    /// The bound of the per-device jitter: large enough to spread 100k devices over many
    /// minutes, small against the interval so "daily" still means about the same time.
    pub fn jitter_bound(self) -> Duration {
        match self {
            Cadence::Daily => Duration::hours(1),
            Cadence::Weekly => Duration::hours(6),
            Cadence::Monthly => Duration::hours(12),
        }
    }
}

/// When a run should happen next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NextRun {
    Now,
    At(DateTime<Utc>),
    Never,
}

impl NextRun {
    pub fn is_due(self, now: DateTime<Utc>) -> bool {
        match self {
            NextRun::Now => true,
            NextRun::At(t) => t <= now,
            NextRun::Never => false,
        }
    }

    /// The time to show a person or hand to the OS scheduler.
    pub fn at(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            NextRun::Now => Some(now),
            NextRun::At(t) => Some(t),
            NextRun::Never => None,
        }
    }
}

/// The clock of one kind of run (sync or backup), as kept in the agent state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunClock {
    pub last_success: Option<DateTime<Utc>>,
    /// The first successful run of the current series (since the policy last changed): its
    /// local time of day and day of month are what "daily"/"monthly" keep.
    pub anchor: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    pub last_failure: Option<DateTime<Utc>>,
}

/// A deterministic per-device spread, derived from the device id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    /// In `[0, 1)`.
    fraction: f64,
}

impl Jitter {
    pub fn for_device(device_id: &str) -> Self {
        let digest = Sha256::digest(device_id.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        // 53 bits give an exact f64 in [0, 1).
        let fraction = (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64;
        Jitter { fraction }
    }

    pub fn none() -> Self {
        Jitter { fraction: 0.0 }
    }

    pub fn offset(self, cadence: Cadence) -> Duration {
        scale(cadence.jitter_bound(), self.fraction)
    }
}

fn scale(d: Duration, fraction: f64) -> Duration {
    Duration::milliseconds((d.num_milliseconds() as f64 * fraction) as i64)
}

/// Exponential backoff after `failures` consecutive failures (>= 1), with up to 25% of
/// per-device spread so a fleet does not retry in lockstep after an outage; never above the cap.
pub fn backoff(failures: u32, jitter: Jitter) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    let base = BACKOFF_BASE * 2i32.saturating_pow(exp);
    let spread = scale(base, jitter.fraction * 0.25);
    (base + spread).min(BACKOFF_CAP)
}

/// Next business-contacts sync.
///
/// `policy_pending` is true when the device holds a policy version it has not yet synced
/// successfully (first enrollment included): that is due at once, whatever the interval.
pub fn next_sync<Tz: TimeZone>(
    interval: SyncInterval,
    policy_pending: bool,
    clock: &RunClock,
    jitter: Jitter,
    tz: &Tz,
) -> NextRun {
    if let Some(retry) = retry_after_failure(clock, jitter) {
        return retry;
    }
    if policy_pending {
        return NextRun::Now;
    }
    let cadence = match interval {
        SyncInterval::Disabled => return NextRun::Never,
        SyncInterval::Daily => Cadence::Daily,
        SyncInterval::Weekly => Cadence::Weekly,
        SyncInterval::Monthly => Cadence::Monthly,
    };
    next_periodic(cadence, clock, jitter, tz)
}

/// Next backup of the phone's own contacts: the same arithmetic on its own clock.
pub fn next_backup<Tz: TimeZone>(
    interval: BackupInterval,
    clock: &RunClock,
    jitter: Jitter,
    tz: &Tz,
) -> NextRun {
    let cadence = match interval {
        BackupInterval::Off => return NextRun::Never,
        BackupInterval::Daily => Cadence::Daily,
        BackupInterval::Weekly => Cadence::Weekly,
        BackupInterval::Monthly => Cadence::Monthly,
    };
    if let Some(retry) = retry_after_failure(clock, jitter) {
        return retry;
    }
    next_periodic(cadence, clock, jitter, tz)
}

fn retry_after_failure(clock: &RunClock, jitter: Jitter) -> Option<NextRun> {
    match (clock.consecutive_failures, clock.last_failure) {
        (0, _) | (_, None) => None,
        (n, Some(at)) => Some(NextRun::At(at + backoff(n, jitter))),
    }
}

/// The next run after the last success: the following day / week / month (calendar month,
/// day clamped to the month's end but kept on the anchor's day) at the anchor's local time,
/// plus the device's jitter. A period missed while the phone was off is not replayed: the
/// result is simply in the past, so the run happens once and the next one is computed from it.
pub fn next_periodic<Tz: TimeZone>(
    cadence: Cadence,
    clock: &RunClock,
    jitter: Jitter,
    tz: &Tz,
) -> NextRun {
    let Some(last) = clock.last_success else {
        return NextRun::Now;
    };
    let offset = jitter.offset(cadence);
    // The anchor (when the policy was applied: the same moment for a whole fleet) is the
    // nominal slot; this device runs `offset` after it. Runs are mapped back to nominal
    // times, so the jitter spreads the fleet without accumulating run after run.
    let nominal_last = local(last - offset, tz);
    let anchor = local(clock.anchor.unwrap_or(last), tz);
    let date = match cadence {
        Cadence::Daily => nominal_last.date() + Duration::days(1),
        Cadence::Weekly => nominal_last.date() + Duration::days(7),
        Cadence::Monthly => next_month_on_day(nominal_last.date(), anchor.day()),
    };
    let next = to_utc(date.and_time(anchor.time()), tz) + offset;
    // A run far off its slot (say, forced at 23:50 for a 00:10 slot) must not make the next
    // one due within minutes: keep at least half an interval between runs.
    let min_gap = match cadence {
        Cadence::Daily => Duration::hours(12),
        Cadence::Weekly => Duration::days(3),
        Cadence::Monthly => Duration::days(14),
    };
    NextRun::At(next.max(last + min_gap))
}

fn local<Tz: TimeZone>(t: DateTime<Utc>, tz: &Tz) -> NaiveDateTime {
    t.with_timezone(tz).naive_local()
}

/// Local wall-clock time to UTC. In a DST gap the time does not exist: take the moment one
/// hour later. In the repeated hour take the first occurrence.
fn to_utc<Tz: TimeZone>(t: NaiveDateTime, tz: &Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(dt) => dt.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => match tz.from_local_datetime(&(t + Duration::hours(1))) {
            LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => dt.with_timezone(&Utc),
            // No zone has two gaps in a row; read the wall time as UTC rather than fail.
            LocalResult::None => t.and_utc(),
        },
    }
}

/// The same `anchor_day` in the month after `date`'s month, clamped to that month's length
/// (Jan 31 → Feb 28/29 → Mar 31).
pub fn next_month_on_day(date: NaiveDate, anchor_day: u32) -> NaiveDate {
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    let day = anchor_day.clamp(1, days_in_month(year, month));
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(date)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    match (
        NaiveDate::from_ymd_opt(ny, nm, 1),
        NaiveDate::from_ymd_opt(year, month, 1),
    ) {
        (Some(next), Some(first)) => (next - first).num_days() as u32,
        _ => 28,
    }
}

#[cfg(test)]
mod tests;
