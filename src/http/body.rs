//! The response body that carries a call's permission to its end.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_http::classify::ClassifyEos;

use super::BreakerVerdict;
use crate::bulkhead::guard::Place;
use crate::circuit_breaker::guard::Ticket;
use crate::circuit_breaker::Classification;
use crate::lease::Lease;
use crate::pipeline::Judged;
use crate::retry::guard::BudgetHold;
use crate::retry::hint::{self, Hint};

type BreakerInner = crate::circuit_breaker::guard::Core;
type BulkheadInner = crate::bulkhead::guard::Core;

/// A response whose body holds the guard `G` until it ends.
pub type GuardedResponse<B, G> = http::Response<ResponseBody<B, G>>;

pin_project! {
    /// A response body that holds its call's permission (a breaker
    /// admission, a bulkhead place) until the body ends, and then records
    /// the call: the body is part of the call.
    ///
    /// The body ends, and the permission is recorded once, at the first of:
    ///
    /// - **trailers**: classified (a gRPC status in trailers);
    /// - **the last frame**: the body returned `None`, or said after a
    ///   frame (or when the response arrived) that it is at its end
    ///   (`is_end_stream`), so a consumer that stops there does not leave
    ///   the call open;
    /// - **an error**: the body broke mid-stream. A failure, or as the
    ///   classifier's end-of-stream half says when the verdict waited for
    ///   the end;
    /// - **drop before the end** (the cancel rule): when the response head
    ///   already decided the verdict (an HTTP status), that verdict is
    ///   recorded; when the verdict waited for the end (gRPC status in
    ///   trailers), the call is *cancelled*, as a dropped future is: not
    ///   recorded (unless the breaker counts cancelled calls as failures)
    ///   and a half-open probe place is given back.
    ///
    /// It forwards every frame untouched, and `size_hint` and
    /// `is_end_stream`; it allocates nothing.
    ///
    /// The call lasts until its body ends, for the slow-call clock too: a
    /// long-lived stream (a server-streaming RPC, server-sent events) is
    /// slow by that measure, so leave slow-call detection off for a breaker
    /// guarding such calls, or give them a breaker of their own.
    pub struct ResponseBody<B, G> {
        #[pin]
        inner: B,
        guard: Option<G>,
    }
}

impl<B: Body, G: BodyGuard> ResponseBody<B, G> {
    /// `inner`, guarded by `guard`; recorded at once if `inner` is empty.
    pub(crate) fn new(inner: B, guard: G) -> Self {
        let guard = if inner.is_end_stream() {
            guard.ended();
            None
        } else {
            Some(guard)
        };
        Self { inner, guard }
    }
}

impl<B, G> ResponseBody<B, G> {
    /// The body inside.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Whether the permission is still held (the body has not ended).
    pub fn is_holding(&self) -> bool {
        self.guard.is_some()
    }
}

