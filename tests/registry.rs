//! The registry: bounded under many keys, idle entries evicted, concurrent
//! first use of one key makes one instance, enumerable.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use palisade::bulkhead::Bulkhead;
use palisade::circuit_breaker::CircuitBreaker;
use palisade::clock::ManualClock;
use palisade::registry::Registry;

#[test]
fn many_keys_never_exceed_the_bound() {
    let made = Arc::new(AtomicUsize::new(0));
    let registry = Registry::builder({
        let made = Arc::clone(&made);
        move |name: &str| {
            made.fetch_add(1, Ordering::SeqCst);
            CircuitBreaker::builder().name(name.to_owned()).build()
        }
    })
    .max_entries(100)
    .build()
    .unwrap();
    for i in 0..10_000 {
        registry.get(&format!("host-{i}")).unwrap();
        assert!(registry.len() <= 100);
    }
    assert_eq!(registry.len(), 100);
    assert_eq!(made.load(Ordering::SeqCst), 10_000);
}

/// A bounded registry keeps bounded memory under churn of distinct names:
/// each name is freed with the last instance using it. (Interned for the
/// life of the process, every distinct name stayed: about 1.9 KB each.)
/// Counted on this thread by `allocation-counter`: allocations still held
/// after 20 000 distinct names went through a registry of 10.
#[test]
fn churn_of_distinct_names_through_a_bounded_registry_keeps_memory_bounded() {
    let registry = Registry::builder(|name: &str| {
        Bulkhead::builder()
            .name(name.to_owned())
            .max_concurrent(4)
            .build()
    })
    .max_entries(10)
    .build()
    .unwrap();
    let churn = |from: usize| {
        for i in from..from + 10_000 {
            registry.get(&format!("tenant-{i}")).unwrap();
        }
    };
    // Warm-up: the registry's table and whatever else grows once.
    churn(0);
    let held = allocation_counter::measure(|| churn(10_000)).count_current;
    assert!(held <= 0, "{held} allocations kept by 10 000 evicted names");
    assert_eq!(registry.len(), 10);
}

#[test]
fn the_least_recently_used_makes_room_and_idle_entries_go() {
    let clock = ManualClock::new();
    let registry =
        Registry::builder(|name: &str| Bulkhead::builder().name(name.to_owned()).build())
            .max_entries(2)
            .idle_timeout(Duration::from_secs(60))
            .clock(clock.clone())
            .build()
            .unwrap();
    let a = registry.get("a").unwrap();
    clock.advance(Duration::from_secs(1));
    registry.get("b").unwrap();
    clock.advance(Duration::from_secs(1));
    registry.get("a").unwrap(); // a is now the most recently used
    clock.advance(Duration::from_secs(1));
    registry.get("c").unwrap(); // full: b, the least recently used, goes
    let names: Vec<_> = registry
        .entries()
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(names, ["a", "c"]);
    // An evicted instance lives on for its holders; the registry forgot it.
    let _held = a;
    clock.advance(Duration::from_secs(120));
    registry.get("d").unwrap(); // a and c idle for over 60 s: evicted
    let names: Vec<_> = registry
        .entries()
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(names, ["d"]);
}

/// No user code runs under the registry's lock: a `make` that reads the
/// registry (here, its length) finishes. Under the lock it deadlocked.
#[test]
fn make_runs_outside_the_lock_and_may_use_the_registry() {
    let slot: Arc<std::sync::OnceLock<Registry<Bulkhead>>> = Arc::default();
    let registry = Registry::builder({
        let slot = Arc::clone(&slot);
        move |name: &str| {
            let held = slot.get().map_or(0, Registry::len);
            Bulkhead::builder()
                .name(format!("{name}-after-{held}"))
                .build()
        }
    })
    .build()
    .unwrap();
    slot.set(registry.clone()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let first = registry.get("a").map(|b| b.name().to_string());
        let second = registry.get("b").map(|b| b.name().to_string());
        let _ = tx.send((first, second));
    });
    let (first, second) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("make finished: it does not run under the lock");
    assert_eq!(first.unwrap(), "a-after-0");
    assert_eq!(second.unwrap(), "b-after-1");
}

