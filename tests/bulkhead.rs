//! Behaviour tests of the semaphore bulkhead: fail fast, the FIFO queue and
//! its maximum wait on paused time, live resize, permits that never leak,
//! and the tower service.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use palisade::bulkhead::{Bulkhead, BulkheadEventKind, Rejection};
use palisade::Error;

fn fail_fast(limit: u32) -> Bulkhead {
    Bulkhead::builder()
        .name("dep")
        .max_concurrent(limit)
        .build()
        .unwrap()
}

/// The maximum wait on tokio's (paused) time, through the `Timer` trait,
/// so these tests also run without the crate's `tokio` feature.
#[derive(Debug)]
struct PausedTimer;

impl palisade::timer::Timer for PausedTimer {
    type Sleep = tokio::time::Sleep;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }
}

fn queueing(limit: u32, waiters: u32, wait: Duration) -> Bulkhead {
    Bulkhead::builder()
        .name("dep")
        .max_concurrent(limit)
        .queue(waiters, wait)
        .timer(PausedTimer)
        .build()
        .unwrap()
}

/// Polls once with a no-op waker.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::pin::Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn saturation_rejects_at_once_without_a_runtime() {
    let b = fail_fast(2);
    let _one = b.try_acquire().unwrap();
    let _two = b.try_acquire().unwrap();
    let err = futures::executor::block_on(b.call(|| async { Ok::<_, ()>(()) })).unwrap_err();
    let Error::BulkheadFull(full) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (full.name(), full.limit(), full.reason()),
        ("dep", 2, Rejection::Full)
    );
    assert_eq!(full.waited(), Duration::ZERO);
    let m = b.metrics();
    assert_eq!((m.in_flight, m.admitted, m.rejected_full), (2, 2, 1));
}

#[test]
fn make_is_not_called_when_rejected() {
    let b = fail_fast(1);
    let _held = b.try_acquire().unwrap();
    let called = AtomicUsize::new(0);
    let _ = futures::executor::block_on(b.call(|| {
        called.fetch_add(1, Ordering::Relaxed);
        async { Ok::<_, ()>(()) }
    }));
    assert_eq!(called.load(Ordering::Relaxed), 0);
}

#[test]
fn the_place_is_released_on_completion_error_panic_and_drop() {
    let b = fail_fast(1);
    futures::executor::block_on(b.call(|| async { Ok::<_, ()>(()) })).unwrap();
    assert_eq!(b.metrics().in_flight, 0);
    let err = futures::executor::block_on(b.call(|| async { Err::<(), _>("boom") })).unwrap_err();
    assert!(matches!(err, Error::Operation("boom")));
    assert_eq!(b.metrics().in_flight, 0);

    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(b.call(|| async {
            if true {
                panic!("operation panicked");
            }
            Ok::<(), ()>(())
        }))
    }));
    assert!(caught.is_err());
    assert_eq!(b.metrics().in_flight, 0, "a panic gives the place back");

    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.call_sync(|| -> Result<(), ()> { panic!("sync panic") })
    }));
    assert!(caught.is_err());
    assert_eq!(b.metrics().in_flight, 0);

    let mut pending = Box::pin(b.call(std::future::pending::<Result<(), ()>>));
    assert!(poll_once(&mut pending).is_pending());
    assert_eq!(b.metrics().in_flight, 1);
    drop(pending);
    assert_eq!(
        b.metrics().in_flight,
        0,
        "a dropped call gives the place back"
    );
}

