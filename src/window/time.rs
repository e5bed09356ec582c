//! The time-based window: the last `T`, in `B` buckets, striped per thread.

use std::cell::Cell;
use std::time::Duration;

use super::{Generation, Outcome, Reciprocal, Snapshot, Tagged, MAX_BUCKETS, MAX_STRIPES};
use crate::clock::duration_nanos;
use crate::config_error::ConfigError;
use crate::sync::{spin_hint, AtomicU64, Ordering};

/// Epoch word of a bucket one thread is zeroing for a new epoch.
const RESETTING: u64 = u64::MAX;

/// One bucket: its epoch and its generation-tagged counts. Four fit a
/// 128-byte pair of cache lines, so a stripe's padding is a whole number of
/// buckets.
#[derive(Debug, Default)]
#[repr(align(32))]
struct Bucket {
    /// `epoch + 1`, 0 if never written, or `RESETTING`.
    epoch: AtomicU64,
    calls: Tagged,
    failures: Tagged,
    slow: Tagged,
}

impl Bucket {
    /// Takes the bucket for rewriting if its epoch word still reads
    /// `current` (and nobody else is rewriting it).
    #[inline]
    fn claim(&self, current: u64) -> bool {
        // Acquire on success: the writes of `publish` must not move above
        // the claim. Relaxed on failure: the caller just looks again.
        current != RESETTING
            && self
                .epoch
                .compare_exchange(current, RESETTING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Writes the first record of a claimed bucket, then releases it under
    /// `epoch`.
    #[inline]
    fn publish(&self, epoch: u64, generation: u64, outcome: Outcome) {
        // Release (counts, in `set`): a snapshot that reads these values also
        // sees the claim, and so notices the bucket changed under it.
        self.calls.set(generation, 1);
        self.failures
            .set(generation, u64::from(outcome.is_failure()));
        self.slow.set(generation, u64::from(outcome.is_slow()));
        // Release (epoch): publishes the counts to recorders and snapshots.
        self.epoch.store(epoch, Ordering::Release);
    }

    /// Adds one outcome to a bucket that holds the current epoch; false if
    /// its counts belong to a later generation.
    #[inline]
    fn add(&self, generation: u64, outcome: Outcome) -> bool {
        self.calls.add(generation, 1)
            && (!outcome.is_failure() || self.failures.add(generation, 1))
            && (!outcome.is_slow() || self.slow.add(generation, 1))
    }
}

/// Buckets added after each stripe's ring so no two stripes share the
/// 128 bytes that adjacent-line prefetching pulls together.
const STRIPE_PAD: usize = 128 / std::mem::size_of::<Bucket>();

/// Calls in the last `T`, split into `B` buckets of `T / B` each, lock-free.
///
/// Buckets are aligned to the clock: a call at `now` lands in epoch
/// `now / width` (computed with a precomputed reciprocal, not a division),
/// and the window at `now` is that epoch plus the `B - 1` before it.
///
/// Each thread records into its own stripe (a thread-local index), a ring of
/// `B` rounded up to a power of two buckets, so a success is one
/// uncontended `fetch_add`. A bucket holding an older epoch is reset lazily
/// by whoever first records into it, claiming it with a compare-and-swap on
/// its epoch word; a recorder that finds a bucket mid-reset moves on to the
/// next stripe, so nobody waits and no record is lost.
///
/// [`reset`](Self::reset) starts a fresh generation: every count is tagged
/// with its generation and changed only by a compare-and-swap that checks
/// the tag, so a record racing a reset lands in the old generation or is
/// dropped, never in the new one.
///
/// A record carrying a time a whole ring (at least `B` buckets) older than
/// what its bucket already holds is outside every window that bucket can be
/// part of, and is dropped. If it races with the bucket's reuse for the
/// newer epoch, it may instead be counted there: this needs a thread to
/// record a time a whole window older than another thread sharing its
/// stripe, which real callers (reading the clock just before recording) do
/// only when descheduled for a whole window in between.
///
/// # Examples
///
/// ```
/// use palisade::window::{Outcome, TimeWindow};
/// use std::time::Duration;
///
/// let window = TimeWindow::new(Duration::from_secs(10), 10)?;
/// let second = 1_000_000_000;
/// window.record(0, Outcome::Failure);
/// window.record(5 * second, Outcome::Success);
/// assert_eq!(window.snapshot(9 * second).calls(), 2);
/// // At 10 s the bucket [0 s, 1 s) has slid out.
/// assert_eq!(window.snapshot(10 * second).failures(), 0);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct TimeWindow {
    buckets: Box<[Bucket]>,
    width: Reciprocal,
    /// `B`.
    len: u64,
    /// Ring size minus one (ring size is `B` rounded up to a power of two).
    ring_mask: u64,
    /// Buckets from one stripe's start to the next's.
    stride: usize,
    stripe_mask: usize,
    generation: Generation,
}

impl TimeWindow {
    /// A window over the last `window`, in `buckets` buckets, with the
    /// default number of stripes (twice the available parallelism, rounded
    /// up to a power of two, at most 64).
    ///
    /// # Errors
    ///
    /// See [`with_stripes`](Self::with_stripes).
    pub fn new(window: Duration, buckets: u32) -> Result<Self, ConfigError> {
        Self::with_stripes(window, buckets, default_stripes())
    }

