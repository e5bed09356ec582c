//! The sliding-window health counter every guarded call records into.
//!
//! Two kinds, both lock-free and allocation-free on the record path, and
//! both taking the time from the caller (no clock read inside):
//!
//! - [`CountWindow`]: the last `N` calls, a ticket ring. A record is one
//!   shared `fetch_add` plus, only when the slot's outcome changes, a swap
//!   and one `fetch_add` on a packed failure/slow word.
//! - [`TimeWindow`]: the last `T`, in `B` buckets aligned to the clock
//!   (`bucket = now / width`), striped per thread so that a success is one
//!   uncontended `fetch_add` on a cache line only its thread writes.
//!
//! [`HybridWindow`] combines them: the last `N` calls, none older than `T`.
//!
//! Each gives a [`Snapshot`] (calls, failures, slow calls) in which failures
//! and slow calls never exceed calls, even while records are in flight.
//!
//! # Examples
//!
//! ```
//! use parapet::window::{CountWindow, Outcome};
//!
//! let window = CountWindow::new(4)?;
//! for outcome in [Outcome::Success, Outcome::Failure, Outcome::Failure, Outcome::SlowSuccess] {
//!     window.record(outcome);
//! }
//! let snap = window.snapshot();
//! assert_eq!((snap.calls(), snap.failures(), snap.slow_calls()), (4, 2, 1));
//! window.record(Outcome::Success); // pushes out the oldest (a success)
//! assert_eq!(window.snapshot().failures(), 2);
//! # Ok::<(), parapet::ConfigError>(())
//! ```

mod count;
mod hybrid;
mod reciprocal;
mod snapshot;
mod time;

pub use count::CountWindow;
pub use hybrid::HybridWindow;
pub use snapshot::{Snapshot, Threshold};
pub use time::TimeWindow;

pub(crate) use reciprocal::Reciprocal;

/// The largest count window: `2^24` calls (16 MiB of slots).
pub const MAX_COUNT_WINDOW: u32 = 1 << 24;
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
    /// use parapet::window::Outcome;
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

    /// The outcome's contribution to a packed `failures | slow << 32` word.
    #[inline]
    pub(crate) const fn packed(self) -> u64 {
        bits_packed(self as u8)
    }
}

/// Failure bit (bit 0) and slow bit (bit 1) spread into a packed
/// `failures | slow << 32` word.
#[inline]
pub(crate) const fn bits_packed(bits: u8) -> u64 {
    (bits & 1) as u64 | (((bits >> 1) & 1) as u64) << 32
}

/// Splits a packed `failures | slow << 32` word, read while other threads may
/// have applied their signed changes out of order, into two counts clamped
/// to `0..=calls`.
#[inline]
pub(crate) fn unpack_clamped(packed: u64, calls: u64) -> (u64, u64) {
    // The word is the two's-complement sum of signed changes, so the low
    // field may be transiently negative and borrow from the high one: read
    // it as a signed 32-bit value and take it out before reading the high.
    let failures = packed as u32 as i32 as i64;
    let slow = (packed as i64).wrapping_sub(failures) >> 32;
    let clamp = |v: i64| (v.max(0) as u64).min(calls);
    (clamp(failures), clamp(slow))
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
            assert_eq!(o.packed(), f as u64 | (s as u64) << 32);
        }
    }

    #[test]
    fn unpack_handles_transient_negative_low_field() {
        // 3 slow, failures transiently -1.
        let packed = (3u64 << 32).wrapping_sub(1);
        assert_eq!(unpack_clamped(packed, 10), (0, 3));
        // failures 5, slow transiently -2, clamped to the calls.
        let packed = 5u64.wrapping_sub(2u64 << 32);
        assert_eq!(unpack_clamped(packed, 4), (4, 0));
    }
}