impl<B, G> fmt::Debug for ResponseBody<B, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("holding", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

impl<B, G> Body for ResponseBody<B, G>
where
    B: Body,
    B::Error: fmt::Display + 'static,
    G: BodyGuard,
{
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = std::task::ready!(this.inner.as_mut().poll_frame(cx));
        if this.guard.is_some() {
            match &frame {
                Some(Ok(frame)) => {
                    if let Some(trailers) = frame.trailers_ref() {
                        if let Some(guard) = this.guard.take() {
                            guard.trailers(trailers);
                        }
                    } else if this.inner.is_end_stream() {
                        if let Some(guard) = this.guard.take() {
                            guard.ended();
                        }
                    }
                }
                Some(Err(error)) => {
                    if let Some(guard) = this.guard.take() {
                        guard.broke(error);
                    }
                }
                None => {
                    if let Some(guard) = this.guard.take() {
                        guard.ended();
                    }
                }
            }
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pub(super) mod sealed {
    pub trait Sealed {}
}

/// What a [`ResponseBody`] holds until it ends: [`BreakerGuard`] or
/// [`BulkheadGuard`]. Dropping one before the body ends is the cancel
/// rule (see [`ResponseBody`]). Sealed: palisade's guards only.
pub trait BodyGuard: sealed::Sealed + Sized {
    /// The body ended with these trailers.
    #[doc(hidden)]
    fn trailers(self, trailers: &HeaderMap);
    /// The body ended without trailers.
    #[doc(hidden)]
    fn ended(self);
    /// The body broke with `error`.
    #[doc(hidden)]
    fn broke<E: fmt::Display + 'static>(self, error: &E);
}

/// A circuit breaker's admission, held by a [`ResponseBody`] until the body
/// ends.
pub struct BreakerGuard<E> {
    ticket: Ticket<Lease<BreakerInner>>,
    verdict: Judged<E>,
    /// The longest open duration a response's hint may ask for; `None`:
    /// hints are not read.
    max_hint: Option<Duration>,
    /// The hint in the response head, when read.
    hint: Option<Duration>,
}

impl<E> BreakerGuard<E> {
    pub(crate) fn new(
        ticket: Ticket<Lease<BreakerInner>>,
        verdict: Judged<E>,
        headers: &HeaderMap,
        max_hint: Option<Duration>,
    ) -> Self {
        // Read only when asked for, and only when the call may fail.
        let may_fail = !matches!(
            verdict,
            Judged::Now(Classification::Success | Classification::Ignored)
        );
        let hint = match max_hint {
            Some(_) if may_fail => {
                hint::from_headers(headers, SystemTime::now()).and_then(Hint::delay)
            }
            _ => None,
        };
        Self {
            ticket,
            verdict,
            max_hint,
            hint,
        }
    }

    /// Records the call; after a failure whose response asked for a pause,
    /// an open breaker stays open at least that long.
    fn record(mut self, class: Classification, hint: Option<Duration>) {
        self.settle(class, hint);
    }

    fn settle(&mut self, class: Classification, hint: Option<Duration>) {
        self.verdict = Judged::Now(Classification::Ignored);
        self.ticket.finish(class);
        if let (Classification::Failure, Some(hint), Some(max)) = (class, hint, self.max_hint) {
            self.ticket.hold_open(hint.min(max));
        }
    }
}

/// The classification of an end-of-stream verdict.
fn counted<F: BreakerVerdict>(verdict: Result<(), F>) -> Classification {
    verdict.map_or_else(|class| class.classification(), |()| Classification::Success)
}

impl<E> sealed::Sealed for BreakerGuard<E> {}

impl<E> BodyGuard for BreakerGuard<E>
where
    E: ClassifyEos,
    E::FailureClass: BreakerVerdict,
{
    fn trailers(mut self, trailers: &HeaderMap) {
        let class = match std::mem::replace(&mut self.verdict, Judged::Now(Classification::Ignored))
        {
            Judged::Now(class) => class,
            Judged::AtBodyEnd(eos) => counted(eos.classify_eos(Some(trailers))),
        };
        let hint = match self.max_hint {
            Some(_) => self
                .hint
                .or_else(|| hint::from_headers(trailers, SystemTime::now()).and_then(Hint::delay)),
            None => None,
        };
        self.record(class, hint);
    }

    fn ended(mut self) {
        let class = match std::mem::replace(&mut self.verdict, Judged::Now(Classification::Ignored))
        {
            Judged::Now(class) => class,
            Judged::AtBodyEnd(eos) => counted(eos.classify_eos(None)),
        };
        let hint = self.hint;
        self.record(class, hint);
    }

    fn broke<Err: fmt::Display + 'static>(mut self, error: &Err) {
        let class = match std::mem::replace(&mut self.verdict, Judged::Now(Classification::Ignored))
        {
            // The head looked fine (or not), but the body broke.
            Judged::Now(_) => Classification::Failure,
            Judged::AtBodyEnd(eos) => eos.classify_error(error).classification(),
        };
        let hint = self.hint;
        self.record(class, hint);
    }
}

impl<E> Drop for BreakerGuard<E> {
    fn drop(&mut self) {
        // Dropped before the end (when recorded, the ticket holds nothing
        // and this does nothing): a verdict from the head stands; one that
        // waited for the end is a cancelled call, the ticket's own drop.
        if let Judged::Now(class) = self.verdict {
            let hint = self.hint;
            self.settle(class, hint);
        }
    }
}

impl<E> fmt::Debug for BreakerGuard<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerGuard")
            .field("breaker", &self.ticket.name())
            .field("at_end", &matches!(self.verdict, Judged::AtBodyEnd(_)))
            .finish_non_exhaustive()
    }
}

/// A bulkhead place, held by a [`ResponseBody`] until the body ends: the
/// connection is in use until then.
pub struct BulkheadGuard {
    _place: Place<Lease<BulkheadInner>>,
}

impl BulkheadGuard {
    pub(crate) fn new(place: Place<Lease<BulkheadInner>>) -> Self {
        Self { _place: place }
    }
}

impl sealed::Sealed for BulkheadGuard {}

impl BodyGuard for BulkheadGuard {
    fn trailers(self, _trailers: &HeaderMap) {}

    fn ended(self) {}

    fn broke<E: fmt::Display + 'static>(self, _error: &E) {}
}

impl fmt::Debug for BulkheadGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadGuard").finish_non_exhaustive()
    }
}

/// What a call holds of an in-flight retry budget, held by a
/// [`ResponseBody`] until the body ends (see
/// [`RetryLayer`](super::RetryLayer)).
pub struct BudgetGuard {
    _hold: Option<BudgetHold>,
}

impl BudgetGuard {
    pub(crate) fn new(hold: Option<BudgetHold>) -> Self {
        Self { _hold: hold }
    }
}

impl sealed::Sealed for BudgetGuard {}

impl BodyGuard for BudgetGuard {
    fn trailers(self, _trailers: &HeaderMap) {}

    fn ended(self) {}

    fn broke<E: fmt::Display + 'static>(self, _error: &E) {}
}

impl fmt::Debug for BudgetGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudgetGuard")
            .field("holds", &self._hold.is_some())
            .finish()
    }
}
