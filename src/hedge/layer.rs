//! Hedging as a tower layer.

use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::HedgeCall;
use super::Hedge;
use crate::attempt::{ServiceAttempt, ServiceAttempts};
use crate::retry::RetryPolicy;
use crate::timer::Timer;

/// A tower [`Layer`] that hedges the inner service's calls with a
/// [`Hedge`]. Only for requests that are safe to send twice: requests
/// must be `Clone` (each attempt gets a clone), and so must the inner
/// service. The first attempt goes through the clone `poll_ready` readied;
/// each hedge through a fresh clone it readies itself, inside the response
/// future.
///
/// # Examples
///
/// ```
/// use palisade::hedge::{Hedge, HedgeLayer};
/// use palisade::timer::ManualTimer;
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let hedge = Hedge::builder(ManualTimer::new())
///     .delay(Duration::from_millis(50))
///     .build()?;
/// let svc = ServiceBuilder::new()
///     .layer(HedgeLayer::new(hedge))
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x * 2) }));
/// assert_eq!(futures::executor::block_on(svc.oneshot(21)).unwrap(), 42);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HedgeLayer<Tm, P> {
    hedge: Arc<Hedge<Tm, P>>,
}

impl<Tm, P> HedgeLayer<Tm, P> {
    /// A layer hedging with `hedge`.
    pub fn new(hedge: Hedge<Tm, P>) -> Self {
        Self {
            hedge: Arc::new(hedge),
        }
    }
}

impl<S, Tm, P> Layer<S> for HedgeLayer<Tm, P> {
    type Service = HedgeService<S, Tm, P>;

    fn layer(&self, inner: S) -> Self::Service {
        HedgeService {
            inner,
            hedge: Arc::clone(&self.hedge),
        }
    }
}

/// A tower [`Service`] that hedges calls; made by [`HedgeLayer`]. Its
/// errors are the inner service's: when no attempt was acceptable, the
/// last one's.
#[derive(Debug)]
pub struct HedgeService<S, Tm, P> {
    inner: S,
    hedge: Arc<Hedge<Tm, P>>,
}

impl<S: Clone, Tm, P> Clone for HedgeService<S, Tm, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            hedge: Arc::clone(&self.hedge),
        }
    }
}

/// The response future of [`HedgeService`].
pub type HedgeResponse<S, Req, Tm, P> =
    HedgeCall<Arc<Hedge<Tm, P>>, Tm, P, ServiceAttempts<S, Req>, ServiceAttempt<S, Req>>;

impl<S, Req, Tm, P> Service<Req> for HedgeService<S, Tm, P>
where
    S: Service<Req> + Clone,
    Req: Clone,
    Tm: Timer,
    P: RetryPolicy<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = HedgeResponse<S, Req, Tm, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The readied service makes the first attempt; a fresh clone stays.
        let clone = self.inner.clone();
        let readied = std::mem::replace(&mut self.inner, clone);
        HedgeCall::new(
            Arc::clone(&self.hedge),
            ServiceAttempts::new(Some(readied), self.inner.clone(), req),
        )
    }
}

inner_service!(HedgeService<S, Tm, P>);
