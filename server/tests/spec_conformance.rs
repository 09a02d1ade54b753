//! `docs/openapi.yaml` against the running server. For every operation the test generates
//! requests from the spec: valid ones (random, and one with every field present and every
//! string and list at its limit) and invalid ones with one defect each (a missing, unknown or
//! mistyped field, a value one past a limit, a bad parameter, no credentials, an unknown id,
//! a method the path does not serve). It sends them to a `Server` on loopback and checks
//! each answer: the status the request calls for, documented for the operation, with a body
//! that fits the documented schema and never quotes the offending value. Every disagreement
//! is listed at the end.
#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use common::{request, tiny_zip, Answer, TestServer, ADMIN_TOKEN};
use contacts_agent_protocol::hash::sha256_hex;
use serde_json::{json, Map, Value};

/// Text for over-long values: a failure must never quote it back.
const MARKER: &str = "Zażółć gęślą jaźń ";
const MARKER_PROBE: &str = "gęślą";
/// Random valid requests per operation, besides the maximal one.
const RANDOM_VALID: usize = 5;

// ------------------------------------------------------------------------------ the spec

struct Spec {
    doc: Value,
    validators: RefCell<HashMap<String, jsonschema::Validator>>,
}

struct Op {
    method: String,
    path: String,
    id: String,
    op: Value,
    params: Vec<Value>,
}

/// What one schema allows, merged over `$ref`, `allOf` and the branches of `oneOf`/`anyOf`.
#[derive(Default)]
struct Facets {
    types: Vec<String>,
    enumeration: Vec<Value>,
    properties: Map<String, Value>,
    required: BTreeSet<String>,
    closed: bool,
    /// Properties of which at least one must match its `anyOf` branch (the name rule).
    any_of: Vec<String>,
    items: Option<Value>,
    max_items: Option<usize>,
    unique: bool,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<String>,
    format: Option<String>,
    minimum: Option<i64>,
    maximum: Option<i64>,
}

impl Spec {
    fn load() -> Spec {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml"))
                .unwrap();
        Spec {
            doc: serde_yaml_ng::from_str(&text).unwrap(),
            validators: RefCell::new(HashMap::new()),
        }
    }

    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            v = self
                .doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling {r}"));
        }
        v
    }

    fn operations(&self) -> Vec<Op> {
        let mut out = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            let shared = item.get("parameters").and_then(Value::as_array);
            for (method, op) in item.as_object().unwrap() {
                if method == "parameters" {
                    continue;
                }
                let mut params: Vec<Value> = shared
                    .into_iter()
                    .flatten()
                    .chain(
                        op.get("parameters")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten(),
                    )
                    .map(|p| self.resolve(p).clone())
                    .collect();
                params.dedup_by(|a, b| a["name"] == b["name"]);
                out.push(Op {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    id: op["operationId"].as_str().unwrap().to_owned(),
                    op: op.clone(),
                    params,
                });
            }
        }
        out
    }

    /// Validation errors of `instance` against `schema` (formats checked), `$ref`s resolved
    /// in the spec.
    fn errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let key = schema.to_string();
        let mut cache = self.validators.borrow_mut();
        let validator = cache.entry(key).or_insert_with(|| {
            let mut root = match schema {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            root.insert("components".into(), self.doc["components"].clone());
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&Value::Object(root))
                .unwrap_or_else(|e| panic!("schema does not compile: {e}"))
        });
        validator
            .iter_errors(instance)
            .map(|e| {
                let text = format!("{} at '{}'", e, e.instance_path());
                text.chars().take(300).collect()
            })
            .collect()
    }

    fn facets(&self, schema: &Value) -> Facets {
        let mut f = Facets::default();
        self.merge(schema, &mut f, true);
        f
    }

    fn merge(&self, schema: &Value, f: &mut Facets, top: bool) {
        let s = self.resolve(schema);
        match s.get("type") {
            Some(Value::String(t)) => f.types.push(t.clone()),
            Some(Value::Array(ts)) => f
                .types
                .extend(ts.iter().filter_map(|t| t.as_str().map(str::to_owned))),
            _ => {}
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            f.enumeration.extend(e.iter().cloned());
            if s.get("type").is_none() {
                f.types.push("string".into());
            }
        }
        if let Some(p) = s.get("properties").and_then(Value::as_object) {
            if top || s.get("type").is_some() {
                for (k, v) in p {
                    f.properties.insert(k.clone(), v.clone());
                }
            }
        }
        if let Some(r) = s.get("required").and_then(Value::as_array) {
            f.required
                .extend(r.iter().filter_map(|v| v.as_str().map(str::to_owned)));
        }
        if s.get("additionalProperties") == Some(&Value::Bool(false))
            || s.get("unevaluatedProperties") == Some(&Value::Bool(false))
        {
            f.closed = true;
        }
        let num = |k: &str| s.get(k).and_then(Value::as_u64).map(|n| n as usize);
        f.items = f.items.take().or_else(|| s.get("items").cloned());
        f.max_items = f.max_items.or(num("maxItems"));
        f.min_length = f.min_length.or(num("minLength"));
        f.max_length = f.max_length.or(num("maxLength"));
        f.unique |= s.get("uniqueItems") == Some(&Value::Bool(true));
        f.pattern = f
            .pattern
            .take()
            .or_else(|| s.get("pattern").and_then(Value::as_str).map(str::to_owned));
        f.format = f
            .format
            .take()
            .or_else(|| s.get("format").and_then(Value::as_str).map(str::to_owned));
        f.minimum = f.minimum.or(s.get("minimum").and_then(Value::as_i64));
        f.maximum = f.maximum.or(s.get("maximum").and_then(Value::as_i64));
        for member in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.merge(member, f, true);
        }
        for branch in s
            .get("oneOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.merge(branch, f, false);
        }
        if let Some(branches) = s.get("anyOf").and_then(Value::as_array) {
            if s.get("type").is_some() || s.get("properties").is_some() {
                // Constraint branches on an object's own properties (the name rule).
                for b in branches {
                    if let Some(p) = self.resolve(b).get("properties").and_then(Value::as_object) {
                        f.any_of.extend(p.keys().cloned());
                    }
                }
            } else {
                for b in branches {
                    self.merge(b, f, false);
                }
            }
        }
        if f.types.is_empty() && !f.properties.is_empty() {
            f.types.push("object".into());
        }
    }

    /// The response documented for `status`, or None if it is not documented.
    fn response<'a>(&'a self, op: &'a Op, status: u16) -> Option<&'a Value> {
        op.op["responses"]
            .get(status.to_string())
            .map(|r| self.resolve(r))
    }
}

