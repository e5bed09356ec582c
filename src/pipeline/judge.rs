//! [`Judge`]: how a pipeline judges an attempt for its breaker, and when
//! the attempt is over.

use crate::circuit_breaker::guard::Standing;
use crate::circuit_breaker::{Classification, Classify};
use crate::error::Error;
use crate::limit::Limiter;
use crate::retry::guard::Progress;

/// A breaker's verdict on an attempt that returned: known now, or only
/// when the response it returned has been read to its end (a gRPC status
/// in trailers), through the end-of-stream half `A`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judged<A> {
    /// Known from what the attempt returned.
    Now(Classification),
    /// Known when the response body ends.
    AtBodyEnd(A),
}

impl<A> Judged<A> {
    /// What is recorded if the attempt's permissions are given back now:
    /// the verdict, or (`None`) a cancelled call when it waited for a body
    /// that will not be read.
    pub(crate) fn now(&self) -> Option<Classification> {
        match self {
            Self::Now(class) => Some(*class),
            Self::AtBodyEnd(_) => None,
        }
    }
}

pub(crate) mod sealed {
    pub trait Sealed<T, E> {}
}

/// How a [`Pipeline`](super::Pipeline)'s breaker judges an attempt, and what the caller
/// gets of a successful one. This is the breaker's classifier:
///
/// - every [`Classify`] (closures, `fn`s, [`DefaultClassifier`](crate::circuit_breaker::DefaultClassifier)):
///   the attempt is judged when it returns, its breaker admission and
///   limiter place are given back then, and the caller gets its value as
///   it is;
/// - with feature `http`, the HTTP and gRPC presets
///   ([`HttpFailures`](crate::http::HttpFailures),
///   [`GrpcFailures`](crate::http::GrpcFailures)) and any `tower-http`
///   classifier in [`BodyEnd`](crate::http::BodyEnd): an attempt that
///   returns a response is over when the response *body* ends. The
///   caller gets the response with a [`ResponseBody`](crate::http::ResponseBody)
///   holding the attempt's breaker admission, limiter place and retry
///   budget share, recorded as [`ResponseBody`](crate::http::ResponseBody)
///   documents (a gRPC status in trailers, a cut stream, a drop before the
///   end), exactly as the single-guard HTTP layers do.
///
/// In either case a limit's rejection (a full bulkhead, a rate limit) is
/// ignored (not the dependency's fault). Sealed: implemented for the types
/// above only.
pub trait Judge<T, E, L: Limiter>: sealed::Sealed<T, E> {
    /// What the caller gets of an attempt's `Ok` value.
    type Output;
    /// The end-of-stream half of a verdict that waits for the body.
    #[doc(hidden)]
    type AtEnd;
    /// Whether the caller's value may take over what the attempt holds
    /// (else it is given back as soon as the attempt is judged).
    #[doc(hidden)]
    const HANDS_OVER: bool;

    /// The verdict on `result` (never a limit's rejection: the pipeline
    /// ignores those itself).
    #[doc(hidden)]
    fn judge(&self, result: &Result<T, Error<E>>) -> Judged<Self::AtEnd>;

    /// The caller's value, taking over from `hand_over` whatever the value
    /// holds until it is done with; what is left is given back at once.
    #[doc(hidden)]
    fn deliver<C>(value: T, hand_over: HandOver<'_, Self::AtEnd, C, L>) -> Self::Output;
}

impl<T, E, C: Classify<T, Error<E>>> sealed::Sealed<T, E> for C {}

impl<T, E, L: Limiter, C: Classify<T, Error<E>>> Judge<T, E, L> for C {
    type Output = T;
    type AtEnd = std::convert::Infallible;
    const HANDS_OVER: bool = false;

    #[inline(always)]
    fn judge(&self, result: &Result<T, Error<E>>) -> Judged<Self::AtEnd> {
        Judged::Now(self.classify(result))
    }

    #[inline(always)]
    fn deliver<K>(value: T, _: HandOver<'_, Self::AtEnd, K, L>) -> T {
        value
    }
}

/// What an attempt that returned holds, offered to the caller's value by
/// [`Judge`]: whatever the value does not take is given back by the
/// pipeline when it returns. Only the HTTP judges take anything.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub struct HandOver<'a, A, C, L: Limiter> {
    pub(crate) verdict: &'a mut Option<Judged<A>>,
    pub(crate) breaker: Option<&'a crate::circuit_breaker::CircuitBreaker<C>>,
    pub(crate) admission: &'a mut Standing,
    pub(crate) limit: Option<&'a L>,
    pub(crate) seat: &'a mut L::Seat,
    pub(crate) retry: Option<&'a crate::retry::Shared>,
    pub(crate) progress: &'a mut Progress,
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) max_hint: Option<std::time::Duration>,
}

impl<A, C, L: Limiter> std::fmt::Debug for HandOver<'_, A, C, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandOver").finish_non_exhaustive()
    }
}
