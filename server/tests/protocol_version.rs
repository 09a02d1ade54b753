//! The protocol version on the wire: every answer names the version it is written in and the
//! range the server speaks; a request naming a version outside it is refused with a clear 400.
//! And the other half of must-ignore: what devices ignore, this server refuses when sent to it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{request, TestServer, ADMIN_TOKEN};
use serde_json::json;

#[test]
fn every_answer_names_its_version_and_the_range_the_server_speaks() {
    let s = TestServer::start(3);
    let (_, token) = s.enrolled_device("phone");
    let auth = format!("Bearer {token}");
    for named in [None, Some("1"), Some(" 1 ")] {
        let mut headers = vec![("Authorization", auth.as_str())];
        headers.extend(named.map(|v| ("Contacts-Protocol", v)));
        let a = request(s.addr(), "GET", "/v1/device/policy", &headers, b"");
        assert_eq!(a.status, 200, "{named:?}: {}", a.text());
        assert_eq!(a.header("contacts-protocol"), Some("1"));
        assert_eq!(a.header("contacts-protocol-supported"), Some("1-1"));
    }
    // Refusals carry them too, so a client can tell why.
    let a = s.device(&token, "GET", "/v1/device/nothing-here", None);
    assert_eq!(a.status, 404);
    assert_eq!(a.header("contacts-protocol-supported"), Some("1-1"));
}

#[test]
fn a_request_naming_a_version_the_server_does_not_speak_is_a_clear_400() {
    let s = TestServer::start(3);
    let (_, token) = s.enrolled_device("phone");
    let auth = format!("Bearer {token}");
    for named in ["2", "0", "one"] {
        let headers = [
            ("Authorization", auth.as_str()),
            ("Contacts-Protocol", named),
        ];
        let a = request(s.addr(), "GET", "/v1/device/contacts", &headers, b"");
        assert_eq!(a.status, 400, "{named}: {}", a.text());
        let body = a.json();
        assert_eq!(body["error"], "unsupported_protocol");
        assert_eq!(
            body["message"],
            "this server speaks protocol versions 1-1; the request names another (Contacts-Protocol)"
        );
        assert_eq!(a.header("contacts-protocol-supported"), Some("1-1"));
    }
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let headers = [("Authorization", auth.as_str()), ("Contacts-Protocol", "9")];
    let a = request(s.addr(), "GET", "/v1/admin/groups", &headers, b"");
    assert_eq!(a.status, 400);
}

#[test]
fn the_admin_api_refuses_what_devices_would_ignore() {
    let s = TestServer::start(3);
    let contact = |phone_kind: &str, extra: Option<(&str, &str)>| {
        let mut c = json!({"given_name": "Anna", "family_name": "Nowak", "display_name": "",
            "phones": [{"number": "+48 1", "kind": phone_kind}]});
        if let Some((k, v)) = extra {
            c["phones"][0][k] = json!(v);
        }
        json!({ "contact": c })
    };
    let a = s.admin("POST", "/v1/admin/users", Some(contact("pager", None)));
    assert_eq!(a.status, 422, "{}", a.text());
    let msg = a.json()["message"].as_str().unwrap().to_owned();
    assert!(
        msg.starts_with("phones[].kind is not one of mobile, work"),
        "{msg}"
    );
    assert!(!msg.contains("pager"), "{msg}");
    let a = s.admin(
        "POST",
        "/v1/admin/users",
        Some(contact("work", Some(("extension", "Secret")))),
    );
    assert_eq!(a.status, 422, "{}", a.text());
    let msg = a.json()["message"].as_str().unwrap().to_owned();
    assert_eq!(msg, "contact.phones[] has a field its schema does not list");
    let a = s.admin("POST", "/v1/admin/users", Some(contact("work", None)));
    assert_eq!(a.status, 201, "{}", a.text());
}
