//! Opens the server database and migrates it: SQLite by `user_version`, PostgreSQL by its
//! `schema_version` table. The versions mean the same schema on both; PostgreSQL's list starts
//! at 12 with a baseline (`schema_pg/12_baseline.sql`), and each later migration is written
//! for both engines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sql::{self, Conn, Database};

/// A SQLite schema version: its SQL, then (for the one that needs it) a step in Rust run in
/// the same transaction.
type Migration = (&'static str, Option<fn(&Conn) -> sql::Result<()>>);

const MIGRATIONS: &[Migration] = &[
    (include_str!("schema.sql"), None),
    (include_str!("schema_2_backups.sql"), None),
    (include_str!("schema_3_console.sql"), None),
    (include_str!("schema_4_devices.sql"), None),
    (include_str!("schema_5_policy_fields.sql"), None),
    (include_str!("schema_6_policy_schedule.sql"), None),
    (include_str!("schema_7_retired.sql"), None),
    (include_str!("schema_8_group_names.sql"), None),
    (include_str!("schema_9_contact_versions.sql"), None),
    (include_str!("schema_10_lifecycle.sql"), None),
    (
        include_str!("schema_11_entitled_sets.sql"),
        Some(crate::entitled_sets::migrate_snapshots),
    ),
    (include_str!("schema_12_device_list.sql"), None),
    (include_str!("schema_13_sync_run_reason.sql"), None),
    (
        include_str!("schema_14_set_chunks.sql"),
        Some(crate::entitled_sets::migrate_chunks),
    ),
    (
        include_str!("schema_15_versions_by_user.sql"),
        Some(crate::entitled_sets::migrate_versions),
    ),
    (include_str!("schema_16_users_id_hash.sql"), None),
];

/// PostgreSQL's migrations, by the version they bring the database to, each with the same
/// Rust step as SQLite's (11's, snapshots into entitled sets, is for databases older than the
/// baseline).
const PG_MIGRATIONS: &[(u32, Migration)] = &[
    (12, (include_str!("schema_pg/12_baseline.sql"), None)),
    (13, (include_str!("schema_pg/13_sync_run_reason.sql"), None)),
    (
        14,
        (
            include_str!("schema_pg/14_set_chunks.sql"),
            Some(crate::entitled_sets::migrate_chunks),
        ),
    ),
    (
        15,
        (
            include_str!("schema_pg/15_versions_by_user.sql"),
            Some(crate::entitled_sets::migrate_versions),
        ),
    ),
    (16, (include_str!("schema_pg/16_users_id_hash.sql"), None)),
];

/// The schema version this server writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("server database {path}: {source}")]
    Sql { path: String, source: sql::Error },
    #[error("server database {path} has schema version {found}, newer than this server ({known})")]
    TooNew {
        path: String,
        found: u32,
        known: u32,
    },
}

impl From<&Path> for Database {
    fn from(p: &Path) -> Database {
        Database::Sqlite(p.to_owned())
    }
}

impl From<&PathBuf> for Database {
    fn from(p: &PathBuf) -> Database {
        Database::Sqlite(p.clone())
    }
}

impl From<&Database> for Database {
    fn from(d: &Database) -> Database {
        d.clone()
    }
}

/// Opens the database and brings its schema to `SCHEMA_VERSION`.
pub fn open(db: impl Into<Database>) -> Result<Conn, DbError> {
    open_at(&db.into(), SCHEMA_VERSION)
}

