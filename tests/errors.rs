//! The errors people read: logged with `{}`, a guard's error says which
//! guard of which dependency stopped the call, in one line; printed as a
//! chain (`err`, then each `source()`), no piece repeats; durations read as
//! people write them.

use std::time::Duration;

use palisade::bulkhead::{Bulkhead, ThreadPool};
use palisade::circuit_breaker::CircuitBreaker;
use palisade::timeout::Timeout;
use palisade::timer::ManualTimer;
use palisade::Error;

/// Each piece of the chain, as `{}` shows it.
fn chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    std::iter::successors(Some(err), |e| e.source())
        .map(ToString::to_string)
        .collect()
}

/// The first line names the guard and the dependency; no later piece
/// repeats an earlier one.
fn assert_readable(lines: &[String], guard: &str) {
    assert!(
        lines[0].contains(&format!("{guard} `inventory`")),
        "{lines:?}"
    );
    for (i, line) in lines.iter().enumerate().skip(1) {
        assert!(!line.contains("inventory"), "the name once: {lines:?}");
        assert!(
            lines[..i].iter().all(|l| !l.contains(line.as_str())),
            "{lines:?}"
        );
    }
}

#[test]
fn an_open_breaker_names_itself_and_the_next_trial_in_human_time() {
    let timer = ManualTimer::new();
    let breaker = CircuitBreaker::builder()
        .name("inventory")
        .count_window(1)
        .minimum_calls(1)
        .open_duration(Duration::from_secs(5))
        .clock(timer.clone())
        .build()
        .unwrap();
    let _ = breaker.call_sync(|| Err::<(), _>(std::io::Error::other("down")));
    timer.advance(Duration::from_nanos(3_100_000_003));
    let err = breaker
        .call_sync(|| Ok::<(), std::io::Error>(()))
        .unwrap_err();
    let lines = chain(&err);
    assert_eq!(
        lines,
        [
            "circuit breaker `inventory` rejected the call",
            "the circuit is open; next trial in 1.9s"
        ]
    );
    assert_readable(&lines, "circuit breaker");
}

#[test]
fn a_full_bulkhead_names_itself_and_its_limit() {
    let bulkhead = Bulkhead::builder()
        .name("inventory")
        .max_concurrent(1)
        .build()
        .unwrap();
    let _held = bulkhead.try_acquire().unwrap();
    let err = bulkhead
        .call_sync(|| Ok::<(), std::io::Error>(()))
        .unwrap_err();
    let lines = chain(&err);
    assert_eq!(
        lines,
        [
            "bulkhead `inventory` rejected the call",
            "full at 1 concurrent call"
        ]
    );
    assert_readable(&lines, "bulkhead");
}

#[test]
fn a_timeout_names_itself_and_its_duration() {
    let timer = ManualTimer::new();
    let timeout = Timeout::builder()
        .name("inventory")
        .duration(Duration::from_millis(250))
        .timer(timer.clone())
        .build()
        .unwrap();
    let mut call = Box::pin(timeout.call(std::future::pending::<Result<(), std::io::Error>>));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(std::future::Future::poll(call.as_mut(), &mut cx).is_pending());
    timer.advance(Duration::from_millis(250));
    let std::task::Poll::Ready(Err(err)) = std::future::Future::poll(call.as_mut(), &mut cx) else {
        panic!("timed out")
    };
    let lines = chain(&err);
    assert_eq!(
        lines,
        [
            "timeout `inventory` stopped the call",
            "no result within 250ms"
        ]
    );
    assert_readable(&lines, "timeout");
}

#[test]
fn a_panicked_job_names_its_pool_and_says_the_panic_once() {
    let pool = ThreadPool::builder()
        .name("inventory")
        .threads(1)
        .build()
        .unwrap();
    let err =
        futures::executor::block_on(pool.spawn_blocking(|| -> u32 { panic!("job exploded") }))
            .unwrap_err();
    let lines = chain(&err);
    assert_eq!(
        lines,
        [
            "the job panicked on thread pool `inventory`",
            "job exploded"
        ]
    );
    assert_readable(&lines, "thread pool");
    let flat: Error<std::io::Error> = err.into();
    let lines = chain(&flat);
    assert_eq!(
        lines,
        [
            "the call panicked on thread pool `inventory`",
            "job exploded"
        ]
    );
    let shut = pool.shutdown(Duration::MAX);
    assert!(shut.finished);
    let err = futures::executor::block_on(pool.spawn_blocking(|| 1)).unwrap_err();
    let flat: Error<std::io::Error> = err.into();
    assert_eq!(
        chain(&flat),
        ["thread pool `inventory` rejected the call", "shut down"]
    );
}

/// Every guarded call's result carries the flat error: a configuration
/// error (72 bytes unboxed) made every `Result<u64, Error<u64>>` 72 bytes.
#[test]
#[cfg(target_pointer_width = "64")]
fn the_flat_error_stays_small() {
    assert_eq!(std::mem::size_of::<palisade::ConfigError>(), 8);
    assert!(std::mem::size_of::<Result<u64, palisade::Error<u64>>>() <= 48);
}
