//! The circuit breaker: stop calling a dependency that is failing.
//!
//! The breaker watches the outcomes of calls in a sliding window (the last
//! N calls, the last T, or both). When, with at least the minimum number of
//! calls, the failure rate or the slow-call rate reaches its threshold, it
//! *opens*: calls are rejected at once, without running, and the rejection
//! says how long until the next trial. After the open duration it lets a few
//! trial calls through (*half-open*) and judges them as a fresh window:
//! healthy closes it, unhealthy reopens it for a longer time.
//!
//! ```text
//!   Closed ──rate >= threshold──▶ Open ──open duration passed──▶ HalfOpen
//!     ▲                            ▲                                │
//!     └───────trials healthy───────┼────trials unhealthy / max wait─┘
//! ```
//!
//! Manual states: [`State::Disabled`] (admit everything, record nothing),
//! [`State::ForcedOpen`] (reject everything), [`State::MetricsOnly`]
//! (record, never trip).
//!
//! # Rules
//!
//! - Rates are compared in integers: 5 failures in 10 calls trips a 50 %
//!   threshold. Below the minimum number of calls there is no verdict.
//! - The rule runs when a failure or slow call is recorded, and when a
//!   success brings the window up to the minimum; at no other moment does a
//!   success trip the breaker.
//! - A call is slow when it takes strictly longer than the slow-call
//!   duration.
//! - Open becomes half-open at or after its deadline, checked lazily on the
//!   next call or [`state()`](CircuitBreaker::state): there is no timer.
//! - Half-open admits a call while fewer than the probe cap are running and
//!   recorded trials plus running probes are fewer than the trial count. It
//!   reopens as soon as the failures (or slow calls) among the trials reach
//!   the threshold of the trial count, and closes as soon as they no longer
//!   can. Without a verdict within the maximum wait, it reopens.
//! - With a [`HalfOpenRamp`], half-open instead lets through a growing
//!   share of calls in stages, each a fresh window judged as the closed
//!   one is; a failed stage reopens, the last passed stage closes (the
//!   rules are on [`HalfOpenRamp`]). Each new stage is a state change from
//!   half-open to half-open.
//! - Ignored results are not counted at all. A call dropped before it
//!   completes (abandoned) is not recorded unless the [`Abandoned`] policy
//!   says otherwise, and always gives back its half-open place; a hedge's
//!   losing attempts are never recorded. A panic in the operation records
//!   a failure.
//! - Every state change starts a fresh window generation; results of calls
//!   admitted in an earlier state are discarded, also when they race the
//!   transition itself (the window's counts are tagged with the generation).
//! - `state()` makes at most one clock-driven transition per call, whatever
//!   the clock reads; every duration is at most [`MAX_DURATION`].
//! - A panic in the operation's own poll (or in `call_sync`'s closure) is a
//!   failure, also when the panic is caught further up.
//!
//! # Examples
//!
//! ```
//! use palisade::circuit_breaker::{CircuitBreaker, State};
//! use palisade::clock::ManualClock;
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let breaker = CircuitBreaker::builder()
//!     .count_window(10)
//!     .minimum_calls(4)
//!     .open_duration(Duration::from_secs(5))
//!     .clock(clock.clone())
//!     .build()?;
//!
//! for _ in 0..4 {
//!     let _ = breaker.call_sync(|| Err::<(), _>("connection refused"));
//! }
//! assert_eq!(breaker.state(), State::Open);
//! let err = breaker.call_sync(|| Ok::<_, ()>(1)).unwrap_err();
//! assert!(err.is_circuit_open());
//!
//! clock.advance(Duration::from_secs(5));
//! assert_eq!(breaker.state(), State::HalfOpen);
//! # Ok::<(), palisade::ConfigError>(())
//! ```
//!
//! # In an axum stack
//!
//! The tower layer never fails `poll_ready`; a rejection comes back from the
//! call as [`Error::CircuitOpen`]. Behind axum's `HandleErrorLayer` errors
//! arrive as `tower::BoxError`; [`CircuitOpen::find_in`] finds the rejection:
//!
//! ```
//! # #[cfg(feature = "tower")]
//! # fn main() -> Result<(), palisade::ConfigError> {
//! use axum::{error_handling::HandleErrorLayer, http::StatusCode, Router};
//! use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, State};
//! use palisade::CircuitOpen;
//! use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};
//!
//! let breaker = CircuitBreaker::builder().name("inventory").build()?;
//! let outbound = ServiceBuilder::new()
//!     // The handler takes the BoxError the stack below returns.
//!     .layer(HandleErrorLayer::new(|err: BoxError| async move {
//!         match CircuitOpen::find_in(err.as_ref()) {
//!             // "circuit breaker `inventory` rejected the call"
//!             Some(_open) => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
//!             None => (StatusCode::BAD_GATEWAY, err.to_string()),
//!         }
//!     }))
//!     .map_err(BoxError::from)
//!     .layer(CircuitBreakerLayer::new(breaker.clone()))
//!     .service(service_fn(|_req: axum::extract::Request| async {
//!         // Here the real outbound call (reqwest, hyper, tonic).
//!         Ok::<_, std::io::Error>("in stock")
//!     }));
//! let app = Router::new().route_service("/stock", outbound);
//!
//! breaker.transition_to(State::ForcedOpen);
//! let request = axum::http::Request::get("/stock").body(axum::body::Body::empty()).unwrap();
//! let response = futures::executor::block_on(app.oneshot(request)).unwrap();
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "tower"))]
//! # fn main() {}
//! ```
//!
//! # Metrics
//!
//! With the `metrics` feature, each breaker exports through the `metrics`
//! crate, labelled `breaker` = its name, with descriptions (Prometheus
//! `# HELP`):
//!
//! | name | kind | more labels |
//! |---|---|---|
//! | `palisade_circuit_breaker_calls_total` | counter | `outcome` = `success`, `failure`, `slow_success`, `slow_failure` |
//! | `palisade_circuit_breaker_not_recorded_total` | counter | (ignored, cancelled, or from an earlier state) |
//! | `palisade_circuit_breaker_rejected_total` | counter | |
//! | `palisade_circuit_breaker_transitions_total` | counter | `from`, `to` = `closed`, `open`, `half_open`, `disabled`, `forced_open`, `metrics_only` |
//! | `palisade_circuit_breaker_state` | gauge | `state`: 1 for the current state, 0 for the others |
//! | `palisade_circuit_breaker_call_duration_seconds` | histogram | (recorded calls, while slow calls are timed) |
//!
//! **Install the recorder before building breakers.** A breaker registers
//! its handles once, when it is built, so that the call path only adds to
//! them; the `metrics` crate gives a breaker built before the recorder
//! no-op handles, and it exports nothing. (Resolving handles per call
//! would cost a registry lookup on every call.) Two kinds of series are
//! registered later, when they first have a value, with the recorder in
//! force then: a transition's counter when that transition first happens,
//! and the duration histogram at the first timed call. A breaker so
//! exports 12 series until something changes, not 57 (36 transition
//! counters most of which never move, and an empty histogram when slow
//! calls are not timed): a registry of a breaker per host multiplies them.
//!
//! **The three per-call counters are published in batches.** A call adds
//! to a count of its own thread (no shared cache line, no locked
//! instruction, so metrics cost the same at any thread count), and totals
//! reach the recorder after every 64 counts of one counter by one thread,
//! at each state transition, at each [`CircuitBreaker::metrics`] read and
//! when the breaker is dropped. A scrape may so trail the calls by fewer
//! than 64 per thread and counter; call `metrics()` before rendering to
//! publish everything.
//!
//! For a reading in code, without a recorder, use
//! [`CircuitBreaker::metrics`].

