//! Striped counters: counts written on every call without a shared cache
//! line and without a locked instruction.
//!
//! Each thread gets a small index of its own for as long as it lives
//! (indices are reused after a thread exits). A counter set keeps one
//! cache-padded stripe per index, made the first time that thread counts,
//! and only that thread writes it: an increment is a plain load and store
//! on a line no other thread writes. Readers sum the stripes. Threads past
//! the last stripe share one stripe with atomic adds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crossbeam_utils::CachePadded;

/// Guards publish a striped count to a `metrics` recorder after this many
/// counts of it by one thread.
#[cfg(feature = "metrics")]
pub(crate) const PUBLISH_EVERY: u64 = 64;

/// Threads with a stripe of their own per counter set.
const STRIPES: usize = 64;

/// Thread indices: the next never used, and those given back.
struct Indices {
    next: usize,
    free: Vec<usize>,
}

static INDICES: Mutex<Indices> = Mutex::new(Indices {
    next: 0,
    free: Vec::new(),
});

/// A thread's index, given back when the thread exits. The lock that hands
/// it out and takes it back orders the last writes of the thread that had
/// it before the first writes of the next one.
struct ThreadIndex(usize);

impl ThreadIndex {
    fn take() -> Self {
        let mut indices = INDICES.lock().unwrap_or_else(|p| p.into_inner());
        let index = indices.free.pop().unwrap_or_else(|| {
            indices.next += 1;
            indices.next - 1
        });
        Self(index)
    }
}

impl Drop for ThreadIndex {
    fn drop(&mut self) {
        let mut indices = INDICES.lock().unwrap_or_else(|p| p.into_inner());
        indices.free.push(self.0);
    }
}

thread_local! {
    static INDEX: ThreadIndex = ThreadIndex::take();
}

/// One thread's `K` counters, on cache lines of their own.
type Stripe<const K: usize> = CachePadded<[AtomicU64; K]>;

/// `K` counters, striped by thread.
pub(crate) struct Striped<const K: usize> {
    stripes: Box<[OnceLock<Box<Stripe<K>>>]>,
    shared: Stripe<K>,
}

impl<const K: usize> Striped<K> {
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| OnceLock::new()).collect(),
            shared: CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }

    /// Adds one to counter `k`; returns the calling thread's own count of
    /// it (for callers that publish every so many).
    #[inline]
    pub(crate) fn increment(&self, k: usize) -> u64 {
        let stripe = INDEX
            .try_with(|index| self.stripes.get(index.0))
            .ok()
            .flatten();
        match stripe {
            Some(stripe) => {
                let stripe = stripe.get_or_init(|| {
                    Box::new(CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))))
                });
                // Relaxed: this thread is the stripe's only writer; readers
                // want a recent value, not an ordering.
                let count = stripe[k].load(Ordering::Relaxed) + 1;
                stripe[k].store(count, Ordering::Relaxed);
                count
            }
            // Relaxed: a count.
            None => self.shared[k].fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    /// Counter `k` over every thread.
    pub(crate) fn sum(&self, k: usize) -> u64 {
        // Relaxed: a count; each stripe only grows.
        let striped: u64 = self
            .stripes
            .iter()
            .filter_map(OnceLock::get)
            .map(|stripe| stripe[k].load(Ordering::Relaxed))
            .sum();
        striped + self.shared[k].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::Striped;

    #[test]
    fn sums_every_threads_counts() {
        let counts = Striped::<2>::new();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        counts.increment(1);
                    }
                });
            }
        });
        counts.increment(0);
        assert_eq!((counts.sum(0), counts.sum(1)), (1, 8000));
    }

    #[test]
    fn a_reused_thread_index_keeps_counting() {
        let counts = Striped::<1>::new();
        for _ in 0..4 {
            // Each thread exits before the next starts: they share an index.
            std::thread::scope(|s| {
                s.spawn(|| {
                    for _ in 0..10 {
                        counts.increment(0);
                    }
                });
            });
        }
        assert_eq!(counts.sum(0), 40);
    }
}
