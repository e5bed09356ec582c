//! Settings from configuration files (feature `serde`): every primitive's
//! settings deserialize from any serde format (TOML, JSON, YAML...), with
//! durations written as text (`"5s"`, `"250ms"`, `"1m"`, `"1.5s"`), so a
//! service configures its guards, and its [`Registry`](crate::registry::Registry),
//! from its config file. Every field has the builder's default; unknown
//! fields are errors, so a typo is caught. Values are checked when the
//! instance is built, with the same [`ConfigError`]s as the builders;
//! [`check`] checks a whole configuration without starting anything, and
//! its errors name the key path where the value was written
//! (`pipelines.pricing.retry.max_attempts`) and the value as written.
//!
//! `pipelines` gives a client's per-host settings ([`PipelineConfig`]): a
//! `defaults` entry, and per-key entries that override it field by field.
//!
//! # Examples
//!
//! ```
//! use palisade::config::Config;
//!
//! let config: Config = serde_json::from_str(r#"{
//!     "circuit_breakers": {
//!         "payments": { "failure_rate_threshold": 0.2, "window": { "count": 50 }, "minimum_calls": 10, "open_duration": "30s" }
//!     },
//!     "bulkheads": { "payments": { "max_concurrent": 8, "max_waiters": 16, "max_wait": "250ms" } },
//!     "retries": { "payments": { "max_attempts": 4, "backoff": { "exponential": { "initial": "100ms", "multiplier": 2.0 } }, "max_delay": "2s", "jitter": "full" } }
//! }"#).unwrap();
//! let breaker = config.circuit_breakers["payments"].builder("payments").build()?;
//! assert_eq!(breaker.settings().failure_rate_threshold, 0.2);
//! let retry = config.retries["payments"].builder("payments").timer(palisade::timer::ManualTimer::new()).build()?;
//! # let _ = retry;
//! # Ok::<(), palisade::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::bulkhead::{Bulkhead, BulkheadBuilder, ThreadPool, ThreadPoolBuilder};
use crate::circuit_breaker::{
    Abandoned, CircuitBreaker, CircuitBreakerBuilder, HalfOpenRamp, OpenBackoff,
};
use crate::config_error::ConfigError;
use crate::retry::{Backoff, Jitter, Retry, RetryBudget, RetryBuilder};

/// The rows of a section: its builder fields, their keys and values as
/// written (see `Row`).
macro_rules! rows {
    ($(($field:expr, $key:expr, $value:expr)),* $(,)?) => {
        vec![$(($field, String::from($key), $value)),*]
    };
}

/// Parses a duration written as text: a number followed by `ns`, `us`,
/// `ms`, `s`, `m` or `h` (`"250ms"`, `"1.5s"`, `"2m"`).
///
/// # Examples
///
/// ```
/// use palisade::config::parse_duration;
/// use std::time::Duration;
///
/// assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
/// assert_eq!(parse_duration("soon"), None);
/// ```
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let nanos_per_unit = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    let nanos = number * nanos_per_unit;
    (nanos.is_finite() && nanos >= 0.0 && nanos < u64::MAX as f64)
        .then(|| Duration::from_nanos(nanos.round() as u64))
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "invalid duration {text:?}: write a number and a unit (ns, us, ms, s, m, h)"
        ))
    })
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// A whole configuration: instances by name, per primitive.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Circuit breakers by name.
    pub circuit_breakers: BTreeMap<String, CircuitBreakerConfig>,
    /// Semaphore bulkheads by name.
    pub bulkheads: BTreeMap<String, BulkheadConfig>,
    /// Thread pools by name.
    pub thread_pools: BTreeMap<String, ThreadPoolConfig>,
    /// Retries by name.
    pub retries: BTreeMap<String, RetryConfig>,
    /// Pipelines by key (a client's downstream host); the entry
    /// [`Config::DEFAULTS`] gives every key's settings (see
    /// [`PipelineConfig`] and [`Config::pipeline`]).
    pub pipelines: BTreeMap<String, PipelineConfig>,
}

/// A circuit breaker's window.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum WindowConfig {
    /// The last `n` calls.
    Count(u32),
    /// The calls of the last `duration`, in `buckets` buckets.
    Time {
        /// How far back.
        #[serde(deserialize_with = "duration")]
        duration: Duration,
        /// Buckets.
        buckets: u32,
    },
    /// At most the last `size` calls of the last `duration`.
    Hybrid {
        /// Calls.
        size: u32,
        /// How far back.
        #[serde(deserialize_with = "duration")]
        duration: Duration,
        /// Buckets.
        buckets: u32,
    },
}

