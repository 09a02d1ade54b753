//! The device list at fleet size (issue 15 item 3), for the console and the admin API: pages
//! filtered (failing, overdue, never synced, by policy, by user) and sorted by the database,
//! over columns a status report sets once when it arrives (`record_report`), so a page is an
//! index range whatever the fleet's size. Also the fleet's counts for the dashboard and each
//! device's sync history as its reports told it.

use crate::sql::{params, Conn, Dialect, OptionalExtension, Tx};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use contacts_agent_protocol::wire::{StatusReport, SyncReason};

use crate::error::ApiError;
use crate::repo::{self, Device};

/// A device whose next expected sync passed more than this long ago is overdue: phones run
/// their jobs when the OS lets them (Doze, WorkManager's flex window), not to the minute.
pub const OVERDUE_GRACE: chrono::Duration = chrono::Duration::hours(1);
/// Sync runs kept per device.
pub const RUNS_KEPT: i64 = 20;
/// The longest page one request may ask for.
pub const MAX_LIMIT: usize = 1000;

/// Which devices a page lists. The first five are the dashboard's tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    All,
    /// Enrolled, synced, last run fine and not overdue.
    Ok,
    /// Enrolled and its last sync failed.
    Failing,
    /// Enrolled, not failing, and its next expected sync is past by more than the grace.
    Overdue,
    /// Enrolled and never reported a sync.
    NeverSynced,
    /// Created (or given a new code) and not enrolled yet.
    AwaitingEnrollment,
    /// Told to retire; the phone has not reported doing so yet.
    Retiring,
}

impl Filter {
    pub const ALL: [Filter; 7] = [
        Filter::All,
        Filter::Ok,
        Filter::Failing,
        Filter::Overdue,
        Filter::NeverSynced,
        Filter::Retiring,
        Filter::AwaitingEnrollment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Ok => "ok",
            Filter::Failing => "failing",
            Filter::Overdue => "overdue",
            Filter::NeverSynced => "never_synced",
            Filter::AwaitingEnrollment => "awaiting_enrollment",
            Filter::Retiring => "retiring",
        }
    }

    pub fn parse(s: &str) -> Option<Filter> {
        Filter::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The SQL condition (over `devices`; `?1` is the overdue threshold). The sync states
    /// count enrolled devices that are not retiring; each device is in one of them at most.
    fn condition(self) -> &'static str {
        match self {
            Filter::All => "1 = 1",
            Filter::Ok => {
                "token_hash IS NOT NULL AND retire_requested_at IS NULL AND sync_failing = 0
                 AND last_sync_at IS NOT NULL AND (next_sync_at IS NULL OR next_sync_at >= ?1)"
            }
            Filter::Failing => {
                "token_hash IS NOT NULL AND retire_requested_at IS NULL AND sync_failing = 1"
            }
            Filter::Overdue => {
                "token_hash IS NOT NULL AND retire_requested_at IS NULL AND sync_failing = 0
                 AND next_sync_at < ?1"
            }
            Filter::NeverSynced => {
                "token_hash IS NOT NULL AND retire_requested_at IS NULL AND sync_failing = 0
                 AND last_sync_at IS NULL"
            }
            Filter::Retiring => "token_hash IS NOT NULL AND retire_requested_at IS NOT NULL",
            Filter::AwaitingEnrollment => {
                "token_hash IS NULL AND revoked_at IS NULL AND retired_at IS NULL"
            }
        }
    }
}

/// The order of a page; each has an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    Name,
    /// Oldest first: the admin API's order before pages existed.
    Created,
    /// Most recent first.
    LastSync,
    /// Soonest (most overdue) first.
    NextSync,
}

impl Sort {
    pub const ALL: [Sort; 4] = [Sort::Name, Sort::Created, Sort::LastSync, Sort::NextSync];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Created => "created",
            Sort::LastSync => "last_sync",
            Sort::NextSync => "next_sync",
        }
    }

    pub fn parse(s: &str) -> Option<Sort> {
        Sort::ALL.into_iter().find(|f| f.as_str() == s)
    }

    fn order_by(self, d: Dialect) -> String {
        match self {
            // Qualified: PostgreSQL finds `name` ambiguous beside the policy name selected.
            Sort::Name => "devices.name, devices.id".into(),
            Sort::Created => "devices.created_at, devices.id".into(),
            Sort::LastSync => format!(
                "devices.last_sync_at DESC{}, devices.id DESC",
                d.nulls_as_sqlite(true)
            ),
            Sort::NextSync => format!(
                "devices.next_sync_at{}, devices.id",
                d.nulls_as_sqlite(false)
            ),
        }
    }
}

