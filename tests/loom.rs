//! loom models of the windows' concurrent paths.
//!
//! Run with: `RUSTFLAGS="--cfg palisade_loom" cargo test --release --test loom`
//! (CI runs them exhaustively, with a time cap).
#![cfg(palisade_loom)]

use std::sync::Arc;
use std::time::Duration;

use loom::thread;
use palisade::window::{CountWindow, Outcome, Snapshot, TimeWindow};

/// Two recorders overwrite the same slot of a one-call ring while a reader
/// takes a snapshot; after join the packed counts equal a recount of the
/// ring, whatever the interleaving.
#[test]
fn count_record_and_snapshot() {
    loom::model(|| {
        let window = Arc::new(CountWindow::new(1).unwrap());
        window.record(Outcome::Failure);
        let a = {
            let w = Arc::clone(&window);
            thread::spawn(move || w.record(Outcome::SlowSuccess))
        };
        let b = {
            let w = Arc::clone(&window);
            thread::spawn(move || w.record(Outcome::Success))
        };
        // A snapshot racing the swaps; the check is the recount after join.
        let _ = window.snapshot();
        a.join().unwrap();
        b.join().unwrap();
        let snap = window.snapshot();
        assert_eq!(snap.calls(), 1);
        assert_eq!(snap, window.recount());
    });
}

/// A record racing a reset, then a record of the new generation: the
/// counts always equal a recount of the new generation's slots, so a record
/// that started before the reset can never leave a ghost in the new one.
#[test]
fn count_record_racing_a_reset() {
    loom::model(|| {
        let window = Arc::new(CountWindow::new(2).unwrap());
        window.record(Outcome::Success);
        let a = {
            let w = Arc::clone(&window);
            thread::spawn(move || w.record(Outcome::Failure))
        };
        window.reset();
        window.record(Outcome::Success);
        a.join().unwrap();
        let snap = window.snapshot();
        assert_eq!(snap, window.recount());
        assert!(
            snap == Snapshot::new(1, 0, 0) || snap == Snapshot::new(2, 1, 0),
            "{snap:?}"
        );
    });
}

/// A breaker's call admitted before a transition completes (as a failure)
/// while the transition happens, then a call of the new state succeeds:
/// the new window holds that success alone, whatever the interleaving.
#[test]
fn breaker_completion_racing_a_transition() {
    use palisade::circuit_breaker::{CircuitBreaker, State};
    use palisade::clock::ManualClock;

    for state in [State::MetricsOnly, State::Closed] {
        loom::model(move || {
            // Leaked so the permit can move to another thread ('static).
            let breaker: &'static CircuitBreaker = Box::leak(Box::new(
                CircuitBreaker::builder()
                    .count_window(2)
                    .minimum_calls(2)
                    .initial_state(state)
                    .clock(ManualClock::new())
                    .build()
                    .unwrap(),
            ));
            let permit = breaker.try_acquire().unwrap();
            let late = thread::spawn(move || permit.failure());
            breaker.transition_to(state);
            breaker.try_acquire().unwrap().success();
            late.join().unwrap();
            assert_eq!(breaker.snapshot(), Snapshot::new(1, 0, 0));
            assert_eq!(breaker.state(), state);
        });
    }
}

/// One stripe, so both recorders race to claim the same stale bucket for a
/// new epoch; after join both calls are counted (no lost update), and a
/// snapshot taken during the rotation never counts the stale bucket's
/// failure.
#[test]
fn time_record_during_rotation() {
    loom::model(|| {
        // 2 buckets of 10 ns; epoch 0's bucket slot is reused by epoch 2.
        let window = Arc::new(TimeWindow::with_stripes(Duration::from_nanos(20), 2, 1).unwrap());
        window.record(0, Outcome::SlowFailure);
        let a = {
            let w = Arc::clone(&window);
            thread::spawn(move || w.record(25, Outcome::Failure))
        };
        let b = {
            let w = Arc::clone(&window);
            thread::spawn(move || w.record(21, Outcome::SlowSuccess))
        };
        let during = window.snapshot(25);
        assert!(during.calls() <= 2);
        assert!(
            during.failures() <= 1,
            "the stale failure leaked: {during:?}"
        );
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(window.snapshot(25), Snapshot::new(2, 1, 1));
    });
}

/// Concurrent adds to a current bucket and a concurrent reset: the window
/// ends consistent (a reset racing a record keeps it or drops it whole).
#[test]
fn time_record_and_reset() {
    loom::model(|| {
        let window = Arc::new(TimeWindow::with_stripes(Duration::from_nanos(20), 2, 1).unwrap());
        window.record(5, Outcome::Success);
        let a = {
            let w = Arc::clone(&window);
            thread::spawn(move || w.record(5, Outcome::Failure))
        };
        window.reset();
        a.join().unwrap();
        let snap = window.snapshot(5);
        assert!(
            snap == Snapshot::default() || snap == Snapshot::new(1, 1, 0),
            "{snap:?}"
        );
    });
}

