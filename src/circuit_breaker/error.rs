//! The circuit breaker's rejection: [`CircuitOpen`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::State;

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
    pub(crate) state: State,
    pub(crate) retry_after: Option<Duration>,
}

impl CircuitOpen {
    /// The name of the breaker that rejected the call.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The breaker's state when it rejected the call.
    pub fn state(&self) -> State {
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
