//! The blocking side: one `Ctx` (and so one database connection) per worker, lent to a handler on
//! tokio's blocking threads. Requests wait for a worker on the async side, where waiting costs
//! a task, not a thread; the database is never called on the executor's threads.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::routes::Ctx;

pub struct Pool {
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Ctx>>,
}

impl Pool {
    pub fn new(ctxs: Vec<Ctx>) -> Arc<Pool> {
        Arc::new(Pool {
            permits: Arc::new(Semaphore::new(ctxs.len())),
            idle: Mutex::new(ctxs),
        })
    }

    /// Runs `f` with a worker's context on a blocking thread. The context goes back to the
    /// pool from that thread, so a client that hangs up mid-request (dropping this future)
    /// never loses a worker; a panic in `f` is an internal error, not a lost worker either.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Ctx) -> Result<T, ApiError> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Internal("the server is stopping".into()))?;
        let pool = Arc::clone(self);
        let job = tokio::task::spawn_blocking(move || {
            let Some(mut ctx) = pool.take() else {
                return Err(ApiError::Internal("no database worker free".into()));
            };
            let out = catch_unwind(AssertUnwindSafe(|| f(&mut ctx)))
                .unwrap_or_else(|_| Err(ApiError::Internal("a handler panicked".into())));
            pool.give_back(ctx);
            drop(permit);
            out
        });
        job.await
            .map_err(|e| ApiError::Internal(format!("worker task: {e}")))?
    }

    fn take(&self) -> Option<Ctx> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn give_back(&self, ctx: Ctx) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ctx);
    }
}
