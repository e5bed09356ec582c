use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::future::{BulkheadResponse, Kind, ThreadPoolResponse, Wait};
use super::permit::Place;
use super::{Admit, Bulkhead, BulkheadFull, Inner};
use crate::error::Error;
use crate::lease::{Lease, Leases};

/// A tower [`Service`] guarded by a [`Bulkhead`]; made by
/// [`BulkheadLayer`](super::BulkheadLayer).
///
/// It keeps the tower contract: `poll_ready` never fails because of the
/// bulkhead. It takes a place for the next `call` (the place rides in the
/// response future and is given back when it completes or is dropped).
/// Full and failing fast, `poll_ready` returns `Ready(Ok(()))` without
/// polling the inner service and the response future resolves to
/// [`Error::BulkheadFull`]; full and queueing, `poll_ready` returns
/// `Pending` while it waits (that is the configured behaviour), then
/// either holds a place or, when the wait times out, lets the call be
/// rejected. A rejection is not kept: a later `poll_ready` asks the
/// bulkhead again. A service dropped holding a place gives it back. Errors from
/// the inner service's own `poll_ready` pass through as
/// [`Error::Operation`].
pub struct BulkheadService<S> {
    inner: S,
    gate: Gate,
}

/// The bulkhead's side of a tower service's [`Gate`](crate::gate::Gate):
/// the place `poll_ready` takes (or waits for, when the bulkhead queues)
/// for the next `call`, and the lease its response futures hold. Shared by
/// [`BulkheadService`] and the HTTP service (`crate::http`), which differ
/// only in when they give the place back.
pub(crate) struct BulkheadSide {
    pub(crate) bulkhead: Bulkhead,
    lease: Lease<Inner>,
    leases: Arc<Leases<Inner>>,
}

/// The bulkhead's gate.
pub(crate) type Gate = crate::gate::Gate<BulkheadSide>;

impl BulkheadSide {
    pub(crate) fn new(bulkhead: Bulkhead, leases: Arc<Leases<Inner>>) -> Self {
        Self {
            bulkhead,
            lease: leases.take(),
            leases,
        }
    }

    /// The side of a clone of the service: same bulkhead and leases.
    pub(crate) fn fresh(&self) -> Self {
        Self::new(self.bulkhead.clone(), Arc::clone(&self.leases))
    }
}

impl crate::gate::Guard for BulkheadSide {
    type Reservation = Place<Lease<Inner>>;
    type Wait = Wait<Lease<Inner>>;
    type Rejection = BulkheadFull;
    type Permit = Place<Lease<Inner>>;

    #[inline]
    fn reserve(&self) -> crate::gate::Reserve<Self> {
        match self.bulkhead.inner.admit() {
            Admit::Admitted => crate::gate::Reserve::Held(Place(self.lease.clone())),
            Admit::Queued(waiter) => {
                crate::gate::Reserve::Wait(Wait::new(self.lease.clone(), waiter))
            }
            Admit::Rejected(full) => crate::gate::Reserve::Rejected(full),
        }
    }

    fn poll_wait(
        &self,
        wait: &mut Wait<Lease<Inner>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Place<Lease<Inner>>, BulkheadFull>> {
        wait.poll_wait(cx).map_ok(|()| Place(self.lease.clone()))
    }

    #[inline]
    fn permit(&self, place: Place<Lease<Inner>>) -> Result<Place<Lease<Inner>>, BulkheadFull> {
        Ok(place)
    }

    fn permit_now(&self) -> Result<Place<Lease<Inner>>, BulkheadFull> {
        self.bulkhead
            .inner
            .try_admit()
            .map(|()| Place(self.lease.clone()))
    }

    fn release(&self, place: Place<Lease<Inner>>) {
        drop(place);
    }
}

impl<S> BulkheadService<S> {
    /// `inner` guarded by `bulkhead`.
    pub fn new(inner: S, bulkhead: Bulkhead) -> Self {
        let leases = Arc::new(Leases::new(&bulkhead.inner));
        Self::with_leases(inner, bulkhead, leases)
    }

    pub(crate) fn with_leases(inner: S, bulkhead: Bulkhead, leases: Arc<Leases<Inner>>) -> Self {
        Self {
            inner,
            gate: Gate::new(BulkheadSide::new(bulkhead, leases)),
        }
    }

    /// The guarding bulkhead.
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.gate.guard.bulkhead
    }
}

impl<S: Clone> Clone for BulkheadService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            gate: Gate::new(self.gate.guard.fresh()),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for BulkheadService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadService")
            .field("inner", &self.inner)
            .field("bulkhead", &self.gate.guard.bulkhead)
            .field("holds_place", &self.gate.holds())
            .finish()
    }
}

impl<S, Req> Service<Req> for BulkheadService<S>
where
    S: Service<Req>,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = BulkheadResponse<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let inner = &mut self.inner;
        let poll = self.gate.poll_ready(cx, |cx| inner.poll_ready(cx));
        if let Poll::Ready(Err(_)) = poll {
            self.gate.release_reserved();
        }
        poll.map_err(Error::Operation)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let kind = match self.gate.admit() {
            Ok(place) => Kind::Running {
                fut: self.inner.call(req),
                place,
            },
            Err(error) => Kind::Rejected { error },
        };
        BulkheadResponse { kind }
    }
}

/// A tower [`Service`] whose calls run on a [`ThreadPool`](super::ThreadPool);
/// made by [`ThreadPoolLayer`](super::ThreadPoolLayer).
///
/// `poll_ready` readies the inner service on the caller's side (its errors
/// pass through as [`Error::Operation`]); `call` moves the readied service
/// and the request to a worker, where the call and its future run. A full
/// pool rejects from the response future ([`Error::BulkheadFull`]), never
/// from `poll_ready`; a panic on the worker is [`Error::Panicked`].
/// Dropping the response future cancels the job (see
/// [`PoolJob`](super::PoolJob)).
#[derive(Clone, Debug)]
pub struct ThreadPoolService<S> {
    inner: S,
    pool: super::ThreadPool,
}

impl<S> ThreadPoolService<S> {
    /// `inner`, called on `pool`.
    pub fn new(inner: S, pool: super::ThreadPool) -> Self {
        Self { inner, pool }
    }
}

impl<S, Req> Service<Req> for ThreadPoolService<S>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ThreadPoolResponse<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Operation)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The readied service goes to the worker; a fresh clone stays.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        ThreadPoolResponse {
            job: self.pool.spawn(move || ready.call(req)),
        }
    }
}

inner_service!(BulkheadService<S>);

inner_service!(ThreadPoolService<S>);
