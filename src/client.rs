//! The device side of the server protocol over HTTP (ureq): bearer token, timeouts, retries
//! with backoff on 429/5xx honouring Retry-After, and https for anything beyond loopback.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use contacts_agent_protocol::hash::sha256_hex;
use contacts_agent_protocol::photos::{PhotoBatch, PhotoBatchRequest, MAX_PHOTO_BATCH};
use contacts_agent_protocol::wire::{
    redacted_json_error, url_encode, BackupInfo, CommandList, ContactsPage, EnrollRequest,
    EnrollResponse, ErrorBody,
};
use contacts_agent_protocol::wire::{
    ProtocolRange, PROTOCOL_HEADER, PROTOCOL_RANGE_HEADER, PROTOCOL_VERSION,
};
use contacts_agent_protocol::{Policy, PolicyReadError};
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::interrupt::{HookGuard, Scope};
use crate::tls::{Trust, TrustError};

const MAX_PHOTO_BYTES: u64 = 16 * 1024 * 1024;
const MAX_SMALL_BYTES: u64 = 4 * 1024 * 1024;
const MAX_BACKUP_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("server URL is not valid: {0}")]
    InvalidUrl(&'static str),
    #[error("refusing plain http:// to a non-loopback host: use https:// so contacts and tokens are encrypted in transit")]
    InsecureUrl,
    #[error("could not reach the server: {0}")]
    Transport(String),
    #[error("the server did not answer in time ({0})")]
    Timeout(String),
    #[error("the server rejected the device credentials (HTTP 401); enroll the device again")]
    Unauthorized,
    #[error(
        "the server refused this device (HTTP 403); ask the admin to re-enable it, or enroll again"
    )]
    Forbidden,
    #[error("the admin retired this device (HTTP 401 device_revoked); its business contacts are removed; enroll again with a new code")]
    Revoked,
    #[error("the request was interrupted")]
    Interrupted,
    #[error("TLS settings: {0}")]
    Trust(#[from] TrustError),
    #[error("the server no longer knows this sync token (HTTP 410)")]
    TokenExpired,
    #[error("the server answered HTTP {status}: {message}")]
    Status {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("the server sent a malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("the server's {what} exceeds {limit} bytes")]
    TooLarge { what: &'static str, limit: u64 },
    /// A newer server's policy: a basic sync type or interval this version does not know.
    #[error("the server sent a policy this agent does not understand ({field}); update the app")]
    PolicyNotUnderstood { field: &'static str },
    /// The server's `Contacts-Protocol-Supported` range leaves this agent's version out.
    #[error("the server speaks protocol versions {server}, this agent speaks {ours}; update the app", ours = PROTOCOL_VERSION)]
    ProtocolUnsupported { server: String },
}

impl ClientError {
    /// Worth trying again later (the scheduler backs off), as opposed to a configuration or
    /// protocol problem.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport(_) | ClientError::Timeout(_) => true,
            ClientError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// Whole request, body included.
    pub request_timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    pub retry_base: Duration,
    /// A Retry-After longer than this is not waited for in-process: the run fails as
    /// transient and the scheduler's backoff takes over.
    pub max_retry_wait: Duration,
    /// The largest contacts page the agent reads; a larger answer makes the sync ask again
    /// for fewer contacts per page.
    pub max_page_bytes: u64,
    /// An organisation's CA and SPKI pins, beyond the public roots (`tls.rs`).
    pub trust: Trust,
    /// The codings asked for (`Accept-Encoding`). zstd in the agent; the others for a
    /// benchmark's baselines or a server behind a proxy that mangles compressed answers.
    pub compression: Compression,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_attempts: 4,
            retry_base: Duration::from_millis(500),
            max_retry_wait: Duration::from_secs(30),
            max_page_bytes: 64 * 1024 * 1024,
            trust: Trust::default(),
            compression: Compression::Zstd,
        }
    }
}

pub enum PolicyFetch {
    NotModified,
    Fresh {
        policy: Policy,
        etag: Option<String>,
    },
}

pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
    opts: ClientOptions,
    /// Counters are atomics so a sync can fetch its next page on another thread (`Client` is
    /// `Sync`) while it writes the current one.
    bytes_received: AtomicU64,
    /// Nanoseconds spent parsing contacts pages since the last `take_page_parse_time`.
    page_parse_nanos: AtomicU64,
    /// Looked at before each attempt and during retry waits; an interrupt also shuts the
    /// ureq agent down, which cuts a request already on the wire.
    interrupt: Scope,
    _cut_on_interrupt: Option<HookGuard>,
}

/// Checks the server URL: http or https, a host, no credentials in it, and http only for
/// loopback (the demo and tests); returns it without a trailing slash.
pub fn check_url(url: &str) -> Result<String, ClientError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or(ClientError::InvalidUrl("expected http:// or https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(ClientError::InvalidUrl(
            "credentials in the URL are not allowed",
        ));
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    if host.is_empty() {
        return Err(ClientError::InvalidUrl("missing host"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => return Err(ClientError::InsecureUrl),
        _ => return Err(ClientError::InvalidUrl("expected http:// or https://")),
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(v: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

struct Answer {
    status: u16,
    etag: Option<String>,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Client {
    pub fn new(
        base_url: &str,
        token: Option<String>,
        opts: ClientOptions,
    ) -> Result<Self, ClientError> {
        let base = check_url(base_url)?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(opts.connect_timeout))
            .timeout_global(Some(opts.request_timeout))
            .max_redirects(0)
            .user_agent(concat!("contacts-agent/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = crate::tls::ureq_agent(config, &opts.trust)?;
        Ok(Client {
            agent,
            base,
            token,
            opts,
            bytes_received: AtomicU64::new(0),
            page_parse_nanos: AtomicU64::new(0),
            interrupt: Scope::never(),
            _cut_on_interrupt: None,
        })
    }

    /// Makes requests, retries and their waits stop when `scope`'s call is interrupted.
    pub fn with_interrupt(mut self, scope: Scope) -> Self {
        let agent = self.agent.clone();
        self._cut_on_interrupt = Some(scope.on_interrupt(move || agent.clone().shutdown()));
        self.interrupt = scope;
        self
    }

    /// Body bytes received since the last call.
    /// Time spent parsing contacts pages (JSON into the typed page) since the last call.
    pub fn take_page_parse_time(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.page_parse_nanos.swap(0, Ordering::Relaxed))
    }

    pub fn take_bytes_received(&self) -> u64 {
        self.bytes_received.swap(0, Ordering::Relaxed)
    }

    pub fn enroll(&self, code: &str, device_name: &str) -> Result<EnrollResponse, ClientError> {
        let body = request_body(&EnrollRequest {
            enrollment_code: code.to_owned(),
            device_name: device_name.to_owned(),
        })?;
        // Not idempotent (the code is single-use): only retried when the server said it did
        // not process it (429/503).
        let a = self.request(
            "POST",
            "/v1/enroll",
            None,
            Some(&body),
            MAX_SMALL_BYTES,
            false,
        )?;
        match a.status {
            201 | 200 => parse(&a.body, "enrollment answer"),
            401 | 404 => Err(ClientError::Status {
                status: a.status,
                message: "the enrollment code is unknown or already used".into(),
                retry_after: None,
            }),
            _ => Err(status_error(a)),
        }
    }

    pub fn policy(&self, etag: Option<&str>) -> Result<PolicyFetch, ClientError> {
        let a = self.request(
            "GET",
            "/v1/device/policy",
            etag,
            None,
            MAX_SMALL_BYTES,
            true,
        )?;
        match a.status {
            304 => Ok(PolicyFetch::NotModified),
            200 => {
                let policy = Policy::from_json(&a.body).map_err(|e| match e {
                    PolicyReadError::NotUnderstood { field } => {
                        ClientError::PolicyNotUnderstood { field }
                    }
                    PolicyReadError::Malformed(e) => ClientError::Malformed {
                        what: "policy",
                        detail: redacted_json_error(&e),
                    },
                })?;
                policy.validate().map_err(|e| ClientError::Malformed {
                    what: "policy",
                    detail: e.to_string(),
                })?;
                Ok(PolicyFetch::Fresh {
                    policy,
                    etag: a.etag,
                })
            }
            _ => Err(status_error(a)),
        }
    }

    pub fn contacts_page(
        &self,
        since: Option<&str>,
        limit: usize,
    ) -> Result<ContactsPage, ClientError> {
        let path = match since {
            Some(t) => format!("/v1/device/contacts?limit={limit}&since={}", url_encode(t)),
            None => format!("/v1/device/contacts?limit={limit}"),
        };
        let a = self.request("GET", &path, None, None, self.opts.max_page_bytes, true)?;
        match a.status {
            200 => {
                let t = std::time::Instant::now();
                let page: Result<ContactsPage, _> = parse(&a.body, "contacts page");
                let nanos = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.page_parse_nanos.fetch_add(nanos, Ordering::Relaxed);
                let page = page?;
                if page.next_token.is_empty() {
                    return Err(ClientError::Malformed {
                        what: "contacts page",
                        detail: "next_token is empty".into(),
                    });
                }
                Ok(page)
            }
            410 => Err(ClientError::TokenExpired),
            _ => Err(status_error(a)),
        }
    }

    pub fn photo(&self, hash: &str) -> Result<Vec<u8>, ClientError> {
        self.get_bytes(
            &format!("/v1/device/photos/{}", url_encode(hash)),
            MAX_PHOTO_BYTES,
        )
    }

    /// The photos with these hashes, by as few `POST /v1/device/photos` requests as the
    /// server's answer bound allows. A hash missing from the result is not available (no
    /// contact of this device carries it, or the server left it out twice): the sync saves
    /// that contact without its photo and tries again next time. An answer naming a hash
    /// not asked for, or one twice, or bytes that do not match their hash, is an error and
    /// nothing of it is used. A server without the route (404/405) gets one GET per photo.
    pub fn photos(&self, hashes: &[String]) -> Result<HashMap<String, Vec<u8>>, ClientError> {
        let mut got = HashMap::new();
        let mut missing = HashSet::new();
        loop {
            let mut ask: Vec<String> = Vec::new();
            for h in hashes {
                if ask.len() < MAX_PHOTO_BATCH
                    && !got.contains_key(h)
                    && !missing.contains(h)
                    && !ask.contains(h)
                {
                    ask.push(h.clone());
                }
            }
            if ask.is_empty() {
                return Ok(got);
            }
            let body = request_body(&PhotoBatchRequest {
                hashes: ask.clone(),
            })?;
            // Read-only: safe to retry.
            let a = self.request(
                "POST",
                "/v1/device/photos",
                None,
                Some(&body),
                MAX_PHOTO_BYTES,
                true,
            )?;
            let batch: PhotoBatch = match a.status {
                200 => parse(&a.body, "photo batch")?,
                404 | 405 => return self.photos_one_by_one(hashes, got),
                _ => return Err(status_error(a)),
            };
            if check_photo_batch(&ask, batch, &mut got, &mut missing)? == 0 {
                // No progress: what is left is not available this time.
                return Ok(got);
            }
        }
    }

    /// The fallback for a server without the batch route.
    fn photos_one_by_one(
        &self,
        hashes: &[String],
        got: HashMap<String, Vec<u8>>,
    ) -> Result<HashMap<String, Vec<u8>>, ClientError> {
        crate::sync::photos_each(hashes, got, |h| self.photo(h))
    }

    pub fn report_status(&self, body: &str) -> Result<(), ClientError> {
        // Reports are snapshots (the latest wins), so a retry is harmless.
        let a = self.request(
            "POST",
            "/v1/device/status",
            None,
            Some(body.as_bytes()),
            MAX_SMALL_BYTES,
            true,
        )?;
        match a.status {
            200 | 204 => Ok(()),
            _ => Err(status_error(a)),
        }
    }

    /// Tells the server this device leaves management (`POST /v1/device/retire`): its token
    /// stops working and the console shows it as retired.
    pub fn retire(&self) -> Result<(), ClientError> {
        let a = self.request(
            "POST",
            "/v1/device/retire",
            None,
            // An empty body: a POST without one would go out as a GET (`attempt`).
            Some(b""),
            MAX_SMALL_BYTES,
            true,
        )?;
        match a.status {
            200 | 204 => Ok(()),
            _ => Err(status_error(a)),
        }
    }

    pub fn commands(&self) -> Result<CommandList, ClientError> {
        parse(
            &self.get_bytes("/v1/device/commands", MAX_SMALL_BYTES)?,
            "command list",
        )
    }

    /// Uploads a backup archive. The payload checksum is the idempotency key, so a retried
    /// upload (or an unchanged address book) never creates a second backup; `true` when the
    /// server stored a new one.
    pub fn upload_backup(
        &self,
        archive: &[u8],
        payload_sha256: &str,
        contact_count: u64,
    ) -> Result<(BackupInfo, bool), ClientError> {
        let headers = [
            ("Content-Type", "application/zip".to_owned()),
            ("Idempotency-Key", payload_sha256.to_owned()),
            ("X-Contact-Count", contact_count.to_string()),
        ];
        let a = self.request_with(
            "POST",
            "/v1/device/backups",
            &headers,
            Some(archive),
            MAX_SMALL_BYTES,
            true,
        )?;
        match a.status {
            201 => Ok((parse(&a.body, "backup record")?, true)),
            200 => Ok((parse(&a.body, "backup record")?, false)),
            _ => Err(status_error(a)),
        }
    }

    /// This device's backups, newest first.
    pub fn list_backups(&self) -> Result<Vec<BackupInfo>, ClientError> {
        parse(
            &self.get_bytes("/v1/device/backups", MAX_SMALL_BYTES)?,
            "backup list",
        )
    }

    pub fn download_backup(&self, id: &str) -> Result<Vec<u8>, ClientError> {
        self.get_bytes(
            &format!("/v1/device/backups/{}", url_encode(id)),
            MAX_BACKUP_BYTES,
        )
    }

    /// A GET that must answer 200: its body, or the server's error.
    fn get_bytes(&self, path: &str, limit: u64) -> Result<Vec<u8>, ClientError> {
        let a = self.request("GET", path, None, None, limit, true)?;
        match a.status {
            200 => Ok(a.body),
            _ => Err(status_error(a)),
        }
    }

    /// One logical request with retries. `idempotent` requests are also retried after a
    /// transport failure; others only when the server said it did not take them (429/503).
    fn request(
        &self,
        method: &str,
        path: &str,
        if_none_match: Option<&str>,
        body: Option<&[u8]>,
        limit: u64,
        idempotent: bool,
    ) -> Result<Answer, ClientError> {
        let mut headers = Vec::new();
        if let Some(tag) = if_none_match {
            headers.push(("If-None-Match", tag.to_owned()));
        }
        if body.is_some() {
            headers.push(("Content-Type", "application/json".to_owned()));
        }
        self.request_with(method, path, &headers, body, limit, idempotent)
    }

    fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        limit: u64,
        idempotent: bool,
    ) -> Result<Answer, ClientError> {
        let mut attempt = 1;
        loop {
            self.interrupt
                .check()
                .map_err(|_| ClientError::Interrupted)?;
            let result = self.attempt(method, path, headers, body, limit);
            let retry_after = match &result {
                Ok(a) if a.status == 429 || a.status >= 500 => {
                    let server_refused = a.status == 429 || a.status == 503;
                    if !idempotent && !server_refused {
                        return result;
                    }
                    a.retry_after
                }
                Err(e) if idempotent && e.is_transient() => None,
                _ => return result,
            };
            if attempt >= self.opts.max_attempts {
                return result;
            }
            let backoff = self.opts.retry_base * 2u32.saturating_pow(attempt - 1);
            let wait = retry_after.unwrap_or(backoff);
            if wait > self.opts.max_retry_wait {
                return result;
            }
            log::debug!(
                "{method} {} failed (attempt {attempt}); retrying in {wait:?}",
                path_only(path)
            );
            self.interrupt
                .sleep(wait)
                .map_err(|_| ClientError::Interrupted)?;
            attempt += 1;
        }
    }

    fn attempt(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        limit: u64,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{}", self.base, path);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        // Every request names the protocol version it is written in.
        let version = PROTOCOL_VERSION.to_string();
        let result = match (method, body) {
            ("POST", Some(b)) => {
                let mut req = self.agent.post(&url).header(PROTOCOL_HEADER, &version);
                if let Some(accept) = self.opts.compression.accept_encoding() {
                    req = req.header("Accept-Encoding", accept);
                }
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                for (k, v) in headers {
                    req = req.header(*k, v);
                }
                req.send(b)
            }
            _ => {
                let mut req = self
                    .agent
                    .get(&url)
                    .header("Accept", "application/json")
                    .header(PROTOCOL_HEADER, &version);
                if let Some(accept) = self.opts.compression.accept_encoding() {
                    req = req.header("Accept-Encoding", accept);
                }
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                for (k, v) in headers {
                    req = req.header(*k, v);
                }
                req.call()
            }
        };
        let mut resp = result.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header("etag");
        // A server that states the versions it speaks and leaves ours out cannot be read
        // safely; one that states none speaks version 1 (the header came with version 1).
        if let Some(range) = header(PROTOCOL_RANGE_HEADER) {
            if !ProtocolRange::parse(&range).is_some_and(|r| r.contains(PROTOCOL_VERSION)) {
                return Err(ClientError::ProtocolUnsupported {
                    server: ProtocolRange::parse(&range)
                        .map_or_else(|| "(unreadable)".to_owned(), |r| r.to_string()),
                });
            }
        }
        let encoding = header("content-encoding");
        let retry_after =
            header("retry-after").and_then(|v| parse_retry_after(&v, chrono::Utc::now()));
        let mut bytes = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ClientError::Transport(format!("the answer was cut off: {e}")))?;
        if bytes.len() as u64 > limit {
            return Err(ClientError::TooLarge {
                what: "answer",
                limit,
            });
        }
        self.bytes_received
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let bytes = decode(encoding.as_deref(), bytes, limit)?;
        if self.token.is_some() {
            match status {
                401 if serde_json::from_slice::<ErrorBody>(&bytes)
                    .is_ok_and(|b| b.error == "device_revoked") =>
                {
                    return Err(ClientError::Revoked)
                }
                401 => return Err(ClientError::Unauthorized),
                403 => return Err(ClientError::Forbidden),
                _ => {}
            }
        }
        Ok(Answer {
            status,
            etag,
            retry_after,
            body: bytes,
        })
    }
}

/// The compressed answers a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zstd, or gzip from a server without it: on contact pages zstd is as small as gzip at a
    /// fifth of the server's CPU (docs/decisions.md, "Compression").
    Zstd,
    /// gzip only.
    Gzip,
    /// Plain answers.
    Off,
}

impl Compression {
    fn accept_encoding(self) -> Option<&'static str> {
        match self {
            Compression::Zstd => Some("zstd, gzip"),
            Compression::Gzip => Some("gzip"),
            Compression::Off => None,
        }
    }
}

/// The body as sent, whatever its `Content-Encoding`; the limit applies to the decoded bytes
/// too, so a small gzip or zstd bomb is as `TooLarge` as a large page (and the sync asks for
/// fewer).
fn decode(encoding: Option<&str>, body: Vec<u8>, limit: u64) -> Result<Vec<u8>, ClientError> {
    let corrupt = |what: &'static str, detail: String| ClientError::Malformed {
        what,
        detail: format!("truncated or corrupt ({detail})"),
    };
    let coding = match encoding.map(str::trim) {
        None | Some("") => return Ok(body),
        Some(e) if e.eq_ignore_ascii_case("identity") => return Ok(body),
        Some(e) => e,
    };
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit as usize));
    match coding {
        e if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => {
            // Multi: a gzip body may be several members back to back (RFC 1952).
            flate2::read::MultiGzDecoder::new(&body[..])
                .take(limit + 1)
                .read_to_end(&mut out)
                .map_err(|e| corrupt("gzip answer", format!("{}", e.kind())))?;
        }
        e if e.eq_ignore_ascii_case("zstd") => {
            // Frame after frame until the body ends (RFC 8878 allows several).
            let mut rest = &body[..];
            while !rest.is_empty() && out.len() as u64 <= limit {
                let frame = ruzstd::decoding::StreamingDecoder::new(&mut rest)
                    .map_err(|e| corrupt("zstd answer", e.to_string()))?;
                let room = (limit + 1).saturating_sub(out.len() as u64);
                frame
                    .take(room)
                    .read_to_end(&mut out)
                    .map_err(|e| corrupt("zstd answer", format!("{}", e.kind())))?;
            }
        }
        // Never echoed: the header is the server's text.
        _ => {
            return Err(ClientError::Malformed {
                what: "answer",
                detail: "its Content-Encoding is not one the agent asked for (zstd, gzip or none)"
                    .into(),
            })
        }
    }
    if out.len() as u64 > limit {
        return Err(ClientError::TooLarge {
            what: "decompressed answer",
            limit,
        });
    }
    Ok(out)
}

