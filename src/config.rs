//! Settings from configuration files (feature `serde`): every primitive's
//! settings deserialize from any serde format (TOML, JSON, YAML...), with
//! durations written as text (`"5s"`, `"250ms"`, `"1m"`, `"1.5s"`), so a
//! service configures its guards, and its [`Registry`](crate::registry::Registry),
//! from its config file. Every field has the builder's default; unknown
//! fields are errors, so a typo is caught. Values are checked when the
//! instance is built, with the same [`ConfigError`]s as the builders.
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
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerBuilder, OpenBackoff};
use crate::config_error::ConfigError;
use crate::retry::{Backoff, Jitter, Retry, RetryBuilder};

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
#[derive(Clone, Debug, Default, Deserialize)]
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
    /// See [`CircuitBreakerBuilder::cancelled_as_failure`].
    pub cancelled_as_failure: Option<bool>,
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
        if let Some(v) = self.cancelled_as_failure {
            b = b.cancelled_as_failure(v);
        }
        b
    }
}

/// A semaphore bulkhead's settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BulkheadConfig {
    /// See [`BulkheadBuilder::max_concurrent`].
    pub max_concurrent: Option<u32>,
    /// Callers that may wait (0 or absent: fail fast).
    pub max_waiters: u32,
    /// How long each may wait.
    #[serde(deserialize_with = "optional_duration")]
    pub max_wait: Option<Duration>,
}

impl BulkheadConfig {
    /// A builder named `name` with these settings.
    pub fn builder(&self, name: &str) -> BulkheadBuilder {
        let mut b = Bulkhead::builder().name(name.to_owned());
        if let Some(v) = self.max_concurrent {
            b = b.max_concurrent(v);
        }
        if self.max_waiters > 0 {
            b = b.queue(self.max_waiters, self.max_wait.unwrap_or_default());
        }
        b
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

/// A retry's settings.
#[derive(Clone, Debug, Default, Deserialize)]
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
}

/// Checks every breaker, bulkhead and retry of `config` by building it
/// (thread pools are not started): useful at start-up, to fail before
/// serving.
///
/// # Errors
///
/// The first [`ConfigError`] found.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    for (name, c) in &config.circuit_breakers {
        c.builder(name).build()?;
    }
    for (name, c) in &config.bulkheads {
        c.builder(name)
            .timer(crate::timer::ManualTimer::new())
            .build()?;
    }
    for (name, c) in &config.retries {
        c.builder(name)
            .timer(crate::timer::ManualTimer::new())
            .build()?;
    }
    Ok(())
}
