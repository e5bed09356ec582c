//! The count-based window: the last `N` calls in a ticket ring.

use crossbeam_utils::CachePadded;

use super::{bits_packed, unpack_clamped, Outcome, Reciprocal, Snapshot, MAX_COUNT_WINDOW};
use crate::error::ConfigError;
use crate::sync::{AtomicU64, AtomicU8, Ordering};

/// The outcomes of the last `N` calls, lock-free.
///
/// A record takes a ticket with one shared `fetch_add`; slot `ticket % N`
/// (computed by a precomputed reciprocal, not a division)
/// holds that call's outcome in a byte. The slot is written only when the
/// outcome differs from what it holds, and then its failure and slow bits
/// change one packed `failures | slow << 32` word by one `fetch_add` of the
/// signed difference. A success landing on a success is a ticket and a load.
///
/// Because every change to the packed word is the exact difference a slot
/// swap made, the word always equals a recount of the ring once recorders
/// finish: it never drifts. A snapshot is two loads.
///
/// # Examples
///
/// ```
/// use parapet::window::{CountWindow, Outcome};
///
/// let window = CountWindow::new(100)?;
/// window.record(Outcome::Failure);
/// window.record(Outcome::Success);
/// assert_eq!(window.snapshot().failure_rate(), Some(0.5));
/// # Ok::<(), parapet::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct CountWindow {
    /// Tickets taken; `min(ticket, N)` is the number of calls in the window.
    ticket: CachePadded<AtomicU64>,
    /// `failures | slow << 32`, the sum of the slots' bits.
    packed: CachePadded<AtomicU64>,
    /// One outcome per slot: bit 0 failed, bit 1 slow; 0 also means empty.
    slots: Box<[AtomicU8]>,
    len: u64,
    /// `ticket % len` without a 64-bit `div` on the record path.
    modulus: Reciprocal,
}

impl CountWindow {
    /// A window over the last `size` calls.
    ///
    /// # Errors
    ///
    /// A `ConfigError` naming `window_size` if `size` is 0 or above
    /// [`MAX_COUNT_WINDOW`](super::MAX_COUNT_WINDOW).
    pub fn new(size: u32) -> Result<Self, ConfigError> {
        if size == 0 {
            return Err(ConfigError::new("window_size", size, "must be at least 1"));
        }
        if size > MAX_COUNT_WINDOW {
            return Err(ConfigError::new(
                "window_size",
                size,
                "must be at most 16777216 (2^24) calls",
            ));
        }
        Ok(Self {
            ticket: CachePadded::new(AtomicU64::new(0)),
            packed: CachePadded::new(AtomicU64::new(0)),
            slots: (0..size).map(|_| AtomicU8::new(0)).collect(),
            len: u64::from(size),
            modulus: Reciprocal::new(u64::from(size)),
        })
    }

    /// The number of calls the window holds when full.
    pub fn size(&self) -> u32 {
        self.len as u32
    }

    /// Records one call's outcome. Lock-free, allocation-free, no clock.
    #[inline]
    pub fn record(&self, outcome: Outcome) {
        // Relaxed: the ticket only chooses a slot; nothing is published
        // through it. Readers tolerate any interleaving (they clamp).
        let ticket = self.ticket.fetch_add(1, Ordering::Relaxed);
        let index = ticket - self.modulus.divide(ticket) * self.len;
        let Some(slot) = self.slots.get(index as usize) else {
            return;
        };
        let new = outcome as u8;
        // Relaxed: a hint to skip the write; the swap below is what counts.
        if slot.load(Ordering::Relaxed) == new {
            return;
        }
        self.replace(slot, new);
    }

    /// Puts `new` in `slot` and applies the exact change to the packed word.
    #[inline]
    fn replace(&self, slot: &AtomicU8, new: u8) {
        // Relaxed: the swap's atomicity alone makes each slot's changes
        // telescope; totals become exact at quiescence, which the callers'
        // own synchronization (join, channel) orders.
        let old = slot.swap(new, Ordering::Relaxed);
        if old != new {
            let delta = bits_packed(new).wrapping_sub(bits_packed(old));
            // Relaxed: a commutative sum; see above.
            self.packed.fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// Calls, failures and slow calls among the last `N` calls.
    ///
    /// Exact once recorders finish; while they run, it may count a call
    /// whose outcome is not yet written as a success, and it never reports
    /// more failures or slow calls than calls.
    #[inline]
    pub fn snapshot(&self) -> Snapshot {
        // Relaxed: two independent readings, reconciled by the clamp.
        let packed = self.packed.load(Ordering::Relaxed);
        let calls = self.ticket.load(Ordering::Relaxed).min(self.len);
        let (failures, slow) = unpack_clamped(packed, calls);
        Snapshot::new(calls, failures, slow)
    }

    /// Empties the window: a fresh generation.
    ///
    /// Cold path, `O(N)`. Records racing with a reset land in the old or the
    /// new generation; the counts stay consistent with the ring either way.
    pub fn reset(&self) {
        for slot in self.slots.iter() {
            self.replace(slot, 0);
        }
        // Relaxed: see `record`.
        self.ticket.store(0, Ordering::Relaxed);
    }

    /// Bytes this window occupies, heap included.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.slots.len()
    }

    /// Recount of the ring (for tests): `(failures, slow)` in the slots.
    #[doc(hidden)]
    pub fn recount(&self) -> (u64, u64) {
        self.slots.iter().fold((0, 0), |(f, s), slot| {
            let bits = slot.load(Ordering::Relaxed);
            (f + u64::from(bits & 1), s + u64::from(bits >> 1 & 1))
        })
    }
}

#[cfg(all(test, not(parapet_loom)))]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_sizes() {
        assert_eq!(CountWindow::new(0).unwrap_err().field(), "window_size");
        let err = CountWindow::new(MAX_COUNT_WINDOW + 1).unwrap_err();
        assert_eq!(err.value(), "16777217");
        assert!(CountWindow::new(MAX_COUNT_WINDOW).is_ok());
    }

    #[test]
    fn slides_out_old_outcomes() {
        let w = CountWindow::new(3).unwrap();
        for _ in 0..3 {
            w.record(Outcome::SlowFailure);
        }
        assert_eq!(w.snapshot(), Snapshot::new(3, 3, 3));
        w.record(Outcome::Success);
        w.record(Outcome::Failure);
        assert_eq!(w.snapshot(), Snapshot::new(3, 2, 1));
        for _ in 0..1000 {
            w.record(Outcome::Success);
        }
        assert_eq!(w.snapshot(), Snapshot::new(3, 0, 0));
        w.record(Outcome::Failure);
        assert_eq!(w.snapshot(), Snapshot::new(3, 1, 0));
    }

    #[test]
    fn reset_starts_fresh() {
        let w = CountWindow::new(4).unwrap();
        w.record(Outcome::Failure);
        w.record(Outcome::SlowSuccess);
        w.reset();
        assert_eq!(w.snapshot(), Snapshot::default());
        assert_eq!(w.recount(), (0, 0));
        w.record(Outcome::Failure);
        assert_eq!(w.snapshot(), Snapshot::new(1, 1, 0));
    }
}
