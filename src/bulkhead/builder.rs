//! The bulkhead's builder.

use std::sync::Arc;
use std::time::Duration;

use super::semaphore::Semaphore;
use super::{Bulkhead, Inner, MAX_CONCURRENT};
use crate::clock::Clock;
use crate::config_error::ConfigError;
use crate::limits::MAX_DURATION;
use crate::listeners::Listeners;
use crate::name::Name;
use crate::striped::Striped;
use crate::timer::{default_timer, DynTimer, Timer};

/// Builds a [`Bulkhead`]; every setter says its default. Checked in
/// [`build`](Self::build).
///
/// # Examples
///
/// ```
/// use palisade::bulkhead::Bulkhead;
///
/// let err = Bulkhead::builder().max_concurrent(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_concurrent");
/// ```
#[must_use]
pub struct BulkheadBuilder {
    name: std::borrow::Cow<'static, str>,
    max_concurrent: u32,
    max_waiters: u32,
    max_wait: Duration,
    timer: Option<Arc<dyn DynTimer>>,
    clock: Option<Arc<dyn Clock>>,
}

impl std::fmt::Debug for BulkheadBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkheadBuilder")
            .field("name", &self.name)
            .field("max_concurrent", &self.max_concurrent)
            .field("max_waiters", &self.max_waiters)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

impl Default for BulkheadBuilder {
    fn default() -> Self {
        Self {
            name: std::borrow::Cow::Borrowed("default"),
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            max_waiters: 0,
            max_wait: Duration::ZERO,
            timer: default_timer(),
            clock: None,
        }
    }
}

/// The default of [`BulkheadBuilder::max_concurrent`].
pub(crate) const DEFAULT_MAX_CONCURRENT: u32 = 25;

pub(super) fn check_limit(limit: u32) -> Result<(), ConfigError> {
    if limit == 0 || limit > MAX_CONCURRENT {
        return Err(ConfigError::new(
            "max_concurrent",
            limit,
            "must be at least 1 and at most MAX_CONCURRENT (2^30)",
        ));
    }
    Ok(())
}

impl BulkheadBuilder {
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

    /// Calls that may run at once, in `1..=MAX_CONCURRENT`. Default 25
    /// (resilience4j's).
    pub fn max_concurrent(mut self, limit: u32) -> Self {
        self.max_concurrent = limit;
        self
    }

    /// When full, let up to `max_waiters` callers wait in FIFO order, each
    /// for at most `max_wait` (in `(0, MAX_DURATION]`); callers beyond are
    /// rejected at once. Default: no queue, fail fast (Hystrix's
    /// semantics). `max_waiters` 0 means no queue.
    pub fn queue(mut self, max_waiters: u32, max_wait: Duration) -> Self {
        self.max_waiters = max_waiters;
        self.max_wait = max_wait;
        self
    }

    /// The timer for the maximum wait. Default: tokio's with the `tokio`
    /// feature; without it, a bulkhead that queues must be given one.
    pub fn timer(mut self, timer: impl Timer) -> Self {
        self.timer = Some(Arc::new(timer));
        self
    }

    /// The clock that times waits (for events and metrics). Default: the
    /// timer's own clock (tokio's time for the default timer, a
    /// `ManualTimer`'s time for one), else the crate's
    /// [`DefaultClock`](crate::clock::DefaultClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Checks every setting and builds the bulkhead.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad field and its value.
    pub fn build(self) -> Result<Bulkhead, ConfigError> {
        check_limit(self.max_concurrent)?;
        if self.max_waiters > 0 {
            if self.max_wait.is_zero() || self.max_wait > MAX_DURATION {
                return Err(ConfigError::new(
                    "max_wait",
                    self.max_wait,
                    "must be more than zero and at most MAX_DURATION (7 days) when callers queue",
                ));
            }
            if self.timer.is_none() {
                return Err(ConfigError::new(
                    "timer",
                    "none",
                    "a bulkhead that queues needs a timer for its maximum wait: \
                     enable the `tokio` feature or set `.timer(...)`",
                ));
            }
        }
        let name = Name::new(self.name.clone());
        let sem = Semaphore::new(self.max_concurrent);
        let clock = crate::timer::clock_for(self.clock, self.timer.as_deref());
        Ok(Bulkhead {
            inner: Arc::new(Inner {
                #[cfg(feature = "metrics")]
                metrics: super::metrics::BulkheadMetrics::new(name.as_str(), &sem),
                sem,
                max_waiters: self.max_waiters,
                max_wait: self.max_wait,
                timer: self.timer,
                clock,
                name,
                counts: Striped::new(),
                listeners: Listeners::new(),
            }),
        })
    }
}
