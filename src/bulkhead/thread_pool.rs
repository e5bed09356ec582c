//! The thread-pool bulkhead: a named pool of dedicated OS threads and a
//! bounded queue, Hystrix's isolation by thread pool.
//!
//! A dependency client that blocks, or hogs the CPU, runs on the pool's own
//! threads, so it cannot starve the caller's async runtime: the caller gets a
//! future of the result and keeps serving other work while it waits.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::{BulkheadFull, Rejection};
use crate::config_error::ConfigError;
use crate::name::Name;

/// Something that happened in a [`ThreadPool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolEvent<'a> {
    /// The pool's name (borrowed for the call: `to_string()` it to keep it).
    pub name: &'a str,
    /// What happened.
    pub kind: PoolEventKind,
}

/// A listener of PoolEvents.
pub(crate) type PoolEventListener = dyn for<'a> Fn(&PoolEvent<'a>) + Send + Sync;

/// What happened in a thread pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolEventKind {
    /// A job was accepted (it runs at once on an idle worker, or queues).
    Accepted,
    /// A job ran to its end on a worker (`panicked`: by panicking). A job
    /// cancelled while it ran reports nothing.
    Finished {
        /// The job panicked.
        panicked: bool,
    },
    /// A job was turned away.
    Rejected(Rejection),
}

/// A job that panicked on the pool: its caller gets this (the worker thread
/// survives). It displays the panic's message; which pool it was is
/// [`pool`](JobPanicked::pool), and the error around it says it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JobPanicked {
    pool: Name,
    message: String,
}

impl JobPanicked {
    /// The pool's name.
    pub fn pool(&self) -> &str {
        self.pool.as_str()
    }

    /// The panic's message, when it was a string.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Why a job submitted to a [`ThreadPool`] gave no result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The pool turned the job away: every worker busy and the queue full
    /// ([`Rejection::Full`]), or the pool shut down before the job ran
    /// ([`Rejection::ShutDown`]).
    #[error("thread pool `{}` rejected the job", .0.name())]
    Rejected(#[source] BulkheadFull),
    /// The job panicked.
    #[error("the job panicked on thread pool `{}`", .0.pool())]
    Panicked(#[source] JobPanicked),
}

impl<E> From<PoolError> for crate::Error<E> {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Rejected(full) => Self::BulkheadFull(full),
            PoolError::Panicked(panicked) => Self::Panicked(panicked),
        }
    }
}

/// Where a job's result meets its caller.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

