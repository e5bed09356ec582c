//! Circuit breaker configuration: the runtime-tunable [`Settings`] and
//! their validation (the builder is in `builder.rs`).

use std::time::Duration;

use super::state::Window;
use crate::config_error::ConfigError;
use crate::window::{CountWindow, HybridWindow, Threshold, TimeWindow};

/// The largest number of half-open trial calls.
pub const MAX_TRIAL_CALLS: u32 = 1024;

pub use crate::limits::MAX_DURATION;

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
    pub(crate) fn build(self) -> Result<Window, ConfigError> {
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
}

/// How the open duration grows after each failed half-open trial.
///
/// Open duration after `k` consecutive failed trials:
/// `min(open_duration * multiplier^k, max_duration)`, then, with jitter `j`,
/// drawn uniformly from `[d * (1 - j), d]` (downwards, so it never exceeds
/// the maximum). A half-open period that ends by its maximum wait with no
/// verdict is not a failed trial: it reopens for the same step.
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreaker, OpenBackoff};
/// use std::time::Duration;
///
/// let breaker = CircuitBreaker::builder()
///     .open_duration(Duration::from_secs(5))
///     .open_backoff(
///         OpenBackoff::exponential(2.0)
///             .max_duration(Duration::from_secs(120))
///             .jitter(0.2),
///     )
///     .build()?;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
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

impl OpenBackoff {
    /// Growth by `multiplier` per failed trial (at least 1), capped at 60 s,
    /// without jitter until [`jitter`](Self::jitter) says otherwise.
    pub fn exponential(multiplier: f64) -> Self {
        Self {
            multiplier,
            max: Duration::from_secs(60),
            jitter: 0.0,
        }
    }

    /// The longest open duration. Default 60 s; at least the open duration.
    #[must_use]
    pub fn max_duration(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// The fraction in `[0, 1]` of each open duration that is randomised
    /// (downwards). Default 0.
    #[must_use]
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }
}

/// The settings that can change while the breaker runs
/// ([`CircuitBreaker::reconfigure`](super::CircuitBreaker::reconfigure)) without losing its window.
///
/// The defaults are written on each builder setter. Start from
/// [`CircuitBreaker::settings`](super::CircuitBreaker::settings) or `Settings::default()` and change fields;
/// more fields may come, so it cannot be built field by field.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Settings {
    /// See [`CircuitBreakerBuilder::failure_rate_threshold`](super::CircuitBreakerBuilder::failure_rate_threshold).
    pub failure_rate_threshold: f64,
    /// See [`CircuitBreakerBuilder::slow_call_rate_threshold`](super::CircuitBreakerBuilder::slow_call_rate_threshold).
    pub slow_call_rate_threshold: f64,
    /// See [`CircuitBreakerBuilder::slow_call_duration`](super::CircuitBreakerBuilder::slow_call_duration).
    pub slow_call_duration: Option<Duration>,
    /// See [`CircuitBreakerBuilder::minimum_calls`](super::CircuitBreakerBuilder::minimum_calls).
    pub minimum_calls: u32,
    /// See [`CircuitBreakerBuilder::open_duration`](super::CircuitBreakerBuilder::open_duration).
    pub open_duration: Duration,
    /// See [`CircuitBreakerBuilder::open_backoff`](super::CircuitBreakerBuilder::open_backoff).
    pub open_backoff: Option<OpenBackoff>,
    /// See [`CircuitBreakerBuilder::half_open_max_concurrent`](super::CircuitBreakerBuilder::half_open_max_concurrent).
    pub half_open_max_concurrent: u32,
    /// See [`CircuitBreakerBuilder::half_open_trial_calls`](super::CircuitBreakerBuilder::half_open_trial_calls).
    pub half_open_trial_calls: u32,
    /// See [`CircuitBreakerBuilder::half_open_max_wait`](super::CircuitBreakerBuilder::half_open_max_wait).
    pub half_open_max_wait: Duration,
    /// See [`CircuitBreakerBuilder::abandoned`](super::CircuitBreakerBuilder::abandoned).
    pub abandoned: Abandoned,
    /// See [`CircuitBreakerBuilder::half_open_ramp`](super::CircuitBreakerBuilder::half_open_ramp).
    pub half_open_ramp: Option<HalfOpenRamp>,
}

