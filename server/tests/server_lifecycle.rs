//! The connection rules on real loopback sockets: timeouts close what stalls (slow headers, a
//! body that stops, an answer nobody reads), and `stop()` finishes what is in flight, closes
//! idle connections and returns within its grace period.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use contacts_agent_server::{seed, Config, Server};

const ADMIN_TOKEN: &str = "lifecycle-admin-token-0123456789";

/// On SQLite whatever the suite runs on: these are the connection rules, not storage.
fn server(dir: &std::path::Path, users: usize, quick: bool) -> Server {
    let db = dir.join("server.db");
    let conn = contacts_agent_server::db::open(&db).unwrap();
    seed::seed_company(&conn, users, 42).unwrap();
    drop(conn);
    let mut config = Config::local(db, ADMIN_TOKEN);
    if quick {
        config.limits.header_read_timeout = Duration::from_millis(500);
        config.limits.body_read_timeout = Duration::from_millis(500);
        config.limits.write_timeout = Duration::from_millis(500);
    }
    Server::start(config).unwrap()
}

/// Reads one answer (head and Content-Length body) from a kept-alive connection.
fn read_answer(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before a whole answer: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
    }
}

/// Whether the server closes `s` within `within` (EOF or reset), reading whatever comes.
fn closed_within(s: &mut TcpStream, within: Duration) -> Option<(Duration, Vec<u8>)> {
    let t = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while t.elapsed() < within {
        match s.read(&mut buf) {
            Ok(0) => return Some((t.elapsed(), got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Some((t.elapsed(), got)),
        }
    }
    None
}

#[test]
fn slow_headers_a_stopped_body_and_an_unread_answer_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), 2000, true);
    let addr = server.addr();

    let mut slow_head = TcpStream::connect(addr).unwrap();
    slow_head
        .write_all(b"GET /v1/admin/users HTTP/1.1\r\nHost: x\r\n")
        .unwrap();

    let mut slow_body = TcpStream::connect(addr).unwrap();
    slow_body
        .write_all(b"POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"enroll")
        .unwrap();

    // Forty pages of 1,000 users asked for at once, none read: far more than the socket
    // buffers hold, so the server's writes stall.
    let mut unread = TcpStream::connect(addr).unwrap();
    let get = format!(
        "GET /v1/admin/users?limit=1000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n"
    );
    unread.write_all(get.repeat(40).as_bytes()).unwrap();

    let (t, _) =
        closed_within(&mut slow_head, Duration::from_secs(5)).expect("slow headers cut off");
    assert!(t < Duration::from_secs(3), "slow headers held for {t:?}");

    let (_, answer) =
        closed_within(&mut slow_body, Duration::from_secs(5)).expect("stopped body cut off");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error":"timeout""#), "{answer}");

    // Let the write timeout pass, then read: the answers end early, the connection closed.
    std::thread::sleep(Duration::from_secs(2));
    let mut one = TcpStream::connect(addr).unwrap();
    one.write_all(get.as_bytes()).unwrap();
    let page = read_answer(&mut one).len();
    let (_, got) =
        closed_within(&mut unread, Duration::from_secs(10)).expect("unread answers dropped");
    assert!(
        got.len() < page * 40,
        "the server wrote all {} bytes to a client that did not read",
        got.len()
    );
}

#[test]
fn stop_finishes_the_request_in_flight_and_closes_idle_connections() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), 50, false);
    let addr = server.addr();

    // A kept-alive connection, idle after one answer.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.write_all(
        format!("GET /v1/admin/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    assert!(read_answer(&mut idle).starts_with("HTTP/1.1 200"));

    // A request in flight: headers and half its body sent.
    let body = br#"{"enrollment_code":"no-such-code","device_name":"x"}"#;
    let mut in_flight = TcpStream::connect(addr).unwrap();
    in_flight
        .write_all(format!("POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes())
        .unwrap();
    in_flight.write_all(&body[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let stopping = std::thread::spawn(move || {
        let t = Instant::now();
        server.stop();
        t.elapsed()
    });
    std::thread::sleep(Duration::from_millis(300));
    in_flight.write_all(&body[10..]).unwrap();
    in_flight
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let answer = read_answer(&mut in_flight);
    assert!(
        answer.starts_with("HTTP/1.1 4"),
        "the request in flight gets its answer: {answer}"
    );

    let (t, _) = closed_within(&mut idle, Duration::from_secs(3)).expect("idle connection closed");
    assert!(t < Duration::from_secs(2));
    let took = stopping.join().unwrap();
    assert!(took < Duration::from_secs(6), "stop took {took:?}");
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "a stopped server accepts nothing"
    );
}
