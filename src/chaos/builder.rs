//! The chaos builder.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use super::{threshold, Chaos, Inner};
use crate::config_error::ConfigError;
use crate::limits::MAX_DURATION;
use crate::name::Name;
use crate::timer::{default_timer, DynTimer, Timer};

/// No fault: the default of a [`ChaosBuilder`] (only latency, if any, is
/// injected).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFault;

/// What a fault makes in place of the call's outcome: implemented for
/// closures `Fn() -> Result<T, E>` and for [`NoFault`].
pub trait Fault<T, E> {
    /// The injected outcome.
    fn inject(&self) -> Result<T, E>;
}

impl<T, E, F: Fn() -> Result<T, E>> Fault<T, E> for F {
    fn inject(&self) -> Result<T, E> {
        self()
    }
}

impl<T, E> Fault<T, E> for NoFault {
    fn inject(&self) -> Result<T, E> {
        // A chaos with no fault has a fault rate of 0: never rolled.
        unreachable!("no fault is configured, so none is injected")
    }
}

/// Builds a [`Chaos`]; every setter says its default. Checked in
/// [`build`](Self::build).
///
/// # Examples
///
/// ```
/// use palisade::chaos::Chaos;
///
/// let err = Chaos::builder().fault(1.5, || Err::<(), _>("boom")).build().unwrap_err();
/// assert_eq!(err.field(), "fault_rate");
/// ```
#[must_use]
pub struct ChaosBuilder<F> {
    name: std::borrow::Cow<'static, str>,
    fault_rate: f64,
    fault: F,
    latency_rate: f64,
    latency: Duration,
    seed: Option<u64>,
    enabled: bool,
    timer: Option<Arc<dyn DynTimer>>,
}

impl Default for ChaosBuilder<NoFault> {
    fn default() -> Self {
        Self {
            name: std::borrow::Cow::Borrowed("default"),
            fault_rate: 0.0,
            fault: NoFault,
            latency_rate: 0.0,
            latency: Duration::ZERO,
            seed: None,
            enabled: false,
            timer: default_timer(),
        }
    }
}

impl<F> std::fmt::Debug for ChaosBuilder<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosBuilder")
            .field("name", &self.name)
            .field("fault_rate", &self.fault_rate)
            .field("latency_rate", &self.latency_rate)
            .field("latency", &self.latency)
            .field("seed", &self.seed)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl<F> ChaosBuilder<F> {
    /// Its name. Default `"default"`.
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// With probability `rate`, a call returns `fault()` instead of running
    /// (an `Err`, or a chosen outcome such as an `Ok(503)`). Default: none.
    pub fn fault<G>(self, rate: f64, fault: G) -> ChaosBuilder<G> {
        ChaosBuilder {
            name: self.name,
            fault_rate: rate,
            fault,
            latency_rate: self.latency_rate,
            latency: self.latency,
            seed: self.seed,
            enabled: self.enabled,
            timer: self.timer,
        }
    }

    /// With probability `rate` (of the calls not faulted), a call waits
    /// `latency` before it runs. Default: none.
    pub fn latency(mut self, rate: f64, latency: Duration) -> Self {
        self.latency_rate = rate;
        self.latency = latency;
        self
    }

    /// The dice's seed: the same seed, the same injections in the same
    /// order. Default: random per instance.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Whether it starts on. Default off ([`Chaos::enable`] switches).
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }

    /// The timer for injected latency. Default: tokio's with the `tokio`
    /// feature; required for latency without it.
    pub fn timer(mut self, timer: impl Timer) -> Self {
        self.timer = Some(Arc::new(timer));
        self
    }

    /// Checks the settings and builds it.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `fault_rate` or `latency_rate` (not in
    /// `[0, 1]`), `latency` (above `MAX_DURATION`), or `timer` (latency
    /// with no timer).
    pub fn build(self) -> Result<Chaos<F>, ConfigError> {
        for (field, rate) in [
            ("fault_rate", self.fault_rate),
            ("latency_rate", self.latency_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(ConfigError::new(
                    field,
                    rate,
                    "must be a probability in [0, 1]",
                ));
            }
        }
        if self.latency > MAX_DURATION {
            return Err(ConfigError::new(
                "latency",
                self.latency,
                "must be at most MAX_DURATION (7 days)",
            ));
        }
        if self.latency_rate > 0.0 && self.timer.is_none() {
            return Err(ConfigError::new(
                "timer",
                "none",
                "injected latency needs a timer: enable the `tokio` feature or set `.timer(...)`",
            ));
        }
        Ok(Chaos {
            inner: Arc::new(Inner {
                name: Name::new(self.name),
                enabled: AtomicBool::new(self.enabled),
                fault_below: if self.fault_rate > 0.0 {
                    threshold(self.fault_rate)
                } else {
                    0
                },
                latency_below: if self.latency_rate > 0.0 {
                    threshold(self.latency_rate)
                } else {
                    0
                },
                latency: self.latency,
                fault: self.fault,
                dice: AtomicU64::new(self.seed.unwrap_or_else(crate::random::seed)),
                timer: self.timer,
                faults: AtomicU64::new(0),
                delays: AtomicU64::new(0),
            }),
        })
    }
}
