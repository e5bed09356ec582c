//! Timeout: an operation that takes too long is dropped, and its caller
//! gets [`TimedOut`].
//!
//! Dropping the operation's future really stops its work (Rust futures do
//! nothing unless polled) and releases whatever it holds: a bulkhead place,
//! a circuit breaker probe, a connection. The deadline starts when the
//! operation starts running: the first poll of the wrapper (`call` in
//! tower), not when the wrapper was made. When the operation and the timer
//! are both ready at one poll, the operation's result wins. Inside a
//! circuit breaker, a timeout is an `Err` and counts as a failure.
//!
//! The duration is fixed per [`Timeout`], or chosen per call
//! ([`Timeout::call_with`], or a function of the request in tower);
//! `None` means no timeout. Time goes through the [`Timer`] trait, so any
//! runtime (or a [`ManualTimer`](crate::timer::ManualTimer) in tests) works.
//!
//! # Examples
//!
//! ```
//! use palisade::timeout::Timeout;
//! use palisade::timer::ManualTimer;
//! use std::time::Duration;
//!
//! let timeout = Timeout::builder()
//!     .duration(Duration::from_secs(1))
//!     .timer(ManualTimer::new())
//!     .build()?;
//! let reply = futures::executor::block_on(timeout.call(|| async { Ok::<_, std::io::Error>("fast") }));
//! assert_eq!(reply.unwrap(), "fast");
//! # Ok::<(), palisade::ConfigError>(())
//! ```

pub mod error;
pub mod future;
#[cfg(feature = "tower")]
mod layer;

use std::future::Future;
use std::time::Duration;

pub use error::TimedOut;
pub use future::TimeoutCall;
#[cfg(feature = "tower")]
pub use future::TimeoutResponse;
#[cfg(feature = "tower")]
pub use layer::{Fixed, PerRequest, TimeoutLayer, TimeoutService};

use crate::config_error::ConfigError;
use crate::limits::MAX_DURATION;
use crate::name::Name;
use crate::timer::Timer;

/// A timeout: a duration (or none) and the timer that measures it. Cheap to
/// clone if the timer is.
#[derive(Clone, Debug)]
pub struct Timeout<T> {
    duration: Option<Duration>,
    timer: T,
    name: Name,
}

#[cfg(feature = "tokio")]
impl Timeout<crate::timer::TokioTimer> {
    /// A timeout of `duration` on tokio's timer, named `"timeout"`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `duration` if it is zero or above
    /// `MAX_DURATION`.
    pub fn new(duration: Duration) -> Result<Self, ConfigError> {
        Timeout::builder()
            .duration(duration)
            .timer(crate::timer::TokioTimer)
            .build()
    }
}

impl Timeout<()> {
    /// A builder: name, duration, timer.
    pub fn builder() -> TimeoutBuilder<()> {
        TimeoutBuilder {
            name: std::borrow::Cow::Borrowed("timeout"),
            duration: None,
            timer: (),
        }
    }
}

/// Builds a [`Timeout`].
#[derive(Debug)]
#[must_use]
pub struct TimeoutBuilder<T> {
    name: std::borrow::Cow<'static, str>,
    duration: Option<Duration>,
    timer: T,
}

impl<T> TimeoutBuilder<T> {
    /// The name used in errors. Default `"timeout"`.
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// The time an operation has, in `(0, MAX_DURATION]`. Default: none
    /// (calls are not limited unless a per-call duration is given).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// The timer (required: `TokioTimer` on tokio, `ManualTimer` in tests,
    /// or your runtime's).
    pub fn timer<U: Timer>(self, timer: U) -> TimeoutBuilder<U> {
        TimeoutBuilder {
            name: self.name,
            duration: self.duration,
            timer,
        }
    }
}

impl<T: Timer> TimeoutBuilder<T> {
    /// Checks the duration and builds the timeout.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `duration` if it is zero or above
    /// `MAX_DURATION`.
    pub fn build(self) -> Result<Timeout<T>, ConfigError> {
        crate::limits::check_duration("duration", self.duration)?;
        Ok(Timeout {
            duration: self.duration,
            timer: self.timer,
            name: Name::new(self.name.clone()),
        })
    }
}

impl<T: Timer> Timeout<T> {
    /// The configured duration (`None`: no limit).
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    /// The timeout's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// A sleep of the configured duration, started now (`None` without
    /// one), for guards that compose the timeout (the pipeline).
    pub(crate) fn start(&self) -> Option<T::Sleep> {
        self.duration.map(|d| self.timer.sleep(d))
    }

    /// The error of this timeout firing.
    pub(crate) fn fired(&self) -> TimedOut {
        TimedOut::new(self.name.clone(), self.duration.unwrap_or_default())
    }

    /// Runs the future `make()` returns, dropping it if it takes longer
    /// than the configured duration, counted from the first poll.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`](crate::Error::TimedOut) when time ran out,
    /// [`Error::Operation`](crate::Error::Operation) with the operation's
    /// own error.
    #[inline]
    pub fn call<F, Fut, U, E>(&self, make: F) -> TimeoutCall<'_, T, F, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<U, E>>,
    {
        self.call_with(self.duration, make)
    }

    /// As [`call`](Self::call) with a duration chosen for this call
    /// (from the request, or a deadline header); `None` means no limit.
    /// A duration above `MAX_DURATION` is treated as `MAX_DURATION`.
    #[inline]
    pub fn call_with<F, Fut, U, E>(
        &self,
        duration: Option<Duration>,
        make: F,
    ) -> TimeoutCall<'_, T, F, Fut>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<U, E>>,
    {
        TimeoutCall::new(
            &self.timer,
            &self.name,
            duration.map(|d| d.min(MAX_DURATION)),
            make,
        )
    }
}
