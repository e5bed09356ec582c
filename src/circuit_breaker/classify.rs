//! Deciding from a call's `Result` whether it succeeded, failed, or should
//! not count at all.

/// How the breaker counts one call's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Classification {
    /// Counts as a success.
    Success,
    /// Counts as a failure.
    Failure,
    /// Not counted at all: neither a success nor a failure, so it does not
    /// dilute the failure rate. A half-open probe gives its place back.
    Ignored,
}

/// Classifies a call's result. Implemented for closures
/// `Fn(&Result<T, E>) -> Classification`.
///
/// # Examples
///
/// ```
/// use parapet::circuit_breaker::{CircuitBreaker, Classification};
///
/// // A 404 is the caller's problem, not the dependency's: ignore it.
/// let breaker = CircuitBreaker::builder()
///     .classifier(|r: &Result<u16, u16>| match r {
///         Ok(_) => Classification::Success,
///         Err(404) => Classification::Ignored,
///         Err(_) => Classification::Failure,
///     })
///     .build()?;
/// # Ok::<(), parapet::ConfigError>(())
/// ```
pub trait Classify<T, E> {
    /// The classification of `result`.
    fn classify(&self, result: &Result<T, E>) -> Classification;
}

/// The default classifier: `Ok` is a success, every `Err` a failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefaultClassifier;

impl<T, E> Classify<T, E> for DefaultClassifier {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Classification {
        match result {
            Ok(_) => Classification::Success,
            Err(_) => Classification::Failure,
        }
    }
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Classification,
{
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Classification {
        self(result)
    }
}
