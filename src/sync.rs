//! One business-contacts sync: fetch the server's delta (or full set) page by page, diff each
//! page against the store's managed index, apply the result in atomic batches.
//!
//! The store is the truth: the sync token is used only when the store still holds exactly
//! what the last successful sync left (same fingerprint, nothing edited by the user);
//! otherwise the full set is fetched and diffed. So a sync cut off after any batch converges
//! on the next run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use contacts_agent_protocol::hash::set_fingerprint;
use contacts_agent_protocol::wire::Upsert;

use crate::client::{Client, ClientError};
use crate::diff::{split_duplicates, Action, Differ};
use crate::error::Error;
use crate::groups;
use crate::interrupt::Scope;
use crate::state::{Counts, SyncState};
use crate::store::{
    pack_batches, ContactStore, ContactWrite, EntryState, IndexEntry, PhotoWrite, StoreOp,
    MAX_BATCH_OPS,
};

/// The server's side of a sync, so the engine can be driven by the HTTP client or a test.
pub trait ContactSource {
    fn page(
        &self,
        since: Option<&str>,
        limit: usize,
    ) -> Result<contacts_agent_protocol::wire::ContactsPage, ClientError>;
    fn photo(&self, hash: &str) -> Result<Vec<u8>, ClientError>;
    /// The photos with these hashes; one absent from the result is not available now (the
    /// contact is saved without it and the next sync tries again). A transient failure is an
    /// error. By default one `photo` call each.
    fn photos(&self, hashes: &[String]) -> Result<HashMap<String, Vec<u8>>, ClientError> {
        photos_each(hashes, HashMap::new(), |h| self.photo(h))
    }
}

/// Fetches the photos `got` lacks one request each: a photo that is not available is left
/// out (the next sync tries again), a transient failure stops with the error.
pub fn photos_each(
    hashes: &[String],
    mut got: HashMap<String, Vec<u8>>,
    fetch: impl Fn(&str) -> Result<Vec<u8>, ClientError>,
) -> Result<HashMap<String, Vec<u8>>, ClientError> {
    for h in hashes {
        if got.contains_key(h) {
            continue;
        }
        match fetch(h) {
            Ok(bytes) => {
                got.insert(h.clone(), bytes);
            }
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => log::warn!("a photo is not available: {e}"),
        }
    }
    Ok(got)
}

impl ContactSource for Client {
    fn page(
        &self,
        since: Option<&str>,
        limit: usize,
    ) -> Result<contacts_agent_protocol::wire::ContactsPage, ClientError> {
        self.contacts_page(since, limit)
    }
    fn photo(&self, hash: &str) -> Result<Vec<u8>, ClientError> {
        Client::photo(self, hash)
    }
    fn photos(&self, hashes: &[String]) -> Result<HashMap<String, Vec<u8>>, ClientError> {
        Client::photos(self, hashes)
    }
}

/// Where one sync's wall time went, phase by phase (the sync bench prints it). `fetch` is the
/// server's answer as the client waits for it (request, the server's work, transfer, gzip,
/// JSON parse); `plan` the diff and the operations it yields (photos fetched included);
/// `write` the store's batches (row building and, on the host, SQLite).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    pub index: Duration,
    pub fetch: Duration,
    /// The part of `fetch` spent parsing pages on this side (filled in by the agent from
    /// its HTTP client; zero for other sources).
    pub parse: Duration,
    pub plan: Duration,
    pub write: Duration,
}

/// Adds the time `f` takes to `slot`.
fn timed<T>(slot: &mut Duration, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    *slot += t.elapsed();
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub sync_token: String,
    /// The policy version the server resolved the set with, when it says.
    pub policy_version: Option<u64>,
    pub store_fingerprint: String,
    pub managed_count: u64,
    /// Photos the store did not take (its SYNC2 does not name them after the sync).
    pub photos_pending: u64,
    pub phases: Phases,
}

/// The store's managed index as the engine last left it: every raw contact of our account,
/// tombstones and duplicates included, so any change shows.
pub fn fingerprint(index: &[IndexEntry]) -> String {
    set_fingerprint(index.iter().map(|e| (e.id.as_str(), e.hash.as_str())))
}

