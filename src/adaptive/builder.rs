//! The adaptive limit's builder.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::Arc;

use parking_lot::Mutex;

use super::algorithm::{Algorithm, Estimator};
use super::{AdaptiveLimit, Inner};
use crate::clock::{Clock, MonotonicClock};
use crate::config_error::ConfigError;
use crate::name::Name;

/// The most calls a limit may allow at once.
pub const MAX_LIMIT: u32 = 1 << 20;

/// Builds an [`AdaptiveLimit`]; every setter says its default. Checked in
/// [`build`](Self::build).
///
/// # Examples
///
/// ```
/// use palisade::adaptive::AdaptiveLimit;
///
/// let err = AdaptiveLimit::builder().min_limit(10).initial_limit(5).build().unwrap_err();
/// assert_eq!(err.field(), "initial_limit");
/// ```
#[must_use]
pub struct AdaptiveLimitBuilder {
    name: std::borrow::Cow<'static, str>,
    algorithm: Algorithm,
    initial: u32,
    min: u32,
    max: u32,
    window: u32,
    clock: Option<Arc<dyn Clock>>,
}

impl std::fmt::Debug for AdaptiveLimitBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveLimitBuilder")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("initial", &self.initial)
            .field("min", &self.min)
            .field("max", &self.max)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Default for AdaptiveLimitBuilder {
    fn default() -> Self {
        Self {
            name: std::borrow::Cow::Borrowed("default"),
            algorithm: Algorithm::default(),
            initial: 20,
            min: 1,
            max: 1000,
            window: 50,
            clock: None,
        }
    }
}

impl AdaptiveLimitBuilder {
    /// The name in errors and metrics. Default `"default"`.
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// How the limit follows the dependency. Default
    /// [`Gradient`](super::Gradient) with its defaults.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The limit before any sample. Default 20 (Netflix's).
    pub fn initial_limit(mut self, limit: u32) -> Self {
        self.initial = limit;
        self
    }

    /// The floor: the limit never goes below it. Default 1.
    pub fn min_limit(mut self, limit: u32) -> Self {
        self.min = limit;
        self
    }

    /// The ceiling: the limit never goes above it. Default 1000.
    pub fn max_limit(mut self, limit: u32) -> Self {
        self.max = limit;
        self
    }

    /// How many completed calls make one window (the limit moves once per
    /// window). Default 50.
    pub fn window(mut self, samples: u32) -> Self {
        self.window = samples;
        self
    }

    /// The clock that times the calls. Default: a [`MonotonicClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Checks the settings and builds the limit.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field: `min_limit` of 0, `max_limit`
    /// below `min_limit` or above [`MAX_LIMIT`], `initial_limit` outside
    /// `[min_limit, max_limit]`, `window` outside `[1, 10 000]`.
    pub fn build(self) -> Result<AdaptiveLimit, ConfigError> {
        if self.min == 0 {
            return Err(ConfigError::new(
                "min_limit",
                self.min,
                "must be at least 1",
            ));
        }
        if self.max < self.min || self.max > MAX_LIMIT {
            return Err(ConfigError::new(
                "max_limit",
                self.max,
                "must be in [min_limit, 2^20]",
            ));
        }
        if !(self.min..=self.max).contains(&self.initial) {
            return Err(ConfigError::new(
                "initial_limit",
                self.initial,
                "must be in [min_limit, max_limit]",
            ));
        }
        if !(1..=10_000).contains(&self.window) {
            return Err(ConfigError::new(
                "window",
                self.window,
                "must be in [1, 10000]",
            ));
        }
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(MonotonicClock::new()));
        let name = Name::new(self.name);
        Ok(AdaptiveLimit {
            inner: Arc::new(Inner {
                #[cfg(feature = "metrics")]
                instruments: super::metrics::Instruments::new(name.as_str()),
                name,
                limit: AtomicU32::new(self.initial),
                in_flight: AtomicU32::new(0),
                window: AtomicU64::new(0),
                drops: AtomicU32::new(0),
                peak: AtomicU32::new(0),
                window_samples: self.window,
                clock,
                estimator: Mutex::new(Estimator::new(
                    self.algorithm,
                    self.initial,
                    self.min,
                    self.max,
                )),
                rejections: AtomicU64::new(0),
                drops_total: AtomicU64::new(0),
                windows: AtomicU64::new(0),
                probing: AtomicBool::new(false),
            }),
        })
    }
}
