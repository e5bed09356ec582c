//! Behaviour tests for the circuit breaker: one test per rule, on a manual
//! clock; nothing sleeps.
#![cfg(not(palisade_loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade::circuit_breaker::{
    Abandoned, CircuitBreaker, CircuitBreakerEventKind, Classification, HalfOpenRamp, OpenBackoff,
    State,
};
use palisade::clock::ManualClock;
use palisade::window::Snapshot;
use palisade::Error;

mod support;
use support::{builder, fail, ok, trip, SEC};

#[test]
fn no_verdict_below_minimum_calls() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    for _ in 0..9 {
        let _ = fail(&b);
    }
    assert_eq!(b.state(), State::Closed, "9 failures < minimum of 10");
    assert_eq!(b.snapshot(), Snapshot::new(9, 9, 0));
}

#[test]
fn failure_rate_trips_at_exactly_the_threshold() {
    let clock = ManualClock::new();
    // 4 failures in 10: 40 % < 50 %, stays closed.
    let b = builder(&clock).build().unwrap();
    for i in 0..10 {
        let _ = if i < 6 { ok(&b) } else { fail(&b) };
    }
    assert_eq!(b.state(), State::Closed);
    // A 5th failure pushes out the oldest success: 5 in the last 10 is
    // 50 % >= 50 %, it trips.
    let _ = fail(&b);
    assert_eq!(b.snapshot().calls(), 0, "a new state starts a fresh window");
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_success_trips_only_when_it_brings_the_window_to_the_minimum() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    for _ in 0..9 {
        let _ = fail(&b);
    }
    assert_eq!(b.state(), State::Closed);
    let _ = ok(&b); // 10th call: 9/10 failures, judged now.
    assert_eq!(b.state(), State::Open);

    // Once the window is at the minimum, successes never trip, even after
    // the threshold is lowered below the current rate.
    let b = builder(&clock).build().unwrap();
    for i in 0..10 {
        let _ = if i < 4 { fail(&b) } else { ok(&b) };
    }
    let mut s = b.settings();
    s.failure_rate_threshold = 0.1;
    b.reconfigure(s).unwrap();
    let _ = ok(&b); // 4/10 failures, but a success does not judge.
    assert_eq!(b.state(), State::Closed);
    let _ = fail(&b); // a failure judges: 4/10 >= 10 %.
    assert_eq!(b.state(), State::Open);
}

#[test]
fn slow_calls_trip_and_equal_duration_is_not_slow() {
    let clock = ManualClock::new();
    let b = builder(&clock)
        .slow_call_duration(Duration::from_millis(100))
        .slow_call_rate_threshold(0.5)
        .build()
        .unwrap();
    // Exactly the slow-call duration: not slow.
    for _ in 0..10 {
        let permit = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(100));
        permit.success();
    }
    assert_eq!(b.snapshot().slow_calls(), 0);
    assert_eq!(b.state(), State::Closed);
    // Strictly longer: slow, and successful slow calls trip the breaker.
    for i in 0..5 {
        let permit = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(101));
        permit.success();
        let expected = if i < 4 { State::Closed } else { State::Open };
        assert_eq!(b.state(), expected, "after {} slow calls", i + 1);
    }
}

#[test]
fn open_rejects_without_calling_and_says_when_to_retry() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    trip(&b);
    clock.advance(Duration::from_secs(2));
    let called = AtomicUsize::new(0);
    let err = b
        .call_sync(|| {
            called.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(())
        })
        .unwrap_err();
    assert_eq!(called.load(Ordering::SeqCst), 0);
    let Error::CircuitOpen(open) = err else {
        panic!("expected a rejection")
    };
    assert_eq!(open.name(), "dep");
    assert_eq!(open.state(), State::Open);
    assert_eq!(open.retry_after(), Some(Duration::from_secs(3)));
    // The async path does not even create the future.
    let made = AtomicUsize::new(0);
    let res = futures::executor::block_on(b.call(|| {
        made.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, ()>(()) }
    }));
    assert!(res.unwrap_err().is_circuit_open());
    assert_eq!(made.load(Ordering::SeqCst), 0);
}

#[test]
fn open_becomes_half_open_at_the_deadline() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    trip(&b);
    clock.advance(Duration::from_secs(5) - Duration::from_nanos(1));
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_nanos(1));
    assert_eq!(b.state(), State::HalfOpen, "at the deadline, not after");
}

#[test]
fn trials_close_as_soon_as_the_verdict_is_certain() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    trip(&b);
    clock.advance(Duration::from_secs(5));
    // 3 trials at 50 %: 2 failures reopen; so 2 successes close.
    ok(&b).unwrap();
    assert_eq!(b.state(), State::HalfOpen);
    ok(&b).unwrap();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot(), Snapshot::default(), "closed starts fresh");
}

