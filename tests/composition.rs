//! The pipeline: each guard fires and yields the right flat error, the
//! documented order has the documented effects, and instances are shared.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use palisade::bulkhead::Bulkhead;
use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::fallback::Fallback;
use palisade::pipeline::Pipeline;
use palisade::retry::{Backoff, Retry};
use palisade::timer::ManualTimer;
use palisade::Error;

mod support;
use support::drive;

const MS: Duration = Duration::from_millis(1);

fn retry(timer: &ManualTimer, attempts: u32, delay: Duration) -> Retry {
    Retry::builder()
        .max_attempts(attempts)
        .backoff(Backoff::constant(delay))
        .timer(timer.clone())
        .clock(timer.clone())
        .build()
        .unwrap()
}

fn breaker(window: u32) -> CircuitBreaker {
    CircuitBreaker::builder()
        .name("dep")
        .count_window(window)
        .minimum_calls(window)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap()
}

fn failing(calls: &AtomicU32) -> impl std::future::Future<Output = Result<u32, std::io::Error>> {
    let n = calls.fetch_add(1, Ordering::SeqCst);
    async move { Err(std::io::Error::other(format!("failure {n}"))) }
}

#[test]
fn the_operations_last_error_comes_back_flat_and_the_breaker_sees_each_attempt() {
    let timer = ManualTimer::new();
    let b = breaker(10);
    let pipeline = Pipeline::builder(timer.clone())
        .retry(retry(&timer, 3, 10 * MS))
        .circuit_breaker(b.clone())
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let err = drive(&timer, pipeline.call(|| failing(&calls))).unwrap_err();
    let Error::Operation(io) = err else {
        panic!("{err:?}")
    };
    assert_eq!(io.to_string(), "failure 2", "the last attempt's own error");
    assert_eq!(
        b.snapshot().failures(),
        3,
        "the breaker judged every attempt"
    );
}

#[test]
fn an_open_breaker_stops_the_retries_at_once() {
    let timer = ManualTimer::new();
    let b = breaker(2);
    let pipeline = Pipeline::builder(timer.clone())
        .retry(retry(&timer, 5, 10 * MS))
        .circuit_breaker(b.clone())
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let err = drive(&timer, pipeline.call(|| failing(&calls))).unwrap_err();
    // Two failures trip the breaker (2 of 2 ≥ 50 %); the third attempt is
    // rejected, and a rejection is not retried.
    assert!(err.is_circuit_open(), "{err:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(b.state(), State::Open);
    assert_eq!(timer.elapsed(), 20 * MS, "two waits, then no more");
}

#[test]
fn a_full_bulkhead_is_rejected_flat_and_ignored_by_the_breaker() {
    let timer = ManualTimer::new();
    let b = breaker(10);
    let bulkhead = Bulkhead::builder()
        .name("pool")
        .max_concurrent(1)
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(timer.clone())
        .circuit_breaker(b.clone())
        .bulkhead(bulkhead.clone())
        .build()
        .unwrap();
    let _held = bulkhead.try_acquire().unwrap();
    let err = drive(
        &timer,
        pipeline.call(|| async { Ok::<_, std::io::Error>(1) }),
    )
    .unwrap_err();
    let Error::BulkheadFull(full) = err else {
        panic!("{err:?}")
    };
    assert_eq!(full.name(), "pool");
    assert_eq!(b.snapshot().calls(), 0, "not the dependency's fault");
}

#[test]
fn attempt_timeouts_are_retried_and_count_as_failures() {
    let timer = ManualTimer::new();
    let b = breaker(10);
    let bulkhead = Bulkhead::builder().max_concurrent(4).build().unwrap();
    let pipeline = Pipeline::builder(timer.clone())
        .retry(retry(&timer, 3, 10 * MS))
        .circuit_breaker(b.clone())
        .bulkhead(bulkhead.clone())
        .attempt_timeout(100 * MS)
        .build()
        .unwrap();
    let err = drive(
        &timer,
        pipeline.call(std::future::pending::<Result<(), std::io::Error>>),
    )
    .unwrap_err();
    let Error::TimedOut(t) = err else {
        panic!("{err:?}")
    };
    assert_eq!((t.name(), t.after()), ("pipeline.attempt", 100 * MS));
    assert_eq!(timer.elapsed(), 3 * 100 * MS + 2 * 10 * MS);
    assert_eq!(b.snapshot().failures(), 3);
    assert_eq!(
        bulkhead.metrics().in_flight,
        0,
        "every timed-out attempt gave its place back"
    );
}

#[test]
fn the_total_timeout_covers_attempts_and_waits() {
    let timer = ManualTimer::new();
    let pipeline = Pipeline::builder(timer.clone())
        .name("checkout")
        .timeout(250 * MS)
        .retry(retry(&timer, 100, 100 * MS))
        .build()
        .unwrap();
    // Two attempts fail at once; the third, at 200 ms, hangs.
    let calls = AtomicU32::new(0);
    let err = drive(
        &timer,
        pipeline.call(|| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 2 {
                    std::future::pending::<()>().await;
                }
                Err::<u32, _>(std::io::Error::other("failure"))
            }
        }),
    )
    .unwrap_err();
    let Error::TimedOut(t) = err else {
        panic!("{err:?}")
    };
    assert_eq!(t.name(), "checkout");
    assert_eq!(timer.elapsed(), 250 * MS);
    assert_eq!(calls.load(Ordering::SeqCst), 3, "at 0, 100 and 200 ms");
}

