//! # parapet
//!
//! Embeddable resilience for Rust services: circuit breaker, bulkheads,
//! timeout, retry and fallback, each usable as a plain future wrapper and as
//! a tower `Layer`, over a lock-free sliding-window health counter.
//!
//! When one dependency slows down, callers pile up waiting on it and run out
//! of workers, connections and memory; the failure spreads up the chain.
//! parapet stops that inside the process: `cargo run --release --example
//! cascade` shows the cascade over real HTTP, then parapet preventing it.
//!
//! The pieces: [`circuit_breaker`], [`bulkhead`] (semaphore and
//! [`ThreadPool`](bulkhead::ThreadPool)), [`timeout`], [`retry`] (backoff,
//! budgets, hints), [`fallback`], composed in one documented order by
//! [`pipeline`] with one flat [`Error`]; [`registry`] for named, bounded
//! instances; every timer through [`timer::Timer`], so any runtime works.
//! For HTTP and gRPC clients, `parapet::http` (feature `http`) holds the
//! breaker's admission and the bulkhead's place in the response body and
//! records the call when the body ends (gRPC status in trailers, streams
//! cut mid-body).
//!
//! ## Quick start
//!
//! ```
//! use parapet::circuit_breaker::CircuitBreaker;
//! use std::time::Duration;
//!
//! let breaker = CircuitBreaker::builder()
//!     .name("inventory")
//!     .failure_rate_threshold(0.5) // trip at 50 % failures...
//!     .count_window(100) // ...of the last 100 calls...
//!     .minimum_calls(20) // ...once there are 20
//!     .open_duration(Duration::from_secs(5))
//!     .build()?;
//!
//! // Any future returning a Result: an HTTP or gRPC call, a query.
//! let reply = futures::executor::block_on(
//!     breaker.call(|| async { Ok::<_, std::io::Error>("in stock") }),
//! );
//! match reply {
//!     Ok(body) => assert_eq!(body, "in stock"),
//!     Err(e) if e.is_circuit_open() => println!("skipped: {e}"),
//!     Err(e) => println!("failed: {e}"),
//! }
//! # Ok::<(), parapet::ConfigError>(())
//! ```
//!
//! The same breaker goes into a tower or axum stack as
//! [`CircuitBreakerLayer`](circuit_breaker::CircuitBreakerLayer) (see the
//! [`circuit_breaker`] module docs for an axum example), and
//! [`try_acquire`](CircuitBreaker::try_acquire) gives a permit for code that
//! is not a future.
//!
//! ## Features
//!
//! - `tokio` (default): [`timer::TokioTimer`], the timer for a bulkhead's
//!   maximum wait (and the coming timeouts and retry delays) on tokio, and a
//!   current-thread tokio runtime on each thread-pool worker.
//! - `tower` (default): the `Layer` / `Service` adapters
//!   ([`CircuitBreakerLayer`](circuit_breaker::CircuitBreakerLayer)).
//! - `metrics`: counters, gauges and a histogram through the `metrics`
//!   crate; see "Metrics" in the [`circuit_breaker`] and [`bulkhead`] docs.
//!   Install the recorder *before* building breakers and bulkheads: each
//!   registers its metric handles when it is built, and one built earlier
//!   exports nothing.
//! - `tracing`: the caller's `tracing` span is entered around jobs on a
//!   [`ThreadPool`](bulkhead::ThreadPool).
//! - `http`: the `http` module (layers that record at the end of the
//!   response body, `tower-http` classifiers, HTTP and gRPC presets);
//!   [`retry::hint::from_headers`] reads retry hints from an
//!   `http::HeaderMap`. Enables `tower`.
//! - `grpc-example`: only builds `examples/grpc.rs` (its build script
//!   compiles the example's proto with a vendored `protoc`).
//!
//! ## Metrics
//!
//! With the `metrics` feature every primitive reports through the
//! `metrics` crate, Prometheus-style (base units, `_total` counters,
//! descriptions as `# HELP`), labelled with the instance's name under the
//! primitive's own key (`breaker`, `bulkhead`, `pool`, `retry`). Handles
//! are made once per instance, when it is built: install the recorder
//! first. Per-call counters are counted per thread and published in
//! batches (every 64 per thread, at transitions and at each `metrics()`
//! read), so nothing shared is written per call.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `parapet_circuit_breaker_calls_total` | counter | `breaker`, `outcome` = `success`, `failure`, `slow_success`, `slow_failure` |
//! | `parapet_circuit_breaker_not_recorded_total` | counter | `breaker` |
//! | `parapet_circuit_breaker_rejected_total` | counter | `breaker` |
//! | `parapet_circuit_breaker_transitions_total` | counter | `breaker`, `from`, `to` |
//! | `parapet_circuit_breaker_state` | gauge (1 for the current state) | `breaker`, `state` |
//! | `parapet_circuit_breaker_call_duration_seconds` | histogram | `breaker` |
//! | `parapet_bulkhead_admitted_total` | counter | `bulkhead` |
//! | `parapet_bulkhead_rejected_total` | counter | `bulkhead`, `reason` = `full`, `wait_timed_out` |
//! | `parapet_bulkhead_in_flight`, `_waiting`, `_limit` | gauge | `bulkhead` |
//! | `parapet_bulkhead_wait_seconds` | histogram | `bulkhead` |
//! | `parapet_thread_pool_completed_total` | counter | `pool` |
//! | `parapet_thread_pool_rejected_total` | counter | `pool`, `reason` = `full`, `shut_down` |
//! | `parapet_thread_pool_queued`, `_active` | gauge | `pool` |
//! | `parapet_retry_retries_total` | counter | `retry` |
//! | `parapet_retry_gave_up_total` | counter | `retry`, `reason` = `attempts`, `elapsed`, `budget` |
//!
//! `tests/metrics.rs` scrapes all of them from a real Prometheus exporter.
//!
//! With `--no-default-features` the core (clock, window, circuit breaker,
//! bulkheads; a queueing bulkhead then needs a [`Timer`](timer::Timer))
//! needs no runtime at all and runs under any executor.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bulkhead;
pub mod circuit_breaker;
pub mod clock;
#[cfg(feature = "serde")]
pub mod config;
pub mod error;
pub mod fallback;
#[cfg(feature = "tower")]
mod flatten;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "tower")]
mod lease;
mod listeners;
mod name;
pub mod pipeline;
pub mod registry;
pub mod retry;
mod striped;
mod sync;
pub mod timeout;
pub mod timer;
pub mod window;

pub use bulkhead::Bulkhead;
pub use circuit_breaker::CircuitBreaker;
pub use error::{BulkheadFull, CircuitOpen, ConfigError, Error, TimedOut};
#[cfg(feature = "tower")]
pub use flatten::{Flatten, FlattenLayer, Flattened};

/// A seed that differs per call and per process, for jitter (std's randomly
/// keyed hasher; no extra dependency).
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
