//! A host's concurrency limit: a bulkhead or an adaptive limit, as its
//! configuration says.

use std::task::{Context, Poll};

use crate::adaptive::AdaptiveLimit;
use crate::bulkhead::Bulkhead;
use crate::circuit_breaker::Classification;
use crate::error::Error;
use crate::limit::Limiter;
use crate::pipeline::Pipeline;
use crate::timer::Timer;

/// A host's concurrency limit: `bulkhead` or `adaptive_limit` in its
/// configuration (see [`HostPipeline`](super::HostPipeline)).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum HostLimit {
    /// A semaphore bulkhead.
    Bulkhead(Bulkhead),
    /// An adaptive concurrency limit.
    Adaptive(AdaptiveLimit),
}

impl HostLimit {
    /// The bulkhead, if this is one.
    pub fn bulkhead(&self) -> Option<&Bulkhead> {
        match self {
            Self::Bulkhead(bulkhead) => Some(bulkhead),
            Self::Adaptive(_) => None,
        }
    }

    /// The adaptive limit, if this is one.
    pub fn adaptive(&self) -> Option<&AdaptiveLimit> {
        match self {
            Self::Adaptive(adaptive) => Some(adaptive),
            Self::Bulkhead(_) => None,
        }
    }
}

impl<Tm: Timer, P, C> Pipeline<Tm, P, C, HostLimit> {
    /// The bulkhead, if the host has one.
    pub fn bulkhead(&self) -> Option<&Bulkhead> {
        self.limiter().and_then(HostLimit::bulkhead)
    }

    /// The adaptive limit, if the host has one.
    pub fn adaptive_limit(&self) -> Option<&AdaptiveLimit> {
        self.limiter().and_then(HostLimit::adaptive)
    }
}

/// A call's place under a [`HostLimit`]: the seat of whichever it is.
#[derive(Default)]
pub struct Seat {
    bulkhead: <Bulkhead as Limiter>::Seat,
    adaptive: <AdaptiveLimit as Limiter>::Seat,
}

impl std::fmt::Debug for Seat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seat").finish_non_exhaustive()
    }
}

/// A place handed to a response body.
#[cfg(feature = "http")]
pub enum Held {
    /// The bulkhead's.
    Bulkhead(#[allow(dead_code)] <Bulkhead as Limiter>::Held),
    /// The adaptive limit's.
    Adaptive(#[allow(dead_code)] <AdaptiveLimit as Limiter>::Held),
}

#[cfg(feature = "http")]
impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Bulkhead(_) => "Held::Bulkhead",
            Self::Adaptive(_) => "Held::Adaptive",
        })
    }
}

impl crate::limit::sealed::Sealed for HostLimit {}

impl Limiter for HostLimit {
    type Seat = Seat;
    /// Only a bulkhead queues.
    type Queued = <Bulkhead as Limiter>::Queued;
    #[cfg(feature = "http")]
    type Held = Held;

    fn limit_name(&self) -> &str {
        match self {
            Self::Bulkhead(bulkhead) => bulkhead.limit_name(),
            Self::Adaptive(adaptive) => adaptive.limit_name(),
        }
    }

    fn admit<E>(&self, seat: &mut Seat, queue: &mut Option<Self::Queued>) -> Result<(), Error<E>> {
        match self {
            Self::Bulkhead(bulkhead) => bulkhead.admit(&mut seat.bulkhead, queue),
            Self::Adaptive(adaptive) => adaptive.admit(&mut seat.adaptive, &mut None),
        }
    }

    fn poll_queue<E>(
        &self,
        seat: &mut Seat,
        queued: &mut Self::Queued,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error<E>>> {
        match self {
            Self::Bulkhead(bulkhead) => bulkhead.poll_queue(&mut seat.bulkhead, queued, cx),
            // Never queued: an adaptive limit admits or rejects at once.
            Self::Adaptive(_) => Poll::Ready(Ok(())),
        }
    }

    fn holds(seat: &Seat) -> bool {
        Bulkhead::holds(&seat.bulkhead) || AdaptiveLimit::holds(&seat.adaptive)
    }

    fn release(&self, seat: &mut Seat, class: Option<Classification>) {
        match self {
            Self::Bulkhead(bulkhead) => bulkhead.release(&mut seat.bulkhead, class),
            Self::Adaptive(adaptive) => adaptive.release(&mut seat.adaptive, class),
        }
    }

    #[cfg(feature = "http")]
    fn hand_over(&self, seat: &mut Seat, class: Option<Classification>) -> Option<Held> {
        match self {
            Self::Bulkhead(bulkhead) => bulkhead
                .hand_over(&mut seat.bulkhead, class)
                .map(Held::Bulkhead),
            Self::Adaptive(adaptive) => adaptive
                .hand_over(&mut seat.adaptive, class)
                .map(Held::Adaptive),
        }
    }
}
