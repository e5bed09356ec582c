//! Permits: a held place, given back on drop.

use std::fmt;
use std::ops::Deref;

use super::Inner;

/// A place held through `R` (a reference or an owning pointer to the
/// bulkhead); gives it back when dropped.
pub(crate) struct Place<R: Deref<Target = Inner>>(pub(crate) R);

impl<R: Deref<Target = Inner>> Drop for Place<R> {
    #[inline]
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A place in a bulkhead, from [`Bulkhead::try_acquire`](super::Bulkhead::try_acquire)
/// or [`acquire`](super::Bulkhead::acquire). Given back when dropped, also
/// during a panic.
#[must_use = "dropping the permit gives the place back at once"]
pub struct BulkheadPermit<'a> {
    place: Place<&'a Inner>,
}

impl<'a> BulkheadPermit<'a> {
    pub(crate) fn new(inner: &'a Inner) -> Self {
        Self {
            place: Place(inner),
        }
    }
}

impl fmt::Debug for BulkheadPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("bulkhead", &self.place.0.name)
            .finish()
    }
}
