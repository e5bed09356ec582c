use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Response;
use pin_project_lite::pin_project;
use tower_http::classify::ClassifyResponse;
use tower_layer::Layer;
use tower_service::Service;

use super::service::{BulkheadService, CircuitBreakerService};
use super::{BreakerVerdict, GrpcFailures, HttpFailures};
use crate::bulkhead::guard::{BulkheadSide, Gate as BulkheadGate};
use crate::circuit_breaker::guard::{BreakerSide, Gate as BreakerGate};
use crate::lease::Leases;
use crate::limits::MAX_DURATION;
use crate::{Bulkhead, CircuitBreaker};

type BreakerInner = crate::circuit_breaker::guard::Core;
type BulkheadInner = crate::bulkhead::guard::Core;

/// A tower [`Layer`] that guards an HTTP or gRPC client with a
/// [`CircuitBreaker`] and records each call when its response body ends,
/// classified by a `tower-http` classifier `C`.
///
/// Every service it makes shares the one breaker. The breaker's own
/// classifier is not used: `C` decides, from the response head, the
/// trailers, or the error (see [`ResponseBody`](super::ResponseBody) for when a call ends).
///
/// # Examples
///
/// A gRPC server that answers HTTP 200 with `grpc-status: 14`
/// (`UNAVAILABLE`) in its trailers: the call fails, though the head looked
/// fine.
///
/// ```
/// use http_body_util::{BodyExt, Full, StreamBody};
/// use palisade::circuit_breaker::CircuitBreaker;
/// use palisade::http::CircuitBreakerLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # futures::executor::block_on(async {
/// let breaker = CircuitBreaker::builder().name("users").build()?;
/// let client = ServiceBuilder::new()
///     .layer(CircuitBreakerLayer::grpc(breaker.clone()))
///     .service(service_fn(|_req: http::Request<()>| async {
///         let mut trailers = http::HeaderMap::new();
///         trailers.insert("grpc-status", "14".parse().unwrap());
///         let frames = [
///             Ok::<_, std::io::Error>(http_body::Frame::data(bytes::Bytes::from("reply"))),
///             Ok(http_body::Frame::trailers(trailers)),
///         ];
///         let body = StreamBody::new(futures::stream::iter(frames));
///         Ok::<_, std::io::Error>(http::Response::new(body))
///     }));
///
/// let response = client.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(response.status(), 200);
/// assert_eq!(breaker.snapshot().calls(), 0); // not yet: the body is still open
/// let _ = response.into_body().collect().await; // read to the end
/// assert_eq!(breaker.snapshot().failures(), 1);
/// # Ok::<(), palisade::ConfigError>(())
/// # }).unwrap();
/// ```
pub struct CircuitBreakerLayer<C> {
    breaker: CircuitBreaker,
    leases: Arc<Leases<BreakerInner>>,
    classifier: C,
    max_hint: Option<Duration>,
}

impl CircuitBreakerLayer<HttpFailures> {
    /// Guarded by `breaker`, classified by the [`HttpFailures`] preset.
    pub fn http(breaker: CircuitBreaker) -> Self {
        Self::new(breaker, HttpFailures::new())
    }
}

