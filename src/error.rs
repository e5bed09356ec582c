//! The errors palisade returns: [`ConfigError`] from builders, and the one
//! flat [`Error`] a guarded call returns, composed of each primitive's own
//! rejection type ([`CircuitOpen`], [`BulkheadFull`], ...).

use std::fmt;

pub use crate::bulkhead::{BulkheadFull, JobPanicked};
pub use crate::circuit_breaker::CircuitOpen;
pub use crate::config_error::ConfigError;
pub use crate::rate_limit::RateLimited;
pub use crate::timeout::TimedOut;

/// The one error a guarded call returns: either a guard rejected the call,
/// or the operation itself failed.
///
/// It stays flat however many guards are stacked, and is
/// `#[non_exhaustive]`: new guards add variants.
///
/// As an [`std::error::Error`] it follows the std convention of showing each
/// piece of a chain once: `Operation` is transparent (it displays the
/// operation's error and returns that error's source). A guard's error
/// displays which guard of which dependency stopped the call, and returns
/// its details (for example a [`CircuitOpen`]: the state and when the next
/// trial comes) as its source, so `CircuitOpen::find_in` finds it in
/// `BoxError` stacks and a printed chain reads as one sentence:
/// `circuit breaker `inventory` rejected the call: the circuit is open; next trial in 1.9s`.
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreaker, State};
/// use palisade::Error;
///
/// let breaker = CircuitBreaker::builder().name("inventory").build()?;
/// breaker.transition_to(State::ForcedOpen);
/// let err = breaker.call_sync(|| Ok::<(), std::io::Error>(())).unwrap_err();
/// assert_eq!(err.to_string(), "circuit breaker `inventory` rejected the call");
/// let details = std::error::Error::source(&err).unwrap();
/// assert_eq!(details.to_string(), "the circuit is forced open");
/// # Ok::<(), palisade::ConfigError>(())
/// ```
///
/// ```
/// use palisade::Error;
///
/// fn describe(err: &Error<std::io::Error>) -> String {
///     match err {
///         Error::CircuitOpen(open) => format!("skipped: {open}"),
///         Error::Operation(io) => format!("failed: {io}"),
///         _ => "other guard".to_string(),
///     }
/// }
/// let err = Error::Operation(std::io::Error::other("boom"));
/// assert_eq!(describe(&err), "failed: boom");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<E> {
    /// A circuit breaker rejected the call without running the operation.
    #[error("circuit breaker `{}` rejected the call", .0.name())]
    CircuitOpen(#[source] CircuitOpen),
    /// A bulkhead rejected the call without running the operation: full,
    /// or the wait for a place timed out (or, a thread pool, shut down).
    #[error("{} `{}` rejected the call", .0.guard(), .0.name())]
    BulkheadFull(#[source] BulkheadFull),
    /// A rate limit rejected the call without running the operation; it
    /// says when the next call may go ([`RateLimited::retry_after`]).
    #[error("rate limit `{}` rejected the call", .0.name())]
    RateLimited(#[source] RateLimited),
    /// The operation ran out of time and was dropped.
    #[error("timeout `{}` stopped the call", .0.name())]
    TimedOut(#[source] TimedOut),
    /// The operation panicked on a thread pool's worker (the worker
    /// survived).
    #[error("the call panicked on thread pool `{}`", .0.pool())]
    Panicked(#[source] JobPanicked),
    /// The guards for the call could not be made from configuration (a
    /// client's per-host pipeline, made on the host's first call; see
    /// `palisade::client`). The operation did not run.
    #[error("the call's guards could not be made from configuration")]
    Misconfigured(#[source] ConfigError),
    /// The operation ran and returned this error.
    #[error(transparent)]
    Operation(E),
}

impl<E> Error<E> {
    /// True if a circuit breaker rejected the call.
    pub fn is_circuit_open(&self) -> bool {
        matches!(self, Self::CircuitOpen(_))
    }

    /// True if a bulkhead rejected the call.
    pub fn is_bulkhead_full(&self) -> bool {
        matches!(self, Self::BulkheadFull(_))
    }

    /// True if a rate limit rejected the call.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::RateLimited(_))
    }

    /// True if the operation ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut(_))
    }

    /// True if a guard rejected the call (the operation never ran).
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Self::CircuitOpen(_) | Self::BulkheadFull(_) | Self::RateLimited(_)
        )
    }

    /// The operation's own error, if that is what this is.
    pub fn into_operation(self) -> Option<E> {
        match self {
            Self::Operation(e) => Some(e),
            _ => None,
        }
    }

    /// A reference to the operation's own error, if that is what this is.
    pub fn operation(&self) -> Option<&E> {
        match self {
            Self::Operation(e) => Some(e),
            _ => None,
        }
    }
}

impl<E> Error<Error<E>> {
    /// One level less: a guard's error around another guard's result (say a
    /// breaker around a timeout) becomes the flat error of the inner one.
    /// The [`Pipeline`](crate::pipeline::Pipeline) does this for you.
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::Error;
    ///
    /// let nested: Error<Error<std::io::Error>> =
    ///     Error::Operation(Error::Operation(std::io::Error::other("boom")));
    /// assert!(matches!(nested.flatten(), Error::Operation(_)));
    /// ```
    pub fn flatten(self) -> Error<E> {
        match self {
            Self::Operation(inner) => inner,
            Self::CircuitOpen(open) => Error::CircuitOpen(open),
            Self::BulkheadFull(full) => Error::BulkheadFull(full),
            Self::RateLimited(limited) => Error::RateLimited(limited),
            Self::TimedOut(timed_out) => Error::TimedOut(timed_out),
            Self::Panicked(panicked) => Error::Panicked(panicked),
            Self::Misconfigured(error) => Error::Misconfigured(error),
        }
    }
}

/// The flat kinds of [`Error`], for code that has only an erased error
/// (`tower::BoxError`, axum's `HandleErrorLayer`): see [`kind_of`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A circuit breaker rejected the call.
    CircuitOpen,
    /// A bulkhead (or a thread pool, or an adaptive limit) rejected the
    /// call.
    BulkheadFull,
    /// A rate limit rejected the call.
    RateLimited,
    /// The call timed out.
    TimedOut,
    /// The call panicked on a thread pool.
    Panicked,
    /// The call's guards could not be made from configuration.
    Misconfigured,
    /// Anything else: the operation's own error.
    Operation,
}