// -------------------------------------------------------------------------- generation

struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Characters that have tripped servers: non-ASCII (one to four bytes), markup, quotes.
const PALETTE: &[char] = &[
    'a', 'b', 'Z', 'ż', 'ł', 'é', 'ß', '7', '-', '_', ' ', '\'', '"', '<', '>', '&', '😀', '中',
    '\\', '/', '+',
];

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Random,
    /// Every optional field present, every string and list at its maximum.
    Maximal,
}

fn text(gen: &mut Gen, len: usize) -> String {
    let mut s: String = (0..len)
        .map(|_| PALETTE[gen.below(PALETTE.len())])
        .collect();
    // Start with a letter: names must hold a character other than a space.
    if len > 0 {
        s.replace_range(..s.chars().next().map_or(0, char::len_utf8), "A");
    }
    s
}

fn from_set(gen: &mut Gen, set: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| set[gen.below(set.len())] as char)
        .collect()
}

fn over_long(max: usize) -> String {
    MARKER.chars().cycle().take(max + 1).collect()
}

struct Generator<'s> {
    spec: &'s Spec,
    gen: Gen,
}

impl Generator<'_> {
    fn value(
        &mut self,
        schema: &Value,
        mode: Mode,
        name: Option<&str>,
        fx: &mut Fixtures,
    ) -> Value {
        if let Some(v) = name.and_then(|n| fx.body_value(n, mode)) {
            return v;
        }
        let f = self.spec.facets(schema);
        if !f.enumeration.is_empty() && (mode == Mode::Maximal || !self.gen.chance(15)) {
            let i = self.gen.below(f.enumeration.len());
            return f.enumeration[i].clone();
        }
        let non_null: Vec<&String> = f.types.iter().filter(|t| *t != "null").collect();
        let ty = if non_null.is_empty()
            || (mode == Mode::Random && f.types.iter().any(|t| t == "null") && self.gen.chance(20))
        {
            "null".to_owned()
        } else {
            non_null[self.gen.below(non_null.len())].clone()
        };
        match ty.as_str() {
            "null" => Value::Null,
            "boolean" => Value::Bool(self.gen.chance(50)),
            "integer" => {
                let min = f.minimum.unwrap_or(0);
                let max = f.maximum.unwrap_or(min + 1000);
                if mode == Mode::Maximal {
                    json!(max)
                } else {
                    json!(min + self.gen.below((max - min + 1) as usize) as i64)
                }
            }
            "string" => Value::String(self.string(&f, mode)),
            "array" => {
                let items = f.items.clone().unwrap_or(json!({}));
                let n = match (mode, f.max_items) {
                    (Mode::Maximal, Some(m)) => m,
                    (Mode::Maximal, None) => 3,
                    (Mode::Random, m) => self.gen.below(m.unwrap_or(3).min(3) + 1),
                };
                let mut list: Vec<Value> =
                    (0..n).map(|_| self.value(&items, mode, None, fx)).collect();
                // `maxContains` (at most one preferred phone): drop the matches past it.
                let s = self.spec.resolve(schema);
                if let (Some(c), Some(max)) = (
                    s.get("contains"),
                    s.get("maxContains").and_then(Value::as_u64),
                ) {
                    let mut seen = 0;
                    list.retain(|item| {
                        let hit = self.spec.errors(c, item).is_empty();
                        seen += usize::from(hit);
                        !hit || seen <= max as usize
                    });
                }
                Value::Array(list)
            }
            "object" => {
                let mut m = Map::new();
                for (k, ps) in &f.properties {
                    // Generated values are requests: a `readOnly` property is only answered.
                    if ps["readOnly"] == json!(true) {
                        continue;
                    }
                    if f.required.contains(k) || mode == Mode::Maximal || self.gen.chance(50) {
                        let v = self.value(ps, mode, Some(k), fx);
                        m.insert(k.clone(), v);
                    }
                }
                Value::Object(m)
            }
            other => panic!("teach the generator type {other}"),
        }
    }

    fn string(&mut self, f: &Facets, mode: Mode) -> String {
        if f.format.as_deref() == Some("date-time") {
            let t = chrono::Utc::now() - chrono::Duration::seconds(self.gen.below(86_400) as i64);
            return t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        }
        let max = f.max_length.unwrap_or(40);
        let min = f.min_length.unwrap_or(0);
        let len = match mode {
            Mode::Maximal => max,
            Mode::Random => min.max(1) + self.gen.below(max.min(24).saturating_sub(min.max(1)) + 1),
        };
        match f.pattern.as_deref() {
            None | Some("\\S") => text(&mut self.gen, len),
            Some("^[A-Za-z0-9_-]{1,64}$") => {
                let len = if mode == Mode::Maximal {
                    64
                } else {
                    8 + self.gen.below(9)
                };
                from_set(
                    &mut self.gen,
                    b"abcdefghijklmnopqrstuvwxyz0123456789_-",
                    len,
                )
            }
            Some("^[0-9a-fA-F]{64}$") => from_set(&mut self.gen, b"0123456789abcdef", 64),
            // A time of day (a policy's sync window): any, in both modes, so that a window's
            // start and end differ.
            Some("^([01][0-9]|2[0-3]):[0-5][0-9]$") => {
                format!("{:02}:{:02}", self.gen.below(24), self.gen.below(60))
            }
            Some(p) => panic!("teach the generator pattern {p}"),
        }
    }
}

