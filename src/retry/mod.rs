//! Retry: run an operation again when it fails, after a backoff, within a
//! number of attempts, a maximum elapsed time and a shared budget.
//!
//! - `max_attempts(n)` counts the first call: 3 is one call and two
//!   retries. A maximum elapsed time, if set, also stops the retries: a
//!   retry whose delay would end past it is not made.
//! - Delays come from a [`Backoff`] (constant, linear or exponential with a
//!   cap, exact and saturating) with optional [`Jitter`], drawn from a
//!   random source seeded at random per instance, or seeded by you
//!   ([`RetryBuilder::seed`]) for reproducible delays.
//! - A [`RetryPolicy`] decides which outcomes are retried: by default every
//!   `Err` except a circuit breaker's or bulkhead's rejection; any closure
//!   over the `Result` (an HTTP 503 is an `Ok`). It may return a delay hint
//!   (`Retry-After`), which replaces the backoff's delay, capped by
//!   `max_hint`.
//! - A [`RetryBudget`] shared by many retries caps the extra load retries
//!   add under a long run of failures.
//! - When attempts, time or budget run out, the caller gets the last
//!   attempt's own result, unwrapped; [`RetryCall::counted`] also gives the
//!   number of attempts.
//!
//! When the first attempt succeeds, a retry allocates nothing and reads no
//! clock (unless a maximum elapsed time or a ratio budget is set).
//!
//! # Examples
//!
//! ```
//! use palisade::retry::{Backoff, Retry};
//! use palisade::timer::ManualTimer;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//!
//! let timer = ManualTimer::new();
//! let retry = Retry::builder()
//!     .max_attempts(3)
//!     .backoff(Backoff::constant(Duration::ZERO))
//!     .timer(timer)
//!     .build()?;
//! let calls = AtomicU32::new(0);
//! let (result, attempts) = futures::executor::block_on(
//!     retry
//!         .call(|| async {
//!             match calls.fetch_add(1, Ordering::Relaxed) {
//!                 0 | 1 => Err(std::io::Error::other("flaky")),
//!                 _ => Ok("third time lucky"),
//!             }
//!         })
//!         .counted(),
//! );
//! assert_eq!((result.unwrap(), attempts), ("third time lucky", 3));
//! # Ok::<(), palisade::ConfigError>(())
//! ```

mod backoff;
mod budget;
pub mod future;
pub(crate) mod guard;
pub mod hint;
#[cfg(feature = "tower")]
mod layer;
mod policy;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use backoff::{Backoff, Jitter};
pub use budget::RetryBudget;
#[cfg(feature = "tower")]
pub use future::RetryResponse;
pub use future::{Counted, RetryCall};
#[cfg(feature = "tower")]
pub use layer::{RetryLayer, RetryService};
pub use policy::{Decision, Rejectable, RetryErrors, RetryPolicy};

use crate::clock::Clock;
use crate::config_error::ConfigError;
use crate::limits::MAX_DURATION;
use crate::listeners::Listeners;
use crate::name::Name;
use crate::timer::{default_timer, DynTimer, Timer};
use backoff::Random;

/// Something that happened in a retry.
pub type RetryEvent<'a> = crate::event::GuardEvent<'a, RetryEventKind>;

pub(crate) type RetryEventListener = crate::event::Listener<RetryEventKind>;

/// What happened in a retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryEventKind {
    /// Attempt `attempt` (the first is 1) is retried after `delay`;
    /// `hinted`: the delay came from the outcome (`Retry-After`).
    Retry {
        /// The attempt that is retried.
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// The delay was the outcome's hint, not the backoff's.
        hinted: bool,
    },
    /// The outcome of attempt `attempts` was to be retried but is returned:
    /// the reason says why.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// What ran out.
        reason: GaveUp,
    },
}