/// A circuit breaker's settings; each field defaults to the builder's.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CircuitBreakerConfig {
    /// See [`CircuitBreakerBuilder::failure_rate_threshold`].
    pub failure_rate_threshold: Option<f64>,
    /// See [`CircuitBreakerBuilder::slow_call_rate_threshold`].
    pub slow_call_rate_threshold: Option<f64>,
    /// See [`CircuitBreakerBuilder::slow_call_duration`].
    #[serde(deserialize_with = "optional_duration")]
    pub slow_call_duration: Option<Duration>,
    /// See [`CircuitBreakerBuilder::minimum_calls`].
    pub minimum_calls: Option<u32>,
    /// The window.
    pub window: Option<WindowConfig>,
    /// See [`CircuitBreakerBuilder::open_duration`].
    #[serde(deserialize_with = "optional_duration")]
    pub open_duration: Option<Duration>,
    /// Growth of the open duration after failed trials (a multiplier).
    pub open_backoff_multiplier: Option<f64>,
    /// The cap of the open duration's growth.
    #[serde(deserialize_with = "optional_duration")]
    pub open_backoff_max: Option<Duration>,
    /// See [`CircuitBreakerBuilder::half_open_max_concurrent`].
    pub half_open_max_concurrent: Option<u32>,
    /// See [`CircuitBreakerBuilder::half_open_trial_calls`].
    pub half_open_trial_calls: Option<u32>,
    /// See [`CircuitBreakerBuilder::half_open_max_wait`].
    #[serde(deserialize_with = "optional_duration")]
    pub half_open_max_wait: Option<Duration>,
    /// See [`CircuitBreakerBuilder::half_open_ramp`]: each stage's share
    /// of calls, for example `[0.01, 0.05, 0.1, 0.25, 0.5]`.
    pub half_open_ramp: Option<Vec<f64>>,
    /// How long each stage of `half_open_ramp` lasts; default the open
    /// duration.
    #[serde(deserialize_with = "optional_duration")]
    pub half_open_stage_duration: Option<Duration>,
    /// See [`CircuitBreakerBuilder::abandoned`]: `"ignore"`,
    /// `"failure"` or `{ failure_above = 0.5 }`.
    pub abandoned: Option<Abandoned>,
}

impl CircuitBreakerConfig {
    /// A builder named `name` with these settings (others at their
    /// defaults); add a clock or a classifier, then `build()`.
    pub fn builder(&self, name: &str) -> CircuitBreakerBuilder {
        let mut b = CircuitBreaker::builder().name(name.to_owned());
        if let Some(v) = self.failure_rate_threshold {
            b = b.failure_rate_threshold(v);
        }
        if let Some(v) = self.slow_call_rate_threshold {
            b = b.slow_call_rate_threshold(v);
        }
        if let Some(v) = self.slow_call_duration {
            b = b.slow_call_duration(v);
        }
        if let Some(v) = self.minimum_calls {
            b = b.minimum_calls(v);
        }
        b = match self.window {
            Some(WindowConfig::Count(n)) => b.count_window(n),
            Some(WindowConfig::Time { duration, buckets }) => b.time_window(duration, buckets),
            Some(WindowConfig::Hybrid {
                size,
                duration,
                buckets,
            }) => b.hybrid_window(size, duration, buckets),
            None => b,
        };
        if let Some(v) = self.open_duration {
            b = b.open_duration(v);
        }
        if let Some(m) = self.open_backoff_multiplier {
            let mut backoff = OpenBackoff::exponential(m);
            if let Some(max) = self.open_backoff_max {
                backoff = backoff.max_duration(max);
            }
            b = b.open_backoff(backoff);
        }
        if let Some(v) = self.half_open_max_concurrent {
            b = b.half_open_max_concurrent(v);
        }
        if let Some(v) = self.half_open_trial_calls {
            b = b.half_open_trial_calls(v);
        }
        if let Some(v) = self.half_open_max_wait {
            b = b.half_open_max_wait(v);
        }
        if let Some(stages) = &self.half_open_ramp {
            let mut ramp = HalfOpenRamp::new(stages.clone());
            if let Some(d) = self.half_open_stage_duration {
                ramp = ramp.stage_duration(d);
            }
            b = b.half_open_ramp(ramp);
        }
        if let Some(v) = self.abandoned {
            b = b.abandoned(v);
        }
        b
    }

    fn rows(&self) -> Vec<Row> {
        let (size, duration, buckets, kind) = match self.window {
            Some(WindowConfig::Count(n)) => (Some(n), None, None, "count"),
            Some(WindowConfig::Time { duration, buckets }) => {
                (None, Some(duration), Some(buckets), "time")
            }
            Some(WindowConfig::Hybrid {
                size,
                duration,
                buckets,
            }) => (Some(size), Some(duration), Some(buckets), "hybrid"),
            None => (None, None, None, ""),
        };
        let size_key = if kind == "count" {
            "window.count".to_owned()
        } else {
            format!("window.{kind}.size")
        };
        rows![
            (
                "failure_rate_threshold",
                "failure_rate_threshold",
                num(self.failure_rate_threshold)
            ),
            (
                "slow_call_rate_threshold",
                "slow_call_rate_threshold",
                num(self.slow_call_rate_threshold)
            ),
            (
                "slow_call_duration",
                "slow_call_duration",
                written(self.slow_call_duration)
            ),
            ("minimum_calls", "minimum_calls", num(self.minimum_calls)),
            ("window_size", &size_key, num(size)),
            (
                "window_duration",
                &format!("window.{kind}.duration"),
                written(duration)
            ),
            ("buckets", &format!("window.{kind}.buckets"), num(buckets)),
            (
                "open_duration",
                "open_duration",
                written(self.open_duration)
            ),
            (
                "open_backoff.multiplier",
                "open_backoff_multiplier",
                num(self.open_backoff_multiplier)
            ),
            (
                "open_backoff.max",
                "open_backoff_max",
                written(self.open_backoff_max)
            ),
            (
                "half_open_trial_calls",
                "half_open_trial_calls",
                num(self.half_open_trial_calls)
            ),
            (
                "half_open_max_concurrent",
                "half_open_max_concurrent",
                num(self.half_open_max_concurrent)
            ),
            (
                "half_open_max_wait",
                "half_open_max_wait",
                written(self.half_open_max_wait)
            ),
            (
                "half_open_ramp",
                "half_open_ramp",
                self.half_open_ramp.as_ref().map(|r| format!("{r:?}"))
            ),
            (
                "half_open_ramp.stage_duration",
                "half_open_stage_duration",
                written(self.half_open_stage_duration)
            ),
            (
                "abandoned.failure_above",
                "abandoned.failure_above",
                num(match self.abandoned {
                    Some(Abandoned::FailureAbove(share)) => Some(share),
                    _ => None,
                })
            ),
        ]
    }

