//! The hedge's builder.

use std::time::Duration;

use super::Hedge;
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
    max_attempts: u32,
    budget: Option<RetryBudget>,
    timer: Tm,
    policy: P,
}

impl<Tm: Timer + Clone> HedgeBuilder<Tm> {
    pub(super) fn new(timer: Tm) -> Self {
        Self {
            name: std::borrow::Cow::Borrowed("default"),
            delay: Duration::from_millis(100),
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
    /// A [`ConfigError`] naming `max_attempts` (below 2 or above 16) or
    /// `delay` (zero or above `MAX_DURATION`).
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
        Ok(Hedge {
            name: Name::new(self.name),
            delay: self.delay,
            max_attempts: self.max_attempts,
            budget: self.budget,
            timer: self.timer,
            policy: self.policy,
        })
    }
}
