//! A server that misbehaves on a real socket: every bad answer gets a typed error, the phone
//! stays as it was, personal contacts are untouched, and the failure is in the run history.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contacts_agent::agent::{Agent, AgentConfig};
use contacts_agent::state::Enrollment;
use contacts_agent::store::sqlite::SqliteStore;
use contacts_agent::store::{ContactStore, ContactWrite, PhotoWrite, StoreOp};
use contacts_agent_protocol::ContactData;

const POLICY: &str = r#"{"version":1,"basic_type":"none","additional_groups":["g"],"sync_interval":"daily","backup_interval":"off"}"#;

type Script = Box<dyn Fn(&str, usize) -> Vec<u8> + Send + Sync>;

/// Answers each request on `/v1/device/contacts` with `script(path, nth_call)`; the policy,
/// command and status routes answer normally.
struct Evil {
    addr: std::net::SocketAddr,
    hits: Arc<Mutex<Vec<(String, Instant)>>>,
}

fn response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        if h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(path)
}

impl Evil {
    fn start(script: Script) -> Evil {
        Evil::with_policy(POLICY, script)
    }

    fn with_policy(policy: &'static str, script: Script) -> Evil {
        Evil::with(policy, Duration::ZERO, 0, script)
    }

    /// `commands_delay`: how long the first command poll takes to answer;
    /// `status_refusals`: how many status reports are refused with 422 before one is taken.
    fn with(
        policy: &'static str,
        commands_delay: Duration,
        status_refusals: usize,
        script: Script,
    ) -> Evil {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&hits);
        std::thread::spawn(move || {
            let mut n = 0;
            let mut polled = false;
            let mut refused = 0;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(path) = read_request(&mut stream) else {
                    continue;
                };
                log.lock().unwrap().push((path.clone(), Instant::now()));
                let answer = if path.starts_with("/v1/device/policy") {
                    response("200 OK", policy)
                } else if path.starts_with("/v1/device/commands") {
                    if !std::mem::replace(&mut polled, true) {
                        std::thread::sleep(commands_delay);
                    }
                    response("200 OK", r#"{"commands":[]}"#)
                } else if path.starts_with("/v1/device/status") {
                    if refused < status_refusals {
                        refused += 1;
                        response(
                            "422 Unprocessable Entity",
                            r#"{"error":"unprocessable","message":"no"}"#,
                        )
                    } else {
                        response("204 No Content", "")
                    }
                } else {
                    n += 1;
                    script(&path, n)
                };
                let _ = stream.write_all(&answer);
            }
        });
        Evil { addr, hits }
    }

    fn contact_calls(&self) -> Vec<Instant> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p.starts_with("/v1/device/contacts"))
            .map(|(_, t)| *t)
            .collect()
    }
}

fn managed(id: &str) -> StoreOp {
    StoreOp::Insert(ContactWrite {
        id: id.into(),
        hash: format!("h{id}"),
        data: ContactData {
            given_name: "Known".into(),
            family_name: id.into(),
            display_name: format!("Known {id}"),
            ..Default::default()
        },
        photo: PhotoWrite::Keep,
    })
}

struct Phone {
    agent: Agent<SqliteStore>,
    _dir: tempfile::TempDir,
}

/// An enrolled agent whose phone holds managed contacts "1" and "2" and one personal contact.
fn phone(evil: &Evil) -> Phone {
    phone_with(evil, |_| {})
}

fn phone_with(evil: &Evil, tweak: impl FnOnce(&mut AgentConfig)) -> Phone {
    let dir = tempfile::tempdir().unwrap();
    let agent =
        common::phone_enrolled_at(evil.addr, dir.path(), &[managed("1"), managed("2")], tweak);
    Phone { agent, _dir: dir }
}

