//! Chaos injection: seeded faults and latency, off until switched on, per
//! call, as a wrapper, a tower layer and inside a pipeline's attempts.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::executor::block_on;
use futures::task::noop_waker;
use palisade::chaos::Chaos;
use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::pipeline::Pipeline;
use palisade::timer::ManualTimer;

fn injected() -> Result<u32, std::io::Error> {
    Err(std::io::Error::other("injected"))
}

fn faulty(rate: f64, seed: u64) -> Chaos<fn() -> Result<u32, std::io::Error>> {
    Chaos::builder()
        .fault(rate, injected as fn() -> Result<u32, std::io::Error>)
        .seed(seed)
        .timer(ManualTimer::new())
        .enabled(true)
        .build()
        .unwrap()
}

/// Which of `n` calls through `chaos` were faulted.
fn pattern(chaos: &Chaos<fn() -> Result<u32, std::io::Error>>, n: usize) -> Vec<bool> {
    (0..n)
        .map(|_| block_on(chaos.call(|| async { Ok(1) })).is_err())
        .collect()
}

#[test]
fn off_it_touches_nothing_and_switches_at_run_time() {
    let chaos = faulty(1.0, 1);
    chaos.enable(false);
    let made = AtomicU32::new(0);
    let call = || {
        block_on(chaos.call(|| {
            made.fetch_add(1, Ordering::SeqCst);
            async { Ok(1) }
        }))
    };
    assert_eq!(call().unwrap(), 1);
    assert_eq!(chaos.metrics().faults, 0);
    // A clone's switch is the same switch.
    chaos.clone().enable(true);
    assert!(call().is_err());
    assert_eq!(
        made.load(Ordering::SeqCst),
        1,
        "a fault never makes the operation"
    );
    assert_eq!(chaos.metrics().faults, 1);
}

#[test]
fn the_same_seed_injects_the_same_faults_at_about_the_rate() {
    let a = pattern(&faulty(0.3, 42), 1000);
    assert_eq!(a, pattern(&faulty(0.3, 42), 1000));
    assert_ne!(a, pattern(&faulty(0.3, 43), 1000));
    let faults = a.iter().filter(|&&f| f).count();
    assert!((250..=350).contains(&faults), "{faults} of 1000 at 30 %");
}

#[test]
fn a_delay_is_slept_before_the_operation_is_made() {
    let timer = ManualTimer::new();
    let chaos = Chaos::builder()
        .latency(1.0, Duration::from_millis(300))
        .timer(timer.clone())
        .enabled(true)
        .build()
        .unwrap();
    let made = AtomicU32::new(0);
    let mut call = pin!(chaos.call(|| {
        made.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, std::io::Error>("slow") }
    }));
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(call.as_mut().poll(&mut cx).is_pending());
    timer.advance(Duration::from_millis(299));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(made.load(Ordering::SeqCst), 0);
    timer.advance(Duration::from_millis(1));
    assert!(matches!(
        call.as_mut().poll(&mut cx),
        Poll::Ready(Ok("slow"))
    ));
    assert_eq!(chaos.metrics().delays, 1);
}

#[test]
fn only_the_calls_picked_are_touched() {
    let chaos = faulty(1.0, 7);
    assert_eq!(
        block_on(chaos.call_if(false, || async { Ok(1) })).unwrap(),
        1
    );
    assert!(block_on(chaos.call_if(true, || async { Ok(1) })).is_err());
}

#[test]
fn a_fault_can_be_a_chosen_outcome() {
    // An HTTP-like 503 answer instead of an error.
    let chaos = Chaos::builder()
        .fault(1.0, || Ok::<u16, std::io::Error>(503))
        .enabled(true)
        .timer(ManualTimer::new())
        .build()
        .unwrap();
    assert_eq!(block_on(chaos.call(|| async { Ok(200) })).unwrap(), 503);
}

#[test]
fn in_a_pipeline_injected_faults_open_the_breaker() {
    let chaos = faulty(1.0, 3);
    let breaker = CircuitBreaker::builder()
        .count_window(4)
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(ManualTimer::new())
        .circuit_breaker(breaker.clone())
        .build()
        .unwrap();
    for _ in 0..4 {
        let out = block_on(pipeline.call(|| chaos.call(|| async { Ok(1) })));
        assert!(out.unwrap_err().operation().is_some());
    }
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn bad_settings_name_their_field() {
    let field = |e: palisade::ConfigError| e.field();
    assert_eq!(
        field(Chaos::builder().fault(-0.1, injected).build().unwrap_err()),
        "fault_rate"
    );
    assert_eq!(
        field(
            Chaos::builder()
                .fault(f64::NAN, injected)
                .build()
                .unwrap_err()
        ),
        "fault_rate"
    );
    assert_eq!(
        field(
            Chaos::builder()
                .latency(2.0, Duration::from_secs(1))
                .build()
                .unwrap_err()
        ),
        "latency_rate"
    );
    assert_eq!(
        field(
            Chaos::builder()
                .latency(0.5, Duration::from_secs(u64::MAX))
                .build()
                .unwrap_err()
        ),
        "latency"
    );
}

#[cfg(feature = "tower")]
#[test]
fn the_layer_answers_a_fault_without_calling_the_inner_service() {
    use palisade::chaos::ChaosLayer;
    use tower::{Layer, ServiceExt};

    let called = std::sync::Arc::new(AtomicU32::new(0));
    let seen = std::sync::Arc::clone(&called);
    let inner = tower::service_fn(move |x: u32| {
        seen.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, std::io::Error>(x) }
    });
    let svc = ChaosLayer::new(faulty(1.0, 9))
        .when(|x: &u32| *x % 2 == 0)
        .layer(inner);
    assert_eq!(block_on(svc.clone().oneshot(1)).unwrap(), 1);
    assert!(block_on(svc.oneshot(2)).is_err());
    assert_eq!(called.load(Ordering::SeqCst), 1);
}
