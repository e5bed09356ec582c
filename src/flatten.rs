//! Flattening stacked palisade tower layers: [`FlattenLayer`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::Error;

/// A tower [`Layer`] that turns a stack's `Error<Error<E>>` into the flat
/// `Error<E>`.
///
/// Each palisade layer wraps its inner service's error once
/// (`Error<S::Error>`), so two palisade layers stacked with
/// `ServiceBuilder` give `Error<Error<E>>`. Rust cannot tell, in a generic
/// impl, an inner error that is already palisade's from one that is not, so
/// the flattening is a layer you place, not a guess:
///
/// - all guards in one layer: [`PipelineLayer`](crate::pipeline::PipelineLayer)
///   (one flat error by construction, and the documented order);
/// - guards as separate layers: put a `FlattenLayer` above each palisade
///   layer that has another palisade layer below it.
///
/// # Examples
///
/// ```
/// use palisade::bulkhead::{Bulkhead, BulkheadLayer};
/// use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
/// use palisade::FlattenLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let svc = ServiceBuilder::new()
///     .layer(FlattenLayer)
///     .layer(CircuitBreakerLayer::new(CircuitBreaker::builder().build()?))
///     .layer(BulkheadLayer::new(Bulkhead::builder().build()?))
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
/// // One flat error, not Error<Error<io::Error>>.
/// let out: Result<u32, palisade::Error<std::io::Error>> = futures::executor::block_on(svc.oneshot(1));
/// assert_eq!(out.unwrap(), 1);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FlattenLayer;

impl<S> Layer<S> for FlattenLayer {
    type Service = Flatten<S>;

    fn layer(&self, inner: S) -> Flatten<S> {
        Flatten { inner }
    }
}

/// The service of [`FlattenLayer`].
#[derive(Clone, Debug)]
pub struct Flatten<S> {
    inner: S,
}

impl<S, Req, E> Service<Req> for Flatten<S>
where
    S: Service<Req, Error = Error<Error<E>>>,
{
    type Response = S::Response;
    type Error = Error<E>;
    type Future = Flattened<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::flatten)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        Flattened {
            fut: self.inner.call(req),
        }
    }
}

pin_project! {
    /// The response future of [`Flatten`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Flattened<F> {
        #[pin]
        fut: F,
    }
}

impl<F, T, E> Future for Flattened<F>
where
    F: Future<Output = Result<T, Error<Error<E>>>>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().fut.poll(cx).map_err(Error::flatten)
    }
}
