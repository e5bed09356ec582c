//! The future returned by [`CircuitBreaker::call`](super::CircuitBreaker::call).

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::permit::Ticket;
use super::state::Inner;
use super::Classify;
use crate::error::{CircuitOpen, Error};

pin_project! {
    /// A future guarded by a circuit breaker: the operation's future if the
    /// breaker admitted the call, or the rejection.
    ///
    /// # Cancel safety
    ///
    /// Dropping it before completion drops the operation and counts as a
    /// cancelled call (see [`Permit`](super::Permit)); a panic in the
    /// operation records a failure and keeps unwinding.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, Fut, C> {
        #[pin]
        inner: Guarded<Fut, &'a Inner, &'a C>,
    }
}

impl<'a, Fut, C> Call<'a, Fut, C> {
    pub(crate) fn new(inner: Guarded<Fut, &'a Inner, &'a C>) -> Self {
        Self { inner }
    }
}

impl<Fut, C, T, E> Future for Call<'_, Fut, C>
where
    Fut: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<Fut, C> std::fmt::Debug for Call<'_, Fut, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call").finish_non_exhaustive()
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
                let result = std::task::ready!(fut.poll(cx));
                ticket.finish(classifier.classify(&result));
                Poll::Ready(result.map_err(Error::Operation))
            }
            GuardedProj::Rejected { error } => Poll::Ready(Err(Error::CircuitOpen(
                error.take().expect("polled after completion"),
            ))),
        }
    }
}
