//! The console's sign-in from outside: its form carries its own CSRF token, wrong attempts
//! from one address wait longer and longer (and are logged without what was typed), cookies
//! are `Secure` over TLS (the server's own or a proxy's), and a revoked device shows as
//! revoked.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::{login_form, request, Answer, TestServer, ADMIN_TOKEN};
use serde_json::Value;

/// Every log line of this test binary (the server runs in-process).
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        LINES
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

fn capture_logs() {
    // Only the first call installs it; the tests of this file share it.
    if log::set_logger(&Capture).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

fn sign_in(t: &TestServer, password: &str, extra: &[(&str, &str)]) -> Answer {
    let (cookie, field) = login_form(t.addr(), extra);
    let mut headers = vec![
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    headers.extend_from_slice(extra);
    let body = format!("login_csrf={field}&password={password}");
    request(
        t.addr(),
        "POST",
        "/console/login",
        &headers,
        body.as_bytes(),
    )
}

fn session_cookie(a: &Answer) -> Option<&str> {
    a.all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("cas_session=") && !c.contains("Max-Age=0"))
}

#[test]
fn the_sign_in_form_only_accepts_its_own_token() {
    let t = TestServer::start(1);
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    // Posted from elsewhere: no cookie, or a cookie that does not match the field.
    let body = format!("login_csrf=abc&password={ADMIN_TOKEN}");
    let a = request(t.addr(), "POST", "/console/login", &form, body.as_bytes());
    assert_eq!(a.status, 403);
    assert!(session_cookie(&a).is_none());
    let (cookie, _) = login_form(t.addr(), &[]);
    let a = request(
        t.addr(),
        "POST",
        "/console/login",
        &[form[0], ("Cookie", &cookie)],
        body.as_bytes(),
    );
    assert_eq!(a.status, 403);
    assert!(session_cookie(&a).is_none());

    let a = sign_in(&t, ADMIN_TOKEN, &[]);
    assert_eq!(a.status, 303);
    let cookie = session_cookie(&a).unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http on loopback: {cookie}"
    );
}

#[test]
fn wrong_sign_ins_from_one_address_wait_longer_each_time_and_are_logged_without_the_guess() {
    capture_logs();
    let t = TestServer::start(1);
    for _ in 0..3 {
        assert_eq!(sign_in(&t, "guess-Kowalski-1", &[]).status, 401);
    }
    // The fourth comes too soon: refused unread, even with the right token.
    let a = sign_in(&t, ADMIN_TOKEN, &[]);
    assert_eq!((a.status, a.header("retry-after")), (429, Some("1")));
    assert!(session_cookie(&a).is_none());
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(sign_in(&t, "guess-Kowalski-2", &[]).status, 401);
    let a = sign_in(&t, ADMIN_TOKEN, &[]);
    assert_eq!((a.status, a.header("retry-after")), (429, Some("2")));
    std::thread::sleep(Duration::from_millis(2100));
    let a = sign_in(&t, ADMIN_TOKEN, &[]);
    assert_eq!(a.status, 303);
    assert!(session_cookie(&a).is_some());
    // Signed in: the count starts again.
    assert_eq!(sign_in(&t, "guess-Kowalski-3", &[]).status, 401);

    let lines = LINES.lock().unwrap().clone();
    let refused: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("console sign-in refused"))
        .collect();
    assert!(
        refused
            .iter()
            .any(|l| l.starts_with("WARN") && l.contains("4 in a row")),
        "{refused:#?}"
    );
    for l in &lines {
        assert!(!l.contains("Kowalski") && !l.contains(ADMIN_TOKEN), "{l}");
    }
}

#[test]
fn behind_a_tls_proxy_cookies_are_secure_and_waits_follow_the_address_the_proxy_saw() {
    let t = TestServer::start_with(1, |c| c.behind_tls_proxy = true);
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    let a = request(t.addr(), "GET", "/console/login", &from("192.0.2.1"), b"");
    assert!(
        a.all("set-cookie").iter().all(|c| c.contains("; Secure")),
        "{:?}",
        a.all("set-cookie")
    );
    let a = sign_in(&t, ADMIN_TOKEN, &from("192.0.2.1"));
    assert!(session_cookie(&a).unwrap().contains("; Secure"));

    for _ in 0..3 {
        assert_eq!(sign_in(&t, "wrong", &from("192.0.2.66")).status, 401);
    }
    assert_eq!(sign_in(&t, "wrong", &from("192.0.2.66")).status, 429);
    // A client cannot dodge its wait by writing its own X-Forwarded-For in front.
    assert_eq!(
        sign_in(&t, "wrong", &from("10.9.9.9, 192.0.2.66")).status,
        429
    );
    // Another address is not held up by it.
    assert_eq!(sign_in(&t, "wrong", &from("192.0.2.7")).status, 401);
}

#[test]
fn the_console_shows_a_revoked_device_as_revoked() {
    let t = TestServer::start(1);
    let (id, _) = t.enrolled_device("Lost phone");
    t.admin_ok(
        "POST",
        &format!("/v1/admin/devices/{id}/revoke"),
        Value::Null,
    );
    let a = sign_in(&t, ADMIN_TOKEN, &[]);
    let cookie = session_cookie(&a)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = request(
        t.addr(),
        "GET",
        &format!("/console/devices/{id}"),
        &[("Cookie", &cookie)],
        b"",
    );
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains(
            "<dd id=device-state><span class=\"badge warn\">Revoked</span> Revoked <time "
        ),
        "{html}"
    );
    let list = request(
        t.addr(),
        "GET",
        "/console/devices",
        &[("Cookie", &cookie)],
        b"",
    )
    .text();
    assert!(
        list.contains(
            "<td data-label=\"Enrollment\"><span class=v><span class=\"badge warn\">Revoked</span></span></td>"
        ),
        "{list}"
    );
}

#[test]
fn the_console_answers_other_methods_with_405_and_allow() {
    let t = TestServer::start(1);
    let a = request(t.addr(), "DELETE", "/console/login", &[], b"");
    assert_eq!((a.status, a.header("allow")), (405, Some("GET, POST")));
}

/// Served over TLS by the server itself: its cookies are `Secure` without any setting.
#[cfg(feature = "test-support")]
#[test]
fn over_tls_served_by_the_server_the_console_cookies_are_secure() {
    use std::io::{Read, Write};
    use std::sync::Arc;

    use contacts_agent_server::testing::{Leaf, TestCa};
    use contacts_agent_server::{Config, Server};
    use rustls::pki_types::{CertificateDer, ServerName};

    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("console test CA").unwrap();
    // SQLite whatever the suite runs on: this is about cookies over TLS, not storage.
    let mut config = Config::local(dir.path().join("server.db"), ADMIN_TOKEN);
    config.tls = Some(
        ca.leaf(Leaf::Good)
            .unwrap()
            .write(dir.path(), "good")
            .unwrap(),
    );
    let server = Server::start(config).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca.cert_der())).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(client), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let mut tls =
        rustls::StreamOwned::new(conn, std::net::TcpStream::connect(server.addr()).unwrap());
    tls.write_all(b"GET /console/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer);
    let cookie = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: cas_login="))
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(cookie.contains("; Secure"), "{cookie}");
}
