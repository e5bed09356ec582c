//! The sliding-window health counter every guarded call records into.
//!
//! Two kinds, both lock-free and allocation-free on the record path, and
//! both taking the time from the caller (no clock read inside):
//!
//! - [`CountWindow`]: the last `N` calls, a ticket ring. A record is one
//!   shared `fetch_add` and a load, plus, only when the slot's outcome
//!   changes, a compare-and-swap of the slot and of the counts it changes.
//! - [`TimeWindow`]: the last `T`, in `B` buckets aligned to the clock
//!   (`bucket = now / width`), striped per thread so that a success is one
//!   uncontended `fetch_add` on a cache line only its thread writes.
//!
//! [`HybridWindow`] combines them: the last `N` calls, none older than `T`.
//!
//! Each gives a [`Snapshot`] (calls, failures, slow calls) in which failures
//! and slow calls never exceed calls, even while records are in flight.
//!
//! `reset()` starts a fresh *generation*: every count carries its
//! generation's tag and changes only by a compare-and-swap that checks it,
//! so a record racing a reset lands in the old generation or is dropped,
//! never in the new one.
//!
//! # Examples
//!
//! ```
//! use palisade::window::{CountWindow, Outcome};
//!
//! let window = CountWindow::new(4)?;
//! for outcome in [Outcome::Success, Outcome::Failure, Outcome::Failure, Outcome::SlowSuccess] {
//!     window.record(outcome);
//! }
//! let snap = window.snapshot();
//! assert_eq!((snap.calls(), snap.failures(), snap.slow_calls()), (4, 2, 1));
//! window.record(Outcome::Success); // pushes out the oldest (a success)
//! assert_eq!(window.snapshot().failures(), 2);
//! # Ok::<(), palisade::ConfigError>(())
//! ```

mod count;
mod hybrid;
mod reciprocal;
mod snapshot;
mod tagged;
mod time;

pub use count::CountWindow;
pub use hybrid::HybridWindow;
pub use snapshot::{Snapshot, Threshold};
pub use time::TimeWindow;

pub(crate) use reciprocal::Reciprocal;
pub(crate) use tagged::Tagged;

use crate::sync::{AtomicU64, Mutex, Ordering};

/// The largest count window: `2^20` calls (8 MiB of slots).
pub const MAX_COUNT_WINDOW: u32 = 1 << 20;
/// The largest number of buckets in a time window.
pub const MAX_BUCKETS: u32 = 1 << 12;
/// The largest number of stripes in a time window.
pub const MAX_STRIPES: u32 = 1 << 8;

/// The outcome of one call, as the window records it.
///
/// Ignored calls (classified as neither success nor failure, or cancelled)
/// are never recorded; there is no `Ignored` outcome on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Outcome {
    /// Succeeded within the slow-call duration.
    Success = 0,
    /// Failed within the slow-call duration.
    Failure = 1,
    /// Succeeded, but took longer than the slow-call duration.
    SlowSuccess = 2,
    /// Failed, and took longer than the slow-call duration.
    SlowFailure = 3,
}

impl Outcome {
    /// The outcome of a call that `failed` and was (or was not) `slow`.
    ///
    /// ```
    /// use palisade::window::Outcome;
    /// assert_eq!(Outcome::new(true, false), Outcome::Failure);
    /// assert_eq!(Outcome::new(false, true), Outcome::SlowSuccess);
    /// ```
    #[inline]
    pub const fn new(failed: bool, slow: bool) -> Self {
        match (failed, slow) {
            (false, false) => Self::Success,
            (true, false) => Self::Failure,
            (false, true) => Self::SlowSuccess,
            (true, true) => Self::SlowFailure,
        }
    }

    /// True for `Failure` and `SlowFailure`.
    #[inline]
    pub const fn is_failure(self) -> bool {
        self as u8 & 1 != 0
    }

    /// True for `SlowSuccess` and `SlowFailure`.
    #[inline]
    pub const fn is_slow(self) -> bool {
        self as u8 & 2 != 0
    }
}

/// The generation a standalone window records in, and the lock that
/// serialises its resets. (The circuit breaker passes its own generation
/// instead, under its own transition lock.) Generations start at 1, so a
/// zeroed slot or count (generation 0) is never current.
#[derive(Debug)]
pub(crate) struct Generation {
    current: AtomicU64,
    resetting: Mutex<()>,
}

impl Default for Generation {
    fn default() -> Self {
        Self {
            current: AtomicU64::new(1),
            resetting: Mutex::new(()),
        }
    }
}

impl Generation {
    #[inline]
    pub(crate) fn current(&self) -> u64 {
        // Acquire: pairs with the Release in `advance`, so a recorder of the
        // new generation sees its counts restarted.
        self.current.load(Ordering::Acquire)
    }

    /// Moves to the next generation: `restart` zeroes its counts, then it
    /// is published.
    pub(crate) fn advance(&self, restart: impl FnOnce(u64)) {
        let _serial = self.resetting.lock();
        let next = self.current.load(Ordering::Relaxed) + 1;
        restart(next);
        // Release: publishes the restarted counts (see `current`).
        self.current.store(next, Ordering::Release);
    }
}

/// Compile-time proof that the windows can be shared across threads.
#[allow(dead_code)]
const fn _assert_send_sync() {
    const fn check<T: Send + Sync>() {}
    check::<CountWindow>();
    check::<TimeWindow>();
    check::<HybridWindow>();
    check::<Snapshot>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_bits() {
        for (o, f, s) in [
            (Outcome::Success, false, false),
            (Outcome::Failure, true, false),
            (Outcome::SlowSuccess, false, true),
            (Outcome::SlowFailure, true, true),
        ] {
            assert_eq!((o.is_failure(), o.is_slow()), (f, s));
            assert_eq!(Outcome::new(f, s), o);
        }
    }
}