/// A `make` that panics leaves nothing behind: the panic reaches its
/// caller, and the next use of the name makes the instance afresh.
#[test]
fn a_panicking_make_leaves_nothing_behind() {
    let calls = Arc::new(AtomicUsize::new(0));
    let registry = Registry::builder({
        let calls = Arc::clone(&calls);
        move |name: &str| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first make panics");
            }
            Bulkhead::builder().name(name.to_owned()).build()
        }
    })
    .build()
    .unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| registry.get("a")));
    assert!(caught.is_err());
    assert!(registry.is_empty());
    assert_eq!(registry.get("a").unwrap().name(), "a");
    assert_eq!(registry.len(), 1);
}

/// The registry against a naive model: exact least recently used
/// eviction and idle expiry on insert, whatever the order of uses,
/// removals and clock steps.
mod model {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Get(u8),
        Remove(u8),
        Advance(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..12).prop_map(Op::Get),
            1 => (0u8..12).prop_map(Op::Remove),
            2 => (1u16..400).prop_map(Op::Advance),
        ]
    }

    proptest! {
        #[test]
        fn matches_an_exact_lru_with_idle_expiry(
            max in 1usize..6,
            idle in prop::option::of(100u64..1000),
            ops in prop::collection::vec(op(), 1..200),
        ) {
            let clock = ManualClock::new();
            let mut builder = Registry::builder(|name: &str| {
                Bulkhead::builder().name(name.to_owned()).build()
            })
            .max_entries(max)
            .clock(clock.clone());
            if let Some(idle) = idle {
                builder = builder.idle_timeout(Duration::from_millis(idle));
            }
            let registry = builder.build().unwrap();
            // (name, last use in ms)
            let mut model: Vec<(String, u64)> = Vec::new();
            let mut now = 0u64;
            for op in ops {
                // A distinct time per step: no ties in recency.
                clock.advance(Duration::from_millis(1));
                now += 1;
                match op {
                    Op::Advance(ms) => {
                        clock.advance(Duration::from_millis(u64::from(ms)));
                        now += u64::from(ms);
                    }
                    Op::Remove(n) => {
                        let name = format!("n{n}");
                        let had = registry.remove(&name).is_some();
                        let pos = model.iter().position(|(m, _)| *m == name);
                        prop_assert_eq!(had, pos.is_some());
                        if let Some(pos) = pos {
                            model.remove(pos);
                        }
                    }
                    Op::Get(n) => {
                        let name = format!("n{n}");
                        registry.get(&name).unwrap();
                        if let Some(entry) = model.iter_mut().find(|(m, _)| *m == name) {
                            entry.1 = now;
                        } else {
                            if let Some(idle) = idle {
                                model.retain(|(_, used)| now - used < idle);
                            }
                            while model.len() >= max {
                                let oldest = model
                                    .iter()
                                    .enumerate()
                                    .min_by_key(|(_, (_, used))| *used)
                                    .map(|(i, _)| i)
                                    .unwrap();
                                model.remove(oldest);
                            }
                            model.push((name, now));
                        }
                    }
                }
                let mut expected: Vec<String> = model.iter().map(|(m, _)| m.clone()).collect();
                expected.sort();
                let held: Vec<String> = registry
                    .entries()
                    .into_iter()
                    .map(|(name, _)| name.to_string())
                    .collect();
                prop_assert_eq!(held, expected);
            }
        }
    }
}

#[test]
fn concurrent_first_use_of_one_key_makes_one_instance() {
    let made = Arc::new(AtomicUsize::new(0));
    let registry = Registry::builder({
        let made = Arc::clone(&made);
        move |name: &str| {
            made.fetch_add(1, Ordering::SeqCst);
            CircuitBreaker::builder().name(name.to_owned()).build()
        }
    })
    .build()
    .unwrap();
    let barrier = std::sync::Barrier::new(8);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                barrier.wait();
                let breaker = registry.get("payments").unwrap();
                breaker.call_sync(|| Ok::<_, ()>(())).unwrap();
            });
        }
    });
    assert_eq!(made.load(Ordering::SeqCst), 1);
    assert_eq!(
        registry.get("payments").unwrap().snapshot().calls(),
        8,
        "one shared breaker"
    );
}