    /// A window over the last `window`, in `buckets` buckets, with
    /// `stripes` stripes (rounded up to a power of two).
    ///
    /// # Errors
    ///
    /// A `ConfigError` naming the field if `window` is zero or more than
    /// `u64::MAX` nanoseconds (`window_duration`), `buckets` is 0, above
    /// [`MAX_BUCKETS`](super::MAX_BUCKETS), more than the window's
    /// nanoseconds, or does not divide it into whole nanoseconds
    /// (`buckets`), or `stripes` is 0 or above
    /// [`MAX_STRIPES`](super::MAX_STRIPES) (`stripes`).
    pub fn with_stripes(window: Duration, buckets: u32, stripes: u32) -> Result<Self, ConfigError> {
        let nanos = duration_nanos(window).ok_or_else(|| {
            ConfigError::new(
                "window_duration",
                window,
                "must fit in u64 nanoseconds (about 584 years)",
            )
        })?;
        if nanos == 0 {
            return Err(ConfigError::new(
                "window_duration",
                window,
                "must be above zero",
            ));
        }
        if buckets == 0 || buckets > MAX_BUCKETS {
            return Err(ConfigError::new("buckets", buckets, "must be in 1..=4096"));
        }
        if u64::from(buckets) > nanos {
            return Err(ConfigError::new(
                "buckets",
                buckets,
                "must not exceed the window duration in nanoseconds",
            ));
        }
        if nanos % u64::from(buckets) != 0 {
            return Err(ConfigError::new(
                "buckets",
                buckets,
                "must divide the window duration into whole nanoseconds",
            ));
        }
        if stripes == 0 || stripes > MAX_STRIPES {
            return Err(ConfigError::new("stripes", stripes, "must be in 1..=256"));
        }
        let ring = buckets.next_power_of_two() as usize;
        let stripes = stripes.next_power_of_two() as usize;
        let stride = ring + STRIPE_PAD;
        Ok(Self {
            buckets: (0..stripes * stride).map(|_| Bucket::default()).collect(),
            width: Reciprocal::new(nanos / u64::from(buckets)),
            len: u64::from(buckets),
            ring_mask: ring as u64 - 1,
            stride,
            stripe_mask: stripes - 1,
            generation: Generation::default(),
        })
    }

    /// The width of one bucket.
    pub fn bucket_width(&self) -> Duration {
        Duration::from_nanos(self.width.divisor())
    }

    /// The number of buckets, `B`.
    pub fn buckets(&self) -> u32 {
        self.len as u32
    }

    /// The number of stripes.
    pub fn stripes(&self) -> usize {
        self.stripe_mask + 1
    }

