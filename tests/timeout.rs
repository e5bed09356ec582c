//! Behaviour tests of the timeout, on a manual timer under
//! `futures::executor::block_on`-style polling (no runtime) and on tokio's
//! paused time.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use palisade::timeout::Timeout;
use palisade::timer::{ManualTimer, Timer};
use palisade::Error;

const SEC: Duration = Duration::from_secs(1);

fn timeout(timer: &ManualTimer, d: Duration) -> Timeout<ManualTimer> {
    Timeout::builder()
        .name("dep")
        .duration(d)
        .timer(timer.clone())
        .build()
        .unwrap()
}

fn poll<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Sets its flag when dropped.
struct DropGuard(Arc<AtomicBool>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn expiry_drops_the_operation_and_says_after_how_long() {
    let timer = ManualTimer::new();
    let t = timeout(&timer, 2 * SEC);
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = DropGuard(Arc::clone(&dropped));
    let mut call = Box::pin(t.call(move || async move {
        let _guard = guard;
        std::future::pending::<Result<(), ()>>().await
    }));
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(SEC);
    assert!(poll(call.as_mut()).is_pending());
    assert!(!dropped.load(Ordering::SeqCst));
    timer.advance(SEC);
    let Poll::Ready(Err(Error::TimedOut(e))) = poll(call.as_mut()) else {
        panic!("timed out")
    };
    assert!(
        dropped.load(Ordering::SeqCst),
        "dropped at expiry, not later"
    );
    assert_eq!((e.name(), e.after()), ("dep", 2 * SEC));
    assert_eq!(e.to_string(), "no result within 2s");
}

#[test]
fn the_deadline_starts_at_the_first_poll() {
    let timer = ManualTimer::new();
    let t = timeout(&timer, SEC);
    let mut call = Box::pin(t.call(std::future::pending::<Result<(), ()>>));
    timer.advance(10 * SEC); // before the first poll: does not count
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(SEC);
    assert!(matches!(
        poll(call.as_mut()),
        Poll::Ready(Err(Error::TimedOut(_)))
    ));
}

/// Ready at the moment the deadline passes: the operation's result wins.
#[test]
fn the_operation_wins_a_tie() {
    let timer = ManualTimer::new();
    let t = timeout(&timer, SEC);
    let ready = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ready);
    let mut call = Box::pin(t.call(move || {
        std::future::poll_fn(move |_| {
            if flag.load(Ordering::SeqCst) {
                Poll::Ready(Ok::<_, ()>("result"))
            } else {
                Poll::Pending
            }
        })
    }));
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(SEC);
    ready.store(true, Ordering::SeqCst);
    assert!(matches!(poll(call.as_mut()), Poll::Ready(Ok("result"))));
}

#[test]
fn per_call_durations_and_no_timeout() {
    let timer = ManualTimer::new();
    let t = timeout(&timer, SEC);
    let mut short = Box::pin(t.call_with(Some(Duration::from_millis(10)), || {
        std::future::pending::<Result<(), ()>>()
    }));
    let mut unlimited = Box::pin(t.call_with(None, std::future::pending::<Result<(), ()>>));
    assert!(poll(short.as_mut()).is_pending());
    assert!(poll(unlimited.as_mut()).is_pending());
    timer.advance(Duration::from_millis(10));
    let Poll::Ready(Err(Error::TimedOut(e))) = poll(short.as_mut()) else {
        panic!()
    };
    assert_eq!(e.after(), Duration::from_millis(10));
    timer.advance(1000 * SEC);
    assert!(poll(unlimited.as_mut()).is_pending(), "None: no limit");
    assert_eq!(timer.sleeping(), 0, "no sleep for an unlimited call");

    let none = Timeout::builder().timer(timer.clone()).build().unwrap();
    assert_eq!(none.duration(), None);
    let mut call = Box::pin(none.call(std::future::pending::<Result<(), ()>>));
    timer.advance(1000 * SEC);
    assert!(poll(call.as_mut()).is_pending());
}

#[test]
fn operation_errors_pass_through_flat() {
    let timer = ManualTimer::new();
    let t = timeout(&timer, SEC);
    let err = futures::executor::block_on(t.call(|| async { Err::<(), _>("boom") })).unwrap_err();
    assert!(matches!(err, Error::Operation("boom")));
}

#[test]
fn bad_durations_are_named() {
    let t = Timeout::builder().timer(ManualTimer::new());
    assert_eq!(
        t.duration(Duration::ZERO).build().unwrap_err().field(),
        "duration"
    );
    let err = Timeout::builder()
        .duration(Duration::from_secs(8 * 24 * 3600))
        .timer(ManualTimer::new())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "duration");
}

