//! The agent's state file: enrollment, the applied policy, the sync token, the run clocks,
//! the run history and status reports waiting to be delivered.

use std::path::Path;

use chrono::{DateTime, Utc};
use contacts_agent_protocol::Policy;
use rusqlite::{params, Connection, OptionalExtension};

use crate::db;
use crate::schedule::RunClock;

/// Step by step from `PRAGMA user_version`; never edit a released step, add one.
const MIGRATIONS: &[&str] = &[
    include_str!("state_schema.sql"),
    include_str!("state_schema_2_backup.sql"),
    include_str!("state_schema_3_attention.sql"),
    include_str!("state_schema_4_schedule.sql"),
];
/// Undelivered reports beyond this are dropped oldest-first: the newest says it all.
const MAX_PENDING_REPORTS: i64 = 50;
const MAX_RUN_HISTORY: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("agent state database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Open(#[from] db::OpenError),
    #[error("agent state holds an unreadable {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub server_url: String,
    pub device_id: String,
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Sync,
    Backup,
    Restore,
    /// The command poll and policy check at the start of `run-due` (recorded when it fails).
    Poll,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Sync => "sync",
            RunKind::Backup => "backup",
            RunKind::Restore => "restore",
            RunKind::Poll => "poll",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    pub sync_token: Option<String>,
    pub store_fingerprint: Option<String>,
    pub synced_policy_version: Option<u64>,
    pub managed_count: u64,
    /// Photos the provider did not take in the last sync (retried by the next one).
    pub photos_pending: u64,
}

/// A failure only a person can fix, shown in status until a run gets past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attention {
    /// `unauthorized`, `permission_denied`, … (`ffi::FailureKind` in words).
    pub kind: String,
    pub message: String,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
    /// Deletes of ids the phone did not hold.
    pub ignored: u64,
    /// Extra raw contacts with an id already held (SOURCE_ID is not unique), removed.
    pub duplicates_removed: u64,
    /// Photos the provider did not take; the next sync tries them again.
    pub photos_failed: u64,
    pub full_fetch: bool,
    pub bytes_received: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub id: i64,
    pub kind: String,
    pub reason: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub outcome: String,
    pub error: Option<String>,
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockRow {
    pub clock: RunClock,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_result: Option<String>,
}

/// The last successful backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupState {
    pub backup_id: String,
    pub size: u64,
    pub contact_count: u64,
    pub checksum: String,
    pub created_at: String,
}

pub struct State {
    conn: Connection,
}

const RUN_COLUMNS: &str = "SELECT id, kind, reason, started_at, ended_at, outcome, error,
        inserted, updated, deleted, unchanged, ignored, full_fetch, bytes_received,
        duplicates_removed, photos_failed
    FROM runs";

fn run_row(r: &rusqlite::Row) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        reason: r.get(2)?,
        started_at: r.get(3)?,
        ended_at: r.get(4)?,
        outcome: r.get(5)?,
        error: r.get(6)?,
        counts: Counts {
            inserted: r.get::<_, i64>(7)? as u64,
            updated: r.get::<_, i64>(8)? as u64,
            deleted: r.get::<_, i64>(9)? as u64,
            unchanged: r.get::<_, i64>(10)? as u64,
            ignored: r.get::<_, i64>(11)? as u64,
            full_fetch: r.get(12)?,
            bytes_received: r.get::<_, i64>(13)? as u64,
            duplicates_removed: r.get::<_, i64>(14)? as u64,
            photos_failed: r.get::<_, i64>(15)? as u64,
        },
    })
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_ts(s: Option<String>) -> Result<Option<DateTime<Utc>>, StateError> {
    s.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| StateError::Corrupt {
                what: "timestamp",
                detail: e.to_string(),
            })
    })
    .transpose()
}

impl State {
    pub fn open(path: &Path) -> Result<Self, StateError> {
        Self::init(db::open(path, MIGRATIONS)?)
    }

    pub fn open_in_memory() -> Result<Self, StateError> {
        Self::init(db::open_in_memory(MIGRATIONS)?)
    }

    fn init(conn: Connection) -> Result<Self, StateError> {
        // A run still 'running' when the state is opened was cut off by a killed process.
        conn.execute(
            "UPDATE runs SET outcome = 'interrupted', error = 'the process ended during the run'
             WHERE outcome = 'running'",
            [],
        )?;
        Ok(State { conn })
    }

