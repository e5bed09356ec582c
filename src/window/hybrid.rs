//! The hybrid window: the last `N` calls, none older than `T`.

use std::time::Duration;

use super::{CountWindow, Outcome, Snapshot, TimeWindow};
use crate::error::ConfigError;

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
/// use parapet::window::{HybridWindow, Outcome};
/// use std::time::Duration;
///
/// let window = HybridWindow::new(3, Duration::from_secs(10), 10)?;
/// let second = 1_000_000_000;
/// for t in 0..5 {
///     window.record(t * second, Outcome::Failure);
/// }
/// assert_eq!(window.snapshot(5 * second).calls(), 3); // capped by N
/// assert_eq!(window.snapshot(60 * second).calls(), 0); // all older than T
/// # Ok::<(), parapet::ConfigError>(())
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

    /// The calls in the window at `now`.
    pub fn snapshot(&self, now: u64) -> Snapshot {
        let time = self.time.snapshot(now);
        let count = self.count.snapshot();
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

    /// Bytes this window occupies, heap included.
    pub fn memory_bytes(&self) -> usize {
        self.count.memory_bytes() + self.time.memory_bytes()
    }
}