#[test]
fn one_flaky_trial_does_not_reopen_but_two_do() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    trip(&b);
    clock.advance(Duration::from_secs(5));
    let _ = fail(&b);
    assert_eq!(b.state(), State::HalfOpen);
    ok(&b).unwrap();
    assert_eq!(b.state(), State::HalfOpen);
    let _ = fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn probe_cap_holds_and_trial_count_limits_admissions() {
    let clock = ManualClock::new();
    let b = builder(&clock)
        .half_open_trial_calls(4)
        .half_open_max_concurrent(2)
        .build()
        .unwrap();
    trip(&b);
    clock.advance(Duration::from_secs(5));
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    let err = b.try_acquire().unwrap_err();
    assert_eq!((err.state(), err.retry_after()), (State::HalfOpen, None));
    p1.success();
    let p3 = b.try_acquire().unwrap();
    p2.success();
    let p4 = b.try_acquire().unwrap();
    // 2 recorded + 2 running = 4 trials: no more admissions.
    assert!(b.try_acquire().is_err());
    p3.success(); // 3 successes of 4 at 50 %: 2 failures no longer possible.
    assert_eq!(b.state(), State::Closed);
    p4.failure(); // admitted in half-open: stale now, discarded.
    assert_eq!(b.snapshot(), Snapshot::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_cap_under_100_concurrent_tasks() {
    let clock = ManualClock::new();
    let b = builder(&clock)
        .half_open_trial_calls(50)
        .half_open_max_concurrent(3)
        .build()
        .unwrap();
    trip(&b);
    clock.advance(Duration::from_secs(5));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let admitted = Arc::new(AtomicUsize::new(0));
    let (release, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (b, running, peak, admitted) =
            (b.clone(), running.clone(), peak.clone(), admitted.clone());
        let mut gate = release.subscribe();
        tasks.push(tokio::spawn(async move {
            let res = b
                .call(|| async {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    admitted.fetch_add(1, Ordering::SeqCst);
                    let _ = gate.recv().await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                })
                .await;
            res.is_ok()
        }));
    }
    // Let every task reach the breaker, then release the probes.
    while admitted.load(Ordering::SeqCst) < 3 {
        tokio::task::yield_now().await;
    }
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    release.send(()).unwrap();
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(
        peak.load(Ordering::SeqCst),
        3,
        "never more than the cap at once"
    );
    assert_eq!(ok, admitted.load(Ordering::SeqCst));
    assert!((3..100).contains(&ok), "the rest were rejected: {ok} ran");
}

#[test]
fn open_duration_grows_with_each_failed_trial_up_to_the_cap() {
    let clock = ManualClock::new();
    let b = builder(&clock)
        .open_duration(SEC)
        .open_backoff(OpenBackoff::exponential(2.0).max_duration(Duration::from_secs(5)))
        .half_open_trial_calls(1)
        .build()
        .unwrap();
    trip(&b);
    let mut waits = Vec::new();
    for _ in 0..5 {
        let err = b.try_acquire().unwrap_err();
        let wait = err.retry_after().unwrap();
        waits.push(wait);
        clock.advance(wait);
        assert_eq!(b.state(), State::HalfOpen);
        let _ = fail(&b); // failed trial: reopen, longer.
        assert_eq!(b.state(), State::Open);
    }
    assert_eq!(waits, [1, 2, 4, 5, 5].map(Duration::from_secs));
    // A successful trial closes and forgets the backoff.
    clock.advance(Duration::from_secs(5));
    ok(&b).unwrap();
    assert_eq!(b.state(), State::Closed);
    trip(&b);
    assert_eq!(b.try_acquire().unwrap_err().retry_after(), Some(SEC));
}

#[test]
fn jitter_is_seeded_and_bounded() {
    let waits = |seed| {
        let clock = ManualClock::new();
        let b = builder(&clock)
            .open_duration(Duration::from_secs(10))
            .open_backoff(
                OpenBackoff::exponential(1.0)
                    .max_duration(Duration::from_secs(10))
                    .jitter(0.5),
            )
            .half_open_trial_calls(1)
            .jitter_seed(seed)
            .build()
            .unwrap();
        trip(&b);
        (0..20)
            .map(|_| {
                let wait = b.try_acquire().unwrap_err().retry_after().unwrap();
                clock.advance(wait);
                let _ = fail(&b);
                wait
            })
            .collect::<Vec<_>>()
    };
    let a = waits(7);
    assert_eq!(a, waits(7), "same seed, same waits");
    assert_ne!(a, waits(8));
    assert!(a
        .iter()
        .all(|w| *w >= Duration::from_secs(5) && *w <= Duration::from_secs(10)));
    assert!(a.iter().any(|w| *w < Duration::from_secs(9)));
}

#[test]
fn half_open_without_a_verdict_reopens_after_the_maximum_wait() {
    let clock = ManualClock::new();
    let b = builder(&clock)
        .half_open_max_wait(Duration::from_secs(2))
        .build()
        .unwrap();
    trip(&b);
    clock.advance(Duration::from_secs(5));
    let hung = b.try_acquire().unwrap(); // a probe that never answers
    assert!(b.try_acquire().is_err());
    clock.advance(Duration::from_secs(2));
    assert_eq!(b.state(), State::Open);
    hung.success(); // late, from an earlier state: discarded
    assert_eq!(b.state(), State::Open);
}

#[test]
fn forced_open_disabled_and_metrics_only() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();

    b.transition_to(State::ForcedOpen);
    clock.advance(Duration::from_secs(3600));
    let err = b.try_acquire().unwrap_err();
    assert_eq!((err.state(), err.retry_after()), (State::ForcedOpen, None));
    assert_eq!(b.state(), State::ForcedOpen, "never half-opens by itself");

    b.transition_to(State::Disabled);
    for _ in 0..50 {
        let _ = fail(&b);
    }
    assert_eq!(b.state(), State::Disabled);
    assert_eq!(b.snapshot().calls(), 0, "disabled records nothing");

    b.transition_to(State::MetricsOnly);
    for _ in 0..50 {
        let _ = fail(&b);
    }
    assert_eq!(b.state(), State::MetricsOnly, "never trips");
    assert_eq!(b.snapshot(), Snapshot::new(10, 10, 0), "but records");

    let b = builder(&clock)
        .initial_state(State::ForcedOpen)
        .build()
        .unwrap();
    assert_eq!(b.state(), State::ForcedOpen);
}

#[test]
fn reset_closes_with_a_fresh_window() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    trip(&b);
    b.reset();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot(), Snapshot::default());
    ok(&b).unwrap();
}

