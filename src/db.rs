//! The one place that opens a SQLite file: pragmas, then migrations step by step from
//! `PRAGMA user_version`. Used by the phone-model store and the agent state.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("database {path} has schema version {found}, newer than this build knows ({known}); upgrade the agent")]
    TooNew {
        path: String,
        found: u32,
        known: u32,
    },
    #[error("migrating database {path} to schema version {version} failed: {source}")]
    Migrate {
        path: String,
        version: u32,
        source: rusqlite::Error,
    },
}

/// Opens (creating if needed) and migrates. Each migration runs in its own transaction
/// together with the `user_version` bump, so a killed process leaves a consistent version.
pub fn open(path: &Path, migrations: &[&str]) -> Result<Connection, OpenError> {
    let name = path.display().to_string();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| OpenError::Open {
        path: name.clone(),
        source,
    })?;
    prepare(conn, &name, migrations, true)
}

pub fn open_in_memory(migrations: &[&str]) -> Result<Connection, OpenError> {
    let conn = Connection::open_in_memory().map_err(|source| OpenError::Open {
        path: ":memory:".into(),
        source,
    })?;
    prepare(conn, ":memory:", migrations, false)
}

fn prepare(
    mut conn: Connection,
    name: &str,
    migrations: &[&str],
    wal: bool,
) -> Result<Connection, OpenError> {
    let open_err = |source| OpenError::Open {
        path: name.to_owned(),
        source,
    };
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(open_err)?;
    if wal {
        // WAL: readers (status, console) never block the sync's writer.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
    }
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open_err)?;
    let found: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(open_err)?;
    let known = migrations.len() as u32;
    if found > known {
        return Err(OpenError::TooNew {
            path: name.to_owned(),
            found,
            known,
        });
    }
    for (i, sql) in migrations.iter().enumerate().skip(found as usize) {
        let version = i as u32 + 1;
        let migrate_err = |source| OpenError::Migrate {
            path: name.to_owned(),
            version,
            source,
        };
        let tx = conn.transaction().map_err(migrate_err)?;
        tx.execute_batch(sql).map_err(migrate_err)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(migrate_err)?;
        tx.commit().map_err(migrate_err)?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    /// `.cargo/config.toml` builds the bundled SQLite without the process-wide page-cache
    /// group and allocation statistics (docs/decisions.md, "SQLite: one page cache per
    /// connection"); a build that lost the setting fails here rather than only getting slower.
    #[test]
    fn the_bundled_sqlite_has_no_process_wide_cache_or_statistics_mutex() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(options.iter().any(|o| o == "THREADSAFE=1"), "{options:?}");
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
    }
}
