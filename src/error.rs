//! The errors parapet returns: [`ConfigError`] from builders, and the one
//! flat [`Error`] a guarded call returns.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A builder or constructor was given a value it cannot use.
///
/// It names the field and the value, and says why.
///
/// # Examples
///
/// ```
/// use parapet::window::CountWindow;
///
/// let err = CountWindow::new(0).unwrap_err();
/// assert_eq!(err.field(), "window_size");
/// assert_eq!(err.value(), "0");
/// assert!(err.to_string().contains("window_size"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    value: String,
    reason: &'static str,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, value: impl fmt::Debug, reason: &'static str) -> Self {
        Self {
            field,
            value: format!("{value:?}"),
            reason,
        }
    }

    /// The name of the field (the builder setter) that was rejected.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rejected value, as written by `Debug`.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Why the value was rejected.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid `{}` = {}: {}",
            self.field, self.value, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

/// A call was rejected by a circuit breaker that is open (or half-open with
/// every probe place taken, or forced open).
///
/// # Examples
///
/// ```
/// use parapet::circuit_breaker::{CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::builder().name("users").build().unwrap();
/// breaker.transition_to(State::ForcedOpen);
/// let err = breaker.try_acquire().unwrap_err();
/// assert_eq!(err.name(), "users");
/// assert_eq!(err.state(), State::ForcedOpen);
/// assert_eq!(err.retry_after(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CircuitOpen {
    pub(crate) name: Arc<str>,
    pub(crate) state: crate::circuit_breaker::State,
    pub(crate) retry_after: Option<Duration>,
}

impl CircuitOpen {
    /// The name of the breaker that rejected the call.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The breaker's state when it rejected the call.
    pub fn state(&self) -> crate::circuit_breaker::State {
        self.state
    }

    /// Finds a `CircuitOpen` in an error or its chain of sources: for
    /// `BoxError` stacks (axum's `HandleErrorLayer`, `tower::BoxError`),
    /// where the concrete error type is erased.
    ///
    /// # Examples
    ///
    /// ```
    /// use parapet::circuit_breaker::{CircuitBreaker, State};
    /// use parapet::CircuitOpen;
    ///
    /// let breaker = CircuitBreaker::builder().build()?;
    /// breaker.transition_to(State::ForcedOpen);
    /// let err = breaker.call_sync(|| Ok::<(), std::io::Error>(())).unwrap_err();
    /// let boxed: Box<dyn std::error::Error + Send + Sync> = err.into();
    /// assert!(CircuitOpen::find_in(boxed.as_ref()).is_some());
    ///
    /// let other: Box<dyn std::error::Error + Send + Sync> = "timeout".into();
    /// assert!(CircuitOpen::find_in(other.as_ref()).is_none());
    /// # Ok::<(), parapet::ConfigError>(())
    /// ```
    pub fn find_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a CircuitOpen> {
        let mut current = Some(error);
        while let Some(e) = current {
            if let Some(open) = e.downcast_ref::<CircuitOpen>() {
                return Some(open);
            }
            current = e.source();
        }
        None
    }

    /// How long until the breaker lets a trial call through: the time left
    /// in the open state. `None` when it cannot be known (forced open, or
    /// half-open with every probe place taken).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker `{}` is {:?}", self.name, self.state)?;
        if let Some(after) = self.retry_after {
            write!(f, "; next trial in {after:?}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CircuitOpen {}

/// The one error a guarded call returns: either a guard rejected the call,
/// or the operation itself failed.
///
/// It stays flat however many guards are stacked, and is
/// `#[non_exhaustive]`: more guards (bulkhead, timeout, retry) add variants.
///
/// # Examples
///
/// ```
/// use parapet::Error;
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
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E> {
    /// A circuit breaker rejected the call without running the operation.
    CircuitOpen(CircuitOpen),
    /// The operation ran and returned this error.
    Operation(E),
}

impl<E> Error<E> {
    /// True if a circuit breaker rejected the call.
    pub fn is_circuit_open(&self) -> bool {
        matches!(self, Self::CircuitOpen(_))
    }

    /// True if a guard rejected the call (the operation never ran).
    pub fn is_rejection(&self) -> bool {
        !matches!(self, Self::Operation(_))
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

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CircuitOpen(open) => open.fmt(f),
            Self::Operation(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::CircuitOpen(open) => Some(open),
            Self::Operation(e) => Some(e),
        }
    }
}

impl<E> From<CircuitOpen> for Error<E> {
    fn from(open: CircuitOpen) -> Self {
        Self::CircuitOpen(open)
    }
}
