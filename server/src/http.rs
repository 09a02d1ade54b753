//! Our request/response layer: the types every handler sees, JSON, routing by pattern. The
//! connection side (hyper on tokio, limits, timeouts, TLS) is in `http/serve.rs`; the route
//! table itself is in `routes.rs`.

pub mod compress;
pub mod conn;
pub mod limits;
pub mod pool;
pub mod serve;
pub mod spool;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;

use contacts_agent_protocol::wire::redacted_json_error;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ApiError;

pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    /// Read in full before the handler runs, never past the route's body limit. Empty for a
    /// route whose body class is spooled (backups): that body is in `spooled`.
    pub body: Vec<u8>,
    /// A large upload, streamed to a temporary file under the route's budget
    /// (`routes::spool_budget`) before the handler runs.
    pub spooled: Option<spool::SpooledBody>,
    /// The client's address (the TCP peer; no proxy header is trusted).
    pub peer: Option<SocketAddr>,
    /// The request came over TLS that this server terminated.
    pub tls: bool,
}

impl Request {
    /// A request with no headers, peer or body: for handlers' unit tests.
    pub fn new(method: &str, target: &str) -> Request {
        let (path, query) = split_target(target);
        Request {
            method: method.to_owned(),
            path,
            query,
            headers: Vec::new(),
            body: Vec::new(),
            spooled: None,
            peer: None,
            tls: false,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query_usize(&self, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.query(name) {
            None => Ok(default),
            Some(v) => v.parse::<usize>().map(|n| n.min(max)).map_err(|_| {
                ApiError::BadRequest(format!(
                    "query parameter {name} must be a non-negative integer"
                ))
            }),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.header("cookie")?
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// An `application/x-www-form-urlencoded` body as pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        parse_query(&String::from_utf8_lossy(&self.body))
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::BadRequest(format!("invalid JSON body: {}", redacted_json_error(&e)))
        })
    }
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Response, ApiError> {
        let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        })
    }

    pub fn empty(status: u16) -> Response {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn bytes(content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status: 200,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    pub fn html(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: "text/html; charset=utf-8",
            headers: vec![
                ("Cache-Control".into(), "no-store".into()),
                ("X-Frame-Options".into(), "DENY".into()),
                (
                    "Content-Security-Policy".into(),
                    "default-src 'self'; style-src 'unsafe-inline'".into(),
                ),
            ],
            body: body.into_bytes(),
        }
    }

    pub fn redirect(to: &str) -> Response {
        Response {
            status: 303,
            content_type: "text/plain",
            headers: vec![("Location".into(), to.to_owned())],
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: String) -> Response {
        self.headers.push((name.to_owned(), value));
        self
    }

    pub fn from_error(e: &ApiError) -> Response {
        let body = serde_json::json!({ "error": e.code(), "message": e.to_string() });
        let mut headers = Vec::new();
        if let ApiError::Unavailable(_) = e {
            headers.push((
                "retry-after".to_owned(),
                crate::error::RETRY_AFTER_SECS.to_string(),
            ));
        }
        Response {
            status: e.status(),
            content_type: "application/json",
            headers,
            body: body.to_string().into_bytes(),
        }
    }
}

pub type Params = HashMap<&'static str, String>;

/// Matches `/v1/admin/users/{id}` against a path; `{name}` captures one segment.
pub fn match_pattern(pattern: &'static str, path: &str) -> Option<Params> {
    let mut params = HashMap::new();
    let mut pat = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (pat.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(g)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if g.is_empty() {
                        return None;
                    }
                    params.insert(name, percent_decode(g));
                } else if p != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// `/path?query` → the path and the decoded query pairs.
pub fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), parse_query(q)),
        None => (target.to_owned(), Vec::new()),
    }
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_capture_segments() {
        let p = match_pattern("/v1/admin/users/{id}", "/v1/admin/users/u%2D1").unwrap();
        assert_eq!(p["id"], "u-1");
        assert!(match_pattern("/v1/admin/users/{id}", "/v1/admin/users/").is_none());
        assert!(match_pattern("/v1/admin/users", "/v1/admin/users/x").is_none());
    }

    #[test]
    fn targets_split_into_path_and_query() {
        let req = Request::new("GET", "/v1/device/contacts?since=a%20b&limit=5&flag");
        assert_eq!(req.path, "/v1/device/contacts");
        assert_eq!(req.query("since"), Some("a b"));
        assert_eq!(req.query("limit"), Some("5"));
        assert_eq!(req.query("flag"), Some(""));
    }

    #[test]
    fn percent_decoding_handles_edges() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
    }

    #[test]
    fn json_errors_do_not_echo_values() {
        let mut req = Request::new("POST", "/");
        req.body = br#"{"basic_type":"Secret Name"}"#.to_vec();
        let err = req
            .json::<contacts_agent_protocol::Policy>()
            .err()
            .map(|e| e.to_string());
        let msg = err.unwrap_or_default();
        assert!(!msg.contains("Secret"), "{msg}");
        assert!(msg.contains("line 1"), "{msg}");
    }
}