/// What the phone really holds, in the server's terms (`set_fingerprint` of id and hash):
/// equal to the server's fingerprint of the device's set only when every contact is there,
/// once, unedited. Tombstones are left out; an edited contact counts with an empty hash.
/// Returns the number of contacts held and the fingerprint (the status report's fields).
pub fn held_fingerprint(index: &[IndexEntry]) -> (u64, String) {
    let held: Vec<(&str, &str)> = index
        .iter()
        .filter(|e| e.state != EntryState::Deleted)
        .map(|e| {
            let hash = if e.state == EntryState::Clean {
                e.hash.as_str()
            } else {
                ""
            };
            (e.id.as_str(), hash)
        })
        .collect();
    (held.len() as u64, set_fingerprint(held.iter().copied()))
}

/// A full fetch may have to start over once if the server drops the snapshot mid-way.
const MAX_RESTARTS: u32 = 2;

/// What one sync run needs besides the source and the store.
pub struct Run<'a> {
    /// The sync state after the last successful sync.
    pub prior: &'a SyncState,
    pub page_size: usize,
    pub interrupt: &'a Scope,
    /// Called with the first page's policy version before anything is written, so the caller
    /// can fetch and check a new policy first; an error stops the sync untouched.
    pub before_apply: &'a mut dyn FnMut(Option<u64>) -> Result<(), Error>,
    /// Called after each page is applied with the contacts received so far.
    pub progress: &'a dyn Fn(u64),
}

pub fn sync<S: ContactStore + ?Sized>(
    source: &dyn ContactSource,
    store: &mut S,
    run: &mut Run,
    counts: &mut Counts,
) -> Result<SyncOutcome, Error> {
    let mut restarts = 0;
    let mut allow_delta = true;
    loop {
        match sync_once(source, store, run, counts, allow_delta) {
            Err(Error::Server(ClientError::TokenExpired)) if restarts < MAX_RESTARTS => {
                log::info!("sync token no longer known to the server; fetching the full set");
                restarts += 1;
                allow_delta = false;
            }
            other => return other,
        }
    }
}