/// Runs a sync against the script, expects it to fail with a message containing `expect`,
/// and checks that nothing on the phone changed and the failure was recorded.
fn fails_cleanly(script: Script, expect: &str) -> Evil {
    let evil = Evil::start(script);
    let mut p = phone(&evil);
    let managed_before = p.agent.store().managed_index().unwrap();
    let personal_before = p.agent.store().personal_fingerprint().unwrap();
    let err = p.agent.sync_now().unwrap_err().to_string();
    assert!(
        err.contains(expect),
        "error {err:?} should mention {expect:?}"
    );
    let mut after = p.agent.store().managed_index().unwrap();
    let mut before = managed_before;
    after.sort_by(|a, b| a.id.cmp(&b.id));
    before.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(after, before, "the phone's managed contacts changed");
    assert_eq!(
        p.agent.store().personal_fingerprint().unwrap(),
        personal_before
    );
    let status = p.agent.status().unwrap();
    assert_eq!(status.recent_runs[0].outcome, "failed");
    assert!(status.recent_runs[0]
        .error
        .as_deref()
        .unwrap_or("")
        .contains(expect));
    let result = status.last_sync_result.unwrap();
    if status.attention.is_some() {
        // Only a person can fix it: shown as such, and no backoff loop.
        assert!(result.starts_with("needs action"), "{result}");
        assert_eq!(status.consecutive_failures, 0);
    } else {
        assert!(result.starts_with("failed"), "{result}");
        assert_eq!(status.consecutive_failures, 1);
    }
    evil
}

fn page(body: &'static str) -> Script {
    Box::new(move |_, _| response("200 OK", body))
}

