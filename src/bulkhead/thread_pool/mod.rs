//! The thread-pool bulkhead: a named pool of dedicated OS threads and a
//! bounded queue, Hystrix's isolation by thread pool.
//!
//! A dependency client that blocks, or hogs the CPU, runs on the pool's own
//! threads, so it cannot starve the caller's async runtime: the caller gets a
//! future of the result and keeps serving other work while it waits.
//!
//! Files: `event` (what happened), `error` (what a caller gets instead of a
//! result), `job` (a job's result slot and future), `worker` (the queue and
//! the workers' loop), `builder` (settings and start-up).

mod builder;
mod error;
mod event;
mod job;
mod worker;

pub use builder::{ThreadPoolBuilder, MAX_THREADS};
pub use error::{JobPanicked, PoolError};
pub use event::{ThreadPoolEvent, ThreadPoolEventKind};
pub use job::PoolJob;

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::error::panicked;
use self::job::{drop_quietly, lock, Cancellable, Job, Slot};
use self::worker::{Handle, Shared, Worker};
use super::Rejection;
use crate::name::Name;

/// A thread-pool bulkhead: `threads` dedicated OS threads and a bounded
/// queue. Cheap to clone: clones share one pool.
///
/// It takes blocking closures ([`spawn_blocking`](Self::spawn_blocking))
/// and async jobs ([`spawn`](Self::spawn)) and hands back a future of the
/// result, awaitable from any executor or none. A job is accepted if an
/// idle worker can start it at once or it fits in the queue; otherwise it
/// is rejected at once ([`Rejection::Full`]): the caller never blocks.
///
/// - Async jobs run on the worker's own current-thread tokio runtime (with
///   the `tokio` feature, so tokio-based clients such as reqwest and tonic
///   work inside the pool); without it, on a minimal executor that parks
///   the worker.
/// - Dropping the result future cancels the job: queued, it never runs;
///   running async, it is dropped at its next wake-up; **running blocking,
///   it cannot be interrupted and runs to completion** (its result is
///   discarded).
/// - A panicking job becomes [`PoolError::Panicked`] for its caller; the
///   worker survives. So it does a panic in anything a worker drops (a
///   cancelled job, a result nobody waits for) or in an event listener.
/// - With the `tracing` feature, the caller's current span is entered
///   around the job on the worker.
///
/// # Shutdown
///
/// When the last handle is dropped the pool takes no more jobs; its
/// workers run the jobs already queued, then exit (nobody waits for them).
/// [`shutdown`](Self::shutdown) does the same but waits up to a deadline:
/// jobs still queued at the deadline are rejected with
/// [`Rejection::ShutDown`] and never run.
///
/// # Examples
///
/// ```
/// use palisade::bulkhead::ThreadPool;
///
/// let pool = ThreadPool::builder().name("legacy-db").threads(2).queue(8).build()?;
/// let sum = futures::executor::block_on(pool.spawn_blocking(|| (1..=10).sum::<u32>()));
/// assert_eq!(sum.unwrap(), 55);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ThreadPool {
    handle: Arc<Handle>,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("name", &self.handle.shared.name)
            .field("threads", &self.handle.shared.threads)
            .field("queue", &self.handle.shared.queue_capacity)
            .finish_non_exhaustive()
    }
}

/// A reading of a [`ThreadPool`], from [`ThreadPool::metrics`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThreadPoolMetrics {
    /// Jobs waiting in the queue.
    pub queued: usize,
    /// Workers running a job now.
    pub active: usize,
    /// Worker threads alive.
    pub threads: usize,
    /// Jobs run to the end (including panicked ones).
    pub completed: u64,
    /// Jobs whose caller gave up before they ran to the end: dropped while
    /// queued, or async jobs dropped while running. (A running blocking
    /// job cannot be stopped: it runs to the end and counts as completed.)
    pub cancelled: u64,
    /// Jobs rejected (full or shut down).
    pub rejected: u64,
}

/// How [`ThreadPool::shutdown`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shutdown {
    /// Every worker exited before the deadline.
    pub finished: bool,
    /// Jobs still queued at the deadline, rejected without running.
    pub cancelled: usize,
}