#[test]
fn ignored_outcomes_are_not_counted() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder()
        .count_window(10)
        .minimum_calls(10)
        .clock(clock.clone())
        .classifier(|r: &Result<u32, u16>| match r {
            Ok(_) => Classification::Success,
            Err(404) => Classification::Ignored,
            Err(_) => Classification::Failure,
        })
        .build()
        .unwrap();
    for _ in 0..5 {
        let _ = b.call_sync(|| Err::<u32, _>(503));
    }
    // 100 ignored results neither count as calls nor dilute the failures.
    for _ in 0..100 {
        let err = b.call_sync(|| Err::<u32, _>(404)).unwrap_err();
        assert_eq!(err.into_operation(), Some(404), "the caller still sees it");
    }
    assert_eq!(b.snapshot(), Snapshot::new(5, 5, 0));
    for _ in 0..5 {
        let _ = b.call_sync(|| Ok::<u32, u16>(1));
    }
    assert_eq!(b.state(), State::Open, "5 of 10 counted calls failed");
}

#[test]
fn dropped_probe_futures_do_not_wedge_half_open() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    trip(&b);
    clock.advance(Duration::from_secs(5));
    for _ in 0..10 {
        // Admitted, polled once (pending), then dropped: cancelled.
        let mut fut = Box::pin(b.call(std::future::pending::<Result<(), ()>>));
        assert!(futures::FutureExt::now_or_never(&mut fut).is_none());
        drop(fut);
        assert_eq!(b.state(), State::HalfOpen);
    }
    // The place came back every time: trials still run and close it.
    ok(&b).unwrap();
    ok(&b).unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn cancelled_calls_can_be_counted_as_failures() {
    let clock = ManualClock::new();
    let b = builder(&clock)
        .abandoned(Abandoned::Failure)
        .build()
        .unwrap();
    for _ in 0..10 {
        drop(b.try_acquire().unwrap());
    }
    assert_eq!(b.state(), State::Open);
}

#[test]
fn abandoned_calls_count_as_failures_only_while_their_share_reaches_the_threshold() {
    let clock = ManualClock::new();
    let b = builder(&clock)
        .abandoned(Abandoned::FailureAbove(0.5))
        .build()
        .unwrap();
    // An occasional caller that gives up: 2 abandoned among 10 ended calls
    // is under the share, so neither is recorded.
    for i in 0..10 {
        if i % 5 == 4 {
            drop(b.try_acquire().unwrap());
        } else {
            ok(&b).unwrap();
        }
    }
    assert_eq!(b.snapshot(), Snapshot::new(8, 0, 0));
    // Then every call is abandoned: once they are half of the last 10
    // ended, each is a failure, and the failures trip the breaker.
    let mut abandoned = 0;
    while b.state() == State::Closed && abandoned < 20 {
        drop(b.try_acquire().unwrap());
        abandoned += 1;
    }
    assert_eq!(b.state(), State::Open, "after {abandoned} abandoned calls");
    assert!(
        abandoned > 3,
        "the first few were under the share: {abandoned}"
    );
}

