//! Circuit breaker configuration: the builder, the runtime-tunable
//! [`Settings`], and their validation.

use std::sync::Arc;
use std::time::Duration;

use super::classify::DefaultClassifier;
use super::state::{Inner, Window};
use super::{CircuitBreaker, State};
use crate::clock::{duration_nanos, Clock, DefaultClock};
use crate::error::ConfigError;
use crate::window::{CountWindow, HybridWindow, Threshold, TimeWindow};

/// The largest number of half-open trial calls.
pub const MAX_TRIAL_CALLS: u32 = 4096;

/// Which calls the breaker judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WindowKind {
    /// The last `size` calls.
    Count {
        /// Calls in the window.
        size: u32,
    },
    /// The calls of the last `duration`, in `buckets` buckets.
    Time {
        /// How far back the window reaches.
        duration: Duration,
        /// Buckets the window slides by.
        buckets: u32,
    },
    /// The last `size` calls, none older than `duration`.
    Hybrid {
        /// Calls in the window at most.
        size: u32,
        /// How far back the window reaches at most.
        duration: Duration,
        /// Buckets the time part slides by.
        buckets: u32,
    },
}

impl WindowKind {
    fn build(self) -> Result<Window, ConfigError> {
        Ok(match self {
            Self::Count { size } => Window::Count(CountWindow::new(size)?),
            Self::Time { duration, buckets } => Window::Time(TimeWindow::new(duration, buckets)?),
            Self::Hybrid {
                size,
                duration,
                buckets,
            } => Window::Hybrid(HybridWindow::new(size, duration, buckets)?),
        })
    }

    fn max_calls(self) -> u32 {
        match self {
            Self::Count { size } | Self::Hybrid { size, .. } => size,
            Self::Time { .. } => u32::MAX,
        }
    }
}

/// How the open duration grows after each failed half-open trial.
///
/// Open duration after `k` consecutive failed trials:
/// `min(open_duration * multiplier^k, max)`, then, with jitter `j`, drawn
/// uniformly from `[d * (1 - j), d]` (downwards, so it never exceeds `max`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct OpenBackoff {
    /// Growth factor per failed trial, at least 1.
    pub multiplier: f64,
    /// The longest open duration.
    pub max: Duration,
    /// Fraction in `[0, 1]` of the duration that is randomised.
    pub jitter: f64,
}

/// The settings that can change while the breaker runs
/// ([`CircuitBreaker::reconfigure`]) without losing its window.
///
/// The defaults are written on each builder setter. Start from
/// [`CircuitBreaker::settings`] or `Settings::default()` and change fields;
/// more fields may come, so it cannot be built field by field.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Settings {
    /// See [`CircuitBreakerBuilder::failure_rate_threshold`].
    pub failure_rate_threshold: f64,
    /// See [`CircuitBreakerBuilder::slow_call_rate_threshold`].
    pub slow_call_rate_threshold: f64,
    /// See [`CircuitBreakerBuilder::slow_call_duration`].
    pub slow_call_duration: Option<Duration>,
    /// See [`CircuitBreakerBuilder::minimum_calls`].
    pub minimum_calls: u32,
    /// See [`CircuitBreakerBuilder::open_duration`].
    pub open_duration: Duration,
    /// See [`CircuitBreakerBuilder::open_backoff`].
    pub open_backoff: Option<OpenBackoff>,
    /// See [`CircuitBreakerBuilder::half_open_max_concurrent`].
    pub half_open_max_concurrent: u32,
    /// See [`CircuitBreakerBuilder::half_open_trial_calls`].
    pub half_open_trial_calls: u32,
    /// See [`CircuitBreakerBuilder::half_open_max_wait`].
    pub half_open_max_wait: Duration,
    /// See [`CircuitBreakerBuilder::cancelled_as_failure`].
    pub cancelled_as_failure: bool,
}

impl OpenBackoff {
    /// Growth by `multiplier` per failed trial, capped at `max`, with a
    /// `jitter` fraction randomised downwards.
    ///
    /// ```
    /// use parapet::circuit_breaker::{CircuitBreaker, OpenBackoff};
    /// use std::time::Duration;
    ///
    /// let breaker = CircuitBreaker::builder().build()?;
    /// let mut settings = breaker.settings();
    /// settings.open_backoff = Some(OpenBackoff::new(2.0, Duration::from_secs(60), 0.2));
    /// breaker.reconfigure(settings)?;
    /// # Ok::<(), parapet::ConfigError>(())
    /// ```
    pub fn new(multiplier: f64, max: Duration, jitter: f64) -> Self {
        Self {
            multiplier,
            max,
            jitter,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            failure_rate_threshold: 0.5,
            slow_call_rate_threshold: 1.0,
            slow_call_duration: None,
            minimum_calls: 20,
            open_duration: Duration::from_secs(5),
            open_backoff: None,
            half_open_max_concurrent: 1,
            half_open_trial_calls: 3,
            half_open_max_wait: Duration::from_secs(30),
            cancelled_as_failure: false,
        }
    }
}

