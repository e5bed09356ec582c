//! The pipeline: any subset of total timeout, retry, circuit breaker,
//! bulkhead and attempt timeout around an operation, always in one order,
//! with one flat error.
//!
//! ```text
//! fallback (`Pipeline::with_fallback`)
//!   → total timeout → retry → circuit breaker → bulkhead → attempt timeout → operation
//! ```
//!
//! Why this order:
//!
//! - **Total timeout outside the retry** bounds the caller's wait: every
//!   attempt *and the waits between them*; a retry whose wait would end at
//!   or past it is not made (the caller gets the last attempt's outcome at
//!   once, [`GaveUp::Deadline`](crate::retry::GaveUp::Deadline), measured
//!   on the retry's clock). An **attempt timeout inside the
//!   retry** bounds each attempt alone, so a hung attempt is dropped and
//!   retried. Use both to say "each try 200 ms, all in all 1 s".
//! - **The breaker inside the retry** judges every attempt (a dependency
//!   failing three times in one call is three failures), and once it opens,
//!   its rejection stops the retries at once: the default retry policy never
//!   retries a rejection.
//! - **The bulkhead inside the breaker**: a call the breaker rejects takes no
//!   place; a call the bulkhead rejects (full) is not the dependency's
//!   fault, so the breaker ignores it (neither success nor failure). Inside
//!   a pipeline the breaker judges attempts by that rule: `Ok` is a success,
//!   a full bulkhead is ignored, every other error (timeout, the
//!   operation's own error, a panic) is a failure.
//! - **The attempt timeout inside the bulkhead**, so the time waited for a
//!   place is not part of the attempt's deadline, and a timed-out attempt
//!   gives its place back at once.
//!
//! Every guard is optional and every instance (breaker, bulkhead, budget)
//! may be shared with other pipelines. Whatever the stack, the caller gets
//! one flat [`Error`]: the operation's own error, or which
//! guard stopped the call.
//!
//! # Examples
//!
//! ```
//! use palisade::bulkhead::Bulkhead;
//! use palisade::circuit_breaker::CircuitBreaker;
//! use palisade::pipeline::Pipeline;
//! use palisade::retry::{Backoff, Retry};
//! use palisade::timer::ManualTimer;
//! use std::time::Duration;
//!
//! let timer = ManualTimer::new();
//! let pipeline = Pipeline::builder(timer.clone())
//!     .timeout(Duration::from_secs(1))
//!     .retry(Retry::builder().backoff(Backoff::constant(Duration::ZERO)).timer(timer).build()?)
//!     .circuit_breaker(CircuitBreaker::builder().name("inventory").build()?)
//!     .bulkhead(Bulkhead::builder().max_concurrent(10).build()?)
//!     .attempt_timeout(Duration::from_millis(200))
//!     .build()?;
//! let reply = futures::executor::block_on(pipeline.call(|| async { Ok::<_, std::io::Error>("in stock") }));
//! assert_eq!(reply.unwrap(), "in stock");
//! # Ok::<(), palisade::ConfigError>(())
//! ```

use std::future::Future;
use std::time::Duration;

mod future;
#[cfg(feature = "tower")]
mod layer;

pub use future::{Attempts, PipelineCall};
#[cfg(feature = "tower")]
pub use layer::{PipelineLayer, PipelineService, ServiceAttempt, ServiceAttempts};

use crate::bulkhead::Bulkhead;
use crate::circuit_breaker::{CircuitBreaker, Classification};
use crate::error::{ConfigError, Error};
use crate::fallback::{Fallback, FallbackCall, Handler, When};
use crate::retry::{Retry, RetryErrors, RetryPolicy};
use crate::timeout::Timeout;
use crate::timer::Timer;

/// Guards around an operation, in the documented order. Build one with
/// [`Pipeline::builder`]; share it by reference (or clone its instances
/// into other pipelines).
#[derive(Debug)]
pub struct Pipeline<Tm, P = RetryErrors> {
    total: Option<Timeout<Tm>>,
    retry: Option<Retry<P>>,
    breaker: Option<CircuitBreaker>,
    bulkhead: Option<Bulkhead>,
    attempt: Option<Timeout<Tm>>,
}

impl<Tm: Timer + Clone> Pipeline<Tm> {
    /// A builder whose timeouts use `timer`.
    pub fn builder(timer: Tm) -> PipelineBuilder<Tm> {
        PipelineBuilder {
            timer,
            name: std::borrow::Cow::Borrowed("pipeline"),
            total: None,
            retry: None,
            breaker: None,
            bulkhead: None,
            attempt: None,
        }
    }
}

/// Builds a [`Pipeline`]; every guard is optional.
#[derive(Debug)]
#[must_use]
pub struct PipelineBuilder<Tm, P = RetryErrors> {
    timer: Tm,
    name: std::borrow::Cow<'static, str>,
    total: Option<Duration>,
    retry: Option<Retry<P>>,
    breaker: Option<CircuitBreaker>,
    bulkhead: Option<Bulkhead>,
    attempt: Option<Duration>,
}

