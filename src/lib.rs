//! # palisade
//!
//! Embeddable resilience for Rust services: circuit breaker, bulkheads,
//! timeout, retry and fallback, each usable as a plain future wrapper and as
//! a tower `Layer`, over a lock-free sliding-window health counter.
//!
//! When one dependency slows down, callers pile up waiting on it and run out
//! of workers, connections and memory; the failure spreads up the chain.
//! palisade stops that inside the process: `cargo run --release --example
//! cascade` shows the cascade over real HTTP, then palisade preventing it.
//!
//! The pieces: [`circuit_breaker`], [`bulkhead`] (semaphore and
//! [`ThreadPool`](bulkhead::ThreadPool)), [`timeout`], [`retry`] (backoff,
//! budgets, hints), [`fallback`], composed in one documented order by
//! [`pipeline`] with one flat [`Error`]; [`registry`] for named, bounded
//! instances; every timer through [`timer::Timer`], so any runtime works.
//! For HTTP and gRPC clients, `palisade::http` (feature `http`) holds the
//! breaker's admission and the bulkhead's place in the response body and
//! records the call when the body ends (gRPC status in trailers, streams
//! cut mid-body).
//!
//! ## Quick start
//!
//! One pipeline per dependency, built once and shared by every call to it,
//! around an outbound HTTP call (here reqwest; a hyper or tonic call, a
//! query, any future returning a `Result` works the same way):
//!
// It needs `TokioTimer`: compiled and run where the `tokio` feature is on.
#![cfg_attr(feature = "tokio", doc = "```")]
#![cfg_attr(not(feature = "tokio"), doc = "```ignore")]
//! use palisade::pipeline::Pipeline;
//! use palisade::retry::{Backoff, Retry};
//! use palisade::timer::TokioTimer;
//! use palisade::{Bulkhead, CircuitBreaker};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), palisade::ConfigError> {
//! // total timeout → retry → circuit breaker → bulkhead → attempt timeout
//! let inventory = Pipeline::builder(TokioTimer)
//!     .timeout(Duration::from_secs(2))
//!     .retry(
//!         Retry::builder()
//!             .max_attempts(3)
//!             .backoff(Backoff::constant(Duration::from_millis(10)))
//!             .timer(TokioTimer)
//!             .build()?,
//!     )
//!     .circuit_breaker(CircuitBreaker::builder().name("inventory").build()?)
//!     .bulkhead(Bulkhead::builder().name("inventory").max_concurrent(20).build()?)
//!     .attempt_timeout(Duration::from_millis(300))
//!     .build()?;
//!
//! let client = reqwest::Client::new();
//! // Nothing listens on this port: the dependency is down.
//! let url = "http://127.0.0.1:9/stock/42";
//! let reply = inventory
//!     .call(|| async {
//!         // A 5xx is a failure too.
//!         client.get(url).send().await?.error_for_status()?.text().await
//!     })
//!     .await;
//! match reply {
//!     Ok(body) => println!("in stock: {body}"),
//!     Err(e) if e.is_rejection() => println!("not sent: {e}"),
//!     // The dependency's own error, after three attempts.
//!     Err(e) => assert!(e.operation().is_some_and(|e| e.is_connect())),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Each guard also stands alone as a future wrapper
//! ([`CircuitBreaker::call`], [`Bulkhead::call`], ...) and as a tower
//! layer ([`CircuitBreakerLayer`](circuit_breaker::CircuitBreakerLayer),
//! [`PipelineLayer`](pipeline::PipelineLayer); see the [`circuit_breaker`]
//! module docs for an axum example), and
//! [`try_acquire`](CircuitBreaker::try_acquire) gives a permit for code that
//! is not a future. For HTTP responses whose outcome is known only at the
//! end of the body (gRPC status in trailers), use the layers of
//! `palisade::http`.
//!
//! ## Features
//!
//! - `tokio` (default): [`timer::TokioTimer`], the timer for timeouts,
//!   retry delays and a bulkhead's maximum wait on tokio, and a
//!   current-thread tokio runtime on each thread-pool worker.
//! - `tower` (default): the `Layer` / `Service` adapters
//!   ([`CircuitBreakerLayer`](circuit_breaker::CircuitBreakerLayer),
//!   [`PipelineLayer`](pipeline::PipelineLayer), [`FlattenLayer`]).
//! - `metrics`: counters, gauges and histograms through the `metrics`
//!   crate; see [Metrics](#metrics) below. Install the recorder *before*
//!   building breakers and bulkheads: each registers its metric handles
//!   when it is built, and one built earlier exports nothing.
//! - `tracing`: the caller's span entered around thread-pool jobs; events
//!   for transitions, rejections and retries.
//! - `http`: the `http` module (layers that record at the end of the
//!   response body, `tower-http` classifiers, HTTP and gRPC presets);
//!   [`retry::hint::from_headers`] reads retry hints from an
//!   `http::HeaderMap`. Enables `tower`.
//! - `serde`: the `config` module: every primitive's settings from
//!   configuration files (TOML, JSON, YAML...), durations as text.
//! - `client`: the `client` module: a pipeline per downstream host from
//!   configuration, in one tower layer, reconfigured live. Enables
//!   `http`, `serde` and `tokio`.
//! - `reload`: `Clients::watch` applies a configuration file whenever it
//!   changes (the `notify` crate). Enables `client`.
//!
//! On docs.rs every item says which feature it needs.
//!
//! ## Metrics
//!
//! With the `metrics` feature every primitive reports through the
//! `metrics` crate, Prometheus-style (base units, `_total` counters,
//! descriptions as `# HELP`), labelled with the instance's name under the
//! primitive's own key (`breaker`, `bulkhead`, `pool`, `retry`,
//! `timeout`, `fallback`). Handles are made once per instance, when it is
//! built: install the recorder first. Series that may never carry a value
//! (a breaker's transitions, its duration histogram, a timeout firing, a
//! fallback serving) are made when they first do, so a registry of an
//! instance per host does not multiply empty series. Per-call counters are counted per thread and published in
//! batches (every 64 per thread, at transitions and at each `metrics()`
//! read), so nothing shared is written per call.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `palisade_circuit_breaker_calls_total` | counter | `breaker`, `outcome` = `success`, `failure`, `slow_success`, `slow_failure` |
//! | `palisade_circuit_breaker_not_recorded_total` | counter | `breaker` |
//! | `palisade_circuit_breaker_rejected_total` | counter | `breaker` |
//! | `palisade_circuit_breaker_transitions_total` | counter | `breaker`, `from`, `to` |
//! | `palisade_circuit_breaker_state` | gauge (1 for the current state) | `breaker`, `state` |
//! | `palisade_circuit_breaker_call_duration_seconds` | histogram | `breaker` |
//! | `palisade_bulkhead_admitted_total` | counter | `bulkhead` |
//! | `palisade_bulkhead_rejected_total` | counter | `bulkhead`, `reason` = `full`, `wait_timed_out` |
//! | `palisade_bulkhead_in_flight`, `_waiting`, `_limit` | gauge | `bulkhead` |
//! | `palisade_bulkhead_wait_seconds` | histogram | `bulkhead` |
//! | `palisade_thread_pool_completed_total` | counter | `pool` |
//! | `palisade_thread_pool_rejected_total` | counter | `pool`, `reason` = `full`, `shut_down` |
//! | `palisade_thread_pool_queued`, `_active` | gauge | `pool` |
//! | `palisade_retry_retries_total` | counter | `retry` |
//! | `palisade_retry_gave_up_total` | counter | `retry`, `reason` = `attempts`, `elapsed`, `budget` |
//! | `palisade_timeout_timed_out_total` | counter | `timeout` (a pipeline's: its name, and `<name>.attempt`) |
//! | `palisade_fallback_served_total` | counter | `fallback` (a client's: the host key) |
//!
//! `tests/metrics.rs` scrapes all of them from a real Prometheus exporter.
//!
//! With `--no-default-features` the core (clock, window, circuit breaker,
//! bulkheads; a queueing bulkhead then needs a [`Timer`](timer::Timer))
//! needs no runtime at all and runs under any executor.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// `get_ref`, `get_mut` and `into_inner` of a tower service whose inner
/// service is its field `inner`, as tower's own services have them.
#[cfg(feature = "tower")]
macro_rules! inner_service {
    ($service:ident <$($param:ident),*>) => {
        inner_service!($service<$($param),*> where);
    };
    ($service:ident <$($param:ident),*> where $($bound:tt)*) => {
        impl<$($param),*> $service<$($param),*> where $($bound)* {
            /// The inner service.
            pub fn get_ref(&self) -> &S {
                &self.inner
            }

            /// The inner service, mutably.
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.inner
            }

            /// The inner service; a place this service reserved for its
            /// next call is given back (a rate limit's turn is spent).
            pub fn into_inner(self) -> S {
                self.inner
            }
        }
    };
}

pub mod adaptive;
mod attempt;
pub mod bulkhead;
pub mod chaos;
pub mod circuit_breaker;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
pub mod clock;
#[cfg(feature = "serde")]
pub mod config;
mod config_error;
pub mod error;
pub mod event;
pub mod fallback;
#[cfg(feature = "tower")]
mod flatten;
#[cfg(feature = "tower")]
mod gate;
pub mod hedge;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "tower")]
mod lease;
pub mod limit;
mod limits;
mod listeners;
mod name;
pub mod pipeline;
mod random;
pub mod rate_limit;
pub mod registry;
pub mod retry;
mod striped;
mod superseded;
mod sync;
pub mod timeout;
pub mod timer;
mod unwind;
pub mod window;

pub use bulkhead::Bulkhead;
pub use circuit_breaker::CircuitBreaker;
pub use error::{BulkheadFull, CircuitOpen, ConfigError, Error, TimedOut};
#[cfg(feature = "tower")]
pub use flatten::{Flatten, FlattenLayer, Flattened};
pub use limits::MAX_DURATION;

/// The README's examples, compiled and run as doctests (they run on tokio).
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
