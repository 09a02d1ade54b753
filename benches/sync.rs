//! `cargo bench --bench sync`: figures for the sync slice, each beside a baseline measured in
//! the same run. Prints, asserts nothing.
//!
//! - diff of 100k vs 100k (1% changed), against a sort-and-merge of the same pairs;
//! - first sync of 10,000 contacts over loopback into the SQLite phone; a no-change sync; a
//!   sync after 1% changed; each with the bytes that crossed the socket (a counting proxy);
//!   the no-change delta sync against a forced full fetch of the same set;
//! - backup of 10,000 personal contacts: archive time and size against reading them alone,
//!   upload over loopback, reader throughput, restore into an empty store;
//! - first sync of 10,000 contacts of which 300 carry a photo (one request per photo on a
//!   reused connection: where a server's write pattern meets Nagle and delayed ACKs), against
//!   the same sync without photos in the same run;
//! - peak RSS of a 100k-contact first sync, in a child process, against the same child's
//!   RSS before syncing;
//! - first sync and a sync after 1% changed for a phone whose policy has a field allow-list
//!   (the server filters and re-hashes every entitled contact), against a phone on a policy
//!   without one, in the same run; then the sync after the list itself changes.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use contacts_agent::agent::{Agent, AgentConfig};
use contacts_agent::backup::archive::read_archive;
use contacts_agent::backup::vcard::parse_all;
use contacts_agent::backup::write_archive;
use contacts_agent::client::{Client, ClientOptions, Compression};
use contacts_agent::demo::admin::AdminClient;
use contacts_agent::diff::full_diff;
use contacts_agent::store::sqlite::SqliteStore;
use contacts_agent::store::{Address, ContactStore, EntryState, IndexEntry, Item, PersonalData};
use contacts_agent_server::{seed, Config, Server};
use serde_json::{json, Value};

const TOKEN: &str = "bench-admin-token-0123456789";

fn main() {
    if std::env::var("BENCH_CHILD").is_ok() {
        return rss_child();
    }
    // BENCH_ONLY=diff|sync|photos|backup|rss|fields runs one part.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let run = |part: &str| only.is_empty() || only == part;
    if run("diff") {
        bench_diff();
    }
    if run("sync") {
        bench_sync_10k();
    }
    if run("photos") {
        bench_photos_10k();
    }
    if run("backup") {
        bench_backup_10k();
    }
    if run("rss") {
        bench_rss_100k();
    }
    if run("fields") {
        bench_fields_10k();
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..n {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed());
        out = Some(r);
    }
    (best, out.unwrap())
}

fn bench_diff() {
    let n = 100_000;
    let server: Vec<(String, String)> = (0..n)
        .map(|i| (format!("u-{i:06}"), format!("{:032x}", i * 7)))
        .collect();
    let store: Vec<IndexEntry> = (0..n)
        .map(|i| IndexEntry {
            raw_id: i as i64,
            id: format!("u-{i:06}"),
            hash: format!("{:032x}", if i % 100 == 0 { i * 3 } else { i * 7 }),
            photo_hash: None,
            state: EntryState::Clean,
        })
        .collect();
    let (t_diff, plan) = best_of(5, || {
        full_diff(
            server.iter().map(|(a, b)| (a.as_str(), b.as_str())),
            store.clone(),
        )
        .unwrap()
    });
    let (t_clone, _) = best_of(5, || store.clone());
    let (t_merge, changed) = best_of(5, || {
        let mut a: Vec<(&str, &str)> = server
            .iter()
            .map(|(x, y)| (x.as_str(), y.as_str()))
            .collect();
        let mut b: Vec<(&str, &str)> = store
            .iter()
            .map(|e| (e.id.as_str(), e.hash.as_str()))
            .collect();
        a.sort_unstable();
        b.sort_unstable();
        a.iter().zip(&b).filter(|(x, y)| x != y).count()
    });
    assert_eq!(plan.len(), changed);
    let diff_only = t_diff.saturating_sub(t_clone);
    println!("diff 100k vs 100k (1% changed, {} actions)", plan.len());
    println!(
        "  streaming diff (sorted index):{} (of which {} cloning the input)",
        ms(t_diff),
        ms(t_clone)
    );
    println!(
        "  baseline sort+merge:      {}   ratio diff/baseline = {:.2}",
        ms(t_merge),
        diff_only.as_secs_f64() / t_merge.as_secs_f64()
    );
}

