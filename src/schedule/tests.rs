use super::*;
use chrono::Timelike;
use chrono_tz::Europe::Warsaw;
use proptest::prelude::*;

mod fleet;

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
        ..Default::default()
    }
}

fn window(start: &str, end: &str) -> Option<SyncWindow> {
    Some(SyncWindow::parse(start, end).unwrap_or_else(|e| panic!("{e}")))
}

fn pending(received_at: DateTime<Utc>, minutes: i64) -> Option<PendingPolicy> {
    Some(PendingPolicy {
        received_at,
        rollout: Duration::minutes(minutes),
    })
}

/// The device whose slot is `hours` into the day (a fraction of 24 h).
fn at_hour(hours: f64) -> Jitter {
    Jitter::at_fraction(hours / 24.0)
}

#[test]
fn disabled_interval_syncs_once_per_policy_version() {
    let never_synced = RunClock::default();
    let first = next_sync(
        SyncInterval::Disabled,
        None,
        pending(utc("2026-03-01T10:00:00Z"), 60),
        &never_synced,
        Jitter::none(),
        &Utc,
    );
    assert_eq!(first, NextRun::Now);
    let clock = succeeded(utc("2026-03-01T10:00:00Z"));
    let synced = next_sync(
        SyncInterval::Disabled,
        None,
        None,
        &clock,
        Jitter::none(),
        &Utc,
    );
    assert_eq!(synced, NextRun::Never);
}

#[test]
fn a_new_policy_version_comes_at_the_device_s_place_in_the_rollout_spread() {
    let clock = succeeded(utc("2026-03-01T10:00:00Z"));
    let received = utc("2026-03-05T00:05:00Z");
    for interval in SyncInterval::ALL {
        let next = next_sync(
            interval,
            None,
            pending(received, 60),
            &clock,
            Jitter::at_fraction(0.5),
            &Utc,
        );
        assert_eq!(at(next), received + Duration::minutes(30));
        // A rollout of 0 minutes: at once.
        let now = next_sync(
            interval,
            None,
            pending(received, 0),
            &clock,
            Jitter::at_fraction(0.5),
            &Utc,
        );
        assert_eq!(at(now), received);
    }
}

#[test]
fn daily_keeps_local_wall_clock_time_on_ordinary_days_across_dst() {
    // Warsaw moves to summer time on 2026-03-29 (a 23-hour day).
    let mut clock = succeeded(utc("2026-03-26T07:00:00Z"));
    let mut local_times = Vec::new();
    for _ in 0..5 {
        let next = at(next_periodic(
            Cadence::Daily,
            None,
            &clock,
            at_hour(8.0),
            &Warsaw,
        ));
        local_times.push(next.with_timezone(&Warsaw).naive_local());
        clock.last_success = Some(next);
    }
    let shown: Vec<String> = local_times.iter().map(|t| t.to_string()).collect();
    assert_eq!(
        shown,
        [
            "2026-03-27 08:00:00",
            "2026-03-28 08:00:00",
            // The clock-change day: 8/24 of its 23 real hours after local midnight.
            "2026-03-29 08:40:00",
            "2026-03-30 08:00:00",
            "2026-03-31 08:00:00",
        ]
    );
}

#[test]
fn a_run_far_off_its_slot_skips_to_the_next_slot_instead_of_half_a_day_later() {
    // Slot 00:10; a forced run at 23:50 must not make the run due twenty minutes later,
    // nor pile the fleet at "last + 12 h": the next run is the following day's slot.
    let clock = succeeded(utc("2026-05-04T23:50:00Z"));
    let j = Jitter::at_fraction(10.0 / 1440.0);
    let next = at(next_periodic(Cadence::Daily, None, &clock, j, &Utc));
    assert_eq!(next, utc("2026-05-06T00:10:00Z"));
    // A first sync at 00:05 (a policy applied just after midnight) for a 03:00 slot.
    let clock = succeeded(utc("2026-05-05T00:05:00Z"));
    let next = at(next_periodic(
        Cadence::Daily,
        None,
        &clock,
        at_hour(3.0),
        &Utc,
    ));
    assert_eq!(next, utc("2026-05-06T03:00:00Z"));
    // ...and for a 15:00 slot the same day.
    let next = at(next_periodic(
        Cadence::Daily,
        None,
        &clock,
        at_hour(15.0),
        &Utc,
    ));
    assert_eq!(next, utc("2026-05-05T15:00:00Z"));
}