impl CircuitBreakerLayer<GrpcFailures> {
    /// Guarded by `breaker`, classified by the [`GrpcFailures`] preset.
    pub fn grpc(breaker: CircuitBreaker) -> Self {
        Self::new(breaker, GrpcFailures::new())
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Guarded by `breaker`, classified by `classifier`: a preset, or any
    /// `tower-http` classifier (`ServerErrorsAsFailures`,
    /// `GrpcErrorsAsFailures`, `StatusInRangeAsFailures`, or one of your
    /// own whose failure class implements [`BreakerVerdict`]).
    pub fn new(breaker: CircuitBreaker, classifier: C) -> Self {
        let leases = crate::circuit_breaker::guard::leases(&breaker);
        Self {
            breaker,
            leases,
            classifier,
            max_hint: None,
        }
    }

    /// Lets a failed response keep the breaker open longer than its open
    /// duration: when a failure leaves the breaker open and its response
    /// carried `Retry-After` (seconds or an HTTP date) or
    /// `grpc-retry-pushback-ms` (in its headers or, for gRPC, its
    /// trailers), the breaker stays open at least that long, up to `max`
    /// (at most [`MAX_DURATION`]), as [`CircuitBreaker::hold_open`] does.
    /// Off by default: a dependency could otherwise shut its callers out
    /// for as long as it liked.
    pub fn hold_open_on_hint(mut self, max: Duration) -> Self {
        self.max_hint = Some(max.min(MAX_DURATION));
        self
    }

    /// The guarding breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Runs one call that is not a tower service, such as reqwest's
    /// `send()`: `make` is called only if the breaker admits the call, and
    /// the response's body holds the admission until it ends, as with the
    /// layer.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: reqwest::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use http_body_util::BodyExt;
    /// use palisade::circuit_breaker::CircuitBreaker;
    /// use palisade::http::CircuitBreakerLayer;
    ///
    /// let guard = CircuitBreakerLayer::http(CircuitBreaker::builder().name("search").build()?);
    /// let response = guard
    ///     .call(|| async {
    ///         let res = client.get("http://127.0.0.1:8080/search").send().await?;
    ///         Ok::<_, reqwest::Error>(http::Response::from(res))
    ///     })
    ///     .await?;
    /// let text = response.into_body().collect().await?.to_bytes();
    /// # let _ = text; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::CircuitOpen`](crate::Error::CircuitOpen) if the breaker rejects the call, else the
    /// operation's own error as [`Error::Operation`](crate::Error::Operation).
    pub fn call<F, Fut, B, E>(
        &self,
        make: F,
    ) -> GuardedCall<CircuitBreakerService<OnceService<F>, C>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Response<B>, E>>,
        B: http_body::Body,
        E: fmt::Display + 'static,
        C: ClassifyResponse + Clone,
        C::FailureClass: BreakerVerdict,
    {
        GuardedCall::new(self.layer(OnceService(Some(make))))
    }
}

impl<C: Clone> Clone for CircuitBreakerLayer<C> {
    fn clone(&self) -> Self {
        Self {
            breaker: self.breaker.clone(),
            leases: Arc::clone(&self.leases),
            classifier: self.classifier.clone(),
            max_hint: self.max_hint,
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for CircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("http::CircuitBreakerLayer")
            .field("breaker", &self.breaker)
            .field("classifier", &self.classifier)
            .field("max_hint", &self.max_hint)
            .finish()
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        let gate = BreakerGate::new(BreakerSide::new(
            self.breaker.clone(),
            Arc::clone(&self.leases),
        ));
        CircuitBreakerService::new(inner, gate, self.classifier.clone(), self.max_hint)
    }
}

/// A tower [`Layer`] that guards an HTTP or gRPC client with a
/// [`Bulkhead`] whose place is held until the response body ends: a
/// streaming response, or one the caller has not read yet, keeps its
/// connection busy and counts against the limit until then.
///
/// # Examples
///
/// ```
/// use http_body_util::{BodyExt, Full};
/// use palisade::http::BulkheadLayer;
/// use palisade::Bulkhead;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # futures::executor::block_on(async {
/// let bulkhead = Bulkhead::builder().max_concurrent(1).build()?;
/// let client = ServiceBuilder::new()
///     .layer(BulkheadLayer::new(bulkhead.clone()))
///     .service(service_fn(|_req: http::Request<()>| async {
///         Ok::<_, std::io::Error>(http::Response::new(Full::new(bytes::Bytes::from("hello"))))
///     }));
///
/// let response = client.clone().oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(bulkhead.metrics().in_flight, 1); // the body is unread
/// let second = client.clone().oneshot(http::Request::new(())).await;
/// assert!(second.unwrap_err().is_bulkhead_full());
/// let _ = response.into_body().collect().await;
/// assert_eq!(bulkhead.metrics().in_flight, 0);
/// # Ok::<(), palisade::ConfigError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct BulkheadLayer {
    bulkhead: Bulkhead,
    leases: Arc<Leases<BulkheadInner>>,
}

impl BulkheadLayer {
    /// Guarded by `bulkhead`.
    pub fn new(bulkhead: Bulkhead) -> Self {
        let leases = crate::bulkhead::guard::leases(&bulkhead);
        Self { bulkhead, leases }
    }

    /// Runs one call that is not a tower service (reqwest's `send()`):
    /// `make` is called only once a place is held, and the response's body
    /// holds the place until it ends, as with the layer.
    ///
    /// # Errors
    ///
    /// [`Error::BulkheadFull`](crate::Error::BulkheadFull) if the bulkhead rejects the call, else the
    /// operation's own error as [`Error::Operation`](crate::Error::Operation).
    pub fn call<F, Fut, B, E>(&self, make: F) -> GuardedCall<BulkheadService<OnceService<F>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Response<B>, E>>,
        B: http_body::Body,
        E: fmt::Display + 'static,
    {
        GuardedCall::new(self.layer(OnceService(Some(make))))
    }
}

impl fmt::Debug for BulkheadLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("http::BulkheadLayer")
            .field("bulkhead", &self.bulkhead)
            .finish()
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService::new(
            inner,
            BulkheadGate::new(BulkheadSide::new(
                self.bulkhead.clone(),
                Arc::clone(&self.leases),
            )),
        )
    }
}

/// One call as a service: `make` runs at `call`.
/// The service the layers' `call` forms guard: one call, made by the
/// closure they were given.
pub struct OnceService<F>(Option<F>);

impl<F> fmt::Debug for OnceService<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceService")
            .field("called", &self.0.is_none())
            .finish()
    }
}

impl<F, Fut, T, E> Service<()> for OnceService<F>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Response = T;
    type Error = E;
    type Future = Fut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Fut {
        (self.0.take().expect("called once"))()
    }
}

pin_project! {
    /// The future of [`CircuitBreakerLayer::call`] and
    /// [`BulkheadLayer::call`]: readies the guarded service (which may wait
    /// for a bulkhead place), then makes its one call.
    ///
    /// # Cancel safety
    ///
    /// Dropped before its call, it gives back what the service reserved;
    /// after, as the guard's response future.
    #[must_use = "futures do nothing unless polled"]
    pub struct GuardedCall<S>
    where
        S: Service<()>,
    {
        #[pin]
        stage: CallStage<S>,
    }
}

pin_project! {
    #[project = CallStageProj]
    enum CallStage<S>
    where
        S: Service<()>,
    {
        Readying { service: S },
        Calling { #[pin] fut: S::Future },
    }
}

impl<S: Service<()>> GuardedCall<S> {
    fn new(service: S) -> Self {
        Self {
            stage: CallStage::Readying { service },
        }
    }
}

impl<S: Service<()>> Future for GuardedCall<S> {
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut stage = self.project().stage;
        loop {
            match stage.as_mut().project() {
                CallStageProj::Readying { service } => {
                    std::task::ready!(service.poll_ready(cx))?;
                    let fut = service.call(());
                    stage.set(CallStage::Calling { fut });
                }
                CallStageProj::Calling { fut } => return fut.poll(cx),
            }
        }
    }
}

impl<S: Service<()>> fmt::Debug for GuardedCall<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedCall").finish_non_exhaustive()
    }
}
