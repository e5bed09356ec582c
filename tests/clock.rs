//! The clocks: the cached clock's thread, its readings, its limits, and a
//! breaker timing slow calls on it. These tests read real time (a few
//! milliseconds at most), since the cached clock exists to follow it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use palisade::circuit_breaker::CircuitBreaker;
use palisade::clock::{CachedClock, Clock};

/// The tests that count cached clock threads run one at a time.
static THREADS: Mutex<()> = Mutex::new(());

/// Waits (a few milliseconds at most, a second if the machine stalls)
/// until `done` holds.
fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    done()
}

#[test]
fn cached_clock_follows_time_and_never_goes_back() {
    let _serial = THREADS.lock().unwrap_or_else(|p| p.into_inner());
    let clock = CachedClock::new().unwrap();
    let first = clock.now_nanos();
    let mut last = first;
    assert!(
        wait_until(|| {
            let now = clock.now_nanos();
            assert!(now >= last, "went back from {last} to {now}");
            last = now;
            now >= first + 2_000_000
        }),
        "the cached clock did not move 2 ms in a second"
    );
    let clone = clock.clone();
    assert!(clone.now_nanos() >= last, "clones share the same time");
}

#[test]
fn cached_clock_never_leads_real_time() {
    let _serial = THREADS.lock().unwrap_or_else(|p| p.into_inner());
    let start = Instant::now();
    let clock = CachedClock::new().unwrap();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_micros(300));
        let real = u64::try_from(start.elapsed().as_nanos()).unwrap();
        assert!(
            clock.now_nanos() <= real,
            "ahead of the time it was made from"
        );
    }
}

#[test]
fn cached_clock_thread_ends_with_the_last_clone() {
    let _serial = THREADS.lock().unwrap_or_else(|p| p.into_inner());
    assert!(
        wait_until(|| CachedClock::threads_running() == 0),
        "a clock of another test still ticks"
    );
    let clock = CachedClock::with_interval(Duration::from_micros(500)).unwrap();
    let clone = clock.clone();
    assert_eq!(CachedClock::threads_running(), 1, "one thread per clock");
    drop(clock);
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(
        CachedClock::threads_running(),
        1,
        "a clone keeps it ticking"
    );
    drop(clone);
    assert!(
        wait_until(|| CachedClock::threads_running() == 0),
        "the thread outlived the last clone"
    );
}

#[test]
fn cached_clock_refuses_intervals_out_of_range() {
    let _serial = THREADS.lock().unwrap_or_else(|p| p.into_inner());
    for interval in [
        Duration::ZERO,
        Duration::from_micros(99),
        Duration::from_millis(1001),
    ] {
        let err = CachedClock::with_interval(interval).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(
            err.to_string().contains("cached clock interval"),
            "{err} names the interval"
        );
    }
    let clock = CachedClock::with_interval(CachedClock::MIN_INTERVAL).unwrap();
    assert_eq!(clock.interval(), Duration::from_micros(100));
}

#[test]
fn breaker_times_slow_calls_on_the_cached_clock() {
    let _serial = THREADS.lock().unwrap_or_else(|p| p.into_inner());
    let clock = CachedClock::new().unwrap();
    let breaker = CircuitBreaker::builder()
        .slow_call_duration(Duration::from_millis(2))
        .clock(clock.clone())
        .build()
        .unwrap();
    // A call the clock itself saw last longer than 2 ms, and one it saw
    // take no time at all: slow, then not.
    let slow = breaker.call_sync(|| {
        let start = clock.now_nanos();
        let moved = wait_until(|| clock.now_nanos() > start + 2_000_000);
        Ok::<_, ()>(moved)
    });
    assert!(slow.unwrap(), "the clock did not move 2 ms in a second");
    breaker.call_sync(|| Ok::<_, ()>(())).unwrap();
    let snap = breaker.snapshot();
    assert_eq!((snap.calls(), snap.slow_calls()), (2, 1));
}
