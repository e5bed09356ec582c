//! Behaviour tests of retry: exact delays on a manual timer with no
//! runtime, attempts and elapsed time, hints, budgets, rejections, timeout
//! combinations and the tower form.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use palisade::retry::{
    Backoff, Decision, GaveUp, Jitter, Retry, RetryBudget, RetryBuilder, RetryEventKind,
};
use palisade::timer::ManualTimer;

const MS: Duration = Duration::from_millis(1);

mod support;
use support::drive;

fn builder(timer: &ManualTimer) -> RetryBuilder {
    Retry::builder()
        .name("dep")
        .timer(timer.clone())
        .clock(timer.clone())
        .seed(7)
}

/// Records the delays of a retry's `Retry` events and its give-ups.
fn recorded<P>(retry: &Retry<P>) -> Arc<Mutex<Vec<RetryEventKind>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    retry.on_event(move |e| sink.lock().unwrap().push(e.kind));
    seen
}

fn delays(events: &Mutex<Vec<RetryEventKind>>) -> Vec<Duration> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|k| match k {
            RetryEventKind::Retry { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect()
}

/// Fails `failures` times, then succeeds; counts calls.
fn flaky(calls: &AtomicU32, failures: u32) -> impl Future<Output = Result<u32, std::io::Error>> {
    let n = calls.fetch_add(1, Ordering::SeqCst);
    async move {
        if n < failures {
            Err(std::io::Error::other(format!("failure {n}")))
        } else {
            Ok(n)
        }
    }
}

#[test]
fn max_attempts_counts_the_first_call() {
    let timer = ManualTimer::new();
    let retry = builder(&timer)
        .max_attempts(3)
        .backoff(Backoff::constant(10 * MS))
        .build()
        .unwrap();
    let events = recorded(&retry);
    let calls = AtomicU32::new(0);
    let (result, attempts) = drive(&timer, retry.call(|| flaky(&calls, 10)).counted());
    assert_eq!(
        result.unwrap_err().to_string(),
        "failure 2",
        "the last attempt's own error"
    );
    assert_eq!((attempts, calls.load(Ordering::SeqCst)), (3, 3));
    assert_eq!(timer.elapsed(), 20 * MS);
    assert_eq!(
        events.lock().unwrap().last(),
        Some(&RetryEventKind::GaveUp {
            attempts: 3,
            reason: GaveUp::Attempts
        })
    );
}

#[test]
fn exact_delays_for_each_backoff() {
    let cases = [
        (Backoff::constant(100 * MS), [100, 100, 100, 100]),
        (Backoff::linear(100 * MS, 50 * MS), [100, 150, 200, 250]),
        (
            Backoff::exponential(100 * MS, 2.0).max_delay(500 * MS),
            [100, 200, 400, 500],
        ),
    ];
    for (backoff, expected) in cases {
        let timer = ManualTimer::new();
        let retry = builder(&timer)
            .max_attempts(5)
            .backoff(backoff)
            .build()
            .unwrap();
        let events = recorded(&retry);
        let calls = AtomicU32::new(0);
        let _ = drive(&timer, retry.call(|| flaky(&calls, 10)));
        assert_eq!(
            delays(&events),
            expected.map(Duration::from_millis),
            "{backoff:?}"
        );
        assert_eq!(
            timer.elapsed(),
            Duration::from_millis(expected.iter().sum())
        );
    }
}

#[test]
fn seeded_jitter_repeats_and_stays_in_bounds() {
    let run = |seed| {
        let timer = ManualTimer::new();
        let retry = builder(&timer)
            .seed(seed)
            .max_attempts(6)
            .backoff(Backoff::exponential(100 * MS, 2.0).jitter(Jitter::Full))
            .build()
            .unwrap();
        let events = recorded(&retry);
        let calls = AtomicU32::new(0);
        let _ = drive(&timer, retry.call(|| flaky(&calls, 10)));
        delays(&events)
    };
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a, b, "one seed, one sequence");
    assert_ne!(a, c);
    for (i, d) in a.iter().enumerate() {
        assert!(
            *d <= 100 * MS * 2u32.pow(i as u32),
            "full jitter ≤ base: {a:?}"
        );
    }
    // An injected source decides the jitter.
    let timer = ManualTimer::new();
    let retry = builder(&timer)
        .random_source(|| u64::MAX)
        .max_attempts(2)
        .backoff(Backoff::constant(100 * MS).jitter(Jitter::Equal))
        .build()
        .unwrap();
    let events = recorded(&retry);
    let calls = AtomicU32::new(0);
    let _ = drive(&timer, retry.call(|| flaky(&calls, 10)));
    let d = delays(&events)[0];
    assert!(d > 99 * MS && d <= 100 * MS, "{d:?}");
}