fn sync_once<S: ContactStore + ?Sized>(
    source: &dyn ContactSource,
    store: &mut S,
    run: &mut Run,
    counts: &mut Counts,
    allow_delta: bool,
) -> Result<SyncOutcome, Error> {
    let applied = &mut false;
    let interrupt = run.interrupt;
    let mut phases = Phases::default();
    let index = timed(&mut phases.index, || store.managed_index())?;
    let store_fp = fingerprint(&index);
    let (index, extra) = split_duplicates(index);
    if !extra.is_empty() {
        // Before anything else, so every later write names exactly one raw contact.
        log::warn!(
            "{} duplicate raw contacts of our account found; keeping one per id",
            extra.len()
        );
        counts.duplicates_removed += extra.len() as u64;
        *applied = true;
        apply(
            store,
            extra
                .into_iter()
                .map(|raw_id| StoreOp::DeleteRaw { raw_id })
                .collect(),
            interrupt,
        )?;
    }
    // Our account's contact groups. If someone else deleted or edited one, the full set is
    // fetched (its contacts name every group) and the members of a deleted one are written
    // again: the provider dropped their membership rows without marking them DIRTY.
    let mut phone_groups = store.managed_groups()?;
    let lost = groups::lost_memberships(&phone_groups);
    let groups_touched = groups::touched_by_others(&phone_groups);
    let mut differ = Differ::new(index);
    let prior = run.prior;
    let since = match &prior.sync_token {
        Some(t)
            if allow_delta
                && !*applied
                && prior.photos_pending == 0
                && prior.store_fingerprint.as_deref() == Some(store_fp.as_str())
                && !differ.store_has_local_changes()
                && !groups_touched =>
        {
            Some(t.clone())
        }
        _ => None,
    };
    counts.full_fetch = since.is_none();
    log::info!(
        "sync: {} fetch, {} managed contacts on the phone",
        if since.is_some() { "delta" } else { "full" },
        differ.managed_count()
    );
    let mut cursor = since;
    let mut full = cursor.is_none();
    let mut first = true;
    // Photo hashes this sync asked the store to write, to check after it.
    let mut photos: HashMap<String, String> = HashMap::new();
    let mut page_size = run.page_size.max(1);
    let mut received = 0u64;
    let (sync_token, policy_version) = loop {
        interrupt.check()?;
        let mut page = match timed(&mut phases.fetch, || {
            source.page(cursor.as_deref(), page_size)
        }) {
            // Some contacts are large (long notes, many numbers): ask again for fewer per
            // page rather than fail on every run. The cursor carries the offset, not the size.
            Err(ClientError::TooLarge { .. }) if page_size > 1 => {
                page_size = (page_size / 4).max(1);
                log::warn!("a contacts page was too large; asking for {page_size} per page");
                continue;
            }
            other => other?,
        };
        if first {
            (run.before_apply)(page.policy_version)?;
            // The server may answer a delta request with the full set.
            full = full || page.full;
            counts.full_fetch = full;
            first = false;
        }
        let page_contacts = (page.upserts.len() + page.deletes.len()) as u64;
        let planning = Instant::now();
        // The groups this page's contacts are in exist, titled, before the contacts are
        // written (a membership names its group by SOURCE_ID).
        let mut wanted = BTreeMap::new();
        for up in &mut page.upserts {
            groups::take(&mut wanted, &mut up.contact.groups);
        }
        let mut ops = groups::prepare(&phone_groups, &wanted);
        let group_ops = !ops.is_empty();
        for id in &page.deletes {
            match differ.delete(id)? {
                Some(_) => {
                    counts.deleted += 1;
                    ops.push(StoreOp::Delete { id: id.clone() });
                }
                None => counts.ignored += 1,
            }
        }
        // Photos the page's writes need, fetched together once the page is planned.
        let mut wants: Vec<(usize, String)> = Vec::new();
        for up in page.upserts {
            plan_upsert(&mut differ, up, &lost, &mut ops, &mut wants, counts)?;
        }
        fill_photos(source, &mut ops, wants)?;
        for op in &ops {
            if let StoreOp::Insert(w) | StoreOp::Update(w) = op {
                if let PhotoWrite::Set { hash, .. } = &w.photo {
                    photos.insert(w.id.clone(), hash.clone());
                }
            }
        }
        phases.plan += planning.elapsed();
        *applied |= !ops.is_empty();
        timed(&mut phases.write, || apply(store, ops, interrupt))?;
        received += page_contacts;
        (run.progress)(received);
        if group_ops {
            phone_groups = store.managed_groups()?;
        }
        if !page.more {
            break (page.next_token, page.policy_version);
        }
        cursor = Some(page.next_token);
    };
    if full {
        let gone = differ.unseen();
        counts.deleted += gone.len() as u64;
        *applied |= !gone.is_empty();
        timed(&mut phases.write, || {
            apply(
                store,
                gone.into_iter().map(|id| StoreOp::Delete { id }).collect(),
                interrupt,
            )
        })?;
    }
    // Groups no managed contact is in any more (deleted on the server, or their last member
    // left), and tombstones, go once the contacts are written.
    if *applied {
        phone_groups = store.managed_groups()?;
    }
    let leftover = groups::cleanup(&phone_groups);
    if !leftover.is_empty() {
        log::info!("sync: {} contact groups removed", leftover.len());
        apply(store, leftover, interrupt)?;
    }
    if !*applied {
        // Nothing written: the index read at the start is still the truth.
        return Ok(SyncOutcome {
            sync_token,
            policy_version,
            store_fingerprint: store_fp,
            managed_count: differ.managed_count() as u64,
            photos_pending: 0,
            phases,
        });
    }
    let after = timed(&mut phases.index, || store.managed_index())?;
    let photos_pending = after
        .iter()
        .filter(|e| {
            photos
                .get(&e.id)
                .is_some_and(|h| e.photo_hash.as_ref() != Some(h))
        })
        .count() as u64;
    if photos_pending > 0 {
        log::warn!(
            "{photos_pending} photos were not taken by the store; the next sync retries them"
        );
    }
    counts.photos_failed = photos_pending;
    Ok(SyncOutcome {
        sync_token,
        policy_version,
        store_fingerprint: fingerprint(&after),
        managed_count: after.len() as u64,
        photos_pending,
        phases,
    })
}

