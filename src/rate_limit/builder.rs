//! The rate limit's builder.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::Quota;

use super::{GovClock, KeyedRateLimit, RateLimit, Settings};
use crate::clock::Clock;
use crate::config_error::ConfigError;
use crate::limits::MAX_DURATION;
use crate::name::Name;
use crate::timer::{default_timer, DynTimer, Timer};

/// Builds a [`RateLimit`] (or, per key, a [`KeyedRateLimit`]); every
/// setter says its default. Checked in [`build`](Self::build).
///
/// # Examples
///
/// ```
/// use palisade::rate_limit::RateLimit;
/// use std::time::Duration;
///
/// let err = RateLimit::builder().rate(0, Duration::from_secs(1)).build().unwrap_err();
/// assert_eq!(err.field(), "rate");
/// ```
#[must_use]
pub struct RateLimitBuilder {
    name: std::borrow::Cow<'static, str>,
    calls: u32,
    per: Duration,
    burst: Option<u32>,
    max_wait: Duration,
    timer: Option<Arc<dyn DynTimer>>,
    clock: Option<Arc<dyn Clock>>,
}

impl std::fmt::Debug for RateLimitBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitBuilder")
            .field("name", &self.name)
            .field("calls", &self.calls)
            .field("per", &self.per)
            .field("burst", &self.burst)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

impl Default for RateLimitBuilder {
    fn default() -> Self {
        Self {
            name: std::borrow::Cow::Borrowed("default"),
            calls: 100,
            per: Duration::from_secs(1),
            burst: None,
            max_wait: Duration::ZERO,
            timer: default_timer(),
            clock: None,
        }
    }
}

impl RateLimitBuilder {
    /// The name in errors. Default `"default"`.
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// `calls` per `per`, spread evenly: one call every `per / calls`
    /// (GCRA), with a burst of up to [`burst`](Self::burst) at once.
    /// Default 100 per second.
    pub fn rate(mut self, calls: u32, per: Duration) -> Self {
        self.calls = calls;
        self.per = per;
        self
    }

    /// How many calls may go at once after a quiet spell. Default: the
    /// rate's `calls` (all of a period's calls at once).
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// How long a call may wait for its turn before it is rejected.
    /// Default zero: rejected at once, with the time until the next turn.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The timer for the waits. Default: tokio's with the `tokio` feature;
    /// required for waits without it.
    pub fn timer(mut self, timer: impl Timer) -> Self {
        self.timer = Some(Arc::new(timer));
        self
    }

    /// The clock the rate is measured on. Default: the timer's clock
    /// (tokio's time for the default timer), else a monotonic clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    fn settings(self) -> Result<(Settings, Quota, GovClock), ConfigError> {
        let calls = NonZeroU32::new(self.calls)
            .ok_or_else(|| ConfigError::new("rate", self.calls, "must allow at least 1 call"))?;
        if self.per.is_zero() || self.per > MAX_DURATION {
            return Err(ConfigError::new(
                "rate",
                self.per,
                "the period must be more than zero and at most MAX_DURATION (7 days)",
            ));
        }
        let period = self.per / calls.get();
        if period.is_zero() {
            return Err(ConfigError::new(
                "rate",
                self.calls,
                "more than one call a nanosecond",
            ));
        }
        let burst = match self.burst {
            None => calls,
            Some(burst) => NonZeroU32::new(burst)
                .ok_or_else(|| ConfigError::new("burst", burst, "must be at least 1"))?,
        };
        if self.max_wait > MAX_DURATION {
            return Err(ConfigError::new(
                "max_wait",
                self.max_wait,
                "must be at most MAX_DURATION (7 days)",
            ));
        }
        if !self.max_wait.is_zero() && self.timer.is_none() {
            return Err(ConfigError::new(
                "timer",
                "none",
                "a rate limit that waits needs a timer: enable the `tokio` feature or set `.timer(...)`",
            ));
        }
        let quota = Quota::with_period(period)
            .expect("a period above zero")
            .allow_burst(burst);
        let clock = crate::timer::clock_for(self.clock, self.timer.as_deref());
        let name = Name::new(self.name);
        #[cfg(feature = "metrics")]
        metrics::describe_counter!(
            "palisade_rate_limit_rejected_total",
            metrics::Unit::Count,
            "Calls a rate limit turned away."
        );
        let settings = Settings {
            #[cfg(feature = "metrics")]
            rejected: metrics::counter!("palisade_rate_limit_rejected_total", "rate_limit" => name.as_str().to_owned()),
            name,
            max_wait: self.max_wait,
            timer: self.timer,
            clock: Arc::clone(&clock),
        };
        Ok((settings, quota, GovClock(clock)))
    }

    /// Checks the settings and builds the limit.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field: `rate` (no calls, a zero or too
    /// long period, more than a call a nanosecond), `burst` (0),
    /// `max_wait` (above `MAX_DURATION`), `timer` (a wait with no timer).
    pub fn build(self) -> Result<RateLimit, ConfigError> {
        let (settings, quota, clock) = self.settings()?;
        Ok(RateLimit::from_parts(settings, quota, clock))
    }

    /// As [`build`](Self::build), a limit per key (each key its own
    /// rate: a tenant, a route, a downstream's per-client quota).
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build).
    pub fn build_keyed<K>(self) -> Result<KeyedRateLimit<K>, ConfigError>
    where
        K: std::hash::Hash + Eq + Clone,
    {
        let (settings, quota, clock) = self.settings()?;
        Ok(KeyedRateLimit::from_parts(settings, quota, clock))
    }
}
