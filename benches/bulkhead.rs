//! Semaphore bulkhead overhead: one acquire and release per operation,
//! against a raw `tokio::sync::Semaphore`, tower's `ConcurrencyLimit` and
//! tower-resilience's bulkhead, side by side in one run, at 1 and 2
//! threads sharing one bulkhead (limit 1024, never full). With them the
//! adaptive limit (held at 1024 by its floor and ceiling, so the same
//! work: a place, a latency sample) and tower-resilience's adaptive layer
//! (AIMD, likewise pinned). And the rate limit (a rate it never reaches)
//! against `governor` used directly.
//!
//! Also the thread-pool round trip against tokio's `spawn_blocking`.
//!
//! Run: `cargo bench -p palisade-benches --bench bulkhead`
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::future::{ready, Ready};
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use palisade::adaptive::{AdaptiveLimit, AdaptiveLimitLayer};
use palisade::bulkhead::{Bulkhead, BulkheadLayer};
use tower::{service_fn, Layer};

mod support;
use support::{poll_ready, run, tower_call};

const LIMIT: u32 = 1024;

type Inner = tower::util::ServiceFn<fn(u64) -> Ready<Result<u64, u64>>>;

fn inner() -> Inner {
    service_fn((|i| ready(Ok(i))) as fn(u64) -> Ready<Result<u64, u64>>)
}

fn semaphore(c: &mut Criterion) {
    let mut g = c.benchmark_group("bulkhead");
    let ours = Bulkhead::builder().max_concurrent(LIMIT).build().unwrap();
    let tokio_sem = Arc::new(tokio::sync::Semaphore::new(LIMIT as usize));
    let ours_svc = BulkheadLayer::new(ours.clone()).layer(inner());
    let limit_svc = tower::limit::ConcurrencyLimitLayer::new(LIMIT as usize).layer(inner());
    let peer_svc = tower_resilience::bulkhead::BulkheadLayer::builder()
        .max_concurrent_calls(LIMIT as usize)
        .build()
        .unwrap()
        .layer(inner());
    // The adaptive limit: its limit stays far above what is in flight (a
    // window of ready calls with no latency never lowers it).
    let adaptive = AdaptiveLimit::builder()
        .initial_limit(LIMIT)
        .max_limit(LIMIT)
        .min_limit(LIMIT)
        .build()
        .unwrap();
    let adaptive_svc = AdaptiveLimitLayer::new(adaptive.clone()).layer(inner());
    let peer_adaptive_svc = tower_resilience::adaptive::AdaptiveLimiterLayer::new(
        tower_resilience::adaptive::Aimd::builder()
            .initial_limit(LIMIT as usize)
            .min_limit(LIMIT as usize)
            .max_limit(LIMIT as usize)
            .build()
            .unwrap(),
    )
    .layer(inner());
    // The rate limit with a rate it never reaches, against governor used
    // directly (its default clock).
    let rate = palisade::rate_limit::RateLimit::builder()
        .rate(1_000_000_000, std::time::Duration::from_secs(1))
        .build()
        .unwrap();
    let governor = governor::RateLimiter::direct(governor::Quota::per_second(
        std::num::NonZeroU32::new(1_000_000_000).unwrap(),
    ));
    for threads in [1, 2] {
        run(&mut g, "rate_limit_try_acquire", threads, &|| {
            let r = &rate;
            Box::new(move |_| {
                let _ = black_box(r.try_acquire());
            })
        });
        run(&mut g, "governor_check", threads, &|| {
            let r = &governor;
            Box::new(move |_| {
                let _ = black_box(r.check());
            })
        });
        run(&mut g, "adaptive_try_acquire", threads, &|| {
            let a = &adaptive;
            Box::new(move |_| {
                drop(black_box(a.try_acquire()));
            })
        });
        run(&mut g, "adaptive_call", threads, &|| {
            let a = &adaptive;
            Box::new(move |i| {
                let _ = black_box(poll_ready(a.call(|| ready(Ok::<_, u64>(black_box(i))))));
            })
        });
        run(&mut g, "tower_adaptive", threads, &|| {
            let mut svc = adaptive_svc.clone();
            Box::new(move |i| {
                let _ = black_box(tower_call(&mut svc, black_box(i)));
            })
        });
        run(&mut g, "tower_resilience_adaptive", threads, &|| {
            let mut svc = peer_adaptive_svc.clone();
            Box::new(move |i| {
                let _ = black_box(tower_call(&mut svc, black_box(i)));
            })
        });
        run(&mut g, "tokio_semaphore_try_acquire", threads, &|| {
            let s = &tokio_sem;
            Box::new(move |_| {
                drop(black_box(s.try_acquire()));
            })
        });
        run(&mut g, "palisade_try_acquire", threads, &|| {
            let b = &ours;
            Box::new(move |_| {
                drop(black_box(b.try_acquire()));
            })
        });
        run(&mut g, "palisade_call", threads, &|| {
            let b = &ours;
            Box::new(move |i| {
                let _ = black_box(poll_ready(b.call(|| ready(Ok::<_, u64>(black_box(i))))));
            })
        });
        run(&mut g, "tower_bare", threads, &|| {
            let mut svc = inner();
            Box::new(move |i| {
                let _ = black_box(tower_call(&mut svc, black_box(i)));
            })
        });
        run(&mut g, "tower_palisade", threads, &|| {
            let mut svc = ours_svc.clone();
            Box::new(move |i| {
                let _ = black_box(tower_call(&mut svc, black_box(i)));
            })
        });
        run(&mut g, "tower_concurrency_limit", threads, &|| {
            let mut svc = limit_svc.clone();
            Box::new(move |i| {
                let _ = black_box(tower_call(&mut svc, black_box(i)));
            })
        });
        run(&mut g, "tower_resilience", threads, &|| {
            let mut svc = peer_svc.clone();
            Box::new(move |i| {
                let _ = black_box(tower_call(&mut svc, black_box(i)));
            })
        });
    }
    g.finish();
}

/// Thread-pool round trip: submit a trivial blocking job and await its
/// result, against tokio's `spawn_blocking`, both awaited on one tokio
/// runtime (the caller's); 1 and 2 submitting threads.
fn thread_pool(c: &mut Criterion) {
    let mut g = c.benchmark_group("thread_pool");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .build()
        .unwrap();
    let pool = palisade::bulkhead::ThreadPool::builder()
        .threads(2)
        .queue(64)
        .build()
        .unwrap();
    for threads in [1, 2] {
        run(&mut g, "tokio_spawn_blocking", threads, &|| {
            let handle = rt.handle().clone();
            Box::new(move |i| {
                let _ = black_box(handle.block_on(handle.spawn_blocking(move || black_box(i))));
            })
        });
        run(&mut g, "palisade_thread_pool", threads, &|| {
            let (handle, pool) = (rt.handle().clone(), &pool);
            Box::new(move |i| {
                let _ = black_box(handle.block_on(pool.spawn_blocking(move || black_box(i))));
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = semaphore, thread_pool
}
criterion_main!(benches);