#[test]
fn success_stops_the_retries() {
    let timer = ManualTimer::new();
    let retry = builder(&timer)
        .max_attempts(5)
        .backoff(Backoff::constant(MS))
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    assert_eq!(drive(&timer, retry.call(|| flaky(&calls, 2))).unwrap(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn max_elapsed_stops_a_retry_that_would_end_past_it() {
    let timer = ManualTimer::new();
    let retry = builder(&timer)
        .max_attempts(100)
        .max_elapsed(Duration::from_millis(350))
        .backoff(Backoff::constant(100 * MS))
        .build()
        .unwrap();
    let events = recorded(&retry);
    let calls = AtomicU32::new(0);
    let (_, attempts) = drive(&timer, retry.call(|| flaky(&calls, 100)).counted());
    // Retries at 100, 200, 300 ms; the next would end at 400 > 350.
    assert_eq!(attempts, 4);
    assert_eq!(timer.elapsed(), 300 * MS);
    assert!(matches!(
        events.lock().unwrap().last(),
        Some(RetryEventKind::GaveUp {
            reason: GaveUp::Elapsed,
            ..
        })
    ));
}

#[test]
fn predicates_over_values_and_hints_capped() {
    let timer = ManualTimer::new();
    // 503 comes back as Ok and is retried; the hint replaces the backoff,
    // capped at max_hint.
    let retry = builder(&timer)
        .max_attempts(3)
        .max_hint(Duration::from_secs(5))
        .backoff(Backoff::constant(MS))
        .policy(|outcome: &Result<(u16, u64), ()>| match outcome {
            Ok((503, secs)) => Decision::RetryAfter(Duration::from_secs(*secs)),
            _ => Decision::Accept,
        })
        .build()
        .unwrap();
    let events = recorded(&retry);
    let responses = Mutex::new(vec![(200, 0), (503, 60), (503, 2)]);
    let result = drive(
        &timer,
        retry.call(|| {
            let r = responses.lock().unwrap().pop().unwrap();
            async move { Ok(r) }
        }),
    );
    assert_eq!(result, Ok((200, 0)));
    assert_eq!(
        delays(&events),
        [Duration::from_secs(2), Duration::from_secs(5)],
        "2 s as hinted, then 60 s capped at 5 s"
    );
}

#[test]
fn retry_after_in_both_forms_drives_the_delay() {
    use palisade::retry::hint::retry_after;
    use std::time::UNIX_EPOCH;

    let now = UNIX_EPOCH + Duration::from_secs(1_445_412_400);
    let timer = ManualTimer::new();
    let retry = builder(&timer)
        .max_attempts(3)
        .max_hint(Duration::from_secs(120))
        .policy(move |outcome: &Result<&str, &'static str>| match outcome {
            Err(header) => retry_after(header, now).map_or(Decision::Retry, Decision::RetryAfter),
            Ok(_) => Decision::Accept,
        })
        .backoff(Backoff::constant(MS))
        .build()
        .unwrap();
    let events = recorded(&retry);
    let answers = Mutex::new(vec![
        Ok("done"),
        Err("Wed, 21 Oct 2015 07:28:00 GMT"),
        Err("3"),
    ]);
    let result = drive(
        &timer,
        retry.call(|| {
            let a = answers.lock().unwrap().pop().unwrap();
            async move { a }
        }),
    );
    assert_eq!(result, Ok("done"));
    assert_eq!(
        delays(&events),
        [Duration::from_secs(3), Duration::from_secs(80)],
        "delay-seconds, then an HTTP date 80 s ahead"
    );
}

#[cfg(feature = "http")]
#[test]
fn hints_from_http_headers() {
    use palisade::retry::hint::{from_headers, Hint};
    let mut headers = http::HeaderMap::new();
    headers.insert("grpc-retry-pushback-ms", "250".parse().unwrap());
    assert_eq!(
        from_headers(&headers, std::time::SystemTime::now()),
        Some(Hint::After(250 * MS))
    );
    headers.insert("retry-after", "2".parse().unwrap());
    assert_eq!(
        from_headers(&headers, std::time::SystemTime::now()),
        Some(Hint::After(Duration::from_secs(2))),
        "Retry-After first"
    );
}

#[cfg(feature = "http")]
#[test]
fn a_negative_grpc_pushback_means_do_not_retry() {
    use palisade::http::GrpcFailures;
    use palisade::retry::{Decision, RetryPolicy};
    let unavailable = |pushback: Option<&str>| {
        let mut res = http::Response::builder()
            .status(200)
            .header("grpc-status", "14");
        if let Some(ms) = pushback {
            res = res.header("grpc-retry-pushback-ms", ms);
        }
        let outcome: Result<_, palisade::Error<std::io::Error>> = Ok(res.body(()).unwrap());
        GrpcFailures::new().decide(&outcome)
    };
    assert_eq!(unavailable(None), Decision::Retry);
    assert_eq!(unavailable(Some("20")), Decision::RetryAfter(20 * MS));
    // gRFC A6: "a negative value [...] means that the client should not
    // retry".
    assert_eq!(unavailable(Some("-1")), Decision::Accept);
    assert_eq!(unavailable(Some("-250")), Decision::Accept);
    // Malformed is no hint: the backoff decides.
    assert_eq!(unavailable(Some("soon")), Decision::Retry);
}

#[test]
fn an_open_breaker_rejection_is_not_retried_unless_asked() {
    use palisade::circuit_breaker::{CircuitBreaker, State};
    use palisade::retry::RetryErrors;

    let timer = ManualTimer::new();
    let breaker = CircuitBreaker::builder().build().unwrap();
    breaker.transition_to(State::ForcedOpen);
    let retry = builder(&timer)
        .max_attempts(5)
        .backoff(Backoff::constant(MS))
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let (result, attempts) = drive(
        &timer,
        retry.call(|| breaker.call(|| flaky(&calls, 0))).counted(),
    );
    assert!(result.unwrap_err().is_circuit_open());
    assert_eq!(attempts, 1, "a rejection is not retried");

    let retry = builder(&timer)
        .max_attempts(3)
        .backoff(Backoff::constant(MS))
        .policy(RetryErrors::default().retry_rejections(true))
        .build()
        .unwrap();
    let (_, attempts) = drive(
        &timer,
        retry.call(|| breaker.call(|| flaky(&calls, 0))).counted(),
    );
    assert_eq!(attempts, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the operation never ran");
}

/// Under a long run of failures, threads sharing a ratio budget add at
/// most ratio × requests + the reserve in retries.
#[test]
fn a_ratio_budget_holds_retries_at_its_ratio_plus_its_minimum() {
    let timer = ManualTimer::new();
    // 10 % of requests, plus 1 a second over 10 s: a reserve of 10.
    let budget =
        RetryBudget::ratio_with_clock(0.1, 1, Duration::from_secs(10), timer.clone()).unwrap();
    let retry = builder(&timer)
        .max_attempts(10)
        .backoff(Backoff::constant(Duration::ZERO))
        .budget(budget.clone())
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let requests = 1000;
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..requests / 4 {
                    let _ = drive(&timer, retry.call(|| flaky(&calls, u32::MAX)));
                }
            });
        }
    });
    let retries = calls.load(Ordering::SeqCst) - requests;
    // 10 % of 1000 requests + the reserve of 10.
    assert!(retries <= 110, "{retries} retries");
    assert!(
        retries >= 100,
        "the budget is spent, not hoarded: {retries}"
    );
    assert_eq!(budget.available(), 0);
}

