//! One business-contacts sync: fetch the server's delta (or full set) page by page, diff each
//! page against the store's managed index, apply the result in atomic batches.
//!
//! The store is the truth: the sync token is used only when the store still holds exactly
//! what the last successful sync left (same fingerprint, nothing edited by the user);
//! otherwise the full set is fetched and diffed. So a sync cut off after any batch converges
//! on the next run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

use contacts_agent_protocol::hash::{set_fingerprint, sorted_set_fingerprint};
use contacts_agent_protocol::wire::{ContactsPage, Upsert};

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
/// `Sync`: the next page is fetched on another thread while the current one is written.
pub trait ContactSource: Sync {
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
/// pages' requests on the fetching thread (request, the server's work, transfer,
/// decompression, JSON parse), `fetch_wait` the part of it the sync waited for (the rest
/// overlapped the writes); `plan` the diff and the operations it yields (photos fetched
/// included); `write` the store's batches (row building and, on the host, SQLite). Wall time
/// is about `index + fetch_wait + plan + write` and the bookkeeping around them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    pub index: Duration,
    pub fetch: Duration,
    pub fetch_wait: Duration,
    /// The part of `fetch` spent parsing pages on this side (filled in by the agent from
    /// its HTTP client; zero for other sources).
    pub parse: Duration,
    pub plan: Duration,
    pub write: Duration,
}

/// Fetches contacts pages on a thread of `threads`, one ahead of the sync: `ask` names the
/// next page, `take` waits for it. Dropping it ends the thread once its request is answered.
struct Prefetch {
    asks: SyncSender<(Option<String>, usize)>,
    pages: Receiver<(Result<ContactsPage, ClientError>, Duration)>,
}

impl Prefetch {
    fn start<'scope, 'env: 'scope>(
        threads: &'scope std::thread::Scope<'scope, 'env>,
        source: &'env dyn ContactSource,
    ) -> Self {
        let (asks, asked) = sync_channel::<(Option<String>, usize)>(1);
        let (answer, pages) = sync_channel(1);
        threads.spawn(move || {
            for (cursor, limit) in asked {
                let t = Instant::now();
                let page = source.page(cursor.as_deref(), limit);
                if answer.send((page, t.elapsed())).is_err() {
                    break;
                }
            }
        });
        Prefetch { asks, pages }
    }

    fn ask(&self, cursor: Option<String>, limit: usize) {
        // Fails only when the thread is gone, which `take` reports.
        let _ = self.asks.send((cursor, limit));
    }

    /// The page asked for last; the time its request took is added to `busy`.
    fn take(&self, busy: &mut Duration) -> Result<ContactsPage, ClientError> {
        let (page, took) = self.pages.recv().map_err(|_| {
            ClientError::Transport("the thread fetching contacts pages stopped".into())
        })?;
        *busy += took;
        page
    }
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
    /// The store's managed index as the sync left it (read at its end, or at its start when
    /// it wrote nothing), sorted by `sort_index`: the status report that follows at once
    /// uses it instead of reading the store again (5 ms at 10,000 contacts, 60 ms at 100,000).
    pub index: Vec<IndexEntry>,
}

/// Sorts an index the way its fingerprint reads it (by id, then hash), so `fingerprint`
/// needs no copy of it.
pub fn sort_index(index: &mut [IndexEntry]) {
    index.sort_unstable_by(|a, b| (&a.id, &a.hash).cmp(&(&b.id, &b.hash)));
}

/// The store's managed index as the engine last left it: every raw contact of our account,
/// tombstones and duplicates included, so any change shows. Streams a sorted index
/// (`sort_index`); copies and sorts the pairs of any other.
pub fn fingerprint(index: &[IndexEntry]) -> String {
    let pairs = index.iter().map(|e| (e.id.as_str(), e.hash.as_str()));
    if pairs.clone().is_sorted() {
        sorted_set_fingerprint(pairs)
    } else {
        set_fingerprint(pairs)
    }
}

