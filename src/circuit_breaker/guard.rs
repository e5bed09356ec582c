//! The breaker's side of a composed call: all that the pipeline and the
//! HTTP layers use of a breaker. The rules stay in here: an admission is
//! recorded once, a stale one (from an earlier state) is ignored, a
//! dropped one is cancelled, a panic in the operation's poll is a failure.
//!
//! Two holders, for two kinds of composer:
//! - [`Ticket`] holds the breaker (a reference, or a lease for `'static`
//!   tower futures) with its admission, records once and cancels on drop:
//!   the breaker's own future and tower service, and the HTTP layers.
//! - [`Standing`] is the admission alone, plain data, for a composer whose
//!   future holds the breaker through the composer itself and so cannot
//!   hold a reference to it beside (the pipeline, whose future owns or
//!   borrows the whole pipeline). Every operation takes the breaker; the
//!   composer settles or cancels it in its own `Drop` (debug builds check
//!   that none is dropped unsettled).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

#[cfg(feature = "http")]
pub(crate) use super::permit::Ticket;
#[cfg(feature = "http")]
pub(crate) use super::service::{BreakerSide, Gate};
/// The breaker's shared state, as composers name it (in a lease or a
/// ticket); its operations are the holders' methods.
#[cfg(feature = "http")]
pub(crate) type Core = super::state::Inner;

use super::state::Admission;
use super::{CircuitBreaker, CircuitOpen, Classification};

/// A composed call's admission by a breaker, as plain data (see the module
/// docs).
#[derive(Debug)]
pub(crate) struct Standing(Admission);

impl Default for Standing {
    fn default() -> Self {
        Self(Admission::NONE)
    }
}

impl Standing {
    /// Asks `breaker` for an admission whose slow-call clock starts later
    /// ([`begin`](Self::begin)): the call may still wait (for a bulkhead
    /// place). Holds none before.
    #[inline(always)]
    pub(crate) fn reserve<C>(&mut self, breaker: &CircuitBreaker<C>) -> Result<(), CircuitOpen> {
        debug_assert!(self.0.is_none(), "one admission at a time");
        self.0 = breaker.inner.reserve()?;
        Ok(())
    }

    /// The call starts now: its slow-call clock runs from here.
    #[inline(always)]
    pub(crate) fn begin<C>(&mut self, breaker: &CircuitBreaker<C>) {
        breaker.inner.begin(&mut self.0);
    }

    /// Polls the call's operation; a panic in that poll records a failure
    /// (and keeps unwinding).
    #[inline(always)]
    pub(crate) fn poll_operation<C, F: Future>(
        &mut self,
        breaker: &CircuitBreaker<C>,
        fut: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        crate::unwind::poll_noting_unwind(fut, cx, || {
            self.settle(breaker, Some(Classification::Failure));
        })
    }

    /// It holds an admission (not yet settled).
    #[inline(always)]
    pub(crate) fn holds(&self) -> bool {
        !self.0.is_none()
    }

    /// Hands the admission to a holder of its own (a response body that
    /// records the call when it ends); `None` if it holds none.
    #[cfg(feature = "http")]
    pub(crate) fn hand_over<C>(
        &mut self,
        breaker: &CircuitBreaker<C>,
    ) -> Option<Ticket<crate::lease::Lease<Core>>> {
        let admission = std::mem::replace(&mut self.0, Admission::NONE);
        (!admission.is_none())
            .then(|| Ticket::new(crate::lease::Lease::own(&breaker.inner), admission))
    }

    /// Records the call as `class`, or cancels it (`None`); does nothing if
    /// it holds no admission (never admitted, or settled already).
    #[inline(always)]
    pub(crate) fn settle<C>(&mut self, breaker: &CircuitBreaker<C>, class: Option<Classification>) {
        let admission = std::mem::replace(&mut self.0, Admission::NONE);
        if !admission.is_none() {
            match class {
                Some(class) => breaker.inner.complete(admission, class),
                None => breaker.inner.cancel(admission),
            }
        }
    }
}

impl Drop for Standing {
    fn drop(&mut self) {
        debug_assert!(
            self.0.is_none() || std::thread::panicking(),
            "a composed call dropped its breaker admission unsettled"
        );
    }
}

/// The leases of a new HTTP layer over `breaker` (see `crate::lease`).
#[cfg(feature = "http")]
pub(crate) fn leases<C>(breaker: &CircuitBreaker<C>) -> std::sync::Arc<crate::lease::Leases<Core>> {
    std::sync::Arc::new(crate::lease::Leases::new(&breaker.inner))
}

/// Whether a call asking `breaker` now would be let through, found without
/// asking (no probe place taken, nothing counted): a tower `poll_ready`
/// that must not wait on its inner service for a call that will be
/// rejected.
#[cfg(feature = "tower")]
#[inline]
pub(crate) fn would_admit<C>(breaker: &CircuitBreaker<C>) -> bool {
    breaker.inner.would_admit()
}
