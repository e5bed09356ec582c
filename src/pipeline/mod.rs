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
//!   once, [`GaveUp::Deadline`](crate::retry::GaveUp::Deadline); the time
//!   left is asked of the timer when a retry is due, see
//!   [`Timer::remaining`]). An **attempt timeout inside the
//!   retry** bounds each attempt alone, so a hung attempt is dropped and
//!   retried. Use both to say "each try 200 ms, all in all 1 s".
//! - **The breaker inside the retry** judges every attempt (a dependency
//!   failing three times in one call is three failures), and once it opens,
//!   its rejection stops the retries at once: the default retry policy never
//!   retries a rejection.
//! - **The bulkhead inside the breaker**: a call the breaker rejects takes no
//!   place; a call the bulkhead rejects (full) is not the dependency's
//!   fault, so the breaker ignores it (neither success nor failure). Every
//!   other attempt is judged by the breaker's classifier, on the attempt's
//!   flat result (by default `Ok` is a success and every error, a timeout
//!   or a panic included, a failure; a classifier may count an `Ok(503)` as
//!   a failure).
//! - **The attempt timeout inside the bulkhead**, so the time waited for a
//!   place is not part of the attempt's deadline, and a timed-out attempt
//!   gives its place back at once.
//! - **A hedge takes the retry's place** ([`Pipeline::call_hedged`]): each
//!   attempt, hedges included, goes through the breaker, the bulkhead and
//!   the attempt timeout on its own, and the total timeout bounds them
//!   all; the pipeline's retry is not used for a hedged call (both would
//!   multiply the attempts one call sends).
//!
//! # Over HTTP and gRPC
//!
//! An HTTP call is over when its response *body* ends: a gRPC status
//! arrives in trailers, a stream can break mid-body, and the connection is
//! busy until then. With an HTTP judge as its breaker's classifier (the
//! presets [`HttpFailures`](crate::http::HttpFailures) and
//! [`GrpcFailures`](crate::http::GrpcFailures), or any `tower-http`
//! classifier in [`BodyEnd`](crate::http::BodyEnd); feature `http`), the
//! pipeline hands the attempt's breaker admission, bulkhead place and retry
//! budget share to the response's body
//! ([`ResponseBody`](crate::http::ResponseBody)), which records the call
//! when it ends: the same rules as the single-guard layers in
//! [`palisade::http`](crate::http), in this one order. An attempt the
//! retry drops (to try again) is recorded by its response head. See
//! [`Judge`].
//!
//! Every guard is optional and every instance (breaker, bulkhead, budget)
//! may be shared with other pipelines. A pipeline is cheap to clone (clones
//! share its instances) and its accessors reach them. Its timer times the
//! timeouts and the retry's waits, and its timer's clock measures the
//! retry's elapsed time: one time source. Whatever the stack, the caller gets
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

pub mod future;
pub(crate) mod judge;
#[cfg(feature = "tower")]
mod layer;

pub use future::{Attempts, HedgedAttempts, HedgedCall, PipelineCall};
#[cfg(feature = "tower")]
pub use future::{ServiceAttempt, ServiceAttempts};
pub use judge::{HandOver, Judge, Judged};
#[cfg(feature = "tower")]
pub use layer::{PipelineLayer, PipelineService};

use std::sync::Arc;

use crate::bulkhead::Bulkhead;
use crate::circuit_breaker::{CircuitBreaker, DefaultClassifier};
use crate::clock::Clock;
use crate::config_error::ConfigError;
use crate::error::Error;
use crate::fallback::{Fallback, FallbackCall, Handler, When};
use crate::hedge::Hedge;
use crate::limit::Limiter;
use crate::retry::{Retry, RetryErrors, RetryPolicy};
use crate::timeout::Timeout;
use crate::timer::Timer;

/// Guards around an operation, in the documented order. Build one with
/// [`Pipeline::builder`]. Cheap to clone: clones share the same breaker,
/// bulkhead and retry budget, so a pipeline per host can live in a
/// [`Registry`](crate::registry::Registry) as it is.
///
/// One time source: the pipeline's timer times its timeouts and its
/// retry's waits, and the timer's clock (see
/// [`Timer::clock`]) measures the retry's
/// elapsed time, whatever timer and clock the retry was built with.
#[derive(Clone)]
pub struct Pipeline<Tm, P = RetryErrors, C = DefaultClassifier, L = Bulkhead> {
    timer: Tm,
    clock: Arc<dyn Clock>,
    total: Option<Timeout<Tm>>,
    retry: Option<Retry<P>>,
    breaker: Option<CircuitBreaker<C>>,
    limit: Option<L>,
    attempt: Option<Timeout<Tm>>,
    /// The longest a failed response's retry hint may hold the breaker
    /// open; `None`: hints are not read (see
    /// [`PipelineBuilder::hold_open_on_hint`]).
    max_hint: Option<Duration>,
}

