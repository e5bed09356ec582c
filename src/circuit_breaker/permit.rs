//! The low-level permission API: acquire, then record.

use std::fmt;
use std::ops::Deref;

use super::state::{Admission, Inner};
use super::Classification;

/// One admitted call, recorded once or released on drop. Generic over how
/// the breaker is held: `&Inner` for borrowed futures, `Arc<Inner>` for
/// `'static` ones (tower).
///
/// Two words and the breaker: "armed" is not a flag of its own but a
/// non-zero admission word (no state word is 0: generations start at 1), so
/// the ticket is written and read whole.
pub(crate) struct Ticket<R: Deref<Target = Inner>> {
    inner: R,
    admission: Admission,
}

impl<R: Deref<Target = Inner>> Ticket<R> {
    #[inline]
    pub(crate) fn new(inner: R, admission: Admission) -> Self {
        Self { inner, admission }
    }

    /// A ticket holding no admission yet (see [`arm`](Self::arm)).
    #[inline]
    pub(crate) fn unarmed(inner: R) -> Self {
        Self::new(inner, Admission::NONE)
    }

    /// The breaker the ticket belongs to.
    #[inline]
    pub(crate) fn breaker(&self) -> &Inner {
        &self.inner
    }

    /// The breaker's name.
    #[cfg(feature = "http")]
    pub(crate) fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// Keeps the breaker open at least `at_least` if it is open (a
    /// response's retry hint); see `CircuitBreaker::hold_open`.
    #[cfg(feature = "http")]
    pub(crate) fn hold_open(&self, at_least: std::time::Duration) -> bool {
        self.inner.hold_open(at_least)
    }

    /// Holds `admission` from now on (the ticket held none).
    #[inline]
    pub(crate) fn arm(&mut self, admission: Admission) {
        debug_assert!(self.admission.is_none());
        self.admission = admission;
    }

    #[inline(always)]
    pub(crate) fn complete(mut self, class: Classification) {
        self.finish(class);
    }

    /// Records the call once; later calls do nothing.
    #[inline(always)]
    pub(crate) fn finish(&mut self, class: Classification) {
        let admission = std::mem::replace(&mut self.admission, Admission::NONE);
        if !admission.is_none() {
            self.inner.complete(admission, class);
        }
    }
}

impl<R: Deref<Target = Inner>> Drop for Ticket<R> {
    #[inline]
    fn drop(&mut self) {
        if !self.admission.is_none() {
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
/// Dropping a permit unrecorded means the call was abandoned: by default it
/// is not recorded, and a half-open probe place is given back (the
/// [`Abandoned`](super::Abandoned) policy may count it as a failure). That holds during a
/// panic too: a permit cannot tell a panic in its own call from an
/// unrelated unwind, so code that wants panics counted as failures uses
/// [`call_sync`](super::CircuitBreaker::call_sync) or
/// [`call`](super::CircuitBreaker::call), which detect a panic in the
/// operation itself. A permit can never wedge the breaker.
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder().build()?;
/// let permit = breaker.try_acquire().expect("closed");
/// let ok = std::fs::metadata(".").is_ok();
/// if ok { permit.success() } else { permit.failure() }
/// assert_eq!(breaker.snapshot().calls(), 1);
/// # Ok::<(), palisade::ConfigError>(())
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