#[test]
fn bad_abandoned_share_is_refused_naming_it() {
    let err = CircuitBreaker::builder()
        .abandoned(Abandoned::FailureAbove(1.5))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "abandoned.failure_above");
}

/// A dependency that never answers, behind a timeout outside the breaker:
/// every call is abandoned. Ignored (the default), the breaker never
/// learns; under the threshold policy it opens.
#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn a_dependency_that_never_answers_behind_an_outer_timeout_opens_the_breaker_under_the_threshold_policy(
) {
    for (policy, opens) in [
        (Abandoned::Ignore, false),
        (Abandoned::FailureAbove(0.5), true),
    ] {
        let b = CircuitBreaker::builder()
            .count_window(10)
            .minimum_calls(10)
            .abandoned(policy)
            .build()
            .unwrap();
        for _ in 0..30 {
            let call = b.call(std::future::pending::<Result<(), ()>>);
            let outer = tokio::time::timeout(Duration::from_millis(100), call).await;
            if outer.is_ok() {
                break; // rejected: open
            }
        }
        assert_eq!(b.state() == State::Open, opens, "{policy:?}");
    }
}

#[test]
fn a_panicking_probe_records_a_failure_and_releases_its_place() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    trip(&b);
    clock.advance(Duration::from_secs(5));
    for _ in 0..2 {
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = b.call_sync(|| -> Result<(), ()> { panic!("bug in the operation") });
        }));
        assert!(unwound.is_err(), "the panic keeps unwinding");
    }
    assert_eq!(b.state(), State::Open, "two failed trials of three reopen");

    // In closed state, a panic inside a polled future counts as a failure.
    b.reset();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(b.call(|| async { panic!("async bug") as Result<(), ()> }))
    }));
    assert!(unwound.is_err());
    assert_eq!(b.snapshot(), Snapshot::new(1, 1, 0));
}

#[test]
fn results_from_an_earlier_state_are_discarded() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    // A slow call admitted while closed...
    let old = b.try_acquire().unwrap();
    trip(&b);
    clock.advance(Duration::from_secs(5));
    assert_eq!(b.state(), State::HalfOpen);
    // ...finishes during half-open: it is not a trial and decides nothing.
    old.success();
    assert_eq!(b.state(), State::HalfOpen);
    // Two real trials are still needed to close.
    ok(&b).unwrap();
    assert_eq!(b.state(), State::HalfOpen);
    ok(&b).unwrap();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn reconfiguration_keeps_the_window_and_validates() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    for i in 0..10 {
        let _ = if i < 3 { fail(&b) } else { ok(&b) };
    }
    let before = b.snapshot();
    let mut s = b.settings();
    s.failure_rate_threshold = 0.3;
    s.open_duration = Duration::from_secs(1);
    b.reconfigure(s.clone()).unwrap();
    assert_eq!(b.snapshot(), before, "window kept");
    assert_eq!(b.state(), State::Closed);
    let _ = fail(&b); // 4/10 >= 30 %
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.try_acquire().unwrap_err().retry_after(), Some(SEC));

    let mut bad = s;
    bad.minimum_calls = 11; // more than the count window holds
    let err = b.reconfigure(bad).unwrap_err();
    assert_eq!((err.field(), err.value()), ("minimum_calls", "11"));
    assert_eq!(b.settings().minimum_calls, 10, "nothing changed");
}

#[test]
fn minimum_calls_above_a_hybrid_window_is_rejected_at_build_and_reconfigure() {
    let hybrid = || CircuitBreaker::builder().hybrid_window(10, Duration::from_secs(10), 10);
    assert_eq!(
        hybrid().minimum_calls(11).build().unwrap_err().field(),
        "minimum_calls"
    );
    let b = hybrid().minimum_calls(10).build().unwrap();
    let mut s = b.settings();
    s.minimum_calls = 11;
    assert_eq!(b.reconfigure(s).unwrap_err().field(), "minimum_calls");
    // A time window holds any number of calls.
    let b = CircuitBreaker::builder()
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(1000)
        .build()
        .unwrap();
    let mut s = b.settings();
    s.minimum_calls = 100_000;
    b.reconfigure(s).unwrap();
}