/// A retry whose wait would end at or past the total deadline is not made:
/// the caller gets the last attempt's own outcome at once, not a timeout
/// after a pointless wait.
#[test]
fn a_retry_that_would_wait_past_the_total_timeout_is_not_made() {
    let timer = ManualTimer::new();
    let pipeline = Pipeline::builder(timer.clone())
        .timeout(100 * MS)
        .retry(retry(&timer, 5, Duration::from_secs(10)))
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let err = drive(&timer, pipeline.call(|| failing(&calls))).unwrap_err();
    let Error::Operation(io) = err else {
        panic!("{err:?}")
    };
    assert_eq!(io.to_string(), "failure 0");
    assert_eq!(timer.elapsed(), Duration::ZERO, "returned at once");

    // Waits that fit are made: 40 ms each, under 100 ms, two retries fit
    // (ending at 40 and 80 ms); the third would end at 120 ms.
    let timer = ManualTimer::new();
    let pipeline = Pipeline::builder(timer.clone())
        .timeout(100 * MS)
        .retry(retry(&timer, 5, 40 * MS))
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let err = drive(&timer, pipeline.call(|| failing(&calls))).unwrap_err();
    assert!(matches!(err, Error::Operation(_)), "{err:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(timer.elapsed(), 80 * MS);
}

#[test]
fn instances_are_shared_between_pipelines() {
    let timer = ManualTimer::new();
    let b = breaker(4);
    let reads = Pipeline::builder(timer.clone())
        .circuit_breaker(b.clone())
        .build()
        .unwrap();
    let writes = Pipeline::builder(timer.clone())
        .retry(retry(&timer, 2, MS))
        .circuit_breaker(b.clone())
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let _ = drive(&timer, reads.call(|| failing(&calls)));
    let _ = drive(&timer, writes.call(|| failing(&calls)));
    let _ = drive(&timer, reads.call(|| failing(&calls)));
    assert_eq!(b.state(), State::Open, "4 failures from two pipelines");
    let err = drive(&timer, writes.call(|| async { Ok::<_, std::io::Error>(1) })).unwrap_err();
    assert!(err.is_circuit_open());
}

#[test]
fn a_fallback_around_the_pipeline_serves_rejections_and_timeouts() {
    let timer = ManualTimer::new();
    let b = breaker(2);
    b.transition_to(State::ForcedOpen);
    let pipeline = Pipeline::builder(timer.clone())
        .circuit_breaker(b)
        .build()
        .unwrap();
    let fallback = Fallback::value("cached")
        .when(|e: &Error<std::io::Error>| e.is_rejection() || e.is_timeout());
    let reply = drive(
        &timer,
        fallback.call(|| pipeline.call(|| async { Ok::<_, std::io::Error>("live") })),
    );
    assert_eq!(reply.unwrap(), "cached");
}

/// The fallback, outermost, serves the pipeline's final error: here the
/// last attempt's own error, returned when the total timeout left no room
/// for another retry.
#[test]
fn with_fallback_serves_the_final_error() {
    let timer = ManualTimer::new();
    let pipeline = Pipeline::builder(timer.clone())
        .timeout(100 * MS)
        .retry(retry(&timer, 10, 30 * MS))
        .build()
        .unwrap()
        .with_fallback(
            Fallback::with(|e: Error<std::io::Error>| format!("stale ({:?})", e.kind()))
                .when(|e: &Error<std::io::Error>| !e.is_rejection()),
        );
    let calls = AtomicU32::new(0);
    let reply = drive(
        &timer,
        pipeline.call(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<String, _>(std::io::Error::other("down"))
        }),
    );
    assert_eq!(reply.unwrap(), "stale (Operation)");
    assert_eq!(calls.load(Ordering::SeqCst), 4, "at 0, 30, 60 and 90 ms");
    assert_eq!(timer.elapsed(), 90 * MS, "no wait into the timeout");
}

