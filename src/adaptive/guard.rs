//! The adaptive limit's side of a composed call. As for the bulkhead
//! (`bulkhead::guard`), two holders: [`Place`] holds the limit (a
//! reference or a lease) and ends the call once, a cancelled call when
//! dropped unended: the permit, the future wrapper, the tower response
//! future and an HTTP body; [`Seat`] is the place alone, plain data, for
//! the pipeline, whose future holds the limit through the pipeline itself.

use std::ops::Deref;

use super::{AdaptiveLimit, Ended, Inner};
use crate::bulkhead::BulkheadFull;
use crate::circuit_breaker::Classification;

/// A place held through `R`; ends the call once (cancelled if dropped
/// first).
pub(crate) struct Place<R: Deref<Target = Inner>> {
    inner: R,
    started: u64,
    held: bool,
}

impl<R: Deref<Target = Inner>> Place<R> {
    /// Takes a place in `inner`.
    #[inline]
    pub(crate) fn admit(inner: R) -> Result<Self, BulkheadFull> {
        let started = inner.admit()?;
        Ok(Self {
            inner,
            started,
            held: true,
        })
    }

    /// The call ended as `ended` (once; later calls do nothing).
    #[inline]
    pub(crate) fn end(&mut self, ended: Ended) {
        if std::mem::take(&mut self.held) {
            self.inner.complete(self.started, ended);
        }
    }

    /// The limit's name.
    pub(crate) fn name(&self) -> &str {
        self.inner.name.as_str()
    }
}

impl<R: Deref<Target = Inner>> Drop for Place<R> {
    #[inline]
    fn drop(&mut self) {
        self.end(Ended::Cancelled);
    }
}

/// How a call a breaker's classifier judged ends for the limit: a failure
/// is a drop, anything else a sample; not judged (`None`), cancelled.
pub(crate) fn ended(class: Option<Classification>) -> Ended {
    match class {
        Some(Classification::Failure) => Ended::Dropped,
        Some(_) => Ended::Completed,
        None => Ended::Cancelled,
    }
}

/// A composed call's place under an adaptive limit, as plain data: when
/// it got its place.
// `pub` (in a crate-private module) only because it is an associated type
// of the sealed `Limiter`.
#[allow(unreachable_pub)]
#[derive(Debug, Default)]
pub struct Seat {
    started: u64,
    held: bool,
}

impl Seat {
    #[inline(always)]
    pub(crate) fn admit(&mut self, limit: &AdaptiveLimit) -> Result<(), BulkheadFull> {
        debug_assert!(!self.held, "one place at a time");
        self.started = limit.inner.admit()?;
        self.held = true;
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn holds(&self) -> bool {
        self.held
    }

    #[inline(always)]
    pub(crate) fn release(&mut self, limit: &AdaptiveLimit, class: Option<Classification>) {
        if std::mem::take(&mut self.held) {
            limit.inner.complete(self.started, ended(class));
        }
    }

    /// Hands the place to a holder of its own (a response body): a sample
    /// when the body ends, as `class` says (the response head's verdict).
    #[cfg(feature = "http")]
    pub(crate) fn hand_over(
        &mut self,
        limit: &AdaptiveLimit,
        class: Option<Classification>,
    ) -> Option<Held> {
        std::mem::take(&mut self.held).then(|| Held {
            place: Place {
                inner: crate::lease::Lease::own(&limit.inner),
                started: self.started,
                held: true,
            },
            ended: ended(class),
        })
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        debug_assert!(
            !self.held || std::thread::panicking(),
            "a composed call dropped its adaptive place unreleased"
        );
    }
}

/// A place handed over to a response body: the call ends, as its head
/// said, when the body is dropped.
#[cfg(feature = "http")]
#[allow(unreachable_pub)]
pub struct Held {
    place: Place<crate::lease::Lease<Inner>>,
    ended: Ended,
}

#[cfg(feature = "http")]
impl Drop for Held {
    fn drop(&mut self) {
        self.place.end(self.ended);
    }
}

#[cfg(feature = "http")]
impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("limit", &self.place.name())
            .finish_non_exhaustive()
    }
}
