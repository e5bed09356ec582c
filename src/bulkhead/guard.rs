//! The bulkhead's side of a composed call: all that the pipeline and the
//! HTTP layers use of a semaphore bulkhead. The rules stay in here: a
//! place is given back once, a queued caller that gives up leaves the
//! queue (and gives back a place granted meanwhile), waits are timed on
//! the bulkhead's own clock.
//!
//! As for the breaker (`circuit_breaker::guard`), two holders: [`Place`]
//! holds the bulkhead (a reference or a lease) and gives its place back on
//! drop, for the tower services and the HTTP bodies; [`Seat`] is the place
//! alone, plain data, for the pipeline, whose future holds the bulkhead
//! through the pipeline itself.

use std::sync::Arc;
use std::task::{Context, Poll};

#[cfg(feature = "http")]
pub(crate) use super::permit::Place;
#[cfg(feature = "http")]
pub(crate) use super::service::{BulkheadSide, Gate};
/// The bulkhead's shared state, as composers name it (in a lease or a
/// place); its operations are the holders' methods.
pub(crate) type Core = super::Inner;

use super::future::Wait;
use super::{Admit, Bulkhead, BulkheadFull};

/// The leases of a new HTTP layer over `bulkhead` (see `crate::lease`).
#[cfg(feature = "http")]
pub(crate) fn leases(bulkhead: &Bulkhead) -> Arc<crate::lease::Leases<Core>> {
    Arc::new(crate::lease::Leases::new(&bulkhead.inner))
}

/// A queued call's wait for a place, owned (the pipeline's future keeps
/// it): polled by [`Seat::poll_queue`], it leaves the queue when dropped.
// `pub` (in a crate-private module: unreachable from outside) only
// because it is an associated type of the sealed `Limiter`.
#[allow(unreachable_pub)]
pub struct Queued(Wait<Arc<Core>>);

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued").finish_non_exhaustive()
    }
}

/// A place handed over from a [`Seat`] to a holder of its own (a response
/// body): given back when dropped.
// `pub` for the same reason as `Queued`.
#[cfg(feature = "http")]
#[allow(unreachable_pub)]
pub struct Held(Place<crate::lease::Lease<Core>>);

#[cfg(feature = "http")]
impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("bulkhead", &self.0 .0.name)
            .finish()
    }
}

/// A composed call's place in a bulkhead, as plain data (see the module
/// docs).
// `pub` for the same reason as `Queued`.
#[allow(unreachable_pub)]
#[derive(Debug, Default)]
pub struct Seat {
    held: bool,
}

impl Seat {
    /// Asks `bulkhead` for a place (the seat holds none): `Ok` seated, or
    /// queued (`queue` then holds the wait: poll it with
    /// [`poll_queue`](Self::poll_queue)); the rejection when full.
    #[inline(always)]
    pub(crate) fn admit(
        &mut self,
        bulkhead: &Bulkhead,
        queue: &mut Option<Queued>,
    ) -> Result<(), BulkheadFull> {
        debug_assert!(!self.held, "one place at a time");
        match bulkhead.inner.admit() {
            Admit::Admitted => {
                self.held = true;
                Ok(())
            }
            Admit::Queued(waiter) => {
                *queue = Some(Queued(Wait::new(Arc::clone(&bulkhead.inner), waiter)));
                Ok(())
            }
            Admit::Rejected(full) => Err(full),
        }
    }

    /// Polls a queued call: `Ok` once it holds the place (the seat is
    /// taken), the rejection once its maximum wait has passed.
    #[inline(always)]
    pub(crate) fn poll_queue(
        &mut self,
        queued: &mut Queued,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), BulkheadFull>> {
        let polled = queued.0.poll_wait(cx);
        if let Poll::Ready(Ok(())) = polled {
            self.held = true;
        }
        polled
    }

    /// The seat holds a place.
    #[inline(always)]
    pub(crate) fn holds(&self) -> bool {
        self.held
    }

    /// Hands the place to a holder of its own (a response body that gives
    /// it back when it ends); `None` if the seat holds none.
    #[cfg(feature = "http")]
    pub(crate) fn hand_over(&mut self, bulkhead: &Bulkhead) -> Option<Held> {
        std::mem::take(&mut self.held)
            .then(|| Held(Place(crate::lease::Lease::own(&bulkhead.inner))))
    }

    /// Gives the place back, if the seat holds one.
    #[inline(always)]
    pub(crate) fn release(&mut self, bulkhead: &Bulkhead) {
        if std::mem::take(&mut self.held) {
            bulkhead.inner.release();
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        debug_assert!(
            !self.held || std::thread::panicking(),
            "a composed call dropped its bulkhead place unreleased"
        );
    }
}
