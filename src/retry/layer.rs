//! Retry as a tower layer.

use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::{Progress, RetryResponse, State};
use super::{Retry, RetryPolicy};

/// A tower [`Layer`] that retries the inner service's calls with a
/// [`Retry`]. Requests must be `Clone` (each attempt gets a clone), and so
/// must the inner service: every attempt goes through a clone that
/// `poll_ready` has readied, never one that was not.
///
/// # Examples
///
/// ```
/// use palisade::retry::{Backoff, Retry, RetryLayer};
/// use palisade::timer::ManualTimer;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let retry = Retry::builder()
///     .backoff(Backoff::constant(Duration::ZERO))
///     .timer(ManualTimer::new())
///     .build()?;
/// let calls = Arc::new(AtomicU32::new(0));
/// let svc = ServiceBuilder::new().layer(RetryLayer::new(retry)).service(service_fn({
///     let calls = Arc::clone(&calls);
///     move |x: u32| {
///         let n = calls.fetch_add(1, Ordering::Relaxed);
///         async move { if n == 0 { Err(std::io::Error::other("flaky")) } else { Ok(x) } }
///     }
/// }));
/// assert_eq!(futures::executor::block_on(svc.oneshot(7)).unwrap(), 7);
/// assert_eq!(calls.load(Ordering::Relaxed), 2);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RetryLayer<P> {
    retry: Retry<P>,
}

impl<P> RetryLayer<P> {
    /// A layer retrying with `retry`.
    pub fn new(retry: Retry<P>) -> Self {
        Self { retry }
    }
}

impl<S, P: Clone> Layer<S> for RetryLayer<P> {
    type Service = RetryService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            retry: self.retry.clone(),
        }
    }
}

/// A tower [`Service`] that retries calls; made by [`RetryLayer`]. Its
/// errors are the inner service's, unwrapped: when retries run out the
/// last attempt's outcome is returned.
#[derive(Clone, Debug)]
pub struct RetryService<S, P> {
    inner: S,
    retry: Retry<P>,
}

impl<S, P, Req> Service<Req> for RetryService<S, P>
where
    S: Service<Req> + Clone,
    P: RetryPolicy<S::Response, S::Error> + Clone,
    Req: Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RetryResponse<S, Req, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.start(req, false)
    }
}

impl<S, P: Clone> RetryService<S, P> {
    /// The call's response future; with `hand_over`, it keeps its budget
    /// holds when it completes, for [`RetryResponse::take_hold`].
    pub(crate) fn start<Req>(&mut self, req: Req, hand_over: bool) -> RetryResponse<S, Req, P>
    where
        S: Service<Req> + Clone,
        Req: Clone,
    {
        // The readied service makes the first attempt; a fresh clone stays.
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        let mut progress = Progress::default();
        progress.start(&self.retry.shared);
        let fut = service.call(req.clone());
        RetryResponse {
            state: State::Calling { fut },
            service,
            req,
            retry: self.retry.clone(),
            progress,
            hand_over,
        }
    }
}

inner_service!(RetryService<S, P>);
