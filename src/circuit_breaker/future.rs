//! The future returned by [`CircuitBreaker::call`](super::CircuitBreaker::call).

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::error::CircuitOpen;
use super::permit::Ticket;
use super::state::Inner;
use super::{Classification, Classify};
use crate::error::Error;

pin_project! {
    /// A future guarded by a circuit breaker, from
    /// [`CircuitBreaker::call`](super::CircuitBreaker::call).
    ///
    /// The breaker is asked on the first poll, which is also when the call's
    /// slow-call clock starts: a future built long before it is polled is
    /// judged by how long it ran, and holds no half-open place until then.
    /// If the breaker admits the call, `make` builds the operation's future
    /// and it runs; if not, `make` is never called and the future resolves
    /// to the rejection.
    ///
    /// # Cancel safety
    ///
    /// Dropping it before completion drops the operation and counts as a
    /// cancelled call (see [`Permit`](super::Permit)). A panic in the
    /// operation's own poll records a failure and keeps unwinding, also when
    /// the panic is then caught (`FutureExt::catch_unwind`, tower-http's
    /// `CatchPanicLayer`).
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, F, Fut, C> {
        inner: &'a Inner,
        classifier: &'a C,
        make: Option<F>,
        #[pin]
        guarded: Guarded<Fut, &'a Inner, &'a C>,
    }
}

impl<'a, F, Fut, C> Call<'a, F, Fut, C> {
    pub(crate) fn new(inner: &'a Inner, classifier: &'a C, make: F) -> Self {
        Self {
            inner,
            classifier,
            make: Some(make),
            guarded: Guarded::Idle,
        }
    }
}

impl<F, Fut, C, T, E> Future for Call<'_, F, Fut, C>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(make) = this.make.take() {
            let started = match this.inner.acquire() {
                Ok(admission) => {
                    // The ticket first: if `make` panics, it gives the
                    // admission back.
                    let ticket = Ticket::new(*this.inner, admission);
                    Guarded::running(make(), ticket, *this.classifier)
                }
                Err(open) => Guarded::rejected(open),
            };
            this.guarded.set(started);
        }
        this.guarded.poll(cx)
    }
}

impl<F, Fut, C> std::fmt::Debug for Call<'_, F, Fut, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("breaker", &self.inner.name)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The shared machinery of [`Call`] and the tower response future:
    /// holds the ticket (borrowed or owned breaker) and the classifier.
    #[project = GuardedProj]
    pub(crate) enum Guarded<Fut, R, C>
    where
        R: Deref<Target = Inner>,
    {
        Idle,
        Running {
            #[pin]
            fut: Fut,
            ticket: Ticket<R>,
            classifier: C,
        },
        Rejected {
            error: Option<CircuitOpen>,
        },
    }
}

impl<Fut, R: Deref<Target = Inner>, C> Guarded<Fut, R, C> {
    pub(crate) fn running(fut: Fut, ticket: Ticket<R>, classifier: C) -> Self {
        Self::Running {
            fut,
            ticket,
            classifier,
        }
    }

    pub(crate) fn rejected(error: CircuitOpen) -> Self {
        Self::Rejected { error: Some(error) }
    }
}

/// Records a failure if the operation's poll unwinds: dropped with its
/// ticket still inside only on the unwinding path.
pub(crate) struct FailOnUnwind<'t, R: Deref<Target = Inner>>(pub(crate) Option<&'t mut Ticket<R>>);

impl<R: Deref<Target = Inner>> Drop for FailOnUnwind<'_, R> {
    fn drop(&mut self) {
        if let Some(ticket) = self.0.take() {
            ticket.finish(Classification::Failure);
        }
    }
}

impl<Fut, R, C, K, T, E> Future for Guarded<Fut, R, C>
where
    Fut: Future<Output = Result<T, E>>,
    R: Deref<Target = Inner>,
    C: Deref<Target = K>,
    K: Classify<T, E> + ?Sized,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardedProj::Running {
                fut,
                ticket,
                classifier,
            } => {
                let mut guard = FailOnUnwind(Some(ticket));
                let poll = fut.poll(cx);
                let ticket = guard.0.take().expect("set above");
                let result = std::task::ready!(poll);
                ticket.finish(classifier.classify(&result));
                Poll::Ready(result.map_err(Error::Operation))
            }
            GuardedProj::Rejected { error } => Poll::Ready(Err(Error::CircuitOpen(
                error.take().expect("polled after completion"),
            ))),
            GuardedProj::Idle => unreachable!("a guarded future is started before it is polled"),
        }
    }
}