/// What stopped the retries of an outcome the policy wanted retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GaveUp {
    /// `max_attempts` were made.
    Attempts,
    /// The next retry would end past the maximum elapsed time.
    Elapsed,
    /// The retry budget had no retry left.
    Budget,
    /// The next retry would end at or past the total timeout around the
    /// retries (a [`Pipeline`](crate::pipeline::Pipeline)'s): the last
    /// outcome is returned at once instead of waiting into the timeout.
    Deadline,
}

/// What a retry's clones share.
pub(crate) struct Shared {
    name: Name,
    max_attempts: u32,
    max_elapsed: Option<Duration>,
    backoff: Backoff,
    max_hint: Duration,
    budget: Option<RetryBudget>,
    /// A budget or a maximum elapsed time: the first attempt has work to do.
    needs_start: bool,
    timer: Arc<dyn DynTimer>,
    clock: Arc<dyn Clock>,
    random: Random,
    listeners: Listeners<RetryEventListener>,
    #[cfg(feature = "metrics")]
    metrics: RetryMetrics,
}

impl Shared {
    fn emit(&self, kind: RetryEventKind) {
        #[cfg(feature = "metrics")]
        self.metrics.observe(kind);
        #[cfg(feature = "tracing")]
        match kind {
            RetryEventKind::Retry {
                attempt,
                delay,
                hinted,
            } => tracing::debug!(
                target: "palisade", retry = self.name.as_str(), attempt, ?delay, hinted, "retrying"
            ),
            RetryEventKind::GaveUp { attempts, reason } => tracing::debug!(
                target: "palisade", retry = self.name.as_str(), attempts, ?reason, "gave up retrying"
            ),
        }
        self.listeners.emit(|listener| {
            listener(&RetryEvent {
                name: self.name.as_str(),
                kind,
            })
        });
    }
}

#[cfg(feature = "metrics")]
struct RetryMetrics {
    retries: metrics::Counter,
    gave_up: [metrics::Counter; 4],
}

#[cfg(feature = "metrics")]
impl RetryMetrics {
    fn new(name: &str) -> Self {
        use metrics::{counter, describe_counter, Unit};
        describe_counter!(
            "palisade_retry_retries_total",
            Unit::Count,
            "Attempts a retry made again."
        );
        describe_counter!(
            "palisade_retry_gave_up_total",
            Unit::Count,
            "Outcomes returned although the policy wanted them retried, by what ran out."
        );
        let r = name.to_string();
        Self {
            retries: counter!("palisade_retry_retries_total", "retry" => r.clone()),
            gave_up: ["attempts", "elapsed", "budget", "deadline"].map(|reason| {
                counter!("palisade_retry_gave_up_total", "retry" => r.clone(), "reason" => reason)
            }),
        }
    }

    fn observe(&self, kind: RetryEventKind) {
        match kind {
            RetryEventKind::Retry { .. } => self.retries.increment(1),
            RetryEventKind::GaveUp { reason, .. } => self.gave_up[match reason {
                GaveUp::Attempts => 0,
                GaveUp::Elapsed => 1,
                GaveUp::Budget => 2,
                GaveUp::Deadline => 3,
            }]
            .increment(1),
        }
    }
}

/// A retry: attempts, backoff, budget and the policy `P` that decides what
/// is retried. Cheap to clone; clones share the budget and the random
/// source.
///
/// See the [module docs](self).
pub struct Retry<P = RetryErrors> {
    shared: Arc<Shared>,
    policy: P,
}

impl<P: Clone> Clone for Retry<P> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            policy: self.policy.clone(),
        }
    }
}

impl<P> std::fmt::Debug for Retry<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retry")
            .field("name", &self.shared.name)
            .field("max_attempts", &self.shared.max_attempts)
            .field("max_elapsed", &self.shared.max_elapsed)
            .field("backoff", &self.shared.backoff)
            .finish_non_exhaustive()
    }
}

impl Retry {
    /// A builder with the defaults written on each setter.
    pub fn builder() -> RetryBuilder {
        RetryBuilder::default()
    }
}