    #[inline]
    fn bucket(&self, stripe: usize, epoch: u64) -> &Bucket {
        let index = (stripe & self.stripe_mask) * self.stride + (epoch & self.ring_mask) as usize;
        &self.buckets[index]
    }

    /// Records one call that finished at `now` (nanoseconds on the clock the
    /// window's user reads). Lock-free, allocation-free, no clock read.
    #[inline]
    pub fn record(&self, now: u64, outcome: Outcome) {
        self.record_in(self.generation.current(), now, outcome);
    }

    /// Records one outcome in `generation`; false if it was dropped (older
    /// than its bucket, or of an earlier generation than the window's).
    #[inline]
    pub(crate) fn record_in(&self, generation: u64, now: u64, outcome: Outcome) -> bool {
        let epoch = self.width.divide(now);
        // Stored tags are `epoch + 1`; at the very top of the range two
        // epochs share a tag, half a millennium after the clock's origin.
        let tag = epoch.saturating_add(1).min(RESETTING - 1);
        let first = stripe_index();
        let mut stripe = first;
        loop {
            let bucket = self.bucket(stripe, epoch);
            // Acquire: pairs with the Release that publishes a claimed
            // bucket, so our add lands after its first counts.
            let current = bucket.epoch.load(Ordering::Acquire);
            if current == tag {
                return bucket.add(generation, outcome);
            }
            if current != RESETTING && current > tag {
                // The slot already serves an epoch at least a ring later:
                // this call is older than any window containing it.
                return false;
            }
            if bucket.claim(current) {
                // We own the bucket until we publish the epoch; nobody else
                // adds to it meanwhile, so we write the first counts directly.
                bucket.publish(tag, generation, outcome);
                return true;
            }
            if current == RESETTING {
                // Someone else is rewriting this bucket: use the next stripe.
                stripe = stripe.wrapping_add(1);
                if (stripe ^ first) & self.stripe_mask == 0 {
                    spin_hint();
                }
            }
        }
    }

    /// Calls, failures and slow calls in the window ending at `now`: the
    /// bucket `now` falls in and the `B - 1` before it, over every stripe.
    ///
    /// Exact once recorders finish; never more failures or slow calls than
    /// calls. A bucket being rewritten while it is read is left out.
    pub fn snapshot(&self, now: u64) -> Snapshot {
        self.snapshot_in(self.generation.current(), now)
    }

    /// The snapshot of `generation` at `now`.
    pub(crate) fn snapshot_in(&self, generation: u64, now: u64) -> Snapshot {
        let newest = self.width.divide(now);
        let (mut calls, mut failures, mut slow) = (0i64, 0i64, 0i64);
        for stripe in 0..=self.stripe_mask {
            for back in 0..self.len.min(newest.saturating_add(1)) {
                let epoch = newest - back;
                let tag = epoch.saturating_add(1).min(RESETTING - 1);
                let bucket = self.bucket(stripe, epoch);
                // Acquire (all loads): each later load stays after it, so the
                // second epoch read tells whether a claim overlapped, and
                // `calls` includes every call whose failure we saw (a record
                // adds `calls` before the others, with Release).
                if bucket.epoch.load(Ordering::Acquire) != tag {
                    continue;
                }
                let f = bucket.failures.read(generation);
                let s = bucket.slow.read(generation);
                let c = bucket.calls.read(generation);
                if bucket.epoch.load(Ordering::Relaxed) != tag {
                    continue;
                }
                calls += c;
                failures += f.min(c);
                slow += s.min(c);
            }
        }
        Snapshot::clamped(calls, failures, slow)
    }

    /// Empties the window: a fresh generation. Cold path, `O(buckets)`.
    ///
    /// A record racing a reset lands in the old generation or is dropped,
    /// never in the new one.
    pub fn reset(&self) {
        self.generation.advance(|g| self.restart(g));
    }

