//! The hedge's builder.

use std::time::Duration;

use std::sync::Arc;

use super::latency::Learned;
use super::{Delay, Hedge};
use crate::clock::DefaultClock;
use crate::config_error::ConfigError;
use crate::limits::MAX_DURATION;
use crate::name::Name;
use crate::retry::{RetryBudget, RetryErrors};
use crate::timer::Timer;

/// Builds a [`Hedge`]; every setter says its default. Checked in
/// [`build`](Self::build).
///
/// # Examples
///
/// ```
/// use palisade::hedge::Hedge;
/// use palisade::timer::ManualTimer;
///
/// let err = Hedge::builder(ManualTimer::new()).max_attempts(1).build().unwrap_err();
/// assert_eq!(err.field(), "max_attempts");
/// ```
#[must_use]
#[derive(Debug)]
pub struct HedgeBuilder<Tm, P = RetryErrors> {
    name: std::borrow::Cow<'static, str>,
    delay: Duration,
    choice: Choice,
    max_attempts: u32,
    budget: Option<RetryBudget>,
    timer: Tm,
    policy: P,
}

/// The delay chosen besides the fixed one.
#[derive(Clone)]
enum Choice {
    Fixed,
    PerAttempt(Arc<dyn Fn(u32) -> Duration + Send + Sync>),
    Percentile {
        percentile: f64,
        period: Duration,
        min_points: u32,
    },
}

impl std::fmt::Debug for Choice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed => f.write_str("Fixed"),
            Self::PerAttempt(_) => f.write_str("PerAttempt"),
            Self::Percentile {
                percentile, period, ..
            } => write!(f, "Percentile({percentile}, {period:?})"),
        }
    }
}

impl<Tm: Timer + Clone> HedgeBuilder<Tm> {
    pub(super) fn new(timer: Tm) -> Self {
        Self {
            name: std::borrow::Cow::Borrowed("default"),
            delay: Duration::from_millis(100),
            choice: Choice::Fixed,
            max_attempts: 2,
            budget: None,
            timer,
            policy: RetryErrors::default(),
        }
    }
}

impl<Tm: Timer + Clone, P> HedgeBuilder<Tm, P> {
    /// Its name. Default `"default"`.
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// How long an attempt may go unanswered before the next starts beside
    /// it: a high percentile of the dependency's latency (its p95, say).
    /// Default 100 ms.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The delay before each hedge as a function of the attempt about to
    /// start (2 for the first hedge, 3 for the next...), for example
    /// growing: `|attempt| Duration::from_millis(50) * attempt`. Capped at
    /// `MAX_DURATION`.
    pub fn delay_per_attempt(
        mut self,
        delay: impl Fn(u32) -> Duration + Send + Sync + 'static,
    ) -> Self {
        self.choice = Choice::PerAttempt(Arc::new(delay));
        self
    }

    /// Learns the delay: the `percentile` (in `(0, 1]`, say 0.95) of the
    /// latencies of first attempts that answered during the last full
    /// `period`, as tower's hedge does, without a lock on the call path.
    /// Until a period has held [`min_data_points`](Self::min_data_points)
    /// latencies, and after a period with fewer, the last learned delay
    /// holds, and before any, the fixed [`delay`](Self::delay).
    pub fn delay_percentile(mut self, percentile: f64, period: Duration) -> Self {
        let min_points = match self.choice {
            Choice::Percentile { min_points, .. } => min_points,
            _ => 20,
        };
        self.choice = Choice::Percentile {
            percentile,
            period,
            min_points,
        };
        self
    }

    /// Latencies a period needs before its percentile is learned (with
    /// [`delay_percentile`](Self::delay_percentile)). Default 20.
    pub fn min_data_points(mut self, points: u32) -> Self {
        if let Choice::Percentile { min_points, .. } = &mut self.choice {
            *min_points = points;
        }
        self
    }

    /// Attempts in all, the first included (at least 2). Default 2.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// A budget shared with retries: each hedge takes a retry's share
    /// while it runs. Default: none.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Which outcomes are acceptable: those the policy accepts
    /// ([`Decision::Accept`](crate::retry::Decision::Accept)). Default
    /// [`RetryErrors`]: `Ok`, and errors that are a guard's rejection.
    pub fn policy<Q>(self, policy: Q) -> HedgeBuilder<Tm, Q> {
        HedgeBuilder {
            name: self.name,
            delay: self.delay,
            choice: self.choice,
            max_attempts: self.max_attempts,
            budget: self.budget,
            timer: self.timer,
            policy,
        }
    }

    /// Checks the settings and builds the hedge.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `max_attempts` (below 2 or above 16),
    /// `delay` (zero or above `MAX_DURATION`), `delay_percentile` (not in
    /// `(0, 1]`) or `delay_percentile.period`.
    pub fn build(self) -> Result<Hedge<Tm, P>, ConfigError> {
        if !(2..=16).contains(&self.max_attempts) {
            return Err(ConfigError::new(
                "max_attempts",
                self.max_attempts,
                "must be in [2, 16]: one attempt is no hedge",
            ));
        }
        if self.delay.is_zero() || self.delay > MAX_DURATION {
            return Err(ConfigError::new(
                "delay",
                self.delay,
                "must be more than zero and at most MAX_DURATION (7 days)",
            ));
        }
        let learned_or_chosen = match self.choice {
            Choice::Fixed => Delay::Fixed,
            Choice::PerAttempt(f) => Delay::PerAttempt(f),
            Choice::Percentile {
                percentile,
                period,
                min_points,
            } => {
                if !(percentile > 0.0 && percentile <= 1.0) {
                    return Err(ConfigError::new(
                        "delay_percentile",
                        percentile,
                        "must be in (0, 1]",
                    ));
                }
                if period.is_zero() || period > MAX_DURATION {
                    return Err(ConfigError::new(
                        "delay_percentile.period",
                        period,
                        "must be more than zero and at most MAX_DURATION (7 days)",
                    ));
                }
                let clock = self
                    .timer
                    .clock()
                    .unwrap_or_else(|| Arc::new(DefaultClock::new()));
                Delay::Learned(Arc::new(Learned::new(
                    percentile,
                    period.as_nanos() as u64,
                    u64::from(min_points),
                    clock,
                )))
            }
        };
        Ok(Hedge {
            name: Name::new(self.name),
            delay: self.delay,
            learned_or_chosen,
            max_attempts: self.max_attempts,
            budget: self.budget,
            timer: self.timer,
            policy: self.policy,
        })
    }
}
