//! The count-based window: the last `N` calls in a ticket ring.

use crossbeam_utils::CachePadded;

use super::reciprocal::FastMod;
use super::tagged::Tagged;
use super::{Generation, Outcome, Snapshot, MAX_COUNT_WINDOW};
use crate::config_error::ConfigError;
use crate::sync::{AtomicU64, Ordering};

/// Tickets at or past this take the exact slow path, which moves the
/// counter back (see [`CountWindow`]); below it, the fast remainder is
/// exact (it is for every ticket below [`FastMod::LIMIT`]).
const REWIND_AT: u64 = FastMod::LIMIT / 2;

/// The outcomes of the last `N` calls, lock-free.
///
/// A record takes a ticket with one shared `fetch_add`; slot `ticket % N`
/// (two multiplies by a precomputed reciprocal, not a division) holds that
/// call's outcome and the generation it was recorded in. Tickets stay
/// below 2^31: the record that passes it moves the counter back by a
/// multiple of `N`, which leaves every later ticket's slot where it was.
/// The slot is written only when what it holds differs, and then the
/// window's counts (calls, failures, slow calls) change by the exact
/// difference. A success landing on a success of the same generation is a
/// ticket and a load.
///
/// # Generations
///
/// [`reset`](Self::reset) starts a fresh generation in `O(1)`: slots of an
/// earlier generation read as empty, and every count carries its
/// generation's tag, changed only by a compare-and-swap that checks it. A
/// record that started before a reset and finishes after it is dropped: it
/// can never show in the new generation (checked by loom). Because every
/// change is the exact difference a slot change made, the counts always
/// equal a recount of the ring once recorders finish: they never drift.
///
/// # Examples
///
/// ```
/// use palisade::window::{CountWindow, Outcome};
///
/// let window = CountWindow::new(100)?;
/// window.record(Outcome::Failure);
/// window.record(Outcome::Success);
/// assert_eq!(window.snapshot().failure_rate(), Some(0.5));
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct CountWindow {
    /// Tickets taken, across generations.
    ticket: CachePadded<AtomicU64>,
    /// Slots of the current generation (at most `N`).
    calls: CachePadded<Tagged>,
    failures: Tagged,
    slow: Tagged,
    /// One outcome per slot: `generation << 2 | slow << 1 | failed`.
    slots: Box<[AtomicU64]>,
    len: u64,
    /// `ticket % len` without a `div` on the record path, for tickets
    /// below [`REWIND_AT`].
    modulus: FastMod,
    /// The multiple of `len` the ticket counter is moved back by when it
    /// reaches [`REWIND_AT`].
    rewind_by: u64,
    /// The generation `record`, `snapshot` and `reset` use.
    generation: Generation,
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
                "must be at most 1048576 (2^20) calls",
            ));
        }
        Ok(Self {
            ticket: CachePadded::new(AtomicU64::new(0)),
            calls: CachePadded::new(Tagged::default()),
            failures: Tagged::default(),
            slow: Tagged::default(),
            slots: (0..size).map(|_| AtomicU64::new(0)).collect(),
            len: u64::from(size),
            modulus: FastMod::new(size),
            rewind_by: REWIND_AT / u64::from(size) * u64::from(size),
            generation: Generation::default(),
        })
    }

    /// The number of calls the window holds when full.
    pub fn size(&self) -> u32 {
        self.len as u32
    }

    /// Records one call's outcome. Lock-free, allocation-free, no clock.
    #[inline]
    pub fn record(&self, outcome: Outcome) {
        self.record_in(self.generation.current(), outcome);
    }

    /// Records one outcome in `generation`; false if the window has moved
    /// on to a later generation (the record is dropped).
    ///
    /// Inlined into the caller up to the common case (the slot already
    /// holds this outcome of this generation: a ticket and a load); a
    /// change of the slot is a call.
    #[inline(always)]
    pub(crate) fn record_in(&self, generation: u64, outcome: Outcome) -> bool {
        // Relaxed: the ticket only chooses a slot; nothing is published
        // through it.
        let ticket = self.ticket.fetch_add(1, Ordering::Relaxed);
        let index = if ticket < REWIND_AT {
            self.modulus.rem(ticket)
        } else {
            self.rewind(ticket)
        };
        let Some(slot) = self.slots.get(index as usize) else {
            return false;
        };
        let new = generation << 2 | outcome as u64;
        // Relaxed: the slot is validated by the CAS below; the counts are
        // tagged and validated on their own.
        let old = slot.load(Ordering::Relaxed);
        old == new || self.change(slot, old, generation, outcome)
    }

    /// The slot of a ticket at or past [`REWIND_AT`] (once every 2^31
    /// records, or while a rewind races other records), and the counter
    /// moved back by a multiple of `N` so that the next tickets take the
    /// fast path again in the same slots.
    #[cold]
    #[inline(never)]
    fn rewind(&self, ticket: u64) -> u64 {
        // Relaxed: the ticket only chooses a slot, and moving it back by a
        // multiple of N keeps every later ticket's slot. Only from the value
        // this record left: if another record took a ticket since, this one
        // fails and a later record past the mark tries again.
        let _ = self.ticket.compare_exchange(
            ticket + 1,
            ticket + 1 - self.rewind_by,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        ticket % self.len
    }

    /// Writes `outcome` of `generation` into `slot`, which held `old`, and
    /// changes the counts by the difference.
    #[inline(never)]
    fn change(&self, slot: &AtomicU64, mut old: u64, generation: u64, outcome: Outcome) -> bool {
        let new = generation << 2 | outcome as u64;
        loop {
            if old >> 2 > generation {
                return false;
            }
            match slot.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => old = actual,
            }
        }
        let old_bits = if old >> 2 == generation {
            old & 3
        } else {
            // The slot was empty in this generation: one more call.
            if !self.calls.add(generation, 1) {
                return false;
            }
            0
        };
        let bits = outcome as u64;
        let failed = (bits & 1) as i64 - (old_bits & 1) as i64;
        let slow = (bits >> 1) as i64 - (old_bits >> 1) as i64;
        (failed == 0 || self.failures.add(generation, failed))
            && (slow == 0 || self.slow.add(generation, slow))
    }

    /// Calls, failures and slow calls among the last `N` calls.
    ///
    /// Exact once recorders finish; while they run, it may miss a call
    /// being recorded, and it never reports more failures or slow calls
    /// than calls.
    #[inline]
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_in(self.generation.current())
    }

    /// The snapshot of `generation` (empty if the window is in another).
    #[inline]
    pub(crate) fn snapshot_in(&self, generation: u64) -> Snapshot {
        let failures = self.failures.read(generation);
        let slow = self.slow.read(generation);
        let calls = self.calls.read(generation);
        Snapshot::clamped(calls, failures, slow)
    }

    /// Empties the window: a fresh generation, in `O(1)`.
    ///
    /// A record racing a reset lands in the old generation or is dropped,
    /// never in the new one.
    pub fn reset(&self) {
        self.generation.advance(|g| self.restart(g));
    }

    /// Starts `generation` with every count at zero; the caller publishes
    /// `generation` (Release) afterwards.
    pub(crate) fn restart(&self, generation: u64) {
        self.calls.restart(generation);
        self.failures.restart(generation);
        self.slow.restart(generation);
    }

    /// Bytes this window occupies, heap included.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + std::mem::size_of_val(&*self.slots)
    }

    /// Recount of the ring (for tests): the calls, failures and slow calls
    /// in the slots of the current generation.
    #[doc(hidden)]
    pub fn recount(&self) -> Snapshot {
        let generation = self.generation.current();
        let (c, f, s) = self.slots.iter().fold((0, 0, 0), |(c, f, s), slot| {
            let word = slot.load(Ordering::Relaxed);
            if word >> 2 != generation {
                return (c, f, s);
            }
            (c + 1, f + (word & 1), s + (word >> 1 & 1))
        });
        Snapshot::new(c, f, s)
    }
}