/// What a page asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub filter: Filter,
    pub policy_id: Option<String>,
    pub user_id: Option<String>,
    pub sort: Sort,
    pub offset: usize,
    pub limit: usize,
}

/// One device of a page: the device and what its last report said.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    #[serde(flatten)]
    pub device: Device,
    pub user_name: Option<String>,
    pub policy_name: Option<String>,
    pub last_report_at: Option<String>,
    pub last_sync_at: Option<String>,
    pub next_sync_at: Option<String>,
    pub sync_failing: bool,
    pub contacts_on_device: u64,
    pub contacts_verified: bool,
}

/// A page, and whether another follows it (found by reading one row more, not by counting
/// the fleet).
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub rows: Vec<Row>,
    pub more: bool,
}

/// The overdue threshold for `now`, as stored times read.
pub fn overdue_threshold(now: DateTime<Utc>) -> String {
    repo::stamp(now - OVERDUE_GRACE)
}

pub fn page(conn: &Conn, q: &Query, now: DateTime<Utc>) -> Result<Page, ApiError> {
    let limit = q.limit.clamp(1, MAX_LIMIT);
    // An offset past any fleet SQLite can hold is an empty page, not an overflow.
    let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
    // `CAST(?1 …) IS NOT NULL` (the overdue threshold, never NULL) names ?1 for the filters
    // that do not use it: PostgreSQL refuses a statement with a parameter of unknown type.
    let sql = format!(
        "SELECT {cols}, (SELECT {display_name} FROM users u WHERE u.id = devices.user_id),
                (SELECT p.name FROM policies p WHERE p.id = devices.policy_id),
                last_report_at, last_sync_at, next_sync_at, sync_failing, contacts_on_device, contacts_verified
         FROM devices
         WHERE ({cond}) AND CAST(?1 AS TEXT) IS NOT NULL AND (CAST(?2 AS TEXT) IS NULL OR policy_id = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR user_id = ?3)
         ORDER BY {order} LIMIT ?4 OFFSET ?5",
        cols = repo::DEVICE_COLUMNS,
        display_name = conn.dialect().json_text("u.body", "display_name"),
        cond = q.filter.condition(),
        order = q.sort.order_by(conn.dialect()),
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows: Vec<Row> = stmt
        .query_map(
            params![
                overdue_threshold(now),
                q.policy_id,
                q.user_id,
                limit as i64 + 1,
                offset
            ],
            |r| {
                let device = repo::device_row(r)?;
                Ok(Row {
                    next_sync_at: device.expected_sync(r.get(16)?),
                    device,
                    user_name: r.get(12)?,
                    policy_name: r.get(13)?,
                    last_report_at: r.get(14)?,
                    last_sync_at: r.get(15)?,
                    sync_failing: r.get(17)?,
                    contacts_on_device: r.get::<_, i64>(18)?.max(0) as u64,
                    contacts_verified: r.get(19)?,
                })
            },
        )?
        .collect::<Result<_, _>>()?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    Ok(Page { rows, more })
}

/// How many devices each dashboard tile counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub all: u64,
    pub ok: u64,
    pub failing: u64,
    pub overdue: u64,
    pub never_synced: u64,
    pub retiring: u64,
    pub awaiting_enrollment: u64,
}

impl Counts {
    pub fn of(&self, f: Filter) -> u64 {
        match f {
            Filter::All => self.all,
            Filter::Ok => self.ok,
            Filter::Failing => self.failing,
            Filter::Overdue => self.overdue,
            Filter::NeverSynced => self.never_synced,
            Filter::Retiring => self.retiring,
            Filter::AwaitingEnrollment => self.awaiting_enrollment,
        }
    }
}

/// The fleet's counts, one pass over the devices table (the dashboard's price, not a page's).
pub fn counts(conn: &Conn, now: DateTime<Utc>) -> Result<Counts, ApiError> {
    let sql = format!(
        "SELECT COUNT(*), {} FROM devices",
        [
            Filter::Ok,
            Filter::Failing,
            Filter::Overdue,
            Filter::NeverSynced,
            Filter::Retiring,
            Filter::AwaitingEnrollment
        ]
        // CASE: PostgreSQL has no SUM of a boolean; CAST: its SUM of integers is NUMERIC.
        .map(|f| {
            format!(
                "CAST(COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0) AS BIGINT)",
                f.condition()
            )
        })
        .join(", ")
    );
    let n = |r: &crate::sql::Row, i| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([overdue_threshold(now)], |r| {
            Ok(Counts {
                all: n(r, 0)?,
                ok: n(r, 1)?,
                failing: n(r, 2)?,
                overdue: n(r, 3)?,
                never_synced: n(r, 4)?,
                retiring: n(r, 5)?,
                awaiting_enrollment: n(r, 6)?,
            })
        })?)
}