mod admission;
mod builder;
mod classify;
mod config;
pub mod error;
mod event;
pub mod future;
pub(crate) mod guard;
mod half_open;
#[cfg(feature = "tower")]
mod layer;
#[cfg(feature = "metrics")]
mod metrics;
mod permit;
mod record;
#[cfg(feature = "tower")]
mod service;
mod state;
mod transition;
mod view;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use builder::CircuitBreakerBuilder;
pub use classify::{Classification, Classify, DefaultClassifier};
pub use config::{
    Abandoned, HalfOpenRamp, OpenBackoff, Settings, MAX_DURATION, MAX_RAMP_STAGES, MAX_TRIAL_CALLS,
};
pub use error::CircuitOpen;
pub use event::{CircuitBreakerEvent, CircuitBreakerEventKind};
pub use future::CircuitBreakerCall;
#[cfg(feature = "tower")]
pub use future::CircuitBreakerResponse;
#[cfg(feature = "tower")]
pub use layer::CircuitBreakerLayer;
pub use permit::Permit;
#[cfg(feature = "tower")]
pub use service::CircuitBreakerService;
pub use view::Metrics;

use crate::config_error::ConfigError;
use crate::error::Error;
use crate::window::Snapshot;
use permit::Ticket;
use state::Inner;

/// The states of a circuit breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// Calls run and are recorded; the breaker trips on the thresholds.
    Closed = 0,
    /// Calls are rejected until the open duration has passed.
    Open = 1,
    /// A few trial calls run and decide between closed and open.
    HalfOpen = 2,
    /// Calls run and nothing is recorded.
    Disabled = 3,
    /// Every call is rejected until a manual transition.
    ForcedOpen = 4,
    /// Calls run and are recorded, but the breaker never trips.
    MetricsOnly = 5,
}