impl<E> Error<E> {
    /// The flat kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::CircuitOpen(_) => ErrorKind::CircuitOpen,
            Self::BulkheadFull(_) => ErrorKind::BulkheadFull,
            Self::RateLimited(_) => ErrorKind::RateLimited,
            Self::TimedOut(_) => ErrorKind::TimedOut,
            Self::Panicked(_) => ErrorKind::Panicked,
            Self::Misconfigured(_) => ErrorKind::Misconfigured,
            Self::Operation(_) => ErrorKind::Operation,
        }
    }
}

/// Classifies any error, erased or not, into the flat kinds: the first
/// palisade rejection, timeout or panic found in it or its chain of sources,
/// else [`ErrorKind::Operation`].
///
/// # Examples
///
/// ```
/// use palisade::error::{kind_of, ErrorKind};
/// use palisade::circuit_breaker::{CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::builder().build()?;
/// breaker.transition_to(State::ForcedOpen);
/// let err = breaker.call_sync(|| Ok::<(), std::io::Error>(())).unwrap_err();
/// let boxed: Box<dyn std::error::Error + Send + Sync> = err.into();
/// assert_eq!(kind_of(boxed.as_ref()), ErrorKind::CircuitOpen);
///
/// let other: Box<dyn std::error::Error + Send + Sync> = "connection refused".into();
/// assert_eq!(kind_of(other.as_ref()), ErrorKind::Operation);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub fn kind_of(error: &(dyn std::error::Error + 'static)) -> ErrorKind {
    std::iter::successors(Some(error), |e| e.source())
        .find_map(|e| {
            if e.is::<CircuitOpen>() {
                Some(ErrorKind::CircuitOpen)
            } else if e.is::<BulkheadFull>() {
                Some(ErrorKind::BulkheadFull)
            } else if e.is::<RateLimited>() {
                Some(ErrorKind::RateLimited)
            } else if e.is::<TimedOut>() {
                Some(ErrorKind::TimedOut)
            } else if e.is::<JobPanicked>() {
                Some(ErrorKind::Panicked)
            } else if e.is::<ConfigError>() {
                Some(ErrorKind::Misconfigured)
            } else {
                None
            }
        })
        .unwrap_or(ErrorKind::Operation)
}

