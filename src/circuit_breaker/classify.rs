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

/// Classifies a call's result. Implemented for closures and functions
/// `Fn(&Result<T, E>) -> Classification`.
///
/// A custom classifier is part of the breaker's type
/// (`CircuitBreaker<C>`), and a closure's type cannot be written down. To
/// keep such a breaker in application state, name the type: pass a
/// function as a `fn` pointer (cheap to clone, `Send + Sync`), as below,
/// or implement `Classify` for a struct of your own.
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreaker, Classification};
///
/// // A 404 is the caller's problem, not the dependency's: ignore it.
/// let breaker = CircuitBreaker::builder()
///     .classifier(|r: &Result<u16, u16>| match r {
///         Ok(_) => Classification::Success,
///         Err(404) => Classification::Ignored,
///         Err(_) => Classification::Failure,
///     })
///     .build()?;
///
/// // In application state: a named type through a `fn` pointer.
/// type Classifier = fn(&Result<u16, u16>) -> Classification;
/// struct AppState {
///     breaker: CircuitBreaker<Classifier>,
/// }
/// fn classify(result: &Result<u16, u16>) -> Classification {
///     match result {
///         Err(status) if *status >= 500 => Classification::Failure,
///         _ => Classification::Success,
///     }
/// }
/// let state = AppState {
///     breaker: CircuitBreaker::builder().classifier(classify as Classifier).build()?,
/// };
/// assert!(state.breaker.call_sync(|| Err::<u16, u16>(503)).is_err());
/// # Ok::<(), palisade::ConfigError>(())
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