    /// Starts `generation` with every count at zero; the caller publishes
    /// `generation` (Release) afterwards.
    pub(crate) fn restart(&self, generation: u64) {
        for bucket in self.buckets.iter() {
            bucket.calls.restart(generation);
            bucket.failures.restart(generation);
            bucket.slow.restart(generation);
        }
    }

    /// Bytes this window occupies, heap included.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + std::mem::size_of_val(&*self.buckets)
    }
}

fn default_stripes() -> u32 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus.saturating_mul(2).next_power_of_two() as u32).min(64)
}

/// This thread's stripe, assigned round-robin on first use.
#[inline]
fn stripe_index() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|cell| {
        let mut stripe = cell.get();
        if stripe == usize::MAX {
            // Relaxed: only spreads threads; any value is correct.
            stripe = NEXT.fetch_add(1, StdOrdering::Relaxed);
            cell.set(stripe);
        }
        stripe
    })
}

#[cfg(all(test, not(palisade_loom)))]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn rejects_bad_config() {
        let d = Duration::from_secs(1);
        assert_eq!(
            TimeWindow::new(Duration::ZERO, 10).unwrap_err().field(),
            "window_duration"
        );
        assert_eq!(
            TimeWindow::new(Duration::MAX, 10).unwrap_err().field(),
            "window_duration"
        );
        assert_eq!(TimeWindow::new(d, 0).unwrap_err().field(), "buckets");
        assert_eq!(
            TimeWindow::new(d, MAX_BUCKETS + 1).unwrap_err().field(),
            "buckets"
        );
        assert_eq!(
            TimeWindow::new(Duration::from_nanos(3), 4)
                .unwrap_err()
                .field(),
            "buckets"
        );
        assert_eq!(TimeWindow::new(d, 3).unwrap_err().value(), "3");
        assert_eq!(
            TimeWindow::with_stripes(d, 10, 0).unwrap_err().field(),
            "stripes"
        );
        assert_eq!(
            TimeWindow::with_stripes(d, 10, 1000).unwrap_err().field(),
            "stripes"
        );
        assert!(TimeWindow::new(Duration::from_nanos(4), 4).is_ok());
    }

    #[test]
    fn buckets_align_to_the_clock() {
        let w = TimeWindow::with_stripes(Duration::from_millis(100), 10, 1).unwrap();
        w.record(9 * MS, Outcome::Failure); // bucket 0
        w.record(10 * MS, Outcome::Success); // bucket 1
        assert_eq!(w.snapshot(99 * MS), Snapshot::new(2, 1, 0));
        assert_eq!(w.snapshot(100 * MS), Snapshot::new(1, 0, 0));
        assert_eq!(w.snapshot(110 * MS), Snapshot::default());
    }

    #[test]
    fn stale_buckets_reset_lazily_and_old_records_drop() {
        let w = TimeWindow::with_stripes(Duration::from_millis(40), 4, 1).unwrap();
        w.record(0, Outcome::SlowFailure);
        // Same ring slot, four rings later.
        w.record(160 * MS, Outcome::Success);
        assert_eq!(w.snapshot(160 * MS), Snapshot::new(1, 0, 0));
        // A record for epoch 0 arrives late: older than the bucket, dropped.
        w.record(1, Outcome::Failure);
        assert_eq!(w.snapshot(160 * MS), Snapshot::new(1, 0, 0));
    }

    #[test]
    fn reset_empties() {
        let w = TimeWindow::new(Duration::from_secs(1), 10).unwrap();
        w.record(5, Outcome::Failure);
        w.reset();
        assert_eq!(w.snapshot(5), Snapshot::default());
        w.record(5, Outcome::Failure);
        assert_eq!(w.snapshot(5), Snapshot::new(1, 1, 0));
    }

    #[test]
    fn memory_is_reported() {
        let w = TimeWindow::with_stripes(Duration::from_secs(10), 10, 8).unwrap();
        assert_eq!(
            w.memory_bytes(),
            std::mem::size_of::<TimeWindow>() + 8 * (16 + 4) * 32
        );
    }
}
