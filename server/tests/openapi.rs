//! `docs/openapi.yaml` is the contract: it must list exactly the routes the server answers,
//! and be a well-formed OpenAPI 3.1 document whose references all resolve.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use contacts_agent_server::routes::ROUTES;
use serde_json::Value;

fn spec() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml"))
            .unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_spec_lists_exactly_the_servers_routes() {
    let spec = spec();
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.pattern.to_owned()))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served but not in docs/openapi.yaml: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in docs/openapi.yaml but not served: {extra:?}"
    );
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    out.push(v.as_str().unwrap_or_default().to_owned());
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_spec_is_openapi_3_1_and_every_reference_resolves() {
    let spec = spec();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1."));
    let mut all = Vec::new();
    refs(&spec, &mut all);
    assert!(all.len() > 50);
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external ref {r}"));
        assert!(spec.pointer(pointer).is_some(), "dangling reference {r}");
    }
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
            assert!(
                op["operationId"].is_string(),
                "{method} {path} has no operationId"
            );
        }
    }
}

#[test]
fn the_wire_enums_match_the_spec() {
    use contacts_agent_protocol::{BackupInterval, BasicType, PhoneKind, SyncInterval};
    let spec = spec();
    let schemas = &spec["components"]["schemas"];
    let basic: BTreeSet<String> = [BasicType::None, BasicType::UserGroups, BasicType::AllGroups]
        .iter()
        .map(|b| b.as_str().to_owned())
        .collect();
    assert_eq!(strings(&schemas["BasicType"]["enum"]), basic);
    let sync: BTreeSet<String> = [
        SyncInterval::Disabled,
        SyncInterval::Daily,
        SyncInterval::Weekly,
        SyncInterval::Monthly,
    ]
    .iter()
    .map(|b| b.as_str().to_owned())
    .collect();
    assert_eq!(strings(&schemas["SyncInterval"]["enum"]), sync);
    let backup: BTreeSet<String> = [
        BackupInterval::Off,
        BackupInterval::Daily,
        BackupInterval::Weekly,
        BackupInterval::Monthly,
    ]
    .iter()
    .map(|b| b.as_str().to_owned())
    .collect();
    assert_eq!(strings(&schemas["BackupInterval"]["enum"]), backup);
    let phone: BTreeSet<String> = PhoneKind::ALL
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    assert_eq!(
        strings(&schemas["Phone"]["properties"]["kind"]["enum"]),
        phone
    );
    let fields: BTreeSet<String> = contacts_agent_protocol::Field::ALL
        .iter()
        .map(|f| f.as_str().to_owned())
        .collect();
    assert_eq!(strings(&schemas["ContactField"]["enum"]), fields);
}