/// A duration as people write it: three significant digits at most, in
/// the largest unit that keeps it at 1 or more (`1.9s`, `250ms`, `12µs`,
/// `1.5min`, `2h`), never a float's noise (`1.899999997s`).
///
/// # Examples
///
/// ```
/// use palisade::error::HumanDuration;
/// use std::time::Duration;
///
/// assert_eq!(HumanDuration(Duration::from_nanos(1_899_999_997)).to_string(), "1.9s");
/// assert_eq!(HumanDuration(Duration::from_millis(250)).to_string(), "250ms");
/// assert_eq!(HumanDuration(Duration::from_secs(90)).to_string(), "1.5min");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub std::time::Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(f64, &str); 6] = [
            (3_600e9, "h"),
            (60e9, "min"),
            (1e9, "s"),
            (1e6, "ms"),
            (1e3, "µs"),
            (1.0, "ns"),
        ];
        let nanos = self.0.as_nanos() as f64;
        let mut unit = UNITS
            .iter()
            .position(|&(scale, _)| nanos >= scale)
            .unwrap_or(UNITS.len() - 1);
        let mut value = nanos / UNITS[unit].0;
        let three_digits = |value: f64| {
            let decimals = if value >= 99.95 {
                0
            } else if value >= 9.995 {
                1
            } else {
                2
            };
            format!("{value:.decimals$}")
        };
        let mut text = three_digits(value);
        // 999.9 ms reads 1s: a thousand of a unit below seconds is one of
        // the next.
        if unit >= 3 && text == "1000" {
            unit -= 1;
            value /= 1000.0;
            text = three_digits(value);
        }
        let text = if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.')
        } else {
            &text
        };
        write!(f, "{text}{}", UNITS[unit].1)
    }
}

/// The first `T` in `error` or its chain of sources.
pub(crate) fn find_in<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    std::iter::successors(Some(error), |e| e.source()).find_map(|e| e.downcast_ref::<T>())
}

impl<E> From<TimedOut> for Error<E> {
    fn from(timed_out: TimedOut) -> Self {
        Self::TimedOut(timed_out)
    }
}

impl<E> From<BulkheadFull> for Error<E> {
    fn from(full: BulkheadFull) -> Self {
        Self::BulkheadFull(full)
    }
}

impl<E> From<RateLimited> for Error<E> {
    fn from(limited: RateLimited) -> Self {
        Self::RateLimited(limited)
    }
}

impl<E> From<CircuitOpen> for Error<E> {
    fn from(open: CircuitOpen) -> Self {
        Self::CircuitOpen(open)
    }
}

#[cfg(test)]
mod tests {
    use super::HumanDuration;
    use std::time::Duration;

    fn human(nanos: u64) -> String {
        HumanDuration(Duration::from_nanos(nanos)).to_string()
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(0), "0ns");
        assert_eq!(human(7), "7ns");
        assert_eq!(human(12_345), "12.3µs");
        assert_eq!(human(999_900_000), "1s", "rounded before the unit");
        assert_eq!(human(1_899_999_997), "1.9s");
        assert_eq!(human(2_000_000_000), "2s");
        assert_eq!(human(250_000_000), "250ms");
        assert_eq!(human(90_000_000_000), "1.5min");
        assert_eq!(human(7_200_000_000_000), "2h");
        assert_eq!(human(59_999_000_000), "60s");
        assert_eq!(human(100_000_000_000), "1.67min");
        let max = HumanDuration(Duration::MAX).to_string();
        assert!(
            max.starts_with("5124095576030") && max.ends_with('h'),
            "{max}"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_duration_is_a_number_and_a_unit(secs: u64, nanos in 0u32..1_000_000_000) {
            let text = HumanDuration(Duration::new(secs, nanos)).to_string();
            let unit = text.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
            proptest::prop_assert!(["h", "min", "s", "ms", "µs", "ns"].contains(&unit), "{}", text);
            let number = &text[..text.len() - unit.len()];
            proptest::prop_assert!(number.parse::<f64>().is_ok(), "{}", text);
        }
    }
}