    fn merge(self, over: Self) -> Self {
        Self {
            failure_rate_threshold: over.failure_rate_threshold.or(self.failure_rate_threshold),
            slow_call_rate_threshold: over
                .slow_call_rate_threshold
                .or(self.slow_call_rate_threshold),
            slow_call_duration: over.slow_call_duration.or(self.slow_call_duration),
            minimum_calls: over.minimum_calls.or(self.minimum_calls),
            window: over.window.or(self.window),
            open_duration: over.open_duration.or(self.open_duration),
            open_backoff_multiplier: over
                .open_backoff_multiplier
                .or(self.open_backoff_multiplier),
            open_backoff_max: over.open_backoff_max.or(self.open_backoff_max),
            half_open_max_concurrent: over
                .half_open_max_concurrent
                .or(self.half_open_max_concurrent),
            half_open_trial_calls: over.half_open_trial_calls.or(self.half_open_trial_calls),
            half_open_max_wait: over.half_open_max_wait.or(self.half_open_max_wait),
            half_open_ramp: over.half_open_ramp.or(self.half_open_ramp),
            half_open_stage_duration: over
                .half_open_stage_duration
                .or(self.half_open_stage_duration),
            abandoned: over.abandoned.or(self.abandoned),
        }
    }
}

/// A semaphore bulkhead's settings.
///
/// `max_wait` alone makes a queue as deep as the bulkhead is wide
/// (`max_waiters` = `max_concurrent`): resilience4j's users set only the
/// wait. `max_waiters` needs `max_wait` (how long each may wait), and a
/// `max_wait` with `max_waiters = 0` is refused by name: nobody would wait.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BulkheadConfig {
    /// See [`BulkheadBuilder::max_concurrent`].
    pub max_concurrent: Option<u32>,
    /// Callers that may wait for a place (absent: as many as
    /// `max_concurrent` when `max_wait` is set, else none: fail fast).
    pub max_waiters: Option<u32>,
    /// How long each may wait.
    #[serde(deserialize_with = "optional_duration")]
    pub max_wait: Option<Duration>,
}

impl BulkheadConfig {
    /// A builder named `name` with these settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `max_waiters` (set without `max_wait`) or
    /// `max_wait` (set with `max_waiters = 0`): a builder would
    /// otherwise blame a field nobody wrote, or drop one.
    pub fn builder(&self, name: &str) -> Result<BulkheadBuilder, ConfigError> {
        let mut b = Bulkhead::builder().name(name.to_owned());
        if let Some(v) = self.max_concurrent {
            b = b.max_concurrent(v);
        }
        match (self.max_waiters, self.max_wait) {
            (None, None) => {}
            (Some(0), None) => {}
            (Some(waiters), None) => {
                return Err(ConfigError::new(
                    "max_waiters",
                    waiters,
                    "needs `max_wait`, how long each caller may wait for a place",
                ))
            }
            (Some(0), Some(wait)) => {
                return Err(ConfigError::new(
                    "max_wait",
                    wait,
                    "is set but `max_waiters` = 0: nobody waits (remove one, or let callers queue)",
                ))
            }
            (waiters, Some(wait)) => {
                let waiters = waiters.unwrap_or_else(|| {
                    self.max_concurrent
                        .unwrap_or(crate::bulkhead::builder::DEFAULT_MAX_CONCURRENT)
                });
                b = b.queue(waiters, wait);
            }
        }
        Ok(b)
    }

    fn rows(&self) -> Vec<Row> {
        rows![
            ("max_concurrent", "max_concurrent", num(self.max_concurrent)),
            ("max_waiters", "max_waiters", num(self.max_waiters)),
            ("max_wait", "max_wait", written(self.max_wait)),
        ]
    }

    fn merge(self, over: Self) -> Self {
        Self {
            max_concurrent: over.max_concurrent.or(self.max_concurrent),
            max_waiters: over.max_waiters.or(self.max_waiters),
            max_wait: over.max_wait.or(self.max_wait),
        }
    }
}

