//! Which outcomes are retried.

use std::time::Duration;

use crate::error::{BulkheadFull, CircuitOpen};

/// What to do with an attempt's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Return it to the caller.
    Accept,
    /// Retry after the backoff's delay.
    Retry,
    /// Retry after this delay (a `Retry-After` hint), capped by the retry's
    /// `max_hint`, instead of the backoff's.
    RetryAfter(Duration),
}

/// Decides, per attempt, whether to retry: any `Fn(&Result<T, E>) ->
/// Decision` is one, so predicates over the error and over the `Ok` value
/// (an HTTP 503 comes back as `Ok(response)`) are closures.
///
/// # Examples
///
/// ```
/// use palisade::retry::{Decision, Retry};
///
/// // Retry 503s that come back as Ok, and every error.
/// let retry = Retry::builder()
///     .policy(|outcome: &Result<u16, std::io::Error>| match outcome {
///         Ok(503) | Err(_) => Decision::Retry,
///         Ok(_) => Decision::Accept,
///     })
///     .timer(palisade::timer::ManualTimer::new())
///     .build()?;
/// # let _ = retry;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub trait RetryPolicy<T, E> {
    /// The decision for one attempt's outcome.
    fn decide(&self, outcome: &Result<T, E>) -> Decision;
}

impl<T, E, F: Fn(&Result<T, E>) -> Decision> RetryPolicy<T, E> for F {
    #[inline]
    fn decide(&self, outcome: &Result<T, E>) -> Decision {
        self(outcome)
    }
}

/// The default policy: retry every `Err`, except a rejection by a circuit
/// breaker or a bulkhead (retrying into an open breaker or a full bulkhead
/// only adds load), unless built with [`retry_rejections`](Self::retry_rejections).
/// `Ok` is never retried. The error type says what a rejection is through
/// [`Rejectable`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RetryErrors {
    rejections: bool,
}

impl RetryErrors {
    /// Retry rejections too (say, a breaker guarding one replica of many).
    pub fn retry_rejections(mut self, yes: bool) -> Self {
        self.rejections = yes;
        self
    }
}

impl<T, E: Rejectable> RetryPolicy<T, E> for RetryErrors {
    #[inline]
    fn decide(&self, outcome: &Result<T, E>) -> Decision {
        match outcome {
            Ok(_) => Decision::Accept,
            Err(e) if e.is_rejection() && !self.rejections => Decision::Accept,
            Err(_) => Decision::Retry,
        }
    }
}

/// Errors that may be a guard's rejection, for [`RetryErrors`]. Implement
/// it for your own error type in one line (`false` if it never carries
/// one), or give the retry a closure policy instead.
pub trait Rejectable {
    /// True if this error is a circuit breaker's or a bulkhead's rejection.
    fn is_rejection(&self) -> bool;
}

impl<E> Rejectable for crate::Error<E> {
    fn is_rejection(&self) -> bool {
        crate::Error::is_rejection(self)
    }
}

impl Rejectable for CircuitOpen {
    fn is_rejection(&self) -> bool {
        true
    }
}

impl Rejectable for BulkheadFull {
    fn is_rejection(&self) -> bool {
        true
    }
}

impl Rejectable for crate::error::RateLimited {
    fn is_rejection(&self) -> bool {
        true
    }
}

fn boxed_is_rejection(e: &(dyn std::error::Error + 'static)) -> bool {
    CircuitOpen::find_in(e).is_some()
        || BulkheadFull::find_in(e).is_some()
        || crate::error::RateLimited::find_in(e).is_some()
}

impl Rejectable for Box<dyn std::error::Error + Send + Sync> {
    fn is_rejection(&self) -> bool {
        boxed_is_rejection(self.as_ref())
    }
}

impl Rejectable for Box<dyn std::error::Error> {
    fn is_rejection(&self) -> bool {
        boxed_is_rejection(self.as_ref())
    }
}

macro_rules! never_a_rejection {
    ($($t:ty),*) => {$(
        impl Rejectable for $t {
            fn is_rejection(&self) -> bool {
                false
            }
        }
    )*};
}

never_a_rejection!(
    std::io::Error,
    String,
    &'static str,
    (),
    std::convert::Infallible,
    u16,
    u32,
    u64,
    i32,
    i64
);