#[test]
fn an_empty_pipeline_passes_results_through() {
    let timer = ManualTimer::new();
    let pipeline = Pipeline::builder(timer.clone()).build().unwrap();
    assert_eq!(
        drive(
            &timer,
            pipeline.call(|| async { Ok::<_, std::io::Error>(5) })
        )
        .unwrap(),
        5
    );
    let err = drive(&timer, pipeline.call(|| async { Err::<(), _>("boom") })).unwrap_err();
    assert!(matches!(err, Error::Operation("boom")));
}

#[test]
fn bad_durations_are_named() {
    let err = Pipeline::builder(ManualTimer::new())
        .attempt_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "duration");
}

#[test]
fn dropping_the_call_gives_everything_back() {
    let timer = ManualTimer::new();
    let b = breaker(10);
    let bulkhead = Bulkhead::builder().max_concurrent(1).build().unwrap();
    let pipeline = Pipeline::builder(timer.clone())
        .timeout(Duration::from_secs(1))
        .circuit_breaker(b.clone())
        .bulkhead(bulkhead.clone())
        .attempt_timeout(100 * MS)
        .build()
        .unwrap();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut call = Box::pin(pipeline.call(std::future::pending::<Result<(), std::io::Error>>));
    assert!(std::future::Future::poll(call.as_mut(), &mut cx).is_pending());
    assert_eq!(bulkhead.metrics().in_flight, 1);
    drop(call);
    assert_eq!(bulkhead.metrics().in_flight, 0);
    assert_eq!(b.snapshot().calls(), 0, "a cancelled call is not recorded");
    assert_eq!(timer.sleeping(), 0, "both deadlines dropped");
}

#[test]
fn a_queued_attempt_waits_without_its_deadline_running() {
    let timer = ManualTimer::new();
    let bulkhead = Bulkhead::builder()
        .max_concurrent(1)
        .queue(4, Duration::from_secs(10))
        .timer(timer.clone())
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(timer.clone())
        .bulkhead(bulkhead.clone())
        .attempt_timeout(100 * MS)
        .build()
        .unwrap();
    let held = bulkhead.try_acquire().unwrap();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut call = Box::pin(pipeline.call(|| async { Ok::<_, std::io::Error>("served") }));
    assert!(std::future::Future::poll(call.as_mut(), &mut cx).is_pending());
    timer.advance(500 * MS); // longer than the attempt timeout
    drop(held);
    let std::task::Poll::Ready(out) = std::future::Future::poll(call.as_mut(), &mut cx) else {
        panic!("served once the place is free")
    };
    assert_eq!(out.unwrap(), "served");
}