/// A thread pool's settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ThreadPoolConfig {
    /// See [`ThreadPoolBuilder::threads`].
    pub threads: Option<usize>,
    /// See [`ThreadPoolBuilder::queue`].
    pub queue: Option<usize>,
}

impl ThreadPoolConfig {
    /// A builder named `name` with these settings.
    pub fn builder(&self, name: &str) -> ThreadPoolBuilder {
        let mut b = ThreadPool::builder().name(name.to_owned());
        if let Some(v) = self.threads {
            b = b.threads(v);
        }
        if let Some(v) = self.queue {
            b = b.queue(v);
        }
        b
    }

    fn rows(&self) -> Vec<Row> {
        rows![
            ("threads", "threads", num(self.threads)),
            ("queue", "queue", num(self.queue))
        ]
    }
}

/// How retry delays grow.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum BackoffConfig {
    /// The same delay each time.
    Constant(#[serde(deserialize_with = "duration")] Duration),
    /// `initial`, then `+ step` each time.
    Linear {
        /// The first delay.
        #[serde(deserialize_with = "duration")]
        initial: Duration,
        /// The growth per retry.
        #[serde(deserialize_with = "duration")]
        step: Duration,
    },
    /// `initial`, then `× multiplier` each time.
    Exponential {
        /// The first delay.
        #[serde(deserialize_with = "duration")]
        initial: Duration,
        /// The growth factor.
        multiplier: f64,
    },
}

/// Jitter, by name: `none`, `full`, `equal`, `decorrelated`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JitterConfig {
    /// No jitter.
    None,
    /// Full jitter.
    Full,
    /// Equal jitter.
    Equal,
    /// Decorrelated jitter.
    Decorrelated,
}

/// A retry budget: how many retries a dependency may get, beside its
/// calls (see [`RetryBudget`]). Either `{ ratio = 0.2, min_per_second = 10,
/// ttl = "10s" }`: retries up to a fifth of the calls of the last 10 s,
/// plus 10 a second (`min_per_second` and `ttl` optional, defaults 10 and
/// `"10s"`); or `{ in_flight = 0.5, min = 2 }`: retries running at once up
/// to half the calls running at once, and at least 2 (`min` optional,
/// default 0). Merged as a whole: an override's budget replaces the
/// defaults' budget.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BudgetConfig {
    /// Retries per call of the last `ttl` ([`RetryBudget::ratio`]).
    pub ratio: Option<f64>,
    /// With `ratio`: retries a second besides.
    pub min_per_second: Option<u32>,
    /// With `ratio`: how far back calls count.
    #[serde(deserialize_with = "optional_duration")]
    pub ttl: Option<Duration>,
    /// Retries in flight per call in flight ([`RetryBudget::in_flight`]).
    pub in_flight: Option<f64>,
    /// With `in_flight`: retries always allowed.
    pub min: Option<u32>,
}

impl BudgetConfig {
    /// The budget these settings describe.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `ratio`, `in_flight` (neither or both
    /// written), `ttl`, or a field of one kind written with the other.
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::config::BudgetConfig;
    ///
    /// let budget: BudgetConfig = serde_json::from_str(r#"{ "in_flight": 0.5, "min": 2 }"#).unwrap();
    /// assert!(budget.build().is_ok());
    /// let both: BudgetConfig = serde_json::from_str(r#"{ "in_flight": 0.5, "ttl": "10s" }"#).unwrap();
    /// assert_eq!(both.build().unwrap_err().field(), "ttl");
    /// ```
    pub fn build(&self) -> Result<RetryBudget, ConfigError> {
        match (self.ratio, self.in_flight) {
            (Some(ratio), None) => {
                if let Some(min) = self.min {
                    return Err(ConfigError::new(
                        "min",
                        min,
                        "belongs to an `in_flight` budget: with `ratio`, write `min_per_second`",
                    ));
                }
                RetryBudget::ratio(
                    ratio,
                    self.min_per_second.unwrap_or(10),
                    self.ttl.unwrap_or(Duration::from_secs(10)),
                )
            }
            (None, Some(in_flight)) => {
                if let Some(min) = self.min_per_second {
                    return Err(ConfigError::new(
                        "min_per_second",
                        min,
                        "belongs to a `ratio` budget: with `in_flight`, write `min`",
                    ));
                }
                if let Some(ttl) = self.ttl {
                    return Err(ConfigError::new(
                        "ttl",
                        ttl,
                        "belongs to a `ratio` budget: an `in_flight` budget counts calls running now",
                    ));
                }
                RetryBudget::in_flight(in_flight, self.min.unwrap_or(0))
                    .map_err(|e| e.renamed("in_flight"))
            }
            (None, None) => Err(ConfigError::new(
                "ratio",
                "nothing",
                "a budget needs `ratio` (retries per call of the last `ttl`) or `in_flight`",
            )),
            (Some(_), Some(in_flight)) => Err(ConfigError::new(
                "in_flight",
                in_flight,
                "a budget is either `ratio` or `in_flight`, not both",
            )),
        }
    }

    fn rows(&self) -> Vec<Row> {
        rows![
            ("ratio", "ratio", num(self.ratio)),
            ("in_flight", "in_flight", num(self.in_flight)),
            ("ttl", "ttl", written(self.ttl)),
            ("min", "min", num(self.min)),
            ("min_per_second", "min_per_second", num(self.min_per_second)),
        ]
    }
}

