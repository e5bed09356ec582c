//! Retry as a tower layer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::future::Progress;
use super::{Retry, RetryPolicy};
use crate::timer::BoxSleep;

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

pin_project! {
    /// The response future of [`RetryService`].
    #[must_use = "futures do nothing unless polled"]
    pub struct RetryResponse<S, Req, P>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future>,
        service: S,
        req: Req,
        retry: Retry<P>,
        progress: Progress,
        // Keep the budget holds at completion (the HTTP layer moves them
        // into the response body).
        hand_over: bool,
    }

    impl<S, Req, P> PinnedDrop for RetryResponse<S, Req, P>
    where
        S: Service<Req>,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.progress.finish(&this.retry.shared);
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] fut: F },
        Sleeping { sleep: BoxSleep },
        Readying,
    }
}

impl<S, Req, P> Future for RetryResponse<S, Req, P>
where
    S: Service<Req>,
    P: RetryPolicy<S::Response, S::Error>,
    Req: Clone,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { fut } => {
                    let result = std::task::ready!(fut.poll(cx));
                    match this
                        .progress
                        .next(&this.retry.shared, &this.retry.policy, result)
                    {
                        Ok(sleep) => this.state.set(State::Sleeping { sleep }),
                        Err(result) => {
                            if !*this.hand_over {
                                this.progress.finish(&this.retry.shared);
                            }
                            return Poll::Ready(result);
                        }
                    }
                }
                StateProj::Sleeping { sleep } => {
                    std::task::ready!(sleep.as_mut().poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    // Every attempt goes through a readied service; an error
                    // here is the attempt's outcome.
                    if let Err(e) = std::task::ready!(this.service.poll_ready(cx)) {
                        match this
                            .progress
                            .next(&this.retry.shared, &this.retry.policy, Err(e))
                        {
                            Ok(sleep) => this.state.set(State::Sleeping { sleep }),
                            Err(result) => {
                                if !*this.hand_over {
                                    this.progress.finish(&this.retry.shared);
                                }
                                return Poll::Ready(result);
                            }
                        }
                        continue;
                    }
                    let fut = this.service.call(this.req.clone());
                    this.state.set(State::Calling { fut });
                }
            }
        }
    }
}

#[cfg(feature = "http")]
impl<S: Service<Req>, Req, P> RetryResponse<S, Req, P> {
    /// What the finished call holds of its budget, taken over.
    pub(crate) fn take_hold(self: Pin<&mut Self>) -> Option<super::budget::BudgetHold> {
        let this = self.project();
        this.progress.take_hold(&this.retry.shared)
    }
}

impl<S: Service<Req>, Req, P> fmt::Debug for RetryResponse<S, Req, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryResponse")
            .field("attempts", &self.progress.attempts())
            .finish_non_exhaustive()
    }
}

inner_service!(RetryService<S, P>);
