//! What a newcomer finds after the demo, and the README's way to enroll a second phone: the
//! demo's phone ends holding contacts and a backup (the console has a device to show), and
//! a device the admin creates enrolls with the `contacts-agent` CLI from its one-time code or
//! its enrollment link, then syncs. Real server on loopback, the real CLI binary.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use contacts_agent::demo::admin::AdminClient;
use contacts_agent::demo::{self, DemoOptions};
use serde_json::{json, Value};

fn cli(home: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_contacts-agent"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_demo_leaves_a_phone_with_contacts_and_a_backup_and_a_second_phone_enrolls_with_the_cli() {
    let mut out = Vec::new();
    let mut demo = demo::run(
        DemoOptions {
            users: 300,
            ..DemoOptions::default()
        },
        &mut out,
    )
    .unwrap();
    let admin = AdminClient::new(&demo.server.url(), &demo.admin_token);

    // The demo's phone: on a policy that holds contacts, verified, with a backup.
    let status: Value = admin
        .get(&format!("/v1/admin/devices/{}/status", demo.device_id))
        .unwrap();
    assert_eq!(status["state"], "enrolled");
    assert_eq!(status["sync_type"], "user_groups");
    assert_eq!(status["backup_interval"], "daily");
    let on_device = status["contacts_on_device"].as_u64().unwrap();
    assert!(on_device > 0, "{status}");
    assert_eq!(status["contacts_verified"], true);
    assert_eq!(
        demo.agent.store().managed_count().unwrap() as u64,
        on_device
    );
    let backups: Vec<Value> = admin
        .get(&format!("/v1/admin/devices/{}/backups", demo.device_id))
        .unwrap();
    assert!(!backups.is_empty());

    // A second phone, as the README tells it: the admin creates a device on the demo's
    // policy, the phone enrolls with the one-time code and syncs.
    let user: Value = admin.get("/v1/admin/users?limit=1").unwrap();
    let user_id = user["items"][0]["id"].as_str().unwrap();
    let created: Value = admin
        .post(
            "/v1/admin/devices",
            &json!({"name": "Second phone", "user_id": user_id, "policy_id": "demo"}),
        )
        .unwrap();
    let code = created["enrollment_code"].as_str().unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = demo.server.url();
    let (ok, text) = cli(
        home.path(),
        &[
            "enroll",
            "--server",
            &url,
            "--code",
            code,
            "--name",
            "Second phone",
        ],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains(created["device"]["id"].as_str().unwrap()),
        "{text}"
    );
    let (ok, text) = cli(home.path(), &["run-due"]);
    assert!(ok, "{text}");
    assert!(text.contains("contacts on the phone"), "{text}");
    let second: Value = admin
        .get(&format!(
            "/v1/admin/devices/{}/status",
            created["device"]["id"].as_str().unwrap()
        ))
        .unwrap();
    assert!(
        second["contacts_on_device"].as_u64().unwrap() > 0,
        "{second}"
    );
    assert_eq!(second["contacts_verified"], true);

    // A third, from the enrollment link the console shows (what its QR code holds).
    let created: Value = admin
        .post(
            "/v1/admin/devices",
            &json!({"name": "Third phone", "policy_id": "demo"}),
        )
        .unwrap();
    let link = created["enrollment_link"].as_str().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (ok, text) = cli(home.path(), &["enroll", "--link", link]);
    assert!(ok, "{text}");
    let d: Value = admin
        .get(&format!(
            "/v1/admin/devices/{}",
            created["device"]["id"].as_str().unwrap()
        ))
        .unwrap();
    assert_eq!(d["state"], "enrolled");
    // A link that is not one is refused, and the error does not repeat it.
    let (ok, text) = cli(
        home.path(),
        &["enroll", "--link", "not-a-link-3f9a", "--force"],
    );
    assert!(!ok);
    assert!(
        text.contains("not an enrollment link") && !text.contains("3f9a"),
        "{text}"
    );
}
