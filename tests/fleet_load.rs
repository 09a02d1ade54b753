//! The fleet load generator run small (6 phones, 300 people), its server in a child
//! process as the bench runs it: every round's answers are what that kind of sync must get,
//! and every figure it prints was measured. `harness = false`: this executable is also the
//! server child the generator starts.
#![allow(clippy::unwrap_used)]

use contacts_agent::demo::fleet::{self, FleetOptions, Kind, ServerChoice};

const DEVICES: usize = 6;

fn main() {
    if fleet::serve_child_if_asked() {
        return;
    }
    // `cargo test NAME` passes NAME to every test executable: run only when it matches.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filters.is_empty()
        && !filters
            .iter()
            .any(|f| "fleet_load_smoke".contains(f.as_str()))
    {
        return;
    }
    let opts = FleetOptions {
        devices: DEVICES,
        users: 300,
        clients: 2,
        throughput_clients: vec![1, 3],
        server: ServerChoice::Child { workers: 2 },
        ..FleetOptions::default()
    };
    let mut progress = Vec::new();
    let report = fleet::run(&opts, &mut progress).unwrap();
    let printed = report.to_string();
    println!("{}{printed}", String::from_utf8_lossy(&progress));

    // 5 rounds by kind, then no-change and relevant at each throughput client count.
    assert_eq!(report.rounds.len(), 5 + 2 * 2);
    for r in &report.rounds {
        assert_eq!(
            (r.syncs, r.errors),
            (DEVICES, 0),
            "{:?}: {:?}",
            r.kind,
            r.first_error
        );
        assert!(r.server_cpu.is_some(), "{:?}: server CPU not read", r.kind);
        assert!(
            r.percentile(50) <= r.percentile(99) && r.percentile(99) > std::time::Duration::ZERO
        );
        assert!(r.syncs_per_second() > 0.0);
    }
    let n = report.contacts_per_device;
    assert!(n > 100, "each phone holds the all-groups set, {n} contacts");
    let first = report.round(Kind::First).unwrap();
    assert_eq!(first.full, DEVICES);
    assert_eq!(first.upserts, (n * DEVICES) as u64);
    assert!(first.server_cpu.unwrap() > std::time::Duration::ZERO);
    // Nothing changed, or nothing these phones hold: nothing arrives.
    for kind in [Kind::NoChange, Kind::UnrelatedDevice, Kind::UnrelatedUser] {
        let r = report.round(kind).unwrap();
        assert_eq!((r.full, r.upserts, r.deletes), (0, 0, 0), "{kind:?}");
    }
    assert_eq!(report.round(Kind::NoChange).unwrap().unchanged, DEVICES);
    // One user every phone holds was edited: exactly that contact arrives, as a delta.
    for r in report.rounds.iter().filter(|r| r.kind == Kind::Relevant) {
        assert_eq!((r.full, r.upserts, r.deletes), (0, DEVICES as u64, 0));
    }
    // The server finds each phone's report true: the simulation reports as the agent does.
    assert_eq!(report.verified, DEVICES);
    // Devices cost storage; the child's memory was read.
    assert!(report.storage_per_device(&report.storage_first).unwrap() > 0.0);
    assert!(report.peak_rss_kib.unwrap() > 1024);
    for kind in [
        Kind::First,
        Kind::NoChange,
        Kind::UnrelatedDevice,
        Kind::UnrelatedUser,
        Kind::Relevant,
    ] {
        assert!(printed.contains(kind.label()), "{printed}");
    }
    assert!(printed.contains("storage per device") && printed.contains("server peak RSS"));
    println!("fleet_load_smoke ok");
}