impl ThreadPool {
    /// A builder with the defaults written on each setter.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        self.shared().name.as_str()
    }

    /// Runs `f` on a worker thread. For blocking code: synchronous clients,
    /// file and database drivers, CPU-heavy work.
    pub fn spawn_blocking<T, F>(&self, f: F) -> PoolJob<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        #[cfg(feature = "tracing")]
        let span = tracing::Span::current();
        self.submit(
            move |slot: &Slot<T>, pool: Name, _worker: &Worker, done: &dyn Fn(bool)| {
                #[cfg(feature = "tracing")]
                let _entered = span.enter();
                let result = catch_unwind(AssertUnwindSafe(f));
                done(result.is_err());
                slot.finish(result.map_err(|panic| panicked(pool, panic)));
            },
        )
    }

    /// Runs the future `make()` returns on a worker thread, on the worker's
    /// own runtime. `make` is called on the worker, so the future need not
    /// be `Send`.
    pub fn spawn<F, Fut>(&self, make: F) -> PoolJob<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        #[cfg(feature = "tracing")]
        let span = tracing::Span::current();
        self.submit(
            move |slot: &Slot<Fut::Output>, pool: Name, worker: &Worker, done: &dyn Fn(bool)| {
                #[cfg(feature = "tracing")]
                let _entered = span.enter();
                let guarded = Cancellable {
                    fut: None,
                    make: Some(make),
                    slot,
                };
                match worker.block_on(guarded) {
                    Some(Ok(out)) => {
                        done(false);
                        slot.finish(Ok(out));
                    }
                    Some(Err(panic)) => {
                        done(true);
                        slot.finish(Err(panicked(pool, panic)));
                    }
                    None => {} // cancelled: the caller is gone
                }
            },
        )
    }

    fn submit<T, R>(&self, run: R) -> PoolJob<T>
    where
        T: Send + 'static,
        R: FnOnce(&Slot<T>, Name, &Worker, &dyn Fn(bool)) + Send + 'static,
    {
        let slot = Slot::new();
        let pool = self.shared().name.clone();
        let job = Job {
            run: {
                let slot = Arc::clone(&slot);
                Box::new(move |worker: &Worker, done: &dyn Fn(bool)| {
                    if slot.is_cancelled() {
                        // It holds the caller's closure: user code.
                        drop_quietly(run);
                    } else {
                        run(&slot, pool, worker, done);
                    }
                })
            },
            reject: {
                let slot = Arc::clone(&slot);
                Box::new(move |e| slot.finish(Err(e)))
            },
        };
        if let Err((job, e)) = self.shared().submit(job) {
            (job.reject)(e);
        }
        PoolJob { slot }
    }

    /// Calls `listener` on every event (accepted, finished, rejected
    /// jobs), on the thread where it happened (the caller's, or the
    /// worker's for `Finished`), reached without a lock. Events of one job
    /// from two threads may arrive in either order.
    pub fn on_event(&self, listener: impl Fn(&ThreadPoolEvent<'_>) + Send + Sync + 'static) {
        self.shared().listeners.add(Box::new(listener));
    }

    /// Queue depth, active workers, completed and rejected jobs, read now.
    pub fn metrics(&self) -> ThreadPoolMetrics {
        let shared = self.shared();
        let queue = lock(&shared.queue);
        ThreadPoolMetrics {
            queued: queue.jobs.len(),
            active: shared.active.load(Ordering::Relaxed),
            threads: queue.live,
            completed: shared.completed.load(Ordering::Relaxed),
            cancelled: shared.cancelled.load(Ordering::Relaxed),
            rejected: shared.rejected.load(Ordering::Relaxed),
        }
    }

    /// Stops taking jobs and waits up to `deadline` for the queued and
    /// running ones to finish. Jobs still queued at the deadline are
    /// rejected with [`Rejection::ShutDown`] and never run; running
    /// blocking jobs cannot be interrupted and finish on their own. Every
    /// handle then sees a closed pool. Blocks the calling thread (from
    /// async code, call it from a blocking task). `Duration::MAX` waits as
    /// long as it takes.
    pub fn shutdown(&self, deadline: Duration) -> Shutdown {
        let shared = self.shared();
        shared.close();
        // `None`: a deadline too far to represent (`Duration::MAX`), wait
        // as long as it takes.
        let until = Instant::now().checked_add(deadline);
        let mut queue = lock(&shared.queue);
        while queue.live > 0 {
            queue = match until {
                Some(until) => {
                    let now = Instant::now();
                    if now >= until {
                        break;
                    }
                    shared
                        .exited
                        .wait_timeout(queue, until - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => shared.exited.wait(queue).unwrap_or_else(|p| p.into_inner()),
            };
        }
        let finished = queue.live == 0;
        let left: Vec<Job> = queue.jobs.drain(..).collect();
        #[cfg(feature = "metrics")]
        shared.metrics.queued(0);
        drop(queue);
        let cancelled = left.len();
        for Job { run, reject } in left {
            drop_quietly(run);
            reject(shared.rejection(Rejection::ShutDown));
        }
        Shutdown {
            finished,
            cancelled,
        }
    }
}
