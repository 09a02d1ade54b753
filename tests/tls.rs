//! TLS end to end on loopback: the reference server serving https with a certificate from a
//! private CA, the agent trusting that CA (and optionally pinning a key) through its
//! configuration, and every way a certificate can be wrong refused with a clear error.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::held;
use contacts_agent::agent::{Agent, AgentConfig};
use contacts_agent::demo::admin::AdminClient;
use contacts_agent::store::sqlite::SqliteStore;
use contacts_agent::tls::{spki_pin_of_certificate, Trust};
use contacts_agent_server::testing::{Leaf, TestCa};
use contacts_agent_server::{seed, Config, Server};
use serde_json::{json, Value};

const TOKEN: &str = "tls-test-admin-token-0123456789";

/// A TLS server with a seeded company; with a good certificate, also a policy and a device
/// enrollment code (a bad certificate stops every client at the handshake, codes unused).
struct TlsWorld {
    server: Server,
    ca: TestCa,
    leaf_der: Vec<u8>,
    code: String,
    members: std::collections::BTreeSet<String>,
    dir: tempfile::TempDir,
}

fn world(leaf: Leaf) -> TlsWorld {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    {
        let conn = contacts_agent_server::db::open(&db).unwrap();
        seed::seed_company(&conn, 200, 42).unwrap();
    }
    let ca = TestCa::new("contacts-agent test CA").unwrap();
    let cert = ca.leaf(leaf).unwrap();
    let files = cert.write(dir.path(), "server").unwrap();
    let server = Server::start(Config {
        tls: Some(files),
        ..Config::local(db, TOKEN)
    })
    .unwrap();
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let mut w = TlsWorld {
        code: "not-used".into(),
        leaf_der: cert.cert_der,
        members: Default::default(),
        server,
        ca,
        dir,
    };
    if leaf == Leaf::Good {
        let admin = AdminClient::with_trust(&w.server.url(), TOKEN, &trust_ca(&w.ca)).unwrap();
        let _: Value = admin
            .post(
                "/v1/admin/policies",
                &json!({"id": "p", "name": "P", "basic_type": "none", "additional_groups": ["harvey"]}),
            )
            .unwrap();
        w.code = fresh_code(&w);
        w.members = admin.get("/v1/admin/groups/harvey/members").unwrap();
    }
    w
}

fn trust_ca(ca: &TestCa) -> Trust {
    Trust {
        extra_ca_pem: Some(ca.cert_pem()),
        spki_pins: vec![],
    }
}

fn agent(dir: &Path, trust: Trust) -> Agent<SqliteStore> {
    let store = SqliteStore::open(&dir.join("phone.db"), "biz").unwrap();
    let mut config = AgentConfig::new(dir.join("state.db"));
    config.client.trust = trust;
    config.client.max_attempts = 1;
    Agent::open(config, store).unwrap()
}

#[test]
fn a_full_sync_over_tls_with_the_organisations_ca() {
    let w = world(Leaf::Good);
    let mut a = agent(w.dir.path(), trust_ca(&w.ca));
    a.enroll(&w.server.url(), &w.code, "tls phone", false)
        .unwrap();
    let r = a.sync_now().unwrap();
    assert_eq!(r.managed_count as usize, w.members.len());
    assert_eq!(held(&mut a), w.members);
}

#[test]
fn a_pin_of_the_servers_key_or_its_cas_key_lets_the_sync_through() {
    let w = world(Leaf::Good);
    for pinned in [&w.leaf_der, &w.ca.cert_der()] {
        let dir = tempfile::tempdir().unwrap();
        let mut trust = trust_ca(&w.ca);
        trust.spki_pins = vec![spki_pin_of_certificate(pinned).unwrap()];
        let mut a = agent(dir.path(), trust);
        a.enroll(&w.server.url(), &fresh_code(&w), "pinned phone", false)
            .unwrap();
        a.sync_now().unwrap();
        assert_eq!(held(&mut a), w.members);
    }
}

fn fresh_code(w: &TlsWorld) -> String {
    let admin = AdminClient::with_trust(&w.server.url(), TOKEN, &trust_ca(&w.ca)).unwrap();
    let created: Value = admin
        .post(
            "/v1/admin/devices",
            &json!({"name": "phone", "policy_id": "p"}),
        )
        .unwrap();
    created["enrollment_code"].as_str().unwrap().to_owned()
}

fn refused(w: &TlsWorld, trust: Trust) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut a = agent(dir.path(), trust);
    let err = a
        .enroll(&w.server.url(), &w.code, "phone", false)
        .unwrap_err();
    assert!(a.state().enrollment().unwrap().is_none());
    err.to_string()
}

#[test]
fn certificates_that_are_not_right_are_refused_with_a_clear_reason() {
    let good = world(Leaf::Good);
    // The public roots alone do not know the organisation's CA.
    let e = refused(&good, Trust::default());
    assert!(e.contains("a CA this device does not trust"), "{e}");
    // Another organisation's CA does not vouch for this server either.
    let e = refused(&good, trust_ca(&TestCa::new("someone else").unwrap()));
    assert!(e.contains("a CA this device does not trust"), "{e}");
    // The right CA but a pin of some other key.
    let other = TestCa::new("other").unwrap().leaf(Leaf::Good).unwrap();
    let e = refused(
        &good,
        Trust {
            spki_pins: vec![spki_pin_of_certificate(&other.cert_der).unwrap()],
            ..trust_ca(&good.ca)
        },
    );
    assert!(e.contains("none of the configured SPKI pins"), "{e}");

    let expired = world(Leaf::Expired);
    let e = refused(&expired, trust_ca(&expired.ca));
    assert!(e.contains("expired"), "{e}");

    let wrong_host = world(Leaf::WrongHost);
    let e = refused(&wrong_host, trust_ca(&wrong_host.ca));
    assert!(e.contains("not issued for this server's name"), "{e}");
}

#[test]
fn a_ca_or_pin_that_cannot_be_read_is_refused_before_any_connection() {
    let w = world(Leaf::Good);
    let e = refused(
        &w,
        Trust {
            extra_ca_pem: Some("not a certificate".into()),
            spki_pins: vec![],
        },
    );
    assert!(e.contains("CA certificate is not a readable PEM"), "{e}");
    let e = refused(
        &w,
        Trust {
            spki_pins: vec!["sha256/short".into()],
            ..trust_ca(&w.ca)
        },
    );
    assert!(e.contains("SPKI pin must be sha256/"), "{e}");
}

#[test]
fn the_whole_demo_runs_over_https() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_contacts-agent"))
        .args(["demo", "--users", "200", "--tls"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Reference server on https://127.0.0.1:"),
        "{text}"
    );
}
