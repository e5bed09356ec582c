//! Chaos injection: faults and latency injected into calls on purpose,
//! with a probability, to rehearse failures (Polly's Simmy, seatbelt's
//! chaos).
//!
//! A [`Chaos`] injects, for each call it is asked about:
//! - a **fault**, with probability [`fault_rate`](ChaosBuilder::fault): the
//!   operation is not run and the call returns what the fault makes (an
//!   error, or a chosen outcome such as an `Ok(503)` response);
//! - else **latency**, with probability
//!   [`latency_rate`](ChaosBuilder::latency): the operation runs after a
//!   wait on the chaos's timer.
//!
//! It is **off** until [`enable`](Chaos::enable)d (a switch at run time,
//! shared by clones), and then costs one relaxed load per call. The dice
//! are a seeded generator ([`seed`](ChaosBuilder::seed)): a test sees the
//! same faults in the same order every run. Per call, only the calls a
//! predicate picks are touched ([`call_if`](Chaos::call_if), and
//! [`ChaosLayer::when`] for a tower stack).
//!
//! A wrapper ([`call`](Chaos::call)), a tower layer ([`ChaosLayer`]), and,
//! inside a [`Pipeline`](crate::pipeline::Pipeline), the attempt itself:
//! `pipeline.call(|| chaos.call(|| op()))` injects into each attempt, so the
//! breaker, the retry and the timeouts meet the faults as they would meet
//! real ones.
//!
//! # Examples
//!
//! ```
//! use palisade::chaos::Chaos;
//! use palisade::timer::ManualTimer;
//!
//! // Every call fails, once switched on.
//! let chaos = Chaos::builder()
//!     .fault(1.0, || Err(std::io::Error::other("injected")))
//!     .seed(7)
//!     .timer(ManualTimer::new())
//!     .build()?;
//! let call = || futures::executor::block_on(chaos.call(|| async { Ok::<_, std::io::Error>(1) }));
//! assert_eq!(call().unwrap(), 1); // off: untouched
//! chaos.enable(true);
//! assert_eq!(call().unwrap_err().to_string(), "injected");
//! # Ok::<(), palisade::ConfigError>(())
//! ```

mod builder;
pub mod future;
#[cfg(feature = "tower")]
mod layer;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use builder::{ChaosBuilder, Fault, NoFault};
pub use future::ChaosCall;
#[cfg(feature = "tower")]
pub use future::ChaosResponse;
#[cfg(feature = "tower")]
pub use layer::{AllRequests, ChaosLayer, ChaosService, Picks};

use crate::name::Name;
use crate::timer::DynTimer;

/// Faults and latency injected on purpose (see the [module docs](self)).
/// Cheap to clone: clones share the switch, the dice and the counts.
pub struct Chaos<F = NoFault> {
    pub(crate) inner: Arc<Inner<F>>,
}

impl<F> Clone for Chaos<F> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

pub(crate) struct Inner<F> {
    name: Name,
    enabled: AtomicBool,
    /// Probabilities as thresholds on a `u64` draw: a draw below injects.
    fault_below: u64,
    latency_below: u64,
    latency: Duration,
    fault: F,
    dice: AtomicU64,
    timer: Option<Arc<dyn DynTimer>>,
    faults: AtomicU64,
    delays: AtomicU64,
}

/// What the dice said for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Roll {
    Untouched,
    Fault,
    Delay(Duration),
}

impl<F> Inner<F> {
    /// Rolls for one call (on, and asked).
    #[inline]
    pub(crate) fn roll(&self) -> Roll {
        if !self.enabled.load(Ordering::Relaxed) {
            return Roll::Untouched;
        }
        self.roll_on()
    }

    #[cold]
    fn roll_on(&self) -> Roll {
        let draw = crate::random::next_shared(&self.dice);
        if draw < self.fault_below {
            self.faults.fetch_add(1, Ordering::Relaxed);
            return Roll::Fault;
        }
        // A second, independent draw for the latency.
        let draw = crate::random::next_shared(&self.dice);
        if draw < self.latency_below && self.timer.is_some() {
            self.delays.fetch_add(1, Ordering::Relaxed);
            return Roll::Delay(self.latency);
        }
        Roll::Untouched
    }

    pub(crate) fn sleep(&self, delay: Duration) -> crate::timer::BoxSleep {
        self.timer
            .as_ref()
            .expect("a delay is rolled only with a timer")
            .sleep_boxed(delay)
    }

    pub(crate) fn fault(&self) -> &F {
        &self.fault
    }
}

/// A probability as a threshold on a uniform `u64` draw.
pub(crate) fn threshold(probability: f64) -> u64 {
    if probability >= 1.0 {
        u64::MAX
    } else {
        (probability * u64::MAX as f64) as u64
    }
}

/// How many calls a [`Chaos`] touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChaosMetrics {
    /// Calls that got a fault instead of running.
    pub faults: u64,
    /// Calls that ran after an injected delay.
    pub delays: u64,
}

impl Chaos<NoFault> {
    /// A builder: off, no fault, no latency, a random seed.
    pub fn builder() -> ChaosBuilder<NoFault> {
        ChaosBuilder::default()
    }
}

impl<F> Chaos<F> {
    /// Its name.
    pub fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// Switches injection on or off, for every clone, at once.
    pub fn enable(&self, on: bool) {
        self.inner.enabled.store(on, Ordering::Relaxed);
    }

    /// Whether it injects.
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::Relaxed)
    }

    /// The calls it touched so far.
    pub fn metrics(&self) -> ChaosMetrics {
        ChaosMetrics {
            faults: self.inner.faults.load(Ordering::Relaxed),
            delays: self.inner.delays.load(Ordering::Relaxed),
        }
    }

    /// Runs `make()`'s future, or injects: the fault's outcome instead
    /// (the operation is not made), or a delay before it.
    pub fn call<M, Fut, T, E>(&self, make: M) -> ChaosCall<'_, F, M, Fut>
    where
        M: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        F: Fault<T, E>,
    {
        ChaosCall::new(&self.inner, make, true)
    }

    /// As [`call`](Self::call), touching the call only if `picked` (a
    /// test's tenant, a share of traffic chosen by the caller).
    pub fn call_if<M, Fut, T, E>(&self, picked: bool, make: M) -> ChaosCall<'_, F, M, Fut>
    where
        M: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        F: Fault<T, E>,
    {
        ChaosCall::new(&self.inner, make, picked)
    }
}

impl<F> std::fmt::Debug for Chaos<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chaos")
            .field("name", &self.name())
            .field("enabled", &self.is_enabled())
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}
