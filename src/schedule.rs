//! When the next sync or backup is due: pure arithmetic over the policy interval and window,
//! the last runs and the device's place in the fleet's spread. The rules are DESIGN.md's
//! "Schedule rules", with the fleet spread of `docs/decisions.md` ("A schedule that spreads").
//!
//! Each device has a fixed slot derived from its id: a local time of day (inside the
//! policy's window, if any), and for weekly/monthly a day of the week / 1st–28th of the
//! month. So a fleet is spread evenly over the whole period whenever the policy was applied,
//! and "daily" is the same local wall-clock time every day (DST does not drift it). Results
//! are UTC.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};
use contacts_agent_protocol::{BackupInterval, SyncInterval, SyncWindow};
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
    /// Two runs of a series are at least this far apart: a run forced or retried just before
    /// the device's slot does not make the slot run again minutes later; the series skips
    /// to the following period's slot instead.
    fn min_gap(self) -> Duration {
        match self {
            Cadence::Daily => Duration::hours(12),
            Cadence::Weekly => Duration::days(3),
            Cadence::Monthly => Duration::days(14),
        }
    }

    /// The days of a period a fleet is spread over: every day of a week; the 1st to the
    /// 28th of a month (every month has them, so no slot is clamped onto another's day).
    fn spread_days(self) -> u32 {
        match self {
            Cadence::Daily => 1,
            Cadence::Weekly => 7,
            Cadence::Monthly => 28,
        }
    }

    /// The local date the period holding `date` starts on (weeks start on Monday).
    fn period_start(self, date: NaiveDate) -> NaiveDate {
        match self {
            Cadence::Daily => date,
            Cadence::Weekly => date - Duration::days(date.weekday().num_days_from_monday().into()),
            Cadence::Monthly => date.with_day(1).unwrap_or(date),
        }
    }

    fn next_period(self, start: NaiveDate) -> NaiveDate {
        match self {
            Cadence::Daily => start + Duration::days(1),
            Cadence::Weekly => start + Duration::days(7),
            Cadence::Monthly => first_of_next_month(start),
        }
    }

    fn previous_period(self, start: NaiveDate) -> NaiveDate {
        match self {
            Cadence::Daily => start - Duration::days(1),
            Cadence::Weekly => start - Duration::days(7),
            Cadence::Monthly => self.period_start(start - Duration::days(1)),
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

    /// A device at a chosen place of the spread (`fraction` in `[0, 1)`, clamped).
    pub fn at_fraction(fraction: f64) -> Self {
        Jitter {
            fraction: fraction.clamp(0.0, 1.0 - f64::EPSILON),
        }
    }

    /// The fraction as a day of `days` and a fraction of that day: independent enough for
    /// a spread, since `fraction` carries 53 bits.
    fn split(self, days: u32) -> (u32, f64) {
        let scaled = self.fraction * f64::from(days);
        let day = (scaled.floor() as u32).min(days - 1);
        (day, (scaled - f64::from(day)).clamp(0.0, 1.0))
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

/// A policy version the device holds but has not synced yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingPolicy {
    /// When the device first received this version.
    pub received_at: DateTime<Utc>,
    /// The policy's rollout spread (`Policy::rollout_minutes`).
    pub rollout: Duration,
}

/// Next business-contacts sync.
///
/// A policy version not synced yet is due at once on a device that never synced (a first
/// enrollment); otherwise at its place in the policy's rollout spread after the version
/// arrived, so a policy edit does not send a whole fleet to the server in the same minute.
/// (A forced sync does not ask the schedule.)
pub fn next_sync<Tz: TimeZone>(
    interval: SyncInterval,
    window: Option<SyncWindow>,
    pending: Option<PendingPolicy>,
    clock: &RunClock,
    jitter: Jitter,
    tz: &Tz,
) -> NextRun {
    if let Some(retry) = retry_after_failure(clock, jitter) {
        return retry;
    }
    if let Some(p) = pending {
        if clock.last_success.is_none() {
            return NextRun::Now;
        }
        return NextRun::At(p.received_at + scale(p.rollout, jitter.fraction));
    }
    let cadence = match interval {
        SyncInterval::Disabled => return NextRun::Never,
        SyncInterval::Daily => Cadence::Daily,
        SyncInterval::Weekly => Cadence::Weekly,
        SyncInterval::Monthly => Cadence::Monthly,
    };
    next_periodic(cadence, window, clock, jitter, tz)
}

/// Next backup of the phone's own contacts: the same arithmetic on its own clock, in the
/// same window (one wake-up does both when their intervals agree).
pub fn next_backup<Tz: TimeZone>(
    interval: BackupInterval,
    window: Option<SyncWindow>,
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
    next_periodic(cadence, window, clock, jitter, tz)
}

fn retry_after_failure(clock: &RunClock, jitter: Jitter) -> Option<NextRun> {
    match (clock.consecutive_failures, clock.last_failure) {
        (0, _) | (_, None) => None,
        (n, Some(at)) => Some(NextRun::At(at + backoff(n, jitter))),
    }
}

/// The next run after the last success: the device's slot in the first period whose slot
/// is at least `Cadence::min_gap` after the last success. A period missed while the phone
/// was off is not replayed: the result is simply in the past, so the run happens once and
/// the next one is computed from it.
pub fn next_periodic<Tz: TimeZone>(
    cadence: Cadence,
    window: Option<SyncWindow>,
    clock: &RunClock,
    jitter: Jitter,
    tz: &Tz,
) -> NextRun {
    let Some(last) = clock.last_success else {
        return NextRun::Now;
    };
    let earliest = last + cadence.min_gap();
    // A window that crosses midnight puts the slot of the period before `last`'s on the
    // following local day: start one period early.
    let mut period = cadence.previous_period(cadence.period_start(local(last, tz).date()));
    for _ in 0..6 {
        let slot = slot_in(cadence, period, window, jitter, tz);
        if slot >= earliest {
            return NextRun::At(slot);
        }
        period = cadence.next_period(period);
    }
    // Unreachable: six periods always pass the gap; stay safe rather than panic.
    NextRun::At(earliest)
}

/// The device's fixed place in the period starting on local date `period`: its day of the
/// period, then its fraction of that day (or of the window on that day).
///
/// On an ordinary day that is the same local wall-clock time every period. On a day with a
/// clock change the fraction is of the day's (or window's) real length, so the fleet is
/// squeezed or stretched evenly: mapping each wall time instead would give the hour after a
/// spring-forward gap twice its share of devices.
pub fn slot_in<Tz: TimeZone>(
    cadence: Cadence,
    period: NaiveDate,
    window: Option<SyncWindow>,
    jitter: Jitter,
    tz: &Tz,
) -> DateTime<Utc> {
    let (day, fraction) = jitter.split(cadence.spread_days());
    let date = period + Duration::days(day.into());
    let (from, to) = span_on(date, window, tz);
    from + scale(to - from, fraction)
}

/// The real interval the device may run in on local `date`: the whole day, or the window
/// (ending the next day when it crosses midnight).
fn span_on<Tz: TimeZone>(
    date: NaiveDate,
    window: Option<SyncWindow>,
    tz: &Tz,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let at = |d: NaiveDate, minute: u16| {
        to_utc(
            d.and_time(NaiveTime::MIN) + Duration::minutes(minute.into()),
            tz,
        )
    };
    match window {
        None => (at(date, 0), at(date + Duration::days(1), 0)),
        Some(w) => {
            let end_day = if w.crosses_midnight() {
                date + Duration::days(1)
            } else {
                date
            };
            (at(date, w.start_minute()), at(end_day, w.end_minute()))
        }
    }
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

/// The 1st of the month after `date`'s.
fn first_of_next_month(date: NaiveDate) -> NaiveDate {
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(date)
}

#[cfg(test)]
mod tests;
