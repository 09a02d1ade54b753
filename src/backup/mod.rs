//! Backups of the phone user's own contacts: a vCard 3.0 archive (`archive`, `vcard`),
//! uploaded on the policy's interval, listed and restored without duplicates.

pub mod archive;
pub mod vcard;

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use archive::{ArchiveWriter, Manifest};
use vcard::SkipReason;

use crate::error::Error;
use crate::interrupt::Scope;
use crate::store::{ContactStore, PersonalData, SourceAccount, MAX_BATCH_OPS};

/// Personal contacts read from the store per call.
pub const PAGE: usize = 500;

fn io(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io(format!("{what}: {e}"))
}

/// Writes every personal contact to an archive at `path`, page by page. Nothing is
/// written to the store. On error the partial file is removed.
pub fn write_archive<S: ContactStore + ?Sized>(
    store: &mut S,
    path: &Path,
    created_at: &str,
    interrupt: &Scope,
) -> Result<(Manifest, u64), Error> {
    let result = (|| {
        let file = File::create(path).map_err(io("creating the backup archive"))?;
        let mut writer = ArchiveWriter::new(BufWriter::new(file))?;
        let mut after = None;
        loop {
            interrupt.check()?;
            let page = store.personal_page(after, PAGE)?;
            let Some(last) = page.last() else { break };
            after = Some(last.raw_id);
            for c in &page {
                writer.add(&c.data)?;
            }
        }
        let (manifest, out) = writer.finish(created_at)?;
        let file = out
            .into_inner()
            .map_err(|e| Error::Io(format!("writing the backup archive: {}", e.error())))?;
        // Flush to the disk now: a full disk must fail here, not after the upload.
        file.sync_all().map_err(io("writing the backup archive"))?;
        let size = file
            .metadata()
            .map_err(io("reading the backup archive"))?
            .len();
        Ok((manifest, size))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// What a restore did; counts only, no personal data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    pub backup_id: String,
    pub in_archive: u64,
    pub restored: u64,
    pub already_present: u64,
    /// Restored into their own account (the one the backup names, present on the phone).
    pub into_source_account: u64,
    /// Restored into the device-local account because the account they came from is not
    /// on this phone (removed, or never signed in here).
    pub source_account_missing: u64,
    /// Restored without their photo: it was not an image the phone can show.
    pub photos_dropped: u64,
    /// Cards that could not become contacts, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
}

impl RestoreReport {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    pub fn describe_skipped(&self) -> String {
        self.skipped
            .iter()
            .map(|(r, n)| format!("{n} × {}", r.describe()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Progress of a long restore: contacts inserted so far, of how many to insert.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Where a restore puts the contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// Each contact into the account it was backed up from when that account is on the
    /// phone, else into the device-local account (counted in
    /// `RestoreReport::source_account_missing`).
    SourceAccounts,
    /// Every contact into this account (`None`: the device-local account), whatever the
    /// backup says. The caller vouches that it exists; never the managed account.
    Account(Option<&'a SourceAccount>),
}

/// Inserts the archive's contacts that are not already on the phone, in atomic batches of
/// whole contacts (a contact is never written in part). Running it twice adds nothing: a
/// contact's identity is its content, not its account.
pub fn restore_into<S: ContactStore + ?Sized>(
    store: &mut S,
    vcf: &str,
    target: Target,
    interrupt: &Scope,
    progress: Progress,
    report: &mut RestoreReport,
) -> Result<(), Error> {
    if let Target::Account(account) = &target {
        store.check_personal_account(*account)?;
    }
    let on_phone: HashSet<SourceAccount> = match target {
        Target::SourceAccounts => store.personal_accounts()?.into_iter().collect(),
        Target::Account(_) => HashSet::new(),
    };
    let mut present: HashSet<[u8; 32]> = HashSet::new();
    let mut after = None;
    loop {
        let page = store.personal_page(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.raw_id);
        present.extend(page.iter().map(|c| c.data.dedup_key()));
    }
    // Contacts to insert, grouped by the account they go to (one batch holds one account).
    let mut todo: BTreeMap<Option<SourceAccount>, Vec<PersonalData>> = BTreeMap::new();
    for card in vcard::parse_all(vcf) {
        match card {
            Ok(r) => {
                report.in_archive += 1;
                // `insert` is false for a contact already on the phone, or twice in the archive.
                if !present.insert(r.contact.dedup_key()) {
                    report.already_present += 1;
                    continue;
                }
                report.photos_dropped += u64::from(r.photo_dropped);
                let account = match &target {
                    Target::Account(a) => a.cloned(),
                    Target::SourceAccounts => match &r.contact.account {
                        Some(a) if on_phone.contains(a) => {
                            report.into_source_account += 1;
                            Some(a.clone())
                        }
                        Some(_) => {
                            report.source_account_missing += 1;
                            None
                        }
                        None => None,
                    },
                };
                todo.entry(account).or_default().push(r.contact);
            }
            Err(reason) => *report.skipped.entry(reason).or_default() += 1,
        }
    }
    let total = todo.values().map(|v| v.len() as u64).sum();
    for (account, contacts) in todo {
        let mut batch: Vec<PersonalData> = Vec::new();
        let mut cost = 0;
        let mut flush =
            |batch: &mut Vec<PersonalData>, report: &mut RestoreReport| -> Result<(), Error> {
                if batch.is_empty() {
                    return Ok(());
                }
                interrupt.check()?;
                store.insert_personal(account.as_ref(), batch)?;
                report.restored += batch.len() as u64;
                progress(report.restored, total);
                batch.clear();
                Ok(())
            };
        for c in contacts {
            let ops = c.provider_ops();
            if cost + ops > MAX_BATCH_OPS {
                flush(&mut batch, report)?;
                cost = 0;
            }
            cost += ops;
            batch.push(c);
        }
        flush(&mut batch, report)?;
    }
    Ok(())
}

/// Writes a progress line for a person watching a long restore (CLI).
pub fn progress_line(out: &mut dyn Write) -> impl FnMut(u64, u64) + '_ {
    move |done, total| {
        let _ = write!(out, "\rrestored {done}/{total}");
        if done == total {
            let _ = writeln!(out);
        }
        let _ = out.flush();
    }
}