#[test]
fn builder_rejects_bad_values_naming_them() {
    let cases = [
        (
            CircuitBreaker::builder()
                .count_window(0)
                .build()
                .unwrap_err(),
            "window_size",
        ),
        (
            CircuitBreaker::builder()
                .count_window(10)
                .minimum_calls(20)
                .build()
                .unwrap_err(),
            "minimum_calls",
        ),
        (
            CircuitBreaker::builder()
                .time_window(Duration::ZERO, 10)
                .build()
                .unwrap_err(),
            "window_duration",
        ),
        (
            CircuitBreaker::builder()
                .half_open_trial_calls(2)
                .half_open_max_concurrent(3)
                .build()
                .unwrap_err(),
            "half_open_max_concurrent",
        ),
        (
            CircuitBreaker::builder()
                .slow_call_rate_threshold(f64::NAN)
                .build()
                .unwrap_err(),
            "slow_call_rate_threshold",
        ),
    ];
    for (err, field) in cases {
        assert_eq!(err.field(), field, "{err}");
    }
}

#[test]
fn time_window_breaker_forgets_old_failures() {
    let clock = ManualClock::new();
    let b = builder(&clock)
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(5)
        .build()
        .unwrap();
    for _ in 0..4 {
        let _ = fail(&b);
    }
    clock.advance(Duration::from_secs(10));
    // The 4 failures have slid out: 1 failure of 5 is not 50 %.
    for _ in 0..4 {
        ok(&b).unwrap();
    }
    let _ = fail(&b);
    assert_eq!(b.snapshot(), Snapshot::new(5, 1, 0));
    assert_eq!(b.state(), State::Closed);
    for _ in 0..2 {
        let _ = fail(&b);
    }
    assert_eq!(b.state(), State::Closed, "3 of 7");
    let _ = fail(&b);
    assert_eq!(b.state(), State::Open, "4 of 8");
}

#[test]
fn hybrid_window_breaker_judges_last_n_within_t() {
    let clock = ManualClock::new();
    let b = builder(&clock)
        .hybrid_window(6, Duration::from_secs(10), 10)
        .minimum_calls(4)
        .build()
        .unwrap();
    for _ in 0..3 {
        let _ = fail(&b);
    }
    clock.advance(Duration::from_secs(10));
    for _ in 0..4 {
        ok(&b).unwrap();
    }
    assert_eq!(b.snapshot(), Snapshot::new(4, 0, 0), "old failures expired");
    for _ in 0..3 {
        let _ = fail(&b);
    }
    assert_eq!(b.state(), State::Open, "3 failures in the last 6 calls");
}

#[test]
fn events_reach_listeners() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    b.on_event(move |e| {
        assert_eq!(e.name, "dep");
        sink.lock().unwrap().push(e.kind);
    });
    trip(&b);
    let _ = ok(&b);
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.iter()
            .filter(|k| matches!(k, CircuitBreakerEventKind::Recorded(_)))
            .count(),
        10
    );
    assert!(seen.contains(&CircuitBreakerEventKind::StateTransition {
        from: State::Closed,
        to: State::Open
    }));
    assert!(matches!(
        seen.last(),
        Some(CircuitBreakerEventKind::Rejected {
            state: State::Open,
            ..
        })
    ));
}

#[test]
fn disabled_calls_report_nothing_however_they_end() {
    let clock = ManualClock::new();
    let b = builder(&clock)
        .initial_state(State::Disabled)
        .build()
        .unwrap();
    let events = Arc::new(AtomicUsize::new(0));
    let sink = Arc::clone(&events);
    b.on_event(move |_| {
        sink.fetch_add(1, Ordering::SeqCst);
    });
    b.try_acquire().unwrap().success();
    b.try_acquire().unwrap().ignore();
    drop(b.try_acquire().unwrap()); // cancelled
    assert_eq!(events.load(Ordering::SeqCst), 0);
}

#[test]
fn works_with_no_runtime_under_block_on() {
    let clock = ManualClock::new();
    let b = builder(&clock).build().unwrap();
    let out = futures::executor::block_on(async {
        let mut n = 0;
        for _ in 0..10 {
            if b.call(|| async { Err::<(), _>("down") }).await.is_err() {
                n += 1;
            }
        }
        n
    });
    assert_eq!(out, 10);
    assert_eq!(b.state(), State::Open);
    let rejected = futures::executor::block_on(b.call(|| async { Ok::<_, ()>(()) }));
    assert!(rejected.unwrap_err().is_circuit_open());
}

#[cfg(feature = "tower")]
mod tower_service {
    use super::*;
    use palisade::circuit_breaker::CircuitBreakerLayer;
    use std::task::{Context, Poll};
    use tower::{Layer, Service, ServiceExt};

    use super::support::Counting;