struct SlotState<T> {
    result: Option<Result<T, PoolError>>,
    /// Woken when the result is set.
    caller: Option<Waker>,
    /// Woken when the caller gives up (a running async job is then
    /// dropped).
    worker: Option<Waker>,
    cancelled: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Jobs run outside every lock, so a poisoned lock only means a panic
    // between two lines of this file: the data is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T> Slot<T> {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(SlotState {
                result: None,
                caller: None,
                worker: None,
                cancelled: false,
            }),
        })
    }

    fn finish(&self, result: Result<T, PoolError>) {
        let waker = {
            let mut state = lock(&self.state);
            if state.cancelled {
                drop(state);
                // Nobody wants it, and its destructor is the job's code.
                drop_quietly(result);
                return;
            }
            state.result = Some(result);
            state.caller.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn is_cancelled(&self) -> bool {
        lock(&self.state).cancelled
    }
}

/// The future of a job's result, from [`ThreadPool::spawn_blocking`] or
/// [`ThreadPool::spawn`].
///
/// # Cancel safety
///
/// Dropping it cancels the job: a job still queued never runs; a running
/// async job is dropped at its next wake-up; a running blocking job cannot
/// be interrupted and runs to completion, its result discarded.
#[must_use = "futures do nothing unless polled; dropping this cancels the job"]
pub struct PoolJob<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Future for PoolJob<T> {
    type Output = Result<T, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(&self.slot.state);
        if let Some(result) = state.result.take() {
            return Poll::Ready(result);
        }
        match &mut state.caller {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for PoolJob<T> {
    fn drop(&mut self) {
        let worker = {
            let mut state = lock(&self.slot.state);
            state.cancelled = true;
            state.worker.take()
        };
        if let Some(worker) = worker {
            worker.wake();
        }
    }
}

impl<T> fmt::Debug for PoolJob<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolJob").finish_non_exhaustive()
    }
}

/// Drops `value`, catching a panic in its destructor. A worker drops what
/// jobs leave behind (a cancelled job, a result nobody wants, a future
/// after its panic): that is user code, and the worker must survive it.
fn drop_quietly<T>(value: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
}

/// How a worker runs a job: on its context, with a `done` signal.
type RunJob = Box<dyn FnOnce(&Worker, &dyn Fn(bool)) + Send>;

/// A queued job: runs on a worker, or is rejected if the pool shuts down
/// first.
struct Job {
    /// Runs the job; calls `done(panicked)` once the result is ready and
    /// before it is handed to the caller, so that a caller who submits
    /// again on seeing the result finds the worker idle.
    run: RunJob,
    reject: Box<dyn FnOnce(PoolError) + Send>,
}

/// What the pool's threads share.
struct Shared {
    name: Name,
    threads: usize,
    queue_capacity: usize,
    queue: Mutex<Queue>,
    /// Signalled when a job is queued or the pool closes.
    work: Condvar,
    /// Signalled when a worker exits.
    exited: Condvar,
    active: AtomicUsize,
    completed: AtomicU64,
    cancelled: AtomicU64,
    rejected: AtomicU64,
    listeners: crate::listeners::Listeners<PoolEventListener>,
    #[cfg(feature = "metrics")]
    metrics: super::metrics::PoolMetrics,
}

struct Queue {
    jobs: VecDeque<Job>,
    idle: usize,
    live: usize,
    closed: bool,
}

/// One worker's context: how it runs async jobs.
struct Worker {
    #[cfg(feature = "tokio")]
    runtime: tokio::runtime::Runtime,
}

impl Worker {
    fn new() -> std::io::Result<Self> {
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
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        #[cfg(feature = "tokio")]
        return self.runtime.block_on(fut);
        #[cfg(not(feature = "tokio"))]
        park_block_on(fut)
    }
}

#[cfg(not(feature = "tokio"))]
fn park_block_on<F: Future>(fut: F) -> F::Output {
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
    fn worker_loop(&self, worker: &Worker) {
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
                    self.emit(PoolEventKind::Finished { panicked });
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

    fn emit(&self, kind: PoolEventKind) {
        self.listeners.emit(|listener| {
            listener(&PoolEvent {
                name: self.name.as_str(),
                kind,
            })
        });
    }

    fn rejection(&self, reason: Rejection) -> PoolError {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.emit(PoolEventKind::Rejected(reason));
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
    fn submit(&self, job: Job) -> Result<(), (Job, PoolError)> {
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
        self.emit(PoolEventKind::Accepted);
        self.work.notify_one();
        Ok(())
    }

    fn close(&self) {
        lock(&self.queue).closed = true;
        self.work.notify_all();
    }
}

/// Closes the pool when the last [`ThreadPool`] handle is dropped.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Workers finish the queued jobs, then exit; nobody waits for them.
        self.shared.close();
    }
}

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
    pub fn on_event(&self, listener: impl Fn(&PoolEvent<'_>) + Send + Sync + 'static) {
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

fn panicked(pool: Name, panic: Box<dyn std::any::Any + Send>) -> PoolError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string());
    PoolError::Panicked(JobPanicked { pool, message })
}

/// An async job on the worker: made on first poll, dropped as soon as its
/// caller gives up, and a panic in its poll caught.
struct Cancellable<'s, F, Fut, T> {
    fut: Option<Pin<Box<Fut>>>,
    make: Option<F>,
    slot: &'s Slot<T>,
}

impl<F, Fut, T> Unpin for Cancellable<'_, F, Fut, T> {}