// ----------------------------------------------------------------------------- fixtures

/// Real ids for the generated requests, made on the server as they are needed.
struct Fixtures<'t> {
    t: &'t TestServer,
    device: String,
    token: String,
    photo_hash: String,
    n: usize,
}

impl<'t> Fixtures<'t> {
    fn new(t: &'t TestServer) -> Fixtures<'t> {
        let (device, token) = t.enrolled_device("conformance phone");
        // A photo on a Harvey member: the device's policy `p` entitles it to Harvey.
        let owner = "u-000009";
        t.admin_ok(
            "PUT",
            &format!("/v1/admin/groups/harvey/members/{owner}"),
            Value::Null,
        );
        let photo: Vec<u8> = (0..=255u8).collect();
        let a = request(
            t.addr(),
            "PUT",
            &format!("/v1/admin/users/{owner}/photo"),
            &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            &photo,
        );
        assert_eq!(a.status, 204, "{}", a.text());
        let zip = tiny_zip();
        let a = request(
            t.addr(),
            "POST",
            "/v1/device/backups",
            &[
                ("Authorization", &format!("Bearer {token}")),
                ("Idempotency-Key", common::TINY_ZIP_KEY),
                ("X-Contact-Count", "0"),
            ],
            &zip,
        );
        assert_eq!(a.status, 201, "{}", a.text());
        Fixtures {
            t,
            device,
            token,
            photo_hash: sha256_hex(&photo),
            n: 0,
        }
    }

    fn fresh(&mut self) -> usize {
        self.n += 1;
        self.n
    }

    fn path_param(&mut self, op: &Op, name: &str) -> String {
        let t = self.t;
        match (op.id.as_str(), name) {
            ("getPhoto", "hash") => {
                // Generated policy edits may have dropped Harvey from `p`.
                t.admin_ok(
                    "PUT",
                    "/v1/admin/policies/p",
                    json!({"name": "P", "additional_groups": ["harvey"]}),
                );
                self.photo_hash.clone()
            }
            // Uploads keep the newest five: download the newest.
            ("downloadBackup", "id") | ("downloadDeviceBackup", "backup_id") => {
                let a = t.device(&self.token, "GET", "/v1/device/backups", None);
                a.json()[0]["id"].as_str().unwrap().to_owned()
            }
            ("deleteUser", "id") => {
                let n = self.fresh();
                let u = t.admin_ok(
                    "POST",
                    "/v1/admin/users",
                    json!({"contact": {"given_name": "Temp", "family_name": format!("{n}"), "display_name": ""}}),
                );
                u["id"].as_str().unwrap().to_owned()
            }
            ("renameGroup", "id") => {
                // Names are unique and generated names are short: drop the groups earlier
                // operations made so the new name is free (the seeded names start otherwise).
                let seeded = contacts_agent_server::seed::GROUPS;
                for g in t
                    .admin_ok("GET", "/v1/admin/groups", Value::Null)
                    .as_array()
                    .unwrap()
                {
                    let id = g["id"].as_str().unwrap();
                    if !seeded.iter().any(|(s, _)| *s == id) {
                        t.admin_ok("DELETE", &format!("/v1/admin/groups/{id}"), Value::Null);
                    }
                }
                let n = self.fresh();
                t.admin_ok(
                    "POST",
                    "/v1/admin/groups",
                    json!({"id": format!("tmp-{n}"), "name": format!("Temp {n}")}),
                );
                format!("tmp-{n}")
            }
            ("deleteGroup", "id") => {
                let n = self.fresh();
                t.admin_ok(
                    "POST",
                    "/v1/admin/groups",
                    json!({"id": format!("tmp-{n}"), "name": format!("Temp {n}")}),
                );
                format!("tmp-{n}")
            }
            ("addMember" | "removeMember", "id") => "mike".into(),
            ("addMember", "user_id") => "u-000004".into(),
            ("removeMember", "user_id") => {
                t.admin_ok("PUT", "/v1/admin/groups/mike/members/u-000005", Value::Null);
                "u-000005".into()
            }
            ("revokeDevice", "id") => {
                let n = self.fresh();
                t.new_device(&format!("revoked {n}")).0
            }
            // Retiring is for good: a device of its own each time, enrolled (202).
            ("retireDevice", "id") => {
                let n = self.fresh();
                t.enrolled_device(&format!("retired {n}")).0
            }
            // A code outstanding, as a QR code is only shown for one.
            ("getEnrollmentQr", "id") => {
                let n = self.fresh();
                t.new_device(&format!("to enroll {n}")).0
            }
            (_, "id") if op.path.starts_with("/v1/admin/users/") => "u-000001".into(),
            (_, "id") if op.path.starts_with("/v1/admin/groups/") => "harvey".into(),
            (_, "id") if op.path.starts_with("/v1/admin/policies/") => "p".into(),
            (_, "id") if op.path.starts_with("/v1/admin/devices/") => self.device.clone(),
            (op, name) => panic!("no fixture for path parameter {name} of {op}"),
        }
    }

    /// A value for a body property that must name something real; None: generate it.
    fn body_value(&mut self, name: &str, mode: Mode) -> Option<Value> {
        Some(match name {
            "enrollment_code" => {
                let n = self.fresh();
                json!(self.t.new_device(&format!("enrolling {n}")).1)
            }
            "policy_id" => json!("p"),
            "user_id" => json!("u-000001"),
            "additional_groups" if mode == Mode::Maximal => json!(["harvey", "mike"]),
            "additional_groups" => json!(["harvey"]),
            "groups" => json!(["mike"]),
            _ => return None,
        })
    }

    /// Query and header parameters left out of valid requests (their valid values are
    /// states, not shapes: a sync token, an ETag).
    fn skip_param(name: &str) -> bool {
        matches!(name, "since" | "If-None-Match")
    }

    fn binary(&mut self, media: &str, mode: Mode, gen: &mut Gen, max: Option<usize>) -> Vec<u8> {
        match media {
            "application/zip" => tiny_zip(),
            // `POST /v1/admin/import`: ImportLine objects (`NewUser` with an id), fresh ids.
            "application/x-ndjson" => {
                let lines = if mode == Mode::Maximal {
                    50
                } else {
                    1 + gen.below(3)
                };
                let mut out = String::new();
                for _ in 0..lines {
                    let n = self.fresh();
                    let line = json!({"id": format!("imported-{n}"),
                        "contact": {"given_name": "Imported", "family_name": format!("{n}"), "display_name": ""},
                        "groups": ["mike"]});
                    out.push_str(&format!("{line}\n"));
                }
                out.into_bytes()
            }
            _ => {
                let n = match (mode, max) {
                    (Mode::Maximal, Some(m)) => m,
                    _ => 1 + gen.below(2000),
                };
                (0..n).map(|i| (i as u8) ^ (gen.next() as u8)).collect()
            }
        }
    }
}

// ------------------------------------------------------------------------------ requests

#[derive(Clone)]
struct Req {
    method: String,
    path_params: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    auth: Option<String>,
    body: Vec<u8>,
    json: Option<Value>,
    media: Option<String>,
}

use contacts_agent_protocol::wire::url_encode as encode;

impl Req {
    fn target(&self, path: &str) -> String {
        let mut t = path.to_owned();
        for (k, v) in &self.path_params {
            t = t.replace(&format!("{{{k}}}"), &encode(v));
        }
        if !self.query.is_empty() {
            let q: Vec<String> = self
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            t = format!("{t}?{}", q.join("&"));
        }
        t
    }

