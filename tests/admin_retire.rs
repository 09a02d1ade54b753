//! The admin's commands as the real agent carries them out: "Retire" removes every business
//! contact (and our contact groups), never a personal one, unenrolls, and the console goes
//! from "retiring" to "retired"; every command shows when the device picked it up. Real
//! server on loopback, real SQLite phone.
#![allow(clippy::unwrap_used)]

mod common;

use common::World;
use contacts_agent::store::ContactStore;
use contacts_agent::Error;
use serde_json::{json, Value};

fn commands(w: &World) -> Vec<Value> {
    w.admin
        .get(&format!("/v1/admin/devices/{}/commands", w.device))
        .unwrap()
}

#[test]
fn an_admin_retire_removes_the_business_contacts_unenrolls_and_the_console_shows_it_retired() {
    let w = World::new(300);
    w.set_policy("all_groups", &[], "daily");
    let mut agent = w.agent();
    let business = agent.sync_now().unwrap().managed_count;
    assert!(business > 100, "{business}");
    assert!(!agent.store().managed_groups().unwrap().is_empty());
    let personal_before = agent.store().personal_fingerprint().unwrap();
    assert_eq!(personal_before.0, 3);

    let queued: Value = w
        .admin
        .post(
            &format!("/v1/admin/devices/{}/retire", w.device),
            &json!({}),
        )
        .unwrap();
    assert_eq!(queued["device"]["state"], "retiring");
    let command_id = queued["command_id"].as_str().unwrap().to_owned();

    let ran = agent.run_due().unwrap();
    let retired = ran.retired.unwrap().unwrap();
    assert_eq!(retired.contacts_removed, business);
    assert!(retired.server_notified);
    assert!(ran.sync.is_none() && ran.backup.is_none());

    // The phone: no business contact or group left, every personal contact as it was.
    assert_eq!(agent.store().managed_raw_count().unwrap(), 0);
    assert!(agent.store().managed_groups().unwrap().is_empty());
    assert_eq!(
        agent.store().personal_fingerprint().unwrap(),
        personal_before
    );
    // The console: retired, the command picked up and done.
    let d: Value = w
        .admin
        .get(&format!("/v1/admin/devices/{}", w.device))
        .unwrap();
    assert_eq!(d["state"], "retired");
    let listed = commands(&w);
    let c = listed.iter().find(|c| c["id"] == command_id).unwrap();
    assert_eq!(c["kind"], "retire");
    assert!(
        c["picked_up_at"].is_string() && c["completed_at"].is_string(),
        "{c}"
    );
    assert!(c["picked_up_at"].as_str() <= c["completed_at"].as_str());
    // The agent: as a fresh install.
    assert_eq!(agent.status().unwrap().device_id, None);
    assert!(matches!(agent.run_due(), Err(Error::NotEnrolled)));
}

#[test]
fn synchronize_contacts_is_picked_up_then_done_by_the_next_run() {
    let w = World::new(50);
    let mut agent = w.agent();
    agent.sync_now().unwrap();
    let queued: Value = w
        .admin
        .post(&format!("/v1/admin/devices/{}/sync", w.device), &json!({}))
        .unwrap();
    let id = queued["command_id"].as_str().unwrap();
    let before = commands(&w);
    assert!(before[0]["picked_up_at"].is_null());

    let ran = agent.run_due().unwrap();
    assert!(ran.retired.is_none());
    assert_eq!(
        ran.sync.unwrap().unwrap().reason,
        contacts_agent::agent::Reason::Forced
    );
    let after = commands(&w);
    let c = after.iter().find(|c| c["id"] == id).unwrap();
    assert!(
        c["picked_up_at"].is_string() && c["completed_at"].is_string(),
        "{c}"
    );
    assert!(c["picked_up_at"].as_str() <= c["completed_at"].as_str());
}

/// A loopback proxy in front of the real server that answers `POST /v1/device/retire` with
/// 503 while `fail_retire` is set, and forwards every other request as it is (one request
/// per connection).
struct Proxy {
    url: String,
    fail_retire: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

fn proxy(upstream: std::net::SocketAddr) -> Proxy {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn handle(mut client: TcpStream, upstream: std::net::SocketAddr, fail: &AtomicBool) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            match client.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let length: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + length {
            match client.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let path = head.split(' ').nth(1).unwrap_or("");
        if path.starts_with("/v1/device/retire") && fail.load(Ordering::SeqCst) {
            let _ = client.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
        let mut forwarded: String = head
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        forwarded.push_str("Connection: close\r\n\r\n");
        let mut up = TcpStream::connect(upstream).unwrap();
        up.write_all(forwarded.as_bytes()).unwrap();
        up.write_all(&buf[end + 4..end + 4 + length]).unwrap();
        let mut answer = Vec::new();
        let _ = up.read_to_end(&mut answer);
        let _ = client.write_all(&answer);
    }

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let fail_retire = Arc::new(AtomicBool::new(true));
    let fail = Arc::clone(&fail_retire);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let fail = Arc::clone(&fail);
            std::thread::spawn(move || handle(client, upstream, &fail));
        }
    });
    Proxy { url, fail_retire }
}

#[test]
fn a_retire_the_server_could_not_hear_keeps_the_contacts_off_and_is_told_on_the_next_run() {
    let w = World::new(100);
    w.set_policy("all_groups", &[], "daily");
    let p = proxy(w.server.addr());
    let mut config = contacts_agent::agent::AgentConfig::new(w.path("state.db"));
    config.client.retry_base = std::time::Duration::from_millis(5);
    let mut agent = contacts_agent::agent::Agent::open(config, w.phone()).unwrap();
    agent.enroll(&p.url, &w.code, "phone", false).unwrap();
    let business = agent.sync_now().unwrap().managed_count;
    assert!(business > 0);
    let personal = agent.store().personal_fingerprint().unwrap();
    let _: Value = w
        .admin
        .post(
            &format!("/v1/admin/devices/{}/retire", w.device),
            &json!({}),
        )
        .unwrap();

    // The contacts go, the server does not hear it: still enrolled, still "retiring".
    let ran = agent.run_due().unwrap();
    assert!(matches!(ran.retired, Some(Err(_))), "{:?}", ran.retired);
    assert_eq!(ran.needs_action().count(), 0);
    assert_eq!(agent.store().managed_raw_count().unwrap(), 0);
    assert!(agent.status().unwrap().device_id.is_some());
    let d: Value = w
        .admin
        .get(&format!("/v1/admin/devices/{}", w.device))
        .unwrap();
    assert_eq!(d["state"], "retiring");

    // The next run tells the server, and syncs nothing back before it.
    p.fail_retire
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let ran = agent.run_due().unwrap();
    let retired = ran.retired.unwrap().unwrap();
    assert_eq!(retired.contacts_removed, 0);
    assert!(ran.sync.is_none());
    assert_eq!(agent.store().managed_raw_count().unwrap(), 0);
    assert_eq!(agent.store().personal_fingerprint().unwrap(), personal);
    let d: Value = w
        .admin
        .get(&format!("/v1/admin/devices/{}", w.device))
        .unwrap();
    assert_eq!(d["state"], "retired");
    assert_eq!(agent.status().unwrap().device_id, None);
}