/// What the phone really holds, in the server's terms (`set_fingerprint` of id and hash):
/// equal to the server's fingerprint of the device's set only when every contact is there,
/// once, unedited. Tombstones are left out; an edited contact counts with an empty hash.
/// Returns the number of contacts held and the fingerprint (the status report's fields).
/// Sorts `index` in place, as `fingerprint` does: at 100,000 contacts a copy of the pairs
/// was 3 MB at the sync's peak (the status report, just after the sync).
pub fn held_fingerprint(index: &mut [IndexEntry]) -> (u64, String) {
    fn held_hash(e: &IndexEntry) -> &str {
        if e.state == EntryState::Clean {
            e.hash.as_str()
        } else {
            ""
        }
    }
    index.sort_unstable_by(|a, b| (a.id.as_str(), held_hash(a)).cmp(&(&b.id, held_hash(b))));
    let held = index.iter().filter(|e| e.state != EntryState::Deleted);
    let fingerprint = sorted_set_fingerprint(held.clone().map(|e| (e.id.as_str(), held_hash(e))));
    (held.count() as u64, fingerprint)
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
    // The next page is fetched (request, the server's work, transfer, parse) on its own thread
    // while this one plans and writes the current page: the store stays on the caller's
    // thread (a JNI store must), and at most one page waits in memory besides the one being
    // written.
    std::thread::scope(|threads| {
        let pages = Prefetch::start(threads, source);
        let mut page_size = run.page_size.max(1);
        // A full fetch whatever the phone holds (no token yet, or the server forgot it): the first
        // page is asked for before the phone's index and groups are read, while the server
        // computes the set (the index alone is 5 ms at 10,000 contacts, 60 ms at 100,000).
        let surely_full = run.prior.sync_token.is_none() || !allow_delta;
        if surely_full {
            pages.ask(None, page_size);
        }
        let mut index = timed(&mut phases.index, || store.managed_index())?;
        sort_index(&mut index);
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
        // No group of ours at the start and nothing but inserts (checked at the end): every group
        // the sync made holds the contacts that named it, so none can be empty.
        let groups_at_start = !phone_groups.is_empty();
        let (updated_before, deleted_before) = (counts.updated, counts.deleted);
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
        let mut received = 0u64;
        if !surely_full {
            pages.ask(cursor.clone(), page_size);
        }
        let (sync_token, policy_version) = loop {
            interrupt.check()?;
            let mut page = match timed(&mut phases.fetch_wait, || pages.take(&mut phases.fetch)) {
                // Some contacts are large (long notes, many numbers): ask again for fewer per
                // page rather than fail on every run. The cursor carries the offset, not the
                // size.
                Err(ClientError::TooLarge { .. }) if page_size > 1 => {
                    page_size = (page_size / 4).max(1);
                    log::warn!("a contacts page was too large; asking for {page_size} per page");
                    pages.ask(cursor.clone(), page_size);
                    continue;
                }
                other => other?,
            };
            if page.more {
                cursor = Some(page.next_token.clone());
                pages.ask(cursor.clone(), page_size);
            }
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
        };
        // Nothing more to fetch: the fetching thread ends.
        drop(pages);
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
        let only_added = !groups_at_start
            && counts.updated == updated_before
            && counts.deleted == deleted_before;
        // The member counts are a pass over every membership row (8 ms at 10,000 contacts): read
        // only when a group may have emptied (a first sync on a new phone needs none).
        if *applied && !only_added {
            phone_groups = store.managed_groups()?;
        }
        let leftover = if only_added {
            Vec::new()
        } else {
            groups::cleanup(&phone_groups)
        };
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
                index: differ.into_index(),
            });
        }
        // The differ (at a first sync, every id the server sent) goes before the index is read
        // again, so the two are never held at once.
        drop(differ);
        let mut after = timed(&mut phases.index, || store.managed_index())?;
        sort_index(&mut after);
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
            index: after,
        })
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    use contacts_agent_protocol::ContactData;

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::StoreError;

    const PER_PAGE: u64 = 3;

    /// A server of `pages` pages of `PER_PAGE` contacts; the cursor is the page number. It
    /// writes down, for each request, the page asked and how many contacts the sync had
    /// applied by then (its progress), and can fail one page once.
    struct Pages {
        pages: u64,
        applied: AtomicU64,
        asked: Mutex<Vec<(u64, u64)>>,
        fail_once: Mutex<Option<(u64, ClientError)>>,
    }

    impl Pages {
        fn new(pages: u64, fail_once: Option<(u64, ClientError)>) -> Self {
            Pages {
                pages,
                applied: AtomicU64::new(0),
                asked: Mutex::new(Vec::new()),
                fail_once: Mutex::new(fail_once),
            }
        }
    }

    impl ContactSource for Pages {
        fn page(&self, since: Option<&str>, _limit: usize) -> Result<ContactsPage, ClientError> {
            // A sync token (not a page number) starts at the first page.
            let n: u64 = since.and_then(|c| c.parse().ok()).unwrap_or(0);
            let applied = self.applied.load(Ordering::SeqCst);
            self.asked.lock().unwrap().push((n, applied));
            let mut fail = self.fail_once.lock().unwrap();
            if fail.as_ref().is_some_and(|(page, _)| *page == n) {
                return Err(fail.take().unwrap().1);
            }
            let upserts = (0..PER_PAGE)
                .map(|i| {
                    let id = format!("c{}", n * PER_PAGE + i);
                    Upsert {
                        hash: format!("h-{id}"),
                        contact: ContactData {
                            display_name: id.clone(),
                            ..ContactData::default()
                        },
                        id,
                    }
                })
                .collect();
            let more = n + 1 < self.pages;
            Ok(ContactsPage {
                upserts,
                deletes: Vec::new(),
                next_token: if more {
                    (n + 1).to_string()
                } else {
                    "done".into()
                },
                more,
                full: true,
                policy_version: Some(1),
            })
        }
        fn photo(&self, _hash: &str) -> Result<Vec<u8>, ClientError> {
            Err(ClientError::Status {
                status: 404,
                message: "no photos here".into(),
                retry_after: None,
            })
        }
    }

    fn run_sync(source: &Pages, store: &mut impl ContactStore) -> Result<SyncOutcome, Error> {
        run_sync_after(source, store, &SyncState::default())
    }

    fn run_sync_after(
        source: &Pages,
        store: &mut impl ContactStore,
        prior: &SyncState,
    ) -> Result<SyncOutcome, Error> {
        let interrupt = Scope::never();
        let mut before = |_: Option<u64>| Ok(());
        let progress = |done: u64| source.applied.store(done, Ordering::SeqCst);
        let mut run = Run {
            prior,
            page_size: PER_PAGE as usize,
            interrupt: &interrupt,
            before_apply: &mut before,
            progress: &progress,
        };
        sync(source, store, &mut run, &mut Counts::default())
    }

    #[test]
    fn pages_are_fetched_in_order_and_never_more_than_one_ahead_of_the_writes() {
        let source = Pages::new(6, None);
        let mut store = SqliteStore::open_in_memory("test.account").unwrap();
        let out = run_sync(&source, &mut store).unwrap();
        assert_eq!(out.managed_count, 6 * PER_PAGE);
        assert_eq!(out.sync_token, "done");
        let asked = source.asked.lock().unwrap().clone();
        assert_eq!(
            asked.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            (0..6).collect::<Vec<_>>()
        );
        for (n, applied) in asked {
            // Page n is asked once page n-1 arrived, while page n-1 may still be written,
            // never before page n-2 is in the store.
            assert!(
                applied + 2 * PER_PAGE >= (n + 1) * PER_PAGE,
                "page {n} asked with only {applied} contacts applied"
            );
        }
    }

    /// The in-memory phone, with a look at the server when the engine reads the index: how
    /// many pages it had been asked for by then, waiting (a bounded while) for `wait_for`.
    struct Watched<'a> {
        store: SqliteStore,
        source: &'a Pages,
        wait_for: usize,
        asked_at_index: Vec<usize>,
    }

    impl ContactStore for Watched<'_> {
        fn managed_index(&mut self) -> Result<Vec<IndexEntry>, StoreError> {
            let asked = || self.source.asked.lock().unwrap().len();
            let until = Instant::now() + std::time::Duration::from_secs(5);
            while asked() < self.wait_for && Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            self.asked_at_index.push(asked());
            self.store.managed_index()
        }
        fn apply_batch(&mut self, ops: &[StoreOp]) -> Result<(), StoreError> {
            self.store.apply_batch(ops)
        }
        fn managed_groups(&mut self) -> Result<Vec<crate::store::PhoneGroup>, StoreError> {
            self.store.managed_groups()
        }
        fn managed_contacts(
            &mut self,
            offset: usize,
            limit: usize,
        ) -> Result<Vec<crate::store::StoredContact>, StoreError> {
            self.store.managed_contacts(offset, limit)
        }
        fn personal_page(
            &mut self,
            after: Option<i64>,
            limit: usize,
        ) -> Result<Vec<crate::store::PersonalContact>, StoreError> {
            self.store.personal_page(after, limit)
        }
        fn check_personal_account(
            &self,
            account: Option<&crate::store::SourceAccount>,
        ) -> Result<(), StoreError> {
            self.store.check_personal_account(account)
        }
        fn personal_accounts(&mut self) -> Result<Vec<crate::store::SourceAccount>, StoreError> {
            self.store.personal_accounts()
        }
        fn insert_personal(
            &mut self,
            account: Option<&crate::store::SourceAccount>,
            contacts: &[crate::store::PersonalData],
        ) -> Result<(), StoreError> {
            self.store.insert_personal(account, contacts)
        }
    }

    #[test]
    fn without_a_token_the_first_page_is_asked_before_the_index_is_read_with_one_after() {
        // No token: a full fetch whatever the phone holds, asked for at once.
        let first = Pages::new(2, None);
        let mut phone = Watched {
            store: SqliteStore::open_in_memory("test.account").unwrap(),
            source: &first,
            wait_for: 1,
            asked_at_index: Vec::new(),
        };
        let out = run_sync(&first, &mut phone).unwrap();
        assert_eq!(out.managed_count, 2 * PER_PAGE);
        assert_eq!(phone.asked_at_index[0], 1, "{:?}", phone.asked_at_index);
        // With the token: the index decides between a delta and a full fetch, so it comes
        // first.
        let second = Pages::new(1, None);
        phone.source = &second;
        phone.wait_for = 0;
        phone.asked_at_index.clear();
        let prior = SyncState {
            sync_token: Some(out.sync_token),
            store_fingerprint: Some(out.store_fingerprint),
            ..SyncState::default()
        };
        run_sync_after(&second, &mut phone, &prior).unwrap();
        assert_eq!(phone.asked_at_index[0], 0, "{:?}", phone.asked_at_index);
        assert_eq!(second.asked.lock().unwrap()[0].0, 0);
    }

    #[test]
    fn the_held_fingerprint_leaves_tombstones_out_and_counts_edited_contacts_with_no_hash() {
        let entry = |id: &str, state| IndexEntry {
            raw_id: 1,
            id: id.into(),
            hash: format!("h-{id}"),
            photo_hash: None,
            state,
        };
        let mut index = [
            entry("b", EntryState::Clean),
            entry("a", EntryState::Dirty),
            entry("c", EntryState::Deleted),
            entry("d", EntryState::Clean),
        ];
        let (count, fp) = held_fingerprint(&mut index);
        assert_eq!(count, 3);
        assert_eq!(fp, set_fingerprint([("a", ""), ("b", "h-b"), ("d", "h-d")]));
    }

    #[test]
    fn the_fingerprint_is_the_same_sorted_in_place_or_not() {
        let entry = |id: &str, hash: &str| IndexEntry {
            raw_id: 1,
            id: id.into(),
            hash: hash.into(),
            photo_hash: None,
            state: EntryState::Clean,
        };
        // A duplicate id with two hashes: the pairs' order, not the ids' alone.
        let mut index = vec![
            entry("b", "2"),
            entry("a", "9"),
            entry("c", "1"),
            entry("a", "3"),
        ];
        let expected = set_fingerprint([("b", "2"), ("a", "9"), ("c", "1"), ("a", "3")]);
        assert_eq!(fingerprint(&index), expected);
        sort_index(&mut index);
        let ids: Vec<(&str, &str)> = index.iter().map(|e| (&*e.id, &*e.hash)).collect();
        assert_eq!(ids, [("a", "3"), ("a", "9"), ("b", "2"), ("c", "1")]);
        assert_eq!(fingerprint(&index), expected);
    }

    #[test]
    fn a_page_too_large_is_asked_again_smaller_at_the_same_cursor() {
        let too_large = ClientError::TooLarge {
            what: "answer",
            limit: 1,
        };
        let source = Pages::new(4, Some((2, too_large)));
        let mut store = SqliteStore::open_in_memory("test.account").unwrap();
        let out = run_sync(&source, &mut store).unwrap();
        assert_eq!(out.managed_count, 4 * PER_PAGE);
        let asked: Vec<u64> = source.asked.lock().unwrap().iter().map(|a| a.0).collect();
        assert_eq!(asked, vec![0, 1, 2, 2, 3]);
    }

    #[test]
    fn a_failing_page_stops_the_sync_with_its_error_after_the_pages_before_it() {
        let down = ClientError::Status {
            status: 503,
            message: "down".into(),
            retry_after: None,
        };
        let source = Pages::new(5, Some((3, down)));
        let mut store = SqliteStore::open_in_memory("test.account").unwrap();
        let err = run_sync(&source, &mut store).unwrap_err();
        assert!(
            matches!(err, Error::Server(ClientError::Status { status: 503, .. })),
            "{err:?}"
        );
        // Pages 0–2 were written (a sync cut off converges on the next run); 4 never asked.
        assert_eq!(store.managed_index().unwrap().len() as u64, 3 * PER_PAGE);
        let asked: Vec<u64> = source.asked.lock().unwrap().iter().map(|a| a.0).collect();
        assert_eq!(asked, vec![0, 1, 2, 3]);
    }
}
