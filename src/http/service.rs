//! The HTTP services: the breaker's and the bulkhead's tower services, with
//! the permission moved into the response body.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Response;
use pin_project_lite::pin_project;
use tower_http::classify::ClassifyResponse;
use tower_service::Service;

use super::body::{BodyGuard, BreakerGuard, BulkheadGuard, ResponseBody};
use super::BreakerVerdict;
use crate::bulkhead::guard::Gate as BulkheadGate;
use crate::bulkhead::guard::Place;
use crate::circuit_breaker::guard::Gate as BreakerGate;
use crate::circuit_breaker::guard::Ticket;
use crate::circuit_breaker::{Classification, DefaultClassifier};
use crate::error::{BulkheadFull, CircuitOpen, Error};
use crate::lease::Lease;

type BreakerInner = crate::circuit_breaker::guard::Core;
type BulkheadInner = crate::bulkhead::guard::Core;

/// A tower service guarded by a circuit breaker that records each call
/// when its response body ends; made by
/// [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
///
/// Admission is the breaker service's: `poll_ready` never fails because of
/// the breaker; a rejection is the response future's
/// [`Error::CircuitOpen`]. What differs is the end of the call: the
/// response future resolves to the response with its body wrapped in a
/// [`ResponseBody`] that holds the admission until the body ends (see
/// there). A call that fails without a response (`Err` from the inner
/// service) is recorded at once, as the classifier's `classify_error`
/// says; so is a panic in the inner future's poll (a failure).
pub struct CircuitBreakerService<S, C> {
    inner: S,
    gate: BreakerGate<DefaultClassifier>,
    classifier: C,
    max_hint: Option<Duration>,
}

impl<S, C> CircuitBreakerService<S, C> {
    pub(crate) fn new(
        inner: S,
        gate: BreakerGate<DefaultClassifier>,
        classifier: C,
        max_hint: Option<Duration>,
    ) -> Self {
        Self {
            inner,
            gate,
            classifier,
            max_hint,
        }
    }

    /// The guarding breaker.
    pub fn breaker(&self) -> &crate::CircuitBreaker {
        &self.gate.guard.breaker
    }
}

impl<S: Clone, C: Clone> Clone for CircuitBreakerService<S, C> {
    fn clone(&self) -> Self {
        Self::new(
            self.inner.clone(),
            BreakerGate::new(self.gate.guard.fresh()),
            self.classifier.clone(),
            self.max_hint,
        )
    }
}

impl<S: fmt::Debug, C: fmt::Debug> fmt::Debug for CircuitBreakerService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("http::CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.gate.guard.breaker)
            .field("classifier", &self.classifier)
            .field("max_hint", &self.max_hint)
            .finish()
    }
}

impl<S, C, Req, B> Service<Req> for CircuitBreakerService<S, C>
where
    S: Service<Req, Response = Response<B>>,
    S::Error: fmt::Display + 'static,
    B: http_body::Body,
    C: ClassifyResponse + Clone,
    C::FailureClass: BreakerVerdict,
{
    type Response = Response<ResponseBody<B, BreakerGuard<C::ClassifyEos>>>;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future, BreakerArm<C>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let inner = &mut self.inner;
        match self.gate.poll_ready(cx, |cx| inner.poll_ready(cx)) {
            Poll::Ready(Err(e)) => {
                if let Some(admission) = self.gate.take_reserved() {
                    let class = self.classifier.clone().classify_error(&e).classification();
                    self.gate.guard.settle(admission, class);
                }
                Poll::Ready(Err(Error::Operation(e)))
            }
            other => other.map_err(Error::Operation),
        }
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.gate.admit() {
            Ok(ticket) => {
                let arm = BreakerArm {
                    ticket,
                    classifier: self.classifier.clone(),
                    max_hint: self.max_hint,
                };
                ResponseFuture::running(self.inner.call(req), arm)
            }
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}

/// A tower service guarded by a bulkhead that holds each call's place
/// until its response body ends; made by
/// [`BulkheadLayer`](super::BulkheadLayer).
///
/// Admission is the bulkhead service's (`poll_ready` never fails because
/// of the bulkhead; fail-fast rejections are the response future's
/// [`Error::BulkheadFull`]); the place then rides in the [`ResponseBody`]
/// and is given back when the body ends or is dropped, not when the head
/// arrives: a streaming response keeps its connection busy until then.
pub struct BulkheadService<S> {
    inner: S,
    gate: BulkheadGate,
}

impl<S> BulkheadService<S> {
    pub(crate) fn new(inner: S, gate: BulkheadGate) -> Self {
        Self { inner, gate }
    }

    /// The guarding bulkhead.
    pub fn bulkhead(&self) -> &crate::Bulkhead {
        &self.gate.guard.bulkhead
    }
}

impl<S: Clone> Clone for BulkheadService<S> {
    fn clone(&self) -> Self {
        Self::new(
            self.inner.clone(),
            BulkheadGate::new(self.gate.guard.fresh()),
        )
    }
}

impl<S: fmt::Debug> fmt::Debug for BulkheadService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("http::BulkheadService")
            .field("inner", &self.inner)
            .field("bulkhead", &self.gate.guard.bulkhead)
            .finish()
    }
}

