//! Sync tokens and deltas. A sync token names an entitled set: the sorted `(id, hash)` set the
//! device was sent. The delta from one snapshot to another is a merge walk; a page cursor
//! names both snapshots and an offset, so every page of one sync is cut from the same delta
//! even while the directory changes underneath. The encodings here are how
//! `entitled_sets` stores sets and deltas.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Upsert(String),
    Delete(String),
}

pub type Entries = Vec<(String, String)>;

/// Changes that turn `old` into `new`, both sorted by id, in id order.
pub fn delta(old: &[(String, String)], new: &[(String, String)]) -> Vec<Change> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) => match o.0.cmp(&n.0) {
                Ordering::Less => {
                    out.push(Change::Delete(o.0.clone()));
                    i += 1;
                }
                Ordering::Greater => {
                    out.push(Change::Upsert(n.0.clone()));
                    j += 1;
                }
                Ordering::Equal => {
                    if o.1 != n.1 {
                        out.push(Change::Upsert(n.0.clone()));
                    }
                    i += 1;
                    j += 1;
                }
            },
            (Some(o), None) => {
                out.push(Change::Delete(o.0.clone()));
                i += 1;
            }
            (None, Some(n)) => {
                out.push(Change::Upsert(n.0.clone()));
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

pub fn encode(entries: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 48);
    for (id, hash) in entries {
        out.extend_from_slice(id.as_bytes());
        out.push(0);
        out.extend_from_slice(hash.as_bytes());
        out.push(b'\n');
    }
    out
}

pub fn decode(blob: &[u8]) -> Option<Entries> {
    let mut out = Vec::new();
    for line in blob.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(2, |b| *b == 0);
        let id = std::str::from_utf8(parts.next()?).ok()?;
        let hash = std::str::from_utf8(parts.next()?).ok()?;
        out.push((id.to_owned(), hash.to_owned()));
    }
    Some(out)
}

/// The `limit` records from `offset` of a stored set or delta, each read by `parse`, and how
/// many records the blob holds. A sync reads one page per request: decoding the whole set for
/// every page made a first sync quadratic in the set (36 ms of server CPU per page at 100k),
/// so records outside the page are only counted, never allocated.
pub fn window<T>(
    blob: &[u8],
    offset: usize,
    limit: usize,
    parse: impl Fn(&[u8]) -> Option<T>,
) -> Option<(Vec<T>, usize)> {
    let mut page = Vec::new();
    let mut total = 0;
    for line in blob.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if total >= offset && total - offset < limit {
            page.push(parse(line)?);
        }
        total += 1;
    }
    Some((page, total))
}

/// Records per stored chunk (`set_chunks`, `delta_chunks`): a page of `limit` records reads
/// at most `limit / CHUNK_RECORDS + 2` chunks, whatever the size of the set. Chunks already
/// stored were cut with this number: changing it needs a migration that cuts them again.
pub const CHUNK_RECORDS: usize = 512;

/// How many records an encoded set or delta holds.
pub fn count_records(blob: &[u8]) -> usize {
    blob.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
}

/// An encoded set or delta cut into chunks of `per` records (the last holds the rest), each
/// ending with its last record's newline.
pub fn chunks(blob: &[u8], per: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut start, mut in_chunk) = (0, 0);
    for (i, b) in blob.iter().enumerate() {
        // A record is a non-empty line: an empty one (never written) is not counted.
        if *b == b'\n' && i > 0 && blob[i - 1] != b'\n' {
            in_chunk += 1;
            if in_chunk == per {
                out.push(&blob[start..=i]);
                (start, in_chunk) = (i + 1, 0);
            }
        }
    }
    if count_records(&blob[start..]) > 0 {
        out.push(&blob[start..]);
    }
    out
}

/// The chunks (first and last number) that hold records `offset..offset + limit` of a set or
/// delta of `total` records; `None` when that window is empty.
pub fn chunk_span(offset: usize, limit: usize, total: usize, per: usize) -> Option<(usize, usize)> {
    if offset >= total || limit == 0 {
        return None;
    }
    let end = offset.saturating_add(limit).min(total);
    Some((offset / per, (end - 1) / per))
}

/// Whether chunk `no` of a set or delta of `total` records holds what it must: `per` records,
/// or the rest for the last one.
fn chunk_whole(no: usize, chunk: &[u8], total: usize, per: usize) -> bool {
    let start = no.saturating_mul(per);
    start < total && count_records(chunk) == per.min(total - start)
}

