//! The circuit breaker's builder.

use std::sync::Arc;
use std::time::Duration;

use super::classify::DefaultClassifier;
use super::config::{Abandoned, HalfOpenRamp, OpenBackoff, Settings, WindowKind};
use super::state::Inner;
use super::{CircuitBreaker, State};
use crate::clock::{Clock, DefaultClock};
use crate::config_error::ConfigError;
use crate::name::Name;

/// Builds a [`CircuitBreaker`]; every setter is infallible and `build()`
/// checks everything at once.
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
/// use std::time::Duration;
///
/// let breaker = CircuitBreaker::builder()
///     .name("inventory")
///     .failure_rate_threshold(0.25)
///     .count_window(50)
///     .minimum_calls(10)
///     .open_duration(Duration::from_secs(10))
///     .build()?;
/// assert_eq!(breaker.name(), "inventory");
///
/// let err = CircuitBreaker::builder().failure_rate_threshold(1.5).build().unwrap_err();
/// assert_eq!(err.field(), "failure_rate_threshold");
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[must_use]
pub struct CircuitBreakerBuilder<C = DefaultClassifier> {
    name: std::borrow::Cow<'static, str>,
    settings: Settings,
    window: WindowKind,
    initial_state: State,
    classifier: C,
    clock: Arc<dyn Clock>,
    seed: u64,
}

impl<C> std::fmt::Debug for CircuitBreakerBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Default for CircuitBreakerBuilder {
    fn default() -> Self {
        Self {
            name: std::borrow::Cow::Borrowed("default"),
            settings: Settings::default(),
            window: WindowKind::Count { size: 100 },
            initial_state: State::Closed,
            classifier: DefaultClassifier,
            clock: Arc::new(DefaultClock::new()),
            seed: crate::random::seed(),
        }
    }
}

impl<C> CircuitBreakerBuilder<C> {
    /// The name used in errors, events and metrics. Default `"default"`.
    ///
    /// A `&'static str` (`"inventory"`) is kept as is and costs nothing
    /// to carry in a rejection; a `String` made at run time (per host, per
    /// tenant: `host.to_owned()`) is reference counted and freed with the
    /// last instance and error that use it.
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Trip when the failure rate reaches this fraction, in `(0, 1]`.
    /// Default `0.5` (Hystrix and resilience4j).
    pub fn failure_rate_threshold(mut self, rate: f64) -> Self {
        self.settings.failure_rate_threshold = rate;
        self
    }

    /// Trip when the rate of slow calls reaches this fraction, in `(0, 1]`.
    /// Default `1.0` (resilience4j); only used with a slow-call duration.
    pub fn slow_call_rate_threshold(mut self, rate: f64) -> Self {
        self.settings.slow_call_rate_threshold = rate;
        self
    }

    /// A call taking strictly longer than this is slow, as measured by the
    /// breaker's clock (to its resolution). Default: none (slow-call
    /// detection off, and the closed path reads no clock for a count
    /// window).
    pub fn slow_call_duration(mut self, duration: Duration) -> Self {
        self.settings.slow_call_duration = Some(duration);
        self
    }

