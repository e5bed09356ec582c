//! The rate limit: turns on a manual timer (its clock is the limit's), as
//! a future wrapper, per key, as a tower layer and in a pipeline.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::noop_waker;
use palisade::circuit_breaker::CircuitBreaker;
use palisade::error::{kind_of, ErrorKind};
use palisade::pipeline::Pipeline;
use palisade::rate_limit::RateLimit;
use palisade::timer::ManualTimer;

const MS: Duration = Duration::from_millis(1);

/// 10 calls a second, 5 at once, on `timer`'s clock.
fn limit(timer: &ManualTimer, max_wait: Duration) -> RateLimit {
    RateLimit::builder()
        .name("partner")
        .rate(10, Duration::from_secs(1))
        .burst(5)
        .max_wait(max_wait)
        .timer(timer.clone())
        .build()
        .unwrap()
}

fn poll<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let waker = noop_waker();
    fut.poll(&mut Context::from_waker(&waker))
}

#[test]
fn a_burst_goes_at_once_then_calls_are_spread_by_the_rate() {
    let timer = ManualTimer::new();
    let limit = limit(&timer, Duration::ZERO);
    for _ in 0..5 {
        limit.try_acquire().unwrap();
    }
    let limited = limit.try_acquire().unwrap_err();
    assert_eq!(limited.retry_after(), 100 * MS);
    assert_eq!(limited.retry_after_secs(), 1);
    assert_eq!(limited.to_string(), "over its rate: next call in 100ms");
    timer.advance(60 * MS);
    assert_eq!(limit.try_acquire().unwrap_err().retry_after(), 40 * MS);
    timer.advance(40 * MS);
    limit.try_acquire().unwrap();
    assert!(limit.try_acquire().is_err());
    // A quiet second refills the burst, no more.
    timer.advance(Duration::from_secs(10));
    for _ in 0..5 {
        limit.try_acquire().unwrap();
    }
    assert!(limit.try_acquire().is_err());
}

#[test]
fn a_call_over_the_rate_is_rejected_without_running_and_says_when_to_come_back() {
    let timer = ManualTimer::new();
    let limit = limit(&timer, Duration::ZERO);
    for _ in 0..5 {
        limit.try_acquire().unwrap();
    }
    let out = futures::executor::block_on(limit.call(|| async {
        unreachable!("not called over the rate");
        #[allow(unreachable_code)]
        Ok::<u8, std::io::Error>(0)
    }));
    let err = out.unwrap_err();
    assert!(err.is_rate_limited() && err.is_rejection());
    assert_eq!(err.to_string(), "rate limit `partner` rejected the call");
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert_eq!(kind_of(boxed.as_ref()), ErrorKind::RateLimited);
}