/// Half-open with a cap of one probe: two threads race for the place, one
/// cancels its call and one records a success; never two probes at once,
/// and the place always comes back.
#[test]
fn breaker_never_exceeds_the_probe_cap() {
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use palisade::circuit_breaker::{CircuitBreaker, State};
    use palisade::clock::ManualClock;

    loom::model(|| {
        let clock = ManualClock::new();
        let breaker = CircuitBreaker::builder()
            .half_open_max_concurrent(1)
            .half_open_trial_calls(3)
            .open_duration(Duration::from_secs(1))
            .clock(clock.clone())
            .build()
            .unwrap();
        breaker.transition_to(State::Open);
        clock.advance(Duration::from_secs(1));
        assert_eq!(breaker.state(), State::HalfOpen);
        let running = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = [false, true]
            .into_iter()
            .map(|succeed| {
                let (breaker, running) = (breaker.clone(), Arc::clone(&running));
                thread::spawn(move || {
                    if let Ok(permit) = breaker.try_acquire() {
                        assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0, "two probes");
                        running.fetch_sub(1, Ordering::SeqCst);
                        if succeed {
                            permit.success();
                        } else {
                            drop(permit); // cancelled: gives the place back
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Whatever happened, the place is free again: a probe is admitted.
        assert_eq!(breaker.state(), State::HalfOpen);
        breaker.try_acquire().expect("probe place leaked").success();
    });
}

/// Two failures recorded at once both see the window reach the threshold;
/// exactly one of them moves the breaker to open.
#[test]
fn concurrent_trips_transition_once() {
    use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerEventKind, State};
    use palisade::clock::ManualClock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    loom::model(|| {
        let breaker = CircuitBreaker::builder()
            .count_window(2)
            .minimum_calls(2)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let opened = Arc::new(AtomicUsize::new(0));
        let sink = Arc::clone(&opened);
        breaker.on_event(move |e| {
            if e.kind
                == (CircuitBreakerEventKind::StateTransition {
                    from: State::Closed,
                    to: State::Open,
                })
            {
                sink.fetch_add(1, Ordering::SeqCst);
            }
        });
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let breaker = breaker.clone();
                thread::spawn(move || {
                    if let Ok(permit) = breaker.try_acquire() {
                        permit.failure();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(breaker.state(), State::Open);
        assert_eq!(opened.load(Ordering::SeqCst), 1);
    });
}

mod bulkhead {
    use super::*;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use palisade::bulkhead::Bulkhead;

    /// A timer whose sleeps never end: waits are bounded by hand-over only.
    #[derive(Debug)]
    struct Never;

    impl palisade::timer::Timer for Never {
        type Sleep = std::future::Pending<()>;

        fn sleep(&self, _: Duration) -> Self::Sleep {
            std::future::pending()
        }
    }

    /// Two callers race for one place while the limit grows to 2: no more
    /// calls run at once than the largest limit, and every place comes back.
    #[test]
    fn acquire_release_and_resize() {
        loom::model(|| {
            let b = Bulkhead::builder().max_concurrent(1).build().unwrap();
            let running = Arc::new(AtomicUsize::new(0));
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let (b, running) = (b.clone(), Arc::clone(&running));
                    thread::spawn(move || {
                        if let Ok(permit) = b.try_acquire() {
                            assert!(running.fetch_add(1, Ordering::SeqCst) < 2);
                            running.fetch_sub(1, Ordering::SeqCst);
                            drop(permit);
                        }
                    })
                })
                .collect();
            b.resize(2).unwrap();
            for c in callers {
                c.join().unwrap();
            }
            let m = b.metrics();
            assert_eq!((m.in_flight, m.waiting, m.limit), (0, 0, 2));
            assert!(b.try_acquire().is_ok());
        });
    }

    /// A queued caller is handed the place a release frees, whatever the
    /// interleaving of the release, the grant and the caller registering
    /// its waker: no lost wake-up (loom's `block_on` would deadlock), and
    /// the place comes back.
    #[test]
    fn queued_caller_is_handed_the_released_place() {
        loom::model(|| {
            let b = Bulkhead::builder()
                .max_concurrent(1)
                .queue(1, Duration::from_secs(1))
                .timer(Never)
                .build()
                .unwrap();
            let held = b.try_acquire().unwrap();
            let waiter = {
                let b = b.clone();
                thread::spawn(move || {
                    let permit = loom::future::block_on(b.acquire()).unwrap();
                    drop(permit);
                })
            };
            drop(held);
            waiter.join().unwrap();
            let m = b.metrics();
            assert_eq!((m.in_flight, m.waiting), (0, 0));
        });
    }
}