/// `window` over stored chunks: `chunks` are the chunks `chunk_span` names, in order, as read.
/// `None` when one is missing, out of order, holds the wrong number of records, or a record
/// is unreadable: a wrong page must never be served as a right one.
pub fn window_of_chunks<'a, T>(
    chunks: impl IntoIterator<Item = (usize, &'a [u8])>,
    offset: usize,
    limit: usize,
    total: usize,
    per: usize,
    parse: impl Fn(&[u8]) -> Option<T>,
) -> Option<Vec<T>> {
    let Some((first, last)) = chunk_span(offset, limit, total, per) else {
        return Some(Vec::new());
    };
    let mut page = Vec::new();
    let mut expected = first;
    for (no, chunk) in chunks {
        if no != expected || no > last || !chunk_whole(no, chunk, total, per) {
            return None;
        }
        let skip = offset.saturating_sub(no * per);
        let take = limit - page.len();
        for line in chunk
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .skip(skip)
            .take(take)
        {
            page.push(parse(line)?);
        }
        expected += 1;
    }
    (expected == last + 1).then_some(page)
}

/// A whole set or delta from all its stored chunks, in order; `None` when one is missing, out
/// of order or holds the wrong number of records.
pub fn join_chunks(
    chunks: impl IntoIterator<Item = (usize, Vec<u8>)>,
    total: usize,
    per: usize,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut expected = 0;
    for (no, chunk) in chunks {
        if no != expected || !chunk_whole(no, &chunk, total, per) {
            return None;
        }
        out.extend_from_slice(&chunk);
        expected += 1;
    }
    (expected == total.div_ceil(per)).then_some(out)
}

/// A set's record read as a change that sends it (the first sync sends every contact).
pub fn set_record_as_upsert(line: &[u8]) -> Option<Change> {
    let id = line.split(|b| *b == 0).next()?;
    Some(Change::Upsert(std::str::from_utf8(id).ok()?.to_owned()))
}

/// One record of a stored delta.
pub fn change_record(line: &[u8]) -> Option<Change> {
    let (sign, id) = line.split_first()?;
    let id = std::str::from_utf8(id).ok()?.to_owned();
    match sign {
        b'+' => Some(Change::Upsert(id)),
        b'-' => Some(Change::Delete(id)),
        _ => None,
    }
}

/// A delta as `set_deltas` keeps it: "+id\n" for an upsert, "-id\n" for a delete.
pub fn encode_changes(changes: &[Change]) -> Vec<u8> {
    let mut out = Vec::with_capacity(changes.len() * 12);
    for c in changes {
        let (sign, id) = match c {
            Change::Upsert(id) => (b'+', id),
            Change::Delete(id) => (b'-', id),
        };
        out.push(sign);
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
    out
}

pub fn decode_changes(blob: &[u8]) -> Option<Vec<Change>> {
    window(blob, 0, usize::MAX, change_record).map(|(changes, _)| changes)
}

/// What a `since` parameter names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// The full set.
    Nothing,
    /// A completed sync token.
    Token(String),
    /// A page cursor inside one sync: from `base` (None = full) to `target`, at `offset`.
    Cursor {
        base: Option<String>,
        target: String,
        offset: usize,
    },
}

pub fn parse_since(s: Option<&str>) -> Option<Since> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Some(Since::Nothing);
    };
    if let Some(rest) = s.strip_prefix("p.") {
        let mut parts = rest.split('.');
        let base = parts.next()?;
        let target = parts.next()?;
        let offset = parts.next()?.parse().ok()?;
        if parts.next().is_some() || !is_token(target) || (base != "-" && !is_token(base)) {
            return None;
        }
        return Some(Since::Cursor {
            base: (base != "-").then(|| base.to_owned()),
            target: target.to_owned(),
            offset,
        });
    }
    is_token(s).then(|| Since::Token(s.to_owned()))
}

pub fn cursor(base: Option<&str>, target: &str, offset: usize) -> String {
    format!("p.{}.{}.{}", base.unwrap_or("-"), target, offset)
}