/// A ratio budget is exact, as the breaker's thresholds are: 0.29 of 100
/// requests is 29 retries (`0.29 * 100.0` is 28.999999999999996, which
/// allowed 28 before).
#[test]
fn a_ratio_budget_allows_exactly_its_ratio_where_float_products_round_down() {
    let timer = ManualTimer::new();
    let budget =
        RetryBudget::ratio_with_clock(0.29, 0, Duration::from_secs(10), timer.clone()).unwrap();
    let retry = builder(&timer).budget(budget.clone()).build().unwrap();
    let calls = AtomicU32::new(0);
    for _ in 0..100 {
        drive(&timer, retry.call(|| flaky(&calls, 0))).unwrap();
    }
    assert_eq!(budget.available(), 29);
}

#[test]
fn an_in_flight_budget_holds_concurrent_retries() {
    let timer = ManualTimer::new();
    let budget = RetryBudget::in_flight(0.5, 1).unwrap();
    let retry = builder(&timer)
        .max_attempts(3)
        .backoff(Backoff::constant(10 * MS))
        .budget(budget.clone())
        .build()
        .unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    // Four calls in flight, all about to fail: at most max(1, 0.5 × 4) = 2
    // may retry at once.
    let gate = std::sync::atomic::AtomicBool::new(false);
    let attempt = || {
        std::future::poll_fn(|_| {
            if gate.load(Ordering::SeqCst) {
                Poll::Ready(Err::<(), _>(std::io::Error::other("down")))
            } else {
                Poll::Pending
            }
        })
    };
    let mut futs: Vec<_> = (0..4)
        .map(|_| Box::pin(retry.call(attempt).counted()))
        .collect();
    for f in &mut futs {
        assert!(f.as_mut().poll(&mut cx).is_pending());
    }
    gate.store(true, Ordering::SeqCst);
    let mut done = Vec::new();
    for f in &mut futs {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            done.push(out.1);
        }
    }
    assert_eq!(
        done,
        vec![1, 1],
        "two gave up at once, two are waiting to retry"
    );
    assert_eq!(budget.available(), 0, "two retrying of two calls in flight");
    drop(futs);
    assert_eq!(
        budget.available(),
        1,
        "every hold is given back: the minimum"
    );
}

