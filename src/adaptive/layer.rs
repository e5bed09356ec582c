//! The adaptive limit as a tower layer.

use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::AdaptiveResponse;
use super::guard::Place;
use super::{AdaptiveLimit, Inner};
use crate::error::Error;
use crate::lease::Leases;

/// A tower [`Layer`] that puts an [`AdaptiveLimit`] around the inner
/// service.
///
/// # Examples
///
/// ```
/// use palisade::adaptive::{AdaptiveLimit, AdaptiveLimitLayer};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let limit = AdaptiveLimit::builder().initial_limit(10).build()?;
/// let svc = ServiceBuilder::new()
///     .layer(AdaptiveLimitLayer::new(limit.clone()))
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x + 1) }));
/// let out = futures::executor::block_on(svc.oneshot(1));
/// assert_eq!(out.unwrap(), 2);
/// assert_eq!(limit.in_flight(), 0);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct AdaptiveLimitLayer {
    limit: AdaptiveLimit,
    leases: Arc<Leases<Inner>>,
}

impl AdaptiveLimitLayer {
    /// A layer for `limit` (it may be shared).
    pub fn new(limit: AdaptiveLimit) -> Self {
        let leases = Arc::new(Leases::new(&limit.inner));
        Self { limit, leases }
    }
}

impl<S> Layer<S> for AdaptiveLimitLayer {
    type Service = AdaptiveLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AdaptiveLimitService {
            inner,
            limit: self.limit.clone(),
            lease: self.leases.take(),
        }
    }
}

/// A tower [`Service`] under an [`AdaptiveLimit`]; made by
/// [`AdaptiveLimitLayer`].
///
/// It keeps the tower contract: `poll_ready` never fails because of the
/// limit; at the limit it is ready at once without polling the inner
/// service, and the call's response future resolves to
/// [`Error::BulkheadFull`](crate::Error::BulkheadFull) without calling it. The place is taken in
/// `call` (so it is never held by an idle service) and rides in the
/// response future.
#[derive(Clone)]
pub struct AdaptiveLimitService<S> {
    inner: S,
    limit: AdaptiveLimit,
    lease: crate::lease::Lease<Inner>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for AdaptiveLimitService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveLimitService")
            .field("inner", &self.inner)
            .field("limit", &self.limit)
            .finish()
    }
}

impl<S, Req> Service<Req> for AdaptiveLimitService<S>
where
    S: Service<Req>,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = AdaptiveResponse<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // At the limit the call will be rejected: do not wait on the inner
        // service for it.
        if !self.limit.inner.has_room() {
            return Poll::Ready(Ok(()));
        }
        self.inner.poll_ready(cx).map_err(Error::Operation)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let inner = &mut self.inner;
        AdaptiveResponse::new(Place::admit(self.lease.clone()), || inner.call(req))
    }
}

inner_service!(AdaptiveLimitService<S>);