/// A report's times as the list compares them: UTC, the one stored form (`repo::stamp`).
fn utc(t: Option<&str>) -> Option<String> {
    t.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| repo::stamp(t.with_timezone(&Utc)))
}

/// Stores what the device list needs from a status report that just arrived, and the sync
/// run it reports when it is a new one. `verified`: the device's fingerprint matched what it
/// was sent, decided here once rather than on every page view.
pub fn record_report(
    tx: &Tx,
    device: &str,
    report: &StatusReport,
    verified: bool,
) -> Result<(), ApiError> {
    let received = repo::now();
    let last_sync = utc(report.last_sync_at.as_deref());
    let failing = report
        .last_sync_result
        .as_deref()
        .is_some_and(|r| r.starts_with("failed"));
    // Every sync ends with a report: statements cached, the trim only after a new run.
    tx.prepare_cached(
        "UPDATE devices SET last_report_at = ?2, last_sync_at = ?3, next_sync_at = ?4,
                sync_failing = ?5, contacts_on_device = ?6, contacts_verified = ?7
         WHERE id = ?1",
    )?
    .execute(params![
        device,
        received,
        last_sync,
        utc(report.next_sync_at.as_deref()),
        failing,
        report.managed_count.min(i64::MAX as u64) as i64,
        verified
    ])?;
    if let Some(at) = last_sync {
        let new_run = tx
            .prepare_cached(
                "INSERT INTO sync_runs (device_id, at, result, contacts, policy_version, received_at,
                                        reason, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (device_id, at) DO NOTHING",
            )?
            .execute(params![
                device,
                at,
                report.last_sync_result,
                report.managed_count.min(i64::MAX as u64) as i64,
                report.policy_version.map(|v| v.min(i64::MAX as u64) as i64),
                received,
                report.last_sync_reason.map(SyncReason::as_str),
                report
                    .last_sync_duration_ms
                    .map(|ms| ms.min(i64::MAX as u64) as i64)
            ])?;
        if new_run > 0 {
            tx.prepare_cached(
                "DELETE FROM sync_runs WHERE device_id = ?1 AND at NOT IN
                   (SELECT at FROM sync_runs WHERE device_id = ?1 ORDER BY at DESC LIMIT ?2)",
            )?
            .execute(params![device, RUNS_KEPT])?;
        }
    }
    Ok(())
}

/// One sync run a device reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub at: String,
    pub result: Option<String>,
    /// Business contacts on the device after it.
    pub contacts: u64,
    pub policy_version: Option<u64>,
    pub reported_at: String,
    /// Why it ran; `None` when an agent older than the field reported it.
    pub reason: Option<SyncReason>,
    pub duration_ms: Option<u64>,
}

/// The device's last `RUNS_KEPT` sync runs, newest first.
pub fn runs(conn: &Conn, device: &str) -> Result<Vec<Run>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, result, contacts, policy_version, received_at, reason, duration_ms
         FROM sync_runs
         WHERE device_id = ?1 ORDER BY at DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![device, RUNS_KEPT], |r| {
        Ok(Run {
            at: r.get(0)?,
            result: r.get(1)?,
            contacts: r.get::<_, i64>(2)?.max(0) as u64,
            policy_version: r.get::<_, Option<i64>>(3)?.map(|v| v.max(0) as u64),
            reported_at: r.get(4)?,
            reason: r
                .get::<_, Option<String>>(5)?
                .map(|w| SyncReason::parse(&w)),
            duration_ms: r.get::<_, Option<i64>>(6)?.map(|ms| ms.max(0) as u64),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether the device's contacts matched what it was sent, as decided when its last report
/// arrived; `None` before any report.
pub fn verified(conn: &Conn, device: &str) -> Result<Option<bool>, ApiError> {
    Ok(conn
        .prepare_cached(
            "SELECT contacts_verified FROM devices WHERE id = ?1 AND last_report_at IS NOT NULL",
        )?
        .query_row([device], |r| r.get(0))
        .optional()?)
}