pub fn is_token(s: &str) -> bool {
    s.len() == 33 && s.starts_with('s') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        #[test]
        fn applying_the_delta_turns_old_into_new(
            old in prop::collection::btree_map("[a-e]{1,2}", "[0-2]", 0..30),
            new in prop::collection::btree_map("[a-e]{1,2}", "[0-2]", 0..30),
        ) {
            let o: Entries = old.clone().into_iter().collect();
            let n: Entries = new.clone().into_iter().collect();
            let mut state: BTreeMap<String, String> = old;
            for c in delta(&o, &n) {
                match c {
                    Change::Upsert(id) => { state.insert(id.clone(), new[&id].clone()); }
                    Change::Delete(id) => { state.remove(&id); }
                }
            }
            prop_assert_eq!(state, new);
            let changes = delta(&o, &n);
            prop_assert_eq!(decode_changes(&encode_changes(&changes)), Some(changes));
            prop_assert_eq!(decode(&encode(&n)), Some(n));
        }

        #[test]
        fn pages_cut_from_a_window_join_into_the_whole(
            old in prop::collection::btree_map("[a-e]{1,2}", "[0-2]", 0..30),
            new in prop::collection::btree_map("[a-e]{1,2}", "[0-2]", 0..30),
            limit in 1usize..8,
        ) {
            let o: Entries = old.into_iter().collect();
            let n: Entries = new.into_iter().collect();
            let changes = delta(&o, &n);
            let sends: Vec<Change> = n.iter().map(|(id, _)| Change::Upsert(id.clone())).collect();
            for (blob, whole, parse) in [
                (encode_changes(&changes), changes, change_record as fn(&[u8]) -> Option<Change>),
                (encode(&n), sends, set_record_as_upsert),
            ] {
                let mut joined = Vec::new();
                let mut offset = 0;
                loop {
                    let (page, total) = window(&blob, offset, limit, parse).unwrap();
                    prop_assert_eq!(total, whole.len());
                    prop_assert!(page.len() <= limit);
                    if page.is_empty() { break; }
                    offset += page.len();
                    joined.extend(page);
                }
                prop_assert_eq!(&joined, &whole);
                // Past the end: nothing, and the count still right.
                prop_assert_eq!(window(&blob, whole.len() + 3, limit, parse).unwrap(), (vec![], whole.len()));
            }
        }

        /// What a page reads from chunks is what the whole blob's window says, for any set
        /// size, offset, limit and chunk size (so chunk boundaries fall anywhere in a page);
        /// a chunk missing, repeated or cut short is refused, never a shorter page.
        #[test]
        fn a_window_read_from_chunks_equals_the_window_cut_from_the_whole_blob(
            n in 0usize..70,
            per in 1usize..10,
            offset in 0usize..80,
            limit in 1usize..25,
            deletes in prop::collection::vec(any::<bool>(), 70),
        ) {
            let set: Entries = (0..n).map(|i| (format!("u{i:03}"), format!("h{}", i % 7))).collect();
            let changes: Vec<Change> = (0..n)
                .map(|i| if deletes[i] { Change::Delete(format!("u{i:03}")) } else { Change::Upsert(format!("u{i:03}")) })
                .collect();
            for (blob, parse) in [
                (encode(&set), set_record_as_upsert as fn(&[u8]) -> Option<Change>),
                (encode_changes(&changes), change_record),
            ] {
                let total = count_records(&blob);
                prop_assert_eq!(total, n);
                let stored = chunks(&blob, per);
                prop_assert_eq!(stored.len(), n.div_ceil(per));
                let numbered = || stored.iter().enumerate().map(|(i, c)| (i, c.to_vec()));
                prop_assert_eq!(join_chunks(numbered(), total, per), Some(blob.clone()));

                let (want, want_total) = window(&blob, offset, limit, parse).unwrap();
                prop_assert_eq!(want_total, total);
                let span = chunk_span(offset, limit, total, per);
                let read: Vec<(usize, &[u8])> = match span {
                    Some((first, last)) => (first..=last).map(|i| (i, stored[i])).collect(),
                    None => Vec::new(),
                };
                prop_assert!(read.len() <= limit / per + 2, "a page reads about its own size");
                let got = window_of_chunks(read.iter().copied(), offset, limit, total, per, parse);
                prop_assert_eq!(got.as_ref(), Some(&want));

                if !read.is_empty() {
                    // The last chunk missing, the first one missing, a chunk cut short.
                    let missing_last = &read[..read.len() - 1];
                    prop_assert_eq!(window_of_chunks(missing_last.iter().copied(), offset, limit, total, per, parse), None);
                    prop_assert_eq!(window_of_chunks(read[1..].iter().copied(), offset, limit, total, per, parse), None);
                    let mut short = read.clone();
                    let (no, chunk) = short[0];
                    let cut = chunk.iter().position(|b| *b == b'\n').unwrap() + 1;
                    short[0] = (no, &chunk[cut..]);
                    prop_assert_eq!(window_of_chunks(short.iter().copied(), offset, limit, total, per, parse), None);
                    let mut whole: Vec<(usize, Vec<u8>)> = numbered().collect();
                    whole.remove(read[0].0);
                    prop_assert_eq!(join_chunks(whole, total, per), None);
                }
            }
        }
    }

    #[test]
    fn since_parsing() {
        let t = format!("s{}", "a".repeat(32));
        assert_eq!(parse_since(None), Some(Since::Nothing));
        assert_eq!(parse_since(Some(&t)), Some(Since::Token(t.clone())));
        let c = cursor(None, &t, 500);
        assert_eq!(
            parse_since(Some(&c)),
            Some(Since::Cursor {
                base: None,
                target: t.clone(),
                offset: 500
            })
        );
        assert_eq!(parse_since(Some("garbage")), None);
        assert_eq!(parse_since(Some("p.-.x.1")), None);
    }
}
