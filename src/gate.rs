//! The one tower admission gate: what a guarded tower service reserves in
//! `poll_ready` for its next `call`, for every guard (the breaker, the
//! bulkhead, and the HTTP layers built on them).
//!
//! The contract, kept here once: `poll_ready` never fails because of the
//! guard (a rejection is kept for `call`, which returns it from the
//! response future, and the inner service's readiness is then not
//! polled); it waits only where the guard is configured to wait (a
//! bulkhead's queue); a rejection kept from an earlier `poll_ready` is
//! stale, so the guard is asked again; `call` rechecks the reservation
//! (the guard's [`permit`](Guard::permit)); a `call` without `poll_ready`
//! asks the guard at once rather than panic; a gate dropped holding a
//! reservation gives it back.

use std::task::{Context, Poll};

/// A guard's side of the gate.
pub(crate) trait Guard {
    /// What `poll_ready` holds for the next `call`.
    type Reservation;
    /// A wait in `poll_ready`, where the guard waits.
    type Wait;
    /// Why the call is turned away.
    type Rejection;
    /// What the call's response future holds.
    type Permit;

    /// Asks for the next call.
    fn reserve(&self) -> Reserve<Self>;

    /// Polls a wait to its end.
    fn poll_wait(
        &self,
        wait: &mut Self::Wait,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Reservation, Self::Rejection>>;

    /// The permit of the call starting now, from its reservation (checked
    /// again: the guard may have changed since `poll_ready`).
    fn permit(&self, reserved: Self::Reservation) -> Result<Self::Permit, Self::Rejection>;

    /// The permit of a call made without `poll_ready`: asked now, never
    /// waiting.
    fn permit_now(&self) -> Result<Self::Permit, Self::Rejection>;

    /// Gives back a reservation no call will use.
    fn release(&self, reserved: Self::Reservation);
}

/// A guard's first answer.
pub(crate) enum Reserve<G: Guard + ?Sized> {
    Held(G::Reservation),
    Wait(G::Wait),
    Rejected(G::Rejection),
}

/// What `poll_ready` has for the next `call`.
enum Reserved<G: Guard> {
    Nothing,
    Waiting(G::Wait),
    Held(G::Reservation),
    Rejected(G::Rejection),
}

/// A tower service's gate over the guard `G`.
pub(crate) struct Gate<G: Guard> {
    pub(crate) guard: G,
    reserved: Reserved<G>,
}

impl<G: Guard> Gate<G> {
    pub(crate) fn new(guard: G) -> Self {
        Self {
            guard,
            reserved: Reserved::Nothing,
        }
    }

    /// Reserves (or waits for) the next call, then readies the inner
    /// service through `poll_inner`. An error from the inner service leaves
    /// the reservation held: the caller takes it
    /// ([`take_reserved`](Self::take_reserved)) to settle or release it.
    #[inline]
    pub(crate) fn poll_ready<E>(
        &mut self,
        cx: &mut Context<'_>,
        poll_inner: impl FnOnce(&mut Context<'_>) -> Poll<Result<(), E>>,
    ) -> Poll<Result<(), E>> {
        if let Reserved::Rejected(_) = self.reserved {
            self.reserved = Reserved::Nothing;
        }
        loop {
            match &mut self.reserved {
                Reserved::Nothing => {
                    self.reserved = match self.guard.reserve() {
                        Reserve::Held(held) => Reserved::Held(held),
                        Reserve::Wait(wait) => Reserved::Waiting(wait),
                        Reserve::Rejected(no) => Reserved::Rejected(no),
                    }
                }
                Reserved::Waiting(wait) => {
                    self.reserved = match std::task::ready!(self.guard.poll_wait(wait, cx)) {
                        Ok(held) => Reserved::Held(held),
                        Err(no) => Reserved::Rejected(no),
                    }
                }
                // Ready: the call will be rejected without the inner
                // service, whose readiness is not polled.
                Reserved::Rejected(_) => return Poll::Ready(Ok(())),
                Reserved::Held(_) => return poll_inner(cx),
            }
        }
    }

    /// The reservation held, taken (after the inner service's `poll_ready`
    /// failed: the call will not come).
    pub(crate) fn take_reserved(&mut self) -> Option<G::Reservation> {
        match std::mem::replace(&mut self.reserved, Reserved::Nothing) {
            Reserved::Held(held) => Some(held),
            other => {
                self.reserved = other;
                None
            }
        }
    }

    /// The permit of the call starting now, or its rejection. Taken before
    /// the inner `call`: if that panics, the permit gives back what it
    /// holds.
    #[inline]
    pub(crate) fn admit(&mut self) -> Result<G::Permit, G::Rejection> {
        match std::mem::replace(&mut self.reserved, Reserved::Nothing) {
            Reserved::Held(held) => self.guard.permit(held),
            Reserved::Rejected(no) => Err(no),
            // `call` without a ready `poll_ready`: ask now, without
            // waiting, rather than panic (a wait under way is left).
            Reserved::Nothing | Reserved::Waiting(_) => self.guard.permit_now(),
        }
    }

    /// Gives back the reservation held, if any (after the inner service's
    /// `poll_ready` failed: the call will not come).
    pub(crate) fn release_reserved(&mut self) {
        if let Some(held) = self.take_reserved() {
            self.guard.release(held);
        }
    }

    /// Whether a reservation is held (for `Debug`).
    pub(crate) fn holds(&self) -> bool {
        matches!(self.reserved, Reserved::Held(_))
    }
}

impl<G: Guard> Drop for Gate<G> {
    fn drop(&mut self) {
        if let Reserved::Held(held) = std::mem::replace(&mut self.reserved, Reserved::Nothing) {
            self.guard.release(held);
        }
    }
}
