use super::*;
use chrono::{NaiveTime, Timelike};
use chrono_tz::Europe::Warsaw;
use proptest::prelude::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad test time {s}: {e}"))
}

fn at(next: NextRun) -> DateTime<Utc> {
    match next {
        NextRun::At(t) => t,
        other => panic!("expected a time, got {other:?}"),
    }
}

fn succeeded(at: DateTime<Utc>) -> RunClock {
    RunClock {
        last_success: Some(at),
        anchor: Some(at),
        ..Default::default()
    }
}

#[test]
fn disabled_interval_syncs_once_per_policy_version() {
    let clock = succeeded(utc("2026-03-01T10:00:00Z"));
    let pending = next_sync(SyncInterval::Disabled, true, &clock, Jitter::none(), &Utc);
    assert_eq!(pending, NextRun::Now);
    let synced = next_sync(SyncInterval::Disabled, false, &clock, Jitter::none(), &Utc);
    assert_eq!(synced, NextRun::Never);
}

#[test]
fn a_new_policy_version_is_due_at_once_whatever_the_interval() {
    let clock = succeeded(utc("2026-03-01T10:00:00Z"));
    for interval in [
        SyncInterval::Daily,
        SyncInterval::Weekly,
        SyncInterval::Monthly,
    ] {
        assert_eq!(
            next_sync(interval, true, &clock, Jitter::none(), &Utc),
            NextRun::Now
        );
    }
}

#[test]
fn daily_weekly_monthly_follow_the_last_success() {
    let clock = succeeded(utc("2026-03-10T09:00:00Z"));
    let daily = next_sync(SyncInterval::Daily, false, &clock, Jitter::none(), &Utc);
    assert_eq!(at(daily), utc("2026-03-11T09:00:00Z"));
    let weekly = next_sync(SyncInterval::Weekly, false, &clock, Jitter::none(), &Utc);
    assert_eq!(at(weekly), utc("2026-03-17T09:00:00Z"));
    let monthly = next_sync(SyncInterval::Monthly, false, &clock, Jitter::none(), &Utc);
    assert_eq!(at(monthly), utc("2026-04-10T09:00:00Z"));
}

#[test]
fn monthly_clamps_to_the_month_end_and_keeps_the_anchor_day() {
    let anchor = utc("2024-01-31T08:00:00Z");
    let mut clock = succeeded(anchor);
    let mut seen = Vec::new();
    for _ in 0..4 {
        let next = at(next_periodic(
            Cadence::Monthly,
            &clock,
            Jitter::none(),
            &Utc,
        ));
        seen.push(next.date_naive().to_string());
        clock.last_success = Some(next);
    }
    // 2024 is a leap year.
    assert_eq!(
        seen,
        ["2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"]
    );
}

#[test]
fn daily_keeps_local_wall_clock_time_across_dst() {
    // Warsaw moves to summer time on 2026-03-29: 07:00 UTC is 08:00 before, 09:00 after.
    let mut clock = succeeded(utc("2026-03-27T07:00:00Z"));
    let mut local_times = Vec::new();
    for _ in 0..4 {
        let next = at(next_periodic(
            Cadence::Daily,
            &clock,
            Jitter::none(),
            &Warsaw,
        ));
        local_times.push(next.with_timezone(&Warsaw).time());
        clock.last_success = Some(next);
    }
    let eight = NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default();
    assert!(local_times.iter().all(|t| *t == eight), "{local_times:?}");
}

#[test]
fn a_slot_inside_the_dst_gap_moves_one_hour_later() {
    // 02:30 local does not exist in Warsaw on 2026-03-29.
    let clock = succeeded(utc("2026-03-28T01:30:00Z")); // 02:30 CET
    let next = at(next_periodic(
        Cadence::Daily,
        &clock,
        Jitter::none(),
        &Warsaw,
    ));
    assert_eq!(next.with_timezone(&Warsaw).hour(), 3);
}

#[test]
fn a_missed_period_gives_one_run_not_one_per_period() {
    // Phone off for three months: due now, once; after that run the next is a month out.
    let clock = succeeded(utc("2026-01-15T09:00:00Z"));
    let now = utc("2026-04-20T12:00:00Z");
    let next = next_periodic(Cadence::Monthly, &clock, Jitter::none(), &Utc);
    assert!(next.is_due(now));
    let after_run = RunClock {
        last_success: Some(now),
        ..clock
    };
    let next = at(next_periodic(
        Cadence::Monthly,
        &after_run,
        Jitter::none(),
        &Utc,
    ));
    assert!(next > now + Duration::days(20), "{next}");
}

#[test]
fn a_failure_backs_off_instead_of_waiting_a_whole_interval() {
    let failed_at = utc("2026-03-10T09:00:00Z");
    let clock = RunClock {
        consecutive_failures: 1,
        last_failure: Some(failed_at),
        ..succeeded(utc("2026-03-09T09:00:00Z"))
    };
    let next = at(next_sync(
        SyncInterval::Weekly,
        false,
        &clock,
        Jitter::none(),
        &Utc,
    ));
    assert_eq!(next, failed_at + Duration::minutes(1));
    let clock = RunClock {
        consecutive_failures: 30,
        ..clock
    };
    let next = at(next_sync(
        SyncInterval::Weekly,
        false,
        &clock,
        Jitter::none(),
        &Utc,
    ));
    assert_eq!(next, failed_at + BACKOFF_CAP);
}