/// Checks a photo batch answer against what was asked and adds it to `got` / `missing`; the
/// number of hashes it answered. Nothing of a bad answer is kept.
fn check_photo_batch(
    ask: &[String],
    batch: PhotoBatch,
    got: &mut HashMap<String, Vec<u8>>,
    missing: &mut HashSet<String>,
) -> Result<usize, ClientError> {
    let bad = |detail: &str| ClientError::Malformed {
        what: "photo batch",
        detail: detail.to_owned(),
    };
    let mut named = HashSet::new();
    let mut photos = Vec::with_capacity(batch.photos.len());
    for p in batch.photos {
        if !ask.contains(&p.hash) {
            return Err(bad("it carries a photo that was not asked for"));
        }
        if !named.insert(p.hash.clone()) {
            return Err(bad("it names the same hash twice"));
        }
        let bytes = BASE64
            .decode(p.data.as_bytes())
            .map_err(|_| bad("a photo is not valid base64"))?;
        if sha256_hex(&bytes) != p.hash {
            return Err(bad("a photo's bytes do not match its hash"));
        }
        photos.push((p.hash, bytes));
    }
    for h in &batch.missing {
        if !ask.contains(h) {
            return Err(bad("it names a missing photo that was not asked for"));
        }
        if !named.insert(h.clone()) {
            return Err(bad("it names the same hash twice"));
        }
    }
    got.extend(photos);
    missing.extend(batch.missing);
    Ok(named.len())
}

