//! Helpers shared by the behaviour tests: one breaker builder with
//! small, readable settings, calls that succeed or fail, and a counting tower
//! service. Each test file uses part of it.
#![allow(dead_code, unused_imports)]

use std::time::Duration;

use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerBuilder, State};
use palisade::clock::ManualClock;
use palisade::Error;

pub(crate) const SEC: Duration = Duration::from_secs(1);

/// Window of the last 10 calls, judged from 10 calls at 50 %; open 5 s;
/// half-open: 3 trials, one at a time.
pub(crate) fn builder(clock: &ManualClock) -> CircuitBreakerBuilder {
    CircuitBreaker::builder()
        .name("dep")
        .count_window(10)
        .minimum_calls(10)
        .failure_rate_threshold(0.5)
        .open_duration(Duration::from_secs(5))
        .half_open_trial_calls(3)
        .half_open_max_concurrent(1)
        .clock(clock.clone())
}

pub(crate) fn ok(b: &CircuitBreaker) -> Result<u32, Error<&'static str>> {
    b.call_sync(|| Ok(1))
}

pub(crate) fn fail(b: &CircuitBreaker) -> Result<u32, Error<&'static str>> {
    b.call_sync(|| Err("boom"))
}

/// A breaker judging the last 10 calls from 10 that counts every
/// abandoned call (dropped before it ended) as a failure: what a hedge's
/// losers must never reach.
pub(crate) fn counting_abandoned() -> CircuitBreaker {
    CircuitBreaker::builder()
        .count_window(10)
        .minimum_calls(10)
        .abandoned(palisade::circuit_breaker::Abandoned::Failure)
        .build()
        .unwrap()
}

/// A hedge on `timer`: another attempt each 50 ms, `attempts` in all.
pub(crate) fn hedge(
    timer: &palisade::timer::ManualTimer,
    attempts: u32,
) -> palisade::hedge::Hedge<palisade::timer::ManualTimer> {
    palisade::hedge::Hedge::builder(timer.clone())
        .delay(Duration::from_millis(50))
        .max_attempts(attempts)
        .build()
        .unwrap()
}

/// Trips a breaker built by `builder(clock)`: 10 failures.
pub(crate) fn trip(b: &CircuitBreaker) {
    for _ in 0..10 {
        let _ = fail(b);
    }
    assert_eq!(b.state(), State::Open);
}

/// The lines an error chain prints, outermost first.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        lines.push(e.to_string());
        current = e.source();
    }
    lines
}

#[cfg(feature = "tower")]
pub(crate) use counting::Counting;

#[cfg(feature = "tower")]
mod counting {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll};

    /// Counts readiness polls and calls; answers `Err("odd")` for odd
    /// requests.
    #[derive(Clone, Debug, Default)]
    pub(crate) struct Counting {
        pub(crate) polls: Arc<AtomicUsize>,
        pub(crate) calls: Arc<AtomicUsize>,
    }

    impl tower::Service<u32> for Counting {
        type Response = u32;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<u32, std::io::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: u32) -> Self::Future {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(if req % 2 == 0 {
                Ok(req)
            } else {
                Err(std::io::Error::other("odd"))
            })
        }
    }
}

/// Polls `fut` to completion with no runtime, advancing `timer` to each
/// sleep's deadline whenever it waits.
pub(crate) fn drive<F: std::future::Future>(
    timer: &palisade::timer::ManualTimer,
    fut: F,
) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        let wait = timer.next_wake().expect("pending with no sleep: stuck");
        timer.advance(wait);
    }
}
