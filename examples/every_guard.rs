//! Every guard once, small and quick: the program CI runs under valgrind
//! (memcheck: no error, no leak from the crate), as a service that depends
//! on palisade would be checked.
//!
//! Run: `cargo run --example every_guard`, or under valgrind:
//! `valgrind --error-exitcode=1 --leak-check=full target/debug/examples/every_guard`

use std::time::Duration;

use palisade::adaptive::AdaptiveLimit;
use palisade::bulkhead::{Bulkhead, ThreadPool};
use palisade::chaos::Chaos;
use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::fallback::Fallback;
use palisade::hedge::Hedge;
use palisade::pipeline::Pipeline;
use palisade::rate_limit::RateLimit;
use palisade::registry::Registry;
use palisade::retry::{Backoff, Retry};
use palisade::timeout::Timeout;
use palisade::timer::TokioTimer;

const MS: Duration = Duration::from_millis(1);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Circuit breaker: calls, a trip, a rejection, the reset.
    let breaker = CircuitBreaker::builder()
        .name("every-guard")
        .count_window(4)
        .minimum_calls(4)
        .build()?;
    assert_eq!(breaker.call_sync(|| Ok::<_, std::io::Error>(1))?, 1);
    for _ in 0..4 {
        let _ = breaker.call_sync(|| Err::<(), _>(std::io::Error::other("down")));
    }
    assert_eq!(breaker.state(), State::Open);
    let rejected = breaker.call(|| async { Ok::<_, std::io::Error>(()) }).await;
    println!("breaker: {}", rejected.unwrap_err());
    breaker.reset();

    // Bulkhead: a place, a rejection, a queued wait.
    let bulkhead = Bulkhead::builder()
        .name("every-guard")
        .max_concurrent(1)
        .queue(1, 5 * MS)
        .build()?;
    let held = bulkhead.try_acquire()?;
    let full = bulkhead
        .call(|| async { Ok::<_, std::io::Error>(()) })
        .await;
    println!("bulkhead: {}", full.unwrap_err());
    drop(held);

    // Thread pool: a blocking job, an async job, a panic, the shutdown.
    let pool = ThreadPool::builder()
        .name("every-guard")
        .threads(1)
        .build()?;
    assert_eq!(pool.spawn_blocking(|| 2 + 2).await?, 4);
    assert_eq!(pool.spawn(|| async { 5 }).await?, 5);
    let panicked = pool
        .spawn_blocking(|| -> u32 { panic!("on purpose") })
        .await;
    println!("thread pool: {}", panicked.unwrap_err());
    assert!(pool.shutdown(Duration::from_secs(5)).finished);

    // Timeout, retry and fallback, alone and in a pipeline.
    let timeout = Timeout::builder()
        .name("every-guard")
        .duration(2 * MS)
        .timer(TokioTimer)
        .build()?;
    let slow = timeout.call(|| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, std::io::Error>(())
    });
    println!("timeout: {}", slow.await.unwrap_err());
    let retry = Retry::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(MS))
        .build()?;
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let third = retry.call(|| {
        let n = attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async move {
            if n < 2 {
                Err(std::io::Error::other("flaky"))
            } else {
                Ok(n)
            }
        }
    });
    assert_eq!(third.await?, 2);
    let pipeline = Pipeline::builder(TokioTimer)
        .timeout(Duration::from_secs(1))
        .retry(retry)
        .circuit_breaker(breaker.clone())
        .bulkhead(bulkhead.clone())
        .attempt_timeout(100 * MS)
        .build()?
        .with_fallback(Fallback::value("cached"));
    let served = pipeline
        .call(|| async { Err::<&str, _>(std::io::Error::other("down")) })
        .await?;
    assert_eq!(served, "cached");

    // Registry: one breaker per host, bounded.
    let registry =
        Registry::builder(|host: &str| CircuitBreaker::builder().name(host.to_owned()).build())
            .max_entries(2)
            .build()?;
    for host in ["a.internal", "b.internal", "c.internal"] {
        registry
            .get(host)?
            .call_sync(|| Ok::<_, std::io::Error>(()))?;
    }
    assert_eq!(registry.len(), 2);

    // Adaptive limit: a sample, a rejection at the limit, in a pipeline.
    let adaptive = AdaptiveLimit::builder()
        .name("every-guard")
        .initial_limit(1)
        .window(1)
        .build()?;
    let held = adaptive.try_acquire()?;
    println!("adaptive: {}", adaptive.try_acquire().unwrap_err());
    held.success();
    let limited = Pipeline::builder(TokioTimer).limiter(adaptive).build()?;
    limited
        .call(|| async { Ok::<_, std::io::Error>(1) })
        .await?;

    // Rate limit: a turn, a rejection, a keyed turn, a wait.
    let rate = RateLimit::builder()
        .name("every-guard")
        .rate(1, 10 * MS)
        .max_wait(20 * MS)
        .build()?;
    rate.try_acquire()?;
    let waited = rate.call(|| async { Ok::<_, std::io::Error>(2) }).await?;
    assert_eq!(waited, 2);
    let keyed = RateLimit::builder()
        .rate(1, Duration::from_secs(60))
        .build_keyed::<String>()?;
    keyed.try_acquire(&"tenant".to_owned())?;
    println!(
        "rate limit: {}",
        keyed.try_acquire(&"tenant".to_owned()).unwrap_err()
    );

    // Chaos: a fault and a delay, then off.
    let chaos = Chaos::builder()
        .name("every-guard")
        .fault(0.5, || Err(std::io::Error::other("injected")))
        .latency(1.0, MS)
        .seed(1)
        .enabled(true)
        .build()?;
    for _ in 0..4 {
        let _ = chaos.call(|| async { Ok::<_, std::io::Error>(3) }).await;
    }
    chaos.enable(false);
    println!("chaos: {:?}", chaos.metrics());

    // Hedging: a slow first attempt, a hedge that wins.
    let hedge = Hedge::builder(TokioTimer).delay(5 * MS).build()?;
    let mut attempt = 0;
    let won = hedge
        .call(|| {
            attempt += 1;
            let after = if attempt == 1 { 200 * MS } else { MS };
            async move {
                tokio::time::sleep(after).await;
                Ok::<_, std::io::Error>(after)
            }
        })
        .await?;
    assert_eq!(won, MS);
    println!("every guard ran");
    Ok(())
}