impl State {
    /// The state of three bits of a state word: one load from a table (a
    /// `match` cost eight instructions on every call). Bits 6 and 7 are
    /// never written.
    #[inline]
    pub(crate) fn from_bits(bits: u64) -> Self {
        const STATES: [State; 8] = [
            State::Closed,
            State::Open,
            State::HalfOpen,
            State::Disabled,
            State::ForcedOpen,
            State::MetricsOnly,
            State::MetricsOnly,
            State::MetricsOnly,
        ];
        STATES[(bits & 7) as usize]
    }
}

/// A circuit breaker. Cheap to clone: clones share one breaker.
///
/// `C` classifies results (see [`Classify`]); the default counts every `Err`
/// as a failure. Works with no async runtime at all.
///
/// See the [module docs](self) for the rules and an example.
pub struct CircuitBreaker<C = DefaultClassifier> {
    pub(crate) inner: Arc<Inner>,
    classifier: C,
}

impl<C: Clone> Clone for CircuitBreaker<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            classifier: self.classifier.clone(),
        }
    }
}

impl<C> fmt::Debug for CircuitBreaker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl CircuitBreaker {
    /// A builder with the defaults written on each setter.
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::default()
    }
}

impl<C> CircuitBreaker<C> {
    pub(crate) fn from_parts(inner: Inner, classifier: C) -> Self {
        Self {
            inner: Arc::new(inner),
            classifier,
        }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Its classifier, for guards that compose the breaker (the pipeline).
    pub(crate) fn classifier(&self) -> &C {
        &self.classifier
    }

    /// The current state, after any transition its clock makes due
    /// (open → half-open at the deadline, half-open → open at the maximum
    /// wait).
    pub fn state(&self) -> State {
        self.inner.state()
    }

    /// Calls, failures and slow calls in the current window, raw: rates
    /// computed from it are not the breaker's verdict below the minimum
    /// number of calls (see [`metrics`](Self::metrics)).
    pub fn snapshot(&self) -> Snapshot {
        self.inner.snapshot()
    }

    /// The state, the window, the rates the breaker judges (`None` below
    /// the minimum number of calls), the calls rejected since the last
    /// transition and the half-open trial counts, read in one call.
    pub fn metrics(&self) -> Metrics {
        self.inner.metrics()
    }

    /// Asks to run one call.
    ///
    /// # Errors
    ///
    /// [`CircuitOpen`] if the breaker rejects the call (open, forced open, or
    /// half-open with no probe place free).
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, CircuitOpen> {
        let admission = self.inner.acquire()?;
        Ok(Permit {
            ticket: Ticket::new(&*self.inner, admission),
        })
    }

    /// Runs the future `make()` returns if the breaker admits the call, and
    /// records its result. The breaker is asked on the first poll, and
    /// `make` is not called when the call is rejected.
    ///
    /// # Errors
    ///
    /// [`Error::CircuitOpen`] if rejected, [`Error::Operation`] with the
    /// operation's own error if it failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::circuit_breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder().build()?;
    /// let answer = futures::executor::block_on(
    ///     breaker.call(|| async { Ok::<_, std::io::Error>(42) }),
    /// );
    /// assert_eq!(answer.unwrap(), 42);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn call<F, Fut, T, E>(&self, make: F) -> CircuitBreakerCall<'_, F, Fut, C>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Classify<T, E>,
    {
        CircuitBreakerCall::new(&self.inner, &self.classifier, make)
    }

    /// Guards an existing future: it is dropped unpolled if the breaker
    /// rejects the call. Futures are lazy, so nothing of it has run yet.
    pub fn guard<Fut, T, E>(&self, fut: Fut) -> CircuitBreakerCall<'_, impl FnOnce() -> Fut, Fut, C>
    where
        Fut: Future<Output = Result<T, E>>,
        C: Classify<T, E>,
    {
        self.call(move || fut)
    }

    /// Runs `op` now if the breaker admits the call, and records its result.
    /// A panic in `op` records a failure and keeps unwinding.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    #[inline]
    pub fn call_sync<T, E>(&self, op: impl FnOnce() -> Result<T, E>) -> Result<T, Error<E>>
    where
        C: Classify<T, E>,
    {
        let mut permit = self.try_acquire()?;
        let result = crate::unwind::run_noting_unwind(op, || {
            permit.ticket.finish(Classification::Failure);
        });
        permit.record(self.classifier.classify(&result));
        result.map_err(Error::Operation)
    }

    /// Moves to `state` now, whatever the current state, with a fresh
    /// window; moving to the current state restarts it. `Open` opens for
    /// the base open duration and forgets the open backoff, from any state
    /// (half-open included).
    pub fn transition_to(&self, state: State) {
        self.inner.force(state);
    }

    /// If the breaker is open, keeps it open until at least `at_least`
    /// from now: a longer open duration than configured, for a dependency
    /// that said how long to stay away (a `Retry-After` or
    /// `grpc-retry-pushback-ms` on the response that tripped it; see
    /// [`crate::http`]). Never shortens the open period; capped at
    /// [`MAX_DURATION`]. In any other state it does nothing. Returns
    /// whether the deadline moved.
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, State};
    /// use palisade::clock::ManualClock;
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let breaker = CircuitBreaker::builder()
    ///     .open_duration(Duration::from_secs(5))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// assert!(!breaker.hold_open(Duration::from_secs(30))); // closed: nothing
    /// breaker.transition_to(State::Open);
    /// assert!(breaker.hold_open(Duration::from_secs(30)));
    /// assert!(!breaker.hold_open(Duration::from_secs(1))); // never shorter
    /// clock.advance(Duration::from_secs(29));
    /// assert_eq!(breaker.state(), State::Open);
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(breaker.state(), State::HalfOpen);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn hold_open(&self, at_least: Duration) -> bool {
        self.inner.hold_open(at_least)
    }

