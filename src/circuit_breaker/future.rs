//! The futures of a circuit breaker: [`CircuitBreakerCall`] from
//! [`CircuitBreaker::call`](super::CircuitBreaker::call), and
//! [`CircuitBreakerResponse`], the tower service's response future.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

#[cfg(feature = "tower")]
use super::error::CircuitOpen;
#[cfg(feature = "tower")]
use crate::lease::Lease;
use pin_project_lite::pin_project;

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
    /// and it runs; if not, `make` is never called and the first poll
    /// returns the rejection.
    ///
    /// # Cancel safety
    ///
    /// Dropping it before completion drops the operation and counts as a
    /// cancelled call (see [`Permit`](super::Permit)). A panic in the
    /// operation's own poll records a failure and keeps unwinding, also when
    /// the panic is then caught (`FutureExt::catch_unwind`, tower-http's
    /// `CatchPanicLayer`).
    #[must_use = "futures do nothing unless polled"]
    pub struct CircuitBreakerCall<'a, F, Fut, C> {
        // Declared first, so dropped first: the operation goes before its
        // admission is given back.
        #[pin]
        stage: Stage<F, Fut>,
        ticket: Ticket<&'a Inner>,
        classifier: &'a C,
    }
}

pin_project! {
    #[project = StageProj]
    #[project_replace = StageTaken]
    enum Stage<F, Fut> {
        Waiting { make: F },
        Running { #[pin] fut: Fut },
        Done,
    }
}

impl<'a, F, Fut, C> CircuitBreakerCall<'a, F, Fut, C> {
    #[inline]
    pub(crate) fn new(inner: &'a Inner, classifier: &'a C, make: F) -> Self {
        Self {
            stage: Stage::Waiting { make },
            ticket: Ticket::unarmed(inner),
            classifier,
        }
    }
}

impl<F, Fut, C, T, E> Future for CircuitBreakerCall<'_, F, Fut, C>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let StageProj::Waiting { .. } = this.stage.as_mut().project() {
            match this.ticket.breaker().acquire() {
                // The ticket first: if `make` panics, dropping the call
                // gives the admission back.
                Ok(admission) => this.ticket.arm(admission),
                Err(open) => {
                    this.stage.set(Stage::Done);
                    return Poll::Ready(Err(Error::CircuitOpen(open)));
                }
            }
            if let StageTaken::Waiting { make } = this.stage.as_mut().project_replace(Stage::Done) {
                this.stage.set(Stage::Running { fut: make() });
            }
        }
        match this.stage.project() {
            StageProj::Running { fut } => poll_admitted(fut, this.ticket, *this.classifier, cx),
            _ => panic!("`CircuitBreakerCall` polled after completion"),
        }
    }
}

impl<F, Fut, C> std::fmt::Debug for CircuitBreakerCall<'_, F, Fut, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreakerCall")
            .field("breaker", &self.ticket.breaker().name)
            .finish_non_exhaustive()
    }
}

/// Polls the operation of an admitted call and, when it is ready, records
/// how it ended. A panic in its poll records a failure and keeps unwinding.
#[inline(always)]
pub(crate) fn poll_admitted<Fut, R, K, T, E>(
    fut: Pin<&mut Fut>,
    ticket: &mut Ticket<R>,
    classifier: &K,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Error<E>>>
where
    Fut: Future<Output = Result<T, E>>,
    R: Deref<Target = Inner>,
    K: Classify<T, E> + ?Sized,
{
    let poll = crate::unwind::poll_noting_unwind(fut, cx, || {
        ticket.finish(Classification::Failure);
    });
    let result = std::task::ready!(poll);
    ticket.finish(classifier.classify(&result));
    Poll::Ready(result.map_err(Error::Operation))
}

#[cfg(feature = "tower")]
pin_project! {
    /// The response future of [`CircuitBreakerService`](super::CircuitBreakerService).
    ///
    /// # Cancel safety
    ///
    /// As [`CircuitBreakerCall`](super::CircuitBreakerCall): dropping it counts as a cancelled call.
    #[must_use = "futures do nothing unless polled"]
    pub struct CircuitBreakerResponse<F, C> {
        #[pin]
        pub(super) kind: Kind<F, C>,
    }
}

#[cfg(feature = "tower")]
pin_project! {
    #[project = KindProj]
    #[project_replace = KindTaken]
    pub(super) enum Kind<F, C> {
        Running {
            #[pin]
            fut: F,
            ticket: Ticket<Lease<Inner>>,
            classifier: C,
        },
        Rejected {
            error: CircuitOpen,
        },
        Done,
    }
}

#[cfg(feature = "tower")]
impl<F, C, T, E> Future for CircuitBreakerResponse<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        match kind.as_mut().project() {
            KindProj::Running {
                fut,
                ticket,
                classifier,
            } => poll_admitted(fut, ticket, classifier, cx),
            KindProj::Rejected { .. } => {
                let KindTaken::Rejected { error } = kind.project_replace(Kind::Done) else {
                    unreachable!("rejected above")
                };
                Poll::Ready(Err(Error::CircuitOpen(error)))
            }
            KindProj::Done => panic!("`CircuitBreakerResponse` polled after completion"),
        }
    }
}

#[cfg(feature = "tower")]
impl<F, C> std::fmt::Debug for CircuitBreakerResponse<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreakerResponse")
            .finish_non_exhaustive()
    }
}