/// [`Settings`] checked and turned into the integers the breaker uses.
#[derive(Clone, Debug)]
pub(crate) struct Validated {
    pub(crate) settings: Settings,
    pub(crate) failure: Threshold,
    pub(crate) slow: Threshold,
    /// `u64::MAX` when slow-call detection is off.
    pub(crate) slow_nanos: u64,
    pub(crate) open_nanos: u64,
    pub(crate) half_open_wait_nanos: u64,
}

impl Settings {
    /// Checks every field; `max_calls` is the window's capacity in calls.
    pub(crate) fn validate(self, max_calls: u32) -> Result<Validated, ConfigError> {
        let failure = Threshold::named("failure_rate_threshold", self.failure_rate_threshold)?;
        let slow = Threshold::named("slow_call_rate_threshold", self.slow_call_rate_threshold)?;
        let slow_nanos = match self.slow_call_duration {
            None => u64::MAX,
            Some(d) => match duration_nanos(d) {
                Some(n) if n < u64::MAX => n,
                _ => {
                    return Err(ConfigError::new(
                        "slow_call_duration",
                        d,
                        "must be below u64::MAX nanoseconds",
                    ))
                }
            },
        };
        if self.minimum_calls == 0 {
            return Err(ConfigError::new("minimum_calls", 0, "must be at least 1"));
        }
        if self.minimum_calls > max_calls {
            return Err(ConfigError::new(
                "minimum_calls",
                self.minimum_calls,
                "must not exceed the count window's size",
            ));
        }
        let open_nanos = positive_nanos("open_duration", self.open_duration)?;
        if let Some(b) = self.open_backoff {
            if !(b.multiplier >= 1.0 && b.multiplier.is_finite()) {
                return Err(ConfigError::new(
                    "open_backoff.multiplier",
                    b.multiplier,
                    "must be a finite number >= 1",
                ));
            }
            if !(0.0..=1.0).contains(&b.jitter) {
                return Err(ConfigError::new(
                    "open_backoff.jitter",
                    b.jitter,
                    "must be in [0, 1]",
                ));
            }
            if b.max < self.open_duration || duration_nanos(b.max).is_none() {
                return Err(ConfigError::new(
                    "open_backoff.max",
                    b.max,
                    "must be at least open_duration and fit in u64 nanoseconds",
                ));
            }
        }
        if self.half_open_trial_calls == 0 || self.half_open_trial_calls > MAX_TRIAL_CALLS {
            return Err(ConfigError::new(
                "half_open_trial_calls",
                self.half_open_trial_calls,
                "must be in 1..=4096",
            ));
        }
        if self.half_open_max_concurrent == 0
            || self.half_open_max_concurrent > self.half_open_trial_calls
        {
            return Err(ConfigError::new(
                "half_open_max_concurrent",
                self.half_open_max_concurrent,
                "must be in 1..=half_open_trial_calls",
            ));
        }
        let half_open_wait_nanos = positive_nanos("half_open_max_wait", self.half_open_max_wait)?;
        Ok(Validated {
            settings: self,
            failure,
            slow,
            slow_nanos,
            open_nanos,
            half_open_wait_nanos,
        })
    }
}

fn positive_nanos(field: &'static str, d: Duration) -> Result<u64, ConfigError> {
    match duration_nanos(d) {
        Some(0) => Err(ConfigError::new(field, d, "must be above zero")),
        Some(n) => Ok(n),
        None => Err(ConfigError::new(field, d, "must fit in u64 nanoseconds")),
    }
}

/// Builds a [`CircuitBreaker`]; every setter is infallible and `build()`
/// checks everything at once.
///
/// # Examples
///
/// ```
/// use parapet::circuit_breaker::CircuitBreaker;
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
/// # Ok::<(), parapet::ConfigError>(())
/// ```
#[must_use]
pub struct CircuitBreakerBuilder<C = DefaultClassifier> {
    name: Arc<str>,
    settings: Settings,
    window: WindowKind,
    initial_state: State,
    classifier: C,
    clock: Arc<dyn Clock>,
    seed: u64,
}

impl std::fmt::Debug for CircuitBreakerBuilder<DefaultClassifier> {
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
            name: Arc::from("default"),
            settings: Settings::default(),
            window: WindowKind::Count { size: 100 },
            initial_state: State::Closed,
            classifier: DefaultClassifier,
            clock: Arc::new(DefaultClock::new()),
            seed: 0x5eed_0f9a_4a9e_7001,
        }
    }
}

