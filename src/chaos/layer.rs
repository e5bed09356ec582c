//! Chaos as a tower layer.

use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::ChaosResponse;
use super::{Chaos, Fault, Roll};

/// A tower [`Layer`] that injects a [`Chaos`]'s faults and latency into
/// the inner service's calls; [`when`](Self::when) picks the requests.
///
/// The inner service's readiness is untouched: a delay is slept in the
/// response future before the inner future is polled (the request was
/// sent to the inner service's `call` at once, as an injected delay in
/// front of a network hop would), and a fault answers from the response
/// future without calling the inner service.
///
/// # Examples
///
/// ```
/// use palisade::chaos::{Chaos, ChaosLayer};
/// use palisade::timer::ManualTimer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let chaos = Chaos::builder()
///     .fault(1.0, || Err(std::io::Error::other("injected")))
///     .timer(ManualTimer::new())
///     .enabled(true)
///     .build()?;
/// let svc = ServiceBuilder::new()
///     // Only requests for tenant 7.
///     .layer(ChaosLayer::new(chaos).when(|tenant: &u32| *tenant == 7))
///     .service(service_fn(|tenant: u32| async move { Ok::<_, std::io::Error>(tenant) }));
/// futures::executor::block_on(async {
///     assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
///     assert!(svc.oneshot(7).await.is_err());
/// });
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct ChaosLayer<F, P = AllRequests> {
    chaos: Chaos<F>,
    when: P,
}

/// Every request may be touched: the default of a [`ChaosLayer`].
#[derive(Clone, Copy, Debug, Default)]
pub struct AllRequests;

/// Which requests a [`ChaosLayer`] may touch.
pub trait Picks<Req> {
    /// Whether `req` may be touched.
    fn picks(&self, req: &Req) -> bool;
}

impl<Req> Picks<Req> for AllRequests {
    #[inline]
    fn picks(&self, _req: &Req) -> bool {
        true
    }
}

impl<Req, P: Fn(&Req) -> bool> Picks<Req> for P {
    #[inline]
    fn picks(&self, req: &Req) -> bool {
        self(req)
    }
}

impl<F> ChaosLayer<F> {
    /// A layer for `chaos` (it may be shared), touching every request.
    pub fn new(chaos: Chaos<F>) -> Self {
        Self {
            chaos,
            when: AllRequests,
        }
    }
}

impl<F, P> ChaosLayer<F, P> {
    /// Touches only the requests `when` picks.
    pub fn when<Q>(self, when: Q) -> ChaosLayer<F, Q> {
        ChaosLayer {
            chaos: self.chaos,
            when,
        }
    }
}

impl<F, P: Clone> Clone for ChaosLayer<F, P> {
    fn clone(&self) -> Self {
        Self {
            chaos: self.chaos.clone(),
            when: self.when.clone(),
        }
    }
}

impl<F, P> std::fmt::Debug for ChaosLayer<F, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosLayer")
            .field("chaos", &self.chaos)
            .finish_non_exhaustive()
    }
}

impl<S, F, P: Clone> Layer<S> for ChaosLayer<F, P> {
    type Service = ChaosService<S, F, P>;

    fn layer(&self, inner: S) -> Self::Service {
        ChaosService {
            inner,
            chaos: self.chaos.clone(),
            when: self.when.clone(),
        }
    }
}

/// A tower [`Service`] with chaos injected; made by [`ChaosLayer`].
pub struct ChaosService<S, F, P = AllRequests> {
    inner: S,
    chaos: Chaos<F>,
    when: P,
}

impl<S: Clone, F, P: Clone> Clone for ChaosService<S, F, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            chaos: self.chaos.clone(),
            when: self.when.clone(),
        }
    }
}

impl<S: std::fmt::Debug, F, P> std::fmt::Debug for ChaosService<S, F, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosService")
            .field("inner", &self.inner)
            .field("chaos", &self.chaos)
            .finish_non_exhaustive()
    }
}

impl<S, F, P, Req> Service<Req> for ChaosService<S, F, P>
where
    S: Service<Req>,
    F: Fault<S::Response, S::Error>,
    P: Picks<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ChaosResponse<S::Future, S::Response, S::Error>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let roll = if self.when.picks(&req) {
            self.chaos.inner.roll()
        } else {
            Roll::Untouched
        };
        match roll {
            Roll::Untouched => ChaosResponse::called(self.inner.call(req), None),
            Roll::Fault => ChaosResponse::faulted(self.chaos.inner.fault().inject()),
            Roll::Delay(delay) => {
                ChaosResponse::called(self.inner.call(req), Some(self.chaos.inner.sleep(delay)))
            }
        }
    }
}

inner_service!(ChaosService<S, F, P>);