#[test]
fn a_failing_make_stores_nothing_and_settings_errors_are_named() {
    let registry = Registry::builder(|name: &str| {
        CircuitBreaker::builder()
            .name(name.to_owned())
            .failure_rate_threshold(if name == "bad" { 2.0 } else { 0.5 })
            .build()
    })
    .build()
    .unwrap();
    assert_eq!(
        registry.get("bad").unwrap_err().field(),
        "failure_rate_threshold"
    );
    assert!(registry.is_empty());
    assert!(registry.get("good").is_ok());
    assert!(registry.remove("good").is_some());
    assert!(registry.is_empty());
    let err = Registry::builder(|_: &str| Ok(()))
        .max_entries(0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_entries");
}

/// A registry configured from a JSON text: per-name settings, defaults for
/// the rest; typos and bad values are errors.
#[cfg(feature = "serde")]
#[test]
fn a_registry_configured_from_a_config_file() {
    use palisade::config::{check, Config};

    let text = r#"{
        "circuit_breakers": {
            "default": { "failure_rate_threshold": 0.5, "minimum_calls": 20 },
            "payments": { "failure_rate_threshold": 0.2, "window": { "time": { "duration": "10s", "buckets": 10 } }, "open_duration": "1m", "slow_call_duration": "1.5s" }
        },
        "bulkheads": { "payments": { "max_concurrent": 4, "max_waiters": 8, "max_wait": "250ms" } },
        "thread_pools": { "legacy": { "threads": 2, "queue": 4 } },
        "retries": { "payments": { "max_attempts": 4, "backoff": { "linear": { "initial": "100ms", "step": "50ms" } }, "jitter": "none" } }
    }"#;
    let config: Config = serde_json::from_str(text).unwrap();
    check(&config).unwrap();
    let breakers_config = config.circuit_breakers.clone();
    let registry = Registry::builder(move |name: &str| {
        let c = breakers_config
            .get(name)
            .or_else(|| breakers_config.get("default"))
            .expect("a default");
        c.builder(name).build()
    })
    .build()
    .unwrap();
    let payments = registry.get("payments").unwrap().settings();
    assert_eq!(payments.failure_rate_threshold, 0.2);
    assert_eq!(payments.open_duration, Duration::from_secs(60));
    assert_eq!(
        payments.slow_call_duration,
        Some(Duration::from_millis(1500))
    );
    let other = registry.get("search").unwrap().settings();
    assert_eq!(
        (other.failure_rate_threshold, other.minimum_calls),
        (0.5, 20)
    );
    let pool = config.thread_pools["legacy"]
        .builder("legacy")
        .build()
        .unwrap();
    assert_eq!(pool.metrics().threads, 2);
    let bulkhead = config.bulkheads["payments"]
        .builder("payments")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(bulkhead.metrics().limit, 4);

    // A typo is caught, a bad duration says why, a bad value is named.
    let typo = serde_json::from_str::<Config>(
        r#"{ "circuit_breakers": { "x": { "failure_rate": 0.5 } } }"#,
    );
    assert!(typo
        .unwrap_err()
        .to_string()
        .contains("unknown field `failure_rate`"));
    let bad = serde_json::from_str::<Config>(r#"{ "bulkheads": { "x": { "max_wait": "soon" } } }"#);
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("invalid duration \"soon\""));
    let config: Config = serde_json::from_str(
        r#"{ "circuit_breakers": { "x": { "failure_rate_threshold": 1.5 } } }"#,
    )
    .unwrap();
    assert_eq!(
        check(&config).unwrap_err().field(),
        "failure_rate_threshold"
    );
}