#[test]
fn a_window_holds_every_slot_even_across_midnight() {
    let clock = succeeded(utc("2026-05-04T12:00:00Z"));
    for f in [0.0, 0.25, 0.5, 0.999] {
        let next = at(next_periodic(
            Cadence::Daily,
            window("01:00", "05:00"),
            &clock,
            Jitter::at_fraction(f),
            &Utc,
        ));
        assert!(next >= utc("2026-05-05T01:00:00Z") && next < utc("2026-05-05T05:00:00Z"));
        let next = at(next_periodic(
            Cadence::Daily,
            window("22:00", "02:00"),
            &clock,
            Jitter::at_fraction(f),
            &Utc,
        ));
        // 12:00 + 12 h = 00:00: the window that opened at 22:00 on the 4th is still open.
        assert!(
            next >= utc("2026-05-05T00:00:00Z") && next < utc("2026-05-06T02:00:00Z"),
            "{next}"
        );
        let local = next.time();
        assert!(local.hour() >= 22 || local.hour() < 2, "{next}");
    }
}

#[test]
fn weekly_and_monthly_spread_over_their_days() {
    let clock = succeeded(utc("2026-05-04T12:00:00Z")); // a Monday
    let days: std::collections::HashSet<_> = (0..7)
        .map(|d| {
            let j = Jitter::at_fraction((f64::from(d) + 0.5) / 7.0);
            at(next_periodic(Cadence::Weekly, None, &clock, j, &Utc)).weekday()
        })
        .collect();
    assert_eq!(days.len(), 7);
    let j = Jitter::at_fraction(0.999_999);
    let monthly = at(next_periodic(Cadence::Monthly, None, &clock, j, &Utc));
    assert_eq!(monthly.day(), 28);
    assert!(monthly > utc("2026-05-18T12:00:00Z"));
}

#[test]
fn a_missed_period_gives_one_run_not_one_per_period() {
    // Phone off for three months: due now, once; after that run the next is weeks out.
    let clock = succeeded(utc("2026-01-15T09:00:00Z"));
    let now = utc("2026-04-20T12:00:00Z");
    let j = Jitter::for_device("device-1");
    let next = next_periodic(Cadence::Monthly, None, &clock, j, &Utc);
    assert!(next.is_due(now));
    let after_run = succeeded(now);
    let next = at(next_periodic(Cadence::Monthly, None, &after_run, j, &Utc));
    assert!(next >= now + Duration::days(14), "{next}");
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
        None,
        None,
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
        None,
        None,
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
        next_backup(BackupInterval::Off, None, &clock, Jitter::none(), &Utc),
        NextRun::Never
    );
    assert_eq!(
        next_backup(BackupInterval::Weekly, None, &clock, Jitter::none(), &Utc),
        NextRun::Now
    );
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

fn arb_window() -> impl Strategy<Value = Option<SyncWindow>> {
    prop_oneof![
        Just(None),
        (0u16..1440, 1u16..1440).prop_map(|(s, len)| SyncWindow::new(s, (s + len) % 1440).ok()),
    ]
}

proptest! {
    #[test]
    fn the_next_run_keeps_the_gap_and_stays_within_two_periods(
        last in arb_time(),
        cadence in arb_cadence(),
        window in arb_window(),
        device in "[a-z0-9]{1,12}",
    ) {
        let clock = succeeded(last);
        let next = at(next_periodic(cadence, window, &clock, Jitter::for_device(&device), &Warsaw));
        let max = match cadence {
            Cadence::Daily => Duration::days(2) + Duration::hours(2),
            Cadence::Weekly => Duration::days(14) + Duration::hours(2),
            Cadence::Monthly => Duration::days(62),
        };
        prop_assert!(next >= last + cadence.min_gap());
        prop_assert!(next - last <= max, "{} after {}", next, last);
    }

    #[test]
    fn a_slot_is_inside_its_window_on_every_day(
        day in 0i64..(40 * 365),
        window in arb_window(),
        device in "[a-z0-9]{1,12}",
    ) {
        let date = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default() + Duration::days(day);
        let slot = slot_in(Cadence::Daily, date, window, Jitter::for_device(&device), &Warsaw);
        let (from, to) = span_on(date, window, &Warsaw);
        prop_assert!(slot >= from && slot <= to, "{} not in {}..{}", slot, from, to);
    }

    #[test]
    fn running_when_due_always_pushes_the_next_run_past_now(
        last in arb_time(),
        off_for in 0i64..(3 * 365 * 86_400),
        cadence in arb_cadence(),
        window in arb_window(),
    ) {
        let clock = succeeded(last);
        let now = last + Duration::seconds(off_for);
        let j = Jitter::for_device("d");
        let next = next_periodic(cadence, window, &clock, j, &Utc);
        if next.is_due(now) {
            prop_assert!(!next_periodic(cadence, window, &succeeded(now), j, &Utc).is_due(now));
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
    fn the_rollout_is_bounded_by_the_policy(minutes in 0i64..10_080, device in ".{0,40}") {
        let received = utc("2026-05-05T00:05:00Z");
        let next = at(next_sync(
            SyncInterval::Daily, None, pending(received, minutes),
            &succeeded(utc("2026-05-01T00:00:00Z")), Jitter::for_device(&device), &Utc,
        ));
        prop_assert!(next >= received);
        prop_assert!(next <= received + Duration::minutes(minutes));
    }
}
