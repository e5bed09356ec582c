//! The pipeline as a tower layer: one layer, one flat error.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::{PipelineCall, ServiceAttempts};
use super::{Judge, Pipeline};
use crate::error::Error;
use crate::retry::RetryPolicy;
use crate::timer::Timer;

/// A tower [`Layer`] that runs the inner service's calls through a
/// [`Pipeline`]: every guard in one layer, so the stack's error is the one
/// flat [`Error`] (never `Error<Error<E>>`). Requests must be `Clone` (a
/// retry sends a clone) and so must the inner service: the first attempt
/// goes through the service `poll_ready` readied, every retry through a
/// clone readied in turn. (`http::Request` is not `Clone`: around an HTTP
/// client, call [`Pipeline::call`] with a closure that builds each
/// attempt's request, as the module docs of
/// [`palisade::http`](crate::http) show.)
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
/// use palisade::pipeline::{Pipeline, PipelineLayer};
/// use palisade::timer::ManualTimer;
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let pipeline = Pipeline::builder(ManualTimer::new())
///     .circuit_breaker(CircuitBreaker::builder().build()?)
///     .attempt_timeout(Duration::from_secs(1))
///     .build()?;
/// let svc = ServiceBuilder::new()
///     .layer(PipelineLayer::new(pipeline))
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x * 2) }));
/// let out: Result<u32, palisade::Error<std::io::Error>> =
///     futures::executor::block_on(svc.oneshot(21));
/// assert_eq!(out.unwrap(), 42);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct PipelineLayer<
    Tm,
    P,
    C = crate::circuit_breaker::DefaultClassifier,
    L = crate::bulkhead::Bulkhead,
> {
    pipeline: Arc<Pipeline<Tm, P, C, L>>,
}

impl<Tm, P, C, L> Clone for PipelineLayer<Tm, P, C, L> {
    fn clone(&self) -> Self {
        Self {
            pipeline: Arc::clone(&self.pipeline),
        }
    }
}

impl<Tm, P, C, L> fmt::Debug for PipelineLayer<Tm, P, C, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineLayer").finish_non_exhaustive()
    }
}

impl<Tm, P, C, L> PipelineLayer<Tm, P, C, L> {
    /// A layer running calls through `pipeline`.
    pub fn new(pipeline: Pipeline<Tm, P, C, L>) -> Self {
        Self {
            pipeline: Arc::new(pipeline),
        }
    }
}

impl<S, Tm, P, C, L> Layer<S> for PipelineLayer<Tm, P, C, L> {
    type Service = PipelineService<S, Tm, P, C, L>;

    fn layer(&self, inner: S) -> Self::Service {
        PipelineService {
            inner,
            pipeline: Arc::clone(&self.pipeline),
            readied: false,
        }
    }
}

/// A tower [`Service`] whose calls go through a [`Pipeline`]; made by
/// [`PipelineLayer`]. `poll_ready` is the inner service's (its errors as
/// [`Error::Operation`]), except when the breaker will reject the call:
/// then it is ready at once without polling the inner service, and the
/// call readies a service of its own if the breaker lets it through after
/// all. The guards' rejections come from the response future, never from
/// `poll_ready`.
pub struct PipelineService<
    S,
    Tm,
    P,
    C = crate::circuit_breaker::DefaultClassifier,
    L = crate::bulkhead::Bulkhead,
> {
    inner: S,
    pipeline: Arc<Pipeline<Tm, P, C, L>>,
    /// `inner` is ready for the next call.
    readied: bool,
}

impl<S, Tm, P, C, L> PipelineService<S, Tm, P, C, L> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably; the next call readies it again.
    pub fn get_mut(&mut self) -> &mut S {
        self.readied = false;
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, Tm, P, C, L> Clone for PipelineService<S, Tm, P, C, L> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            pipeline: Arc::clone(&self.pipeline),
            readied: false,
        }
    }
}

impl<S: fmt::Debug, Tm, P, C, L> fmt::Debug for PipelineService<S, Tm, P, C, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, Req, Tm, P, C, L> Service<Req> for PipelineService<S, Tm, P, C, L>
where
    L: crate::limit::Limiter,
    S: Service<Req> + Clone,
    Req: Clone,
    Tm: Timer,
    P: RetryPolicy<S::Response, Error<S::Error>>,
    C: Judge<S::Response, S::Error, L>,
{
    type Response = C::Output;
    type Error = Error<S::Error>;
    type Future = PipelineCall<Arc<Pipeline<Tm, P, C, L>>, Tm, P, ServiceAttempts<S, Req>, C, L>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The tower contract: do not wait on the inner service for a call
        // that will be rejected (an open breaker's rejection comes at once
        // even while the inner service is saturated).
        if let Some(breaker) = &self.pipeline.breaker {
            if !crate::circuit_breaker::guard::would_admit(breaker) {
                self.readied = false;
                return Poll::Ready(Ok(()));
            }
        }
        let poll = self.inner.poll_ready(cx).map_err(Error::Operation);
        self.readied = matches!(poll, Poll::Ready(Ok(())));
        poll
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The readied service makes the first attempt (a fresh clone
        // stays); unreadied, every attempt readies a clone of its own.
        let ready = std::mem::take(&mut self.readied).then(|| {
            let clone = self.inner.clone();
            std::mem::replace(&mut self.inner, clone)
        });
        PipelineCall::new(
            Arc::clone(&self.pipeline),
            ServiceAttempts::new(ready, self.inner.clone(), req),
        )
    }
}
