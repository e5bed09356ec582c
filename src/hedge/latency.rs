//! The learned hedge delay: a percentile of recent first-attempt latencies,
//! from two histograms that take turns, one period each, without a lock.
//!
//! Latencies are counted in buckets of microseconds on a log scale, four
//! buckets per power of two (each at most a quarter wider than the one
//! before it), up to about 2^38 µs (three days), everything above in the
//! last. A call records into the histogram of the current period; the first
//! call of a new period computes the percentile of the period that ended
//! (if it holds enough latencies), keeps it as the delay, and empties the
//! histogram the new period will fill. An estimate: a latency recorded
//! while its period is being rotated may count in either period or be
//! lost, which moves a percentile of many calls by nothing that matters.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::clock::Clock;

/// Sub-buckets per power of two, as bits.
const SUB: u32 = 2;
/// Powers of two covered.
const LEVELS: usize = 38;
const BUCKETS: usize = LEVELS << SUB;

/// The bucket of a latency of `micros`.
fn bucket(micros: u64) -> usize {
    if micros < 1 << SUB {
        return micros as usize;
    }
    let level = 63 - micros.leading_zeros(); // >= SUB
    let sub = (micros >> (level - SUB)) as usize & ((1 << SUB) - 1);
    (((level - SUB + 1) as usize) << SUB | sub).min(BUCKETS - 1)
}

/// The largest latency, in microseconds, that falls in `bucket`.
fn upper_micros(bucket: usize) -> u64 {
    if bucket < 1 << SUB {
        return bucket as u64;
    }
    let level = (bucket >> SUB) as u32 + SUB - 1;
    let sub = (bucket & ((1 << SUB) - 1)) as u64;
    let low = (1u64 << level) + (sub << (level - SUB));
    low + (1 << (level - SUB)) - 1
}

struct Histogram {
    counts: Box<[AtomicU32]>,
}

impl Histogram {
    fn new() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn record(&self, micros: u64) {
        self.counts[bucket(micros)].fetch_add(1, Relaxed);
    }

    /// The `percentile` (in `(0, 1]`) of the latencies counted, as the top
    /// of its bucket in nanoseconds, if there are at least `min_points`.
    fn percentile_nanos(&self, percentile: f64, min_points: u64) -> Option<u64> {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| u64::from(c.load(Relaxed)))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 || total < min_points {
            return None;
        }
        let rank = ((percentile * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        let found = counts.iter().position(|&c| {
            seen += c;
            seen >= rank
        })?;
        Some(upper_micros(found).saturating_add(1).saturating_mul(1_000))
    }

    fn clear(&self) {
        for count in self.counts.iter() {
            count.store(0, Relaxed);
        }
    }
}

/// A percentile of first-attempt latencies over the last full period.
pub(crate) struct Learned {
    percentile: f64,
    period_nanos: u64,
    min_points: u64,
    /// The period `histograms[period % 2]` is filling.
    period: AtomicU64,
    histograms: [Histogram; 2],
    /// The learned delay in nanoseconds; 0 until a period held enough.
    delay_nanos: AtomicU64,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Learned {
    pub(super) fn new(
        percentile: f64,
        period_nanos: u64,
        min_points: u64,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let period = clock.now_nanos() / period_nanos;
        Self {
            percentile,
            period_nanos,
            min_points,
            period: AtomicU64::new(period),
            histograms: [Histogram::new(), Histogram::new()],
            delay_nanos: AtomicU64::new(0),
            clock,
        }
    }

    /// The learned delay, if a full period has taught one yet.
    pub(crate) fn delay_nanos(&self) -> Option<u64> {
        match self.delay_nanos.load(Relaxed) {
            0 => None,
            nanos => Some(nanos),
        }
    }

    /// Records a first attempt's latency, measured from `start` to now.
    pub(crate) fn record(&self, start: u64) {
        let now = self.clock.now_nanos();
        let period = now / self.period_nanos;
        let mut current = self.period.load(Relaxed);
        if period > current {
            if self
                .period
                .compare_exchange(current, period, Relaxed, Relaxed)
                .is_ok()
            {
                self.rotate(current, period);
            }
            current = period;
        }
        let micros = now.saturating_sub(start) / 1_000;
        self.histograms[(current % 2) as usize].record(micros);
    }

    /// Ends period `ended` (learning from it if it held enough calls and
    /// it is the one just before `now`'s) and empties the histogram that
    /// period `now` fills (a histogram is read only for the period that
    /// filled it, so the other may keep stale counts).
    fn rotate(&self, ended: u64, now: u64) {
        if ended + 1 == now {
            let ended_histogram = &self.histograms[(ended % 2) as usize];
            if let Some(nanos) = ended_histogram.percentile_nanos(self.percentile, self.min_points)
            {
                self.delay_nanos.store(nanos, Relaxed);
            }
        }
        self.histograms[(now % 2) as usize].clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::Duration;

    #[test]
    fn buckets_are_ordered_contiguous_and_hold_their_values() {
        let mut last = None;
        for b in 0..BUCKETS - 1 {
            let top = upper_micros(b);
            assert_eq!(bucket(top), b, "bucket {b}'s top");
            assert_eq!(bucket(top + 1), b + 1, "the next value opens the next");
            if let Some(before) = last {
                assert!(top > before);
                // At most a quarter wider than the values below it.
                assert!(top - before <= before / 4 + 1, "{b}: {before} -> {top}");
            }
            last = Some(top);
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn the_percentile_of_a_full_period_becomes_the_delay() {
        let clock = ManualClock::new();
        let learned = Learned::new(0.9, 1_000_000_000, 10, Arc::new(clock.clone()));
        // 100 calls ending at 500 ms into the first second: 1 ms .. 100 ms.
        clock.advance(Duration::from_millis(500));
        for ms in 1..=100u64 {
            learned.record(clock.now_nanos() - ms * 1_000_000);
        }
        assert_eq!(learned.delay_nanos(), None, "the first period is not over");
        clock.advance(Duration::from_millis(1_000));
        let start = clock.now_nanos();
        learned.record(start);
        let delay = Duration::from_nanos(learned.delay_nanos().unwrap());
        // The 90th of 100 is 90 ms; its bucket ends below 90 ms * 1.25.
        assert!(
            delay >= Duration::from_millis(90) && delay <= Duration::from_micros(112_500),
            "{delay:?}"
        );
    }

    #[test]
    fn too_few_calls_or_a_stale_period_teach_nothing() {
        let clock = ManualClock::new();
        let learned = Learned::new(0.5, 1_000_000_000, 10, Arc::new(clock.clone()));
        for _ in 0..9 {
            learned.record(clock.now_nanos());
        }
        clock.advance(Duration::from_millis(1_100));
        learned.record(clock.now_nanos());
        assert_eq!(learned.delay_nanos(), None, "9 < 10 calls");
        for _ in 0..20 {
            learned.record(clock.now_nanos());
        }
        // Two periods later: the one that ended is not the one before now.
        clock.advance(Duration::from_millis(2_000));
        learned.record(clock.now_nanos());
        assert_eq!(learned.delay_nanos(), None);
    }
}