/// A JSON request body (our own types: failing to serialise one is a bug, reported as such).
fn request_body<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ClientError> {
    serde_json::to_vec(value).map_err(|e| ClientError::Malformed {
        what: "request",
        detail: e.to_string(),
    })
}

fn path_only(p: &str) -> &str {
    p.split('?').next().unwrap_or(p)
}

fn transport_error(e: ureq::Error) -> ClientError {
    match e {
        ureq::Error::Timeout(t) => ClientError::Timeout(t.to_string()),
        ureq::Error::RequireHttpsOnly(_) | ureq::Error::TlsRequired => ClientError::InsecureUrl,
        ureq::Error::Rustls(r) => ClientError::Transport(
            crate::tls::describe_certificate_error(&r).unwrap_or_else(|| r.to_string()),
        ),
        // A handshake failure arrives wrapped in the I/O error of the TLS stream.
        ureq::Error::Io(io) => {
            match io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .and_then(crate::tls::describe_certificate_error)
            {
                Some(why) => ClientError::Transport(why),
                None => ClientError::Transport(format!("io: {io}")),
            }
        }
        other => ClientError::Transport(other.to_string()),
    }
}

fn parse<T: DeserializeOwned>(body: &[u8], what: &'static str) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Malformed {
        what,
        detail: redacted_json_error(&e),
    })
}