/// A loopback TCP proxy that counts the bytes in each direction.
struct Proxy {
    addr: std::net::SocketAddr,
    down: Arc<AtomicU64>,
    up: Arc<AtomicU64>,
    /// Request lines naming `/v1/device/photos` (one or a batch) seen going up.
    photo_requests: Arc<AtomicU64>,
}

impl Proxy {
    fn start(target: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let down = Arc::new(AtomicU64::new(0));
        let up = Arc::new(AtomicU64::new(0));
        let (d, u) = (Arc::clone(&down), Arc::clone(&up));
        let photo_requests = Arc::new(AtomicU64::new(0));
        let pr = Arc::clone(&photo_requests);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let server = TcpStream::connect(target).unwrap();
                // The proxy forwards each read as it comes; without this its own Nagle
                // waits would show up as the server's.
                client.set_nodelay(true).unwrap();
                server.set_nodelay(true).unwrap();
                pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    Arc::clone(&u),
                    Some(Arc::clone(&pr)),
                );
                pipe(server, client, Arc::clone(&d), None);
            }
        });
        Proxy {
            addr,
            down,
            up,
            photo_requests,
        }
    }

    fn take_photo_requests(&self) -> u64 {
        self.photo_requests.swap(0, Ordering::SeqCst)
    }

    fn take(&self) -> (u64, u64) {
        (
            self.down.swap(0, Ordering::SeqCst),
            self.up.swap(0, Ordering::SeqCst),
        )
    }
}

fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    count: Arc<AtomicU64>,
    photo_requests: Option<Arc<AtomicU64>>,
) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = to.shutdown(std::net::Shutdown::Write);
                    return;
                }
                Ok(n) => {
                    count.fetch_add(n as u64, Ordering::SeqCst);
                    if let Some(pr) = &photo_requests {
                        let hits = buf[..n]
                            .windows(23)
                            .filter(|w| {
                                w.starts_with(b"GET /v1/device/photos")
                                    || w.starts_with(b"POST /v1/device/photos")
                            })
                            .count();
                        pr.fetch_add(hits as u64, Ordering::SeqCst);
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

struct Fixture {
    _dir: tempfile::TempDir,
    server: Server,
    admin: AdminClient,
    code: String,
    dir_path: std::path::PathBuf,
    /// Users who belong to at least one group, in seed order.
    server_users_in_groups: Vec<String>,
}

fn fixture(users: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    {
        let conn = contacts_agent_server::db::open(&db).unwrap();
        seed::seed_company(&conn, users, 42).unwrap();
    }
    let server = Server::start(Config {
        workers: 2,
        ..Config::local(db, TOKEN)
    })
    .unwrap();
    let admin = AdminClient::new(&server.url(), TOKEN);
    let _: Value = admin
        .post("/v1/admin/policies", &json!({"id": "all", "name": "All", "basic_type": "all_groups", "sync_interval": "daily"}))
        .unwrap();
    let created: Value = admin
        .post(
            "/v1/admin/devices",
            &json!({"name": "bench", "policy_id": "all"}),
        )
        .unwrap();
    let mut in_groups = std::collections::BTreeSet::new();
    for g in seed::GROUPS {
        let members: Vec<String> = admin
            .get(&format!("/v1/admin/groups/{}/members", g.0))
            .unwrap();
        in_groups.extend(members);
    }
    Fixture {
        server_users_in_groups: in_groups.into_iter().collect(),
        dir_path: dir.path().to_owned(),
        _dir: dir,
        server,
        admin,
        code: created["enrollment_code"].as_str().unwrap().to_owned(),
    }
}

/// An enrolled SQLite phone behind the counting proxy, asking for `compression`.
fn bench_phone(f: &Fixture, url: &str, name: &str, compression: Compression) -> Agent<SqliteStore> {
    bench_phone_on(f, url, name, compression, "all")
}

fn bench_phone_on(
    f: &Fixture,
    url: &str,
    name: &str,
    compression: Compression,
    policy: &str,
) -> Agent<SqliteStore> {
    let created: Value = f
        .admin
        .post(
            "/v1/admin/devices",
            &json!({"name": name, "policy_id": policy}),
        )
        .unwrap();
    let store = SqliteStore::open(&f.dir_path.join(format!("{name}.db")), "bench").unwrap();
    let mut config = AgentConfig::new(f.dir_path.join(format!("{name}-state.db")));
    config.client.compression = compression;
    let mut agent = Agent::open(config, store).unwrap();
    agent
        .enroll(
            url,
            created["enrollment_code"].as_str().unwrap(),
            name,
            false,
        )
        .unwrap();
    agent
}

/// The server changes the title of every hundredth contact `phone` holds.
fn change_one_percent(f: &Fixture, phone: &mut Agent<SqliteStore>) {
    let ids: Vec<String> = phone
        .managed_contacts(0, 100_000)
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    for id in ids.iter().step_by(100) {
        let mut u: Value = f.admin.get(&format!("/v1/admin/users/{id}")).unwrap();
        u["contact"]["title"] = json!("Changed");
        let _: Value = f
            .admin
            .put(&format!("/v1/admin/users/{id}"), &u["contact"])
            .unwrap();
    }
}

fn bench_sync_10k() {
    let f = fixture(10_400);
    let proxy = Proxy::start(f.server.addr());
    let url = format!("http://{}", proxy.addr);
    // The same sync in one run: asking for zstd (as the agent does), for gzip
    // only, and for plain answers. The first phone's sync is the cold one: the server
    // computes and stores the set and the contact versions it sends, the others reuse them.
    // A fourth phone, zstd again, syncs last: the codings compared on a warm server.
    let mut phones = [
        (
            "zstd cold",
            bench_phone(&f, &url, "bench-zstd", Compression::Zstd),
        ),
        (
            "gzip",
            bench_phone(&f, &url, "bench-gzip", Compression::Gzip),
        ),
        (
            "plain",
            bench_phone(&f, &url, "bench-plain", Compression::Off),
        ),
        (
            "zstd",
            bench_phone(&f, &url, "bench-zstd-2", Compression::Zstd),
        ),
    ];
    proxy.take();

    let mut first_count = 0;
    let mut lines = Vec::new();
    for (label, agent) in phones.iter_mut() {
        let t = Instant::now();
        let first = agent.sync_now().unwrap();
        let t_first = t.elapsed();
        let (down, up) = proxy.take();
        first_count = first.managed_count;
        lines.push(format!(
            "  first sync, {label:<9}:   {:>10}  {:>9} B received, {:>7} B sent",
            ms(t_first),
            down,
            up
        ));
        lines.push(breakdown(&first.phases, t_first));
    }
    lines.push(row_building(&mut phones[0].1));
    println!("\nsync over loopback into the SQLite phone ({first_count} contacts)");
    for l in lines.drain(..) {
        println!("{l}");
    }

    let mut t_nc_zstd = Duration::ZERO;
    let mut down_nc_zstd = 0;
    for (label, agent) in phones.iter_mut() {
        let mut no_change = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let r = agent.sync_now().unwrap();
            assert_eq!(r.counts.inserted + r.counts.updated + r.counts.deleted, 0);
            no_change.push((t.elapsed(), proxy.take()));
        }
        no_change.sort();
        let (t_nc, (down_nc, up_nc)) = no_change[no_change.len() / 2];
        if *label == "zstd cold" {
            (t_nc_zstd, down_nc_zstd) = (t_nc, down_nc);
        }
        println!("  no-change, {label:<9}:    {:>10}  {:>9} B received, {:>7} B sent (median of 5: contacts + status report)", ms(t_nc), down_nc, up_nc);
    }

    // 1% of the directory changes on the server.
    change_one_percent(&f, &mut phones[0].1);
    proxy.take();
    for (label, agent) in phones.iter_mut() {
        let t = Instant::now();
        let r = agent.sync_now().unwrap();
        let t_1 = t.elapsed();
        let (down1, up1) = proxy.take();
        println!(
            "  1% changed, {label:<9}:   {:>10}  {:>9} B received, {:>7} B sent ({} updated)",
            ms(t_1),
            down1,
            up1,
            r.counts.updated
        );
    }

    // Baseline: the same no-change sync, but forced to a full fetch (what an engine without
    // sync tokens does every time).
    let agent = &mut phones[0].1;
    agent.state().clear_sync_token().unwrap();
    let t = Instant::now();
    let full = agent.sync_now().unwrap();
    let t_full = t.elapsed();
    let (down_f, _) = proxy.take();
    assert_eq!(full.counts.unchanged, first_count);
    println!(
        "  baseline full fetch, zstd: {:>10}  {:>9} B received",
        ms(t_full),
        down_f
    );
    println!(
        "  ratio no-change/full: time {:.3}, bytes {:.5}",
        t_nc_zstd.as_secs_f64() / t_full.as_secs_f64(),
        down_nc_zstd as f64 / down_f as f64
    );
}

/// One line: where a sync's time went (`sync::Phases`), and what is left (status report,
/// policy, bookkeeping in the agent's state).
fn breakdown(p: &contacts_agent::sync::Phases, total: Duration) -> String {
    let other = total.saturating_sub(p.index + p.fetch_wait + p.plan + p.write);
    format!(
        "    of which: fetch {} on its own thread, waited for {} (client's JSON parse {}, the rest the server's work, transfer, decompression), diff + plan {}, writes (rows + SQLite) {}, index reads {}, rest {}",
        ms(p.fetch),
        ms(p.fetch_wait),
        ms(p.parse),
        ms(p.plan),
        ms(p.write),
        ms(p.index),
        ms(other)
    )
}

/// Row building alone (`to_rows` of every contact the phone holds), to tell it from SQLite
/// inside the write phase.
fn row_building(phone: &mut Agent<SqliteStore>) -> String {
    let contacts = phone.managed_contacts(0, 1_000_000).unwrap();
    let (t, rows) = best_of(3, || {
        contacts
            .iter()
            .map(|c| contacts_agent::store::rows::to_rows(&c.data).len())
            .sum::<usize>()
    });
    format!(
        "    row building alone: {} for {} contacts ({rows} rows), best of 3",
        ms(t),
        contacts.len()
    )
}

fn bench_fields_10k() {
    let f = fixture(10_400);
    let narrow = [
        "organization",
        "work_phones",
        "work_emails",
        "addresses",
        "note",
    ];
    let _: Value = f
        .admin
        .post(
            "/v1/admin/policies",
            &json!({"id": "narrow", "name": "Narrow", "basic_type": "all_groups",
                    "sync_interval": "daily", "fields": narrow}),
        )
        .unwrap();
    let proxy = Proxy::start(f.server.addr());
    let url = format!("http://{}", proxy.addr);
    let mut phones = [
        (
            "no list",
            bench_phone_on(&f, &url, "fields-all", Compression::Zstd, "all"),
        ),
        (
            "list",
            bench_phone_on(&f, &url, "fields-narrow", Compression::Zstd, "narrow"),
        ),
    ];
    proxy.take();
    println!("\nfield allow-list: the server filters and re-hashes (zstd, SQLite phone)");
    for (label, agent) in phones.iter_mut() {
        let t = Instant::now();
        let r = agent.sync_now().unwrap();
        let (down, _) = proxy.take();
        println!(
            "  first sync, {label:<8}  {:>10}  {:>9} B received ({} contacts)",
            ms(t.elapsed()),
            down,
            r.managed_count
        );
    }
    change_one_percent(&f, &mut phones[0].1);
    proxy.take();
    for (label, agent) in phones.iter_mut() {
        let t = Instant::now();
        let r = agent.sync_now().unwrap();
        let (down, _) = proxy.take();
        println!(
            "  1% changed, {label:<8}  {:>10}  {:>9} B received ({} updated)",
            ms(t.elapsed()),
            down,
            r.counts.updated
        );
    }
    // The admin narrows the list further: every contact's hash changes.
    let _: Value = f
        .admin
        .put(
            "/v1/admin/policies/narrow",
            &json!({"name": "Narrow", "basic_type": "all_groups", "sync_interval": "daily",
                    "fields": ["work_phones"]}),
        )
        .unwrap();
    proxy.take();
    let agent = &mut phones[1].1;
    let t = Instant::now();
    let r = agent.sync_now().unwrap();
    let (down, _) = proxy.take();
    println!(
        "  list narrowed to work_phones: {:>10}  {:>9} B received ({} updated)",
        ms(t.elapsed()),
        down,
        r.counts.updated
    );
}

/// A 4 KB JPEG-looking photo, different for each `i`.
fn photo_bytes(i: usize) -> Vec<u8> {
    [0xFF, 0xD8, 0xFF, 0xE0]
        .into_iter()
        .chain((0..4096u32).map(|b| ((b ^ i as u32).wrapping_mul(2_654_435_761) >> 13) as u8))
        .collect()
}

fn bench_photos_10k() {
    let f = fixture(10_400);
    let proxy = Proxy::start(f.server.addr());
    // 3,000 photos (30%) on people the "all groups" policy syncs.
    let mut with_photo = 0;
    for i in 0..f.server_users_in_groups.len() {
        if with_photo == 3000 {
            break;
        }
        if i % 3 != 0 {
            continue;
        }
        let id = &f.server_users_in_groups[i];
        let (status, _) = f
            .admin
            .raw(
                "PUT",
                &format!("/v1/admin/users/{id}/photo"),
                Some(&photo_bytes(i)),
            )
            .unwrap();
        assert!((200..300).contains(&status), "photo upload: {status}");
        with_photo += 1;
    }
    let first_sync = |name: &str| {
        let dir = f.dir_path.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(&dir.join("phone.db"), "bench").unwrap();
        let mut agent = Agent::open(AgentConfig::new(dir.join("state.db")), store).unwrap();
        let created: Value = f
            .admin
            .post(
                "/v1/admin/devices",
                &json!({"name": name, "policy_id": "all"}),
            )
            .unwrap();
        let code = created["enrollment_code"].as_str().unwrap();
        // Through the proxy, which counts the photo requests.
        agent
            .enroll(&format!("http://{}", proxy.addr), code, name, false)
            .unwrap();
        proxy.take();
        let t = Instant::now();
        let r = agent.sync_now().unwrap();
        let took = t.elapsed();
        let requests = proxy.take_photo_requests();
        let photos = agent
            .store()
            .managed_index()
            .unwrap()
            .iter()
            .filter(|e| e.photo_hash.is_some())
            .count();
        (took, r.managed_count, photos, requests)
    };
    let (t_photos, n, photos, requests) = first_sync("photos-1");
    let (t_photos2, _, _, _) = first_sync("photos-2");
    // Baseline: the same directory without the photos.
    for i in (0..f.server_users_in_groups.len()).step_by(3).take(3000) {
        let id = &f.server_users_in_groups[i];
        f.admin
            .delete(&format!("/v1/admin/users/{id}/photo"))
            .unwrap();
    }
    let (t_plain, n_plain, _, _) = first_sync("plain");
    println!(
        "\nfirst sync of {n} contacts, {photos} with a 4 KB photo: {requests} photo requests (batched, at most N/100 = {})",
        n / 100
    );
    println!(
        "  with photos:         {:>10}  (again, a second phone: {})",
        ms(t_photos),
        ms(t_photos2)
    );
    println!(
        "  baseline, no photos: {:>10}  ({n_plain} contacts); the photos cost {:.2} ms each",
        ms(t_plain),
        (t_photos.min(t_photos2).saturating_sub(t_plain)).as_secs_f64() * 1000.0
            / photos.max(1) as f64
    );
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn rss_child() {
    let url = std::env::var("BENCH_URL").unwrap();
    let code = std::env::var("BENCH_CODE").unwrap();
    let dir = std::path::PathBuf::from(std::env::var("BENCH_DIR").unwrap());
    let store = SqliteStore::open(&dir.join("phone.db"), "bench").unwrap();
    let mut agent = Agent::open(AgentConfig::new(dir.join("state.db")), store).unwrap();
    agent.enroll(&url, &code, "rss", false).unwrap();
    let before = vm_hwm_kib();
    let t = Instant::now();
    let r = agent.sync_now().unwrap();
    let total = t.elapsed();
    println!(
        "{} {} {} {}",
        before,
        vm_hwm_kib(),
        r.managed_count,
        total.as_millis()
    );
    println!("{}", breakdown(&r.phases, total));
}

fn bench_rss_100k() {
    let f = fixture(104_000);
    let phone_dir = f.dir_path.join("child");
    std::fs::create_dir_all(&phone_dir).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("BENCH_CHILD", "1")
        .env("BENCH_URL", f.server.url())
        .env("BENCH_CODE", &f.code)
        .env("BENCH_DIR", &phone_dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (first_line, phases) = text.split_once('\n').unwrap_or((&text, ""));
    let parts: Vec<u64> = first_line
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    if parts.len() != 4 {
        println!(
            "\n100k sync child failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    println!(
        "\nfirst sync of {} contacts in a child process: {} ms",
        parts[2], parts[3]
    );
    println!(
        "  peak RSS {:.1} MiB (baseline before syncing {:.1} MiB; the sync added {:.1} MiB)",
        parts[1] as f64 / 1024.0,
        parts[0] as f64 / 1024.0,
        (parts[1] - parts[0]) as f64 / 1024.0
    );
    print!("{phases}");
}

fn personal(i: usize) -> PersonalData {
    let p = seed::person(i, 9);
    PersonalData {
        display_name: p.display_name,
        given_name: p.given_name,
        family_name: p.family_name,
        phones: p
            .phones
            .iter()
            .map(|x| Item::new(&x.number, x.kind.as_str()))
            .collect(),
        emails: p
            .emails
            .iter()
            .map(|x| Item::new(&x.address, x.kind.as_str()))
            .collect(),
        organization: p.organization,
        title: p.title,
        addresses: p
            .addresses
            .into_iter()
            .map(|a| a.address)
            .map(|a| Address {
                kind: "home".into(),
                street: a.street,
                city: a.city,
                region: a.region,
                postcode: a.postcode,
                country: a.country,
                ..Default::default()
            })
            .collect(),
        notes: p.note.into_iter().collect(),
        events: i
            .is_multiple_of(3)
            .then(|| {
                let date = format!("19{:02}-0{}-1{}", 50 + i % 40, 1 + i % 9, i % 10);
                Item::new(&date, "birthday")
            })
            .into_iter()
            .collect(),
        // One in twenty with a 4 KB photo, as phones tend to have.
        photo: i.is_multiple_of(20).then(|| {
            [0xFF, 0xD8, 0xFF, 0xE0]
                .into_iter()
                .chain((0..4096u32).map(|b| (b.wrapping_mul(2_654_435_761) >> 13) as u8))
                .collect()
        }),
        ..Default::default()
    }
}

fn bench_backup_10k() {
    let n = 10_000;
    let f = fixture(100);
    let mut store = SqliteStore::open(&f.dir_path.join("phone.db"), "bench").unwrap();
    let people: Vec<PersonalData> = (0..n).map(personal).collect();
    for chunk in people.chunks(50) {
        store.insert_personal(None, chunk).unwrap();
    }
    drop(people);
    let mut agent = Agent::open(AgentConfig::new(f.dir_path.join("state.db")), store).unwrap();
    agent
        .enroll(&f.server.url(), &f.code, "bench", false)
        .unwrap();
    let no = contacts_agent::interrupt::Scope::never();

    let (t_read, count) = best_of(3, || {
        let mut after = None;
        let mut count = 0;
        loop {
            let page = agent.store().personal_page(after, 500).unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.raw_id);
            count += page.len();
        }
        count
    });
    let path = f.dir_path.join("bench-backup.zip");
    let (t_archive, (manifest, size)) = best_of(3, || {
        write_archive(agent.store(), &path, "2026-01-01T00:00:00Z", &no).unwrap()
    });
    println!("\nbackup of {count} personal contacts (5% with a 4 KB photo)");
    println!(
        "  archive + compress:  {:>10}  {} bytes ({} bytes of vCard, {:.1}x smaller)",
        ms(t_archive),
        size,
        manifest.payload_bytes,
        manifest.payload_bytes as f64 / size as f64
    );
    println!(
        "  baseline, reading the contacts alone: {}  (archiving adds {})",
        ms(t_read),
        ms(t_archive.saturating_sub(t_read))
    );
    let bytes = std::fs::read(&path).unwrap();
    let token = agent.state().enrollment().unwrap().unwrap().token;
    let client = Client::new(&f.server.url(), Some(token), ClientOptions::default()).unwrap();
    let t = Instant::now();
    let (info, _) = client
        .upload_backup(&bytes, &manifest.payload_sha256, manifest.contact_count)
        .unwrap();
    println!("  upload over loopback: {:>9}", ms(t.elapsed()));

    let (t_parse, parsed) = best_of(3, || {
        let (_, text) = read_archive(std::io::Cursor::new(bytes.clone())).unwrap();
        parse_all(&text).len()
    });
    let (t_unzip, _) = best_of(3, || {
        read_archive(std::io::Cursor::new(bytes.clone())).unwrap()
    });
    let mb = manifest.payload_bytes as f64 / 1e6;
    println!(
        "  reader: {} cards in {} ({:.1} MB/s of vCard; unzip + checksum alone {})",
        parsed,
        ms(t_parse),
        mb / t_parse.as_secs_f64(),
        ms(t_unzip)
    );

    // Restore into an empty phone.
    let fresh = SqliteStore::open(&f.dir_path.join("phone2.db"), "bench").unwrap();
    let mut config = AgentConfig::new(f.dir_path.join("state2.db"));
    config.page_size = 500;
    let mut agent2 = Agent::open(config, fresh).unwrap();
    agent2
        .state()
        .set_enrollment(
            &agent.state().enrollment().unwrap().unwrap(),
            chrono::Utc::now(),
        )
        .unwrap();
    let mut progress = |_: u64, _: u64| {};
    let t = Instant::now();
    let r = agent2.restore(Some(&info.id), None, &mut progress).unwrap();
    let t_restore = t.elapsed();
    println!(
        "  restore into an empty store: {} contacts in {}",
        r.restored,
        ms(t_restore)
    );
    let t = Instant::now();
    let again = agent2.restore(Some(&info.id), None, &mut progress).unwrap();
    println!(
        "  restore again (all present, nothing written): {} in {}",
        again.already_present,
        ms(t.elapsed())
    );
}