#[test]
fn bad_settings_are_named() {
    let timer = ManualTimer::new();
    let field = |b: RetryBuilder| b.build().unwrap_err().field();
    assert_eq!(field(builder(&timer).max_attempts(0)), "max_attempts");
    assert_eq!(
        field(builder(&timer).max_elapsed(Duration::ZERO)),
        "max_elapsed"
    );
    assert_eq!(
        field(builder(&timer).backoff(Backoff::exponential(MS, f64::NAN))),
        "multiplier"
    );
    assert_eq!(
        field(builder(&timer).backoff(Backoff::linear(10 * MS, MS).max_delay(MS))),
        "initial_delay"
    );
    assert_eq!(
        RetryBudget::ratio(-0.1, 1, Duration::from_secs(10))
            .unwrap_err()
            .field(),
        "ratio"
    );
    assert_eq!(
        RetryBudget::in_flight(f64::NAN, 1).unwrap_err().field(),
        "ratio"
    );
    assert_eq!(
        RetryBudget::ratio(0.1, 1, Duration::ZERO)
            .unwrap_err()
            .field(),
        "ttl"
    );
}

/// Timeout inside the retry: each attempt has its own deadline. Outside:
/// one deadline for every attempt and the waits between them.
#[test]
fn timeout_inside_and_outside_the_retry() {
    use palisade::timeout::Timeout;

    let timer = ManualTimer::new();
    let timeout = Timeout::builder()
        .duration(100 * MS)
        .timer(timer.clone())
        .build()
        .unwrap();
    let retry = builder(&timer)
        .max_attempts(3)
        .backoff(Backoff::constant(10 * MS))
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    // Inside: every attempt hangs and times out after 100 ms.
    let (result, attempts) = drive(
        &timer,
        retry
            .call(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                timeout.call(std::future::pending::<Result<(), std::io::Error>>)
            })
            .counted(),
    );
    assert!(result.unwrap_err().is_timeout());
    assert_eq!(attempts, 3);
    assert_eq!(timer.elapsed(), 3 * 100 * MS + 2 * 10 * MS);

    // Outside: 100 ms for everything, the waits included.
    let timer = ManualTimer::new();
    let timeout = Timeout::builder()
        .duration(100 * MS)
        .timer(timer.clone())
        .build()
        .unwrap();
    let retry = builder(&timer)
        .max_attempts(100)
        .backoff(Backoff::constant(30 * MS))
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let result = drive(
        &timer,
        timeout.call(|| retry.call(|| flaky(&calls, u32::MAX))),
    );
    assert!(result.unwrap_err().is_timeout());
    assert_eq!(timer.elapsed(), 100 * MS);
    assert_eq!(calls.load(Ordering::SeqCst), 4, "at 0, 30, 60 and 90 ms");
}

