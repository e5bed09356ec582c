use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::error::CircuitOpen;
use super::future::{CircuitBreakerResponse, Kind};
use super::permit::Ticket;
use super::state::{Admission, Inner};
use super::{CircuitBreaker, Classification, Classify, DefaultClassifier};
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
    gate: Gate<C>,
}

/// The breaker's side of a tower service's [`Gate`](crate::gate::Gate):
/// the admission `poll_ready` reserves for the next `call` (plain data:
/// the breaker's `Arc` is cloned only into the response future, as a
/// lease), and the lease its response futures hold. Shared by
/// [`CircuitBreakerService`] and the HTTP service (`crate::http`), which
/// differ only in when they record.
pub(crate) struct BreakerSide<C> {
    pub(crate) breaker: CircuitBreaker<C>,
    /// What this service's response futures hold (see `lease.rs`).
    lease: Lease<Inner>,
    leases: Arc<Leases<Inner>>,
}

/// The breaker's gate.
pub(crate) type Gate<C> = crate::gate::Gate<BreakerSide<C>>;

impl<C> BreakerSide<C> {
    pub(crate) fn new(breaker: CircuitBreaker<C>, leases: Arc<Leases<Inner>>) -> Self {
        Self {
            breaker,
            lease: leases.take(),
            leases,
        }
    }

    /// The side of a clone of the service: same breaker and leases.
    pub(crate) fn fresh(&self) -> Self
    where
        C: Clone,
    {
        Self::new(self.breaker.clone(), Arc::clone(&self.leases))
    }

    /// Records a reservation as `class` (the inner service's `poll_ready`
    /// failed, so the call will not come).
    pub(crate) fn settle(&self, mut admission: Admission, class: Classification) {
        let breaker = &self.breaker.inner;
        breaker.begin(&mut admission);
        breaker.complete(admission, class);
    }
}

impl<C> crate::gate::Guard for BreakerSide<C> {
    type Reservation = Admission;
    type Wait = std::convert::Infallible;
    type Rejection = CircuitOpen;
    type Permit = Ticket<Lease<Inner>>;

    #[inline]
    fn reserve(&self) -> crate::gate::Reserve<Self> {
        match self.breaker.inner.reserve() {
            Ok(admission) => crate::gate::Reserve::Held(admission),
            Err(open) => crate::gate::Reserve::Rejected(open),
        }
    }

    fn poll_wait(
        &self,
        wait: &mut std::convert::Infallible,
        _cx: &mut Context<'_>,
    ) -> Poll<Result<Admission, CircuitOpen>> {
        match *wait {}
    }

    /// Admitted in `poll_ready` and still valid: the call starts now, so
    /// waiting for readiness is not part of its duration. If the breaker
    /// changed state since, the admission goes back and the call asks
    /// again (the inner service is ready).
    #[inline]
    fn permit(&self, mut admission: Admission) -> Result<Ticket<Lease<Inner>>, CircuitOpen> {
        let breaker = &self.breaker.inner;
        let admitted = if breaker.is_current(admission.word) {
            breaker.begin(&mut admission);
            Ok(admission)
        } else {
            breaker.release(admission);
            breaker.acquire()
        };
        admitted.map(|admission| Ticket::new(self.lease.clone(), admission))
    }

    fn permit_now(&self) -> Result<Ticket<Lease<Inner>>, CircuitOpen> {
        let admission = self.breaker.inner.acquire()?;
        Ok(Ticket::new(self.lease.clone(), admission))
    }

    fn release(&self, admission: Admission) {
        self.breaker.inner.release(admission);
    }
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
            gate: Gate::new(BreakerSide::new(breaker, leases)),
        }
    }

    /// The guarding breaker.
    pub fn breaker(&self) -> &CircuitBreaker<C> {
        &self.gate.guard.breaker
    }
}

impl<S: Clone, C: Clone> Clone for CircuitBreakerService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            gate: Gate::new(self.gate.guard.fresh()),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreakerService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.gate.guard.breaker)
            .field("reserved", &self.gate.holds())
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
    type Future = CircuitBreakerResponse<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let inner = &mut self.inner;
        match self.gate.poll_ready(cx, |cx| inner.poll_ready(cx)) {
            Poll::Ready(Err(e)) => {
                let result: Result<S::Response, S::Error> = Err(e);
                if let Some(admission) = self.gate.take_reserved() {
                    let class = self.gate.guard.breaker.classifier.classify(&result);
                    self.gate.guard.settle(admission, class);
                }
                Poll::Ready(result.map(|_| ()).map_err(Error::Operation))
            }
            other => other.map_err(Error::Operation),
        }
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let kind = match self.gate.admit() {
            Ok(ticket) => Kind::Running {
                ticket,
                fut: self.inner.call(req),
                classifier: self.gate.guard.breaker.classifier.clone(),
            },
            Err(error) => Kind::Rejected { error },
        };
        CircuitBreakerResponse { kind }
    }
}

inner_service!(CircuitBreakerService<S, C>);