impl<Tm: Timer + Clone, P> PipelineBuilder<Tm, P> {
    /// The name of the pipeline's timeouts (in their errors). Default
    /// `"pipeline"`; the attempt timeout is `"<name>.attempt"`.
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// A total timeout: the whole call, retries and waits included.
    pub fn timeout(mut self, total: Duration) -> Self {
        self.total = Some(total);
        self
    }

    /// Retries, with this retry's attempts, backoff, policy and budget.
    pub fn retry<Q>(self, retry: Retry<Q>) -> PipelineBuilder<Tm, Q> {
        PipelineBuilder {
            timer: self.timer,
            name: self.name,
            total: self.total,
            retry: Some(retry),
            breaker: self.breaker,
            bulkhead: self.bulkhead,
            attempt: self.attempt,
        }
    }

    /// A circuit breaker judging each attempt (it may be shared).
    pub fn circuit_breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// A bulkhead bounding concurrent attempts (it may be shared).
    pub fn bulkhead(mut self, bulkhead: Bulkhead) -> Self {
        self.bulkhead = Some(bulkhead);
        self
    }

    /// A timeout for each attempt.
    pub fn attempt_timeout(mut self, attempt: Duration) -> Self {
        self.attempt = Some(attempt);
        self
    }

    /// Checks the durations and builds the pipeline.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `duration` if a timeout is zero or above
    /// `MAX_DURATION`.
    pub fn build(self) -> Result<Pipeline<Tm, P>, ConfigError> {
        let timeout = |name: std::borrow::Cow<'static, str>, d: Option<Duration>| {
            d.map(|d| {
                Timeout::builder()
                    .name(name)
                    .duration(d)
                    .timer(self.timer.clone())
                    .build()
            })
            .transpose()
        };
        Ok(Pipeline {
            total: timeout(self.name.clone(), self.total)?,
            attempt: timeout(format!("{}.attempt", self.name).into(), self.attempt)?,
            retry: self.retry,
            breaker: self.breaker,
            bulkhead: self.bulkhead,
        })
    }
}

/// A [`Pipeline`] with a [`Fallback`] around it, from
/// [`Pipeline::with_fallback`]: the outermost guard, so it sees the
/// pipeline's final, flat error (a rejection, a timeout, the last
/// attempt's error) and may replace it.
#[derive(Debug)]
pub struct FallbackPipeline<Tm, P, H, W> {
    pipeline: Pipeline<Tm, P>,
    fallback: Fallback<H, W>,
}

impl<Tm: Timer, P, H, W> FallbackPipeline<Tm, P, H, W> {
    /// Runs `make`'s futures through the pipeline; an error the fallback
    /// picks becomes its value.
    ///
    /// # Errors
    ///
    /// The pipeline's flat error when the fallback does not pick it.
    #[inline]
    #[allow(clippy::type_complexity)]
    pub fn call<F, Fut, T, E>(
        &self,
        make: F,
    ) -> FallbackCall<'_, H, W, PipelineCall<&Pipeline<Tm, P>, Tm, P, F>, H::Future>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        P: RetryPolicy<T, Error<E>>,
        H: Handler<Error<E>, T>,
        W: When<Error<E>>,
    {
        self.fallback.call(|| self.pipeline.call(make))
    }

    /// The pipeline inside.
    pub fn pipeline(&self) -> &Pipeline<Tm, P> {
        &self.pipeline
    }
}

/// How a breaker inside a pipeline judges an attempt.
fn judge<T, E>(result: &Result<T, Error<E>>) -> Classification {
    match result {
        Ok(_) => Classification::Success,
        Err(Error::BulkheadFull(_)) => Classification::Ignored,
        Err(_) => Classification::Failure,
    }
}

impl<Tm: Timer, P> Pipeline<Tm, P> {
    /// This pipeline with `fallback` around it (the outermost guard).
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, State};
    /// use palisade::fallback::Fallback;
    /// use palisade::pipeline::Pipeline;
    /// use palisade::timer::ManualTimer;
    ///
    /// let breaker = CircuitBreaker::builder().build()?;
    /// breaker.transition_to(State::ForcedOpen);
    /// let pipeline = Pipeline::builder(ManualTimer::new())
    ///     .circuit_breaker(breaker)
    ///     .build()?
    ///     .with_fallback(Fallback::value("cached").when(|e: &palisade::Error<std::io::Error>| e.is_rejection()));
    /// let reply = futures::executor::block_on(pipeline.call(|| async { Ok("live") }));
    /// assert_eq!(reply.unwrap(), "cached");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn with_fallback<H, W>(self, fallback: Fallback<H, W>) -> FallbackPipeline<Tm, P, H, W> {
        FallbackPipeline {
            pipeline: self,
            fallback,
        }
    }

    /// Runs the future `make()` returns through every guard, calling `make`
    /// again for each retry.
    ///
    /// # Errors
    ///
    /// One flat [`Error`]: [`Error::Operation`] with the operation's own
    /// error (the last attempt's, when retries ran out), or the guard that
    /// stopped the call ([`Error::TimedOut`], [`Error::CircuitOpen`],
    /// [`Error::BulkheadFull`]).
    #[inline]
    pub fn call<F, Fut, T, E>(&self, make: F) -> PipelineCall<&Self, Tm, P, F>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        P: RetryPolicy<T, Error<E>>,
    {
        PipelineCall::new(self, make)
    }
}