    /// Closed, with a fresh window and the open backoff forgotten.
    pub fn reset(&self) {
        self.inner.reset();
    }

    /// The runtime-tunable settings in force.
    pub fn settings(&self) -> Settings {
        self.inner.settings()
    }

    /// Changes thresholds and durations while running, keeping the window
    /// and the state, then judges the state again under the new settings:
    /// a half-open period whose recorded trials now hold a verdict (say, the
    /// trial count was lowered below them) ends at once. A closed window is
    /// not judged by the change itself: as always, the next recorded failure
    /// or slow call judges it under the new thresholds (a success never
    /// does, semantics 3). Calls racing the change may see old or new
    /// values.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the bad field; nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::circuit_breaker::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder().build()?;
    /// let mut settings = breaker.settings();
    /// settings.failure_rate_threshold = 0.2;
    /// breaker.reconfigure(settings)?;
    /// assert_eq!(breaker.settings().failure_rate_threshold, 0.2);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn reconfigure(&self, settings: Settings) -> Result<(), ConfigError> {
        self.inner.reconfigure(settings)
    }

    /// Calls `listener` on every event (state transitions, rejections,
    /// recorded outcomes). With no listener, events cost one load.
    /// Listeners run on the thread of the call that caused the event; the
    /// call path reaches them without a lock or an allocation (listeners
    /// are appended to a lock-free list and never removed). Keep them
    /// short.
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerEventKind, State};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let breaker = CircuitBreaker::builder().build()?;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&seen);
    /// breaker.on_event(move |e| {
    ///     if let CircuitBreakerEventKind::StateTransition { to, .. } = e.kind {
    ///         sink.lock().unwrap().push(to);
    ///     }
    /// });
    /// breaker.transition_to(State::ForcedOpen);
    /// assert_eq!(*seen.lock().unwrap(), vec![State::ForcedOpen]);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn on_event(&self, listener: impl Fn(&CircuitBreakerEvent<'_>) + Send + Sync + 'static) {
        self.inner.events.add(Box::new(listener));
    }

    /// Calls `hook(from, to)` on every state transition (a typed view of
    /// [`on_event`](Self::on_event)).
    ///
    /// # Examples
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreaker, State};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let breaker = CircuitBreaker::builder().build()?;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&seen);
    /// breaker.on_state_transition(move |from, to| sink.lock().unwrap().push((from, to)));
    /// breaker.transition_to(State::Open);
    /// assert_eq!(*seen.lock().unwrap(), vec![(State::Closed, State::Open)]);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn on_state_transition(&self, hook: impl Fn(State, State) + Send + Sync + 'static) {
        self.on_event(move |e| {
            if let CircuitBreakerEventKind::StateTransition { from, to } = e.kind {
                hook(from, to);
            }
        });
    }

    /// Calls `hook(state, retry_after)` on every rejected call (a typed
    /// view of [`on_event`](Self::on_event)).
    pub fn on_rejected(
        &self,
        hook: impl Fn(State, Option<std::time::Duration>) + Send + Sync + 'static,
    ) {
        self.on_event(move |e| {
            if let CircuitBreakerEventKind::Rejected { state, retry_after } = e.kind {
                hook(state, retry_after);
            }
        });
    }
}

