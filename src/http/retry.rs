//! Retry for HTTP: what a call holds of its retry budget rides in the
//! response body.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::body::{BudgetGuard, ResponseBody};
use crate::retry::{Retry, RetryPolicy};

/// A tower [`Layer`] that retries HTTP or gRPC calls as
/// [`retry::RetryLayer`](crate::retry::RetryLayer) does, and keeps what the
/// call holds of an in-flight [`RetryBudget`](crate::retry::RetryBudget)
/// until the response body ends: a call whose body is still streaming
/// counts in flight, so the budget's "retries in flight per call in
/// flight" sees it.
///
/// The policy sees the response head; the presets
/// [`HttpFailures`](super::HttpFailures) and
/// [`GrpcFailures`](super::GrpcFailures) are policies. A retried response
/// is dropped unread (with what it holds). Requests must be `Clone`
/// (`http::Request<B>` is when `B` is).
///
/// # Examples
///
/// ```
/// use palisade::http::{HttpFailures, RetryLayer};
/// use palisade::retry::{Retry, RetryBudget};
/// use palisade::timer::ManualTimer;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # futures::executor::block_on(async {
/// let budget = RetryBudget::in_flight(1.0, 0)?;
/// let retry = Retry::builder()
///     .policy(HttpFailures::new())
///     .budget(budget.clone())
///     .timer(ManualTimer::new()) // any runtime's timer; tokio's by default
///     .build()?;
/// let client = RetryLayer::new(retry).layer(service_fn(|_req: http::Request<()>| async {
///     let body = http_body_util::Full::new(bytes::Bytes::from("streaming..."));
///     Ok::<_, palisade::Error<std::io::Error>>(http::Response::new(body))
/// }));
/// let response = client.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(budget.available(), 1); // the unread body counts in flight
/// drop(response);
/// assert_eq!(budget.available(), 0);
/// # Ok::<(), palisade::ConfigError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct RetryLayer<P> {
    /// The plain layer: the retries are its; only the end differs.
    inner: crate::retry::RetryLayer<P>,
}

impl<P> RetryLayer<P> {
    /// A layer retrying with `retry`.
    pub fn new(retry: Retry<P>) -> Self {
        Self {
            inner: crate::retry::RetryLayer::new(retry),
        }
    }
}

impl<S, P: Clone> Layer<S> for RetryLayer<P> {
    type Service = RetryService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner: self.inner.layer(inner),
        }
    }
}

/// The service of [`RetryLayer`].
#[derive(Clone, Debug)]
pub struct RetryService<S, P> {
    inner: crate::retry::RetryService<S, P>,
}

impl<S, P, Req, B> Service<Req> for RetryService<S, P>
where
    S: Service<Req, Response = Response<B>> + Clone,
    P: RetryPolicy<Response<B>, S::Error> + Clone,
    Req: Clone,
    B: http_body::Body,
{
    type Response = Response<ResponseBody<B, BudgetGuard>>;
    type Error = S::Error;
    type Future = RetryResponse<S, Req, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        RetryResponse {
            inner: self.inner.start(req, true),
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
        inner: crate::retry::RetryResponse<S, Req, P>,
    }
}

impl<S, Req, P, B> Future for RetryResponse<S, Req, P>
where
    S: Service<Req, Response = Response<B>>,
    P: RetryPolicy<Response<B>, S::Error>,
    Req: Clone,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B, BudgetGuard>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.project().inner;
        let result = std::task::ready!(inner.as_mut().poll(cx));
        let hold = inner.take_hold();
        Poll::Ready(
            result.map(|res| res.map(|body| ResponseBody::new(body, BudgetGuard::new(hold)))),
        )
    }
}

impl<S: Service<Req>, Req, P> fmt::Debug for RetryResponse<S, Req, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("http::RetryResponse")
            .finish_non_exhaustive()
    }
}

impl<S, P> RetryService<S, P> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        self.inner.get_mut()
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner.into_inner()
    }
}
