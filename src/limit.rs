//! [`Limiter`]: a concurrency limit that a [`Pipeline`](crate::pipeline::Pipeline)
//! holds between its breaker and its attempts.

use std::task::{Context, Poll};

use crate::circuit_breaker::Classification;
use crate::error::Error;

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// A concurrency limit a pipeline can hold in the bulkhead's place: the
/// semaphore [`Bulkhead`](crate::bulkhead::Bulkhead), an
/// [`AdaptiveLimit`](crate::adaptive::AdaptiveLimit) or a
/// [`RateLimit`](crate::rate_limit::RateLimit).
///
/// Sealed: the pipeline keeps a limit's per-call state as plain data in its
/// own future (no reference count per call), which only palisade's limits
/// provide. A limit's rejection is not the dependency's fault: the breaker
/// ignores it.
pub trait Limiter: sealed::Sealed {
    #[doc(hidden)]
    /// A call's place, as plain data.
    type Seat: Default;
    #[doc(hidden)]
    /// A call's wait for a place.
    type Queued;

    #[doc(hidden)]
    /// A place handed over to a response body, given back when dropped.
    #[cfg(feature = "http")]
    type Held: Send + Sync + 'static;

    #[doc(hidden)]
    /// The limit's name.
    fn limit_name(&self) -> &str;

    #[doc(hidden)]
    /// Asks for a place: `Ok` seated, or queued (`queue` holds the wait).
    fn admit<E>(
        &self,
        seat: &mut Self::Seat,
        queue: &mut Option<Self::Queued>,
    ) -> Result<(), Error<E>>;

    #[doc(hidden)]
    /// Polls a queued call: `Ok` once seated.
    fn poll_queue<E>(
        &self,
        seat: &mut Self::Seat,
        queued: &mut Self::Queued,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error<E>>>;

    #[doc(hidden)]
    /// The seat holds a place.
    fn holds(seat: &Self::Seat) -> bool;

    #[doc(hidden)]
    /// Gives the place back, if the seat holds one, with how the call
    /// went as the breaker's classifier judged it (`None`: cancelled).
    fn release(&self, seat: &mut Self::Seat, class: Option<Classification>);

    #[doc(hidden)]
    /// Hands the seat's place to a holder of its own, judged `class` so
    /// far; `None` if it holds none.
    #[cfg(feature = "http")]
    fn hand_over(&self, seat: &mut Self::Seat, class: Option<Classification>)
        -> Option<Self::Held>;
}

impl sealed::Sealed for crate::bulkhead::Bulkhead {}

impl Limiter for crate::bulkhead::Bulkhead {
    type Seat = crate::bulkhead::guard::Seat;
    type Queued = crate::bulkhead::guard::Queued;
    #[cfg(feature = "http")]
    type Held = crate::bulkhead::guard::Held;

    fn limit_name(&self) -> &str {
        self.name()
    }

    #[inline(always)]
    fn admit<E>(
        &self,
        seat: &mut Self::Seat,
        queue: &mut Option<Self::Queued>,
    ) -> Result<(), Error<E>> {
        seat.admit(self, queue).map_err(Error::BulkheadFull)
    }

    #[inline(always)]
    fn poll_queue<E>(
        &self,
        seat: &mut Self::Seat,
        queued: &mut Self::Queued,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error<E>>> {
        seat.poll_queue(queued, cx).map_err(Error::BulkheadFull)
    }

    #[inline(always)]
    fn holds(seat: &Self::Seat) -> bool {
        seat.holds()
    }

    #[inline(always)]
    fn release(&self, seat: &mut Self::Seat, _class: Option<Classification>) {
        seat.release(self);
    }

    #[cfg(feature = "http")]
    fn hand_over(
        &self,
        seat: &mut Self::Seat,
        _class: Option<Classification>,
    ) -> Option<Self::Held> {
        seat.hand_over(self)
    }
}

impl sealed::Sealed for crate::rate_limit::RateLimit {}

/// The rate limit in a pipeline: each attempt takes a turn (a retry
/// too), waiting for it up to the limit's `max_wait`; over the rate, the
/// attempt is rejected with [`Error::RateLimited`] (the breaker ignores
/// it: not the dependency's fault). A turn is taken, not held: nothing is
/// given back.
impl Limiter for crate::rate_limit::RateLimit {
    type Seat = crate::rate_limit::guard::Seat;
    type Queued = crate::rate_limit::guard::Turn;
    #[cfg(feature = "http")]
    type Held = std::convert::Infallible;

    fn limit_name(&self) -> &str {
        self.name()
    }

    #[inline]
    fn admit<E>(
        &self,
        _seat: &mut Self::Seat,
        queue: &mut Option<Self::Queued>,
    ) -> Result<(), Error<E>> {
        *queue = crate::rate_limit::guard::Turn::ask(&*self.inner, None)?;
        Ok(())
    }

    fn poll_queue<E>(
        &self,
        _seat: &mut Self::Seat,
        queued: &mut Self::Queued,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error<E>>> {
        queued.poll(&*self.inner, cx).map_err(Error::RateLimited)
    }

    #[inline(always)]
    fn holds(_seat: &Self::Seat) -> bool {
        false
    }

    #[inline(always)]
    fn release(&self, _seat: &mut Self::Seat, _class: Option<Classification>) {}

    #[cfg(feature = "http")]
    fn hand_over(
        &self,
        _seat: &mut Self::Seat,
        _class: Option<Classification>,
    ) -> Option<Self::Held> {
        None
    }
}

impl sealed::Sealed for crate::adaptive::AdaptiveLimit {}

/// The adaptive limit in a pipeline: an attempt's latency is sampled from
/// the moment it got its place; one its breaker's classifier calls a
/// failure (with the default classifier any error, a timeout included;
/// with no breaker, any `Err`) is a drop; a cancelled attempt is no
/// sample. It never queues.
impl Limiter for crate::adaptive::AdaptiveLimit {
    type Seat = crate::adaptive::guard::Seat;
    type Queued = std::convert::Infallible;
    #[cfg(feature = "http")]
    type Held = crate::adaptive::guard::Held;

    fn limit_name(&self) -> &str {
        self.name()
    }

    #[inline(always)]
    fn admit<E>(
        &self,
        seat: &mut Self::Seat,
        _queue: &mut Option<Self::Queued>,
    ) -> Result<(), Error<E>> {
        seat.admit(self).map_err(Error::BulkheadFull)
    }

    fn poll_queue<E>(
        &self,
        _seat: &mut Self::Seat,
        queued: &mut Self::Queued,
        _cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error<E>>> {
        match *queued {}
    }

    #[inline(always)]
    fn holds(seat: &Self::Seat) -> bool {
        seat.holds()
    }

    #[inline(always)]
    fn release(&self, seat: &mut Self::Seat, class: Option<Classification>) {
        seat.release(self, class);
    }

    #[cfg(feature = "http")]
    fn hand_over(
        &self,
        seat: &mut Self::Seat,
        class: Option<Classification>,
    ) -> Option<Self::Held> {
        seat.hand_over(self, class)
    }
}
