//! Regression tests for the defects found in review of the circuit breaker
//! (races, time edges, the tower contract). Each test is named by the
//! behaviour it pins; every one failed on the code before its fix.
#![cfg(not(palisade_loom))]

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerEventKind, OpenBackoff, State};
use palisade::clock::ManualClock;

mod support;
use support::{builder, chain, fail, ok, trip, SEC};

fn transitions(b: &CircuitBreaker) -> Arc<Mutex<Vec<(State, State)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    b.on_event(move |e| {
        if let CircuitBreakerEventKind::StateTransition { from, to } = e.kind {
            sink.lock().unwrap().push((from, to));
        }
    });
    seen
}

/// A fresh generation is fresh. Recorders admitted while failures
/// were the rule keep finishing after the restart; none of their failures
/// may show in the new window, in which every call admitted succeeds.
#[test]
fn no_outcome_of_an_earlier_generation_reaches_a_fresh_window() {
    const FAIL: u8 = 0;
    const SUCCEED: u8 = 1;
    let b = CircuitBreaker::builder()
        .count_window(100_000)
        .minimum_calls(100_000)
        .initial_state(State::MetricsOnly)
        .build()
        .unwrap();
    let phase = Arc::new(AtomicU8::new(FAIL));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (b, phase, stop) = (b.clone(), Arc::clone(&phase), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(permit) = b.try_acquire() else {
                        continue;
                    };
                    // Read after admission: a call admitted after the
                    // restart below always reads SUCCEED.
                    if phase.load(Ordering::SeqCst) == FAIL {
                        permit.failure();
                    } else {
                        permit.success();
                    }
                }
            })
        })
        .collect();
    let mut ghosts = 0;
    for _ in 0..100 {
        phase.store(FAIL, Ordering::SeqCst);
        b.transition_to(State::MetricsOnly);
        std::thread::sleep(Duration::from_micros(100));
        phase.store(SUCCEED, Ordering::SeqCst);
        b.transition_to(State::MetricsOnly);
        std::thread::sleep(Duration::from_micros(100));
        ghosts += b.snapshot().failures();
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(
        ghosts, 0,
        "failures of an earlier generation in a fresh window"
    );
}

/// With the clock at the end of time, `state()` makes at most one
/// clock-driven transition per call.
#[test]
fn no_livelock_at_the_end_of_time() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let sink = Arc::clone(&count);
    b.on_event(move |e| {
        if matches!(e.kind, CircuitBreakerEventKind::StateTransition { .. }) {
            let n = sink.fetch_add(1, Ordering::SeqCst);
            assert!(n < 1000, "livelock: over 1000 transitions");
        }
    });
    trip(&b);
    clock.set_nanos(u64::MAX);
    let before = count.load(Ordering::SeqCst);
    for _ in 0..5 {
        let _ = b.state();
    }
    assert!(count.load(Ordering::SeqCst) - before <= 5);
}

/// A call admitted while slow-call detection was off is never judged
/// slow, even if detection is turned on before it ends.
#[test]
fn calls_admitted_without_timing_are_never_slow() {
    let clock = ManualClock::starting_at(10_000_000_000);
    let b = builder(&clock)
        .slow_call_rate_threshold(0.1)
        .build()
        .unwrap();
    let permit = b.try_acquire().unwrap();
    let mut settings = b.settings();
    settings.slow_call_duration = Some(SEC);
    b.reconfigure(settings).unwrap();
    permit.success();
    assert_eq!(b.snapshot().slow_calls(), 0);
}

/// A `call` future is timed from its first poll, not its creation.
#[test]
fn call_future_is_timed_from_its_first_poll() {
    let clock = ManualClock::new();
    let b = builder(&clock).slow_call_duration(SEC).build().unwrap();
    let fut = b.call(|| async { Ok::<_, ()>(()) });
    clock.advance(2 * SEC);
    futures::executor::block_on(fut).unwrap();
    assert_eq!(b.snapshot().calls(), 1);
    assert_eq!(b.snapshot().slow_calls(), 0);
}

/// A zero slow-call duration is a configuration error.
#[test]
fn zero_slow_call_duration_is_rejected() {
    let err = CircuitBreaker::builder()
        .slow_call_duration(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "slow_call_duration");
}