impl<F, Fut> Future for Cancellable<'_, F, Fut, Fut::Output>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    type Output = Option<Result<Fut::Output, Box<dyn std::any::Any + Send>>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        {
            let mut state = lock(&self.slot.state);
            if state.cancelled {
                drop(state);
                drop_quietly((self.fut.take(), self.make.take()));
                return Poll::Ready(None);
            }
            match &mut state.worker {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
        }
        let this = &mut *self;
        let polled = catch_unwind(AssertUnwindSafe(|| {
            let make = &mut this.make;
            let fut = this
                .fut
                .get_or_insert_with(|| Box::pin(make.take().expect("made once")()));
            let polled = fut.as_mut().poll(cx);
            if polled.is_ready() {
                // Its destructor is the job's code too: a panic there is
                // the job's panic.
                this.fut = None;
            }
            polled
        }));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Some(Ok(out))),
            Err(panic) => {
                // The first panic is the answer; a second one, from the
                // destructor of the future that just panicked, is dropped.
                drop_quietly(this.fut.take());
                Poll::Ready(Some(Err(panic)))
            }
        }
    }
}

/// Builds a [`ThreadPool`]; every setter says its default.
#[must_use]
#[derive(Debug)]
pub struct ThreadPoolBuilder {
    name: std::borrow::Cow<'static, str>,
    threads: usize,
    queue: usize,
}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        Self {
            name: std::borrow::Cow::Borrowed("default"),
            threads: 10,
            queue: 0,
        }
    }
}

/// The most worker threads a pool may have.
pub const MAX_THREADS: usize = 1024;

impl ThreadPoolBuilder {
    /// The name used in errors and thread names. Default `"default"`.
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Worker threads, in `1..=MAX_THREADS`. Default 10 (Hystrix's).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Jobs that may wait for a worker. Default 0 (Hystrix's): a job is
    /// taken only if a worker is idle.
    pub fn queue(mut self, capacity: usize) -> Self {
        self.queue = capacity;
        self
    }

    /// Checks the settings and starts the worker threads.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the bad field, or `threads` if the system
    /// could not start a thread (or a worker's runtime).
    pub fn build(self) -> Result<ThreadPool, ConfigError> {
        if self.threads == 0 || self.threads > MAX_THREADS {
            return Err(ConfigError::new(
                "threads",
                self.threads,
                "must be at least 1 and at most MAX_THREADS (1024)",
            ));
        }
        let name = Name::new(self.name.clone());
        let shared = Arc::new(Shared {
            name,
            threads: self.threads,
            queue_capacity: self.queue,
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                idle: 0,
                live: 0,
                closed: false,
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            active: AtomicUsize::new(0),
            completed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            listeners: crate::listeners::Listeners::new(),
            #[cfg(feature = "metrics")]
            metrics: super::metrics::PoolMetrics::new(&self.name),
        });
        let pool = ThreadPool {
            handle: Arc::new(Handle {
                shared: Arc::clone(&shared),
            }),
        };
        for i in 0..self.threads {
            let worker = Worker::new().map_err(|_| {
                ConfigError::new(
                    "threads",
                    self.threads,
                    "a worker's runtime could not start",
                )
            })?;
            let shared = Arc::clone(&shared);
            {
                let mut queue = lock(&shared.queue);
                queue.live += 1;
                queue.idle += 1;
            }
            let started = std::thread::Builder::new()
                .name(format!("{}-{i}", self.name))
                .spawn({
                    let shared = Arc::clone(&shared);
                    move || shared.worker_loop(&worker)
                });
            if started.is_err() {
                let mut queue = lock(&shared.queue);
                queue.live -= 1;
                queue.idle -= 1;
                drop(queue);
                // Dropping `pool` closes the pool; started workers exit.
                return Err(ConfigError::new(
                    "threads",
                    self.threads,
                    "the system could not start that many threads",
                ));
            }
        }
        Ok(pool)
    }
}