#[test]
fn a_completed_call_frees_its_place_before_it_is_dropped() {
    let b = fail_fast(1);
    let mut call = Box::pin(b.call(|| async { Ok::<_, ()>(1) }));
    assert!(matches!(poll_once(&mut call), Poll::Ready(Ok(1))));
    assert_eq!(b.metrics().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_fifo_order() {
    let b = queueing(1, 10, Duration::from_secs(60));
    let held = b.acquire().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..5 {
        let (b, order) = (b.clone(), Arc::clone(&order));
        tasks.push(tokio::spawn(async move {
            b.call(|| async {
                order.lock().unwrap().push(id);
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok::<_, ()>(())
            })
            .await
        }));
        // Let each task queue before the next starts.
        tokio::task::yield_now().await;
    }
    assert_eq!(b.metrics().waiting, 5);
    assert!(
        b.try_acquire().is_err(),
        "no barging past the queue, even with try_acquire"
    );
    drop(held);
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    let m = b.metrics();
    assert_eq!((m.in_flight, m.waiting, m.admitted), (0, 0, 6));
}

#[tokio::test(start_paused = true)]
async fn the_queue_is_bounded_and_each_wait_has_a_maximum() {
    let b = queueing(1, 2, Duration::from_millis(100));
    let held = b.acquire().await.unwrap();
    let start = tokio::time::Instant::now();
    let first = tokio::spawn({
        let b = b.clone();
        async move { b.acquire().await.map(drop) }
    });
    let second = tokio::spawn({
        let b = b.clone();
        async move { b.acquire().await.map(drop) }
    });
    tokio::task::yield_now().await;
    assert_eq!(b.metrics().waiting, 2);
    // The queue is full: rejected at once, without waiting.
    let full = b.acquire().await.unwrap_err();
    assert_eq!(full.reason(), Rejection::Full);
    assert_eq!(start.elapsed(), Duration::ZERO);

    let timed_out = first.await.unwrap().unwrap_err();
    assert_eq!(timed_out.reason(), Rejection::WaitTimedOut);
    assert_eq!(timed_out.waited(), Duration::from_millis(100));
    assert_eq!(
        second.await.unwrap().unwrap_err().waited(),
        Duration::from_millis(100)
    );
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(
        timed_out.to_string(),
        "no place within 100ms at 1 concurrent call"
    );
    let m = b.metrics();
    assert_eq!(
        (m.waiting, m.rejected_full, m.rejected_wait_timed_out),
        (0, 1, 2)
    );
    drop(held);
    assert!(b.try_acquire().is_ok(), "the queue is empty again");
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_while_queued_leaves_and_holds_nothing() {
    let b = queueing(1, 4, Duration::from_secs(60));
    let held = b.acquire().await.unwrap();
    let mut waiting = Box::pin(b.acquire());
    assert!(poll_once(&mut waiting).is_pending());
    assert_eq!(b.metrics().waiting, 1);
    drop(waiting);
    assert_eq!(b.metrics().waiting, 0);
    drop(held);
    assert_eq!(b.metrics().in_flight, 0);

    // Granted just before it was dropped: the place is given back.
    let held = b.acquire().await.unwrap();
    let mut waiting = Box::pin(b.acquire());
    assert!(poll_once(&mut waiting).is_pending());
    drop(held); // grants the waiter
    assert_eq!(b.metrics().in_flight, 1);
    drop(waiting);
    assert_eq!(b.metrics().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_place_granted_as_the_wait_expires_wins() {
    let b = queueing(1, 4, Duration::from_millis(50));
    let held = b.acquire().await.unwrap();
    let mut waiting = Box::pin(b.acquire());
    assert!(poll_once(&mut waiting).is_pending());
    tokio::time::advance(Duration::from_millis(50)).await;
    drop(held); // granted at the very moment the wait expires
    let permit = waiting.await.expect("the place wins over the timeout");
    assert_eq!(b.metrics().in_flight, 1);
    drop(permit);
    assert_eq!(b.metrics().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn resize_up_and_down_under_load() {
    let b = queueing(2, 100, Duration::from_secs(60));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (b, running, peak) = (b.clone(), Arc::clone(&running), Arc::clone(&peak));
        tasks.push(tokio::spawn(async move {
            b.call(|| async {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            })
            .await
        }));
    }
    tokio::task::yield_now().await;
    assert_eq!(b.metrics().in_flight, 2);
    b.resize(5).unwrap();
    assert_eq!(b.metrics().in_flight, 5, "growing hands places to waiters");
    b.resize(1).unwrap();
    assert_eq!(
        b.metrics().in_flight,
        5,
        "shrinking never revokes running calls"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    tokio::task::yield_now().await;
    assert!(b.metrics().in_flight <= 1, "{:?}", b.metrics());
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 5);
    assert_eq!(b.metrics().in_flight, 0);
    assert_eq!(b.resize(0).unwrap_err().field(), "max_concurrent");
}

/// A small seeded generator (xorshift), so the mix is reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(start_paused = true)]
async fn no_place_leaks_after_ten_thousand_random_operations() {
    let b = queueing(4, 8, Duration::from_millis(5));
    let mut rng = Rng(0x5eed_b01d);
    let mut tasks = Vec::new();
    for i in 0..10_000u64 {
        let kind = rng.below(6);
        let work = Duration::from_millis(rng.below(10));
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            let call = b.call(|| async move {
                tokio::time::sleep(work).await;
                match kind {
                    0 => Err("error"),
                    1 if i % 2 == 0 => panic!("operation panicked"),
                    _ => Ok(()),
                }
            });
            match kind {
                // Dropped by a timeout around it, maybe while queued.
                2 => {
                    let _ = tokio::time::timeout(Duration::from_millis(3), call).await;
                }
                // Dropped after one poll.
                3 => {
                    let mut call = pin!(call);
                    let _ = futures::poll!(call.as_mut());
                }
                _ => {
                    let _ = call.await;
                }
            }
        }));
        if i % 4 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    for t in tasks {
        let _ = t.await; // panicked tasks are expected
    }
    let m = b.metrics();
    assert_eq!((m.in_flight, m.waiting), (0, 0), "{m:?}");
    // Every kind of outcome happened many times.
    assert!(m.admitted > 2000, "{m:?}");
    assert!(
        m.rejected_full > 100 && m.rejected_wait_timed_out > 100,
        "{m:?}"
    );
    assert!(b.try_acquire().is_ok());
}

#[test]
fn events_report_admissions_and_rejections() {
    let b = fail_fast(1);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    b.on_event(move |e| sink.lock().unwrap().push((e.name.to_string(), e.kind)));
    let held = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    drop(held);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (
                "dep".to_string(),
                BulkheadEventKind::Admitted {
                    waited: Duration::ZERO
                }
            ),
            (
                "dep".to_string(),
                BulkheadEventKind::Rejected(Rejection::Full)
            ),
        ]
    );
}

#[test]
fn bad_settings_are_named() {
    #[cfg(not(feature = "tokio"))]
    assert_eq!(
        Bulkhead::builder()
            .queue(4, Duration::from_secs(1))
            .build()
            .unwrap_err()
            .field(),
        "timer",
        "without the tokio feature, a queue needs a timer"
    );
    let err = Bulkhead::builder().max_concurrent(0).build().unwrap_err();
    assert_eq!(err.field(), "max_concurrent");
    let err = Bulkhead::builder()
        .queue(4, Duration::ZERO)
        .timer(PausedTimer)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_wait");
    let err = Bulkhead::builder()
        .queue(4, Duration::from_secs(8 * 24 * 3600))
        .timer(PausedTimer)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_wait");
}

#[test]
fn the_rejection_is_findable_in_a_boxed_error_chain() {
    let b = fail_fast(1);
    let _held = b.try_acquire().unwrap();
    let err = b.call_sync(|| Ok::<(), std::io::Error>(())).unwrap_err();
    assert!(err.is_bulkhead_full() && err.is_rejection());
    assert_eq!(err.to_string(), "bulkhead `dep` rejected the call");
    let boxed: Box<dyn std::error::Error + Send + Sync> = err.into();
    let full = palisade::BulkheadFull::find_in(boxed.as_ref()).unwrap();
    assert_eq!(full.reason(), Rejection::Full);
}

/// One time source on tokio: with the default timer and no clock given, a
/// queued call's wait is measured on tokio's (paused) time, the time the
/// maximum wait sleeps on (a real clock read about zero).
#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn wait_times_read_the_same_paused_time_the_default_timer_sleeps_on() {
    let b = Bulkhead::builder()
        .name("dep")
        .max_concurrent(1)
        .queue(1, Duration::from_secs(1))
        .build()
        .unwrap();
    let held = b.try_acquire().unwrap();
    let waits = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&waits);
    b.on_event(move |e| {
        if let BulkheadEventKind::Admitted { waited } = e.kind {
            sink.lock().unwrap().push(waited);
        }
    });
    let mut queued = Box::pin(b.acquire());
    assert!(futures::poll!(queued.as_mut()).is_pending());
    tokio::time::advance(Duration::from_millis(100)).await;
    drop(held);
    let _place = queued.await.unwrap();
    assert_eq!(*waits.lock().unwrap(), [Duration::from_millis(100)]);
}