/// The breaker in a pipeline judges attempts with its own classifier: here
/// an `Ok(503)` is a failure, so the breaker opens on a run of them.
#[test]
fn a_pipeline_judges_attempts_with_the_breakers_classifier() {
    use palisade::circuit_breaker::Classification;
    let timer = ManualTimer::new();
    let b = CircuitBreaker::builder()
        .name("dep")
        .count_window(4)
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .classifier(|r: &Result<u16, Error<std::io::Error>>| match r {
            Ok(status) if *status >= 500 => Classification::Failure,
            Ok(_) => Classification::Success,
            Err(_) => Classification::Failure,
        })
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(timer.clone())
        .circuit_breaker(b.clone())
        .build()
        .unwrap();
    for _ in 0..4 {
        let status = drive(
            &timer,
            pipeline.call(|| async { Ok::<u16, std::io::Error>(503) }),
        );
        assert_eq!(status.unwrap(), 503);
    }
    assert_eq!(b.state(), State::Open, "four Ok(503)s are four failures");
    let err = drive(
        &timer,
        pipeline.call(|| async { Ok::<u16, std::io::Error>(200) }),
    );
    assert!(err.unwrap_err().is_circuit_open());
}

/// One time source: the retry's waits are slept on the pipeline's timer
/// and its elapsed time read on the pipeline's clock, whatever timer the
/// retry was built with (here one that never moves).
#[test]
fn a_pipelines_retry_waits_on_the_pipelines_timer() {
    let timer = ManualTimer::new();
    let elsewhere = ManualTimer::new();
    let retry = Retry::builder()
        .max_attempts(3)
        .max_elapsed(Duration::from_secs(1))
        .backoff(Backoff::constant(100 * MS))
        .timer(elsewhere.clone())
        .clock(elsewhere)
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(timer.clone())
        .retry(retry)
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let err = drive(&timer, pipeline.call(|| failing(&calls))).unwrap_err();
    assert!(matches!(err, Error::Operation(_)), "{err:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        timer.elapsed(),
        200 * MS,
        "two waits on the pipeline's timer"
    );
}

/// A pipeline is cheap to clone, and clones share its guards: a pipeline
/// per host lives in a `Registry` as it is, and its accessors reach the
/// instances it holds.
#[test]
fn pipelines_kept_per_host_in_a_registry_share_their_guards() {
    use palisade::registry::Registry;
    let timer = ManualTimer::new();
    let registry = Registry::builder({
        let timer = timer.clone();
        move |host: &str| {
            Pipeline::builder(timer.clone())
                .name(host.to_owned())
                .timeout(Duration::from_secs(1))
                .circuit_breaker(CircuitBreaker::builder().name(host.to_owned()).build()?)
                .bulkhead(Bulkhead::builder().name(host.to_owned()).build()?)
                .build()
        }
    })
    .build()
    .unwrap();
    for _ in 0..3 {
        let pipeline = registry.get("inventory.internal").unwrap();
        drive(
            &timer,
            pipeline.call(|| async { Ok::<_, std::io::Error>(()) }),
        )
        .unwrap();
    }
    let pipeline = registry.get("inventory.internal").unwrap();
    let breaker = pipeline.circuit_breaker().unwrap();
    assert_eq!(breaker.name(), "inventory.internal");
    assert_eq!(
        breaker.snapshot().calls(),
        3,
        "one breaker behind every clone"
    );
    assert_eq!(pipeline.bulkhead().unwrap().metrics().in_flight, 0);
    assert_eq!(pipeline.timeout(), Some(Duration::from_secs(1)));
    assert_eq!(pipeline.attempt_timeout(), None);
    assert!(pipeline.retry().is_none());
}