    #[test]
    fn open_breaker_neither_polls_nor_calls_the_inner_service() {
        let clock = ManualClock::new();
        let b = builder(&clock).build().unwrap();
        let inner = Counting::default();
        let mut svc = CircuitBreakerLayer::new(b.clone()).layer(inner.clone());
        futures::executor::block_on(async {
            assert_eq!(svc.ready().await.unwrap().call(2).await.unwrap(), 2);
            for _ in 0..9 {
                let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
                assert_eq!(err.into_operation().unwrap().to_string(), "odd");
            }
            assert_eq!(b.state(), State::Open);
            let (polls, calls) = (
                inner.polls.load(Ordering::SeqCst),
                inner.calls.load(Ordering::SeqCst),
            );
            // Ready (tower's contract), and the call is rejected.
            let err = svc.ready().await.unwrap().call(2).await.unwrap_err();
            assert!(err.is_circuit_open());
            assert_eq!(
                inner.polls.load(Ordering::SeqCst),
                polls,
                "readiness not polled"
            );
            // `call` without `poll_ready` is rejected too, not a panic.
            assert!(svc.call(2).await.unwrap_err().is_circuit_open());
            assert_eq!(inner.calls.load(Ordering::SeqCst), calls, "never called");
        });
    }

    #[test]
    fn a_ramp_stage_lets_its_share_through_the_layer_and_rejects_the_rest_without_polling() {
        let clock = ManualClock::new();
        let b = builder(&clock)
            .half_open_ramp(HalfOpenRamp::new([0.25]))
            .build()
            .unwrap();
        trip(&b);
        clock.advance(Duration::from_secs(5));
        let inner = Counting::default();
        let mut svc = CircuitBreakerLayer::new(b.clone()).layer(inner.clone());
        let rejected = futures::executor::block_on(async {
            let mut rejected = 0;
            for _ in 0..40 {
                match svc.ready().await.unwrap().call(2).await {
                    Ok(_) => {}
                    Err(err) if err.is_circuit_open() => rejected += 1,
                    Err(err) => panic!("{err:?}"),
                }
            }
            rejected
        });
        assert_eq!(inner.calls.load(Ordering::SeqCst), 10, "a quarter");
        assert_eq!(rejected, 30);
        assert_eq!(
            inner.polls.load(Ordering::SeqCst),
            10,
            "a rejected call's readiness is not polled"
        );
        clock.advance(Duration::from_secs(5));
        assert_eq!(
            b.state(),
            State::Closed,
            "10 successes: the one stage passed"
        );
    }

