//! Adaptive concurrency limit: a bulkhead whose limit follows the
//! dependency's latency.
//!
//! A fixed bulkhead limit is a guess: too low wastes the dependency, too
//! high lets calls queue inside it, latency piling up before a breaker sees
//! anything. An [`AdaptiveLimit`] measures every completed call from the
//! moment it got its place (not its wait), and after each window of calls
//! moves the limit with its [`Algorithm`]: [`Gradient`] (latency against a
//! no-load baseline, the default) or [`Aimd`] (cut on drops). A call over
//! the current limit is rejected at once with [`Error::BulkheadFull`](crate::Error::BulkheadFull)
//! ([`Rejection::AdaptiveLimit`],
//! with the limit at that moment).
//!
//! What counts:
//! - a completed call is a latency sample; a **drop** (a timeout, a
//!   failure: for [`call`](AdaptiveLimit::call) every `Err`, in a
//!   [`Pipeline`](crate::pipeline::Pipeline) what its breaker's classifier
//!   calls a failure, and with no breaker every `Err`) counts too, and ends
//!   AIMD's growth;
//! - a **cancelled** call (dropped before it completed) and a **rejected**
//!   one are not samples: they say nothing of the dependency's latency.
//!
//! The call path is lock-free: a compare-and-swap to take a place, a clock
//! read at each end, one atomic add for the sample (count and latency sum
//! share a word, so a window is read whole). The call that completes a
//! window updates the limit under a lock it only *tries*: no call ever
//! waits for it.
//!
//! It is also a [`Limiter`](crate::limit::Limiter): a pipeline can hold it
//! in the bulkhead's place (`.limiter(adaptive)`).
//!
//! # Metrics
//!
//! [`AdaptiveLimit::metrics`] reads the limit, the calls in flight and the
//! counts. With the `metrics` feature, labelled `adaptive` = its name, the
//! gauges `palisade_adaptive_limit` and `palisade_adaptive_in_flight` and
//! the counters `palisade_adaptive_drops_total` and
//! `palisade_adaptive_rejected_total` are published when a window closes
//! and when `metrics()` is read (the call path touches no handle). With
//! `tracing`, each move of the limit is a `debug` event.
//!
//! # Examples
//!
//! ```
//! use palisade::adaptive::AdaptiveLimit;
//!
//! let limit = AdaptiveLimit::builder().name("inventory").initial_limit(2).build()?;
//! let first = limit.try_acquire()?;
//! let _second = limit.try_acquire()?;
//! let full = limit.try_acquire().unwrap_err();
//! assert_eq!(full.to_string(), "full at its current limit of 2 concurrent calls");
//! first.success(); // a latency sample
//! assert_eq!(limit.in_flight(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod algorithm;
mod builder;
pub mod future;
pub(crate) mod guard;
#[cfg(feature = "tower")]
mod layer;
#[cfg(feature = "metrics")]
mod metrics;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

pub use algorithm::{Aimd, Algorithm, Gradient};
pub use builder::{AdaptiveLimitBuilder, MAX_LIMIT};
pub use future::AdaptiveCall;
#[cfg(feature = "tower")]
pub use future::AdaptiveResponse;
#[cfg(feature = "tower")]
pub use layer::{AdaptiveLimitLayer, AdaptiveLimitService};

use crate::bulkhead::{BulkheadFull, Rejection};
use crate::clock::Clock;
use crate::config_error::ConfigError;
use crate::name::Name;
use algorithm::{Estimator, Window};

/// One sample in the window word: the count sits above the latency sum.
const ONE_SAMPLE: u64 = 1 << 48;
/// The latency sum's bits (microseconds).
const SUM: u64 = ONE_SAMPLE - 1;
/// The longest latency one sample adds (about 2.4 hours): 10 000 of them
/// (the largest window) still fit the sum.
const MAX_SAMPLE_MICROS: u64 = 1 << 34;

/// A concurrency limit that follows the dependency (see the [module
/// docs](self)). Cheap to clone: clones share the limit.
#[derive(Clone)]
pub struct AdaptiveLimit {
    pub(crate) inner: Arc<Inner>,
}

/// How a call ended, for the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Completed: a latency sample.
    Completed,
    /// Timed out or failed: a sample and a drop.
    Dropped,
    /// Cancelled: no sample.
    Cancelled,
}

