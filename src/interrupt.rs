//! Interrupts that cannot be lost (the model: application-services'
//! `components/support/interrupt`). `interrupt()` bumps a counter; each call into the agent
//! takes a `Scope` once, at its start, and every long loop asks the scope whether the counter
//! moved since. Nothing ever resets the counter, so an interrupt that lands between two steps
//! of a call (during the command poll, between the sync and the backup) still stops it, and
//! one that landed before a call started never leaks into it. Work that blocks outside our
//! loops (an HTTP request on the wire) registers a hook that `interrupt()` runs to cut it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Hook = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Hooks {
    next: u64,
    by_id: HashMap<u64, Hook>,
}

/// The run was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the run was interrupted")]
pub struct Interrupted;

/// Held by whoever may stop the agent (the OS shell's `onStopJob`, a Ctrl-C handler).
#[derive(Clone, Default)]
pub struct Interruptor {
    counter: Arc<AtomicU64>,
    hooks: Arc<Mutex<Hooks>>,
}

impl Interruptor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops every call running now at its next check, and cuts the blocking work they
    /// registered. Calls started later are not affected.
    pub fn interrupt(&self) {
        self.counter.fetch_add(1, Ordering::SeqCst);
        let hooks = self.hooks.lock().unwrap_or_else(|p| p.into_inner());
        for hook in hooks.by_id.values() {
            hook();
        }
    }

    /// Taken once per call into the agent.
    pub fn scope(&self) -> Scope {
        Scope {
            counter: Arc::clone(&self.counter),
            start: self.counter.load(Ordering::SeqCst),
            hooks: Arc::clone(&self.hooks),
        }
    }
}

/// One call's view of the interrupt counter.
#[derive(Clone)]
pub struct Scope {
    counter: Arc<AtomicU64>,
    start: u64,
    hooks: Arc<Mutex<Hooks>>,
}

/// Keeps a hook registered; dropping it removes the hook.
pub struct HookGuard {
    hooks: Arc<Mutex<Hooks>>,
    id: u64,
}

impl Drop for HookGuard {
    fn drop(&mut self) {
        let mut hooks = self.hooks.lock().unwrap_or_else(|p| p.into_inner());
        hooks.by_id.remove(&self.id);
    }
}

/// How often a waiting scope looks at the counter.
const SLICE: Duration = Duration::from_millis(50);

impl Scope {
    /// A scope nobody can interrupt (tools, tests).
    pub fn never() -> Self {
        Interruptor::new().scope()
    }

    /// Runs `hook` when the agent is interrupted, for as long as the guard lives: how a
    /// blocking request gets cut instead of running to its timeout.
    pub fn on_interrupt(&self, hook: impl Fn() + Send + Sync + 'static) -> HookGuard {
        let mut hooks = self.hooks.lock().unwrap_or_else(|p| p.into_inner());
        hooks.next += 1;
        let id = hooks.next;
        hooks.by_id.insert(id, Box::new(hook));
        HookGuard {
            hooks: Arc::clone(&self.hooks),
            id,
        }
    }

    pub fn is_interrupted(&self) -> bool {
        self.counter.load(Ordering::SeqCst) != self.start
    }

    pub fn check(&self) -> Result<(), Interrupted> {
        if self.is_interrupted() {
            Err(Interrupted)
        } else {
            Ok(())
        }
    }

    /// Sleeps `d`, waking early (with `Interrupted`) when the call is interrupted.
    pub fn sleep(&self, d: Duration) -> Result<(), Interrupted> {
        let end = Instant::now() + d;
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep(SLICE.min(end - now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupt_before_the_scope_does_not_count() {
        let i = Interruptor::new();
        i.interrupt();
        let s = i.scope();
        assert_eq!(s.check(), Ok(()));
    }

    #[test]
    fn an_interrupt_after_the_scope_is_never_lost() {
        let i = Interruptor::new();
        let s = i.scope();
        i.interrupt();
        // Checked any number of times later: still interrupted (no flag to clear).
        assert_eq!(s.check(), Err(Interrupted));
        assert_eq!(s.check(), Err(Interrupted));
        assert_eq!(i.scope().check(), Ok(()));
    }

    #[test]
    fn hooks_run_on_interrupt_while_their_guard_lives() {
        let i = Interruptor::new();
        let s = i.scope();
        let hits = Arc::new(AtomicU64::new(0));
        let h = Arc::clone(&hits);
        let guard = s.on_interrupt(move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        i.interrupt();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        drop(guard);
        i.interrupt();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_sleep_wakes_up_when_interrupted() {
        let i = Interruptor::new();
        let s = i.scope();
        let other = i.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            other.interrupt();
        });
        let started = Instant::now();
        assert_eq!(s.sleep(Duration::from_secs(30)), Err(Interrupted));
        assert!(started.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }
}
