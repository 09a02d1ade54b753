//! No name, number, e-mail or token in any log line: run the whole demo with every log level
//! captured (agent, server, HTTP client) and look for every seeded value.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use contacts_agent_server::seed;
use log::{LevelFilter, Log, Metadata, Record};

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl Log for Capture {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }
    fn log(&self, record: &Record) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        LINES.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

#[test]
fn a_full_demo_logs_no_personal_data_and_no_tokens() {
    // Wrapped in the same caps the CLI (and the Android logger) use; everything else at TRACE.
    log::set_boxed_logger(Box::new(contacts_agent::logging::Capped(Capture))).unwrap();
    log::set_max_level(LevelFilter::Trace);
    let mut out = Vec::new();
    let demo =
        contacts_agent::demo::run(contacts_agent::demo::DemoOptions::default(), &mut out).unwrap();
    let device_token = demo.agent.state().enrollment().unwrap().unwrap().token;
    let admin_token = demo.admin_token.clone();
    drop(demo);

    let lines = LINES.lock().unwrap().clone();
    // The capture must have seen real traffic for the check to mean anything.
    assert!(lines.len() > 50, "only {} log lines", lines.len());
    assert!(lines.iter().any(|l| l.contains("/v1/device/contacts")));
    assert!(lines.iter().any(|l| l.starts_with("DEBUG ureq")));

    // Windows of the tokens too, so a token split across lines (a hex dump) is caught.
    let mut needles = Vec::new();
    for token in [&device_token, &admin_token] {
        needles.extend(
            token
                .as_bytes()
                .chunks(12)
                .filter(|c| c.len() == 12)
                .map(|c| String::from_utf8_lossy(c).into_owned()),
        );
    }
    for i in 0..2000 {
        let p = seed::person(i, 42);
        needles.push(p.display_name.clone());
        needles.extend(p.phones.iter().map(|x| x.number.clone()));
        needles.extend(p.emails.iter().map(|x| x.address.clone()));
    }
    needles.push("+48 700 000 00".into()); // the phone's personal contacts
    needles.push("@home.example".into());
    let printed = String::from_utf8(out).unwrap();
    for needle in &needles {
        for line in lines.iter().chain(std::iter::once(&printed)) {
            assert!(
                !line.contains(needle.as_str()),
                "personal data or a token in output: {line}"
            );
        }
    }
}