#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn on_tokio_time() {
    let retry = Retry::builder()
        .backoff(Backoff::constant(Duration::from_secs(1)))
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let calls = AtomicU32::new(0);
    assert_eq!(retry.call(|| flaky(&calls, 2)).await.unwrap(), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

/// One time source on tokio: with the default timer and no clock given,
/// the maximum elapsed time is measured on tokio's (paused) time, the time
/// the waits sleep on. On a real clock this made 100 attempts over 9.9 s
/// of paused time instead of 4 over 300 ms.
#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn max_elapsed_reads_the_same_paused_time_the_default_timer_sleeps_on() {
    let retry = Retry::builder()
        .max_attempts(100)
        .max_elapsed(350 * MS)
        .backoff(Backoff::constant(100 * MS))
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let calls = AtomicU32::new(0);
    let (result, attempts) = retry.call(|| flaky(&calls, 1000)).counted().await;
    assert!(result.is_err());
    assert_eq!(attempts, 4, "at 0, 100, 200 and 300 ms");
    assert_eq!(start.elapsed(), 300 * MS);
}

/// A ratio budget made without a clock, on tokio, forgets on tokio's
/// (paused) time too.
#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn a_ratio_budget_expires_on_paused_tokio_time() {
    let budget = RetryBudget::ratio(0.5, 0, Duration::from_secs(1)).unwrap();
    let retry = Retry::builder()
        .backoff(Backoff::constant(MS))
        .budget(budget.clone())
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    for _ in 0..10 {
        retry.call(|| flaky(&calls, 0)).await.unwrap();
    }
    assert_eq!(budget.available(), 5);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(budget.available(), 0, "the deposits expired");
}

#[cfg(feature = "tower")]
mod tower_service {
    use super::*;
    use palisade::retry::RetryLayer;
    use tower::{Layer, ServiceExt};

    /// Every attempt goes through a service readied with `poll_ready`:
    /// `ConcurrencyLimit` panics when called unreadied (seatbelt's tower
    /// retry trips on exactly that).
    #[test]
    fn attempts_go_through_readied_services() {
        let timer = ManualTimer::new();
        let retry = builder(&timer)
            .max_attempts(4)
            .backoff(Backoff::constant(5 * MS))
            .build()
            .unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let inner = tower::limit::ConcurrencyLimitLayer::new(1).layer(tower::service_fn({
            let calls = Arc::clone(&calls);
            move |x: u32| flaky_owned(&calls, 3, x)
        }));
        let svc = RetryLayer::new(retry).layer(inner);
        let out = drive(&timer, svc.oneshot(9));
        assert_eq!(out.unwrap(), 9);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(timer.elapsed(), 15 * MS);
    }

    #[test]
    fn the_last_error_comes_back_unwrapped() {
        let timer = ManualTimer::new();
        let retry = builder(&timer)
            .max_attempts(2)
            .backoff(Backoff::constant(MS))
            .build()
            .unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let svc = RetryLayer::new(retry).layer(tower::service_fn({
            let calls = Arc::clone(&calls);
            move |x: u32| flaky_owned(&calls, 10, x)
        }));
        let err: std::io::Error = drive(&timer, svc.oneshot(1)).unwrap_err();
        assert_eq!(err.to_string(), "failure 1");
    }

    fn flaky_owned(
        calls: &AtomicU32,
        failures: u32,
        x: u32,
    ) -> impl Future<Output = Result<u32, std::io::Error>> {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < failures {
                Err(std::io::Error::other(format!("failure {n}")))
            } else {
                Ok(x)
            }
        }
    }
}