/// On expiry the bulkhead place and the breaker probe held by the operation
/// are released, and the breaker counts the timeout as a failure.
#[test]
fn expiry_releases_a_bulkhead_place_and_a_breaker_probe() {
    use palisade::bulkhead::Bulkhead;
    use palisade::circuit_breaker::{CircuitBreaker, State};

    let timer = ManualTimer::new();
    let t = timeout(&timer, SEC);
    let bulkhead = Bulkhead::builder().max_concurrent(1).build().unwrap();
    let breaker = CircuitBreaker::builder()
        .count_window(2)
        .minimum_calls(2)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap();
    // The breaker judges the attempt including its timeout.
    let mut call =
        Box::pin(breaker.call(|| t.call(|| bulkhead.call(std::future::pending::<Result<(), ()>>))));
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(bulkhead.metrics().in_flight, 1);
    timer.advance(SEC);
    let Poll::Ready(Err(Error::Operation(Error::TimedOut(_)))) = poll(call.as_mut()) else {
        panic!("timed out inside the breaker")
    };
    assert_eq!(bulkhead.metrics().in_flight, 0, "the place is released");
    assert_eq!(breaker.snapshot().failures(), 1, "a timeout is a failure");

    // A half-open probe held by a timed-out call is given back too.
    breaker.transition_to(State::HalfOpen);
    let mut probe = Box::pin(breaker.call(|| t.call(std::future::pending::<Result<(), ()>>)));
    assert!(poll(probe.as_mut()).is_pending());
    assert_eq!(breaker.metrics().trials_running(), 1);
    timer.advance(SEC);
    assert!(poll(probe.as_mut()).is_ready());
    assert_eq!(breaker.metrics().trials_running(), 0);
}

#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn on_tokio_time() {
    let t = Timeout::new(Duration::from_millis(50)).unwrap();
    let start = tokio::time::Instant::now();
    let err = t
        .call(|| async {
            tokio::time::sleep(SEC).await;
            Ok::<_, ()>(())
        })
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    let ok = t.call(|| async { Ok::<_, ()>(1) }).await.unwrap();
    assert_eq!(ok, 1);
}

#[cfg(feature = "tower")]
mod tower_service {
    use super::*;
    use palisade::timeout::TimeoutLayer;
    use tower::{Layer, Service, ServiceExt};

    #[test]
    fn fixed_and_per_request_deadlines() {
        let timer = ManualTimer::new();
        let slow = tower::service_fn(|_: u64| std::future::pending::<Result<u64, ()>>());
        let mut svc = TimeoutLayer::new(timeout(&timer, SEC)).layer(slow);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(svc.poll_ready(&mut cx).is_ready());
        let mut call = Box::pin(svc.call(5));
        assert!(poll(call.as_mut()).is_pending());
        timer.advance(SEC);
        assert!(matches!(
            poll(call.as_mut()),
            Poll::Ready(Err(Error::TimedOut(_)))
        ));

        let per_request = TimeoutLayer::per_request(timeout(&timer, SEC), |ms: &u64| {
            (*ms > 0).then(|| Duration::from_millis(*ms))
        });
        let mut svc = per_request.layer(tower::service_fn(|_: u64| {
            std::future::pending::<Result<u64, ()>>()
        }));
        let mut fast = Box::pin(svc.call(20));
        let mut unlimited = Box::pin(svc.call(0));
        assert!(poll(fast.as_mut()).is_pending() && poll(unlimited.as_mut()).is_pending());
        timer.advance(Duration::from_millis(20));
        let Poll::Ready(Err(Error::TimedOut(e))) = poll(fast.as_mut()) else {
            panic!()
        };
        assert_eq!(e.after(), Duration::from_millis(20));
        timer.advance(1000 * SEC);
        assert!(poll(unlimited.as_mut()).is_pending());
    }

    #[test]
    fn results_and_errors_pass_through() {
        let timer = ManualTimer::new();
        let svc =
            TimeoutLayer::new(timeout(&timer, SEC)).layer(tower::service_fn(|x: u32| async move {
                if x == 0 {
                    Err("zero")
                } else {
                    Ok(x)
                }
            }));
        assert_eq!(
            futures::executor::block_on(svc.clone().oneshot(3)).unwrap(),
            3
        );
        let err = futures::executor::block_on(svc.oneshot(0)).unwrap_err();
        assert!(matches!(err, Error::Operation("zero")));
    }
}

/// The tests above run on `ManualTimer`, a timer that is not tokio's; this
/// checks its count of pending sleeps, which they rely on.
#[test]
fn manual_timer_counts_its_sleeps() {
    let timer = ManualTimer::new();
    let mut a = Box::pin(timer.sleep(SEC));
    assert!(poll(a.as_mut()).is_pending());
    assert_eq!(timer.sleeping(), 1);
    drop(a);
    assert_eq!(timer.sleeping(), 0);
}