impl<S, Req, B> Service<Req> for BulkheadService<S>
where
    S: Service<Req, Response = Response<B>>,
    S::Error: fmt::Display + 'static,
    B: http_body::Body,
{
    type Response = Response<ResponseBody<B, BulkheadGuard>>;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future, BulkheadArm>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let inner = &mut self.inner;
        let poll = self.gate.poll_ready(cx, |cx| inner.poll_ready(cx));
        if let Poll::Ready(Err(_)) = poll {
            self.gate.release_reserved();
        }
        poll.map_err(Error::Operation)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.gate.admit() {
            Ok(place) => ResponseFuture::running(self.inner.call(req), BulkheadArm { place }),
            Err(full) => ResponseFuture::rejected(full),
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// What a response future holds while the head is awaited, and turns into
/// the body's guard when it arrives: [`BreakerArm`] or [`BulkheadArm`].
/// Sealed.
pub trait Arm: sealed::Sealed {
    /// The body's guard.
    type Guard: BodyGuard;
    /// The guard's rejection.
    type Rejection;

    /// The head arrived: the guard for its body.
    #[doc(hidden)]
    fn arrived<B>(self, response: &Response<B>) -> Self::Guard;
    /// The call failed without a response.
    #[doc(hidden)]
    fn failed<E: fmt::Display + 'static>(self, error: &E);
    /// The inner future's poll panicked.
    #[doc(hidden)]
    fn panicked(&mut self);
}

/// The breaker's side of a response future (see [`Arm`]).
pub struct BreakerArm<C> {
    ticket: Ticket<Lease<BreakerInner>>,
    classifier: C,
    max_hint: Option<Duration>,
}

impl<C> sealed::Sealed for BreakerArm<C> {}

impl<C> Arm for BreakerArm<C>
where
    C: ClassifyResponse,
    C::FailureClass: BreakerVerdict,
{
    type Guard = BreakerGuard<C::ClassifyEos>;
    type Rejection = CircuitOpen;

    fn arrived<B>(self, response: &Response<B>) -> Self::Guard {
        let head = super::classify::head_verdict(self.classifier, response);
        BreakerGuard::new(self.ticket, head, response.headers(), self.max_hint)
    }

    fn failed<E: fmt::Display + 'static>(self, error: &E) {
        let class = self.classifier.classify_error(error).classification();
        self.ticket.complete(class);
    }

    fn panicked(&mut self) {
        self.ticket.finish(Classification::Failure);
    }
}

impl<C> fmt::Debug for BreakerArm<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerArm").finish_non_exhaustive()
    }
}

/// The bulkhead's side of a response future (see [`Arm`]).
pub struct BulkheadArm {
    place: Place<Lease<BulkheadInner>>,
}

impl sealed::Sealed for BulkheadArm {}

impl Arm for BulkheadArm {
    type Guard = BulkheadGuard;
    type Rejection = BulkheadFull;

    fn arrived<B>(self, _response: &Response<B>) -> BulkheadGuard {
        BulkheadGuard::new(self.place)
    }

    fn failed<E: fmt::Display + 'static>(self, _error: &E) {}

    fn panicked(&mut self) {}
}

impl fmt::Debug for BulkheadArm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadArm").finish_non_exhaustive()
    }
}

pin_project! {
    /// The response future of the HTTP services: the response, its body
    /// wrapped in a [`ResponseBody`] holding the permission, or the
    /// rejection. Dropped before the head arrives, the call is cancelled
    /// (as the breaker's and the bulkhead's own response futures).
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, A: Arm> {
        #[pin]
        kind: Kind<F, A, A::Rejection>,
    }
}

pin_project! {
    #[project = KindProj]
    #[project_replace = KindTaken]
    enum Kind<F, A, R> {
        Running { #[pin] fut: F, arm: A },
        Rejected { rejection: R },
        Done,
    }
}

impl<F, A: Arm> ResponseFuture<F, A> {
    fn running(fut: F, arm: A) -> Self {
        Self {
            kind: Kind::Running { fut, arm },
        }
    }

    fn rejected(rejection: A::Rejection) -> Self {
        Self {
            kind: Kind::Rejected { rejection },
        }
    }
}

impl<F, A, B, E> Future for ResponseFuture<F, A>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    E: fmt::Display + 'static,
    A: Arm,
    A::Rejection: Into<Error<E>>,
{
    type Output = Result<Response<ResponseBody<B, A::Guard>>, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        let result = match kind.as_mut().project() {
            KindProj::Running { fut, arm } => {
                std::task::ready!(crate::unwind::poll_noting_unwind(fut, cx, || arm.panicked()))
            }
            KindProj::Rejected { .. } => {
                let KindTaken::Rejected { rejection } = kind.project_replace(Kind::Done) else {
                    unreachable!("rejected above")
                };
                return Poll::Ready(Err(rejection.into()));
            }
            KindProj::Done => panic!("`ResponseFuture` polled after completion"),
        };
        let KindTaken::Running { arm, .. } = kind.project_replace(Kind::Done) else {
            unreachable!("running above")
        };
        Poll::Ready(match result {
            Ok(response) => {
                let guard = arm.arrived(&response);
                Ok(response.map(|body| ResponseBody::new(body, guard)))
            }
            Err(error) => {
                arm.failed(&error);
                Err(Error::Operation(error))
            }
        })
    }
}

impl<F, A: Arm> fmt::Debug for ResponseFuture<F, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

inner_service!(CircuitBreakerService<S, C>);

inner_service!(BulkheadService<S>);
