//! A job: the slot where its result meets its caller, the future of that
//! result, and an async job guarded on the worker.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::error::PoolError;
use super::worker::Worker;

/// Where a job's result meets its caller.
pub(super) struct Slot<T> {
    pub(super) state: Mutex<SlotState<T>>,
}

pub(super) struct SlotState<T> {
    pub(super) result: Option<Result<T, PoolError>>,
    /// Woken when the result is set.
    pub(super) caller: Option<Waker>,
    /// Woken when the caller gives up (a running async job is then
    /// dropped).
    pub(super) worker: Option<Waker>,
    pub(super) cancelled: bool,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Jobs run outside every lock, so a poisoned lock only means a panic
    // between two lines of this file: the data is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T> Slot<T> {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(SlotState {
                result: None,
                caller: None,
                worker: None,
                cancelled: false,
            }),
        })
    }

    pub(super) fn finish(&self, result: Result<T, PoolError>) {
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

    pub(super) fn is_cancelled(&self) -> bool {
        lock(&self.state).cancelled
    }
}

/// The future of a job's result, from [`ThreadPool::spawn_blocking`](super::ThreadPool::spawn_blocking) or
/// [`ThreadPool::spawn`](super::ThreadPool::spawn).
///
/// # Cancel safety
///
/// Dropping it cancels the job: a job still queued never runs; a running
/// async job is dropped at its next wake-up; a running blocking job cannot
/// be interrupted and runs to completion, its result discarded.
#[must_use = "futures do nothing unless polled; dropping this cancels the job"]
pub struct PoolJob<T> {
    pub(super) slot: Arc<Slot<T>>,
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
pub(super) fn drop_quietly<T>(value: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
}

/// How a worker runs a job: on its context, with a `done` signal.
pub(super) type RunJob = Box<dyn FnOnce(&Worker, &dyn Fn(bool)) + Send>;

/// A queued job: runs on a worker, or is rejected if the pool shuts down
/// first.
pub(super) struct Job {
    /// Runs the job; calls `done(panicked)` once the result is ready and
    /// before it is handed to the caller, so that a caller who submits
    /// again on seeing the result finds the worker idle.
    pub(super) run: RunJob,
    pub(super) reject: Box<dyn FnOnce(PoolError) + Send>,
}

/// An async job on the worker: made on first poll, dropped as soon as its
/// caller gives up, and a panic in its poll caught.
pub(super) struct Cancellable<'s, F, Fut, T> {
    pub(super) fut: Option<Pin<Box<Fut>>>,
    pub(super) make: Option<F>,
    pub(super) slot: &'s Slot<T>,
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