#[cfg(feature = "tower")]
mod tower_service {
    use super::*;
    use palisade::bulkhead::BulkheadLayer;
    use tower::{Layer, Service, ServiceBuilder, ServiceExt};

    /// An inner service that answers its request, guarded by `b`.
    fn echo(b: &Bulkhead) -> impl Service<u32, Response = u32, Error = Error<()>> {
        BulkheadLayer::new(b.clone())
            .layer(tower::service_fn(|x: u32| async move { Ok::<_, ()>(x) }))
    }

    #[test]
    fn fail_fast_rejects_from_the_response_future_not_poll_ready() {
        let b = fail_fast(1);
        let mut svc = echo(&b);
        let held = b.try_acquire().unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        let err = futures::executor::block_on(svc.call(1)).unwrap_err();
        assert!(err.is_bulkhead_full());
        drop(held);
        assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        assert_eq!(b.metrics().in_flight, 1, "poll_ready holds the place");
        assert_eq!(futures::executor::block_on(svc.call(2)).unwrap(), 2);
        assert_eq!(b.metrics().in_flight, 0);
    }

    /// A service kept ready (as `ReadyCache` and `balance` keep theirs)
    /// asks the bulkhead again on each `poll_ready`: a rejection reserved
    /// while it was full is not kept once places free.
    #[test]
    fn poll_ready_after_places_free_drops_a_stale_rejection() {
        let b = fail_fast(1);
        let mut svc = echo(&b);
        let held = b.try_acquire().unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        drop(held);
        assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        assert_eq!(
            b.metrics().in_flight,
            1,
            "the second poll_ready took the place"
        );
        assert_eq!(futures::executor::block_on(svc.call(2)).unwrap(), 2);
    }

