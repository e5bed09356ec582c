//! The registry at small and large sizes: a hit, and a new name in a full
//! registry (which evicts the least recently used), with and without an
//! idle timeout. Before the recency heap, a new name scanned every entry
//! under the write lock: its cost grew with the registry.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use palisade::registry::Registry;

fn full(size: usize, idle: bool) -> Registry<usize> {
    let mut builder = Registry::builder(|name: &str| Ok(name.len())).max_entries(size);
    if idle {
        builder = builder.idle_timeout(Duration::from_secs(3600));
    }
    let registry = builder.build().unwrap();
    for i in 0..size {
        registry.get(&format!("warm-{i}")).unwrap();
    }
    registry
}

fn registry(c: &mut Criterion) {
    let mut g = c.benchmark_group("registry");
    for size in [1_000, 100_000] {
        for idle in [false, true] {
            let registry = full(size, idle);
            let label = if idle { "_idle_timeout" } else { "" };
            g.bench_function(format!("hit/{size}{label}"), |b| {
                b.iter(|| registry.get(black_box("warm-7")).unwrap())
            });
            let mut next = 0u64;
            g.bench_function(format!("new_name_evicts/{size}{label}"), |b| {
                b.iter_batched(
                    || {
                        next += 1;
                        format!("new-{next}")
                    },
                    |name| registry.get(&name).unwrap(),
                    BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = registry
}
criterion_main!(benches);