/// Stages of the progressive half-open mode: the share of calls let
/// through in each, and how long each lasts.
///
/// In this mode, half-open does not run trial calls: stage by stage it
/// lets through a growing share of the calls (1 %, 5 %, 10 %, 25 %, 50 %
/// by [`standard`](Self::standard)), so a recovering dependency is not hit
/// by all its traffic at once and no single probe decides. Each stage is a
/// window generation of its own, recorded and judged as the closed state's
/// window is:
///
/// - the stage's calls are admitted evenly: of every `n` calls asking, the
///   share's part exactly, the first call of a stage always among them;
/// - as soon as the stage's window holds `minimum_calls` and reaches the
///   failure (or slow-call) threshold, the breaker reopens, with the open
///   backoff's next step, as a failed trial period does;
/// - when the stage's time is up: with at least `minimum_calls` recorded
///   it passes (the threshold was not reached) and the next stage starts,
///   or after the last, the breaker closes; with some calls but fewer than
///   `minimum_calls`, the stage runs another `stage_duration` and keeps its
///   window, so a quiet dependency gathers evidence before it is judged;
///   with no call at all it passes, as there was no traffic to protect.
///
/// `half_open_max_concurrent`, `half_open_trial_calls` and
/// `half_open_max_wait` are for the trial-call mode and do not apply.
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreaker, HalfOpenRamp};
/// use std::time::Duration;
///
/// let breaker = CircuitBreaker::builder()
///     .open_duration(Duration::from_secs(10))
///     .half_open_ramp(HalfOpenRamp::standard())
///     .build()?;
/// let custom = HalfOpenRamp::new([0.1, 0.5]).stage_duration(Duration::from_secs(2));
/// assert_eq!(custom.stages, [0.1, 0.5]);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct HalfOpenRamp {
    /// The share of calls admitted in each stage, each in `(0, 1]`, at
    /// most [`MAX_RAMP_STAGES`] stages.
    pub stages: Vec<f64>,
    /// How long each stage lasts; `None`: the base open duration.
    pub stage_duration: Option<Duration>,
}

/// The most stages a [`HalfOpenRamp`] may have.
pub const MAX_RAMP_STAGES: usize = 16;

impl HalfOpenRamp {
    /// Stages of these shares, each lasting the base open duration.
    pub fn new(stages: impl Into<Vec<f64>>) -> Self {
        Self {
            stages: stages.into(),
            stage_duration: None,
        }
    }

    /// 1 %, 5 %, 10 %, 25 %, 50 %, each lasting the base open duration.
    pub fn standard() -> Self {
        Self::new([0.01, 0.05, 0.1, 0.25, 0.5])
    }

    /// How long each stage lasts.
    #[must_use]
    pub fn stage_duration(mut self, duration: Duration) -> Self {
        self.stage_duration = Some(duration);
        self
    }
}

/// A [`HalfOpenRamp`] checked: shares in millionths and the stage length.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ramp {
    /// Each stage's share in millionths, in `1..=PPM`.
    pub(crate) stages: Vec<u64>,
    pub(crate) stage_nanos: u64,
}

/// A ramp's shares are counted in millionths.
pub(crate) const PPM: u64 = 1_000_000;

