//! The scheduler's entry point against the real server: when run-due syncs, when it does not,
//! force sync, and what a failed run leaves behind.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use common::World;
use contacts_agent::agent::Agent;
use contacts_agent::store::sqlite::SqliteStore;
use contacts_agent_server::{Config, Server};
use serde_json::Value;

fn clocked(w: &World) -> (Agent<SqliteStore>, Arc<Mutex<DateTime<Utc>>>) {
    let mut agent = w.agent();
    let now = Arc::new(Mutex::new(Utc::now()));
    let handle = Arc::clone(&now);
    agent.set_clock(move || *handle.lock().unwrap());
    (agent, now)
}

fn advance(now: &Mutex<DateTime<Utc>>, by: Duration) {
    *now.lock().unwrap() += by;
}

#[test]
fn disabled_interval_syncs_once_per_policy_version_and_on_force() {
    let w = World::new(200);
    w.set_policy("none", &["harvey"], "disabled");
    let (mut agent, now) = clocked(&w);
    assert!(
        agent.run_due().unwrap().sync.unwrap().is_ok(),
        "first application syncs"
    );
    assert!(agent.run_due().unwrap().sync.is_none());
    advance(&now, Duration::days(40));
    assert!(
        agent.run_due().unwrap().sync.is_none(),
        "never again by time alone"
    );
    assert!(agent.status().unwrap().next_sync.is_none());

    w.set_policy("none", &["harvey", "mike"], "disabled");
    let r = agent.run_due().unwrap().sync.unwrap().unwrap();
    assert_eq!(r.reason, contacts_agent::Reason::PolicyApplied);
    let reported = |w: &World| -> Value {
        w.admin
            .get(&format!("/v1/admin/devices/{}/status", w.device))
            .unwrap()
    };
    // The report names why the run ran, in the protocol's words, and how long it took (the
    // test's clock stands still, so 0 ms).
    let status = reported(&w);
    assert_eq!(status["last_sync_reason"], "policy_applied");
    assert_eq!(status["last_sync_duration_ms"], 0);
    assert!(agent.run_due().unwrap().sync.is_none());

    let _: Value = w
        .admin
        .post(
            &format!("/v1/admin/devices/{}/sync", w.device),
            &serde_json::json!({}),
        )
        .unwrap();
    let r = agent.run_due().unwrap().sync.unwrap().unwrap();
    assert_eq!(r.reason, contacts_agent::Reason::Forced);
    assert_eq!(reported(&w)["last_sync_reason"], "forced");
    // The command was reported done, so it does not force again.
    assert!(agent.run_due().unwrap().sync.is_none());
    let cmds: Vec<Value> = w
        .admin
        .get(&format!("/v1/admin/devices/{}/commands", w.device))
        .unwrap();
    assert!(cmds.iter().all(|c| c["completed_at"].is_string()));
}

#[test]
fn daily_interval_runs_once_a_day_and_once_after_a_long_sleep() {
    let w = World::new(200);
    let (mut agent, now) = clocked(&w);
    agent.run_due().unwrap().sync.unwrap().unwrap();
    // The device's slot: the first one at least half a day after the last sync.
    let t0 = *now.lock().unwrap();
    let slot = agent.status().unwrap().next_sync.unwrap();
    assert!(
        slot >= t0 + Duration::hours(12) && slot < t0 + Duration::hours(36),
        "{slot} vs {t0}"
    );
    advance(&now, slot - t0 - Duration::minutes(1));
    assert!(agent.run_due().unwrap().sync.is_none());
    advance(&now, Duration::minutes(1));
    let r = agent.run_due().unwrap().sync.unwrap().unwrap();
    assert_eq!(r.reason, contacts_agent::Reason::Scheduled);
    // Phone off for ten days: one sync on wake-up, not ten.
    advance(&now, Duration::days(10));
    assert!(agent.run_due().unwrap().sync.is_some());
    assert!(agent.run_due().unwrap().sync.is_none());
    let next = agent.status().unwrap().next_sync.unwrap();
    let t = *now.lock().unwrap();
    assert!(
        next >= t + Duration::hours(12) && next < t + Duration::hours(36),
        "{next} vs {t}"
    );
}

#[test]
fn a_failed_run_backs_off_is_recorded_and_its_report_is_delivered_later() {
    let w = World::new(200);
    let (mut agent, now) = clocked(&w);
    agent.run_due().unwrap().sync.unwrap().unwrap();
    let addr = w.server.addr();
    // Take the server down: the scheduled sync fails.
    let World {
        server,
        dir,
        device,
        ..
    } = w;
    server.stop();
    advance(&now, Duration::days(2));
    let r = agent.run_due().unwrap();
    let err = r.sync.unwrap().unwrap_err();
    assert!(
        err.to_string().contains("could not reach the server"),
        "{err}"
    );
    let t = *now.lock().unwrap();
    assert!(
        r.next_wake_up >= t + Duration::minutes(1) && r.next_wake_up <= t + Duration::seconds(76),
        "{}",
        r.next_wake_up
    );
    let status = agent.status().unwrap();
    assert_eq!(status.consecutive_failures, 1);
    assert!(status.last_sync_result.unwrap().starts_with("failed"));
    assert_eq!(status.pending_reports, 1);
    assert_eq!(status.recent_runs[0].outcome, "failed");
    // A second failure doubles the wait.
    advance(&now, Duration::minutes(2));
    let r = agent.run_due().unwrap();
    assert!(r.sync.unwrap().is_err());
    let t = *now.lock().unwrap();
    assert!(
        r.next_wake_up >= t + Duration::minutes(2),
        "{}",
        r.next_wake_up
    );

    // Back up on the same address: the retry succeeds and the queued reports go out.
    let server = Server::start(Config {
        bind: addr.to_string(),
        workers: 2,
        ..Config::local(dir.path().join("server.db"), common::ADMIN_TOKEN)
    })
    .unwrap();
    advance(&now, Duration::minutes(5));
    let r = agent.run_due().unwrap().sync.unwrap().unwrap();
    assert_eq!(r.reason, contacts_agent::Reason::Retry);
    assert_eq!(agent.status().unwrap().pending_reports, 0);
    // A fresh admin client: tiny_http keeps the old server's idle keep-alive connections
    // parked in this process (a real restart is a new process), so pooled ones would hang.
    let admin = contacts_agent::demo::admin::AdminClient::new(
        &format!("http://{addr}"),
        common::ADMIN_TOKEN,
    );
    let status: Value = admin
        .get(&format!("/v1/admin/devices/{device}/status"))
        .unwrap();
    assert_eq!(status["last_sync_result"], "ok");
    assert_eq!(status["last_sync_reason"], "retry");
    drop(server);
}
