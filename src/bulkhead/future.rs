//! The bulkhead's futures: [`Acquire`] (a place), [`BulkheadCall`] (a
//! guarded operation) and the waiting both share, and the tower services'
//! response futures [`BulkheadResponse`] and [`ThreadPoolResponse`].

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::permit::Place;
use super::semaphore::{Left, Waiter};
use super::{Admit, BulkheadFull, BulkheadPermit, Inner, Rejection};
use crate::error::Error;
#[cfg(feature = "tower")]
use crate::lease::Lease;
use crate::timer::BoxSleep;

/// A caller in the queue: resolves when it is granted a place (it then
/// holds it) or when its maximum wait passes. Dropped while queued, it
/// leaves the queue, and gives back a place granted in the meantime.
pub(crate) struct Wait<R: Deref<Target = Inner>> {
    inner: R,
    /// `None` once resolved.
    waiter: Option<Arc<Waiter>>,
    /// In a mutex only to be `Sync` (a tower service must be, for axum);
    /// reached by `get_mut`, never locked.
    sleep: Option<std::sync::Mutex<BoxSleep>>,
    since: u64,
}

impl<R: Deref<Target = Inner>> Wait<R> {
    pub(crate) fn new(inner: R, waiter: Arc<Waiter>) -> Self {
        let since = inner.now();
        let sleep = inner.sleep().map(std::sync::Mutex::new);
        Self {
            inner,
            waiter: Some(waiter),
            sleep,
            since,
        }
    }

    /// `Ok` once the caller holds a place; the rejection once the maximum
    /// wait has passed. If both happen by one poll, the place wins.
    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BulkheadFull>> {
        let waiter = self.waiter.as_ref().expect("polled after completion");
        if waiter.granted_or_register(cx.waker()) {
            self.resolve_granted();
            return Poll::Ready(Ok(()));
        }
        let expired = self.sleep.as_mut().is_some_and(|sleep| {
            let sleep = sleep.get_mut().unwrap_or_else(|p| p.into_inner());
            sleep.as_mut().poll(cx).is_ready()
        });
        if !expired {
            return Poll::Pending;
        }
        let waiter = self.waiter.take().expect("checked above");
        match self.inner.sem.leave(&waiter) {
            Left::Granted => {
                self.waiter = Some(waiter);
                self.resolve_granted();
                Poll::Ready(Ok(()))
            }
            Left::Queue => {
                #[cfg(feature = "metrics")]
                self.inner.metrics.queue(&self.inner.sem);
                // The timer fired: it waited the maximum wait, whatever the
                // clock (which may not be the timer's time) reads.
                let waited = self.inner.max_wait;
                Poll::Ready(Err(self.inner.rejected(Rejection::WaitTimedOut, waited)))
            }
        }
    }

    fn resolve_granted(&mut self) {
        self.waiter = None;
        let waited = self.waited();
        #[cfg(feature = "metrics")]
        self.inner.metrics.waited(waited, &self.inner.sem);
        self.inner.admitted(waited);
    }

    fn waited(&self) -> Duration {
        self.inner.waited_since(self.since)
    }
}

impl<R: Deref<Target = Inner>> Drop for Wait<R> {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            if self.inner.sem.leave(&waiter) == Left::Granted {
                self.inner.release();
            }
            #[cfg(feature = "metrics")]
            self.inner.metrics.queue(&self.inner.sem);
        }
    }
}

/// A place in a bulkhead, from [`Bulkhead::acquire`](super::Bulkhead::acquire):
/// waits in the queue if the bulkhead queues.
///
/// # Cancel safety
///
/// Dropping it while queued leaves the queue; a place granted just before
/// is given back. It never leaks a place.
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a> {
    state: AcquireState<'a>,
}

enum AcquireState<'a> {
    Start(&'a Inner),
    Waiting(Wait<&'a Inner>),
    Done,
}

impl<'a> Acquire<'a> {
    pub(crate) fn new(inner: &'a Inner) -> Self {
        Self {
            state: AcquireState::Start(inner),
        }
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<BulkheadPermit<'a>, BulkheadFull>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut self.state;
        if let AcquireState::Start(inner) = *this {
            match inner.admit() {
                Admit::Admitted => {
                    *this = AcquireState::Done;
                    return Poll::Ready(Ok(BulkheadPermit::new(inner)));
                }
                Admit::Queued(waiter) => *this = AcquireState::Waiting(Wait::new(inner, waiter)),
                Admit::Rejected(full) => {
                    *this = AcquireState::Done;
                    return Poll::Ready(Err(full));
                }
            }
        }
        let AcquireState::Waiting(wait) = this else {
            panic!("`Acquire` polled after completion");
        };
        let result = std::task::ready!(wait.poll_wait(cx));
        let inner = wait.inner;
        *this = AcquireState::Done;
        Poll::Ready(result.map(|()| BulkheadPermit::new(inner)))
    }
}

impl std::fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            AcquireState::Start(_) => "start",
            AcquireState::Waiting(_) => "waiting",
            AcquireState::Done => "done",
        };
        f.debug_struct("Acquire").field("state", &state).finish()
    }
}