impl<Tm: Timer + std::fmt::Debug, P, C, L: Limiter> std::fmt::Debug for Pipeline<Tm, P, C, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("timer", &self.timer)
            .field("total", &self.timeout())
            .field("retry", &self.retry.as_ref().map(Retry::name))
            .field("breaker", &self.breaker.as_ref().map(CircuitBreaker::name))
            .field("limit", &self.limit.as_ref().map(Limiter::limit_name))
            .field("attempt", &self.attempt_timeout())
            .finish()
    }
}

impl<Tm: Timer + Clone> Pipeline<Tm> {
    /// A builder whose timeouts and retry waits use `timer`.
    pub fn builder(timer: Tm) -> PipelineBuilder<Tm> {
        PipelineBuilder {
            timer,
            name: std::borrow::Cow::Borrowed("pipeline"),
            total: None,
            retry: None,
            breaker: None,
            limit: None,
            attempt: None,
            max_hint: None,
        }
    }
}

impl<Tm: Timer, P, C, L> Pipeline<Tm, P, C, L> {
    /// The total timeout, if there is one.
    pub fn timeout(&self) -> Option<Duration> {
        self.total.as_ref().and_then(Timeout::duration)
    }

    /// The retry, if there is one.
    pub fn retry(&self) -> Option<&Retry<P>> {
        self.retry.as_ref()
    }

    /// The circuit breaker, if there is one (the same instance the pipeline
    /// holds: its state, metrics and events).
    pub fn circuit_breaker(&self) -> Option<&CircuitBreaker<C>> {
        self.breaker.as_ref()
    }

    /// The concurrency limit (the bulkhead), if there is one.
    pub fn limiter(&self) -> Option<&L> {
        self.limit.as_ref()
    }

    /// The timeout of each attempt, if there is one.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.attempt.as_ref().and_then(Timeout::duration)
    }
}

#[cfg(feature = "client")]
impl<Tm: Timer + Clone, P: Clone, C: Clone, L: Clone> Pipeline<Tm, P, C, L> {
    /// This pipeline for one call: without the guards `skip` names, and
    /// with `total` as its total timeout if given (the same instances:
    /// the breaker, bulkhead and budget are shared).
    pub(crate) fn adjusted(
        &self,
        skip: crate::client::Skip,
        total: Option<Duration>,
    ) -> Result<Self, ConfigError> {
        let mut adjusted = self.clone();
        if skip.retry {
            adjusted.retry = None;
        }
        if skip.circuit_breaker {
            adjusted.breaker = None;
        }
        if skip.limit {
            adjusted.limit = None;
        }
        if skip.timeouts {
            adjusted.total = None;
            adjusted.attempt = None;
        }
        if let Some(total) = total {
            let name = self
                .total
                .as_ref()
                .map_or("pipeline", Timeout::name)
                .to_owned();
            adjusted.total = Some(
                Timeout::builder()
                    .name(name)
                    .duration(total)
                    .timer(self.timer.clone())
                    .build()?,
            );
        }
        Ok(adjusted)
    }
}

impl<Tm: Timer, P, C> Pipeline<Tm, P, C, Bulkhead> {
    /// The bulkhead, if there is one.
    pub fn bulkhead(&self) -> Option<&Bulkhead> {
        self.limit.as_ref()
    }
}

/// Builds a [`Pipeline`]; every guard is optional.
#[derive(Debug)]
#[must_use]
pub struct PipelineBuilder<Tm, P = RetryErrors, C = DefaultClassifier, L = Bulkhead> {
    timer: Tm,
    name: std::borrow::Cow<'static, str>,
    total: Option<Duration>,
    retry: Option<Retry<P>>,
    breaker: Option<CircuitBreaker<C>>,
    limit: Option<L>,
    attempt: Option<Duration>,
    max_hint: Option<Duration>,
}

impl<Tm: Timer + Clone, P, C, L> PipelineBuilder<Tm, P, C, L> {
    /// The guards as options, each of its final type (a client builds a
    /// pipeline from configuration, where each guard may be absent).
    #[cfg(feature = "client")]
    pub(crate) fn guards<Q, D, M: Limiter>(
        self,
        retry: Option<Retry<Q>>,
        breaker: Option<CircuitBreaker<D>>,
        limit: Option<M>,
    ) -> PipelineBuilder<Tm, Q, D, M> {
        PipelineBuilder {
            timer: self.timer,
            name: self.name,
            total: self.total,
            retry,
            breaker,
            limit,
            attempt: self.attempt,
            max_hint: self.max_hint,
        }
    }

