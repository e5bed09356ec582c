//! Fallback: when an operation fails (every error, or those a predicate
//! picks, e.g. only rejections and timeouts), return a value instead: a
//! fixed one, the result of a closure given the error, or of an async
//! closure.
//!
//! # Examples
//!
//! ```
//! use palisade::bulkhead::Bulkhead;
//! use palisade::fallback::Fallback;
//! use std::io;
//!
//! let bulkhead = Bulkhead::builder().max_concurrent(1).build()?;
//! // Serve a cached answer when the call was rejected or timed out; pass
//! // the operation's own errors on.
//! let fallback = Fallback::with(|_err: palisade::Error<io::Error>| "cached")
//!     .when(|err: &palisade::Error<io::Error>| err.is_rejection() || err.is_timeout());
//!
//! let _held = bulkhead.try_acquire().unwrap(); // the bulkhead is full
//! let reply = futures::executor::block_on(
//!     fallback.call(|| bulkhead.call(|| async { Ok::<_, io::Error>("live") })),
//! );
//! assert_eq!(reply.unwrap(), "cached");
//! # Ok::<(), palisade::ConfigError>(())
//! ```

pub mod future;
#[cfg(feature = "tower")]
mod layer;

use crate::name::Name;
use std::future::{ready, Future, Ready};

pub use future::FallbackCall;
#[cfg(feature = "tower")]
pub use future::FallbackResponse;
use future::Stage;
#[cfg(feature = "tower")]
pub use layer::{FallbackLayer, FallbackService};

/// Makes the fallback value from the error.
pub trait Handler<E, T> {
    /// What [`handle`](Self::handle) returns.
    type Future: Future<Output = T>;

    /// The fallback for `error`.
    fn handle(&self, error: E) -> Self::Future;
}

/// A fixed fallback value (cloned each time).
#[derive(Clone, Debug)]
pub struct Value<T>(T);

impl<E, T: Clone> Handler<E, T> for Value<T> {
    type Future = Ready<T>;

    fn handle(&self, _: E) -> Ready<T> {
        ready(self.0.clone())
    }
}

/// A fallback made by a closure given the error.
#[derive(Clone, Debug)]
pub struct With<F>(F);

impl<E, T, F: Fn(E) -> T> Handler<E, T> for With<F> {
    type Future = Ready<T>;

    fn handle(&self, error: E) -> Ready<T> {
        ready((self.0)(error))
    }
}

/// A fallback made by an async closure given the error.
#[derive(Clone, Debug)]
pub struct WithAsync<F>(F);

impl<E, T, F, Fut> Handler<E, T> for WithAsync<F>
where
    F: Fn(E) -> Fut,
    Fut: Future<Output = T>,
{
    type Future = Fut;

    fn handle(&self, error: E) -> Fut {
        (self.0)(error)
    }
}

/// Picks the errors that get the fallback: any `Fn(&E) -> bool`, or
/// [`Always`].
pub trait When<E> {
    /// True if `error` gets the fallback.
    fn applies(&self, error: &E) -> bool;
}

/// Every error gets the fallback.
#[derive(Clone, Copy, Debug, Default)]
pub struct Always;

impl<E> When<E> for Always {
    #[inline]
    fn applies(&self, _: &E) -> bool {
        true
    }
}

impl<E, F: Fn(&E) -> bool> When<E> for F {
    #[inline]
    fn applies(&self, error: &E) -> bool {
        self(error)
    }
}

/// A fallback: a handler `H` for the errors `W` picks.
#[derive(Clone, Debug)]
pub struct Fallback<H, W = Always> {
    handler: H,
    when: W,
    served: Served,
}

impl<T> Fallback<Value<T>> {
    /// Every picked error becomes `Ok(value)`.
    pub fn value(value: T) -> Self {
        Self {
            handler: Value(value),
            when: Always,
            served: Served::new(Name::Static("fallback")),
        }
    }
}

impl<F> Fallback<With<F>> {
    /// Every picked error becomes `Ok(make(error))`.
    pub fn with(make: F) -> Self {
        Self {
            handler: With(make),
            when: Always,
            served: Served::new(Name::Static("fallback")),
        }
    }
}

impl<F> Fallback<WithAsync<F>> {
    /// Every picked error becomes `Ok(make(error).await)`.
    pub fn with_async(make: F) -> Self {
        Self {
            handler: WithAsync(make),
            when: Always,
            served: Served::new(Name::Static("fallback")),
        }
    }
}

impl<H, W> Fallback<H, W> {
    /// Only errors for which `when` is true get the fallback; the others
    /// pass through. Default: every error.
    pub fn when<V>(self, when: V) -> Fallback<H, V> {
        Fallback {
            handler: self.handler,
            when,
            served: self.served,
        }
    }

    /// The name in metrics (`palisade_fallback_served_total{fallback=...}`,
    /// feature `metrics`). Default `"fallback"`.
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.served = Served::new(Name::new(name.into()));
        self
    }

    /// Runs the future `make()` returns; a picked error becomes the
    /// fallback's value.
    #[inline]
    pub fn call<F, Fut, T, E>(&self, make: F) -> FallbackCall<'_, H, W, Fut, H::Future>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        H: Handler<E, T>,
        W: When<E>,
    {
        FallbackCall {
            stage: Stage::Running { fut: make() },
            handler: &self.handler,
            when: &self.when,
            served: &self.served,
        }
    }
}

/// A fallback's name and its count of fallbacks served (feature
/// `metrics`: `palisade_fallback_served_total`, registered when it first
/// serves, with the recorder in force then, so a fallback that never serves
/// exports no series; the handle is kept, so serving allocates nothing).
#[derive(Clone, Debug)]
pub(crate) struct Served {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    name: Name,
    #[cfg(feature = "metrics")]
    counter: std::sync::Arc<std::sync::OnceLock<metrics::Counter>>,
}

impl Served {
    pub(crate) fn new(name: Name) -> Self {
        Self {
            name,
            #[cfg(feature = "metrics")]
            counter: Default::default(),
        }
    }

    /// One fallback served.
    #[inline]
    pub(crate) fn count(&self) {
        #[cfg(feature = "metrics")]
        self.counter
            .get_or_init(|| {
                metrics::describe_counter!(
                    "palisade_fallback_served_total",
                    metrics::Unit::Count,
                    "Failed calls a fallback answered."
                );
                metrics::counter!("palisade_fallback_served_total", "fallback" => self.name.as_str().to_owned())
            })
            .increment(1);
    }
}