/// DESIGN semantics 20: the slow-call clock starts when the operation
/// starts. Time queued for a bulkhead place is the caller's congestion,
/// not the dependency's slowness.
#[test]
fn time_queued_for_a_bulkhead_place_is_not_slow_call_time() {
    let timer = ManualTimer::new();
    let b = CircuitBreaker::builder()
        .name("dep")
        .count_window(1)
        .minimum_calls(1)
        .slow_call_duration(5 * MS)
        .slow_call_rate_threshold(1.0)
        .clock(timer.clone())
        .build()
        .unwrap();
    let bulkhead = Bulkhead::builder()
        .max_concurrent(1)
        .queue(4, Duration::from_secs(10))
        .timer(timer.clone())
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(timer.clone())
        .circuit_breaker(b.clone())
        .bulkhead(bulkhead.clone())
        .build()
        .unwrap();
    let held = bulkhead.try_acquire().unwrap();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut call = Box::pin(pipeline.call(|| async { Ok::<_, std::io::Error>("instant") }));
    assert!(std::future::Future::poll(call.as_mut(), &mut cx).is_pending());
    timer.advance(10 * MS); // queued twice the slow-call limit
    drop(held);
    let std::task::Poll::Ready(out) = std::future::Future::poll(call.as_mut(), &mut cx) else {
        panic!("served once the place is free")
    };
    assert_eq!(out.unwrap(), "instant");
    assert_eq!(b.state(), State::Closed, "not tripped by the queueing");
    let snapshot = b.snapshot();
    assert_eq!((snapshot.calls(), snapshot.slow_calls()), (1, 0));
}

#[test]
fn a_panicking_attempt_is_a_breaker_failure_and_frees_its_place() {
    let timer = ManualTimer::new();
    let b = breaker(10);
    let bulkhead = Bulkhead::builder().max_concurrent(1).build().unwrap();
    let pipeline = Pipeline::builder(timer.clone())
        .circuit_breaker(b.clone())
        .bulkhead(bulkhead.clone())
        .build()
        .unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drive(
            &timer,
            pipeline.call(|| async {
                if true {
                    panic!("attempt panicked");
                }
                Ok::<(), std::io::Error>(())
            }),
        )
    }));
    assert!(caught.is_err());
    assert_eq!(b.snapshot().failures(), 1);
    assert_eq!(bulkhead.metrics().in_flight, 0);
}

// The axum test runs its pipeline on tokio's timer.
#[cfg(all(feature = "tower", feature = "tokio"))]
mod tower_stack {
    use super::*;
    use axum::error_handling::HandleErrorLayer;
    use axum::http::StatusCode;
    use palisade::error::{kind_of, ErrorKind};
    use palisade::pipeline::PipelineLayer;
    use tower::{BoxError, Layer, ServiceBuilder, ServiceExt};

    /// The pipeline as one layer: the stack's error is the flat `Error`,
    /// and a retry goes through a readied clone (`ConcurrencyLimit` panics
    /// on an unreadied call).
    #[test]
    fn one_layer_one_flat_error_and_readied_retries() {
        let timer = ManualTimer::new();
        let b = breaker(10);
        let pipeline = Pipeline::builder(timer.clone())
            .retry(retry(&timer, 3, 10 * MS))
            .circuit_breaker(b.clone())
            .attempt_timeout(100 * MS)
            .build()
            .unwrap();
        let calls = std::sync::Arc::new(AtomicU32::new(0));
        let svc = PipelineLayer::new(pipeline).layer(
            tower::limit::ConcurrencyLimitLayer::new(1).layer(tower::service_fn({
                let calls = std::sync::Arc::clone(&calls);
                move |x: u32| {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if n < 2 {
                            Err(std::io::Error::other("flaky"))
                        } else {
                            Ok(x)
                        }
                    }
                }
            })),
        );
        let out: Result<u32, Error<std::io::Error>> = drive(&timer, svc.oneshot(7));
        assert_eq!(out.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(b.snapshot().failures(), 2);
    }

