//! Body limits, measured from outside: the server binary as a child process on loopback, its
//! memory read from `/proc/<pid>/status`, requests written by hand on raw sockets.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "limits-admin-token-0123456789";

struct ChildServer {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl ChildServer {
    /// On SQLite whatever the suite runs on: these are the HTTP limits, not storage.
    fn start() -> ChildServer {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_contacts-agent-server"))
            .args(["--bind", "127.0.0.1:0", "--seed-users", "200", "--db"])
            .arg(dir.path().join("server.db"))
            .env("CONTACTS_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server exits before listening")
                .unwrap();
            if let Some(url) = line.split("listening on http://").nth(1) {
                break url.trim().parse().unwrap();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        ChildServer {
            child,
            addr,
            _dir: dir,
        }
    }

    /// (VmRSS, VmHWM) in KiB.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap()
        };
        (kib("VmRSS:"), kib("VmHWM:"))
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `head` (and `body`, if any), returns the status line's code and the body read
/// within `wait`, or None when nothing came back in time.
fn exchange(addr: SocketAddr, head: &str, body: &[u8], wait: Duration) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some((h, b)) = text.split_once("\r\n\r\n") {
                    let len = h
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if b.len() >= len {
                        break;
                    }
                }
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

#[test]
fn a_body_over_the_route_limit_is_refused_with_413_before_it_is_sent() {
    let server = ChildServer::start();
    for path in ["/v1/enroll", "/console/login", "/v1/admin/users"] {
        // The headers announce 100 MB and nothing follows: an answer can only come from
        // the Content-Length alone.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 100000000\r\n\r\n"
        );
        let t = Instant::now();
        let got = exchange(server.addr, &head, b"", Duration::from_secs(5));
        let (status, body) =
            got.unwrap_or_else(|| panic!("{path}: no answer in {:?}", t.elapsed()));
        assert_eq!(status, 413, "{path}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"], "too_large", "{path}: {body}");
    }
}

#[test]
fn a_chunked_body_is_cut_off_at_the_route_limit() {
    let server = ChildServer::start();
    // 1 MB in 64 KiB chunks to a route whose limit is 64 KiB; the last chunk never comes.
    let head = "POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    let mut body = Vec::new();
    for _ in 0..16 {
        body.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        body.extend(std::iter::repeat_n(b' ', 64 * 1024));
        body.extend_from_slice(b"\r\n");
    }
    let (status, body) = exchange(server.addr, head, &body, Duration::from_secs(5)).unwrap();
    assert_eq!(status, 413, "{body}");
}

/// Writes a `len`-byte body to `path` as fast as the server takes it, until the server
/// answers or closes; returns the status if one could be read.
fn flood(addr: SocketAddr, path: &str, len: usize, chunked: bool) -> Option<u16> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {len}")
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n{framing}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).ok()?;
    let chunk = vec![b'a'; 256 * 1024];
    let mut sent = 0;
    while sent < len {
        let r = if chunked {
            s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|_| s.write_all(&chunk))
                .and_then(|_| s.write_all(b"\r\n"))
        } else {
            s.write_all(&chunk)
        };
        if r.is_err() {
            break;
        }
        sent += chunk.len();
    }
    if chunked && sent >= len {
        let _ = s.write_all(b"0\r\n\r\n");
    }
    let mut got = [0u8; 64];
    let n = s.read(&mut got).ok()?;
    String::from_utf8_lossy(&got[..n])
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn four_60_mb_unauthenticated_bodies_leave_memory_where_it_was() {
    let server = ChildServer::start();
    // The normal peak: a few ordinary requests, the console's sign-in page, a bad login.
    for _ in 0..3 {
        exchange(
            server.addr,
            &format!("GET /v1/admin/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n"),
            b"",
            Duration::from_secs(10),
        )
        .unwrap();
        exchange(
            server.addr,
            "GET /console/login HTTP/1.1\r\nHost: x\r\n\r\n",
            b"",
            Duration::from_secs(10),
        )
        .unwrap();
        let body = br#"{"enrollment_code":"nope","device_name":"x"}"#;
        let head = format!(
            "POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        exchange(server.addr, &head, body, Duration::from_secs(10)).unwrap();
    }
    let (rss0, hwm0) = server.memory();
    let addr = server.addr;
    let t = Instant::now();
    let floods: Vec<_> = [
        ("/v1/enroll", false),
        ("/v1/enroll", true),
        ("/console/login", false),
        ("/console/login", true),
    ]
    .into_iter()
    .map(|(path, chunked)| std::thread::spawn(move || flood(addr, path, 60_000_000, chunked)))
    .collect();
    let statuses: Vec<Option<u16>> = floods.into_iter().map(|h| h.join().unwrap()).collect();
    let (rss1, hwm1) = server.memory();
    eprintln!(
        "4 x 60 MB unauthenticated bodies in {:?}: answers {statuses:?}; \
         VmRSS {rss0} -> {rss1} KiB, VmHWM {hwm0} -> {hwm1} KiB",
        t.elapsed()
    );
    assert!(
        hwm1 <= hwm0 + 10 * 1024,
        "peak memory rose from {hwm0} KiB to {hwm1} KiB"
    );
    for s in statuses.into_iter().flatten() {
        assert_eq!(s, 413);
    }
}