/// A panic caught by `catch_unwind` around the guarded future is a
/// failure; a healthy call dropped during an unrelated unwind is not.
#[test]
fn panics_are_detected_in_the_operations_own_poll() {
    use futures::FutureExt;
    use std::panic::AssertUnwindSafe;

    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    let caught = futures::executor::block_on(
        AssertUnwindSafe(b.call(|| async {
            if true {
                panic!("operation panicked");
            }
            Ok::<(), ()>(())
        }))
        .catch_unwind(),
    );
    assert!(caught.is_err());
    assert_eq!(b.snapshot().failures(), 1, "the panic is a failure");

    let b2 = builder(&clock).build().unwrap();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut call = Box::pin(b2.call(futures::future::pending::<Result<(), ()>>));
        assert!((&mut call).now_or_never().is_none(), "running");
        panic!("unrelated");
    }));
    assert!(outcome.is_err());
    assert_eq!(
        b2.snapshot().calls(),
        0,
        "a dropped healthy call is cancelled"
    );
}

/// Lowering the trial count below the trials already recorded
/// decides the half-open period at once.
#[test]
fn reconfigure_in_half_open_rejudges() {
    let clock = ManualClock::new();
    let b = builder(&clock).half_open_trial_calls(4).build().unwrap();
    trip(&b);
    clock.advance(Duration::from_secs(5));
    assert_eq!(b.state(), State::HalfOpen);
    let _ = ok(&b);
    let _ = fail(&b);
    assert_eq!(b.state(), State::HalfOpen, "1 of 2 needed failures");
    let mut settings = b.settings();
    settings.half_open_trial_calls = 2;
    b.reconfigure(settings).unwrap();
    assert_eq!(b.state(), State::Open, "1 failure of 2 trials reaches 50 %");
}

/// A half-open period that ends by its maximum wait with no trial
/// reopens for the same open duration.
#[test]
fn backoff_does_not_grow_without_trials() {
    let clock = ManualClock::new();
    let b = builder(&clock)
        .open_backoff(OpenBackoff::exponential(2.0).max_duration(Duration::from_secs(80)))
        .half_open_max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    trip(&b);
    for _ in 0..4 {
        clock.advance(Duration::from_secs(5));
        assert_eq!(b.state(), State::HalfOpen);
        clock.advance(Duration::from_secs(10));
        let err = b.try_acquire().unwrap_err();
        assert_eq!(err.state(), State::Open);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    }
}

/// A probe result from a half-open period that has ended is
/// reported as not recorded.
#[test]
fn late_probe_results_are_not_recorded() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    trip(&b);
    clock.advance(Duration::from_secs(5));
    let probe = b.try_acquire().unwrap();
    b.transition_to(State::Closed);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    b.on_event(move |e| sink.lock().unwrap().push(e.kind));
    probe.success();
    assert_eq!(
        *events.lock().unwrap(),
        vec![CircuitBreakerEventKind::NotRecorded]
    );
    assert_eq!(b.snapshot().calls(), 0);
}

