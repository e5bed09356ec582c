//! The low-level permission API: acquire, then record.

use std::fmt;
use std::ops::Deref;

use super::state::{Admission, Inner};
use super::Classification;

/// One admitted call, recorded once or released on drop. Generic over how
/// the breaker is held: `&Inner` for borrowed futures, `Arc<Inner>` for
/// `'static` ones (tower).
pub(crate) struct Ticket<R: Deref<Target = Inner>> {
    inner: R,
    admission: Admission,
    armed: bool,
}

impl<R: Deref<Target = Inner>> Ticket<R> {
    pub(crate) fn new(inner: R, admission: Admission) -> Self {
        Self {
            inner,
            admission,
            armed: true,
        }
    }

    #[inline(always)]
    pub(crate) fn complete(mut self, class: Classification) {
        self.finish(class);
    }

    /// Restarts the call's slow-call clock (see `Inner::restart`).
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn restart(&mut self) {
        self.inner.restart(&mut self.admission);
    }

    /// Records the call once; later calls do nothing.
    #[inline(always)]
    pub(crate) fn finish(&mut self, class: Classification) {
        if self.armed {
            self.armed = false;
            self.inner.complete(self.admission, class);
        }
    }

    /// Gives the admission back unused: records nothing, whatever the
    /// cancellation rule (a reservation the call never used).
    #[cfg(feature = "tower")]
    pub(crate) fn release(mut self) {
        self.armed = false;
        self.inner.release(self.admission);
    }

    /// True while the admission is still valid: the breaker has not changed
    /// state since it was made.
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn is_current(&self) -> bool {
        self.inner.is_current(self.admission.word)
    }
}

impl<R: Deref<Target = Inner>> Drop for Ticket<R> {
    fn drop(&mut self) {
        if self.armed {
            self.inner.cancel(self.admission);
        }
    }
}

/// Permission to run one call through a breaker, from
/// [`CircuitBreaker::try_acquire`](super::CircuitBreaker::try_acquire).
///
/// For code that is not a future (or wants to classify by hand): run the
/// call, then say how it went with [`success`](Self::success),
/// [`failure`](Self::failure), [`ignore`](Self::ignore) or
/// [`record`](Self::record).
///
/// # Cancel safety
///
/// Dropping a permit unrecorded means the call was cancelled: by default it
/// is not recorded, and a half-open probe place is given back (with
/// `cancelled_as_failure(true)`, it records a failure). That holds during a
/// panic too: a permit cannot tell a panic in its own call from an
/// unrelated unwind, so code that wants panics counted as failures uses
/// [`call_sync`](super::CircuitBreaker::call_sync) or
/// [`call`](super::CircuitBreaker::call), which detect a panic in the
/// operation itself. A permit can never wedge the breaker.
///
/// # Examples
///
/// ```
/// use parapet::circuit_breaker::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder().build()?;
/// let permit = breaker.try_acquire().expect("closed");
/// let ok = std::fs::metadata(".").is_ok();
/// if ok { permit.success() } else { permit.failure() }
/// assert_eq!(breaker.snapshot().calls(), 1);
/// # Ok::<(), parapet::ConfigError>(())
/// ```
#[must_use = "dropping a permit unrecorded counts as a cancelled call"]
pub struct Permit<'a> {
    pub(crate) ticket: Ticket<&'a Inner>,
}

impl Permit<'_> {
    /// The call succeeded.
    #[inline]
    pub fn success(self) {
        self.record(Classification::Success);
    }

    /// The call failed.
    #[inline]
    pub fn failure(self) {
        self.record(Classification::Failure);
    }

    /// The call is not to be counted (it gives back a half-open place).
    #[inline]
    pub fn ignore(self) {
        self.record(Classification::Ignored);
    }

    /// Records the call as classified.
    #[inline]
    pub fn record(self, class: Classification) {
        self.ticket.complete(class);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.ticket.inner.name)
            .finish_non_exhaustive()
    }
}