#[cfg(all(test, not(palisade_loom)))]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_sizes() {
        assert_eq!(CountWindow::new(0).unwrap_err().field(), "window_size");
        let err = CountWindow::new(MAX_COUNT_WINDOW + 1).unwrap_err();
        assert_eq!(err.value(), "1048577");
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

    /// The outcomes of the last `size` of `outcomes`, counted naively.
    fn last(outcomes: &[Outcome], size: usize) -> Snapshot {
        let tail = &outcomes[outcomes.len().saturating_sub(size)..];
        let count = |f: fn(&Outcome) -> bool| tail.iter().filter(|o| f(o)).count() as u64;
        Snapshot::new(
            tail.len() as u64,
            count(|o| o.is_failure()),
            count(|o| o.is_slow()),
        )
    }

    #[test]
    fn keeps_the_last_n_across_the_ticket_rewind() {
        for size in [1u32, 3, 7, 100] {
            let w = CountWindow::new(size).unwrap();
            // As if 2^31 calls had been recorded, less a few.
            w.ticket
                .store(REWIND_AT - 2 * u64::from(size) - 1, Ordering::Relaxed);
            let mut seen = Vec::new();
            let mut state = 0x9e37_79b9_7f4a_7c15u64;
            for _ in 0..5 * size + 3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let outcome = Outcome::new(state % 3 == 0, state % 5 == 0);
                w.record(outcome);
                seen.push(outcome);
                assert_eq!(w.snapshot(), last(&seen, size as usize), "size {size}");
                assert_eq!(w.recount(), w.snapshot());
            }
            assert!(
                w.ticket.load(Ordering::Relaxed) < REWIND_AT,
                "the counter was moved back"
            );
        }
    }

    #[test]
    fn reset_starts_fresh() {
        let w = CountWindow::new(4).unwrap();
        w.record(Outcome::Failure);
        w.record(Outcome::SlowSuccess);
        w.reset();
        assert_eq!(w.snapshot(), Snapshot::default());
        assert_eq!(w.recount(), Snapshot::default());
        w.record(Outcome::Failure);
        assert_eq!(w.snapshot(), Snapshot::new(1, 1, 0));
    }
}
