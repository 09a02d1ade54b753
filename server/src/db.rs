//! Opens the server database: pragmas and migrations by `user_version`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, Transaction};

/// A schema version: its SQL, then (for the one that needs it) a step in Rust run in the same
/// transaction.
type Migration = (
    &'static str,
    Option<fn(&Transaction) -> rusqlite::Result<()>>,
);

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
];

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("server database {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("server database {path} has schema version {found}, newer than this server ({known})")]
    TooNew {
        path: String,
        found: u32,
        known: u32,
    },
}

pub fn open(path: &Path) -> Result<Connection, DbError> {
    let name = path.display().to_string();
    let err = |source| DbError::Sqlite {
        path: name.clone(),
        source,
    };
    let mut conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(err)?;
    let found: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(err)?;
    if found as usize > MIGRATIONS.len() {
        return Err(DbError::TooNew {
            path: name,
            found,
            known: MIGRATIONS.len() as u32,
        });
    }
    for (i, (sql, step)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        // IMMEDIATE: two workers starting at once must not both migrate.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let current: u32 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        if current as usize <= i {
            tx.execute_batch(sql).map_err(err)?;
            if let Some(step) = step {
                step(&tx).map_err(err)?;
            }
            tx.pragma_update(None, "user_version", i as u32 + 1)
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
    }
    Ok(conn)
}