/// A retry's settings.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryConfig {
    /// See [`RetryBuilder::max_attempts`].
    pub max_attempts: Option<u32>,
    /// See [`RetryBuilder::max_elapsed`].
    #[serde(deserialize_with = "optional_duration")]
    pub max_elapsed: Option<Duration>,
    /// The growth of delays (with `max_delay` and `jitter`).
    pub backoff: Option<BackoffConfig>,
    /// The cap of every delay.
    #[serde(deserialize_with = "optional_duration")]
    pub max_delay: Option<Duration>,
    /// The jitter.
    pub jitter: Option<JitterConfig>,
    /// See [`RetryBuilder::max_hint`].
    #[serde(deserialize_with = "optional_duration")]
    pub max_hint: Option<Duration>,
    /// The retry budget (none by default). `builder` leaves it out: a
    /// budget is shared state, built once with [`BudgetConfig::build`]
    /// and given to each retry that spends it.
    pub budget: Option<BudgetConfig>,
}

impl RetryConfig {
    /// A builder named `name` with these settings.
    pub fn builder(&self, name: &str) -> RetryBuilder {
        let mut b = Retry::builder().name(name.to_owned());
        if let Some(v) = self.max_attempts {
            b = b.max_attempts(v);
        }
        if let Some(v) = self.max_elapsed {
            b = b.max_elapsed(v);
        }
        if self.backoff.is_some() || self.max_delay.is_some() || self.jitter.is_some() {
            let mut backoff = match self.backoff {
                Some(BackoffConfig::Constant(d)) => Backoff::constant(d),
                Some(BackoffConfig::Linear { initial, step }) => Backoff::linear(initial, step),
                Some(BackoffConfig::Exponential {
                    initial,
                    multiplier,
                }) => Backoff::exponential(initial, multiplier),
                None => Backoff::default(),
            };
            if let Some(max) = self.max_delay {
                backoff = backoff.max_delay(max);
            }
            if let Some(jitter) = self.jitter {
                backoff = backoff.jitter(match jitter {
                    JitterConfig::None => Jitter::None,
                    JitterConfig::Full => Jitter::Full,
                    JitterConfig::Equal => Jitter::Equal,
                    JitterConfig::Decorrelated => Jitter::Decorrelated,
                });
            }
            b = b.backoff(backoff);
        }
        if let Some(v) = self.max_hint {
            b = b.max_hint(v);
        }
        b
    }

    fn rows(&self) -> Vec<Row> {
        let (initial, multiplier, kind) = match self.backoff {
            Some(BackoffConfig::Constant(d)) => (Some(d), None, "backoff.constant"),
            Some(BackoffConfig::Linear { initial, .. }) => {
                (Some(initial), None, "backoff.linear.initial")
            }
            Some(BackoffConfig::Exponential {
                initial,
                multiplier,
            }) => (
                Some(initial),
                Some(multiplier),
                "backoff.exponential.initial",
            ),
            None => (None, None, "backoff"),
        };
        rows![
            ("max_attempts", "max_attempts", num(self.max_attempts)),
            ("max_elapsed", "max_elapsed", written(self.max_elapsed)),
            ("max_hint", "max_hint", written(self.max_hint)),
            ("max_delay", "max_delay", written(self.max_delay)),
            ("initial_delay", kind, written(initial)),
            (
                "multiplier",
                "backoff.exponential.multiplier",
                num(multiplier)
            ),
        ]
    }

    fn merge(self, over: Self) -> Self {
        Self {
            max_attempts: over.max_attempts.or(self.max_attempts),
            max_elapsed: over.max_elapsed.or(self.max_elapsed),
            backoff: over.backoff.or(self.backoff),
            max_delay: over.max_delay.or(self.max_delay),
            jitter: over.jitter.or(self.jitter),
            max_hint: over.max_hint.or(self.max_hint),
            budget: over.budget.or(self.budget),
        }
    }
}

/// How an adaptive limit moves, by name: `gradient` (the default) or
/// `aimd`, each with its defaults.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlgorithmConfig {
    /// [`Gradient`](crate::adaptive::Gradient).
    Gradient,
    /// [`Aimd`](crate::adaptive::Aimd).
    Aimd,
}

/// An adaptive concurrency limit's settings (see
/// [`AdaptiveLimitBuilder`](crate::adaptive::AdaptiveLimitBuilder)).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AdaptiveLimitConfig {
    /// The algorithm.
    pub algorithm: Option<AlgorithmConfig>,
    /// The limit before any sample.
    pub initial_limit: Option<u32>,
    /// The floor.
    pub min_limit: Option<u32>,
    /// The ceiling.
    pub max_limit: Option<u32>,
    /// Completed calls per window.
    pub window: Option<u32>,
}