/// Guard a future with a breaker, as a method on the future.
///
/// # Examples
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerExt};
///
/// let breaker = CircuitBreaker::builder().build()?;
/// let fut = async { Ok::<_, std::io::Error>("pong") };
/// let reply = futures::executor::block_on(fut.with_circuit_breaker(&breaker));
/// assert_eq!(reply.unwrap(), "pong");
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub trait CircuitBreakerExt<T, E>: Future<Output = Result<T, E>> + Sized {
    /// See [`CircuitBreaker::guard`].
    fn with_circuit_breaker<C: Classify<T, E>>(
        self,
        breaker: &CircuitBreaker<C>,
    ) -> CircuitBreakerCall<'_, impl FnOnce() -> Self, Self, C> {
        breaker.guard(self)
    }
}

impl<F: Future<Output = Result<T, E>>, T, E> CircuitBreakerExt<T, E> for F {}

/// Compile-time proof that breakers and their futures are `Send + Sync`.
#[allow(dead_code)]
fn _assert_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<CircuitBreaker>();
    check::<Permit<'static>>();
    check::<
        CircuitBreakerCall<
            'static,
            fn() -> std::future::Ready<Result<(), ()>>,
            std::future::Ready<Result<(), ()>>,
            DefaultClassifier,
        >,
    >();
}
