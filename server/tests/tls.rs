//! HTTPS served by the server itself, with the test CA of `contacts_agent_server::testing`: a
//! client that trusts the CA gets answers; an expired certificate, one for another host and
//! one from a CA it does not trust are refused in the handshake.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use contacts_agent_server::testing::{Leaf, TestCa};
use contacts_agent_server::{Config, Server};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, RootCertStore};

const ADMIN_TOKEN: &str = "tls-admin-token-0123456789";

fn https_server(dir: &std::path::Path, ca: &TestCa, leaf: Leaf) -> Server {
    let files = ca
        .leaf(leaf)
        .unwrap()
        .write(dir, &format!("{leaf:?}"))
        .unwrap();
    let mut config = Config::local(dir.join(format!("{leaf:?}.db")), ADMIN_TOKEN);
    config.tls = Some(files);
    Server::start(config).unwrap()
}

/// One request over TLS to `server`, trusting only `ca`, as `name`; the raw answer.
fn get(
    server: &Server,
    ca: &TestCa,
    name: &str,
    path: &str,
    bearer: &str,
) -> Result<String, std::io::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca.cert_der())).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn = rustls::ClientConnection::new(
        Arc::new(config),
        ServerName::try_from(name.to_owned()).unwrap(),
    )
    .unwrap();
    let tcp = TcpStream::connect(server.addr()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {name}\r\nAuthorization: Bearer {bearer}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    tls.read_to_string(&mut answer)?;
    Ok(answer)
}

fn certificate_error(e: &std::io::Error) -> Option<&CertificateError> {
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(c) => Some(c),
        _ => None,
    }
}

#[test]
fn a_client_trusting_the_ca_talks_https_to_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("contacts-agent test CA").unwrap();
    let server = https_server(dir.path(), &ca, Leaf::Good);
    assert!(
        server.url().starts_with("https://127.0.0.1:"),
        "{}",
        server.url()
    );
    for name in ["127.0.0.1", "localhost"] {
        let answer = get(&server, &ca, name, "/v1/admin/devices", ADMIN_TOKEN).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let denied = get(&server, &ca, name, "/v1/device/policy", "nope").unwrap();
        assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
        assert!(denied.contains(r#""error":"unauthorized""#), "{denied}");
    }
    server.stop();
}

#[test]
fn expired_wrong_host_and_untrusted_certificates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("contacts-agent test CA").unwrap();

    let expired = https_server(dir.path(), &ca, Leaf::Expired);
    let e = get(&expired, &ca, "127.0.0.1", "/v1/admin/devices", ADMIN_TOKEN).unwrap_err();
    assert!(
        matches!(
            certificate_error(&e),
            Some(CertificateError::Expired | CertificateError::ExpiredContext { .. })
        ),
        "{e}"
    );

    let wrong_host = https_server(dir.path(), &ca, Leaf::WrongHost);
    let e = get(
        &wrong_host,
        &ca,
        "127.0.0.1",
        "/v1/admin/devices",
        ADMIN_TOKEN,
    )
    .unwrap_err();
    assert!(
        matches!(
            certificate_error(&e),
            Some(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{e}"
    );

    let good = https_server(dir.path(), &ca, Leaf::Good);
    let other_ca = TestCa::new("someone else's CA").unwrap();
    let e = get(
        &good,
        &other_ca,
        "127.0.0.1",
        "/v1/admin/devices",
        ADMIN_TOKEN,
    )
    .unwrap_err();
    assert!(
        matches!(certificate_error(&e), Some(CertificateError::UnknownIssuer)),
        "{e}"
    );
    // The refused handshakes cost the server nothing: it still answers.
    let answer = get(&good, &ca, "localhost", "/v1/admin/devices", ADMIN_TOKEN).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn a_plain_http_request_to_the_https_port_gets_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("contacts-agent test CA").unwrap();
    let server = https_server(dir.path(), &ca, Leaf::Good);
    let mut tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    tcp.write_all(b"GET /v1/admin/devices HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
        "plain HTTP must not be served on the TLS port"
    );
}
