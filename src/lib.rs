//! # parapet
//!
//! Embeddable resilience for Rust services: circuit breaker, bulkheads,
//! timeout, retry and fallback, each usable as a plain future wrapper and as
//! a tower `Layer`, over a lock-free sliding-window health counter.
//!
//! When one dependency slows down, callers pile up waiting on it and run out
//! of workers, connections and memory; the failure spreads up the chain.
//! parapet stops that inside the process.
//!
//! ## Features
//!
//! - `tokio` (default): the tokio timer for timeouts and retry delays.
//! - `tower` (default): `Layer` / `Service` adapters.
//! - `metrics`: counters and gauges through the `metrics` crate.
//!
//! With `--no-default-features` the core (clock, window, circuit breaker)
//! needs no runtime at all.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod circuit_breaker;
pub mod clock;
pub mod error;
mod sync;
pub mod timer;
pub mod window;

pub use circuit_breaker::CircuitBreaker;
pub use error::{CircuitOpen, ConfigError, Error};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