    #[test]
    fn clones_share_one_breaker_and_start_without_a_reservation() {
        let clock = ManualClock::new();
        let b = builder(&clock).build().unwrap();
        trip(&b);
        clock.advance(Duration::from_secs(5));
        let mut first = CircuitBreakerLayer::new(b.clone()).layer(Counting::default());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        // `first` reserves the only probe place in poll_ready.
        assert!(matches!(first.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        let mut second = first.clone();
        // Ready, but its call is rejected: the one place is taken.
        assert!(matches!(second.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        let err = futures::executor::block_on(second.call(4)).unwrap_err();
        assert!(err.is_circuit_open());
        // Dropping the reserving service gives the place back.
        drop(first);
        assert!(matches!(second.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        let out = futures::executor::block_on(second.call(4)).unwrap();
        assert_eq!(out, 4);
        assert_eq!(b.state(), State::HalfOpen, "one of three trials done");
    }

    #[test]
    fn waiting_for_readiness_is_not_part_of_the_call_duration() {
        let clock = ManualClock::new();
        let b = builder(&clock)
            .slow_call_duration(Duration::from_millis(100))
            .build()
            .unwrap();
        let (mock, mut handle) = tower_test::mock::pair::<u32, u32>();
        let mut svc = tower_test::mock::Spawn::new(CircuitBreakerLayer::new(b.clone()).layer(mock));
        handle.allow(0);
        assert!(svc.poll_ready().is_pending(), "admitted, inner not ready");
        clock.advance(Duration::from_secs(1)); // a long wait for readiness
        handle.allow(1);
        assert!(svc.poll_ready().is_ready());
        let fut = svc.call(1);
        let (_, respond) = futures::executor::block_on(handle.next_request()).unwrap();
        clock.advance(Duration::from_millis(100)); // the call itself: not slow
        respond.send_response(1);
        futures::executor::block_on(fut).unwrap();
        assert_eq!(b.snapshot(), Snapshot::new(1, 0, 0));
    }

    #[test]
    fn works_with_tower_test_mock_and_pending_readiness() {
        let clock = ManualClock::new();
        let b = builder(&clock).build().unwrap();
        let (mock, mut handle) = tower_test::mock::pair::<u32, u32>();
        let mut svc = tower_test::mock::Spawn::new(CircuitBreakerLayer::new(b.clone()).layer(mock));
        handle.allow(0);
        assert!(svc.poll_ready().is_pending(), "inner not ready");
        handle.allow(1);
        assert!(svc.poll_ready().is_ready());
        let fut = svc.call(7);
        let (req, respond) = futures::executor::block_on(handle.next_request()).unwrap();
        assert_eq!(req, 7);
        respond.send_error(std::io::Error::other("reset by peer"));
        let err = futures::executor::block_on(fut).unwrap_err();
        assert!(!err.is_rejection());
        assert_eq!(b.snapshot(), Snapshot::new(1, 1, 0));
    }
}

#[cfg(feature = "metrics")]
#[test]
fn metrics_count_outcomes_rejections_and_state() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::MetricKind;

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let clock = ManualClock::new();
    // Handles are registered when the breaker is built; a transition's
    // when it first happens (with the recorder in force then).
    let b = metrics::with_local_recorder(&recorder, || {
        builder(&clock).name("payments").build().unwrap()
    });
    for _ in 0..3 {
        ok(&b).unwrap();
    }
    metrics::with_local_recorder(&recorder, || trip(&b));
    let _ = ok(&b); // rejected
                    // Per-call counters are published in batches; a `metrics()` read
                    // publishes them all.
    let _ = b.metrics();
    let values: std::collections::HashMap<String, DebugValue> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let kind = if kind == MetricKind::Counter {
                "c"
            } else {
                "g"
            };
            (
                format!("{kind}:{}{{{}}}", key.name(), labels.join(",")),
                value,
            )
        })
        .collect();
    let get = |k: &str| {
        values
            .get(k)
            .unwrap_or_else(|| panic!("no {k} in {values:?}"))
    };
    // 3 successes, then 10 failures of which the breaker tripped on the 7th
    // (7 failures in the last 10 calls >= 50 %); 3 more were rejected.
    assert_eq!(
        get("c:palisade_circuit_breaker_calls_total{breaker=payments,outcome=success}"),
        &DebugValue::Counter(3)
    );
    assert_eq!(
        get("c:palisade_circuit_breaker_calls_total{breaker=payments,outcome=failure}"),
        &DebugValue::Counter(7)
    );
    assert_eq!(
        get("c:palisade_circuit_breaker_rejected_total{breaker=payments}"),
        &DebugValue::Counter(4)
    );
    assert_eq!(
        get("c:palisade_circuit_breaker_transitions_total{breaker=payments,from=closed,to=open}"),
        &DebugValue::Counter(1)
    );
    assert_eq!(
        get("g:palisade_circuit_breaker_state{breaker=payments,state=open}"),
        &DebugValue::Gauge(1.0.into())
    );
    assert_eq!(
        get("g:palisade_circuit_breaker_state{breaker=payments,state=closed}"),
        &DebugValue::Gauge(0.0.into())
    );
}

/// Per-call counters reach the recorder in batches: after every 64 counts
/// of one counter by one thread, and all at once at a `metrics()` read;
/// counts from several threads add up exactly.
#[cfg(feature = "metrics")]
#[test]
fn metrics_per_call_counters_are_published_in_batches() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let clock = ManualClock::new();
    let b = metrics::with_local_recorder(&recorder, || {
        builder(&clock).name("batched").build().unwrap()
    });
    let successes = || {
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .find(|(key, ..)| {
                let key = key.key();
                key.name() == "palisade_circuit_breaker_calls_total"
                    && key.labels().any(|l| l.value() == "batched")
                    && key.labels().any(|l| l.value() == "success")
            })
            .map(|(.., value)| value)
    };
    for _ in 0..63 {
        ok(&b).unwrap();
    }
    assert_eq!(
        successes(),
        Some(DebugValue::Counter(0)),
        "not yet published"
    );
    ok(&b).unwrap();
    assert_eq!(
        successes(),
        Some(DebugValue::Counter(64)),
        "published at 64"
    );
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..10 {
                    ok(&b).unwrap();
                }
            });
        }
    });
    let _ = b.metrics();
    assert_eq!(successes(), Some(DebugValue::Counter(94)));
}

/// `builder`'s breaker (last 10 calls, judged from 10 at 50 %, open 5 s)
/// with a progressive half-open of 10 % then 50 %, 5 s a stage.
fn ramped(clock: &ManualClock) -> CircuitBreaker {
    builder(clock)
        .half_open_ramp(HalfOpenRamp::new([0.1, 0.5]))
        .build()
        .unwrap()
}

/// Asks `n` times with `answer`; how many calls ran.
fn ask(b: &CircuitBreaker, n: usize, answer: Result<u32, &'static str>) -> usize {
    let ran = AtomicUsize::new(0);
    for _ in 0..n {
        let _ = b.call_sync(|| {
            ran.fetch_add(1, Ordering::SeqCst);
            answer
        });
    }
    ran.into_inner()
}