/// What the breaker makes of an abandoned call: one whose future or permit
/// was dropped before it ended (an outer timeout fired, the caller went
/// away). A hedge's losing attempts are never counted, whatever the
/// policy: losing a race says nothing about the dependency.
///
/// Which to choose: palisade's own timeouts inside the breaker (a
/// pipeline's attempt timeout, a `Timeout` the breaker wraps) end a call
/// as a recorded failure, so nothing is abandoned there. An abandonment
/// seen by the breaker comes from outside: from a caller that gave up,
/// which says little about the dependency when it is rare, and everything
/// when every call ends that way (a dependency that never answers, behind
/// a timeout outside the breaker, would otherwise never open it).
/// [`FailureAbove`](Self::FailureAbove) tells the two apart; it is not the
/// default only because a breaker cannot know what sits outside it, and
/// dropping a future is, by default, the caller's business (DESIGN
/// semantics 11).
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::{Abandoned, CircuitBreaker};
///
/// let breaker = CircuitBreaker::builder()
///     .abandoned(Abandoned::FailureAbove(0.5))
///     .build()?;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Abandoned {
    /// Not recorded; a half-open probe place is given back. The default.
    #[default]
    Ignore,
    /// Recorded as a failure.
    Failure,
    /// Recorded as a failure while abandoned calls are at least this share
    /// (in `(0, 1]`) of the calls that ended in the breaker's window (a
    /// window of the same shape, counting abandoned against ended calls,
    /// judged once it holds `minimum_calls`); else not recorded. A
    /// dependency that never answers, behind a timeout outside the
    /// breaker, opens it; an occasional caller that gives up does not.
    FailureAbove(f64),
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
            abandoned: Abandoned::Ignore,
            half_open_ramp: None,
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
    /// The progressive half-open mode, if chosen.
    pub(crate) ramp: Option<Ramp>,
}