    /// A total timeout, if `total` is one.
    #[cfg(feature = "client")]
    pub(crate) fn timeout_opt(mut self, total: Option<Duration>) -> Self {
        self.total = total;
        self
    }

    /// Hints hold the breaker open up to `max`, if given.
    #[cfg(feature = "client")]
    pub(crate) fn hold_open_on_hint_opt(mut self, max: Option<Duration>) -> Self {
        self.max_hint = max;
        self
    }

    /// An attempt timeout, if `attempt` is one.
    #[cfg(feature = "client")]
    pub(crate) fn attempt_timeout_opt(mut self, attempt: Option<Duration>) -> Self {
        self.attempt = attempt;
        self
    }

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

    /// Retries, with this retry's attempts, backoff, policy and budget; its
    /// waits are slept on the pipeline's timer.
    pub fn retry<Q>(self, retry: Retry<Q>) -> PipelineBuilder<Tm, Q, C, L> {
        PipelineBuilder {
            timer: self.timer,
            name: self.name,
            total: self.total,
            retry: Some(retry),
            breaker: self.breaker,
            limit: self.limit,
            attempt: self.attempt,
            max_hint: self.max_hint,
        }
    }

    /// A circuit breaker judging each attempt (it may be shared), with its
    /// own classifier: a limit's rejection (a full bulkhead, a rate limit)
    /// is ignored, and every other outcome (`Ok`, the operation's error, a
    /// timeout, a panic) is what the classifier says of the attempt's flat
    /// result (`&Result<T,
    /// palisade::Error<E>>`; the default: `Ok` a success, any `Err` a
    /// failure). An HTTP classifier judges at the end of the response body
    /// (see [`Judge`]).
    pub fn circuit_breaker<D>(self, breaker: CircuitBreaker<D>) -> PipelineBuilder<Tm, P, D, L> {
        PipelineBuilder {
            timer: self.timer,
            name: self.name,
            total: self.total,
            retry: self.retry,
            breaker: Some(breaker),
            limit: self.limit,
            attempt: self.attempt,
            max_hint: self.max_hint,
        }
    }

    /// A bulkhead bounding concurrent attempts (it may be shared).
    pub fn bulkhead(self, bulkhead: Bulkhead) -> PipelineBuilder<Tm, P, C, Bulkhead> {
        self.limiter(bulkhead)
    }

    /// A concurrency limit bounding concurrent attempts, in the bulkhead's
    /// place (see [`Limiter`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::bulkhead::Bulkhead;
    /// use palisade::pipeline::Pipeline;
    /// use palisade::timer::ManualTimer;
    ///
    /// let pipeline = Pipeline::builder(ManualTimer::new())
    ///     .limiter(Bulkhead::builder().name("search").max_concurrent(8).build()?)
    ///     .build()?;
    /// assert_eq!(pipeline.limiter().map(Bulkhead::name), Some("search"));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn limiter<M: Limiter>(self, limit: M) -> PipelineBuilder<Tm, P, C, M> {
        PipelineBuilder {
            timer: self.timer,
            name: self.name,
            total: self.total,
            retry: self.retry,
            breaker: self.breaker,
            limit: Some(limit),
            attempt: self.attempt,
            max_hint: self.max_hint,
        }
    }

    /// Over HTTP (a breaker judging with an HTTP judge, see [`Judge`]): a
    /// failed response's `Retry-After` (or `grpc-retry-pushback-ms`) keeps
    /// the breaker open at least that long, at most `max`, when the call's
    /// failure is recorded at the end of its body, as
    /// [`CircuitBreakerLayer::hold_open_on_hint`](crate::http::CircuitBreakerLayer::hold_open_on_hint)
    /// does. Off by default: a dependency could otherwise shut its callers
    /// out for as long as it liked. (An attempt the retry drops is recorded
    /// at its head, without its hint: the retry waits for the hint.)
    pub fn hold_open_on_hint(mut self, max: Duration) -> Self {
        self.max_hint = Some(max);
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
    /// `MAX_DURATION`, or `hold_open_on_hint` if it is.
    pub fn build(self) -> Result<Pipeline<Tm, P, C, L>, ConfigError> {
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
        crate::limits::check_duration("hold_open_on_hint", self.max_hint)?;
        Ok(Pipeline {
            clock: crate::timer::clock_for(None, Some(&self.timer)),
            timer: self.timer.clone(),
            total: timeout(self.name.clone(), self.total)?,
            attempt: timeout(format!("{}.attempt", self.name).into(), self.attempt)?,
            retry: self.retry,
            breaker: self.breaker,
            limit: self.limit,
            max_hint: self.max_hint,
        })
    }
}