pub(crate) struct Inner {
    pub(crate) name: Name,
    limit: AtomicU32,
    in_flight: AtomicU32,
    /// Samples in the current window: count (top 16 bits) and latency sum
    /// in microseconds (low 48).
    window: AtomicU64,
    drops: AtomicU32,
    /// The most calls in flight at once since the window began.
    peak: AtomicU32,
    window_samples: u32,
    pub(crate) clock: Arc<dyn Clock>,
    estimator: Mutex<Estimator>,
    rejections: AtomicU64,
    drops_total: AtomicU64,
    windows: AtomicU64,
    probing: AtomicBool,
    #[cfg(feature = "metrics")]
    pub(crate) instruments: metrics::Instruments,
}

impl Inner {
    /// Takes a place if fewer calls than the limit are in flight: the
    /// clock reading the call's latency counts from.
    #[inline]
    pub(crate) fn admit(&self) -> Result<u64, BulkheadFull> {
        let limit = self.limit.load(Ordering::Relaxed);
        let mut current = self.in_flight.load(Ordering::Relaxed);
        loop {
            if current >= limit {
                return Err(self.rejected(limit));
            }
            match self.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        if current + 1 > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(current + 1, Ordering::Relaxed);
        }
        Ok(self.clock.now_nanos())
    }

    #[cold]
    fn rejected(&self, limit: u32) -> BulkheadFull {
        self.rejections.fetch_add(1, Ordering::Relaxed);
        BulkheadFull::new(
            self.name.clone(),
            limit,
            Rejection::AdaptiveLimit,
            Duration::ZERO,
        )
    }

    /// Whether a call asking now would get a place (nothing taken).
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) < self.limit.load(Ordering::Relaxed)
    }

    /// The call that got its place at `started` ended.
    #[inline]
    pub(crate) fn complete(&self, started: u64, ended: Ended) {
        self.in_flight.fetch_sub(1, Ordering::Release);
        if ended == Ended::Cancelled {
            return;
        }
        let micros = (self.clock.now_nanos().saturating_sub(started) / 1000).min(MAX_SAMPLE_MICROS);
        if ended == Ended::Dropped {
            self.drops.fetch_add(1, Ordering::Relaxed);
            self.drops_total.fetch_add(1, Ordering::Relaxed);
        }
        let before = self
            .window
            .fetch_add(ONE_SAMPLE | micros, Ordering::Relaxed);
        if (before >> 48) + 1 >= u64::from(self.window_samples) {
            self.close_window();
        }
    }

    /// Moves the limit after a full window, unless another call is doing
    /// it: then that call takes these samples too.
    #[cold]
    fn close_window(&self) {
        let Some(mut estimator) = self.estimator.try_lock() else {
            return;
        };
        let taken = self.window.swap(0, Ordering::Relaxed);
        let count = taken >> 48;
        if count < u64::from(self.window_samples) {
            // Closed meanwhile by a call that saw the same window: these
            // samples start the next one.
            self.window.fetch_add(taken, Ordering::Relaxed);
            return;
        }
        let window = Window {
            mean_micros: (taken & SUM) as f64 / count as f64,
            drops: self.drops.swap(0, Ordering::Relaxed),
            peak: self
                .peak
                .swap(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed),
        };
        let limit = estimator.update(window);
        self.limit.store(limit, Ordering::Relaxed);
        self.probing.store(estimator.probing(), Ordering::Relaxed);
        self.windows.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.instruments.publish(&self.snapshot());
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "palisade::adaptive",
            name = self.name.as_str(),
            limit,
            mean_micros = window.mean_micros,
            drops = window.drops,
            "adaptive limit moved"
        );
    }
}

impl Inner {
    fn snapshot(&self) -> AdaptiveMetrics {
        AdaptiveMetrics {
            limit: self.limit.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            drops: self.drops_total.load(Ordering::Relaxed),
            rejections: self.rejections.load(Ordering::Relaxed),
            windows: self.windows.load(Ordering::Relaxed),
            probing: self.probing.load(Ordering::Relaxed),
        }
    }
}