    fn send(&self, t: &TestServer, path: &str) -> Answer {
        let mut headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let auth = self.auth.as_ref().map(|a| format!("Bearer {a}"));
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        if let Some(m) = &self.media {
            headers.push(("Content-Type", m));
        }
        request(
            t.addr(),
            &self.method,
            &self.target(path),
            &headers,
            &self.body,
        )
    }

    fn with_json(&self, v: Value) -> Req {
        let mut r = self.clone();
        r.body = v.to_string().into_bytes();
        r.json = Some(v);
        r
    }
}

/// The body's media type and schema, if the operation takes a body.
fn body_schema(spec: &Spec, op: &Op) -> Option<(String, Value)> {
    let content = spec.resolve(op.op.get("requestBody")?).get("content")?;
    let (media, m) = content.as_object()?.iter().next()?;
    Some((media.clone(), m.get("schema")?.clone()))
}

fn build(g: &mut Generator, fx: &mut Fixtures, op: &Op, mode: Mode) -> Req {
    let spec = g.spec;
    let security = op.op.get("security").unwrap_or(&spec.doc["security"]);
    let auth = match security
        .as_array()
        .and_then(|s| s.first())
        .and_then(Value::as_object)
    {
        None => None,
        Some(s) if s.contains_key("adminToken") => Some(ADMIN_TOKEN.to_owned()),
        // Retiring ends the token it carries: each request gets a device of its own.
        Some(_) if op.id == "retireDevice" => {
            let n = fx.fresh();
            Some(fx.t.enrolled_device(&format!("retiring {n}")).1)
        }
        Some(_) => Some(fx.token.clone()),
    };
    let mut r = Req {
        method: op.method.clone(),
        path_params: Vec::new(),
        query: Vec::new(),
        headers: Vec::new(),
        auth,
        body: Vec::new(),
        json: None,
        media: None,
    };
    for p in &op.params {
        let name = p["name"].as_str().unwrap();
        let required = p["required"].as_bool().unwrap_or(false);
        let value =
            |g: &mut Generator, fx: &mut Fixtures| match g.value(&p["schema"], mode, None, fx) {
                Value::String(s) => s,
                other => other.to_string(),
            };
        match p["in"].as_str().unwrap() {
            "path" => {
                let v = fx.path_param(op, name);
                r.path_params.push((name.into(), v));
            }
            "query"
                if !Fixtures::skip_param(name)
                    && (required || mode == Mode::Maximal || g.gen.chance(60)) =>
            {
                let v = value(g, fx);
                r.query.push((name.into(), v));
            }
            "header" if !Fixtures::skip_param(name) && (required || g.gen.chance(60)) => {
                // A backup's headers must describe the archive sent (`tiny_zip`): the server
                // checks the key against its manifest and the count against its cards.
                let v = match name {
                    "Idempotency-Key" => common::TINY_ZIP_KEY.to_owned(),
                    "X-Contact-Count" => "0".to_owned(),
                    _ => value(g, fx),
                };
                r.headers.push((name.into(), v));
            }
            _ => {}
        }
    }
    if let Some((media, schema)) = body_schema(spec, op) {
        if media == "application/json" {
            // The generator knows the common keywords; retry for the rest (uniqueItems,
            // the name rule), and make sure what is sent as valid is valid.
            let mut tries = 0;
            let v = loop {
                let v = g.value(&schema, mode, None, fx);
                let errors = spec.errors(&schema, &v);
                if errors.is_empty() {
                    break v;
                }
                tries += 1;
                assert!(
                    tries < 20,
                    "{}: cannot generate a valid body: {errors:?}",
                    op.id
                );
            };
            r = r.with_json(v);
        } else {
            let max = spec.facets(&schema).max_length;
            r.body = fx.binary(&media, mode, &mut g.gen, max);
        }
        r.media = Some(media);
    }
    r
}

/// One defect at a time in a valid JSON body: `(what, body)`, each invalid by the schema.
fn defects(spec: &Spec, schema: &Value, body: &Value) -> Vec<(String, Value)> {
    let mut locations = Vec::new();
    walk(spec, schema, body, String::new(), &mut locations);
    let mut out: Vec<(String, Value)> = Vec::new();
    let mut set = |what: String, ptr: &str, v: Option<Value>| {
        let mut doc = body.clone();
        match v {
            Some(v) => match doc.pointer_mut(ptr) {
                Some(slot) => *slot = v,
                None => {
                    // A new member of the object at the parent pointer.
                    let (parent, key) = ptr.rsplit_once('/').unwrap();
                    doc.pointer_mut(parent)
                        .unwrap()
                        .as_object_mut()
                        .unwrap()
                        .insert(key.into(), v);
                }
            },
            None => {
                let (parent, key) = ptr.rsplit_once('/').unwrap();
                doc.pointer_mut(parent)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove(key);
            }
        }
        if !spec.errors(schema, &doc).is_empty() && !out.iter().any(|(w, _)| *w == what) {
            out.push((what, doc));
        }
    };
    for (ptr, sub, value) in &locations {
        let f = spec.facets(sub);
        let at = if ptr.is_empty() {
            "the body"
        } else {
            ptr.as_str()
        };
        let wrong = match f.types.iter().find(|t| *t != "null").map(String::as_str) {
            Some("string") => json!(12345),
            Some("integer") => json!("12"),
            Some("boolean") => json!("yes"),
            Some("array") => json!({"x": 1}),
            _ => json!("x"),
        };
        set(format!("{at}: wrong type"), ptr, Some(wrong));
        if let Some(max) = f.max_length {
            set(
                format!("{at}: {} characters", max + 1),
                ptr,
                Some(json!(over_long(max))),
            );
        }
        if f.pattern.is_some() || f.min_length.is_some() {
            for bad in ["   ", "bad id!", ""] {
                set(
                    format!("{at}: does not match its pattern ({bad:?})"),
                    ptr,
                    Some(json!(bad)),
                );
            }
        }
        if f.format.as_deref() == Some("date-time") {
            set(
                format!("{at}: not a date-time"),
                ptr,
                Some(json!("yesterday")),
            );
        }
        if !f.enumeration.is_empty() {
            set(
                format!("{at}: not one of the enum"),
                ptr,
                Some(json!("no_such_value")),
            );
        }
        if let Some(max) = f.maximum {
            set(
                format!("{at}: above its maximum"),
                ptr,
                Some(json!(max + 1)),
            );
        }
        if let Some(min) = f.minimum {
            set(
                format!("{at}: below its minimum"),
                ptr,
                Some(json!(min - 1)),
            );
        }
        if let (Some(max), Some(first)) = (f.max_items, value.as_array().and_then(|a| a.first())) {
            set(
                format!("{at}: {} items", max + 1),
                ptr,
                Some(json!(vec![first.clone(); max + 1])),
            );
        }
        if let (true, Some(first)) = (f.unique, value.as_array().and_then(|a| a.first())) {
            set(
                format!("{at}: the same item twice"),
                ptr,
                Some(json!([first, first])),
            );
        }
        if let Value::Object(m) = value {
            for k in &f.required {
                if m.contains_key(k) {
                    set(
                        format!("{at}: without required {k}"),
                        &format!("{ptr}/{k}"),
                        None,
                    );
                }
            }
            if f.closed {
                set(
                    format!("{at}: with an unknown field"),
                    &format!("{ptr}/unexpected_field"),
                    Some(json!(1)),
                );
            }
            if !f.any_of.is_empty() {
                let mut doc = value.clone();
                for k in &f.any_of {
                    doc[k] = json!("  ");
                }
                set(
                    format!("{at}: none of {:?} filled", f.any_of),
                    ptr,
                    Some(doc),
                );
            }
        }
    }
    out
}

/// Every location in `value` with its schema: the value itself, its properties, and the
/// first item of each list.
fn walk(
    spec: &Spec,
    schema: &Value,
    value: &Value,
    ptr: String,
    out: &mut Vec<(String, Value, Value)>,
) {
    out.push((ptr.clone(), schema.clone(), value.clone()));
    let f = spec.facets(schema);
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                if let Some(ps) = f.properties.get(k) {
                    walk(spec, ps, v, format!("{ptr}/{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            if let (Some(first), Some(items)) = (a.first(), &f.items) {
                walk(spec, items, first, format!("{ptr}/0"), out);
            }
        }
        _ => {}
    }
}

// ------------------------------------------------------------------------------- checks

#[derive(Clone, Copy)]
enum Expect {
    Success,
    Status(u16),
}

#[derive(Default)]
struct Report {
    requests: usize,
    failures: Vec<String>,
}

impl Report {
    fn check(&mut self, spec: &Spec, op: &Op, what: &str, expect: Expect, a: &Answer) {
        self.requests += 1;
        let mut fail = |msg: String| {
            self.failures
                .push(format!("{} {} [{what}]: {msg}", op.method, op.path));
        };
        let body_text = || a.text().chars().take(300).collect::<String>();
        match expect {
            Expect::Success if !(200..300).contains(&a.status) && a.status != 304 => {
                fail(format!(
                    "expected success, got {}: {}",
                    a.status,
                    body_text()
                ));
            }
            Expect::Status(s) if a.status != s => {
                fail(format!("expected {s}, got {}: {}", a.status, body_text()));
            }
            _ => {}
        }
        if a.text().contains(MARKER_PROBE) {
            fail("the answer quotes the offending value".into());
        }
        let Some(resp) = spec.response(op, a.status) else {
            fail(format!(
                "HTTP {} is not documented for this operation",
                a.status
            ));
            return;
        };
        let Some(content) = resp.get("content").and_then(Value::as_object) else {
            if !a.body.is_empty() {
                fail(format!(
                    "HTTP {} is documented without a body but has one",
                    a.status
                ));
            }
            return;
        };
        let got = a
            .header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        let Some(media) = content.get(got) else {
            fail(format!(
                "content type {got:?} is not documented for HTTP {}",
                a.status
            ));
            return;
        };
        if got == "application/json" {
            let Ok(v) = serde_json::from_slice::<Value>(&a.body) else {
                fail(format!("HTTP {} body is not JSON", a.status));
                return;
            };
            if let Some(schema) = media.get("schema") {
                for e in spec.errors(schema, &v).into_iter().take(5) {
                    fail(format!("HTTP {} body: {e}", a.status));
                }
            }
        }
    }
}

#[test]
fn every_operation_answers_as_docs_openapi_yaml_says() {
    let spec = Spec::load();
    let t = TestServer::start(30);
    let mut fx = Fixtures::new(&t);
    let mut g = Generator {
        spec: &spec,
        gen: Gen(0x5eed_0f0a_11ce),
    };
    let mut report = Report::default();
    let ops = spec.operations();
    for op in &ops {
        // Valid requests.
        for i in 0..=RANDOM_VALID {
            let mode = if i == 0 { Mode::Maximal } else { Mode::Random };
            let r = build(&mut g, &mut fx, op, mode);
            let what = if i == 0 {
                "valid, maximal".to_owned()
            } else {
                format!("valid #{i}")
            };
            report.check(&spec, op, &what, Expect::Success, &r.send(&t, &op.path));
        }
        // Without credentials, and with the wrong ones.
        if build(&mut g, &mut fx, op, Mode::Random).auth.is_some() {
            for (what, auth) in [
                ("no token", None),
                ("a wrong token", Some("not-a-token".to_owned())),
            ] {
                let mut r = build(&mut g, &mut fx, op, Mode::Random);
                r.auth = auth;
                report.check(&spec, op, what, Expect::Status(401), &r.send(&t, &op.path));
            }
        }
        // Unknown ids in the path.
        for p in op.params.iter().filter(|p| p["in"] == "path") {
            let mut r = build(&mut g, &mut fx, op, Mode::Random);
            for (k, v) in &mut r.path_params {
                if k == p["name"].as_str().unwrap() {
                    *v = "no-such-thing".into();
                }
            }
            report.check(
                &spec,
                op,
                &format!("unknown {}", p["name"]),
                Expect::Status(404),
                &r.send(&t, &op.path),
            );
        }
        // Parameters that do not fit their schemas.
        for p in op
            .params
            .iter()
            .filter(|p| p["in"] == "query" || p["in"] == "header")
        {
            let name = p["name"].as_str().unwrap();
            let f = spec.facets(&p["schema"]);
            let mut bad: Vec<String> = Vec::new();
            if f.types.iter().any(|t| t == "integer") {
                bad.push("abc".into());
                bad.push(format!("{}", f.minimum.unwrap_or(0) - 1));
            }
            if let Some(max) = f.max_length {
                bad.push(over_long(max));
            }
            if f.pattern.is_some() {
                bad.push("not-what-the-pattern-says".into());
            }
            for b in bad {
                let mut r = build(&mut g, &mut fx, op, Mode::Random);
                let list = if p["in"] == "query" {
                    &mut r.query
                } else {
                    &mut r.headers
                };
                list.retain(|(k, _)| k != name);
                list.push((name.into(), b.clone()));
                let what = format!(
                    "{} {name}={}",
                    p["in"].as_str().unwrap(),
                    b.chars().take(20).collect::<String>()
                );
                report.check(&spec, op, &what, Expect::Status(400), &r.send(&t, &op.path));
            }
        }
        // Bodies with one defect each.
        if let Some((media, schema)) = body_schema(&spec, op) {
            let base = build(&mut g, &mut fx, op, Mode::Maximal);
            if media == "application/json" {
                let mut r = base.clone();
                r.body = b"{".to_vec();
                report.check(
                    &spec,
                    op,
                    "malformed JSON",
                    Expect::Status(400),
                    &r.send(&t, &op.path),
                );
                for (what, body) in defects(&spec, &schema, base.json.as_ref().unwrap()) {
                    let r = base.with_json(body);
                    report.check(&spec, op, &what, Expect::Status(422), &r.send(&t, &op.path));
                }
            } else {
                let f = spec.facets(&schema);
                if let Some(max) = f.max_length {
                    let mut r = base.clone();
                    r.body = vec![0x42; max + 1];
                    report.check(
                        &spec,
                        op,
                        "one byte past its limit",
                        Expect::Status(413),
                        &r.send(&t, &op.path),
                    );
                }
                if media != "application/zip" {
                    let mut r = base.clone();
                    r.body.clear();
                    report.check(
                        &spec,
                        op,
                        "empty",
                        Expect::Status(400),
                        &r.send(&t, &op.path),
                    );
                }
            }
        }
    }
    // Methods a path does not serve: 405 with `Allow` naming the ones it does.
    for (path, item) in spec.doc["paths"].as_object().unwrap() {
        let served: BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "parameters")
            .map(|k| k.to_uppercase())
            .collect();
        let concrete = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            if served.contains(method) {
                continue;
            }
            report.requests += 1;
            let a = request(
                t.addr(),
                method,
                &concrete,
                &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
                b"",
            );
            let allow: BTreeSet<String> = a
                .header("allow")
                .unwrap_or("")
                .split(',')
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect();
            let errors = serde_json::from_slice::<Value>(&a.body)
                .map(|v| spec.errors(&json!({"$ref": "#/components/schemas/Error"}), &v))
                .unwrap_or_else(|_| vec!["not JSON".into()]);
            if a.status != 405 || allow != served || !errors.is_empty() {
                report.failures.push(format!(
                    "{method} {path}: expected 405 with Allow {served:?} and an Error body, got {} with Allow {allow:?} ({errors:?})",
                    a.status
                ));
            }
        }
    }
    assert!(
        report.failures.is_empty(),
        "{} of {} requests disagree with docs/openapi.yaml:\n{}",
        report.failures.len(),
        report.requests,
        report.failures.join("\n")
    );
    eprintln!(
        "{} requests over {} operations agree with docs/openapi.yaml",
        report.requests,
        ops.len()
    );
}
