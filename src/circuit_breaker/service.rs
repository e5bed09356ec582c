use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use super::error::CircuitOpen;
use super::future::poll_admitted;
use super::permit::Ticket;
use super::state::{Admission, Inner};
use super::{CircuitBreaker, Classify, DefaultClassifier};
use crate::error::Error;
use crate::lease::{Lease, Leases};

/// A tower [`Service`] guarded by a [`CircuitBreaker`]; made by
/// [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
///
/// It keeps the tower contract: `poll_ready` never fails because of the
/// breaker (tower reads an error there as a dead service, and `Buffer`,
/// `balance` and `ready_cache` drop or poison it). When the breaker rejects,
/// `poll_ready` returns `Ready(Ok(()))` without polling the inner service's
/// readiness, and the future that `call` returns resolves to
/// [`Error::CircuitOpen`] without calling the inner service, as
/// `tower::load_shed` does.
///
/// The admission made in `poll_ready` is checked again in `call`: if the
/// breaker changed state in between, it is given back and the call is
/// admitted afresh (or rejected). A service dropped with an admission it
/// never used records nothing. The permission rides in the response future
/// and is released when it completes or is dropped. A clone starts without
/// a reservation. An error from the inner service's own `poll_ready` passes
/// through as [`Error::Operation`], classified and recorded like a call's
/// error.
pub struct CircuitBreakerService<S, C = DefaultClassifier> {
    inner: S,
    breaker: CircuitBreaker<C>,
    /// What this service's response futures hold (see `lease.rs`).
    lease: Lease<Inner>,
    leases: Arc<Leases<Inner>>,
    reserved: Reserved,
}

/// What `poll_ready` decided for the next `call`: an admission held by the
/// service itself (the breaker's `Arc` is cloned only into the response
/// future), or the rejection to return.
enum Reserved {
    Nothing,
    Admitted(Admission),
    Rejected(CircuitOpen),
}

impl<S, C> CircuitBreakerService<S, C> {
    /// `inner` guarded by `breaker`.
    pub fn new(inner: S, breaker: CircuitBreaker<C>) -> Self {
        let leases = Arc::new(Leases::new(&breaker.inner));
        Self::with_leases(inner, breaker, leases)
    }

    pub(crate) fn with_leases(
        inner: S,
        breaker: CircuitBreaker<C>,
        leases: Arc<Leases<Inner>>,
    ) -> Self {
        Self {
            inner,
            breaker,
            lease: leases.take(),
            leases,
            reserved: Reserved::Nothing,
        }
    }

    /// The guarding breaker.
    pub fn breaker(&self) -> &CircuitBreaker<C> {
        &self.breaker
    }
}

impl<S, C> Drop for CircuitBreakerService<S, C> {
    fn drop(&mut self) {
        if let Reserved::Admitted(admission) = self.reserved {
            self.breaker.inner.release(admission);
        }
    }
}

impl<S: Clone, C: Clone> Clone for CircuitBreakerService<S, C> {
    fn clone(&self) -> Self {
        Self::with_leases(
            self.inner.clone(),
            self.breaker.clone(),
            Arc::clone(&self.leases),
        )
    }
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreakerService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .field("reserved", &matches!(self.reserved, Reserved::Admitted(_)))
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

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !matches!(self.reserved, Reserved::Admitted(_)) {
            match self.breaker.inner.reserve() {
                Ok(admission) => self.reserved = Reserved::Admitted(admission),
                Err(open) => {
                    // Ready: the call will be rejected without the inner
                    // service, whose readiness we do not poll.
                    self.reserved = Reserved::Rejected(open);
                    return Poll::Ready(Ok(()));
                }
            }
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => {
                let result: Result<S::Response, S::Error> = Err(e);
                if let Reserved::Admitted(mut admission) =
                    std::mem::replace(&mut self.reserved, Reserved::Nothing)
                {
                    let breaker = &self.breaker.inner;
                    breaker.begin(&mut admission);
                    breaker.complete(admission, self.breaker.classifier.classify(&result));
                }
                Poll::Ready(result.map(|_| ()).map_err(Error::Operation))
            }
        }
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let breaker = &self.breaker.inner;
        let admitted = match std::mem::replace(&mut self.reserved, Reserved::Nothing) {
            // Admitted in `poll_ready` and still valid: the call starts now,
            // so waiting for readiness is not part of its duration.
            Reserved::Admitted(mut admission) if breaker.is_current(admission.word) => {
                breaker.begin(&mut admission);
                Ok(admission)
            }
            // The breaker changed state since: give the place back and ask
            // again; the inner service is ready.
            Reserved::Admitted(stale) => {
                breaker.release(stale);
                breaker.acquire()
            }
            Reserved::Rejected(open) => Err(open),
            // `call` without `poll_ready`: ask now rather than panic.
            Reserved::Nothing => breaker.acquire(),
        };
        let kind = match admitted {
            Ok(admission) => Kind::Running {
                // The ticket first: if the inner `call` panics, it gives
                // the admission back.
                ticket: Ticket::new(self.lease.clone(), admission),
                fut: self.inner.call(req),
                classifier: self.breaker.classifier.clone(),
            },
            Err(error) => Kind::Rejected { error },
        };
        ResponseFuture { kind }
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
        kind: Kind<F, C>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C> {
        Running {
            #[pin]
            fut: F,
            ticket: Ticket<Lease<Inner>>,
            classifier: C,
        },
        Rejected {
            error: CircuitOpen,
        },
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
        match self.project().kind.project() {
            KindProj::Running {
                fut,
                ticket,
                classifier,
            } => poll_admitted(fut, ticket, classifier, cx),
            KindProj::Rejected { error } => Poll::Ready(Err(Error::CircuitOpen(*error))),
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