/// Opens the database and migrates it up to `version` at most: upgrade tests freeze a schema
/// with it, then `open` the rest of the way.
pub fn open_at(db: &Database, version: u32) -> Result<Conn, DbError> {
    let name = db.display();
    let err = |source| DbError::Sql {
        path: name.clone(),
        source,
    };
    match db {
        Database::Sqlite(path) => open_sqlite(path, version).map_err(|e| match e {
            Opened::Sql(s) => err(s),
            Opened::TooNew(found) => DbError::TooNew {
                path: name.clone(),
                found,
                known: SCHEMA_VERSION,
            },
        }),
        Database::Postgres(url) => {
            let conn = Conn::connect_postgres(url).map_err(err)?;
            migrate_postgres(&conn, version).map_err(|e| match e {
                Opened::Sql(s) => err(s),
                Opened::TooNew(found) => DbError::TooNew {
                    path: name.clone(),
                    found,
                    known: SCHEMA_VERSION,
                },
            })?;
            Ok(conn)
        }
    }
}

/// The schema version the database is at.
pub fn schema_version(conn: &Conn) -> sql::Result<u32> {
    match conn.as_sqlite() {
        Some(c) => Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?),
        None => conn.query_row(
            "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM schema_version",
            sql::params![],
            |r| r.get(0),
        ),
    }
}

enum Opened {
    Sql(sql::Error),
    TooNew(u32),
}

impl From<sql::Error> for Opened {
    fn from(e: sql::Error) -> Self {
        Opened::Sql(e)
    }
}

impl From<rusqlite::Error> for Opened {
    fn from(e: rusqlite::Error) -> Self {
        Opened::Sql(e.into())
    }
}

fn open_sqlite(path: &Path, version: u32) -> Result<Conn, Opened> {
    let c = rusqlite::Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(10))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    // Checkpoints are the server's checkpoint thread's; a request's commit only past this.
    c.pragma_update(
        None,
        "wal_autocheckpoint",
        crate::checkpoint::BACKSTOP_PAGES,
    )?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    let conn = Conn::from_sqlite(c);
    let found = schema_version(&conn)?;
    if found > SCHEMA_VERSION {
        return Err(Opened::TooNew(found));
    }
    for (i, (sql, step)) in MIGRATIONS
        .iter()
        .enumerate()
        .take(version as usize)
        .skip(found as usize)
    {
        // IMMEDIATE: two workers starting at once must not both migrate.
        let tx = conn.transaction()?;
        let current = schema_version(&tx)?;
        if current as usize <= i {
            tx.execute_batch(sql)?;
            if let Some(step) = step {
                step(&tx)?;
            }
            if let Some(c) = tx.as_sqlite() {
                c.pragma_update(None, "user_version", i as u32 + 1)?;
            }
        }
        tx.commit()?;
    }
    Ok(conn)
}

/// Migrates under a session advisory lock: of two processes starting at once, one migrates
/// and the other waits for it, then finds the version already there.
fn migrate_postgres(conn: &Conn, version: u32) -> Result<(), Opened> {
    let lock = crate::sql::MIGRATION_LOCK;
    // However long another process's migration takes, wait for it (the connection's
    // lock_timeout is for requests).
    conn.execute_batch(&format!(
        "SET lock_timeout = 0; SELECT pg_advisory_lock({lock})"
    ))?;
    let migrated = (|| {
        conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
        let found = schema_version(conn)?;
        if found > SCHEMA_VERSION {
            return Err(Opened::TooNew(found));
        }
        for (v, (sql, step)) in PG_MIGRATIONS {
            if *v <= found || *v > version {
                continue;
            }
            (|| {
                conn.execute_batch(&format!("BEGIN; {sql}"))?;
                if let Some(step) = step {
                    step(conn)?;
                }
                conn.execute_batch(&format!(
                    "DELETE FROM schema_version; INSERT INTO schema_version VALUES ({v}); COMMIT"
                ))
            })()
            .inspect_err(|_| {
                let _ = conn.execute_batch("ROLLBACK");
            })?;
        }
        Ok(())
    })();
    let unlocked = conn.execute_batch(&format!(
        "SELECT pg_advisory_unlock({lock}); SET lock_timeout = '{}'",
        crate::sql::LOCK_TIMEOUT
    ));
    migrated?;
    Ok(unlocked?)
}