/// Listeners see transitions in the order they happened.
#[test]
fn transition_events_arrive_in_order() {
    let b = CircuitBreaker::builder().build().unwrap();
    let seen = transitions(&b);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let b = b.clone();
            std::thread::spawn(move || {
                let states = [State::Closed, State::ForcedOpen, State::MetricsOnly];
                for k in 0..5_000 {
                    b.transition_to(states[(i + k) % 3]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 20_000);
    let out_of_order = seen.windows(2).filter(|w| w[0].1 != w[1].0).count();
    assert_eq!(out_of_order, 0);
    assert_eq!(seen.last().unwrap().1, b.state());
}

/// Thresholds are exact as written: 2 of 3 trips a 2/3 threshold,
/// in closed and in half-open.
#[test]
fn thresholds_are_exact() {
    for (threshold, failures, calls) in [(2.0 / 3.0, 2, 3), (1.0 / 6.0, 1, 6), (4.0 / 7.0, 4, 7)] {
        let clock = ManualClock::new();
        let b = builder(&clock)
            .count_window(calls)
            .minimum_calls(calls)
            .failure_rate_threshold(threshold)
            .build()
            .unwrap();
        for i in 0..calls {
            let _ = if i < failures { fail(&b) } else { ok(&b) };
        }
        assert_eq!(
            b.state(),
            State::Open,
            "{failures} of {calls} at {threshold}"
        );
    }
    // Half-open, 3 trials at 2/3: two failures reopen.
    let clock = ManualClock::new();
    let b = builder(&clock)
        .failure_rate_threshold(2.0 / 3.0)
        .build()
        .unwrap();
    trip(&b);
    clock.advance(Duration::from_secs(5));
    let _ = fail(&b);
    let _ = fail(&b);
    assert_eq!(b.state(), State::Open);
}

/// After a time window's calls expire, the success that brings it
/// back to the minimum is judged.
#[test]
fn back_up_to_the_minimum_after_expiry() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder()
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..4 {
        let _ = ok(&b);
    }
    clock.advance(SEC);
    let _ = fail(&b);
    let _ = fail(&b);
    assert_eq!(b.state(), State::Closed, "2 of 6");
    clock.advance(Duration::from_secs(9)); // the 4 successes slide out
    assert_eq!(b.snapshot().calls(), 2);
    let _ = ok(&b);
    let _ = ok(&b);
    assert_eq!(b.state(), State::Open, "2 of 4 at the minimum");
}

/// A probe held across thousands of half-open periods is never
/// taken for a trial of the current one.
#[test]
fn no_generation_aliasing_in_half_open() {
    let clock = ManualClock::new();
    let b = builder(&clock).half_open_trial_calls(2).build().unwrap();
    b.transition_to(State::HalfOpen);
    let old = b.try_acquire().unwrap();
    for _ in 0..8192 {
        b.transition_to(State::HalfOpen);
    }
    let current = b.try_acquire().unwrap();
    old.failure();
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "the old probe's failure is stale"
    );
    current.success();
    assert_eq!(b.state(), State::HalfOpen, "one of two trials recorded");
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), State::Closed, "two successes of two trials");
}

/// The breaker's view reads no rate below the minimum.
#[test]
fn rates_read_none_below_the_minimum() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    for _ in 0..4 {
        let _ = fail(&b);
    }
    assert_eq!(b.snapshot().failure_rate(), Some(1.0), "raw window");
    let m = b.metrics();
    assert_eq!(m.failure_rate(), None);
    assert_eq!(m.slow_call_rate(), None);
    assert_eq!(m.window().calls(), 4);
    for _ in 0..6 {
        let _ = fail(&b);
    }
    let _ = ok(&b);
    let _ = ok(&b);
    let m = b.metrics();
    assert_eq!(m.state(), State::Open);
    assert_eq!(m.rejected(), 2);
    clock.advance(Duration::from_secs(5));
    let permit = b.try_acquire().unwrap();
    let m = b.metrics();
    assert_eq!(m.rejected(), 0, "counted since the last transition");
    assert_eq!(m.trials_running(), 1);
    permit.failure();
    let m = b.metrics();
    assert_eq!((m.trials_recorded(), m.trial_failures()), (1, 1));
}

#[cfg(feature = "tower")]
mod tower_contract {
    use super::*;
    use palisade::circuit_breaker::CircuitBreakerLayer;
    use std::task::{Context, Poll};
    use tower::{Layer, Service, ServiceExt};

    use super::support::Counting;

    /// An open breaker under `Buffer` rejects calls, and the stack
    /// works again once the breaker closes.
    #[tokio::test]
    async fn buffered_stack_survives_open_and_half_open() {
        let clock = ManualClock::new();
        let b = builder(&clock).half_open_trial_calls(1).build().unwrap();
        let inner = Counting::default();
        let svc =
            tower::buffer::Buffer::new(CircuitBreakerLayer::new(b.clone()).layer(inner.clone()), 8);
        for _ in 0..10 {
            let _ = svc.clone().oneshot(1).await;
        }
        assert_eq!(b.state(), State::Open);
        let err = svc.clone().oneshot(2).await.unwrap_err();
        assert!(
            palisade::CircuitOpen::find_in(err.as_ref()).is_some(),
            "{err}"
        );
        clock.advance(Duration::from_secs(5));
        assert_eq!(svc.clone().oneshot(2).await.unwrap(), 2, "half-open trial");
        assert_eq!(b.state(), State::Closed);
        assert_eq!(svc.clone().oneshot(4).await.unwrap(), 4);
        b.transition_to(State::ForcedOpen);
        assert!(svc.clone().oneshot(2).await.is_err());
        b.reset();
        assert_eq!(
            svc.clone().oneshot(6).await.unwrap(),
            6,
            "alive after reset"
        );
    }