    pub fn enrollment(&self) -> Result<Option<Enrollment>, StateError> {
        Ok(self
            .conn
            .query_row(
                "SELECT server_url, device_id, token FROM enrollment",
                [],
                |r| {
                    Ok(Enrollment {
                        server_url: r.get(0)?,
                        device_id: r.get(1)?,
                        token: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn set_enrollment(&self, e: &Enrollment, now: DateTime<Utc>) -> Result<(), StateError> {
        self.conn.execute(
            "INSERT OR REPLACE INTO enrollment (singleton, server_url, device_id, token, enrolled_at)
             VALUES (1, ?1, ?2, ?3, ?4)",
            params![e.server_url, e.device_id, e.token, ts(now)],
        )?;
        Ok(())
    }

    pub fn policy(&self) -> Result<Option<Policy>, StateError> {
        let body: Option<String> = self
            .conn
            .query_row("SELECT body FROM policy", [], |r| r.get(0))
            .optional()?;
        body.map(|b| {
            serde_json::from_str(&b).map_err(|e| StateError::Corrupt {
                what: "policy",
                detail: e.to_string(),
            })
        })
        .transpose()
    }

    /// When the device first received the policy version it holds: where the rollout
    /// spread of its first sync counts from.
    pub fn policy_received_at(&self) -> Result<Option<DateTime<Utc>>, StateError> {
        let at: Option<String> = self
            .conn
            .query_row("SELECT received_at FROM policy", [], |r| r.get(0))
            .optional()?;
        parse_ts(at)
    }

    pub fn policy_etag(&self) -> Result<Option<String>, StateError> {
        Ok(self
            .conn
            .query_row("SELECT etag FROM policy", [], |r| r.get(0))
            .optional()?
            .flatten())
    }

    pub fn set_policy(
        &self,
        p: &Policy,
        etag: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let body = serde_json::to_string(p).map_err(|e| StateError::Corrupt {
            what: "policy",
            detail: e.to_string(),
        })?;
        self.conn.execute(
            "INSERT INTO policy (singleton, version, etag, body, received_at)
             VALUES (1, ?1, ?2, ?3, ?4)
             ON CONFLICT (singleton) DO UPDATE SET etag = ?2, body = ?3,
                 received_at = CASE WHEN version = ?1 THEN received_at ELSE ?4 END,
                 version = ?1",
            params![p.version as i64, etag, body, ts(now)],
        )?;
        Ok(())
    }

    pub fn sync_state(&self) -> Result<SyncState, StateError> {
        Ok(self.conn.query_row(
            "SELECT sync_token, store_fingerprint, synced_policy_version, managed_count,
                    photos_pending FROM sync_state",
            [],
            |r| {
                Ok(SyncState {
                    sync_token: r.get(0)?,
                    store_fingerprint: r.get(1)?,
                    synced_policy_version: r.get::<_, Option<i64>>(2)?.map(|v| v as u64),
                    managed_count: r.get::<_, i64>(3)? as u64,
                    photos_pending: r.get::<_, i64>(4)? as u64,
                })
            },
        )?)
    }

    /// Forgets everything the last sync left (token, fingerprint, count, synced policy): the
    /// business contacts are gone and the next sync starts from a full fetch.
    pub fn forget_sync(&self) -> Result<(), StateError> {
        self.conn.execute(
            "UPDATE sync_state SET sync_token = NULL, store_fingerprint = NULL,
                    synced_policy_version = NULL, managed_count = 0, photos_pending = 0",
            [],
        )?;
        Ok(())
    }

    /// Forgets everything (unenroll): enrollment and its token, policy, clocks, sync state,
    /// run history, queued reports, the last backup, the attention notice. One transaction:
    /// the agent is either enrolled as before or as fresh as a new install.
    pub fn wipe(&mut self) -> Result<(), StateError> {
        let tx = self.conn.transaction()?;
        for table in [
            "enrollment",
            "policy",
            "clocks",
            "runs",
            "pending_reports",
            "backup_state",
            "attention",
        ] {
            tx.execute(&format!("DELETE FROM {table}"), [])?;
        }
        tx.execute(
            "UPDATE sync_state SET sync_token = NULL, store_fingerprint = NULL,
                    synced_policy_version = NULL, managed_count = 0, photos_pending = 0",
            [],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Forgets the sync token, so the next sync fetches the full set.
    pub fn clear_sync_token(&self) -> Result<(), StateError> {
        self.conn
            .execute("UPDATE sync_state SET sync_token = NULL", [])?;
        Ok(())
    }

    pub fn clock(&self, kind: RunKind) -> Result<ClockRow, StateError> {
        let row = self
            .conn
            .query_row(
                "SELECT last_success, consecutive_failures, last_failure, last_attempt, last_result
                 FROM clocks WHERE kind = ?1",
                [kind.as_str()],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((ls, fails, lf, la, result)) = row else {
            return Ok(ClockRow {
                clock: RunClock::default(),
                last_attempt: None,
                last_result: None,
            });
        };
        Ok(ClockRow {
            clock: RunClock {
                last_success: parse_ts(ls)?,
                consecutive_failures: u32::try_from(fails).unwrap_or(u32::MAX),
                last_failure: parse_ts(lf)?,
            },
            last_attempt: parse_ts(la)?,
            last_result: result,
        })
    }

    pub fn start_run(
        &self,
        kind: RunKind,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StateError> {
        self.conn.execute(
            "INSERT INTO runs (kind, reason, started_at) VALUES (?1, ?2, ?3)",
            params![kind.as_str(), reason, ts(now)],
        )?;
        let id = self.conn.last_insert_rowid();
        self.conn
            .execute("DELETE FROM runs WHERE id <= ?1", [id - MAX_RUN_HISTORY])?;
        Ok(id)
    }

    /// Records a successful sync: the run, the clock and the sync state, in one transaction.
    pub fn finish_sync_ok(
        &mut self,
        run: i64,
        now: DateTime<Utc>,
        counts: &Counts,
        new_state: &SyncState,
    ) -> Result<(), StateError> {
        let tx = self.conn.transaction()?;
        finish_run(&tx, run, now, "ok", None, counts)?;
        upsert_clock_success(&tx, RunKind::Sync, now, "ok")?;
        tx.execute(
            "UPDATE sync_state SET sync_token = ?1, store_fingerprint = ?2,
                    synced_policy_version = ?3, managed_count = ?4, photos_pending = ?5",
            params![
                new_state.sync_token,
                new_state.store_fingerprint,
                new_state.synced_policy_version.map(|v| v as i64),
                new_state.managed_count as i64,
                new_state.photos_pending as i64
            ],
        )?;
        tx.execute("DELETE FROM attention", [])?;
        tx.commit()?;
        Ok(())
    }

    /// Records a successful backup run and what it stored.
    pub fn finish_backup_ok(
        &mut self,
        run: i64,
        now: DateTime<Utc>,
        backup: &BackupState,
        result: &str,
    ) -> Result<(), StateError> {
        let tx = self.conn.transaction()?;
        let counts = Counts {
            inserted: backup.contact_count,
            ..Counts::default()
        };
        finish_run(&tx, run, now, "ok", None, &counts)?;
        upsert_clock_success(&tx, RunKind::Backup, now, result)?;
        tx.execute(
            "INSERT OR REPLACE INTO backup_state
                 (singleton, backup_id, size, contact_count, checksum, created_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?5)",
            params![
                backup.backup_id,
                backup.size as i64,
                backup.contact_count as i64,
                backup.checksum,
                backup.created_at
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records a finished restore (its counts; restores have no clock).
    pub fn finish_restore_ok(
        &self,
        run: i64,
        now: DateTime<Utc>,
        counts: &Counts,
    ) -> Result<(), StateError> {
        let tx = self.conn.unchecked_transaction()?;
        finish_run(&tx, run, now, "ok", None, counts)?;
        tx.commit()?;
        Ok(())
    }

    pub fn backup_state(&self) -> Result<Option<BackupState>, StateError> {
        Ok(self
            .conn
            .query_row(
                "SELECT backup_id, size, contact_count, checksum, created_at FROM backup_state",
                [],
                |r| {
                    Ok(BackupState {
                        backup_id: r.get(0)?,
                        size: r.get::<_, i64>(1)? as u64,
                        contact_count: r.get::<_, i64>(2)? as u64,
                        checksum: r.get(3)?,
                        created_at: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Records a failed run: its error (never personal data) and one more consecutive failure.
    /// `managed_count` is the store's count after the failure, for status.
    pub fn finish_failed(
        &self,
        run: i64,
        kind: RunKind,
        now: DateTime<Utc>,
        error: &str,
        counts: &Counts,
    ) -> Result<(), StateError> {
        let tx = self.conn.unchecked_transaction()?;
        finish_run(&tx, run, now, "failed", Some(error), counts)?;
        if matches!(kind, RunKind::Restore | RunKind::Poll) {
            // A restore is asked for by a person; a failed poll is followed by the sync or
            // its absence, which keep their own clock. Neither has a schedule to back off.
            tx.commit()?;
            return Ok(());
        }
        tx.execute(
            "INSERT INTO clocks (kind, consecutive_failures, last_failure, last_attempt, last_result)
             VALUES (?1, 1, ?2, ?2, ?3)
             ON CONFLICT (kind) DO UPDATE SET consecutive_failures = consecutive_failures + 1,
                 last_failure = ?2, last_attempt = ?2, last_result = ?3",
            params![kind.as_str(), ts(now), format!("failed: {error}")],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records a failed run that needs a person (re-enroll, grant a permission): in the run
    /// history and the status, without counting a failure on the backoff schedule — retrying
    /// sooner would not help; the run is tried again at the ordinary poll.
    pub fn finish_needs_action(
        &self,
        run: i64,
        kind: RunKind,
        now: DateTime<Utc>,
        attention: &Attention,
        counts: &Counts,
    ) -> Result<(), StateError> {
        let tx = self.conn.unchecked_transaction()?;
        finish_run(&tx, run, now, "failed", Some(&attention.message), counts)?;
        if kind != RunKind::Restore && kind != RunKind::Poll {
            tx.execute(
                "INSERT INTO clocks (kind, last_attempt, last_result) VALUES (?1, ?2, ?3)
                 ON CONFLICT (kind) DO UPDATE SET last_attempt = ?2, last_result = ?3",
                params![
                    kind.as_str(),
                    ts(now),
                    format!("needs action: {}", attention.message)
                ],
            )?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO attention (singleton, kind, message, since)
             VALUES (1, ?1, ?2, COALESCE((SELECT since FROM attention WHERE kind = ?1), ?3))",
            params![attention.kind, attention.message, ts(attention.since)],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn attention(&self) -> Result<Option<Attention>, StateError> {
        let row = self
            .conn
            .query_row("SELECT kind, message, since FROM attention", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?))
            })
            .optional()?;
        row.map(|(kind, message, since)| {
            Ok(Attention {
                kind,
                message,
                since: parse_ts(Some(since))?.unwrap_or_default(),
            })
        })
        .transpose()
    }

    /// A run got past what needed a person (the poll answered, the store was writable).
    pub fn clear_attention(&self) -> Result<(), StateError> {
        self.conn.execute("DELETE FROM attention", [])?;
        Ok(())
    }

    pub fn set_managed_count(&self, n: u64) -> Result<(), StateError> {
        self.conn
            .execute("UPDATE sync_state SET managed_count = ?1", [n as i64])?;
        Ok(())
    }

    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let mut stmt = self
            .conn
            .prepare(&format!("{RUN_COLUMNS} ORDER BY id DESC LIMIT ?1"))?;
        let rows = stmt.query_map([limit as i64], run_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest run of `kind` that ended (what the status report's `last_sync_*` name).
    pub fn last_finished_run(&self, kind: RunKind) -> Result<Option<RunRecord>, StateError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "{RUN_COLUMNS} WHERE kind = ?1 AND ended_at IS NOT NULL ORDER BY id DESC LIMIT 1"
                ),
                [kind.as_str()],
                run_row,
            )
            .optional()?)
    }

    pub fn queue_report(&self, body: &str, now: DateTime<Utc>) -> Result<(), StateError> {
        self.conn.execute(
            "INSERT INTO pending_reports (created_at, body) VALUES (?1, ?2)",
            params![ts(now), body],
        )?;
        let last = self.conn.last_insert_rowid();
        self.conn.execute(
            "DELETE FROM pending_reports WHERE id <= ?1",
            [last - MAX_PENDING_REPORTS],
        )?;
        Ok(())
    }

    pub fn pending_reports(&self) -> Result<Vec<(i64, String)>, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, body FROM pending_reports ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn delete_report(&self, id: i64) -> Result<(), StateError> {
        self.conn
            .execute("DELETE FROM pending_reports WHERE id = ?1", [id])?;
        Ok(())
    }
}

fn finish_run(
    tx: &rusqlite::Transaction,
    run: i64,
    now: DateTime<Utc>,
    outcome: &str,
    error: Option<&str>,
    c: &Counts,
) -> Result<(), rusqlite::Error> {
    tx.execute(
        "UPDATE runs SET ended_at = ?2, outcome = ?3, error = ?4, inserted = ?5, updated = ?6,
                deleted = ?7, unchanged = ?8, ignored = ?9, full_fetch = ?10, bytes_received = ?11,
                duplicates_removed = ?12, photos_failed = ?13
         WHERE id = ?1",
        params![
            run,
            ts(now),
            outcome,
            error,
            c.inserted as i64,
            c.updated as i64,
            c.deleted as i64,
            c.unchanged as i64,
            c.ignored as i64,
            c.full_fetch,
            c.bytes_received as i64,
            c.duplicates_removed as i64,
            c.photos_failed as i64
        ],
    )?;
    Ok(())
}

fn upsert_clock_success(
    tx: &rusqlite::Transaction,
    kind: RunKind,
    now: DateTime<Utc>,
    result: &str,
) -> Result<(), rusqlite::Error> {
    tx.execute(
        "INSERT INTO clocks (kind, last_success, consecutive_failures, last_failure, last_attempt, last_result)
         VALUES (?1, ?2, 0, NULL, ?2, ?3)
         ON CONFLICT (kind) DO UPDATE SET last_success = ?2,
             consecutive_failures = 0, last_failure = NULL, last_attempt = ?2, last_result = ?3",
        params![kind.as_str(), ts(now), result],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_cut_off_by_a_killed_process_reads_as_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let s = State::open(&path).unwrap();
            s.start_run(RunKind::Sync, "test", Utc::now()).unwrap();
        }
        let s = State::open(&path).unwrap();
        let runs = s.recent_runs(5).unwrap();
        assert_eq!(runs[0].outcome, "interrupted");
    }

    #[test]
    fn failures_count_up_and_a_success_resets_them() {
        let mut s = State::open_in_memory().unwrap();
        let now = Utc::now();
        for _ in 0..3 {
            let run = s.start_run(RunKind::Sync, "t", now).unwrap();
            s.finish_failed(run, RunKind::Sync, now, "boom", &Counts::default())
                .unwrap();
        }
        assert_eq!(
            s.clock(RunKind::Sync).unwrap().clock.consecutive_failures,
            3
        );
        let run = s.start_run(RunKind::Sync, "t", now).unwrap();
        let st = SyncState {
            sync_token: Some("t1".into()),
            synced_policy_version: Some(1),
            ..Default::default()
        };
        s.finish_sync_ok(run, now, &Counts::default(), &st).unwrap();
        let clock = s.clock(RunKind::Sync).unwrap().clock;
        assert_eq!(clock.consecutive_failures, 0);
        assert!(clock
            .last_success
            .is_some_and(|t| (t - now).num_seconds() == 0));
        assert_eq!(s.sync_state().unwrap().sync_token.as_deref(), Some("t1"));
    }

    #[test]
    fn a_policy_keeps_the_time_its_version_first_arrived() {
        let s = State::open_in_memory().unwrap();
        let mut p: Policy = serde_json::from_str(
            r#"{"version":1,"basic_type":"none","sync_interval":"daily","backup_interval":"off"}"#,
        )
        .unwrap();
        let t0 = Utc::now() - chrono::Duration::hours(2);
        s.set_policy(&p, Some("e1"), t0).unwrap();
        // Fetched again (a new ETag, the same version): still the first arrival.
        s.set_policy(&p, Some("e2"), t0 + chrono::Duration::hours(1))
            .unwrap();
        let first = s.policy_received_at().unwrap().unwrap();
        assert_eq!(first.timestamp(), t0.timestamp());
        assert_eq!(s.policy_etag().unwrap().as_deref(), Some("e2"));
        p.version = 2;
        let t2 = t0 + chrono::Duration::hours(2);
        s.set_policy(&p, None, t2).unwrap();
        assert_eq!(
            s.policy_received_at().unwrap().unwrap().timestamp(),
            t2.timestamp()
        );
    }

    fn schema(conn: &Connection) -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_version_1_state_file_migrates_to_the_fresh_schema_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.db");
        {
            // A state file as the first release left it: migration 1 only, with data.
            let c = db::open(&old, &MIGRATIONS[..1]).unwrap();
            c.execute(
                "INSERT INTO enrollment VALUES (1, 'https://x', 'd-1', 't', '2026-01-01T00:00:00Z')",
                [],
            )
            .unwrap();
            let v: u32 = c
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
            assert_eq!(v, 1);
        }
        let upgraded = State::open(&old).unwrap();
        let fresh = State::open(&dir.path().join("fresh.db")).unwrap();
        assert_eq!(schema(&upgraded.conn), schema(&fresh.conn));
        assert_eq!(upgraded.enrollment().unwrap().unwrap().device_id, "d-1");
        let v: u32 = upgraded
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
    }

    #[test]
    fn a_schema_newer_than_the_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        assert!(matches!(
            State::open(&path),
            Err(StateError::Open(db::OpenError::TooNew { found: 99, .. }))
        ));
    }
}