impl<P> Retry<P> {
    /// The retry's name.
    pub fn name(&self) -> &str {
        self.shared.name.as_str()
    }

    /// Runs the future `make()` returns, and again (a new future from
    /// `make`) after a backoff while the policy says so and attempts, time
    /// and budget allow. Resolves to the last attempt's result.
    #[inline]
    pub fn call<F, Fut, T, E>(&self, make: F) -> RetryCall<'_, P, F, Fut>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        P: RetryPolicy<T, E>,
    {
        RetryCall::new(&self.shared, &self.policy, make)
    }

    /// The shared state and the policy, for guards that compose the retry
    /// (the pipeline).
    pub(crate) fn parts(&self) -> (&Shared, &P) {
        (&self.shared, &self.policy)
    }

    /// Calls `listener` on every retry and every give-up.
    pub fn on_event(&self, listener: impl Fn(&RetryEvent<'_>) + Send + Sync + 'static) {
        self.shared.listeners.add(Box::new(listener));
    }

    /// Calls `hook(attempt, delay)` before every retry: attempt `attempt`
    /// (the first is 1) failed and the next starts after `delay` (a typed
    /// view of [`on_event`](Self::on_event)).
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::retry::{Backoff, Retry};
    /// use palisade::timer::ManualTimer;
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    ///
    /// let retry = Retry::builder()
    ///     .max_attempts(2)
    ///     .backoff(Backoff::constant(Duration::ZERO))
    ///     .timer(ManualTimer::new())
    ///     .build()?;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&seen);
    /// retry.on_retry(move |attempt, _delay| sink.lock().unwrap().push(attempt));
    /// let _ = futures::executor::block_on(retry.call(|| async { Err::<(), _>(std::io::Error::other("x")) }));
    /// assert_eq!(*seen.lock().unwrap(), vec![1]);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn on_retry(&self, hook: impl Fn(u32, Duration) + Send + Sync + 'static) {
        self.on_event(move |e| {
            if let RetryEventKind::Retry { attempt, delay, .. } = e.kind {
                hook(attempt, delay);
            }
        });
    }

    /// Calls `hook(attempts, reason)` when an outcome the policy wanted
    /// retried is returned because attempts, time or budget ran out.
    pub fn on_gave_up(&self, hook: impl Fn(u32, GaveUp) + Send + Sync + 'static) {
        self.on_event(move |e| {
            if let RetryEventKind::GaveUp { attempts, reason } = e.kind {
                hook(attempts, reason);
            }
        });
    }
}

/// Builds a [`Retry`]; every setter says its default. Checked in
/// [`build`](Self::build).
#[must_use]
pub struct RetryBuilder<P = RetryErrors> {
    name: std::borrow::Cow<'static, str>,
    max_attempts: u32,
    max_elapsed: Option<Duration>,
    backoff: Backoff,
    max_hint: Duration,
    budget: Option<RetryBudget>,
    timer: Option<Arc<dyn DynTimer>>,
    clock: Option<Arc<dyn Clock>>,
    seed: Option<u64>,
    source: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
    policy: P,
}

impl<P> std::fmt::Debug for RetryBuilder<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryBuilder")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .field("max_elapsed", &self.max_elapsed)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl Default for RetryBuilder {
    fn default() -> Self {
        Self {
            name: std::borrow::Cow::Borrowed("retry"),
            max_attempts: 3,
            max_elapsed: None,
            backoff: Backoff::default(),
            max_hint: Duration::from_secs(60),
            budget: None,
            timer: default_timer(),
            clock: None,
            seed: None,
            source: None,
            policy: RetryErrors::default(),
        }
    }
}

/// The most attempts a retry may make.
pub const MAX_ATTEMPTS: u32 = 1000;

impl<P> RetryBuilder<P> {
    /// The name used in events and metrics. Default `"retry"`.
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Attempts in all, the first call included, in `1..=MAX_ATTEMPTS`.
    /// Default 3 (resilience4j and Polly): one call and two retries.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Stop retrying once a retry's delay would end more than `max` after
    /// the first attempt started. Default: no limit (attempts only).
    pub fn max_elapsed(mut self, max: Duration) -> Self {
        self.max_elapsed = Some(max);
        self
    }