    /// Calls the window must hold before rates mean anything. Default `20`
    /// (Hystrix): fewer than resilience4j's 100, so a low-traffic dependency
    /// is still judged, enough that 10 early failures are not a verdict.
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.settings.minimum_calls = calls;
        self
    }

    /// Judge the last `size` calls. This is the default, with `100`
    /// (resilience4j).
    pub fn count_window(mut self, size: u32) -> Self {
        self.window = WindowKind::Count { size };
        self
    }

    /// Judge the calls of the last `duration`, sliding by `buckets` buckets
    /// (Hystrix: 10 s in 10 buckets). Reads the clock once per call.
    pub fn time_window(mut self, duration: Duration, buckets: u32) -> Self {
        self.window = WindowKind::Time { duration, buckets };
        self
    }

    /// Judge the last `size` calls, none older than `duration`.
    pub fn hybrid_window(mut self, size: u32, duration: Duration, buckets: u32) -> Self {
        self.window = WindowKind::Hybrid {
            size,
            duration,
            buckets,
        };
        self
    }

    /// How long the breaker stays open before letting trial calls through.
    /// Default 5 s (Hystrix, Polly).
    pub fn open_duration(mut self, duration: Duration) -> Self {
        self.settings.open_duration = duration;
        self
    }

    /// Grow the open duration after each failed half-open trial, for
    /// example `OpenBackoff::exponential(2.0).max_duration(..).jitter(0.2)`.
    /// Default: none (fixed open duration).
    pub fn open_backoff(mut self, backoff: OpenBackoff) -> Self {
        self.settings.open_backoff = Some(backoff);
        self
    }

    /// Trial calls running at once in half-open, at most. Default `1`: a
    /// recovering dependency sees one call at a time.
    pub fn half_open_max_concurrent(mut self, probes: u32) -> Self {
        self.settings.half_open_max_concurrent = probes;
        self
    }

    /// Trial calls judged, as a fresh window, before half-open decides.
    /// Default `3`: one flaky probe does not reopen the breaker (Polly #2381);
    /// with the 50 % threshold, 2 failures of 3 reopen it.
    pub fn half_open_trial_calls(mut self, calls: u32) -> Self {
        self.settings.half_open_trial_calls = calls;
        self
    }

    /// Longest time in half-open without a verdict; then it reopens.
    /// Default 30 s.
    pub fn half_open_max_wait(mut self, wait: Duration) -> Self {
        self.settings.half_open_max_wait = wait;
        self
    }

    /// Half-open ramps the share of calls it lets through in stages, each
    /// judged on its own window, instead of running trial calls: see
    /// [`HalfOpenRamp`] for the rules. Default: trial calls.
    pub fn half_open_ramp(mut self, ramp: HalfOpenRamp) -> Self {
        self.settings.half_open_ramp = Some(ramp);
        self
    }

    /// What an abandoned call (dropped before it ended) counts as: see
    /// [`Abandoned`]. Default [`Abandoned::Ignore`]: not recorded, a
    /// half-open place given back. A hedge's losers never count.
    pub fn abandoned(mut self, policy: Abandoned) -> Self {
        self.settings.abandoned = policy;
        self
    }

    /// The state the breaker starts in. Default [`State::Closed`].
    pub fn initial_state(mut self, state: State) -> Self {
        self.initial_state = state;
        self
    }

    /// The clock. Default [`DefaultClock`]: about 4 ns a read with a few
    /// milliseconds of resolution on Linux (see [`crate::clock`]); pass
    /// [`MonotonicClock`](crate::clock::MonotonicClock) to time slow calls
    /// to the nanosecond, a [`CachedClock`](crate::clock::CachedClock)
    /// (one load a read, a thread of its own) where slow-call timing or a
    /// time window is on a hot path, or a
    /// [`ManualClock`](crate::clock::ManualClock) in tests.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Seed of the open-duration jitter, for reproducible tests. Default: a
    /// random seed per breaker, so replicas do not back off in lockstep.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// All runtime-tunable settings at once.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Decides which results are successes, failures or ignored. Default:
    /// [`DefaultClassifier`], every `Err` is a failure.
    pub fn classifier<D>(self, classifier: D) -> CircuitBreakerBuilder<D> {
        CircuitBreakerBuilder {
            name: self.name,
            settings: self.settings,
            window: self.window,
            initial_state: self.initial_state,
            classifier,
            clock: self.clock,
            seed: self.seed,
        }
    }

    /// Checks every setting and builds the breaker.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad field and its value.
    pub fn build(self) -> Result<CircuitBreaker<C>, ConfigError> {
        let window = self.window.build()?;
        let validated = self.settings.validate(window.max_calls())?;
        let inner = Inner::new(
            Name::new(self.name.clone()),
            self.window,
            window,
            validated,
            self.initial_state,
            self.clock,
            self.seed,
        );
        Ok(CircuitBreaker::from_parts(inner, self.classifier))
    }
}
