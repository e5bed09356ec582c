//! The workers: the shared queue, a worker's loop, and the handle that
//! closes the pool.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::super::{BulkheadFull, Rejection};
use super::error::{panicked, PoolError};
use super::event::{ThreadPoolEvent, ThreadPoolEventKind, ThreadPoolEventListener};
use super::job::{lock, Job};
use crate::name::Name;

/// What the pool's threads share.
pub(super) struct Shared {
    pub(super) name: Name,
    pub(super) threads: usize,
    pub(super) queue_capacity: usize,
    pub(super) queue: Mutex<Queue>,
    /// Signalled when a job is queued or the pool closes.
    pub(super) work: Condvar,
    /// Signalled when a worker exits.
    pub(super) exited: Condvar,
    pub(super) active: AtomicUsize,
    pub(super) completed: AtomicU64,
    pub(super) cancelled: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) listeners: crate::listeners::Listeners<ThreadPoolEventListener>,
    #[cfg(feature = "metrics")]
    pub(super) metrics: super::super::metrics::PoolMetrics,
}

pub(super) struct Queue {
    pub(super) jobs: VecDeque<Job>,
    pub(super) idle: usize,
    pub(super) live: usize,
    pub(super) closed: bool,
}

/// One worker's context: how it runs async jobs.
pub(super) struct Worker {
    #[cfg(feature = "tokio")]
    pub(super) runtime: tokio::runtime::Runtime,
}

impl Worker {
    pub(super) fn new() -> std::io::Result<Self> {
        Ok(Self {
            #[cfg(feature = "tokio")]
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }

    /// Runs `fut` to completion on this thread: on the worker's own tokio
    /// runtime with the `tokio` feature (so tokio-based clients work),
    /// else on a minimal executor that parks the thread.
    pub(super) fn block_on<F: Future>(&self, fut: F) -> F::Output {
        #[cfg(feature = "tokio")]
        return self.runtime.block_on(fut);
        #[cfg(not(feature = "tokio"))]
        park_block_on(fut)
    }
}

#[cfg(not(feature = "tokio"))]
pub(super) fn park_block_on<F: Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

impl Shared {
    /// A worker: counted idle (and live) from before it starts, busy only
    /// while it runs a job.
    pub(super) fn worker_loop(&self, worker: &Worker) {
        let mut queue = lock(&self.queue);
        loop {
            let Some(job) = queue.jobs.pop_front() else {
                if queue.closed {
                    break;
                }
                queue = self.work.wait(queue).unwrap_or_else(|p| p.into_inner());
                continue;
            };
            queue.idle -= 1;
            #[cfg(feature = "metrics")]
            self.metrics.queued(queue.jobs.len());
            drop(queue);
            // Relaxed: statistics.
            self.active.fetch_add(1, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            self.metrics.started();
            // `Some(panicked)` from a job that ran to its end, `None` after
            // a cancelled one (which never reports); counted once either
            // way, and the counts before the event (a listener may panic).
            let finished = std::cell::Cell::new(false);
            let done = |ran: Option<bool>| {
                if finished.replace(true) {
                    return;
                }
                self.active.fetch_sub(1, Ordering::Relaxed);
                let count = match ran {
                    Some(_) => &self.completed,
                    None => &self.cancelled,
                };
                count.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "metrics")]
                self.metrics.finished(ran.is_some());
                lock(&self.queue).idle += 1;
                if let Some(panicked) = ran {
                    self.emit(ThreadPoolEventKind::Finished { panicked });
                }
            };
            let Job { run, reject } = job;
            // The job catches its own panics and its destructors'; this
            // catches the rest (a panicking listener), so that no panic
            // ever ends a worker the pool still counts.
            let ran = catch_unwind(AssertUnwindSafe(|| {
                run(worker, &|panicked| done(Some(panicked)));
            }));
            done(None);
            match ran {
                Ok(()) => drop(reject),
                Err(panic) => reject(panicked(self.name.clone(), panic)),
            }
            queue = lock(&self.queue);
        }
        queue.idle -= 1;
        queue.live -= 1;
        drop(queue);
        self.exited.notify_all();
    }

    pub(super) fn emit(&self, kind: ThreadPoolEventKind) {
        self.listeners.emit(|listener| {
            listener(&ThreadPoolEvent {
                name: self.name.as_str(),
                kind,
            })
        });
    }

    pub(super) fn rejection(&self, reason: Rejection) -> PoolError {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.emit(ThreadPoolEventKind::Rejected(reason));
        #[cfg(feature = "metrics")]
        self.metrics.rejected(reason);
        let limit = u32::try_from(self.threads).unwrap_or(u32::MAX);
        PoolError::Rejected(BulkheadFull::new(
            self.name.clone(),
            limit,
            reason,
            Duration::ZERO,
        ))
    }

    /// Queues `job`, or gives it back with the rejection.
    pub(super) fn submit(&self, job: Job) -> Result<(), (Job, PoolError)> {
        let mut queue = lock(&self.queue);
        if queue.closed {
            drop(queue);
            return Err((job, self.rejection(Rejection::ShutDown)));
        }
        // A job is taken if an idle worker can start it now or it fits in
        // the queue.
        if queue.jobs.len() >= queue.idle.saturating_add(self.queue_capacity) {
            drop(queue);
            return Err((job, self.rejection(Rejection::Full)));
        }
        queue.jobs.push_back(job);
        #[cfg(feature = "metrics")]
        self.metrics.queued(queue.jobs.len());
        drop(queue);
        self.emit(ThreadPoolEventKind::Accepted);
        self.work.notify_one();
        Ok(())
    }

    pub(super) fn close(&self) {
        lock(&self.queue).closed = true;
        self.work.notify_all();
    }
}

/// Closes the pool when the last [`ThreadPool`] handle is dropped.
pub(super) struct Handle {
    pub(super) shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Workers finish the queued jobs, then exit; nobody waits for them.
        self.shared.close();
    }
}