#[test]
fn malformed_json_is_a_typed_error() {
    fails_cleanly(
        page(r#"{"upserts": [{"id": "3", "#),
        "malformed contacts page",
    );
}

// An unknown kind ("pager") is not an error: tests/future_server.rs.
#[test]
fn a_kind_that_is_not_a_word_is_a_typed_error_without_the_value() {
    let body = r#"{"upserts":[{"id":"3","hash":"x","contact":{"given_name":"Secret Person","family_name":"","display_name":"Secret Person","phones":[{"number":"+48 1","kind":["Secret"]}]}}],"deletes":[],"next_token":"t","more":false}"#;
    let evil = Evil::start(page(body));
    let mut p = phone(&evil);
    let err = p.agent.sync_now().unwrap_err().to_string();
    assert!(err.contains("invalid type"), "{err}");
    assert!(!err.contains("Secret"), "{err}");
    drop(evil);
    fails_cleanly(page(body), "malformed contacts page");
}

#[test]
fn wrong_types_are_a_typed_error() {
    fails_cleanly(
        page(r#"{"upserts":[],"deletes":[],"next_token":"t","more":"yes"}"#),
        "invalid type",
    );
}

#[test]
fn an_html_error_page_with_status_200_is_a_typed_error() {
    fails_cleanly(
        Box::new(|_, _| {
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\nConnection: close\r\n\r\n<html></html>".to_vec()
        }),
        "malformed",
    );
}

#[test]
fn a_connection_dropped_mid_body_is_retried_then_reported() {
    let evil = fails_cleanly(
        Box::new(|_, _| {
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n{\"upserts\":[".to_vec()
        }),
        "could not reach the server",
    );
    assert_eq!(
        evil.contact_calls().len(),
        4,
        "idempotent GETs are retried up to 4 attempts"
    );
}

#[test]
fn a_connection_closed_without_an_answer_is_a_transport_error() {
    fails_cleanly(Box::new(|_, _| Vec::new()), "could not reach the server");
}

#[test]
fn server_errors_are_retried_with_backoff_then_reported() {
    let evil = fails_cleanly(
        Box::new(|_, _| {
            response(
                "500 Internal Server Error",
                r#"{"error":"internal","message":"database on fire"}"#,
            )
        }),
        "HTTP 500: database on fire",
    );
    assert_eq!(evil.contact_calls().len(), 4);
}

#[test]
fn client_errors_are_not_retried() {
    let evil = fails_cleanly(
        Box::new(|_, _| {
            response(
                "404 Not Found",
                r#"{"error":"not_found","message":"no such endpoint"}"#,
            )
        }),
        "HTTP 404",
    );
    assert_eq!(evil.contact_calls().len(), 1);
}

#[test]
fn unauthorized_says_to_enroll_again() {
    let evil = fails_cleanly(
        Box::new(|_, _| response("401 Unauthorized", "{}")),
        "enroll the device again",
    );
    drop(evil);
}

#[test]
fn a_contact_sent_twice_is_a_protocol_error() {
    let body = r#"{"upserts":[{"id":"3","hash":"a","contact":{"given_name":"A","family_name":"B","display_name":"A B"}},{"id":"3","hash":"a","contact":{"given_name":"A","family_name":"B","display_name":"A B"}}],"deletes":[],"next_token":"t","more":false}"#;
    fails_cleanly(page(body), "sent contact #3 twice");
}

#[test]
fn retry_after_is_honoured_and_a_busy_server_then_succeeds() {
    let evil = Evil::start(Box::new(|_, n| {
        if n == 1 {
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        } else {
            response(
                "200 OK",
                r#"{"upserts":[],"deletes":[],"next_token":"t2","more":false,"full":false}"#,
            )
        }
    }));
    let mut p = phone(&evil);
    let st = p.agent.state().sync_state().unwrap();
    assert!(st.sync_token.is_none());
    // No token: a full fetch, and an empty full set removes the two managed contacts.
    let r = p.agent.sync_now().unwrap();
    let calls = evil.contact_calls();
    assert_eq!(calls.len(), 2);
    assert!(
        calls[1] - calls[0] >= Duration::from_secs(1),
        "waited {:?}",
        calls[1] - calls[0]
    );
    assert_eq!(r.counts.deleted, 2);
    assert_eq!(p.agent.store().personal_fingerprint().unwrap().0, 1);
}

#[test]
fn deletes_of_unknown_ids_are_ignored_and_never_touch_personal_contacts() {
    let evil = Evil::start(page(
        r#"{"upserts":[],"deletes":["404","1"],"next_token":"t2","more":false,"full":false}"#,
    ));
    let mut p = phone(&evil);
    // Make the phone eligible for a delta: record the token and fingerprint a sync would.
    let personal = p.agent.store().personal_fingerprint().unwrap();
    let evil_full = Evil::start(page(
        r#"{"upserts":[{"id":"1","hash":"h1","contact":{"given_name":"Known","family_name":"1","display_name":"Known 1"}},{"id":"2","hash":"h2","contact":{"given_name":"Known","family_name":"2","display_name":"Known 2"}}],"deletes":[],"next_token":"t1","more":false,"full":true}"#,
    ));
    p.agent
        .state()
        .set_enrollment(
            &Enrollment {
                server_url: format!("http://{}", evil_full.addr),
                device_id: "d-1".into(),
                token: "x".into(),
            },
            chrono::Utc::now(),
        )
        .unwrap();
    p.agent.sync_now().unwrap();
    p.agent
        .state()
        .set_enrollment(
            &Enrollment {
                server_url: format!("http://{}", evil.addr),
                device_id: "d-1".into(),
                token: "x".into(),
            },
            chrono::Utc::now(),
        )
        .unwrap();
    let r = p.agent.sync_now().unwrap();
    assert!(!r.counts.full_fetch);
    assert_eq!((r.counts.deleted, r.counts.ignored), (1, 1));
    let ids: Vec<String> = p
        .agent
        .store()
        .managed_index()
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["2"]);
    assert_eq!(p.agent.store().personal_fingerprint().unwrap(), personal);
}

#[test]
fn a_malformed_policy_stops_the_sync_before_anything_is_written() {
    let evil = Evil::with_policy(
        r#"{"version":2,"basic_type":"some_groups","additional_groups":[],"sync_interval":"daily","backup_interval":"off"}"#,
        // A full, empty set for policy version 2: applying it would delete "1" and "2".
        page(
            r#"{"upserts":[],"deletes":[],"next_token":"t","more":false,"full":true,"policy_version":2}"#,
        ),
    );
    let mut p = phone(&evil);
    let err = p.agent.sync_now().unwrap_err().to_string();
    assert!(
        err.contains("policy this agent does not understand (basic_type); update the app"),
        "{err}"
    );
    assert_eq!(p.agent.store().managed_index().unwrap().len(), 2);
}

/// Interrupts the phone's agent from another thread after `ms` milliseconds.
fn interrupt_after(p: &Phone, ms: u64) -> std::thread::JoinHandle<()> {
    let stop = p.agent.interrupt_handle();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        stop.interrupt();
    })
}