#[test]
fn backup_off_never_runs_and_first_backup_is_due_at_once() {
    let clock = RunClock::default();
    assert_eq!(
        next_backup(BackupInterval::Off, &clock, Jitter::none(), &Utc),
        NextRun::Never
    );
    assert_eq!(
        next_backup(BackupInterval::Weekly, &clock, Jitter::none(), &Utc),
        NextRun::Now
    );
}

#[test]
fn jitter_spreads_a_fleet_over_the_hour() {
    let minutes: std::collections::HashSet<i64> = (0..2000)
        .map(|i| {
            Jitter::for_device(&format!("device-{i}"))
                .offset(Cadence::Daily)
                .num_minutes()
        })
        .collect();
    // 2000 devices over 60 one-minute slots: all of them should be used.
    assert_eq!(minutes.len(), 60);
    assert_eq!(
        Jitter::for_device("d-1").offset(Cadence::Daily),
        Jitter::for_device("d-1").offset(Cadence::Daily)
    );
}

#[test]
fn a_fleet_given_a_policy_at_the_same_moment_spreads_its_next_syncs() {
    let applied = utc("2026-03-10T09:00:00Z");
    let clock = succeeded(applied);
    let slots: std::collections::HashSet<i64> = (0..500)
        .map(|i| {
            let j = Jitter::for_device(&format!("device-{i}"));
            let next = at(next_sync(SyncInterval::Daily, false, &clock, j, &Utc));
            assert!(next >= applied + Duration::days(1));
            assert!(next < applied + Duration::days(1) + Duration::hours(1));
            (next - applied).num_minutes()
        })
        .collect();
    assert!(slots.len() > 50, "only {} distinct minutes", slots.len());
    // And the device keeps its slot day after day instead of drifting.
    let j = Jitter::for_device("device-7");
    let first = at(next_sync(SyncInterval::Daily, false, &clock, j, &Utc));
    let second = at(next_sync(
        SyncInterval::Daily,
        false,
        &succeeded_after(clock, first),
        j,
        &Utc,
    ));
    assert_eq!(second - first, Duration::days(1));
}

fn succeeded_after(clock: RunClock, at: DateTime<Utc>) -> RunClock {
    RunClock {
        last_success: Some(at),
        ..clock
    }
}

fn arb_time() -> impl Strategy<Value = DateTime<Utc>> {
    // 2000-01-01 .. 2040-01-01
    (946_684_800i64..2_208_988_800i64)
        .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default())
}

fn arb_cadence() -> impl Strategy<Value = Cadence> {
    prop_oneof![
        Just(Cadence::Daily),
        Just(Cadence::Weekly),
        Just(Cadence::Monthly)
    ]
}

proptest! {
    #[test]
    fn next_periodic_is_after_the_last_success_and_within_bounds(
        anchor in arb_time(),
        extra in 0i64..400 * 86_400,
        cadence in arb_cadence(),
        device in "[a-z0-9]{1,12}",
    ) {
        let last = anchor + Duration::seconds(extra);
        let clock = RunClock { last_success: Some(last), anchor: Some(anchor), ..Default::default() };
        let jitter = Jitter::for_device(&device);
        let next = at(next_periodic(cadence, &clock, jitter, &Warsaw));
        let max = match cadence {
            Cadence::Daily => Duration::days(2) + Duration::hours(2),
            Cadence::Weekly => Duration::days(8) + Duration::hours(8),
            Cadence::Monthly => Duration::days(62 + 1),
        };
        prop_assert!(next > last);
        prop_assert!(next - last <= max, "{} after {}", next, last);
    }

    #[test]
    fn running_when_due_always_pushes_the_next_run_past_now(
        last in arb_time(),
        off_for in 0i64..(3 * 365 * 86_400),
        cadence in arb_cadence(),
    ) {
        let clock = RunClock { last_success: Some(last), anchor: Some(last), ..Default::default() };
        let now = last + Duration::seconds(off_for);
        let next = next_periodic(cadence, &clock, Jitter::none(), &Utc);
        if next.is_due(now) {
            let after = RunClock { last_success: Some(now), ..clock };
            prop_assert!(!next_periodic(cadence, &after, Jitter::none(), &Utc).is_due(now));
        }
    }

    #[test]
    fn backoff_grows_and_is_bounded(failures in 1u32..200, device in "[a-z0-9]{1,12}") {
        let j = Jitter::for_device(&device);
        let b = backoff(failures, j);
        prop_assert!(b >= BACKOFF_BASE);
        prop_assert!(b <= BACKOFF_CAP);
        prop_assert!(backoff(failures + 1, j) >= b);
    }

    #[test]
    fn monthly_series_lands_on_the_anchor_day_or_the_month_end(
        day in 1u32..=31, year in 2000i32..2040, month in 1u32..=12, steps in 1usize..30,
    ) {
        let start = NaiveDate::from_ymd_opt(year, month, day.min(days_in_month(year, month)))
            .unwrap_or_default();
        let mut d = start;
        for _ in 0..steps {
            d = next_month_on_day(d, day);
            prop_assert_eq!(d.day(), day.min(days_in_month(d.year(), d.month())));
        }
    }

    #[test]
    fn jitter_is_bounded(device in ".{0,40}") {
        for c in [Cadence::Daily, Cadence::Weekly, Cadence::Monthly] {
            let o = Jitter::for_device(&device).offset(c);
            prop_assert!(o >= Duration::zero() && o < c.jitter_bound());
        }
    }
}