    /// DESIGN, the tower contract: when the breaker will reject the call,
    /// `poll_ready` does not wait on the inner service. Here the inner
    /// `ConcurrencyLimit(1)` is held by a hung call; the open breaker's
    /// rejection still comes at once, and once the breaker closes again a
    /// call readies its own service first (no unreadied call, which
    /// `ConcurrencyLimit` would panic on).
    #[test]
    fn an_open_breaker_rejects_without_waiting_on_the_inner_services_readiness() {
        let timer = ManualTimer::new();
        let b = breaker(10);
        let pipeline = Pipeline::builder(timer.clone())
            .circuit_breaker(b.clone())
            .build()
            .unwrap();
        let hang = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let mut svc = PipelineLayer::new(pipeline).layer(
            tower::limit::ConcurrencyLimitLayer::new(1).layer(tower::service_fn({
                let hang = std::sync::Arc::clone(&hang);
                move |x: u32| {
                    let hang = hang.load(Ordering::SeqCst);
                    async move {
                        if hang {
                            std::future::pending::<()>().await;
                        }
                        Ok::<_, std::io::Error>(x)
                    }
                }
            })),
        );
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        use tower::Service;
        assert!(svc.poll_ready(&mut cx).is_ready());
        let mut hung = Box::pin(svc.call(1));
        assert!(std::future::Future::poll(hung.as_mut(), &mut cx).is_pending());
        b.transition_to(State::ForcedOpen);
        assert!(
            matches!(svc.poll_ready(&mut cx), std::task::Poll::Ready(Ok(()))),
            "ready at once: the call will be rejected"
        );
        let err = drive(&timer, svc.call(2)).unwrap_err();
        assert!(err.is_rejection(), "{err:?}");
        // Closed again, with the limit still held: the next call waits for
        // its own readied service, then runs when the hung call is gone.
        b.transition_to(State::Closed);
        hang.store(false, Ordering::SeqCst);
        assert!(svc.poll_ready(&mut cx).is_pending(), "the limit is held");
        drop(hung);
        assert!(svc.poll_ready(&mut cx).is_ready());
        assert_eq!(drive(&timer, svc.call(3)).unwrap(), 3);
    }

    /// Behind a `Buffer`, with a hung call holding the `ConcurrencyLimit`
    /// below the pipeline: once the breaker opens, the next call is
    /// rejected at once (the buffer's worker is not stuck in the inner
    /// service's `poll_ready`).
    #[tokio::test]
    async fn behind_a_buffer_an_open_breaker_rejects_while_a_hung_call_holds_the_limit() {
        let started = std::sync::Arc::new(tokio::sync::Notify::new());
        let b = breaker(10);
        let pipeline = Pipeline::builder(palisade::timer::TokioTimer)
            .circuit_breaker(b.clone())
            .build()
            .unwrap();
        let svc = ServiceBuilder::new()
            .buffer(8)
            .layer(PipelineLayer::new(pipeline))
            .concurrency_limit(1)
            .service(tower::service_fn({
                let started = std::sync::Arc::clone(&started);
                move |hang: bool| {
                    let started = std::sync::Arc::clone(&started);
                    async move {
                        if hang {
                            started.notify_one();
                            std::future::pending::<()>().await;
                        }
                        Ok::<_, std::io::Error>("answered")
                    }
                }
            }));
        let hung = tokio::spawn(svc.clone().oneshot(true));
        // The hung call holds the limit.
        started.notified().await;
        b.transition_to(State::ForcedOpen);
        let rejected = tokio::time::timeout(Duration::from_secs(5), svc.clone().oneshot(false))
            .await
            .expect("rejected at once, not stuck behind the hung call");
        let err = rejected.unwrap_err();
        assert_eq!(kind_of(err.as_ref()), ErrorKind::CircuitOpen, "{err}");
        hung.abort();
    }