    /// An inner service whose `poll_ready` fails: its error passes
    /// through, and the place taken for the call that will not come goes
    /// back at once.
    #[test]
    fn an_inner_poll_ready_error_gives_the_place_back() {
        struct Broken;
        impl tower::Service<u32> for Broken {
            type Response = u32;
            type Error = &'static str;
            type Future = std::future::Ready<Result<u32, &'static str>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
                Poll::Ready(Err("broken"))
            }
            fn call(&mut self, x: u32) -> Self::Future {
                std::future::ready(Ok(x))
            }
        }
        let b = fail_fast(1);
        let mut svc = BulkheadLayer::new(b.clone()).layer(Broken);
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready(Err(err)) = svc.poll_ready(&mut cx) else {
            panic!("the inner error")
        };
        assert_eq!(err.into_operation(), Some("broken"));
        assert_eq!(b.metrics().in_flight, 0, "the place went back");
    }

    #[test]
    fn a_service_dropped_holding_a_place_gives_it_back() {
        let b = fail_fast(1);
        let mut svc = echo(&b);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(svc.poll_ready(&mut cx).is_ready());
        assert_eq!(b.metrics().in_flight, 1);
        drop(svc);
        assert_eq!(b.metrics().in_flight, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn queueing_waits_in_poll_ready() {
        let b = queueing(1, 4, Duration::from_secs(1));
        let mut svc = echo(&b);
        let held = b.try_acquire().unwrap();
        let mut ready = pin!(svc.ready());
        assert!(futures::poll!(ready.as_mut()).is_pending());
        drop(held);
        let svc = ready.await.unwrap();
        assert_eq!(svc.call(7).await.unwrap(), 7);
        assert_eq!(b.metrics().in_flight, 0);
    }

    /// A `Buffer`ed stack survives a full-then-free cycle: a rejection never
    /// reaches `poll_ready`, which `Buffer` would take as a dead service.
    #[tokio::test]
    async fn a_buffered_stack_survives_full_then_free() {
        let b = fail_fast(1);
        let svc = ServiceBuilder::new()
            .buffer(8)
            .layer(BulkheadLayer::new(b.clone()))
            .service(tower::service_fn(|x: u32| async move {
                Ok::<_, std::io::Error>(x)
            }));
        let held = b.try_acquire().unwrap();
        let err = svc.clone().oneshot(1).await.unwrap_err();
        assert!(
            palisade::BulkheadFull::find_in(err.as_ref()).is_some(),
            "{err}"
        );
        drop(held);
        assert_eq!(svc.clone().oneshot(2).await.unwrap(), 2);
        assert_eq!(svc.oneshot(3).await.unwrap(), 3);
    }
}

#[cfg(feature = "metrics")]
#[test]
fn metrics_export_counts_and_gauges() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let b = metrics::with_local_recorder(&recorder, || {
        Bulkhead::builder()
            .name("exported")
            .max_concurrent(2)
            .build()
            .unwrap()
    });
    let held = b.try_acquire().unwrap();
    let _held2 = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    drop(held);
    let _ = b.metrics(); // publishes
                         // One snapshot: the debugging recorder resets counters it reports.
    let snapshot = snapshotter.snapshot().into_vec();
    let get = |name: &str, label: Option<&str>| {
        snapshot
            .iter()
            .find(|(key, ..)| {
                key.key().name() == name
                    && key.key().labels().any(|l| l.value() == "exported")
                    && label.is_none_or(|v| key.key().labels().any(|l| l.value() == v))
            })
            .map(|(.., value)| value)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let get = |name: &str, label: Option<&str>| format!("{:?}", get(name, label));
    assert_eq!(
        get("palisade_bulkhead_admitted_total", None),
        format!("{:?}", DebugValue::Counter(2))
    );
    assert_eq!(
        get("palisade_bulkhead_rejected_total", Some("full")),
        format!("{:?}", DebugValue::Counter(1))
    );
    assert_eq!(
        get("palisade_bulkhead_in_flight", None),
        format!("{:?}", DebugValue::Gauge(1.0.into()))
    );
    assert_eq!(
        get("palisade_bulkhead_limit", None),
        format!("{:?}", DebugValue::Gauge(2.0.into()))
    );
}
