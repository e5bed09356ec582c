//! A bounded soak: the cascade demo's pipeline (total timeout, retry with
//! an in-flight budget, breaker, bulkhead, attempt timeout) under injected
//! faults and latency, 40 rounds of 250 calls arriving over 250 ms, on
//! tokio's paused clock (under a second of real time). Then everything it held must be
//! back: no bulkhead place, no budget share, no stuck probe (the breaker
//! closes once chaos stops), and the memory a round leaves behind is flat.
#![cfg(feature = "tokio")]

use std::time::Duration;

use palisade::bulkhead::Bulkhead;
use palisade::chaos::Chaos;
use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::pipeline::Pipeline;
use palisade::retry::{Backoff, Retry, RetryBudget};
use palisade::timer::TokioTimer;

const ROUNDS: usize = 40;
const CALLS: usize = 250;

type Fault = fn() -> Result<u32, std::io::Error>;

fn injected() -> Result<u32, std::io::Error> {
    Err(std::io::Error::other("injected"))
}

struct Rig {
    pipeline: Pipeline<TokioTimer>,
    chaos: Chaos<Fault>,
    breaker: CircuitBreaker,
    bulkhead: Bulkhead,
    budget: RetryBudget,
}

fn rig() -> Rig {
    let breaker = CircuitBreaker::builder()
        .name("soak")
        .count_window(20)
        .minimum_calls(10)
        // Half the attempts fail (faults, delays past the attempt
        // timeout): it opens only when more do, so most rounds reach chaos.
        .failure_rate_threshold(0.8)
        .open_duration(Duration::from_millis(500))
        .half_open_trial_calls(3)
        .half_open_max_concurrent(3)
        // Tokio's (paused) time, as the pipeline's timer.
        .clock(palisade::clock::TokioClock::new())
        .build()
        .unwrap();
    let bulkhead = Bulkhead::builder()
        .name("soak")
        .max_concurrent(128)
        .queue(64, Duration::from_millis(50))
        .build()
        .unwrap();
    let budget = RetryBudget::in_flight(0.5, 2).unwrap();
    let retry = Retry::builder()
        .name("soak")
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(10)))
        .budget(budget.clone())
        .build()
        .unwrap();
    let pipeline = Pipeline::builder(TokioTimer)
        .timeout(Duration::from_millis(400))
        .retry(retry)
        .circuit_breaker(breaker.clone())
        .bulkhead(bulkhead.clone())
        .attempt_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let chaos = Chaos::builder()
        .name("soak")
        .fault(0.2, injected as Fault)
        .latency(0.3, Duration::from_millis(150))
        .seed(2026)
        .enabled(true)
        .build()
        .unwrap();
    Rig {
        pipeline,
        chaos,
        breaker,
        bulkhead,
        budget,
    }
}

/// One round: `CALLS` calls arriving over 250 ms (open loop), each a 5 ms
/// operation behind chaos.
async fn round(rig: &Rig) {
    let calls = (0..CALLS).map(|i| async move {
        tokio::time::sleep(Duration::from_millis(i as u64)).await;
        rig.pipeline
            .call(move || {
                rig.chaos.call(move || async move {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    Ok::<u32, std::io::Error>(i as u32)
                })
            })
            .await
    });
    // The outcomes are the guards' business; the checks are what is left.
    futures::future::join_all(calls).await;
    // A pause, so an open breaker can probe in the next round.
    tokio::time::sleep(Duration::from_millis(600)).await;
}

#[test]
fn under_chaos_every_place_probe_and_budget_share_comes_back_and_memory_stays_flat() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let rig = rig();
    let quiet_budget = rig.budget.available();
    // Warm up (the runtime's timer wheel and the breaker's state grow to
    // their size), then measure what each round leaves behind.
    for _ in 0..5 {
        rt.block_on(round(&rig));
    }
    let mut left = Vec::new();
    for _ in 5..ROUNDS {
        let info = allocation_counter::measure(|| rt.block_on(round(&rig)));
        left.push(info.bytes_current);
    }
    let metrics = rig.chaos.metrics();
    println!(
        "{ROUNDS} rounds of {CALLS}: {} faults, {} delays injected; bytes left per round: {left:?}",
        metrics.faults, metrics.delays
    );
    assert!(
        metrics.faults > 1000 && metrics.delays > 1000,
        "{metrics:?}"
    );
    // Flat: no round keeps memory (a leak of one allocation a call would
    // leave thousands of bytes a round).
    let kept: i64 = left.iter().sum();
    assert!(kept <= 4096, "rounds kept {kept} bytes: {left:?}");

    // Everything held came back.
    assert_eq!(rig.bulkhead.metrics().in_flight, 0);
    assert_eq!(
        rig.budget.available(),
        quiet_budget,
        "a budget share leaked"
    );
    // No probe place is stuck: without chaos the breaker closes.
    rig.chaos.enable(false);
    rt.block_on(async {
        for _ in 0..5 {
            round(&rig).await;
        }
    });
    assert_eq!(rig.breaker.state(), State::Closed);
}
