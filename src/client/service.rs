//! The one-call client: a tower layer and a plain-future form, both
//! through one function (`run`).

#[cfg(feature = "tracing")]
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_http::classify::{ClassifiedResponse, ClassifyResponse};
use tower_layer::Layer;
use tower_service::Service;

use super::HostLimit;
use super::{idempotent, key_of, Clients, Skip};
use crate::error::{Error, ErrorKind};
use crate::pipeline::future::{Attempts, PipelineCall, ServiceAttempt};
use crate::pipeline::Judge;
use crate::retry::RetryPolicy;

/// What a fallback handler gets: which host failed, and how.
#[derive(Debug)]
pub struct Failed<'a> {
    key: &'a str,
    status: Option<StatusCode>,
    error: Option<&'a (dyn std::error::Error + 'static)>,
    kind: Option<ErrorKind>,
}

impl<'a> Failed<'a> {
    /// The host's key (`host:port`).
    pub fn key(&self) -> &'a str {
        self.key
    }

    /// The final response's status, when the call failed with a response
    /// (a 503 after the retries).
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// The error, when the call failed without a response.
    pub fn error(&self) -> Option<&'a (dyn std::error::Error + 'static)> {
        self.error
    }

    /// The error's flat kind (a guard's rejection, a timeout, the client's
    /// own error), when the call failed without a response.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.kind
    }
}

/// A fallback handler (see [`ClientsBuilder::fallback`](super::ClientsBuilder::fallback)).
pub type FallbackFn = dyn Fn(&Failed<'_>) -> Option<Response<Bytes>> + Send + Sync;

/// One request's own settings, carried in its extensions: a deadline of
/// its own, or guards it skips, without building another pipeline
/// (Polly's context, seatbelt's `enable_if`).
///
/// # Examples
///
/// ```
/// use palisade::client::CallOptions;
/// use std::time::Duration;
///
/// let mut request = http::Request::get("http://pricing/tea").body(String::new()).unwrap();
/// // This one: 300 ms in all, never retried, no fallback.
/// request
///     .extensions_mut()
///     .insert(CallOptions::new().deadline(Duration::from_millis(300)).no_retry().no_fallback());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallOptions {
    deadline: Option<Duration>,
    skip: Skip,
    no_fallback: bool,
}

impl CallOptions {
    /// No change: the host's pipeline as configured.
    pub fn new() -> Self {
        Self::default()
    }

    /// This call's total timeout (retries and their waits included), in
    /// place of the configured one.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Never retry this call.
    pub fn no_retry(mut self) -> Self {
        self.skip.retry = true;
        self
    }

    /// This call bypasses the circuit breaker (not judged, never rejected).
    pub fn no_circuit_breaker(mut self) -> Self {
        self.skip.circuit_breaker = true;
        self
    }

    /// This call bypasses the bulkhead (takes no place).
    pub fn no_bulkhead(mut self) -> Self {
        self.skip.limit = true;
        self
    }

    /// No configured timeout for this call (a [`deadline`](Self::deadline)
    /// still applies).
    pub fn no_timeouts(mut self) -> Self {
        self.skip.timeouts = true;
        self
    }

    /// No fallback for this call: its failure is returned.
    pub fn no_fallback(mut self) -> Self {
        self.no_fallback = true;
        self
    }
}

pin_project! {
    /// A client's response body: the guarded body of the dependency's
    /// response (its guards released when it ends), or a fallback's.
    #[derive(Debug)]
    pub struct ClientBody<X> {
        #[pin]
        inner: Inner<X>,
    }
}