/// What an [`AdaptiveLimit`] is doing now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdaptiveMetrics {
    /// The current limit.
    pub limit: u32,
    /// Calls holding a place now.
    pub in_flight: u32,
    /// Calls dropped (timed out or failed) since the limit was built.
    pub drops: u64,
    /// Calls rejected at the limit since it was built.
    pub rejections: u64,
    /// Windows completed (times the limit was recomputed).
    pub windows: u64,
    /// The limit is halved for a while to measure the dependency's
    /// no-load latency (see [`Gradient`]).
    pub probing: bool,
}

impl AdaptiveLimit {
    /// A builder with the defaults.
    pub fn builder() -> AdaptiveLimitBuilder {
        AdaptiveLimitBuilder::default()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        self.inner.limit.load(Ordering::Relaxed)
    }

    /// Calls holding a place now.
    pub fn in_flight(&self) -> u32 {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// The current limit, calls in flight and the counts since it was
    /// built (with feature `metrics`, also published to the recorder: see
    /// the module docs).
    pub fn metrics(&self) -> AdaptiveMetrics {
        let snapshot = self.inner.snapshot();
        #[cfg(feature = "metrics")]
        self.inner.instruments.publish(&snapshot);
        snapshot
    }

    /// The floor and the ceiling of the limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::adaptive::AdaptiveLimit;
    ///
    /// let limit = AdaptiveLimit::builder().min_limit(2).max_limit(64).build()?;
    /// assert_eq!(limit.bounds(), (2, 64));
    /// limit.set_bounds(4, 32)?;
    /// assert_eq!(limit.bounds(), (4, 32));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn bounds(&self) -> (u32, u32) {
        self.inner.estimator.lock().bounds()
    }

    /// Live reconfiguration: a new floor and ceiling; the limit is brought
    /// within them at once.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `min_limit` (0) or `max_limit` (below
    /// `min_limit`, above [`MAX_LIMIT`]); the limit is unchanged.
    pub fn set_bounds(&self, min: u32, max: u32) -> Result<(), ConfigError> {
        if min == 0 {
            return Err(ConfigError::new("min_limit", min, "must be at least 1"));
        }
        if max < min || max > MAX_LIMIT {
            return Err(ConfigError::new(
                "max_limit",
                max,
                "must be in [min_limit, 2^20]",
            ));
        }
        let limit = self.inner.estimator.lock().set_bounds(min, max);
        self.inner.limit.store(limit, Ordering::Relaxed);
        Ok(())
    }

    /// A place for one call, if fewer calls than the limit are in flight;
    /// say how the call went on the permit.
    ///
    /// # Errors
    ///
    /// [`BulkheadFull`] with the current limit when it is reached.
    pub fn try_acquire(&self) -> Result<AdaptivePermit<'_>, BulkheadFull> {
        guard::Place::admit(&*self.inner).map(AdaptivePermit)
    }

    /// Runs `make()`'s future in a place: `Ok` is a latency sample, `Err`
    /// a drop, a panic in its poll a drop; dropped before it completes, a
    /// cancelled call (no sample).
    ///
    /// # Errors
    ///
    /// [`Error::BulkheadFull`](crate::Error::BulkheadFull) at the limit (`make` is not called), or
    /// [`Error::Operation`](crate::Error::Operation) with the operation's error.
    pub fn call<F, Fut, T, E>(&self, make: F) -> AdaptiveCall<'_, F, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        AdaptiveCall::new(&self.inner, make)
    }
}

impl std::fmt::Debug for AdaptiveLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveLimit")
            .field("name", &self.name())
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// A place under an [`AdaptiveLimit`], from
/// [`try_acquire`](AdaptiveLimit::try_acquire): say how the call went with
/// [`success`](Self::success) or [`dropped`](Self::dropped); dropping it
/// unsaid is a cancelled call (no sample).
#[must_use = "dropping the permit unsaid is a cancelled call"]
pub struct AdaptivePermit<'a>(guard::Place<&'a Inner>);

impl AdaptivePermit<'_> {
    /// The call completed: its latency is a sample.
    pub fn success(mut self) {
        self.0.end(Ended::Completed);
    }

    /// The call timed out or failed: a sample and a drop.
    pub fn dropped(mut self) {
        self.0.end(Ended::Dropped);
    }
}

impl std::fmt::Debug for AdaptivePermit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("limit", &self.0.name())
            .finish_non_exhaustive()
    }
}
