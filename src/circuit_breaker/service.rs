use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use std::ops::Deref;

use super::future::Guarded;
use super::permit::Ticket;
use super::state::Inner;
use super::{CircuitBreaker, Classify, DefaultClassifier};
use crate::error::Error;

/// A tower [`Service`] guarded by a [`CircuitBreaker`]; made by
/// [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
///
/// Admission happens in `poll_ready`: a rejecting breaker returns
/// [`Error::CircuitOpen`] from `poll_ready` without polling the inner
/// service's readiness, and the inner service is never called. The
/// permission rides in the response future and is released when it
/// completes or is dropped. A clone starts without a reserved permission.
/// An error from the inner service's `poll_ready` is classified and recorded
/// like a call's error.
pub struct CircuitBreakerService<S, C = DefaultClassifier> {
    inner: S,
    breaker: CircuitBreaker<C>,
    ticket: Option<Ticket<Arc<Inner>>>,
}

impl<S, C> CircuitBreakerService<S, C> {
    /// `inner` guarded by `breaker`.
    pub fn new(inner: S, breaker: CircuitBreaker<C>) -> Self {
        Self {
            inner,
            breaker,
            ticket: None,
        }
    }

    /// The guarding breaker.
    pub fn breaker(&self) -> &CircuitBreaker<C> {
        &self.breaker
    }

    fn admit(&mut self) -> Result<Ticket<Arc<Inner>>, crate::CircuitOpen> {
        match self.ticket.take() {
            Some(ticket) => Ok(ticket),
            None => {
                let admission = self.breaker.inner.acquire()?;
                Ok(Ticket::new(Arc::clone(&self.breaker.inner), admission))
            }
        }
    }
}

impl<S: Clone, C: Clone> Clone for CircuitBreakerService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            ticket: None,
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreakerService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .field("reserved", &self.ticket.is_some())
            .finish()
    }
}

impl<S, C, Req> Service<Req> for CircuitBreakerService<S, C>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let ticket = match self.admit() {
            Ok(ticket) => ticket,
            Err(open) => return Poll::Ready(Err(Error::CircuitOpen(open))),
        };
        match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => {
                self.ticket = Some(ticket);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                self.ticket = Some(ticket);
                Poll::Pending
            }
            Poll::Ready(Err(e)) => {
                let result: Result<S::Response, S::Error> = Err(e);
                ticket.complete(self.breaker.classifier.classify(&result));
                Poll::Ready(result.map(|_| ()).map_err(Error::Operation))
            }
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // Normally reserved by `poll_ready`; a caller that skipped it gets a
        // fresh admission here rather than a panic.
        let reserved = self.ticket.is_some();
        let inner = match self.admit() {
            Ok(mut ticket) => {
                if reserved {
                    // Admitted in `poll_ready`: waiting for readiness is not
                    // part of the call's duration.
                    ticket.restart();
                }
                Guarded::running(
                    self.inner.call(req),
                    ticket,
                    ByValue(self.breaker.classifier.clone()),
                )
            }
            Err(open) => Guarded::rejected(open),
        };
        ResponseFuture { inner }
    }
}

pin_project! {
    /// The response future of [`CircuitBreakerService`].
    ///
    /// # Cancel safety
    ///
    /// As [`Call`](super::Call): dropping it counts as a cancelled call.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: Guarded<F, Arc<Inner>, ByValue<C>>,
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// A classifier held by value where [`Guarded`] expects a reference.
#[derive(Clone, Debug)]
pub(crate) struct ByValue<C>(pub(crate) C);

impl<C> Deref for ByValue<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}