    /// In a real `axum::Router` behind `HandleErrorLayer`, under a
    /// `Buffer`: rejections are classified from the `BoxError`, and the
    /// stack survives an open breaker.
    #[tokio::test]
    async fn in_an_axum_router_behind_handle_error_and_buffer() {
        // Judged from 3 calls: one success and two failures trip it.
        let b = breaker(3);
        let pipeline = Pipeline::builder(palisade::timer::TokioTimer)
            .timeout(Duration::from_secs(5))
            .circuit_breaker(b.clone())
            .build()
            .unwrap();
        let outbound = ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|err: BoxError| async move {
                match kind_of(err.as_ref()) {
                    ErrorKind::CircuitOpen => (StatusCode::SERVICE_UNAVAILABLE, "open".to_string()),
                    ErrorKind::TimedOut => (StatusCode::GATEWAY_TIMEOUT, err.to_string()),
                    _ => (StatusCode::BAD_GATEWAY, err.to_string()),
                }
            }))
            .buffer(16)
            .map_err(BoxError::from)
            .map_request(|req: axum::extract::Request| req.uri().path().to_string())
            .layer(PipelineLayer::new(pipeline))
            .service(tower::service_fn(|path: String| async move {
                if path == "/down" {
                    Err(std::io::Error::other("dependency down"))
                } else {
                    Ok::<_, std::io::Error>("in stock")
                }
            }));
        let app = axum::Router::new()
            .route_service("/stock", outbound.clone())
            .route_service("/down", outbound);
        let get = |path: &str| {
            axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let status = |r: axum::response::Response| r.status();
        assert_eq!(
            status(app.clone().oneshot(get("/stock")).await.unwrap()),
            StatusCode::OK
        );
        for _ in 0..2 {
            let r = app.clone().oneshot(get("/down")).await.unwrap();
            assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        }
        assert_eq!(b.state(), State::Open);
        let r = app.clone().oneshot(get("/stock")).await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "rejected, flat, classified"
        );
        b.reset();
        let r = app.oneshot(get("/stock")).await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "the buffered stack is still alive"
        );
    }
}

/// Every tower service reaches its inner service as tower's own do.
#[cfg(feature = "tower")]
#[test]
fn tower_services_give_their_inner_service_back() {
    use tower::Layer;

    /// An inner service that says which one it is.
    #[derive(Clone, Debug)]
    struct Inner(u32);
    impl tower::Service<u32> for Inner {
        type Response = u32;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<u32, std::io::Error>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), std::io::Error>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, x: u32) -> Self::Future {
            std::future::ready(Ok(x + self.0))
        }
    }

    let timer = ManualTimer::new();
    let mut breaker =
        palisade::circuit_breaker::CircuitBreakerLayer::new(breaker(4)).layer(Inner(1));
    breaker.get_mut().0 = 2;
    assert_eq!(breaker.get_ref().0, 2);
    assert_eq!(breaker.into_inner().0, 2);
    let bulkhead = palisade::bulkhead::BulkheadLayer::new(Bulkhead::builder().build().unwrap())
        .layer(Inner(3));
    assert_eq!(bulkhead.into_inner().0, 3);
    let mut pipeline =
        palisade::pipeline::PipelineLayer::new(Pipeline::builder(timer.clone()).build().unwrap())
            .layer(Inner(4));
    pipeline.get_mut().0 = 5;
    assert_eq!(pipeline.into_inner().0, 5);
    let timeout = palisade::timeout::TimeoutLayer::new(
        palisade::timeout::Timeout::builder()
            .duration(Duration::from_secs(1))
            .timer(timer.clone())
            .build()
            .unwrap(),
    )
    .layer(Inner(6));
    assert_eq!(timeout.get_ref().0, 6);
    let retry = palisade::retry::RetryLayer::new(retry(&timer, 2, MS)).layer(Inner(7));
    assert_eq!(retry.into_inner().0, 7);
}

/// Hedging in the pipeline: `call_hedged` puts the hedge in the retry's
/// place; each attempt goes through the breaker, bulkhead and attempt
/// timeout on its own, and the total timeout bounds them all.
mod hedged {
    use super::support::{counting_abandoned, hedge};
    use super::*;
    use palisade::timer::Timer;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// The `n`-th attempt (from 0) answers `Ok(n)` after `after(n)`.
    fn attempt(
        timer: &ManualTimer,
        calls: &AtomicU32,
        after: fn(u32) -> Duration,
    ) -> impl Future<Output = Result<u32, std::io::Error>> {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        let sleep = timer.sleep(after(n));
        async move {
            sleep.await;
            Ok(n)
        }
    }