impl Settings {
    /// Checks every field; `max_calls` is the window's capacity in calls.
    pub(crate) fn validate(self, max_calls: u32) -> Result<Validated, ConfigError> {
        let failure = Threshold::named("failure_rate_threshold", self.failure_rate_threshold)?;
        let slow = Threshold::named("slow_call_rate_threshold", self.slow_call_rate_threshold)?;
        let slow_nanos = match self.slow_call_duration {
            None => u64::MAX,
            Some(d) => bounded_nanos("slow_call_duration", d)?,
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
        let open_nanos = bounded_nanos("open_duration", self.open_duration)?;
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
            if b.max < self.open_duration || b.max > MAX_DURATION {
                return Err(ConfigError::new(
                    "open_backoff.max",
                    b.max,
                    "must be at least open_duration and at most MAX_DURATION (7 days)",
                ));
            }
        }
        if self.half_open_trial_calls == 0 || self.half_open_trial_calls > MAX_TRIAL_CALLS {
            return Err(ConfigError::new(
                "half_open_trial_calls",
                self.half_open_trial_calls,
                "must be in 1..=1024",
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
        let half_open_wait_nanos = bounded_nanos("half_open_max_wait", self.half_open_max_wait)?;
        if let Abandoned::FailureAbove(share) = self.abandoned {
            Threshold::named("abandoned.failure_above", share)?;
        }
        let ramp = match &self.half_open_ramp {
            Some(ramp) => Some(ramp.validate(open_nanos)?),
            None => None,
        };
        Ok(Validated {
            ramp,
            settings: self,
            failure,
            slow,
            slow_nanos,
            open_nanos,
            half_open_wait_nanos,
        })
    }
}

impl HalfOpenRamp {
    fn validate(&self, open_nanos: u64) -> Result<Ramp, ConfigError> {
        if self.stages.is_empty() || self.stages.len() > MAX_RAMP_STAGES {
            return Err(ConfigError::new(
                "half_open_ramp",
                &self.stages,
                "must have 1 to 16 stages",
            ));
        }
        let mut stages = Vec::with_capacity(self.stages.len());
        for &share in &self.stages {
            if !(share > 0.0 && share <= 1.0) {
                return Err(ConfigError::new(
                    "half_open_ramp",
                    &self.stages,
                    "every stage's share must be in (0, 1]",
                ));
            }
            // At least one millionth: a share this small still admits.
            stages.push(((share * PPM as f64).round() as u64).clamp(1, PPM));
        }
        let stage_nanos = match self.stage_duration {
            Some(d) => bounded_nanos("half_open_ramp.stage_duration", d)?,
            None => open_nanos,
        };
        Ok(Ramp {
            stages,
            stage_nanos,
        })
    }
}

impl Ramp {
    /// True if the `n`-th call (from 0) asking in a stage of `share`
    /// millionths is let through: exactly `share` of every million, evenly
    /// spread, the first always.
    #[inline]
    pub(crate) fn admits(n: u64, share: u64) -> bool {
        (n % PPM) * share % PPM < share
    }
}

impl Validated {
    /// The open duration after `failed_trials` consecutive failed half-open
    /// periods, in nanoseconds (see [`OpenBackoff`]); `rng` is the jitter
    /// generator's state.
    pub(crate) fn open_nanos_after(&self, failed_trials: u32, rng: &mut u64) -> u64 {
        let Some(backoff) = self.settings.open_backoff else {
            return self.open_nanos;
        };
        let max = backoff.max.as_nanos() as f64;
        let exponent = i32::try_from(failed_trials).unwrap_or(i32::MAX);
        let grown = (self.open_nanos as f64 * backoff.multiplier.powi(exponent)).min(max);
        let cut = grown * backoff.jitter * crate::random::unit_interval(crate::random::next(rng));
        ((grown - cut) as u64).max(1)
    }
}

/// A duration in `(0, MAX_DURATION]`, in nanoseconds.
fn bounded_nanos(field: &'static str, d: Duration) -> Result<u64, ConfigError> {
    if d.is_zero() {
        return Err(ConfigError::new(field, d, "must be above zero"));
    }
    if d > MAX_DURATION {
        return Err(ConfigError::new(
            field,
            d,
            "must be at most MAX_DURATION (7 days)",
        ));
    }
    Ok(d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(settings: Settings) -> ConfigError {
        settings.validate(100).unwrap_err()
    }

    #[test]
    fn a_ramp_admits_exactly_its_share_of_every_million_and_the_first_call() {
        for share in [1, 7, 10_000, 333_333, 500_000, 999_999, PPM] {
            let admitted = (0..PPM).filter(|&n| Ramp::admits(n, share)).count();
            assert_eq!(admitted as u64, share);
            assert!(Ramp::admits(0, share));
            assert!(Ramp::admits(PPM, share), "and again from the next million");
        }
        assert!(Ramp::admits(u64::MAX, PPM), "no overflow at the end");
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
                    open_backoff: Some(OpenBackoff::exponential(f64::NAN)),
                    ..base()
                },
                "open_backoff.multiplier",
            ),
            (
                Settings {
                    open_backoff: Some(OpenBackoff::exponential(2.0).jitter(1.5)),
                    ..base()
                },
                "open_backoff.jitter",
            ),
            (
                Settings {
                    open_backoff: Some(
                        OpenBackoff::exponential(2.0).max_duration(Duration::from_secs(1)),
                    ),
                    ..base()
                },
                "open_backoff.max",
            ),
            (
                Settings {
                    slow_call_duration: Some(Duration::ZERO),
                    ..base()
                },
                "slow_call_duration",
            ),
            (
                Settings {
                    half_open_max_wait: MAX_DURATION + Duration::from_nanos(1),
                    ..base()
                },
                "half_open_max_wait",
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

    #[test]
    fn open_duration_grows_exactly_and_is_capped() {
        let settings = Settings {
            open_duration: Duration::from_secs(1),
            open_backoff: Some(OpenBackoff::exponential(1.5).max_duration(Duration::from_secs(3))),
            ..Settings::default()
        };
        let v = settings.validate(100).unwrap();
        let mut rng = 0;
        let secs: Vec<f64> = (0..5)
            .map(|k| v.open_nanos_after(k, &mut rng) as f64 / 1e9)
            .collect();
        assert_eq!(secs, [1.0, 1.5, 2.25, 3.0, 3.0]);
        assert_eq!(v.open_nanos_after(u32::MAX, &mut rng), 3_000_000_000);
    }
}
