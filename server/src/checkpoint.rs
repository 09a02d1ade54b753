//! SQLite's WAL checkpoints on a thread of their own. By default the connection whose commit
//! takes the WAL past 1,000 pages copies it into the database there and then, inside that
//! request: at a first sync of 100,000 contacts (the server keeps every contact version it
//! sends) a third of the pages' commits did, 14–20 ms each, 1.3 s of the 1.9 s the pages spent
//! storing versions. Here the requests' connections checkpoint only past `BACKSTOP_PAGES`,
//! and this thread runs a PASSIVE checkpoint (it never waits for readers or writers) every
//! 200 ms; on a WAL with nothing new it copies nothing (docs/decisions.md). PostgreSQL has its
//! own.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sql::Conn;

/// How often the thread looks at the WAL.
const EVERY: Duration = Duration::from_millis(200);

/// A request's own commit still checkpoints past this many pages (64 MiB of 4 KiB pages), so
/// the WAL stays bounded should this thread stop or fall behind.
pub const BACKSTOP_PAGES: i64 = 16_384;

/// The running thread; dropping it stops the thread and waits for it.
pub struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database `conn` is open on (a SQLite connection of its own).
    pub fn start(conn: Conn) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || run(&conn, &stopped))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn run(conn: &Conn, stopped: &Receiver<()>) {
    let Some(c) = conn.as_sqlite() else {
        return;
    };
    loop {
        match stopped.recv_timeout(EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            // Stopped (or the server dropped): one last pass, then out.
            _ => {
                let _ = checkpoint(c);
                return;
            }
        }
        if let Err(e) = checkpoint(c) {
            log::warn!("WAL checkpoint failed (the next one retries): {e}");
        }
    }
}

/// A PASSIVE checkpoint: copies what no reader still needs and never blocks. Returns the
/// WAL's frames and how many are now in the database.
pub fn checkpoint(c: &rusqlite::Connection) -> rusqlite::Result<(i64, i64)> {
    c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_requests_connections_leave_the_wal_to_the_thread_which_copies_it_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = crate::db::open(path.as_path()).unwrap();
        let w = writer.as_sqlite().unwrap();
        w.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        // 1,500 pages: past SQLite's default of 1,000, under the backstop.
        for _ in 0..1_500 {
            w.execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                .unwrap();
        }
        let db_bytes = || std::fs::metadata(&path).unwrap().len();
        assert!(db_bytes() < 1_000_000, "a request's commit checkpointed");
        let running = Checkpointer::start(crate::db::open(path.as_path()).unwrap()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while db_bytes() < 1_500 * 4_000 {
            assert!(std::time::Instant::now() < deadline, "never checkpointed");
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(running);
        let rows: i64 = w
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1_500);
    }
}
