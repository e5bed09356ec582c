//! The hybrid window: the last `N` calls, none older than `T`.

use std::time::Duration;

use super::{CountWindow, Outcome, Snapshot, TimeWindow};
use crate::config_error::ConfigError;

/// The last `N` calls, none older than `T` (to bucket precision).
///
/// It records into a [`CountWindow`] and a [`TimeWindow`] together. The calls
/// of the last `T` are the most recent ones, so if fewer than `N` of them
/// exist they are exactly the hybrid set; otherwise the last `N` calls all
/// fall within `T`. The snapshot is therefore whichever of the two holds
/// fewer calls.
///
/// # Examples
///
/// ```
/// use palisade::window::{HybridWindow, Outcome};
/// use std::time::Duration;
///
/// let window = HybridWindow::new(3, Duration::from_secs(10), 10)?;
/// let second = 1_000_000_000;
/// for t in 0..5 {
///     window.record(t * second, Outcome::Failure);
/// }
/// assert_eq!(window.snapshot(5 * second).calls(), 3); // capped by N
/// assert_eq!(window.snapshot(60 * second).calls(), 0); // all older than T
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct HybridWindow {
    count: CountWindow,
    time: TimeWindow,
}

impl HybridWindow {
    /// The last `size` calls, none older than `window` (in `buckets` buckets).
    ///
    /// # Errors
    ///
    /// As [`CountWindow::new`] and [`TimeWindow::new`].
    pub fn new(size: u32, window: Duration, buckets: u32) -> Result<Self, ConfigError> {
        Ok(Self {
            count: CountWindow::new(size)?,
            time: TimeWindow::new(window, buckets)?,
        })
    }

    /// The width of one bucket of the time part.
    pub fn bucket_width(&self) -> Duration {
        self.time.bucket_width()
    }

    /// The most calls the window holds, `N`.
    pub fn size(&self) -> u32 {
        self.count.size()
    }

    /// Records one call that finished at `now`.
    #[inline]
    pub fn record(&self, now: u64, outcome: Outcome) {
        self.count.record(outcome);
        self.time.record(now, outcome);
    }

    /// Records one outcome in `generation`; false if either part dropped it.
    #[inline]
    pub(crate) fn record_in(&self, generation: u64, now: u64, outcome: Outcome) -> bool {
        let count = self.count.record_in(generation, outcome);
        self.time.record_in(generation, now, outcome) && count
    }

    /// The calls in the window at `now`.
    pub fn snapshot(&self, now: u64) -> Snapshot {
        Self::smaller(self.time.snapshot(now), self.count.snapshot())
    }

    /// The snapshot of `generation` at `now`.
    pub(crate) fn snapshot_in(&self, generation: u64, now: u64) -> Snapshot {
        Self::smaller(
            self.time.snapshot_in(generation, now),
            self.count.snapshot_in(generation),
        )
    }

    fn smaller(time: Snapshot, count: Snapshot) -> Snapshot {
        if time.calls() < count.calls() {
            time
        } else {
            count
        }
    }

    /// Empties the window: a fresh generation. Cold path.
    pub fn reset(&self) {
        self.count.reset();
        self.time.reset();
    }

    /// Starts `generation` with every count at zero (see
    /// [`CountWindow::reset`]).
    pub(crate) fn restart(&self, generation: u64) {
        self.count.restart(generation);
        self.time.restart(generation);
    }

    /// Bytes this window occupies, heap included.
    pub fn memory_bytes(&self) -> usize {
        self.count.memory_bytes() + self.time.memory_bytes()
    }
}