    /// The delays between attempts. Default: exponential from 500 ms, × 1.5,
    /// capped at 30 s, full jitter.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The longest delay a hint from the outcome (`Retry-After`) may ask
    /// for. Default 60 s.
    pub fn max_hint(mut self, max: Duration) -> Self {
        self.max_hint = max;
        self
    }

    /// A budget shared with other retries. Default: none.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The timer that waits between attempts. Default: tokio's with the
    /// `tokio` feature; without it, required.
    pub fn timer(mut self, timer: impl Timer) -> Self {
        self.timer = Some(Arc::new(timer));
        self
    }

    /// The clock for the maximum elapsed time (and a pipeline's total
    /// deadline). Default: the timer's own clock (tokio's time for the
    /// default timer, a `ManualTimer`'s time for one), else the crate's
    /// `DefaultClock`.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Seeds the jitter, for delays that repeat from run to run. Default: a
    /// random seed per retry.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Draws jitter from `source` (uniform `u64`s) instead of the built-in
    /// generator.
    pub fn random_source(mut self, source: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Decides which outcomes are retried. Default [`RetryErrors`].
    pub fn policy<Q>(self, policy: Q) -> RetryBuilder<Q> {
        RetryBuilder {
            name: self.name,
            max_attempts: self.max_attempts,
            max_elapsed: self.max_elapsed,
            backoff: self.backoff,
            max_hint: self.max_hint,
            budget: self.budget,
            timer: self.timer,
            clock: self.clock,
            seed: self.seed,
            source: self.source,
            policy,
        }
    }

    /// Checks every setting and builds the retry.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad field and its value.
    pub fn build(self) -> Result<Retry<P>, ConfigError> {
        if self.max_attempts == 0 || self.max_attempts > MAX_ATTEMPTS {
            return Err(ConfigError::new(
                "max_attempts",
                self.max_attempts,
                "must be at least 1 and at most MAX_ATTEMPTS (1000)",
            ));
        }
        crate::limits::check_duration("max_elapsed", self.max_elapsed)?;
        crate::limits::check_duration("max_hint", Some(self.max_hint))?;
        self.backoff.validate()?;
        let timer = match self.timer {
            Some(timer) => timer,
            None if self.max_attempts == 1 => Arc::new(NoTimer) as Arc<dyn DynTimer>,
            None => {
                return Err(ConfigError::new(
                    "timer",
                    "none",
                    "a retry needs a timer for its delays: enable the `tokio` feature or set `.timer(...)`",
                ))
            }
        };
        let random = match self.source {
            Some(source) => Random::Source(source),
            None => Random::seeded(self.seed.unwrap_or_else(crate::random::seed)),
        };
        let clock = crate::timer::clock_for(self.clock, Some(&*timer));
        let name = Name::new(self.name.clone());
        Ok(Retry {
            shared: Arc::new(Shared {
                name,
                max_attempts: self.max_attempts,
                max_elapsed: self.max_elapsed,
                backoff: self.backoff,
                max_hint: self.max_hint.min(MAX_DURATION),
                needs_start: self.budget.is_some() || self.max_elapsed.is_some(),
                budget: self.budget,
                timer,
                clock,
                random,
                listeners: Listeners::new(),
                #[cfg(feature = "metrics")]
                metrics: RetryMetrics::new(&self.name),
            }),
            policy: self.policy,
        })
    }
}

/// The timer of a retry that never waits (one attempt).
struct NoTimer;

impl DynTimer for NoTimer {
    fn sleep_boxed(&self, _: Duration) -> crate::timer::BoxSleep {
        Box::pin(std::future::ready(()))
    }

    fn clock(&self) -> Option<Arc<dyn Clock>> {
        None
    }
}
