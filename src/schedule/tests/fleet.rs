//! A fleet's load on the server, from the schedule alone: 100,000 device ids given the same
//! policy at the same moment, their runs counted per minute (issue: "A schedule that
//! spreads"). Pure code, no network.

use super::*;
use std::collections::HashMap;

const FLEET: usize = 100_000;

fn fleet(n: usize) -> Vec<Jitter> {
    (0..n)
        .map(|i| Jitter::for_device(&format!("device-{i:06}")))
        .collect()
}

/// Each device's first sync after the policy arrived at `received` (local wall time in
/// Warsaw), then `periodic` scheduled runs, each done exactly when due.
fn runs(
    devices: &[Jitter],
    received: DateTime<Utc>,
    rollout_minutes: i64,
    window: Option<SyncWindow>,
    periodic: usize,
) -> Vec<DateTime<Utc>> {
    let synced_before = succeeded(received - Duration::days(3));
    let mut all = Vec::with_capacity(devices.len() * periodic);
    for &j in devices {
        let first = at(next_sync(
            SyncInterval::Daily,
            window,
            pending(received, rollout_minutes),
            &synced_before,
            j,
            &Warsaw,
        ));
        let mut clock = succeeded(first);
        for _ in 0..periodic {
            let next = at(next_periodic(Cadence::Daily, window, &clock, j, &Warsaw));
            all.push(next);
            clock = succeeded(next);
        }
    }
    all
}

/// Runs per bucket of `minutes`, keyed by the bucket's start.
fn buckets(runs: &[DateTime<Utc>], minutes: i64) -> HashMap<i64, usize> {
    let mut counts = HashMap::new();
    for t in runs {
        *counts.entry(t.timestamp() / 60 / minutes).or_insert(0) += 1;
    }
    counts
}

fn peak(counts: &HashMap<i64, usize>) -> usize {
    counts.values().copied().max().unwrap_or(0)
}

/// The busiest minute of `runs` against `mean` runs a minute, printed for the record.
fn peak_minute_ratio(runs: &[DateTime<Utc>], mean: f64, what: &str) -> f64 {
    let busiest = peak(&buckets(runs, 1));
    let ratio = busiest as f64 / mean;
    eprintln!("100k devices, daily, {what}: peak minute {busiest} runs = {ratio:.2}x the mean minute ({mean:.1})");
    ratio
}

fn local(date: &str, time: &str) -> DateTime<Utc> {
    let t = NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M")
        .unwrap_or_else(|e| panic!("{e}"));
    to_utc(t, &Warsaw)
}

#[test]
fn a_100k_fleet_without_a_window_peaks_at_under_twice_the_daily_mean_minute() {
    // The policy is applied just after local midnight: the case that once sent two thirds
    // of a fleet to "last sync + 12 h" in one minute.
    let received = local("2026-05-05", "00:05");
    let all = runs(&fleet(FLEET), received, 60, None, 2);
    let ratio = peak_minute_ratio(&all, FLEET as f64 / 1440.0, "no window");
    assert!(ratio <= 2.0, "peak minute {ratio:.2}x the daily mean");
}

#[test]
fn a_100k_fleet_with_a_window_peaks_at_under_1_5_times_the_mean_minute_inside_it() {
    let received = local("2026-05-05", "10:00");
    let w = SyncWindow::parse("01:00", "05:00").ok();
    let all = runs(&fleet(FLEET), received, 60, w, 1);
    let (from, to) = (local("2026-05-06", "01:00"), local("2026-05-06", "05:00"));
    assert!(
        all.iter().all(|t| *t >= from && *t < to),
        "a run outside the window"
    );
    let ratio = peak_minute_ratio(&all, FLEET as f64 / 240.0, "window 01:00-05:00");
    assert!(ratio <= 1.5, "peak minute {ratio:.2}x the window's mean");
}

#[test]
fn no_policy_time_of_day_or_clock_change_makes_a_pile_up() {
    // 5,000 devices, 10-minute buckets (so that chance alone stays well inside the bound),
    // policy times through the whole day, on an ordinary day and both of Warsaw's clock
    // changes, with no window, a window inside the night (and the spring gap), and one
    // across midnight. Each day's runs are compared with that day's real window length.
    let devices = fleet(5_000);
    let windows = [
        None,
        SyncWindow::parse("01:00", "05:00").ok(),
        SyncWindow::parse("22:00", "02:00").ok(),
    ];
    for date in ["2026-05-05", "2026-03-28", "2026-10-24"] {
        for minute in (5..1440).step_by(127) {
            let time = format!("{:02}:{:02}", minute / 60, minute % 60);
            let received = local(date, &time);
            for window in windows {
                let all = runs(&devices, received, 60, window, 3);
                let mut by_day: HashMap<NaiveDate, Vec<DateTime<Utc>>> = HashMap::new();
                for t in &all {
                    let (from, _) = span_on(t.with_timezone(&Warsaw).date_naive(), window, &Warsaw);
                    // A crossing window's early hours belong to the day it opened.
                    let opened = if from > *t {
                        t.with_timezone(&Warsaw).date_naive() - Duration::days(1)
                    } else {
                        t.with_timezone(&Warsaw).date_naive()
                    };
                    by_day.entry(opened).or_default().push(*t);
                }
                for (day, day_runs) in &by_day {
                    let (from, to) = span_on(*day, window, &Warsaw);
                    let mean = devices.len() as f64 / ((to - from).num_minutes() as f64 / 10.0);
                    let ratio = peak(&buckets(day_runs, 10)) as f64 / mean;
                    let bound = if window.is_some() { 1.5 } else { 2.0 };
                    assert!(
                        ratio <= bound,
                        "policy at {date} {time}, window {:?}: on {day} a 10-minute bucket holds {ratio:.2}x the mean",
                        window.map(SyncWindow::label)
                    );
                }
            }
        }
    }
}