impl AdaptiveLimitConfig {
    /// A builder named `name` with these settings.
    pub fn builder(&self, name: &str) -> crate::adaptive::AdaptiveLimitBuilder {
        let mut b = crate::adaptive::AdaptiveLimit::builder().name(name.to_owned());
        if let Some(algorithm) = self.algorithm {
            b = b.algorithm(match algorithm {
                AlgorithmConfig::Gradient => {
                    crate::adaptive::Algorithm::Gradient(Default::default())
                }
                AlgorithmConfig::Aimd => crate::adaptive::Algorithm::Aimd(Default::default()),
            });
        }
        if let Some(v) = self.initial_limit {
            b = b.initial_limit(v);
        }
        if let Some(v) = self.min_limit {
            b = b.min_limit(v);
        }
        if let Some(v) = self.max_limit {
            b = b.max_limit(v);
        }
        if let Some(v) = self.window {
            b = b.window(v);
        }
        b
    }

    fn rows(&self) -> Vec<Row> {
        rows![
            ("initial_limit", "initial_limit", num(self.initial_limit)),
            ("min_limit", "min_limit", num(self.min_limit)),
            ("max_limit", "max_limit", num(self.max_limit)),
            ("window", "window", num(self.window)),
        ]
    }

    fn merge(self, over: Self) -> Self {
        Self {
            algorithm: over.algorithm.or(self.algorithm),
            initial_limit: over.initial_limit.or(self.initial_limit),
            min_limit: over.min_limit.or(self.min_limit),
            max_limit: over.max_limit.or(self.max_limit),
            window: over.window.or(self.window),
        }
    }
}

/// A pipeline's settings (see [`Pipeline`](crate::pipeline::Pipeline)):
/// what a client uses per downstream host. Every guard is optional; a
/// `pipelines.defaults` entry gives every key's settings, and a key's own
/// entry overrides them field by field (resilience4j's `baseConfig`):
///
/// ```toml
/// [pipelines.defaults]
/// timeout = "2s"
/// attempt_timeout = "500ms"
/// retry = { max_attempts = 3, budget = { ratio = 0.2 } }
/// circuit_breaker = { failure_rate_threshold = 0.5, window = { count = 50 } }
/// bulkhead = { max_concurrent = 32 }
///
/// [pipelines."pricing.internal"]
/// retry = { max_attempts = 2 }   # the budget stays the defaults'
/// fallback = true
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// The total timeout: every attempt and the waits between them.
    #[serde(deserialize_with = "optional_duration")]
    pub timeout: Option<Duration>,
    /// The timeout of each attempt.
    #[serde(deserialize_with = "optional_duration")]
    pub attempt_timeout: Option<Duration>,
    /// Retries (with their budget).
    pub retry: Option<RetryConfig>,
    /// Retry requests whose method is not idempotent (`POST`, `PATCH`) too.
    /// Default `false`: a client retries `GET`, `HEAD`, `OPTIONS`,
    /// `TRACE`, `PUT` and `DELETE` only.
    pub retry_non_idempotent: Option<bool>,
    /// The circuit breaker.
    pub circuit_breaker: Option<CircuitBreakerConfig>,
    /// The bulkhead (or `adaptive_limit`: one concurrency limit per
    /// pipeline; a key's own choice replaces the defaults' other one).
    pub bulkhead: Option<BulkheadConfig>,
    /// An adaptive concurrency limit, in the bulkhead's place.
    pub adaptive_limit: Option<AdaptiveLimitConfig>,
    /// Serve the fallback given in code when the call fails. Default
    /// `false`.
    pub fallback: Option<bool>,
    /// A failed response's `Retry-After` (or `grpc-retry-pushback-ms`)
    /// keeps the breaker open at least that long, at most this long (see
    /// [`PipelineBuilder::hold_open_on_hint`](crate::pipeline::PipelineBuilder::hold_open_on_hint)).
    /// Default: hints do not hold the breaker open.
    #[serde(deserialize_with = "optional_duration")]
    pub hold_open_on_hint: Option<Duration>,
}