/// A [`Pipeline`] with a [`Fallback`] around it, from
/// [`Pipeline::with_fallback`]: the outermost guard, so it sees the
/// pipeline's final, flat error (a rejection, a timeout, the last
/// attempt's error) and may replace it.
#[derive(Clone)]
pub struct FallbackPipeline<Tm, P, H, W, C = DefaultClassifier, L = Bulkhead> {
    pipeline: Pipeline<Tm, P, C, L>,
    fallback: Fallback<H, W>,
}

impl<Tm: Timer + std::fmt::Debug, P, H, W, C, L: Limiter> std::fmt::Debug
    for FallbackPipeline<Tm, P, H, W, C, L>
where
    Fallback<H, W>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackPipeline")
            .field("pipeline", &self.pipeline)
            .field("fallback", &self.fallback)
            .finish()
    }
}

impl<Tm: Timer, P, H, W, C, L: Limiter> FallbackPipeline<Tm, P, H, W, C, L> {
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
    ) -> FallbackCall<'_, H, W, PipelineCall<&Pipeline<Tm, P, C, L>, Tm, P, F, C, L>, H::Future>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        P: RetryPolicy<T, Error<E>>,
        C: Judge<T, E, L>,
        H: Handler<Error<E>, C::Output>,
        W: When<Error<E>>,
    {
        self.fallback.call(|| self.pipeline.call(make))
    }

    /// The pipeline inside.
    pub fn pipeline(&self) -> &Pipeline<Tm, P, C, L> {
        &self.pipeline
    }
}

impl<Tm: Timer, P, C, L: Limiter> Pipeline<Tm, P, C, L> {
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
    pub fn with_fallback<H, W>(
        self,
        fallback: Fallback<H, W>,
    ) -> FallbackPipeline<Tm, P, H, W, C, L> {
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
    pub fn call<F, Fut, T, E>(&self, make: F) -> PipelineCall<&Self, Tm, P, F, C, L>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        P: RetryPolicy<T, Error<E>>,
        C: Judge<T, E, L>,
    {
        PipelineCall::new(self, make)
    }

    /// Runs `make()`'s futures hedged: `hedge` takes the retry's place in
    /// the pipeline's order,
    ///
    /// ```text
    /// total timeout → hedge → circuit breaker → limit → attempt timeout → operation
    /// ```
    ///
    /// and the pipeline's retry, if it has one, is not used for this call.
    /// Each attempt, the first and every hedge, is admitted, judged and
    /// timed on its own: a hedge takes a bulkhead place and a breaker
    /// admission as any call does (it is one more call to the dependency),
    /// a hedge the breaker or the bulkhead rejects does not end a call whose
    /// first attempt still runs, and the losers are dropped without being
    /// counted. The total timeout bounds the whole call, hedges included.
    ///
    /// Why in the retry's place, not beside it: both make more attempts of
    /// one call and spend the same budget; a retry inside each hedge (or
    /// hedges inside each retry) multiplies the attempts a slow dependency
    /// receives, which is what the budget exists to prevent. A hedge also
    /// does the retry's job for failures: a retryable failure with nothing
    /// else running is followed by the next attempt at once. Give the
    /// hedge the retry's budget to share it with the pipeline's other calls.
    ///
    /// `make` is cloned for each attempt (a closure that borrows its data,
    /// or owns data that is `Clone`). Only for calls that are safe to send
    /// twice.
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::hedge::Hedge;
    /// use palisade::pipeline::Pipeline;
    /// use palisade::timer::ManualTimer;
    /// use std::time::Duration;
    ///
    /// let timer = ManualTimer::new();
    /// let pipeline = Pipeline::builder(timer.clone())
    ///     .timeout(Duration::from_secs(1))
    ///     .build()?;
    /// let hedge = Hedge::builder(timer).delay(Duration::from_millis(50)).build()?;
    /// let reply = pipeline.call_hedged(&hedge, || async { Ok::<_, std::io::Error>("in stock") });
    /// assert_eq!(futures::executor::block_on(reply).unwrap(), "in stock");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call): the answering attempt's outcome, or
    /// [`Error::TimedOut`] when the total timeout fires first.
    pub fn call_hedged<'a, Q, F, Fut, T, E>(
        &'a self,
        hedge: &'a Hedge<Tm, Q>,
        make: F,
    ) -> HedgedCall<'a, Tm, P, Q, F, C, L>
    where
        F: FnMut() -> Fut + Clone,
        Fut: Future<Output = Result<T, E>>,
        P: RetryPolicy<T, Error<E>>,
        Q: RetryPolicy<C::Output, Error<E>>,
        C: Judge<T, E, L>,
    {
        HedgedCall::new(self, hedge, make)
    }
}
