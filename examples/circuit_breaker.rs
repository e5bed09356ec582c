//! A circuit breaker in front of a dependency that goes down and comes back.
//!
//! Run: `cargo run --example circuit_breaker`
//!
//! The dependency fails every call between t = 2 s and t = 6 s. The breaker
//! opens after enough failures, answers from the fallback without calling
//! the dependency while open, lets a few trial calls through after the open
//! duration, and closes once they succeed. Time is simulated (a manual
//! clock advanced 100 ms per call), so the demo runs in an instant.

use std::time::Duration;

use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerEventKind, OpenBackoff};
use palisade::clock::ManualClock;

/// The dependency: down between 2 s and 6 s of simulated time.
async fn dependency(now: Duration) -> Result<&'static str, &'static str> {
    if now >= Duration::from_secs(2) && now < Duration::from_secs(6) {
        Err("503 Service Unavailable")
    } else {
        Ok("200 OK")
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), palisade::ConfigError> {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder()
        .name("inventory")
        .count_window(20)
        .minimum_calls(10)
        .failure_rate_threshold(0.5)
        .open_duration(Duration::from_secs(1))
        .open_backoff(OpenBackoff::exponential(2.0).max_duration(Duration::from_secs(4)))
        .half_open_trial_calls(3)
        .clock(clock.clone())
        .build()?;
    let start = clock.clone();
    breaker.on_event(move |event| {
        if let CircuitBreakerEventKind::StateTransition { from, to } = event.kind {
            let t = Duration::from_nanos(palisade::clock::Clock::now_nanos(&start));
            println!("{t:>6.1?}  {}: {from:?} -> {to:?}", event.name);
        }
    });

    let (mut served, mut failed, mut rejected) = (0, 0, 0);
    for _ in 0..100 {
        let now = Duration::from_nanos(palisade::clock::Clock::now_nanos(&clock));
        match breaker.call(|| dependency(now)).await {
            Ok(_) => served += 1,
            Err(e) if e.is_circuit_open() => rejected += 1, // fallback: cached answer
            Err(_) => failed += 1,
        }
        clock.advance(Duration::from_millis(100));
    }
    println!("served {served}, failed {failed}, rejected without calling {rejected}");
    Ok(())
}
