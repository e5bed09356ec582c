//! The circuit breaker's rejection: [`CircuitOpen`].

use std::fmt;
use std::time::Duration;

use super::State;
use crate::name::Name;

/// A call was rejected by a circuit breaker that is open (or half-open with
/// every probe place taken, or forced open).
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::builder().name("users").build().unwrap();
/// breaker.transition_to(State::ForcedOpen);
/// let err = breaker.try_acquire().unwrap_err();
/// assert_eq!(err.name(), "users");
/// assert_eq!(err.state(), State::ForcedOpen);
/// assert_eq!(err.retry_after(), None);
/// ```
///
/// It is three words: the breaker's name (a `&'static str` copied as is,
/// or a reference-counted name made at run time) and one word shared by
/// the state and the time to the next trial.
#[derive(Clone, PartialEq, Eq)]
pub struct CircuitOpen {
    name: Name,
    /// `nanoseconds to the next trial << 3 | state`; the nanoseconds are
    /// all ones ([`NO_RETRY_AFTER`]) when unknown.
    packed: u64,
}

const STATE_BITS: u32 = 3;
/// The nanoseconds field of `CircuitOpen::packed` when the time to the next
/// trial is unknown.
const NO_RETRY_AFTER: u64 = u64::MAX >> STATE_BITS;

impl CircuitOpen {
    pub(crate) fn new(name: Name, state: State, retry_after: Option<Duration>) -> Self {
        // At most `MAX_DURATION` (7 days) in practice, far below the field's
        // 73 years; saturate rather than wrap into "unknown".
        let nanos = retry_after.map_or(NO_RETRY_AFTER, |d| {
            u64::try_from(d.as_nanos()).map_or(NO_RETRY_AFTER - 1, |n| n.min(NO_RETRY_AFTER - 1))
        });
        Self {
            name,
            packed: nanos << STATE_BITS | state as u64,
        }
    }

    /// The name of the breaker that rejected the call.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The breaker's state when it rejected the call.
    pub fn state(&self) -> State {
        State::from_bits(self.packed & ((1 << STATE_BITS) - 1))
    }

    /// Finds a `CircuitOpen` in an error or its chain of sources: for
    /// `BoxError` stacks (axum's `HandleErrorLayer`, `tower::BoxError`),
    /// where the concrete error type is erased.
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, State};
    /// use palisade::CircuitOpen;
    ///
    /// let breaker = CircuitBreaker::builder().build()?;
    /// breaker.transition_to(State::ForcedOpen);
    /// let err = breaker.call_sync(|| Ok::<(), std::io::Error>(())).unwrap_err();
    /// let boxed: Box<dyn std::error::Error + Send + Sync> = err.into();
    /// assert!(CircuitOpen::find_in(boxed.as_ref()).is_some());
    ///
    /// let other: Box<dyn std::error::Error + Send + Sync> = "timeout".into();
    /// assert!(CircuitOpen::find_in(other.as_ref()).is_none());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn find_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a CircuitOpen> {
        crate::error::find_in(error)
    }

    /// How long until the breaker lets a trial call through: the time left
    /// in the open state. `None` when it cannot be known (forced open, or
    /// half-open with every probe place taken).
    pub fn retry_after(&self) -> Option<Duration> {
        let nanos = self.packed >> STATE_BITS;
        (nanos != NO_RETRY_AFTER).then(|| Duration::from_nanos(nanos))
    }
}

impl fmt::Debug for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitOpen")
            .field("name", &self.name)
            .field("state", &self.state())
            .field("retry_after", &self.retry_after())
            .finish()
    }
}

/// The details of the rejection: the state and when the next trial comes.
/// Which breaker it was is [`name`](CircuitOpen::name), and the
/// [`Error`](crate::Error) around it says it.
impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state() {
            State::HalfOpen => "the circuit is half-open and every trial place is taken",
            State::ForcedOpen => "the circuit is forced open",
            _ => "the circuit is open",
        })?;
        if let Some(after) = self.retry_after() {
            write!(f, "; next trial in {}", crate::error::HumanDuration(after))?;
        }
        Ok(())
    }
}

impl std::error::Error for CircuitOpen {}