/// Plans one upsert. A photo to fetch is left as `Keep` and named in `wants` with the index
/// of its write in `ops`, for `fill_photos`.
fn plan_upsert(
    differ: &mut Differ,
    up: Upsert,
    lost: &BTreeSet<String>,
    ops: &mut Vec<StoreOp>,
    wants: &mut Vec<(usize, String)>,
    counts: &mut Counts,
) -> Result<(), Error> {
    if up.id.is_empty() || up.hash.is_empty() {
        return Err(Error::Protocol(
            "a contact arrived without an id or hash".into(),
        ));
    }
    let wanted_photo = up.contact.photo.as_ref().map(|p| p.hash.clone());
    let action = match differ.upsert(&up.id, &up.hash)? {
        Some(action) => action,
        // Same content, but the store's SYNC2 does not name the photo the contact has: a
        // photo write that failed (or never ran) is done again.
        None if differ.photo_hash(&up.id) != wanted_photo.as_deref() => Action::Update,
        // Same content, but a group it is in was deleted on the phone with its memberships.
        None if up.contact.groups.iter().any(|g| lost.contains(&g.id)) => Action::Update,
        None => {
            counts.unchanged += 1;
            return Ok(());
        }
    };
    let current_photo = match action {
        Action::Update => differ.photo_hash(&up.id).map(str::to_owned),
        _ => None,
    };
    let mut fetch = None;
    let photo = match (wanted_photo, current_photo) {
        (None, None) => PhotoWrite::Keep,
        (None, Some(_)) => PhotoWrite::Clear,
        (Some(w), Some(c)) if w == c => PhotoWrite::Keep,
        (Some(w), _) => {
            fetch = Some(w);
            PhotoWrite::Keep
        }
    };
    let write = ContactWrite {
        id: up.id,
        hash: up.hash,
        data: up.contact,
        photo,
    };
    match action {
        Action::Insert => {
            counts.inserted += 1;
            ops.push(StoreOp::Insert(write));
        }
        Action::Update => {
            counts.updated += 1;
            ops.push(StoreOp::Update(write));
        }
        Action::Reinsert => {
            counts.inserted += 1;
            ops.push(StoreOp::Delete {
                id: write.id.clone(),
            });
            ops.push(StoreOp::Insert(write));
        }
        Action::Delete => return Ok(()),
    }
    if let Some(w) = fetch {
        wants.push((ops.len() - 1, w));
    }
    Ok(())
}

/// Fetches the photos `wants` names (as few requests as the source allows) and puts them in
/// their writes. A photo not available is left out and its contact saved with an empty hash,
/// so the next sync sees it as changed and tries the photo again. A transient failure or a
/// bad answer fails the page before any of it is written.
fn fill_photos(
    source: &dyn ContactSource,
    ops: &mut [StoreOp],
    wants: Vec<(usize, String)>,
) -> Result<(), Error> {
    if wants.is_empty() {
        return Ok(());
    }
    let hashes: Vec<String> = wants.iter().map(|(_, h)| h.clone()).collect();
    let got = source.photos(&hashes)?;
    for (i, h) in wants {
        if let Some(StoreOp::Insert(w) | StoreOp::Update(w)) = ops.get_mut(i) {
            match got.get(&h) {
                Some(bytes) => {
                    w.photo = PhotoWrite::Set {
                        hash: h,
                        bytes: bytes.clone(),
                    }
                }
                None => {
                    log::warn!("photo of contact #{} not available", w.id);
                    w.hash = String::new();
                }
            }
        }
    }
    Ok(())
}

fn apply<S: ContactStore + ?Sized>(
    store: &mut S,
    ops: Vec<StoreOp>,
    interrupt: &Scope,
) -> Result<(), Error> {
    for batch in pack_batches(ops, MAX_BATCH_OPS) {
        interrupt.check()?;
        store.apply_batch(&batch)?;
    }
    Ok(())
}