impl PipelineConfig {
    /// These settings overridden by `over`, field by field (a guard's
    /// settings merge too; a window, a backoff and a budget are replaced
    /// whole).
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::config::PipelineConfig;
    ///
    /// let defaults: PipelineConfig = serde_json::from_str(
    ///     r#"{ "timeout": "2s", "retry": { "max_attempts": 3, "max_delay": "1s" } }"#,
    /// ).unwrap();
    /// let pricing: PipelineConfig = serde_json::from_str(r#"{ "retry": { "max_attempts": 2 } }"#).unwrap();
    /// let merged = defaults.merge(pricing);
    /// let retry = merged.retry.unwrap();
    /// assert_eq!(retry.max_attempts, Some(2));
    /// assert_eq!(retry.max_delay, Some(std::time::Duration::from_secs(1)));
    /// assert_eq!(merged.timeout, Some(std::time::Duration::from_secs(2)));
    /// ```
    #[must_use]
    pub fn merge(self, over: Self) -> Self {
        fn both<T>(a: Option<T>, b: Option<T>, merge: impl FnOnce(T, T) -> T) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(merge(a, b)),
                (a, b) => b.or(a),
            }
        }
        let (own_bulkhead, own_adaptive) = (over.bulkhead.is_some(), over.adaptive_limit.is_some());
        Self {
            timeout: over.timeout.or(self.timeout),
            attempt_timeout: over.attempt_timeout.or(self.attempt_timeout),
            retry: both(self.retry, over.retry, RetryConfig::merge),
            retry_non_idempotent: over.retry_non_idempotent.or(self.retry_non_idempotent),
            circuit_breaker: both(
                self.circuit_breaker,
                over.circuit_breaker,
                CircuitBreakerConfig::merge,
            ),
            // One limit: the one a key names replaces the defaults' other.
            bulkhead: if own_adaptive && !own_bulkhead {
                None
            } else {
                both(self.bulkhead, over.bulkhead, BulkheadConfig::merge)
            },
            adaptive_limit: if own_bulkhead && !own_adaptive {
                None
            } else {
                both(
                    self.adaptive_limit,
                    over.adaptive_limit,
                    AdaptiveLimitConfig::merge,
                )
            },
            fallback: over.fallback.or(self.fallback),
            hold_open_on_hint: over.hold_open_on_hint.or(self.hold_open_on_hint),
        }
    }

    /// Checks every guard by building it (with a manual timer: nothing
    /// starts); errors name `at` (`pipelines.pricing`) and the key.
    fn check(&self, place: &Place<'_>) -> Result<(), ConfigError> {
        let timer = crate::timer::ManualTimer::new();
        type Get = fn(&PipelineConfig) -> Option<Duration>;
        let timeouts: [(&'static str, Get); 3] = [
            ("timeout", |c| c.timeout),
            ("attempt_timeout", |c| c.attempt_timeout),
            ("hold_open_on_hint", |c| c.hold_open_on_hint),
        ];
        for (field, get) in timeouts {
            crate::limits::check_duration(field, get(self)).map_err(|e| {
                place.locate(e, "", |c| rows![(field, field, written(c.and_then(get)))])
            })?;
        }
        if let Some(retry) = &self.retry {
            retry
                .builder("check")
                .timer(timer.clone())
                .build()
                .map_err(|e| {
                    place.locate(e, "retry", |c| {
                        c.and_then(|c| c.retry.as_ref())
                            .map(RetryConfig::rows)
                            .unwrap_or_default()
                    })
                })?;
            if let Some(budget) = &retry.budget {
                budget.build().map_err(|e| {
                    place.locate(e, "retry.budget", |c| {
                        c.and_then(|c| c.retry.as_ref()?.budget.as_ref())
                            .map(BudgetConfig::rows)
                            .unwrap_or_default()
                    })
                })?;
            }
        }
        if let Some(breaker) = &self.circuit_breaker {
            breaker.builder("check").build().map_err(|e| {
                place.locate(e, "circuit_breaker", |c| {
                    c.and_then(|c| c.circuit_breaker.as_ref())
                        .map(CircuitBreakerConfig::rows)
                        .unwrap_or_default()
                })
            })?;
        }
        if let (Some(_), Some(_)) = (&self.bulkhead, &self.adaptive_limit) {
            let err = ConfigError::new(
                "adaptive_limit",
                "set",
                "a pipeline has one concurrency limit: write `bulkhead` or `adaptive_limit`, not both",
            );
            let at = if place.over.is_some_and(|c| c.adaptive_limit.is_some()) {
                place.key
            } else {
                Config::DEFAULTS
            };
            return Err(err.at(format!("pipelines.{at}.adaptive_limit"), None));
        }
        if let Some(adaptive) = &self.adaptive_limit {
            adaptive.builder("check").build().map_err(|e| {
                place.locate(e, "adaptive_limit", |c| {
                    c.and_then(|c| c.adaptive_limit.as_ref())
                        .map(AdaptiveLimitConfig::rows)
                        .unwrap_or_default()
                })
            })?;
        }
        if let Some(bulkhead) = &self.bulkhead {
            bulkhead
                .builder("check")
                .and_then(|b| b.timer(timer).build())
                .map_err(|e| {
                    place.locate(e, "bulkhead", |c| {
                        c.and_then(|c| c.bulkhead.as_ref())
                            .map(BulkheadConfig::rows)
                            .unwrap_or_default()
                    })
                })?;
        }
        Ok(())
    }
}