#[test]
fn a_ramp_admits_each_stage_share_and_closes_after_its_last_stage_passes() {
    let clock = ManualClock::new();
    let b = ramped(&clock);
    let transitions = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&transitions);
    b.on_event(move |e| {
        if let CircuitBreakerEventKind::StateTransition { from, to } = e.kind {
            seen.lock().unwrap().push((from, to));
        }
    });
    trip(&b);
    clock.advance(5 * SEC);
    assert_eq!(b.state(), State::HalfOpen);
    // 10 %: the first call of the stage, then one in ten, exactly.
    assert_eq!(ask(&b, 1, Ok(1)), 1);
    assert_eq!(ask(&b, 98, Ok(1)), 9);
    let rejected = b.try_acquire().unwrap_err();
    assert_eq!(rejected.state(), State::HalfOpen);
    assert_eq!(b.snapshot(), Snapshot::new(10, 0, 0), "the stage's window");
    clock.advance(5 * SEC - Duration::from_nanos(1));
    assert_eq!(b.state(), State::HalfOpen);
    clock.advance(Duration::from_nanos(1));
    // Passed: 50 %, a fresh window.
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.snapshot(), Snapshot::default());
    assert_eq!(ask(&b, 20, Ok(1)), 10);
    clock.advance(5 * SEC);
    assert_eq!(b.state(), State::Closed, "the last stage passed");
    assert_eq!(ask(&b, 10, Ok(1)), 10);
    assert_eq!(
        *transitions.lock().unwrap(),
        [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::HalfOpen),
            (State::HalfOpen, State::Closed),
        ]
    );
}

#[test]
fn a_failing_stage_reopens_as_soon_as_its_window_reaches_the_threshold_with_the_backoff_grown() {
    let clock = ManualClock::new();
    let b = builder(&clock)
        .half_open_ramp(HalfOpenRamp::new([0.5, 1.0]).stage_duration(SEC))
        .open_backoff(OpenBackoff::exponential(2.0))
        .build()
        .unwrap();
    trip(&b);
    clock.advance(5 * SEC);
    // 50 %: 9 failures admitted of 18 asks, below the minimum of 10.
    assert_eq!(ask(&b, 18, Err("boom")), 9);
    assert_eq!(b.state(), State::HalfOpen, "no verdict below the minimum");
    assert_eq!(ask(&b, 2, Err("boom")), 1);
    assert_eq!(
        b.state(),
        State::Open,
        "10 failures of 10, before the stage ends"
    );
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Some(10 * SEC),
        "a failed stage is a failed trial period: the backoff grows"
    );
    // A stage below the threshold passes: 4 failures in 10 at 100 %.
    clock.advance(10 * SEC);
    assert_eq!(ask(&b, 12, Ok(1)), 6);
    assert_eq!(ask(&b, 8, Err("boom")), 4);
    clock.advance(SEC);
    assert_eq!(b.state(), State::HalfOpen, "the next stage");
    assert_eq!(ask(&b, 10, Ok(1)), 10);
    clock.advance(SEC);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_stage_with_too_few_calls_runs_again_and_an_empty_stage_passes() {
    let clock = ManualClock::new();
    let b = builder(&clock)
        .half_open_ramp(HalfOpenRamp::new([1.0, 1.0, 1.0]).stage_duration(SEC))
        .build()
        .unwrap();
    trip(&b);
    clock.advance(5 * SEC);
    // 4 calls, then the stage's time is up: too few to judge.
    assert_eq!(ask(&b, 4, Ok(1)), 4);
    clock.advance(SEC);
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.snapshot().calls(), 4, "the same stage, its window kept");
    // One flaky call among them does not decide alone.
    assert_eq!(ask(&b, 1, Err("boom")), 1);
    assert_eq!(ask(&b, 5, Ok(1)), 5);
    clock.advance(SEC);
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.snapshot().calls(), 0, "judged on 10 calls: passed");
    // The second stage sees no call at all: it passes.
    clock.advance(SEC);
    assert_eq!(b.state(), State::HalfOpen, "the third stage");
    clock.advance(SEC);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn bad_ramps_are_refused_naming_the_setting() {
    let clock = ManualClock::new();
    let refused = |ramp: HalfOpenRamp| {
        builder(&clock)
            .half_open_ramp(ramp)
            .build()
            .unwrap_err()
            .field()
    };
    assert_eq!(refused(HalfOpenRamp::new([])), "half_open_ramp");
    assert_eq!(refused(HalfOpenRamp::new([0.1, 0.0])), "half_open_ramp");
    assert_eq!(refused(HalfOpenRamp::new([f64::NAN])), "half_open_ramp");
    assert_eq!(refused(HalfOpenRamp::new([0.5; 17])), "half_open_ramp");
    assert_eq!(
        refused(HalfOpenRamp::new([0.5]).stage_duration(Duration::ZERO)),
        "half_open_ramp.stage_duration"
    );
}
