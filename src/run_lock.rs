//! One run at a time per state folder, across processes and inside one: an exclusive lock
//! on `run.lock` beside the state file. Two `contacts-agent sync` on one home, or two
//! `Agent`s of one app on the same folder, would otherwise interleave their batches and — since
//! ContactsProvider does not keep SOURCE_ID unique — insert the same contact twice.
//!
//! The lock is the OS's advisory file lock (`flock` on Linux and Android): it belongs to the
//! open file, so two opens in one process exclude each other too, and the kernel drops it
//! when the process dies, so a killed run never leaves a stale lock behind. The lock file
//! itself stays; its presence means nothing.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::interrupt::Scope;

/// Held for the length of one run; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// How often a waiting run tries the lock again.
const POLL: Duration = Duration::from_millis(100);

pub fn lock_path(state_path: &Path) -> PathBuf {
    state_path.with_file_name("run.lock")
}

impl RunLock {
    /// Takes the lock, waiting up to `wait` for a run that holds it; then fails with
    /// `Error::Busy`. The wait ends early when the call is interrupted.
    pub fn acquire(path: &Path, wait: Duration, scope: &Scope) -> Result<RunLock, Error> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::Io(format!("opening the run lock: {e}")))?;
        let started = Instant::now();
        let mut logged = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(RunLock { _file: file }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => {
                    return Err(Error::Io(format!("taking the run lock: {e}")))
                }
            }
            if started.elapsed() >= wait {
                return Err(Error::Busy {
                    waited_secs: wait.as_secs(),
                });
            }
            if !logged {
                log::info!("another run holds the state folder; waiting up to {wait:?}");
                logged = true;
            }
            scope.sleep(POLL)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_waits_then_fails_with_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.lock");
        let never = Scope::never();
        let first = RunLock::acquire(&path, Duration::ZERO, &never).unwrap();
        let started = Instant::now();
        let err = RunLock::acquire(&path, Duration::from_millis(300), &never).unwrap_err();
        assert!(matches!(err, Error::Busy { .. }), "{err}");
        assert!(err.to_string().contains("another run is in progress"));
        assert!(started.elapsed() >= Duration::from_millis(300));
        drop(first);
        RunLock::acquire(&path, Duration::ZERO, &never).unwrap();
    }

    #[test]
    fn a_waiting_run_gets_the_lock_when_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.lock");
        let first = RunLock::acquire(&path, Duration::ZERO, &Scope::never()).unwrap();
        let p = path.clone();
        let waiter = std::thread::spawn(move || {
            RunLock::acquire(&p, Duration::from_secs(20), &Scope::never()).map(|_| ())
        });
        std::thread::sleep(Duration::from_millis(200));
        drop(first);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn a_lock_held_by_a_killed_process_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.lock");
        // util-linux `flock` takes the same kind of lock (flock(2)) in another process; `-o`
        // keeps it in that process alone (not inherited by the command it waits for).
        let Ok(mut holder) = std::process::Command::new("flock")
            .arg("-o")
            .arg(&path)
            .args(["sleep", "30"])
            .spawn()
        else {
            panic!("the `flock` command (util-linux) is needed for this test");
        };
        // Wait until the child really holds it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while RunLock::acquire(&path, Duration::ZERO, &Scope::never()).is_ok() {
            assert!(Instant::now() < deadline, "the child never took the lock");
            std::thread::sleep(Duration::from_millis(20));
        }
        // SIGKILL: the holder never gets to unlock; the kernel drops the lock with it.
        holder.kill().unwrap();
        holder.wait().unwrap();
        RunLock::acquire(&path, Duration::from_secs(5), &Scope::never())
            .expect("a killed holder's lock is released by the kernel");
    }
}
