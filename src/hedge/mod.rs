//! Hedging: when an attempt has not answered after a delay, start another
//! beside it; the first acceptable outcome wins and the others are dropped.
//!
//! A tail-latency cure for calls that are safe to repeat (reads,
//! idempotent writes): a slow replica costs one hedge delay, not its whole
//! latency. [`Hedge::call`] makes the first attempt at once and, while no
//! acceptable outcome has come, another after each delay up to
//! [`max_attempts`](HedgeBuilder::max_attempts) in all. The delay is fixed
//! ([`delay`](HedgeBuilder::delay)), a function of the attempt
//! ([`delay_per_attempt`](HedgeBuilder::delay_per_attempt)), or learned:
//! a percentile of recent latencies
//! ([`delay_percentile`](HedgeBuilder::delay_percentile)). An outcome is
//! acceptable when the hedge's [`RetryPolicy`] accepts it (by default `Ok`,
//! or an error it would not retry, such as a guard's rejection). An
//! acceptable `Ok` wins at once; an acceptable error wins only when no
//! other attempt is running (a hedge that a full bulkhead rejects does not
//! end a call whose first attempt may still answer): until then it stops
//! new hedges. An attempt that fails retryably, with no other in flight,
//! is followed by the next at once. The losers are dropped, which cancels them: their
//! bulkhead places and breaker permissions (when the operation holds
//! them) are given back, and a breaker inside a loser never counts it,
//! whatever its [`Abandoned`](crate::circuit_breaker::Abandoned) policy:
//! losing a race says nothing about the dependency. A hedged call dropped
//! from outside abandons its attempts, which the policy then judges.
//!
//! Hedges spend a [`RetryBudget`] shared with retries, as Envoy and
//! failsafe-go do: each hedge takes a retry's share while it runs; a budget
//! that is spent stops new hedges and never cancels a running one.
//!
//! As a tower layer, [`HedgeLayer`] (feature `tower`) sends clones of the
//! request; in a [`Pipeline`](crate::pipeline::Pipeline), hedging takes the
//! retry's place ([`Pipeline::call_hedged`](crate::pipeline::Pipeline::call_hedged)).
//!
//! The first attempt and the hedge timer live in the future itself; only
//! hedges are boxed, so the happy path (the first answers before the delay)
//! allocates nothing.
//!
//! # Examples
//!
//! ```
//! use palisade::hedge::Hedge;
//! use palisade::timer::ManualTimer;
//! use std::time::Duration;
//!
//! let hedge = Hedge::builder(ManualTimer::new())
//!     .delay(Duration::from_millis(50))
//!     .max_attempts(2)
//!     .build()?;
//! let answer = futures::executor::block_on(hedge.call(|| async { Ok::<_, std::io::Error>("fast") }));
//! assert_eq!(answer.unwrap(), "fast");
//! # Ok::<(), palisade::ConfigError>(())
//! ```

mod builder;
pub mod future;
pub(crate) mod latency;
#[cfg(feature = "tower")]
mod layer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use crate::attempt::Attempts;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use crate::attempt::{ServiceAttempt, ServiceAttempts};
pub use builder::HedgeBuilder;
pub use future::HedgeCall;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use layer::{HedgeLayer, HedgeResponse, HedgeService};

use crate::limits::MAX_DURATION;
use crate::name::Name;
use crate::retry::{RetryBudget, RetryErrors, RetryPolicy};
use crate::timer::Timer;

/// Hedged calls (see the [module docs](self)). Cheap to clone when its
/// timer and policy are.
#[derive(Clone)]
pub struct Hedge<Tm, P = RetryErrors> {
    name: Name,
    delay: Duration,
    learned_or_chosen: Delay,
    max_attempts: u32,
    budget: Option<RetryBudget>,
    timer: Tm,
    policy: P,
}

impl<Tm: Timer + Clone> Hedge<Tm> {
    /// A builder whose hedge delays are slept on `timer`.
    pub fn builder(timer: Tm) -> HedgeBuilder<Tm> {
        HedgeBuilder::new(timer)
    }
}

impl<Tm: Timer, P> Hedge<Tm, P> {
    /// Its name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The delay before the first hedge now: the fixed delay, the
    /// function's for attempt 2, or the learned percentile (the fixed
    /// delay until a period has taught one).
    pub fn delay(&self) -> Duration {
        self.delay_before(2)
    }

    /// The delay before attempt `attempt` (2 for the first hedge).
    pub(crate) fn delay_before(&self, attempt: u32) -> Duration {
        match &self.learned_or_chosen {
            Delay::Fixed => self.delay,
            Delay::PerAttempt(f) => f(attempt).min(MAX_DURATION),
            Delay::Learned(learned) => learned
                .delay_nanos()
                .map_or(self.delay, Duration::from_nanos),
        }
    }

    /// The learned delay's latencies, if the delay is learned.
    pub(crate) fn learned(&self) -> Option<&latency::Learned> {
        match &self.learned_or_chosen {
            Delay::Learned(learned) => Some(learned),
            _ => None,
        }
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Runs `make()`'s futures, hedged: the first acceptable outcome, or
    /// the last attempt's when none is.
    ///
    /// # Errors
    ///
    /// The operation's own error, when no attempt was acceptable.
    pub fn call<F, Fut, T, E>(&self, make: F) -> HedgeCall<&Self, Tm, P, F, Fut>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        P: RetryPolicy<T, E>,
    {
        HedgeCall::new(self, make)
    }
}

/// How a hedge's delay is found, besides the fixed delay.
#[derive(Clone)]
enum Delay {
    /// The fixed delay.
    Fixed,
    /// A function of the attempt about to start.
    PerAttempt(Arc<dyn Fn(u32) -> Duration + Send + Sync>),
    /// A percentile of recent first-attempt latencies.
    Learned(Arc<latency::Learned>),
}

impl<Tm, P> std::fmt::Debug for Hedge<Tm, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hedge")
            .field("name", &self.name)
            .field("delay", &self.delay)
            .field("max_attempts", &self.max_attempts)
            .field("budget", &self.budget.is_some())
            .finish_non_exhaustive()
    }
}
