//! The health window's cost against one `AtomicU64::fetch_add`, side by side.
//!
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn
//! Run: `cargo bench -p palisade-benches --bench window`
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use palisade::clock::{Clock, MonotonicClock};
use palisade::window::{CountWindow, Outcome, TimeWindow};

mod support;
use support::threaded;

/// Outcomes with 10 % failures, in a fixed pattern.
fn outcome(i: u64) -> Outcome {
    if i % 10 == 0 {
        Outcome::Failure
    } else {
        Outcome::Success
    }
}

fn record(c: &mut Criterion) {
    let baseline = AtomicU64::new(0);
    let count = CountWindow::new(100).unwrap();
    // Bucket width 1 ms and time advancing 1 ns per record: a rotation every
    // million records, as a busy service would see.
    let time = TimeWindow::with_stripes(Duration::from_secs(10), 10, 8).unwrap();

    let mut g = c.benchmark_group("window_record");
    for threads in [1usize, 2] {
        g.bench_function(format!("fetch_add_baseline/{threads}t"), |b| {
            b.iter_custom(|iters| {
                threaded(threads, iters, &|| {
                    |_| {
                        baseline.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
        });
        g.bench_function(format!("count_n100/{threads}t"), |b| {
            b.iter_custom(|iters| {
                threaded(threads, iters, &|| |i| count.record(black_box(outcome(i))))
            })
        });
        g.bench_function(format!("time_10x1s_8stripes/{threads}t"), |b| {
            b.iter_custom(|iters| {
                threaded(threads, iters, &|| {
                    |i| time.record(black_box(i), black_box(outcome(i)))
                })
            })
        });
    }
    g.finish();
}

fn snapshot(c: &mut Criterion) {
    let count = CountWindow::new(100).unwrap();
    let time = TimeWindow::with_stripes(Duration::from_secs(10), 10, 8).unwrap();
    for i in 0..1000u64 {
        count.record(outcome(i));
        time.record(i * 10_000_000, outcome(i));
    }
    let now = 9_990_000_000;
    let mut g = c.benchmark_group("window_snapshot");
    g.bench_function("count_n100", |b| b.iter(|| black_box(&count).snapshot()));
    g.bench_function("time_10buckets_8stripes", |b| {
        b.iter(|| black_box(&time).snapshot(black_box(now)))
    });
    g.finish();
    eprintln!(
        "memory: count N=100: {} bytes; time 10 buckets x 8 stripes: {} bytes; time 10 buckets x 1 stripe: {} bytes",
        count.memory_bytes(),
        time.memory_bytes(),
        TimeWindow::with_stripes(Duration::from_secs(10), 10, 1)
            .unwrap()
            .memory_bytes()
    );
}

fn clocks(c: &mut Criterion) {
    let quanta = MonotonicClock::new();
    let mut g = c.benchmark_group("clock");
    g.bench_function("std_instant_now", |b| b.iter(Instant::now));
    g.bench_function("palisade_monotonic_clock", |b| {
        b.iter(|| black_box(&quanta).now_nanos())
    });
    #[cfg(target_os = "linux")]
    {
        let coarse = palisade::clock::CoarseClock::new();
        g.bench_function("palisade_coarse_clock", |b| {
            b.iter(|| black_box(&coarse).now_nanos())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = record, snapshot, clocks
}
criterion_main!(benches);
