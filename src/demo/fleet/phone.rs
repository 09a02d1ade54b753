//! One simulated phone of the fleet: the requests `Agent::run_due` makes when a sync is due
//! (commands, policy with its ETag, the contact pages from the sync token, the status
//! report), with the agent's own HTTP `Client`, a fresh one per run as the agent does.
//!
//! What it does not carry is the phone's contacts store: a thousand SQLite phones of 10,000
//! contacts would cost the generator more than the server it measures. It keeps what it
//! holds as an `(id, hash)` index instead, shared between phones holding the same set
//! (`Held`), and reports that index's fingerprint as the agent does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use contacts_agent_protocol::hash::set_fingerprint;
use contacts_agent_protocol::wire::{StatusReport, SyncReason};
use contacts_agent_protocol::Policy;

use crate::client::{Client, ClientError, ClientOptions, PolicyFetch};

/// A set of `(id, hash)` a phone holds, with its fingerprint.
#[derive(Debug, Default)]
pub struct Held {
    entries: BTreeMap<String, String>,
    fingerprint: String,
}

impl Held {
    fn new(entries: BTreeMap<String, String>) -> Held {
        let fingerprint = set_fingerprint(entries.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        Held {
            entries,
            fingerprint,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Phones holding the same set share one copy of it (at 1,000 phones × 10,000 contacts the
/// copies would be gigabytes of the generator's memory, not the server's).
#[derive(Default)]
pub struct Interner {
    sets: Mutex<HashMap<String, Weak<Held>>>,
}

impl Interner {
    fn intern(&self, held: Held) -> Arc<Held> {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(shared) = sets.get(&held.fingerprint).and_then(Weak::upgrade) {
            return shared;
        }
        sets.retain(|_, w| w.strong_count() > 0);
        let shared = Arc::new(held);
        sets.insert(shared.fingerprint.clone(), Arc::downgrade(&shared));
        shared
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    #[error("{step}: {source}")]
    Client {
        step: &'static str,
        source: ClientError,
    },
    #[error("the server sent a contact without an id or hash")]
    Malformed,
}

fn at(step: &'static str) -> impl FnOnce(ClientError) -> PhoneError {
    move |source| PhoneError::Client { step, source }
}

/// What one run did, as the generator counts it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunStats {
    pub latency: Duration,
    /// Contact pages fetched (the server answers a no-change sync in one).
    pub pages: u32,
    pub upserts: u64,
    pub deletes: u64,
    /// The server answered with the full set.
    pub full: bool,
    /// The server answered with the same token and nothing in it.
    pub unchanged: bool,
    /// Body bytes received, decompressed (the client's count).
    pub bytes: u64,
}

pub struct Phone {
    pub name: String,
    pub device_id: String,
    token: String,
    sync_token: Option<String>,
    policy: Option<Policy>,
    etag: Option<String>,
    held: Arc<Held>,
}

/// A full fetch that loses its snapshot midway starts over, as `sync::sync` does.
const MAX_RESTARTS: u32 = 2;

impl Phone {
    /// Enrolls with a one-time code, as `Agent::enroll` does.
    pub fn enroll(url: &str, code: &str, name: &str) -> Result<Phone, PhoneError> {
        let client = Client::new(url, None, ClientOptions::default()).map_err(at("enroll"))?;
        let answer = client.enroll(code, name).map_err(at("enroll"))?;
        Ok(Phone {
            name: name.to_owned(),
            device_id: answer.device_id,
            token: answer.token,
            sync_token: None,
            policy: None,
            etag: None,
            held: Arc::new(Held::new(BTreeMap::new())),
        })
    }

    pub fn held(&self) -> &Held {
        &self.held
    }

    /// One `run_due` with a sync due: commands, policy, contacts, status report.
    pub fn run_due(
        &mut self,
        url: &str,
        page_size: usize,
        sets: &Interner,
    ) -> Result<RunStats, PhoneError> {
        let started = Instant::now();
        let client = Client::new(url, Some(self.token.clone()), ClientOptions::default())
            .map_err(at("client"))?;
        let commands: Vec<String> = client
            .commands()
            .map_err(at("commands"))?
            .commands
            .into_iter()
            .map(|c| c.id)
            .collect();
        let etag = self.etag.as_deref().filter(|_| self.policy.is_some());
        if let PolicyFetch::Fresh { policy, etag } = client.policy(etag).map_err(at("policy"))? {
            self.policy = Some(policy);
            self.etag = etag;
        }
        let mut stats = RunStats::default();
        let mut allow_delta = true;
        let mut restarts = 0;
        loop {
            match self.fetch(&client, page_size, allow_delta, sets, &mut stats) {
                Err(PhoneError::Client {
                    source: ClientError::TokenExpired,
                    ..
                }) if restarts < MAX_RESTARTS => {
                    restarts += 1;
                    allow_delta = false;
                }
                other => break other?,
            }
        }
        let report = self.status_report(&commands, started.elapsed());
        let body = serde_json::to_string(&report).unwrap_or_default();
        client.report_status(&body).map_err(at("status"))?;
        stats.bytes = client.take_bytes_received();
        stats.latency = started.elapsed();
        Ok(stats)
    }

    /// The contact pages from the sync token (or the full set), applied to the held index.
    fn fetch(
        &mut self,
        client: &Client,
        page_size: usize,
        allow_delta: bool,
        sets: &Interner,
        stats: &mut RunStats,
    ) -> Result<(), PhoneError> {
        let mut cursor = self.sync_token.clone().filter(|_| allow_delta);
        let mut next: Option<BTreeMap<String, String>> = None;
        let mut full = cursor.is_none();
        let mut first = true;
        let token = loop {
            let page = client
                .contacts_page(cursor.as_deref(), page_size)
                .map_err(at("contacts"))?;
            stats.pages += 1;
            if first {
                full = full || page.full;
                first = false;
            }
            stats.upserts += page.upserts.len() as u64;
            stats.deletes += page.deletes.len() as u64;
            if !page.upserts.is_empty() || !page.deletes.is_empty() || full {
                let entries = next.get_or_insert_with(|| {
                    if full {
                        BTreeMap::new()
                    } else {
                        self.held.entries.clone()
                    }
                });
                let mut photos = Vec::new();
                for up in page.upserts {
                    if up.id.is_empty() || up.hash.is_empty() {
                        return Err(PhoneError::Malformed);
                    }
                    // A phone fetches the photo of a contact it did not hold before; the
                    // index keeps no photo hashes, so a changed photo is not fetched again.
                    if let Some(p) = &up.contact.photo {
                        if !self.held.entries.contains_key(&up.id) {
                            photos.push(p.hash.clone());
                        }
                    }
                    entries.insert(up.id, up.hash);
                }
                for id in page.deletes {
                    entries.remove(&id);
                }
                if !photos.is_empty() {
                    client.photos(&photos).map_err(at("photos"))?;
                }
            }
            if !page.more {
                break page.next_token;
            }
            cursor = Some(page.next_token);
        };
        stats.full = full;
        stats.unchanged = !full
            && next.is_none()
            && stats.pages == 1
            && self.sync_token.as_deref() == Some(token.as_str());
        if let Some(entries) = next {
            self.held = sets.intern(Held::new(entries));
        }
        self.sync_token = Some(token);
        Ok(())
    }

    /// The report `Agent::status_report` sends after a sync, from what this phone holds.
    fn status_report(&self, completed: &[String], took: Duration) -> StatusReport {
        let now = Utc::now();
        let ts = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        StatusReport {
            reported_at: ts(now),
            policy_version: self.policy.as_ref().map(|p| p.version),
            sync_type: self.policy.as_ref().map(|p| p.basic_type),
            sync_interval: self.policy.as_ref().map(|p| p.sync_interval),
            last_sync_at: Some(ts(now)),
            last_sync_result: Some("ok".into()),
            // Every run of the fleet is one the schedule made due, or the console forced.
            last_sync_reason: Some(if completed.is_empty() {
                SyncReason::Scheduled
            } else {
                SyncReason::Forced
            }),
            last_sync_duration_ms: Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX)),
            last_successful_sync_at: Some(ts(now)),
            next_sync_at: Some(ts(now + chrono::Duration::days(1))),
            sync_token: self.sync_token.clone(),
            managed_count: self.held.entries.len() as u64,
            managed_fingerprint: self.held.fingerprint.clone(),
            last_backup_at: None,
            last_backup_result: None,
            next_backup_at: None,
            completed_commands: completed.to_vec(),
        }
    }
}