#[test]
fn an_interrupt_during_the_command_poll_stops_the_run_before_it_syncs() {
    let evil = Evil::with(
        POLICY,
        Duration::from_secs(3),
        0,
        page(r#"{"upserts":[],"deletes":[],"next_token":"t","more":false}"#),
    );
    let mut p = phone_with(&evil, |c| {
        c.client.request_timeout = Duration::from_secs(30)
    });
    let t = interrupt_after(&p, 200);
    // The interrupt lands while the poll is on the wire: the request is cut at once (not
    // left to its 30 s timeout), and nothing resets the interrupt, so the sync that would
    // follow never starts.
    let started = Instant::now();
    let err = p.agent.run_due().unwrap_err();
    t.join().unwrap();
    assert!(matches!(err, contacts_agent::Error::Interrupted), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the poll ran {:?}",
        started.elapsed()
    );
    assert!(
        evil.contact_calls().is_empty(),
        "no sync after the interrupt"
    );
    // The next call is not affected by the old interrupt.
    assert!(p.agent.run_due().unwrap().sync.unwrap().is_ok());
}

#[test]
fn an_interrupt_ends_a_retry_wait_at_once() {
    let evil = Evil::start(Box::new(|_, _| {
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 25\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
    }));
    let mut p = phone(&evil);
    let t = interrupt_after(&p, 300);
    let started = Instant::now();
    let err = p.agent.sync_now().unwrap_err();
    t.join().unwrap();
    assert!(matches!(err, contacts_agent::Error::Interrupted), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited {:?} of a 25 s Retry-After",
        started.elapsed()
    );
    assert_eq!(
        evil.contact_calls().len(),
        1,
        "no retry after the interrupt"
    );
}

#[test]
fn a_page_too_large_to_read_makes_the_sync_ask_for_fewer_contacts() {
    // Contact "big" carries a 3 KB note: any page holding it exceeds the phone's 2 KB cap.
    let big = format!(
        r#"{{"id":"big","hash":"b","contact":{{"given_name":"B","family_name":"B","display_name":"B B","note":"{}"}}}}"#,
        "x".repeat(1500)
    );
    let evil = Evil::start(Box::new(move |path, _| {
        let limit: usize = path
            .split("limit=")
            .nth(1)
            .and_then(|v| v.split('&').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body = if limit > 1 {
            format!(r#"{{"upserts":[{big},{big}],"deletes":[],"next_token":"t","more":false}}"#)
        } else {
            format!(r#"{{"upserts":[{big}],"deletes":[],"next_token":"t","more":false}}"#)
        };
        response("200 OK", &body)
    }));
    let mut p = phone_with(&evil, |c| {
        c.page_size = 50;
        c.client.max_page_bytes = 2_000;
    });
    let r = p.agent.sync_now().unwrap();
    assert_eq!(r.counts.inserted, 1);
    let ids: Vec<String> = p
        .agent
        .store()
        .managed_index()
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["big"]);
    // 50 → 12 → 3 → 1: it kept asking with smaller pages until one fit.
    assert!(evil.contact_calls().len() >= 3);
}

#[test]
fn a_status_report_the_server_refuses_is_dropped_and_does_not_block_later_ones() {
    let evil = Evil::with(
        POLICY,
        Duration::ZERO,
        1,
        page(r#"{"upserts":[],"deletes":[],"next_token":"t","more":false}"#),
    );
    let mut p = phone(&evil);
    // The first report is refused (422): dropped, not queued forever.
    p.agent.sync_now().unwrap();
    assert_eq!(p.agent.status().unwrap().pending_reports, 0);
    p.agent.sync_now().unwrap();
    assert_eq!(p.agent.status().unwrap().pending_reports, 0);
    let statuses = evil
        .hits
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/v1/device/status"))
        .count();
    assert_eq!(statuses, 2, "one refused, one taken");
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body).unwrap();
    enc.finish().unwrap()
}

fn encoded(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: {encoding}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

const ONE_CONTACT: &str = r#"{"upserts":[{"id":"z","hash":"hz","contact":{"given_name":"Z","family_name":"Z","display_name":"Z Z"}}],"deletes":[],"next_token":"t","more":false}"#;

#[test]
fn a_gzipped_page_is_read() {
    let evil = Evil::start(Box::new(|_, _| {
        encoded("gzip", &gzip(ONE_CONTACT.as_bytes()))
    }));
    let mut p = phone(&evil);
    let r = p.agent.sync_now().unwrap();
    assert_eq!((r.counts.inserted, r.counts.deleted), (1, 2));
}

#[test]
fn a_zstd_page_is_read_and_a_truncated_one_is_a_typed_error() {
    let frame = zstd::bulk::compress(ONE_CONTACT.as_bytes(), 1).unwrap();
    let whole = frame.clone();
    let evil = Evil::start(Box::new(move |_, _| encoded("zstd", &whole)));
    let mut p = phone(&evil);
    let r = p.agent.sync_now().unwrap();
    assert_eq!((r.counts.inserted, r.counts.deleted), (1, 2));
    fails_cleanly(
        Box::new(move |_, _| encoded("zstd", &frame[..frame.len() - 3])),
        "truncated or corrupt",
    );
}

#[test]
fn a_truncated_gzip_page_is_a_typed_error() {
    fails_cleanly(
        Box::new(|_, _| {
            let gz = gzip(ONE_CONTACT.as_bytes());
            encoded("gzip", &gz[..gz.len() / 2])
        }),
        "truncated or corrupt",
    );
}

#[test]
fn an_unknown_content_encoding_is_a_typed_error() {
    fails_cleanly(
        Box::new(|_, _| encoded("br", ONE_CONTACT.as_bytes())),
        "Content-Encoding is not one the agent asked for",
    );
}

#[test]
fn a_gzip_bomb_is_too_large_and_never_inflated_past_the_cap() {
    // 3 MB of spaces inside valid JSON as gzip members of 64 KB each, about 32 KB on the wire:
    // past the phone's 1 MB page cap at every page size the sync tries.
    let mut gz = gzip(b"{\"upserts\":[],\"deletes\":[],\"next_token\":\"t\",\"more\":false");
    let spaces = gzip(&[b' '; 64 * 1024]);
    for _ in 0..48 {
        gz.extend_from_slice(&spaces);
    }
    gz.extend_from_slice(&gzip(b"}"));
    assert!(gz.len() < 64 * 1024, "{}", gz.len());
    let evil = Evil::start(Box::new(move |_, _| encoded("gzip", &gz)));
    let mut p = phone_with(&evil, |c| {
        c.page_size = 16;
        c.client.max_page_bytes = 1024 * 1024;
    });
    let before = p.agent.store().managed_index().unwrap();
    let err = p.agent.sync_now().unwrap_err().to_string();
    assert!(
        err.contains("decompressed answer exceeds 1048576 bytes"),
        "{err}"
    );
    assert_eq!(p.agent.store().managed_index().unwrap(), before);
    // 16 → 4 → 1, then it gives up with the typed error.
    assert_eq!(evil.contact_calls().len(), 3);
}

#[test]
fn a_page_that_inflates_past_the_cap_makes_the_sync_ask_for_fewer_contacts() {
    let evil = Evil::start(Box::new(|path, _| {
        if path.contains("limit=1&") || path.ends_with("limit=1") {
            encoded("gzip", &gzip(ONE_CONTACT.as_bytes()))
        } else {
            // Tiny on the wire, 3 KB once inflated: past the phone's 2 KB cap.
            let mut page = ONE_CONTACT.trim_end_matches('}').to_owned();
            page.push_str(&" ".repeat(3000));
            page.push('}');
            encoded("gzip", &gzip(page.as_bytes()))
        }
    }));
    let mut p = phone_with(&evil, |c| {
        c.page_size = 50;
        c.client.max_page_bytes = 2_000;
    });
    let r = p.agent.sync_now().unwrap();
    assert_eq!(r.counts.inserted, 1);
    // 50 → 12 → 3 → 1.
    assert_eq!(evil.contact_calls().len(), 4);
}

const PHOTO: &[u8] = b"\xff\xd8\xff not really a jpeg";

/// A full page of one contact "p" with `PHOTO`; photo batches answered by `batch(nth)`.
fn photo_server(batch: impl Fn(usize) -> String + Send + Sync + 'static) -> Evil {
    let hash = contacts_agent_protocol::hash::sha256_hex(PHOTO);
    let page = format!(
        r#"{{"upserts":[{{"id":"p","hash":"hp","contact":{{"given_name":"P","family_name":"P","display_name":"P P","photo":{{"hash":"{hash}"}}}}}}],"deletes":[],"next_token":"t","more":false,"full":true}}"#
    );
    let batches = std::sync::atomic::AtomicUsize::new(0);
    Evil::start(Box::new(move |path, _| {
        if path.starts_with("/v1/device/photos") {
            let n = batches.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            response("200 OK", &batch(n))
        } else {
            response("200 OK", &page)
        }
    }))
}

fn photo_json(data: &[u8]) -> String {
    use base64::Engine;
    format!(
        r#"{{"hash":"{}","data":"{}"}}"#,
        contacts_agent_protocol::hash::sha256_hex(PHOTO),
        base64::engine::general_purpose::STANDARD.encode(data)
    )
}

fn photo_calls(evil: &Evil) -> usize {
    let hits = evil.hits.lock().unwrap();
    hits.iter()
        .filter(|(p, _)| p.starts_with("/v1/device/photos"))
        .count()
}

#[test]
fn a_photo_batch_naming_a_hash_twice_fails_the_page_before_anything_is_written() {
    let evil = photo_server(|_| {
        format!(
            r#"{{"photos":[{},{}],"missing":[]}}"#,
            photo_json(PHOTO),
            photo_json(PHOTO)
        )
    });
    let mut p = phone(&evil);
    let before = p.agent.store().managed_index().unwrap();
    let err = p.agent.sync_now().unwrap_err().to_string();
    assert!(err.contains("names the same hash twice"), "{err}");
    assert_eq!(p.agent.store().managed_index().unwrap(), before);
    assert_eq!(photo_calls(&evil), 1);
}

#[test]
fn a_photo_whose_bytes_do_not_match_its_hash_fails_the_page() {
    let evil = photo_server(|_| format!(r#"{{"photos":[{}]}}"#, photo_json(b"other bytes")));
    let mut p = phone(&evil);
    let before = p.agent.store().managed_index().unwrap();
    let err = p.agent.sync_now().unwrap_err().to_string();
    assert!(err.contains("do not match its hash"), "{err}");
    assert_eq!(p.agent.store().managed_index().unwrap(), before);
}

#[test]
fn a_photo_batch_that_omits_a_hash_saves_the_contact_and_the_next_sync_fetches_the_photo() {
    // First answer: neither the photo nor "missing" (no progress); then the photo.
    let evil = photo_server(|n| {
        if n == 1 {
            r#"{"photos":[],"missing":[]}"#.to_owned()
        } else {
            format!(r#"{{"photos":[{}]}}"#, photo_json(PHOTO))
        }
    });
    let mut p = phone(&evil);
    let r = p.agent.sync_now().unwrap();
    assert_eq!(r.counts.inserted, 1);
    assert_eq!(p.agent.store().photo("p").unwrap(), None);
    let r = p.agent.sync_now().unwrap();
    assert_eq!(r.counts.updated, 1);
    assert_eq!(p.agent.store().photo("p").unwrap(), Some(PHOTO.to_vec()));
    assert_eq!(photo_calls(&evil), 2);
}