    fn poll<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        fut.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn the_hedge_wins_with_its_own_place_and_the_loser_is_dropped_uncounted() {
        let timer = ManualTimer::new();
        let b = counting_abandoned();
        let bulkhead = Bulkhead::builder().max_concurrent(4).build().unwrap();
        let pipeline = Pipeline::builder(timer.clone())
            .timeout(Duration::from_secs(1))
            .circuit_breaker(b.clone())
            .bulkhead(bulkhead.clone())
            .attempt_timeout(Duration::from_millis(800))
            .build()
            .unwrap();
        let hedge = hedge(&timer, 2);
        let calls = AtomicU32::new(0);
        let slow_then_fast = |n| if n == 0 { 500 * MS } else { 10 * MS };
        let mut call =
            pin!(pipeline.call_hedged(&hedge, || attempt(&timer, &calls, slow_then_fast)));
        assert!(poll(call.as_mut()).is_pending());
        assert_eq!(bulkhead.metrics().in_flight, 1);
        timer.advance(50 * MS);
        assert!(poll(call.as_mut()).is_pending());
        assert_eq!(
            bulkhead.metrics().in_flight,
            2,
            "the hedge holds a place of its own"
        );
        timer.advance(10 * MS);
        let Poll::Ready(answer) = poll(call.as_mut()) else {
            panic!("the hedge answered")
        };
        assert_eq!(answer.unwrap(), 1, "the hedge answered first");
        assert_eq!(
            bulkhead.metrics().in_flight,
            0,
            "the loser's place came back"
        );
        assert_eq!(
            (b.snapshot().calls(), b.snapshot().failures()),
            (1, 0),
            "only the winner is recorded"
        );
        assert_eq!(timer.sleeping(), 0, "every deadline dropped");
    }

    #[test]
    fn the_total_timeout_bounds_the_hedges_and_abandons_them() {
        let timer = ManualTimer::new();
        let b = counting_abandoned();
        let bulkhead = Bulkhead::builder().max_concurrent(4).build().unwrap();
        let pipeline = Pipeline::builder(timer.clone())
            .timeout(200 * MS)
            .circuit_breaker(b.clone())
            .bulkhead(bulkhead.clone())
            .build()
            .unwrap();
        let hedge = hedge(&timer, 3);
        let calls = AtomicU32::new(0);
        let err = drive(
            &timer,
            pipeline.call_hedged(&hedge, || {
                attempt(&timer, &calls, |_| Duration::from_secs(5))
            }),
        )
        .unwrap_err();
        assert!(matches!(err, Error::TimedOut(_)), "{err:?}");
        assert_eq!(timer.elapsed(), 200 * MS, "at the total timeout, not later");
        assert_eq!(calls.load(Ordering::SeqCst), 3, "the first and two hedges");
        assert_eq!(bulkhead.metrics().in_flight, 0);
        // Abandoned by the caller's deadline, not lost in a race: counted.
        assert_eq!(b.snapshot().failures(), 3);
    }

    #[test]
    fn a_hedge_the_full_bulkhead_rejects_does_not_end_the_call() {
        let timer = ManualTimer::new();
        let bulkhead = Bulkhead::builder().max_concurrent(1).build().unwrap();
        let pipeline = Pipeline::builder(timer.clone())
            .bulkhead(bulkhead.clone())
            .build()
            .unwrap();
        let hedge = hedge(&timer, 3);
        let calls = AtomicU32::new(0);
        let answer = drive(
            &timer,
            pipeline.call_hedged(&hedge, || attempt(&timer, &calls, |_| 100 * MS)),
        );
        assert_eq!(answer.unwrap(), 0, "the first attempt's answer");
        assert_eq!(timer.elapsed(), 100 * MS);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the hedge never ran");
    }

    #[test]
    fn the_hedge_takes_the_retrys_place() {
        let timer = ManualTimer::new();
        let pipeline = Pipeline::builder(timer.clone())
            .retry(retry(&timer, 3, 10 * MS))
            .build()
            .unwrap();
        let hedge = hedge(&timer, 2);
        let calls = AtomicU32::new(0);
        let err = drive(&timer, pipeline.call_hedged(&hedge, || failing(&calls))).unwrap_err();
        assert_eq!(err.to_string(), "failure 1", "the last attempt's own error");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "the hedge's 2 attempts, not 3 retries of each"
        );
        assert_eq!(
            timer.elapsed(),
            Duration::ZERO,
            "a failure is followed at once"
        );
    }
}