#[test]
fn a_call_waits_for_its_turn_within_the_maximum_wait() {
    let timer = ManualTimer::new();
    let limit = limit(&timer, 150 * MS);
    for _ in 0..5 {
        limit.try_acquire().unwrap();
    }
    // The next turn is 100 ms away: within the 150 ms it may wait.
    let mut call = pin!(limit.call(|| async { Ok::<_, std::io::Error>("served") }));
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(99 * MS);
    assert!(poll(call.as_mut()).is_pending());
    timer.advance(MS);
    assert!(matches!(poll(call.as_mut()), Poll::Ready(Ok("served"))));
    // Waiters do not queue: two wait for the same turn, one gets it, the
    // other asks again and the turn after is past its maximum wait.
    let mut first = pin!(limit.call(|| async { Ok::<_, std::io::Error>(1) }));
    let mut second = pin!(limit.call(|| async { Ok::<_, std::io::Error>(2) }));
    assert!(poll(first.as_mut()).is_pending());
    assert!(poll(second.as_mut()).is_pending());
    timer.advance(100 * MS);
    assert!(matches!(poll(first.as_mut()), Poll::Ready(Ok(1))));
    match poll(second.as_mut()) {
        Poll::Ready(Err(e)) => assert!(e.is_rate_limited(), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_waiter_that_loses_its_turn_to_another_waits_again_within_its_budget() {
    let timer = ManualTimer::new();
    let limit = limit(&timer, 150 * MS);
    for _ in 0..5 {
        limit.try_acquire().unwrap();
    }
    let mut waiter = pin!(limit.call(|| async { Ok::<_, std::io::Error>(1) }));
    assert!(poll(waiter.as_mut()).is_pending());
    timer.advance(100 * MS);
    // Someone else takes the turn first.
    limit.try_acquire().unwrap();
    // The waiter has waited 100 ms; the next turn is 100 ms more: past its
    // 150 ms, so it is rejected rather than kept waiting.
    match poll(waiter.as_mut()) {
        Poll::Ready(Err(e)) => assert!(e.is_rate_limited(), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_key_has_its_own_rate_and_idle_keys_can_be_forgotten() {
    let timer = ManualTimer::new();
    let limit = RateLimit::builder()
        .rate(1, Duration::from_secs(1))
        .timer(timer.clone())
        .build_keyed::<String>()
        .unwrap();
    limit.try_acquire(&"tenant-a".to_owned()).unwrap();
    assert!(limit.try_acquire(&"tenant-a".to_owned()).is_err());
    limit.try_acquire(&"tenant-b".to_owned()).unwrap();
    assert_eq!(limit.keys(), 2);
    let out = futures::executor::block_on(limit.call("tenant-a".to_owned(), || async {
        Ok::<_, std::io::Error>(1)
    }));
    assert!(out.unwrap_err().is_rate_limited());
    timer.advance(Duration::from_secs(5));
    limit.retain_recent();
    assert_eq!(limit.keys(), 0);
}

#[test]
fn bad_settings_name_their_field() {
    let field = |b: palisade::rate_limit::RateLimitBuilder| b.build().unwrap_err().field();
    let b = RateLimit::builder;
    assert_eq!(field(b().rate(0, Duration::from_secs(1))), "rate");
    assert_eq!(field(b().rate(1, Duration::ZERO)), "rate");
    assert_eq!(field(b().rate(2, Duration::from_nanos(1))), "rate");
    assert_eq!(field(b().rate(1, Duration::from_secs(u64::MAX))), "rate");
    assert_eq!(field(b().burst(0)), "burst");
    assert_eq!(
        field(b().max_wait(Duration::from_secs(u64::MAX))),
        "max_wait"
    );
}

#[test]
fn in_a_pipeline_every_attempt_takes_a_turn_and_the_breaker_ignores_rejections() {
    let timer = ManualTimer::new();
    let limit = RateLimit::builder()
        .rate(1, Duration::from_secs(1))
        .timer(timer.clone())
        .build()
        .unwrap();
    let breaker = CircuitBreaker::builder()
        .minimum_calls(1)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(timer.clone())
        .circuit_breaker(breaker.clone())
        .limiter(limit)
        .build()
        .unwrap();
    let ok = futures::executor::block_on(pipeline.call(|| async { Ok::<_, std::io::Error>(1) }));
    assert_eq!(ok.unwrap(), 1);
    let limited =
        futures::executor::block_on(pipeline.call(|| async { Ok::<_, std::io::Error>(2) }));
    assert!(limited.unwrap_err().is_rate_limited());
    // One call counted (the success); the rejection is not the dependency's.
    assert_eq!(breaker.snapshot().calls(), 1);
    assert_eq!(breaker.snapshot().failures(), 0);
}

#[test]
fn in_a_pipeline_an_attempt_waits_for_its_turn() {
    let timer = ManualTimer::new();
    let limit = RateLimit::builder()
        .rate(1, Duration::from_secs(1))
        .max_wait(Duration::from_secs(2))
        .timer(timer.clone())
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(timer.clone())
        .limiter(limit)
        .build()
        .unwrap();
    futures::executor::block_on(pipeline.call(|| async { Ok::<_, std::io::Error>(1) })).unwrap();
    let mut waiting = pin!(pipeline.call(|| async { Ok::<_, std::io::Error>(2) }));
    assert!(poll(waiting.as_mut()).is_pending());
    timer.advance(Duration::from_secs(1));
    assert!(matches!(poll(waiting.as_mut()), Poll::Ready(Ok(2))));
}

#[cfg(feature = "tower")]
#[test]
fn the_tower_service_waits_in_poll_ready_and_rejects_from_the_response_future() {
    use palisade::rate_limit::RateLimitLayer;
    use tower::{Layer, Service};

    let timer = ManualTimer::new();
    let inner_polled = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = std::sync::Arc::clone(&inner_polled);
    let inner = tower::service_fn(move |x: u8| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move { Ok::<_, std::io::Error>(x) }
    });
    let mut svc = RateLimitLayer::new(limit(&timer, 150 * MS)).layer(inner);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    for i in 0..5 {
        assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        assert_eq!(futures::executor::block_on(svc.call(i)).unwrap(), i);
    }
    // The sixth waits in poll_ready for its turn.
    assert!(svc.poll_ready(&mut cx).is_pending());
    timer.advance(100 * MS);
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    assert_eq!(futures::executor::block_on(svc.call(6)).unwrap(), 6);
    // A limit that does not wait: over the rate, ready at once and
    // rejected by the response future, the inner service never called.
    let spent = limit(&timer, Duration::ZERO);
    for _ in 0..5 {
        spent.try_acquire().unwrap();
    }
    let mut svc = RateLimitLayer::new(spent).layer(svc.into_inner());
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let rejected = futures::executor::block_on(svc.call(7)).unwrap_err();
    assert!(rejected.is_rate_limited());
    assert_eq!(inner_polled.load(std::sync::atomic::Ordering::SeqCst), 6);
}

#[cfg(feature = "tower")]
#[test]
fn the_keyed_layer_counts_each_request_on_its_keys_rate() {
    use palisade::rate_limit::KeyedRateLimitLayer;
    use tower::{Layer, ServiceExt};

    let timer = ManualTimer::new();
    let per_route = RateLimit::builder()
        .rate(2, Duration::from_secs(1))
        .timer(timer.clone())
        .build_keyed::<&'static str>()
        .unwrap();
    let called = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = std::sync::Arc::clone(&called);
    let svc = KeyedRateLimitLayer::new(per_route, |route: &&'static str| *route).layer(
        tower::service_fn(move |route: &'static str| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { Ok::<_, std::io::Error>(route) }
        }),
    );
    let send = |route| futures::executor::block_on(svc.clone().oneshot(route));
    assert!(send("/a").is_ok() && send("/a").is_ok());
    assert!(send("/a").unwrap_err().is_rate_limited());
    assert!(send("/b").is_ok(), "another key has its own rate");
    assert_eq!(called.load(std::sync::atomic::Ordering::SeqCst), 3);
    timer.advance(Duration::from_millis(500));
    assert!(send("/a").is_ok());
}