pin_project! {
    #[project = InnerProj]
    #[derive(Debug)]
    enum Inner<X> {
        Guarded { #[pin] body: X },
        Fallback { data: Option<Bytes> },
    }
}

impl<X> ClientBody<X> {
    fn guarded(body: X) -> Self {
        Self {
            inner: Inner::Guarded { body },
        }
    }

    fn fallback(data: Bytes) -> Self {
        Self {
            inner: Inner::Fallback { data: Some(data) },
        }
    }

    /// True if this is a fallback's body.
    pub fn is_fallback(&self) -> bool {
        matches!(self.inner, Inner::Fallback { .. })
    }
}

impl<X: Body<Data = Bytes>> Body for ClientBody<X> {
    type Data = Bytes;
    type Error = X::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, X::Error>>> {
        match self.project().inner.project() {
            InnerProj::Guarded { body } => body.poll_frame(cx),
            InnerProj::Fallback { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Guarded { body } => body.is_end_stream(),
            Inner::Fallback { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Guarded { body } => body.size_hint(),
            Inner::Fallback { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

/// The future of a client call (boxed: an HTTP call allocates anyway, and
/// the type stays nameable).
pub type ClientFuture<X, E> =
    Pin<Box<dyn Future<Output = Result<Response<ClientBody<X>>, Error<E>>> + Send>>;

/// How a [`ClientLayer`] sends a request again, for a retry.
pub trait Resend<B>: Clone + Send + Sync + 'static {
    /// Whether `request` may be sent more than once (asked before its first
    /// attempt: a request that may not is never retried).
    fn can_resend(&self, request: &Request<B>) -> bool;

    /// A copy of `request` to send, for a request
    /// [`can_resend`](Self::can_resend) said yes to (it is not asked
    /// otherwise).
    fn resend(&self, request: &Request<B>) -> Request<B>;
}

/// Retries send a clone of the request (the default): its body must be
/// `Clone` (`String`, `Bytes`, `http_body_util::Full`).
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneRequest;

impl<B: Clone> Resend<B> for CloneRequest {
    fn can_resend(&self, _: &Request<B>) -> bool {
        true
    }

    fn resend(&self, request: &Request<B>) -> Request<B> {
        request.clone()
    }
}

/// Every request is sent once, never retried: for bodies that cannot be
/// copied (a tonic channel's, a stream). The other guards apply as usual.
#[derive(Clone, Copy, Debug, Default)]
pub struct SendOnce;

impl<B> Resend<B> for SendOnce {
    fn can_resend(&self, _: &Request<B>) -> bool {
        false
    }

    fn resend(&self, request: &Request<B>) -> Request<B> {
        unreachable!(
            "asked to resend {} {} that SendOnce said may not be sent again",
            request.method(),
            request.uri()
        )
    }
}

/// A tower layer: every request through its host's pipeline (see the
/// [module docs](super)).
///
/// # Examples
///
/// Under a tonic channel: a gRPC client's requests carry no authority (the
/// channel adds it) and their bodies cannot be copied, so name the host and
/// send each request once (every other guard applies):
///
/// ```
/// use palisade::client::{ClientLayer, Clients};
///
/// let clients = Clients::builder(Default::default()).grpc().build()?;
/// let layer = ClientLayer::new(clients).host("ticker:50051").send_once();
/// # let _ = layer;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClientLayer<K = crate::http::HttpFailures, R = CloneRequest> {
    clients: Clients<K>,
    resend: R,
    host: Option<Arc<str>>,
}

impl<K> ClientLayer<K> {
    /// A layer sending each request through its host's pipeline in
    /// `clients`, the host read from the request's URI (see [`key_of`]),
    /// retries sending a clone of the request.
    pub fn new(clients: Clients<K>) -> Self {
        Self {
            clients,
            resend: CloneRequest,
            host: None,
        }
    }
}

impl<K, R> ClientLayer<K, R> {
    /// Every request through the pipeline of host `key` (`host:port`, or
    /// any key the configuration names), whatever its URI: for clients
    /// whose requests carry no authority (a tonic channel's).
    pub fn host(mut self, key: impl Into<Arc<str>>) -> Self {
        self.host = Some(key.into());
        self
    }

    /// Send each request once, never retried ([`SendOnce`]).
    pub fn send_once(self) -> ClientLayer<K, SendOnce> {
        self.resend_with(SendOnce)
    }

    /// Send requests again with `resend` (see [`Resend`]).
    pub fn resend_with<Q>(self, resend: Q) -> ClientLayer<K, Q> {
        ClientLayer {
            clients: self.clients,
            resend,
            host: self.host,
        }
    }
}

impl<S, K, R: Clone> Layer<S> for ClientLayer<K, R> {
    type Service = ClientService<S, K, R>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService {
            inner,
            clients: self.clients.clone(),
            resend: self.resend.clone(),
            host: self.host.clone(),
        }
    }
}

/// A client service made by [`ClientLayer`]. It is always ready: the inner
/// service is readied inside the response future (a clone for each
/// attempt), so a guard's rejection comes from the response future, never
/// from `poll_ready`, and the inner client's back-pressure is waited for
/// there, under the pipeline's timeouts.
#[derive(Clone, Debug)]
pub struct ClientService<S, K = crate::http::HttpFailures, R = CloneRequest> {
    inner: S,
    clients: Clients<K>,
    resend: R,
    host: Option<Arc<str>>,
}

impl<S, K, R, B, RB, X> Service<Request<B>> for ClientService<S, K, R>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: std::error::Error + Send + Sync + 'static,
    R: Resend<B>,
    B: Send + 'static,
    RB: Send + 'static,
    K: Judge<Response<RB>, S::Error, HostLimit, Output = Response<X>>
        + RetryPolicy<Response<RB>, Error<S::Error>>
        + ClassifyResponse
        + Clone
        + Send
        + Sync
        + 'static,
    X: Send + 'static,
{
    type Response = Response<ClientBody<X>>;
    type Error = Error<S::Error>;
    type Future = ClientFuture<X, S::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let key = match &self.host {
            Some(host) => host.to_string(),
            None => key_of(req.uri()),
        };
        let method = req.method().clone();
        let mut options = req.extensions().get::<CallOptions>().copied();
        if !self.resend.can_resend(&req) {
            options.get_or_insert_with(CallOptions::new).skip.retry = true;
        }
        let attempts = ClientAttempts {
            template: self.inner.clone(),
            request: Some(req),
            resend: self.resend.clone(),
        };
        Box::pin(run(self.clients.clone(), key, method, options, attempts))
    }
}

/// A call's attempts: each readies a clone of the inner service and sends
/// a copy of the request, or the request itself for a request that is not
/// retried (its one attempt).
struct ClientAttempts<S, B, R> {
    template: S,
    request: Option<Request<B>>,
    resend: R,
}

impl<S, B, R> Attempts for ClientAttempts<S, B, R>
where
    S: Service<Request<B>> + Clone,
    R: Resend<B>,
{
    type Attempt = ServiceAttempt<S, Request<B>>;

    fn next_attempt(&mut self) -> Self::Attempt {
        // A request that may not be sent again makes a call without
        // retries (see `call`): one attempt, which takes the request.
        let request = match self.request.as_ref() {
            Some(original) if self.resend.can_resend(original) => self.resend.resend(original),
            _ => self
                .request
                .take()
                .expect("a request that cannot be resent is attempted once"),
        };
        ServiceAttempt::new(self.template.clone(), request)
    }
}

impl<K> Clients<K>
where
    K: Clone + Send + Sync + 'static,
{
    /// Runs the futures `make` returns (one per attempt: reqwest's
    /// `send()`, say) through the pipeline of `uri`'s host, as the
    /// [`ClientLayer`] does for a tower client: `method` says whether the
    /// call may be retried.
    ///
    /// # Errors
    ///
    /// The flat [`Error`]: the client's own error or the guard that
    /// stopped the call, unless a fallback answered.
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::client::Clients;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let clients = Clients::builder(Default::default()).build()?;
    /// let uri: http::Uri = "http://inventory:8080/stock".parse()?;
    /// let response = clients
    ///     .call(&http::Method::GET, &uri, None, || async {
    ///         // Here `client.get(url).send().await.map(http::Response::from)`.
    ///         let body = http_body_util::Full::new(bytes::Bytes::from("12"));
    ///         Ok::<_, std::io::Error>(http::Response::new(body))
    ///     })
    ///     .await?;
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(clients.hosts(), ["inventory:8080"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn call<F, Fut, RB, E, X>(
        &self,
        method: &Method,
        uri: &Uri,
        options: Option<CallOptions>,
        make: F,
    ) -> ClientFuture<X, E>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<RB>, E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
        RB: Send + 'static,
        K: Judge<Response<RB>, E, HostLimit, Output = Response<X>>
            + RetryPolicy<Response<RB>, Error<E>>
            + ClassifyResponse,
        X: Send + 'static,
    {
        Box::pin(run(
            self.clone(),
            key_of(uri),
            method.clone(),
            options,
            make,
        ))
    }
}

/// One call: the host's pipeline as it stands (adjusted by the call's
/// options and method), then the fallback.
async fn run<K, A, RB, E, X>(
    clients: Clients<K>,
    key: String,
    method: Method,
    options: Option<CallOptions>,
    attempts: A,
) -> Result<Response<ClientBody<X>>, Error<E>>
where
    A: Attempts,
    A::Attempt: Future<Output = Result<Response<RB>, E>>,
    E: std::error::Error + 'static,
    K: Judge<Response<RB>, E, HostLimit, Output = Response<X>>
        + RetryPolicy<Response<RB>, Error<E>>
        + ClassifyResponse
        + Clone
        + Send
        + Sync
        + 'static,
{
    let host = clients.host(&key).map_err(Error::Misconfigured)?;
    let current = clients.current(&host).map_err(Error::Misconfigured)?;
    let options = options.unwrap_or_default();
    let mut skip = options.skip;
    skip.retry |= !(idempotent(&method) || current.retries_any_method());
    let pipeline = if options.deadline.is_none() && skip == Skip::default() {
        Arc::clone(&current.pipeline)
    } else if options.deadline.is_none() && skip == Skip::RETRY {
        Arc::clone(&current.once)
    } else {
        Arc::new(
            current
                .pipeline
                .adjusted(skip, options.deadline)
                .map_err(Error::Misconfigured)?,
        )
    };
    let result = PipelineCall::new(pipeline, traced(&key, attempts)).await;
    let handler = clients
        .shared
        .fallback
        .as_ref()
        .filter(|_| current.fallback() && !options.no_fallback);
    let Some(handler) = handler else {
        return result.map(|response| response.map(ClientBody::guarded));
    };
    let served = match &result {
        Ok(response) => match clients
            .shared
            .classifier
            .clone()
            .classify_response(response)
        {
            ClassifiedResponse::Ready(Err(_)) => handler(&Failed {
                key: &key,
                status: Some(response.status()),
                error: None,
                kind: None,
            }),
            _ => None,
        },
        Err(error) => handler(&Failed {
            key: &key,
            status: None,
            error: Some(error),
            kind: Some(error.kind()),
        }),
    };
    if served.is_some() {
        host.served().count();
    }
    match served {
        // The failed response is dropped unread: its head's verdict stands.
        Some(fallback) => Ok(fallback.map(ClientBody::fallback)),
        None => result.map(|response| response.map(ClientBody::guarded)),
    }
}

/// `attempts`, each in a `tracing` span (feature `tracing`).
#[cfg(feature = "tracing")]
fn traced<A>(key: &str, attempts: A) -> Traced<A> {
    Traced {
        inner: attempts,
        key: Arc::from(key),
        number: 0,
    }
}

#[cfg(not(feature = "tracing"))]
fn traced<A>(_key: &str, attempts: A) -> A {
    attempts
}

/// Attempts each made and polled in a span `palisade.attempt` with the
/// attributes Polly's telemetry uses where they fit (OpenTelemetry has no
/// resilience conventions yet): `pipeline.instance` (the host key),
/// `attempt.number` (from 0, as Polly), and on completion
/// `http.response.status_code` (OpenTelemetry's HTTP convention) or
/// `error.type`.
#[cfg(feature = "tracing")]
struct Traced<A> {
    inner: A,
    key: Arc<str>,
    number: u32,
}

#[cfg(feature = "tracing")]
impl<A, RB, E> Attempts for Traced<A>
where
    A: Attempts,
    A::Attempt: Future<Output = Result<Response<RB>, E>>,
    E: fmt::Display,
{
    type Attempt = TracedAttempt<A::Attempt>;

    fn next_attempt(&mut self) -> Self::Attempt {
        let span = tracing::info_span!(
            "palisade.attempt",
            pipeline.instance = %self.key,
            attempt.number = self.number,
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        self.number += 1;
        let attempt = span.in_scope(|| self.inner.next_attempt());
        TracedAttempt { attempt, span }
    }
}

#[cfg(feature = "tracing")]
pin_project! {
    struct TracedAttempt<F> {
        #[pin]
        attempt: F,
        span: tracing::Span,
    }
}

#[cfg(feature = "tracing")]
impl<F, RB, E> Future for TracedAttempt<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
    E: fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let output = std::task::ready!(this.attempt.poll(cx));
        match &output {
            Ok(response) => {
                this.span
                    .record("http.response.status_code", response.status().as_u16());
            }
            Err(error) => {
                this.span
                    .record("error.type", tracing::field::display(error));
            }
        }
        Poll::Ready(output)
    }
}