impl<C> CircuitBreakerBuilder<C> {
    /// The name used in errors, events and metrics. Default `"default"`.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
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

    /// Grow the open duration after each failed half-open trial. Default:
    /// none (fixed open duration).
    pub fn open_backoff(mut self, multiplier: f64, max: Duration, jitter: f64) -> Self {
        self.settings.open_backoff = Some(OpenBackoff::new(multiplier, max, jitter));
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

    /// Count a call dropped before it completed as a failure. Default
    /// `false`: a cancelled call is not recorded (but always gives back its
    /// half-open place).
    pub fn cancelled_as_failure(mut self, yes: bool) -> Self {
        self.settings.cancelled_as_failure = yes;
        self
    }

    /// The state the breaker starts in. Default [`State::Closed`].
    pub fn initial_state(mut self, state: State) -> Self {
        self.initial_state = state;
        self
    }

    /// The clock. Default [`DefaultClock`]: about 3 ns a read with a few
    /// milliseconds of resolution on Linux (see [`crate::clock`]); pass
    /// [`MonotonicClock`](crate::clock::MonotonicClock) to time slow calls
    /// to the nanosecond, or a [`ManualClock`](crate::clock::ManualClock)
    /// in tests.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Seed of the open-duration jitter. Default: a fixed seed.
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
        let validated = self.settings.validate(self.window.max_calls())?;
        let inner = Inner::new(
            self.name,
            window,
            validated,
            self.initial_state,
            self.clock,
            self.seed,
        );
        Ok(CircuitBreaker::from_parts(inner, self.classifier))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(settings: Settings) -> ConfigError {
        settings.validate(100).unwrap_err()
    }

    #[test]
    fn every_bad_setting_is_named() {
        let base = Settings::default;
        let cases: Vec<(Settings, &str)> = vec![
            (
                Settings {
                    failure_rate_threshold: 0.0,
                    ..base()
                },
                "failure_rate_threshold",
            ),
            (
                Settings {
                    failure_rate_threshold: f64::NAN,
                    ..base()
                },
                "failure_rate_threshold",
            ),
            (
                Settings {
                    slow_call_rate_threshold: 2.0,
                    ..base()
                },
                "slow_call_rate_threshold",
            ),
            (
                Settings {
                    slow_call_duration: Some(Duration::MAX),
                    ..base()
                },
                "slow_call_duration",
            ),
            (
                Settings {
                    minimum_calls: 0,
                    ..base()
                },
                "minimum_calls",
            ),
            (
                Settings {
                    minimum_calls: 101,
                    ..base()
                },
                "minimum_calls",
            ),
            (
                Settings {
                    open_duration: Duration::ZERO,
                    ..base()
                },
                "open_duration",
            ),
            (
                Settings {
                    open_duration: Duration::MAX,
                    ..base()
                },
                "open_duration",
            ),
            (
                Settings {
                    open_backoff: Some(OpenBackoff {
                        multiplier: f64::NAN,
                        max: Duration::from_secs(60),
                        jitter: 0.0,
                    }),
                    ..base()
                },
                "open_backoff.multiplier",
            ),
            (
                Settings {
                    open_backoff: Some(OpenBackoff {
                        multiplier: 2.0,
                        max: Duration::from_secs(60),
                        jitter: 1.5,
                    }),
                    ..base()
                },
                "open_backoff.jitter",
            ),
            (
                Settings {
                    open_backoff: Some(OpenBackoff {
                        multiplier: 2.0,
                        max: Duration::from_secs(1),
                        jitter: 0.0,
                    }),
                    ..base()
                },
                "open_backoff.max",
            ),
            (
                Settings {
                    half_open_trial_calls: 0,
                    ..base()
                },
                "half_open_trial_calls",
            ),
            (
                Settings {
                    half_open_trial_calls: MAX_TRIAL_CALLS + 1,
                    ..base()
                },
                "half_open_trial_calls",
            ),
            (
                Settings {
                    half_open_max_concurrent: 0,
                    ..base()
                },
                "half_open_max_concurrent",
            ),
            (
                Settings {
                    half_open_max_concurrent: 4,
                    ..base()
                },
                "half_open_max_concurrent",
            ),
            (
                Settings {
                    half_open_max_wait: Duration::ZERO,
                    ..base()
                },
                "half_open_max_wait",
            ),
        ];
        for (settings, field) in cases {
            assert_eq!(err(settings).field(), field);
        }
        assert!(Settings::default().validate(100).is_ok());
    }
}