    /// `poll_ready` stays `Ok` while the breaker rejects.
    #[test]
    fn poll_ready_never_rejects() {
        let clock = ManualClock::new();
        let b = builder(&clock).build().unwrap();
        b.transition_to(State::ForcedOpen);
        let inner = Counting::default();
        let mut svc = CircuitBreakerLayer::new(b.clone()).layer(inner.clone());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        let err = futures::executor::block_on(svc.call(2)).unwrap_err();
        assert!(err.is_circuit_open());
        assert_eq!(inner.calls.load(Ordering::SeqCst), 0);
    }

    /// A permission reserved in `poll_ready` is checked again in
    /// `call`.
    #[test]
    fn stale_reservations_are_rejected() {
        let clock = ManualClock::new();
        let b = builder(&clock).build().unwrap();
        let inner = Counting::default();
        let mut svc = CircuitBreakerLayer::new(b.clone()).layer(inner.clone());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        b.transition_to(State::ForcedOpen);
        let err = futures::executor::block_on(svc.call(2)).unwrap_err();
        assert!(err.is_circuit_open());
        assert_eq!(
            inner.calls.load(Ordering::SeqCst),
            0,
            "never reached the inner service"
        );

        // Half-open probe cap: two services reserve, the period restarts.
        trip_via(&b);
        clock.advance(Duration::from_secs(5));
        let mut first = CircuitBreakerLayer::new(b.clone()).layer(inner.clone());
        assert!(matches!(first.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        b.transition_to(State::HalfOpen);
        let mut second = CircuitBreakerLayer::new(b.clone()).layer(inner.clone());
        assert!(matches!(second.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        let stale = first.call(2);
        let fresh = second.call(2);
        assert!(futures::executor::block_on(stale)
            .unwrap_err()
            .is_circuit_open());
        assert_eq!(futures::executor::block_on(fresh).unwrap(), 2);
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1, "one probe at a time");
    }

    fn trip_via(b: &CircuitBreaker) {
        b.reset();
        trip(b);
    }

    /// A reserved, unused permission records nothing when the
    /// service is dropped.
    #[test]
    fn reserved_unused_permission_records_nothing() {
        let clock = ManualClock::new();
        let b = builder(&clock)
            .abandoned(palisade::circuit_breaker::Abandoned::Failure)
            .build()
            .unwrap();
        let mut svc = CircuitBreakerLayer::new(b.clone()).layer(Counting::default());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        drop(svc);
        assert_eq!(b.snapshot().calls(), 0);
    }
}

/// An error chain prints each line once.
#[test]
fn errors_print_once_in_a_chain() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    let err = b
        .call_sync(|| Err::<(), _>(std::io::Error::other("connection reset")))
        .unwrap_err();
    assert_eq!(chain(&err), ["connection reset"]);

    b.transition_to(State::ForcedOpen);
    let err = b.call_sync(|| Ok::<_, std::io::Error>(())).unwrap_err();
    let lines = chain(&err);
    let mut unique = lines.clone();
    unique.dedup();
    assert_eq!(lines, unique, "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("dep")), "{lines:?}");
}

/// By default, breakers jitter independently.
#[test]
fn default_jitter_differs_between_breakers() {
    let clock = ManualClock::new();
    let after: Vec<_> = (0..4)
        .map(|_| {
            let b = builder(&clock)
                .open_backoff(
                    OpenBackoff::exponential(2.0)
                        .max_duration(Duration::from_secs(60))
                        .jitter(1.0),
                )
                .build()
                .unwrap();
            trip(&b);
            b.try_acquire().unwrap_err().retry_after()
        })
        .collect();
    assert!(after.windows(2).any(|w| w[0] != w[1]), "{after:?}");
}
