//! Hedging as a tower layer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::future::{HedgeCall, MakeAttempt};
use super::Hedge;
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
    HedgeCall<Arc<Hedge<Tm, P>>, Tm, P, Resender<S, Req>, Attempt<S, Req>>;

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
            Resender {
                readied: Some(readied),
                service: self.inner.clone(),
                req,
            },
        )
    }
}

inner_service!(HedgeService<S, Tm, P>);

/// Makes a hedged tower call's attempts: the first through the readied
/// service, each hedge through a clone that readies itself.
#[derive(Debug)]
pub struct Resender<S, Req> {
    readied: Option<S>,
    service: S,
    req: Req,
}

impl<S, Req> MakeAttempt for Resender<S, Req>
where
    S: Service<Req> + Clone,
    Req: Clone,
{
    type Attempt = Attempt<S, Req>;

    fn make(&mut self) -> Attempt<S, Req> {
        match self.readied.take() {
            Some(mut readied) => Attempt {
                state: Step::Called {
                    fut: readied.call(self.req.clone()),
                },
            },
            None => Attempt {
                state: Step::Readying {
                    service: self.service.clone(),
                    req: Some(self.req.clone()),
                },
            },
        }
    }
}

pin_project! {
    /// One attempt of a hedged tower call: readying its service, then
    /// calling it.
    pub struct Attempt<S: Service<Req>, Req> {
        #[pin]
        state: Step<S, Req>,
    }
}

pin_project! {
    #[project = StepProj]
    enum Step<S: Service<Req>, Req> {
        // Waiting for its own clone of the service to be ready.
        Readying { service: S, req: Option<Req> },
        Called { #[pin] fut: S::Future },
    }
}

impl<S: Service<Req>, Req> std::fmt::Debug for Attempt<S, Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let step = match self.state {
            Step::Readying { .. } => "readying",
            Step::Called { .. } => "called",
        };
        f.debug_struct("Attempt").field("step", &step).finish()
    }
}

impl<S: Service<Req>, Req> Future for Attempt<S, Req> {
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StepProj::Called { fut } => return fut.poll(cx),
                StepProj::Readying { service, req } => {
                    if let Err(e) = std::task::ready!(service.poll_ready(cx)) {
                        return Poll::Ready(Err(e));
                    }
                    let req = req.take().expect("an attempt calls its service once");
                    let fut = service.call(req);
                    state.set(Step::Called { fut });
                }
            }
        }
    }
}