pin_project! {
    /// A future guarded by a bulkhead, from
    /// [`Bulkhead::call`](super::Bulkhead::call).
    ///
    /// The bulkhead is asked on the first poll. Admitted, `make` builds the
    /// operation's future, which runs holding the place; the place is given
    /// back when it completes (success, error or panic) or is dropped.
    /// Queued, the future waits; rejected, it resolves to
    /// [`Error::BulkheadFull`] and `make` is never called.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the operation and gives the place back, or leaves
    /// the queue; it never leaks a place.
    #[must_use = "futures do nothing unless polled"]
    pub struct BulkheadCall<'a, F, Fut> {
        #[pin]
        stage: Stage<'a, F, Fut>,
        inner: &'a Inner,
    }
}

pin_project! {
    #[project = StageProj]
    #[project_replace = StageTaken]
    enum Stage<'a, F, Fut> {
        Start { make: F },
        Waiting { wait: Wait<&'a Inner>, make: F },
        Running {
            // Before the place: the operation is dropped first.
            #[pin]
            fut: Fut,
            place: Place<&'a Inner>,
        },
        Done,
    }
}

impl<'a, F, Fut> BulkheadCall<'a, F, Fut> {
    pub(crate) fn new(inner: &'a Inner, make: F) -> Self {
        Self {
            stage: Stage::Start { make },
            inner,
        }
    }
}

impl<F, Fut, T, E> Future for BulkheadCall<'_, F, Fut>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let inner: &Inner = this.inner;
        loop {
            match this.stage.as_mut().project() {
                StageProj::Start { .. } => match inner.admit() {
                    Admit::Admitted => {
                        if let StageTaken::Start { make } =
                            this.stage.as_mut().project_replace(Stage::Done)
                        {
                            // The place first: if `make` panics, it is
                            // given back as the stage unwinds.
                            let place = Place(inner);
                            this.stage.set(Stage::Running { fut: make(), place });
                        }
                    }
                    Admit::Queued(waiter) => {
                        if let StageTaken::Start { make } =
                            this.stage.as_mut().project_replace(Stage::Done)
                        {
                            let wait = Wait::new(inner, waiter);
                            this.stage.set(Stage::Waiting { wait, make });
                        }
                    }
                    Admit::Rejected(full) => {
                        this.stage.set(Stage::Done);
                        return Poll::Ready(Err(Error::BulkheadFull(full)));
                    }
                },
                StageProj::Waiting { wait, .. } => match std::task::ready!(wait.poll_wait(cx)) {
                    Ok(()) => {
                        if let StageTaken::Waiting { make, .. } =
                            this.stage.as_mut().project_replace(Stage::Done)
                        {
                            let place = Place(inner);
                            this.stage.set(Stage::Running { fut: make(), place });
                        }
                    }
                    Err(full) => {
                        this.stage.set(Stage::Done);
                        return Poll::Ready(Err(Error::BulkheadFull(full)));
                    }
                },
                StageProj::Running { fut, .. } => {
                    let result = std::task::ready!(fut.poll(cx));
                    // Completed: the place goes back now, not when this
                    // future is dropped.
                    this.stage.set(Stage::Done);
                    return Poll::Ready(result.map_err(Error::Operation));
                }
                StageProj::Done => panic!("`BulkheadCall` polled after completion"),
            }
        }
    }
}

impl<F, Fut> std::fmt::Debug for BulkheadCall<'_, F, Fut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkheadCall")
            .field("bulkhead", &self.inner.name)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "tower")]
pin_project! {
    /// The response future of [`BulkheadService`](super::BulkheadService):
    /// holds the place until the inner future completes or this is
    /// dropped.
    #[must_use = "futures do nothing unless polled"]
    pub struct BulkheadResponse<F> {
        #[pin]
        pub(super) kind: Kind<F>,
    }
}

#[cfg(feature = "tower")]
pin_project! {
    #[project = KindProj]
    #[project_replace = KindTaken]
    pub(super) enum Kind<F> {
        Running {
            #[pin]
            fut: F,
            place: Place<Lease<Inner>>,
        },
        Rejected {
            error: BulkheadFull,
        },
        Done,
    }
}

#[cfg(feature = "tower")]
impl<F, T, E> Future for BulkheadResponse<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        match kind.as_mut().project() {
            KindProj::Running { fut, .. } => {
                let result = std::task::ready!(fut.poll(cx));
                // Completed: the place goes back now.
                kind.set(Kind::Done);
                Poll::Ready(result.map_err(Error::Operation))
            }
            KindProj::Rejected { .. } => {
                let KindTaken::Rejected { error } = kind.project_replace(Kind::Done) else {
                    unreachable!("rejected above")
                };
                Poll::Ready(Err(Error::BulkheadFull(error)))
            }
            KindProj::Done => panic!("`BulkheadResponse` polled after completion"),
        }
    }
}

#[cfg(feature = "tower")]
impl<F> std::fmt::Debug for BulkheadResponse<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkheadResponse").finish_non_exhaustive()
    }
}

#[cfg(feature = "tower")]
/// The response future of [`ThreadPoolService`](super::ThreadPoolService).
#[must_use = "futures do nothing unless polled; dropping this cancels the job"]
pub struct ThreadPoolResponse<T, E> {
    pub(super) job: super::PoolJob<Result<T, E>>,
}

#[cfg(feature = "tower")]
impl<T, E> Future for ThreadPoolResponse<T, E> {
    type Output = Result<T, Error<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match std::task::ready!(Pin::new(&mut self.job).poll(cx)) {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(Error::Operation(e)),
            Err(pool) => Err(pool.into()),
        })
    }
}

#[cfg(feature = "tower")]
impl<T, E> std::fmt::Debug for ThreadPoolResponse<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPoolResponse").finish_non_exhaustive()
    }
}