fn status_error(a: Answer) -> ClientError {
    let message = serde_json::from_slice::<ErrorBody>(&a.body)
        .map(|b| b.message)
        .unwrap_or_else(|_| "no error details".into());
    ClientError::Status {
        status: a.status,
        message: message.chars().take(300).collect(),
        retry_after: a.retry_after,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn zstd(body: &[u8]) -> Vec<u8> {
        zstd::bulk::compress(body, 1).unwrap()
    }

    #[test]
    fn zstd_answers_decode_frame_after_frame() {
        let mut two = zstd(b"{\"a\":");
        two.extend(zstd(b"1}"));
        assert_eq!(decode(Some("zstd"), two, 100).unwrap(), b"{\"a\":1}");
        assert_eq!(decode(Some(" ZSTD "), zstd(b"[]"), 100).unwrap(), b"[]");
    }

    #[test]
    fn a_zstd_bomb_stops_at_the_cap() {
        // 8 MB of spaces, a few hundred bytes on the wire.
        let bomb = zstd(&vec![b' '; 8 << 20]);
        assert!(bomb.len() < 4096, "{}", bomb.len());
        let err = decode(Some("zstd"), bomb, 1 << 20).unwrap_err();
        assert!(
            matches!(err, ClientError::TooLarge { limit, .. } if limit == 1 << 20),
            "{err:?}"
        );
    }

    #[test]
    fn a_truncated_zstd_answer_is_malformed() {
        let whole = zstd(&b"{\"upserts\":[]} ".repeat(200));
        for cut in [1, 4, 8, whole.len() / 2, whole.len() - 1] {
            let err = decode(Some("zstd"), whole[..cut].to_vec(), 1 << 20).unwrap_err();
            assert!(
                err.to_string().contains("truncated or corrupt"),
                "cut at {cut}: {err}"
            );
        }
    }

    proptest! {
        // Whatever a server sends as zstd (noise, or a real frame with bytes flipped or cut),
        // the decoder answers bytes within the cap or a typed error; it never panics.
        #[test]
        fn any_zstd_body_is_bytes_within_the_cap_or_an_error(
            noise in proptest::collection::vec(any::<u8>(), 0..512),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            cut in any::<usize>(),
        ) {
            let limit = 4096u64;
            let check = |body: Vec<u8>| -> Result<(), TestCaseError> {
                match decode(Some("zstd"), body, limit) {
                    Ok(out) => prop_assert!(out.len() as u64 <= limit),
                    Err(ClientError::Malformed { .. } | ClientError::TooLarge { .. }) => {}
                    Err(e) => prop_assert!(false, "unexpected error {e:?}"),
                }
                Ok(())
            };
            check(noise)?;
            let mut frame = zstd(&b"{\"id\":\"x\",\"hash\":\"y\"}\n".repeat(300));
            for (at, byte) in &flips {
                let i = at % frame.len();
                frame[i] ^= byte | 1;
            }
            let keep = cut % (frame.len() + 1);
            frame.truncate(keep);
            check(frame)?;
        }
    }

    #[test]
    fn plain_http_is_refused_beyond_loopback() {
        assert!(matches!(
            check_url("http://mdm.example.com"),
            Err(ClientError::InsecureUrl)
        ));
        assert!(matches!(
            check_url("http://10.0.0.5:8080/"),
            Err(ClientError::InsecureUrl)
        ));
        assert!(matches!(
            check_url("http://127.0.0.2.example.com"),
            Err(ClientError::InsecureUrl)
        ));
        assert_eq!(
            check_url("http://127.0.0.1:8080/").ok().as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert!(check_url("http://localhost:1").is_ok());
        assert!(check_url("http://[::1]:9000").is_ok());
        assert!(check_url("https://mdm.example.com").is_ok());
        assert!(matches!(
            check_url("ftp://x"),
            Err(ClientError::InvalidUrl(_))
        ));
        assert!(matches!(
            check_url("https://user:pw@x"),
            Err(ClientError::InvalidUrl(_))
        ));
        assert!(matches!(
            check_url("mdm.example.com"),
            Err(ClientError::InvalidUrl(_))
        ));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