/// Checks every instance of `config` by building it, thread pools
/// included (checked, not started): useful at start-up, to fail before
/// serving. A pipeline key is checked merged with `pipelines.defaults`.
///
/// # Errors
///
/// The first [`ConfigError`] found, naming the key path where the value
/// was written (`pipelines.pricing.retry.max_attempts`; a value a key
/// inherits from `pipelines.defaults` is named there) and the value as
/// written.
///
/// # Examples
///
/// ```
/// use palisade::config::{check, Config};
///
/// let config: Config = serde_json::from_str(r#"{
///     "pipelines": {
///         "defaults": { "bulkhead": { "max_concurrent": 8 } },
///         "pricing": { "timeout": "100000h" }
///     }
/// }"#).unwrap();
/// let err = check(&config).unwrap_err();
/// assert_eq!(err.path(), Some("pipelines.pricing.timeout"));
/// assert_eq!(err.value(), "100000h");
/// ```
pub fn check(config: &Config) -> Result<(), ConfigError> {
    for (name, c) in &config.circuit_breakers {
        c.builder(name)
            .build()
            .map_err(|e| locate(e, &format!("circuit_breakers.{name}"), c.rows()))?;
    }
    for (name, c) in &config.bulkheads {
        c.builder(name)
            .and_then(|b| b.timer(crate::timer::ManualTimer::new()).build())
            .map_err(|e| locate(e, &format!("bulkheads.{name}"), c.rows()))?;
    }
    for (name, c) in &config.thread_pools {
        c.builder(name)
            .check()
            .map_err(|e| locate(e, &format!("thread_pools.{name}"), c.rows()))?;
    }
    for (name, c) in &config.retries {
        c.builder(name)
            .timer(crate::timer::ManualTimer::new())
            .build()
            .map_err(|e| locate(e, &format!("retries.{name}"), c.rows()))?;
        if let Some(budget) = &c.budget {
            budget
                .build()
                .map_err(|e| locate(e, &format!("retries.{name}.budget"), budget.rows()))?;
        }
    }
    if let Some(defaults) = config.pipelines.get(Config::DEFAULTS) {
        defaults.check(&Place {
            key: Config::DEFAULTS,
            over: None,
            defaults: Some(defaults),
        })?;
    }
    for key in config.pipeline_keys() {
        config.pipeline(key).check(&Place {
            key,
            over: config.pipelines.get(key),
            defaults: config.pipelines.get(Config::DEFAULTS),
        })?;
    }
    Ok(())
}

impl Config {
    /// The key of the entry of `pipelines` every other key inherits from.
    pub const DEFAULTS: &'static str = "defaults";

    /// The settings of pipeline `key`: `pipelines.defaults` overridden by
    /// `pipelines.<key>` field by field (the defaults alone for a key the
    /// configuration does not name).
    pub fn pipeline(&self, key: &str) -> PipelineConfig {
        let defaults = self
            .pipelines
            .get(Self::DEFAULTS)
            .cloned()
            .unwrap_or_default();
        match self.pipelines.get(key) {
            Some(over) if key != Self::DEFAULTS => defaults.merge(over.clone()),
            _ => defaults,
        }
    }

    /// The pipeline keys the configuration names (not `defaults`).
    pub fn pipeline_keys(&self) -> impl Iterator<Item = &str> {
        self.pipelines
            .keys()
            .map(String::as_str)
            .filter(|k| *k != Self::DEFAULTS)
    }
}

/// Where a pipeline's settings came from: its own entry and the defaults.
struct Place<'a> {
    key: &'a str,
    over: Option<&'a PipelineConfig>,
    defaults: Option<&'a PipelineConfig>,
}

impl Place<'_> {
    /// `err`, from the guard at `section` (`"retry"`; `""` for the pipeline
    /// itself), located in the key's own entry if it wrote the rejected
    /// field, else in `defaults`. `rows` lists a guard's fields in one
    /// entry (or none).
    fn locate(
        &self,
        err: ConfigError,
        section: &str,
        rows: impl Fn(Option<&PipelineConfig>) -> Vec<Row>,
    ) -> ConfigError {
        let written_in = |entry: Option<&PipelineConfig>| {
            rows(entry)
                .into_iter()
                .find(|row| row.0 == err.field() && row.2.is_some())
        };
        let (key, row) = match (written_in(self.over), written_in(self.defaults)) {
            (Some(row), _) => (self.key, Some(row)),
            (None, Some(row)) => (Config::DEFAULTS, Some(row)),
            (None, None) => (self.key, None),
        };
        let at = match section {
            "" => format!("pipelines.{key}"),
            section => format!("pipelines.{key}.{section}"),
        };
        match row {
            Some((_, name, value)) => err.at(format!("{at}.{name}"), value),
            None => {
                let field = err.field();
                err.at(format!("{at}.{field}"), None)
            }
        }
    }
}

/// A builder's field, the configuration key it is written as, and its
/// value as written (`None`: not written).
type Row = (&'static str, String, Option<String>);

/// `err` located at `at`: the configuration key of the builder field it
/// names and the value as written there.
fn locate(err: ConfigError, at: &str, rows: Vec<Row>) -> ConfigError {
    match rows.into_iter().find(|row| row.0 == err.field()) {
        Some((_, key, value)) => err.at(format!("{at}.{key}"), value),
        None => {
            let field = err.field();
            err.at(format!("{at}.{field}"), None)
        }
    }
}

fn num<T: std::fmt::Display>(value: Option<T>) -> Option<String> {
    value.map(|v| v.to_string())
}

/// A duration as a configuration writes it: in the largest unit that
/// writes it exactly (`100000h`, `1500ms`), so an error shows the value as
/// written rather than in seconds.
fn written(d: Option<Duration>) -> Option<String> {
    d.map(format_duration)
}

/// `d` in the largest unit of [`parse_duration`] that writes it as a
/// whole number.
///
/// # Examples
///
/// ```
/// use palisade::config::format_duration;
/// use std::time::Duration;
///
/// assert_eq!(format_duration(Duration::from_secs(360_000_000)), "100000h");
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
/// assert_eq!(format_duration(Duration::ZERO), "0s");
/// ```
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    const UNITS: [(u128, &str); 6] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    let (per, unit) = UNITS
        .into_iter()
        .find(|(per, _)| nanos % per == 0)
        .unwrap_or((1, "ns"));
    format!("{}{unit}", nanos / per)
}
