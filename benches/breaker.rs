//! Closed-breaker overhead over a trivial operation: bare, palisade (with and
//! without slow-call timing), and the peer crates, side by side in one run.
//!
//! Run: `cargo bench -p palisade-benches --bench breaker`
//!
//! Every breaker is configured comparably: trip at 50 % failures over the
//! last 100 calls (failsafe has no count window: 50 % success rate over a
//! 10 s window, at least 100 calls). With 10 % failures every breaker stays
//! closed. Async rows poll a ready future once, with no runtime. seatbelt
//! has no count window: 50 % failures over at least 100 calls in a 10 s
//! sampling window. Rows `palisade_listener` (one no-op listener) and
//! `palisade_metrics` (handles from a real recorder; needs
//! `--features metrics`, on this package) show what observability adds.
//! Row `fetch_add` is the floor of a shared count: the bare call and one
//! `fetch_add` on a counter all threads share. `palisade_time_window`:
//! the same thresholds over the last 10 s in 10 buckets, on the default
//! clock. The `_cached_clock` rows read a [`CachedClock`] instead.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::future::{ready, Ready};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use failsafe::futures::CircuitBreaker as FailsafeAsync;
use failsafe::CircuitBreaker as FailsafeSync;
use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use palisade::clock::CachedClock;
use tower::{service_fn, Layer, Service};

mod support;
use support::{poll_ready, run, tower_call};

/// The operation: fails when `i % 10 == 0` if `failures` is on.
#[inline]
fn op(i: u64, failures: bool) -> Result<u64, u64> {
    if failures && i % 10 == 0 {
        Err(i)
    } else {
        Ok(i)
    }
}

fn palisade(slow_timing: bool) -> CircuitBreaker {
    let b = CircuitBreaker::builder()
        .count_window(100)
        .minimum_calls(100)
        .failure_rate_threshold(0.5);
    let b = if slow_timing {
        b.slow_call_duration(Duration::from_secs(60))
    } else {
        b
    };
    b.build().unwrap()
}

/// Slow-call timing on a [`CachedClock`]: two loads a call instead of two
/// clock reads.
fn palisade_slow_timing_cached() -> CircuitBreaker {
    CircuitBreaker::builder()
        .count_window(100)
        .minimum_calls(100)
        .failure_rate_threshold(0.5)
        .slow_call_duration(Duration::from_secs(60))
        .clock(CachedClock::new().unwrap())
        .build()
        .unwrap()
}

/// The same thresholds over a time window (the last 10 s in 10 buckets,
/// striped per thread), on the default clock or on a [`CachedClock`].
fn palisade_time_window(cached: bool) -> CircuitBreaker {
    let b = CircuitBreaker::builder()
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(100)
        .failure_rate_threshold(0.5);
    let b = if cached {
        b.clock(CachedClock::new().unwrap())
    } else {
        b
    };
    b.build().unwrap()
}

/// A breaker whose metric handles come from a real recorder (the
/// `metrics-util` debugging recorder: one atomic per handle, as the
/// Prometheus exporter), bound at build time without installing it
/// globally.
#[cfg(feature = "metrics")]
fn palisade_with_metrics() -> CircuitBreaker {
    let recorder = Box::leak(Box::new(metrics_util::debugging::DebuggingRecorder::new()));
    metrics::with_local_recorder(recorder, || palisade(false))
}

/// A breaker with one listener that does nothing.
fn palisade_with_listener() -> CircuitBreaker {
    let b = palisade(false);
    b.on_event(|_| {});
    b
}

/// seatbelt's breaker over the operation, comparably configured (50 %
/// failures over at least 100 calls in a 10 s sampling window); its clock is
/// tokio's, so it is built inside `rt`.
fn seatbelt(
    rt: &tokio::runtime::Runtime,
    failures: bool,
) -> impl layered::Service<u64, Out = Result<u64, u64>> + Service<u64, Response = u64, Error = u64> + Clone
{
    use layered::{Execute, Stack};
    use seatbelt::breaker::Breaker;
    use seatbelt::{RecoveryInfo, ResilienceContext};

    let _entered = rt.enter();
    let clock = tick::Clock::new_tokio();
    let context = ResilienceContext::new(&clock);
    let op: fn(u64) -> Ready<Result<u64, u64>> = if failures {
        |i| ready(op(i, true))
    } else {
        |i| ready(op(i, false))
    };
    (
        Breaker::layer("bench", &context)
            .recovery_with(|out: &Result<u64, u64>, _| match out {
                Ok(_) => RecoveryInfo::never(),
                Err(_) => RecoveryInfo::retry(),
            })
            .rejected_input_error(|i, _| i)
            .failure_threshold(0.5)
            .min_throughput(100)
            .sampling_duration(Duration::from_secs(10)),
        Execute::new(op),
    )
        .into_service()
}

fn recloser() -> recloser::Recloser {
    recloser::Recloser::custom()
        .error_rate(0.5)
        .closed_len(100)
        .build()
}

type Failsafe = failsafe::StateMachine<
    failsafe::failure_policy::SuccessRateOverTimeWindow<failsafe::backoff::Constant>,
    (),
>;

fn failsafe() -> Failsafe {
    let policy = failsafe::failure_policy::success_rate_over_time_window(
        0.5,
        100,
        Duration::from_secs(10),
        failsafe::backoff::constant(Duration::from_secs(5)),
    );
    failsafe::Config::new().failure_policy(policy).build()
}

type Inner = tower::util::ServiceFn<fn(u64) -> Ready<Result<u64, u64>>>;

fn inner(failures: bool) -> Inner {
    if failures {
        service_fn((|i| ready(op(i, true))) as fn(u64) -> Ready<Result<u64, u64>>)
    } else {
        service_fn((|i| ready(op(i, false))) as fn(u64) -> Ready<Result<u64, u64>>)
    }
}

fn sync_overhead(c: &mut Criterion) {
    for failures in [false, true] {
        let mix = if failures { "10pct_fail" } else { "all_ok" };
        let mut g = c.benchmark_group(format!("breaker_sync_{mix}"));
        let (plain, timed) = (palisade(false), palisade(true));
        let (timewin, timewin_cached) = (palisade_time_window(false), palisade_time_window(true));
        let timed_cached = palisade_slow_timing_cached();
        let ticket = AtomicU64::new(0);
        let listened = palisade_with_listener();
        #[cfg(feature = "metrics")]
        let measured = palisade_with_metrics();
        let (rc, fs) = (recloser(), failsafe());
        for threads in [1, 2] {
            run(&mut g, "bare", threads, &|| {
                Box::new(move |i| {
                    let _ = black_box(op(black_box(i), failures));
                })
            });
            // The floor of a shared count: the call and one `fetch_add` on
            // a counter every thread shares.
            run(&mut g, "fetch_add", threads, &|| {
                let t = &ticket;
                Box::new(move |i| {
                    t.fetch_add(1, Ordering::Relaxed);
                    let _ = black_box(op(black_box(i), failures));
                })
            });
            for (name, breaker) in [
                ("palisade", &plain),
                ("palisade_time_window", &timewin),
                ("palisade_time_window_cached_clock", &timewin_cached),
                ("palisade_slow_timing_cached_clock", &timed_cached),
                ("palisade_slow_timing", &timed),
                ("palisade_listener", &listened),
                #[cfg(feature = "metrics")]
                ("palisade_metrics", &measured),
            ] {
                run(&mut g, name, threads, &|| {
                    Box::new(move |i| {
                        let _ = black_box(breaker.call_sync(|| op(black_box(i), failures)));
                    })
                });
            }
            run(&mut g, "recloser", threads, &|| {
                let r = &rc;
                Box::new(move |i| {
                    let _ = black_box(r.call(|| op(black_box(i), failures)));
                })
            });
            run(&mut g, "failsafe", threads, &|| {
                let f = &fs;
                Box::new(move |i| {
                    let _ = black_box(FailsafeSync::call(f, || op(black_box(i), failures)));
                })
            });
        }
        g.finish();
    }
}

fn async_overhead(c: &mut Criterion) {
    for failures in [false, true] {
        let mix = if failures { "10pct_fail" } else { "all_ok" };
        let mut g = c.benchmark_group(format!("breaker_async_{mix}"));
        let (plain, timed) = (palisade(false), palisade(true));
        let timed_cached = palisade_slow_timing_cached();
        let ticket = AtomicU64::new(0);
        let rc = recloser::AsyncRecloser::from(recloser());
        let fs = failsafe();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sb = seatbelt(&rt, failures);
        let palisade_svc = CircuitBreakerLayer::new(palisade(false)).layer(inner(failures));
        let peer_svc = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
            .failure_rate_threshold(0.5)
            .sliding_window_size(100)
            .minimum_number_of_calls(100)
            .build()
            .unwrap()
            .layer(inner(failures));
        for threads in [1, 2] {
            run(&mut g, "bare", threads, &|| {
                Box::new(move |i| {
                    let _ = black_box(poll_ready(ready(op(black_box(i), failures))));
                })
            });
            run(&mut g, "fetch_add", threads, &|| {
                let t = &ticket;
                Box::new(move |i| {
                    t.fetch_add(1, Ordering::Relaxed);
                    let _ = black_box(poll_ready(ready(op(black_box(i), failures))));
                })
            });
            for (name, breaker) in [
                ("palisade", &plain),
                ("palisade_slow_timing", &timed),
                ("palisade_slow_timing_cached_clock", &timed_cached),
            ] {
                run(&mut g, name, threads, &|| {
                    Box::new(move |i| {
                        let _ = black_box(poll_ready(
                            breaker.call(|| ready(op(black_box(i), failures))),
                        ));
                    })
                });
            }
            run(&mut g, "recloser", threads, &|| {
                let r = &rc;
                Box::new(move |i| {
                    let _ = black_box(poll_ready(r.call(ready(op(black_box(i), failures)))));
                })
            });
            run(&mut g, "seatbelt", threads, &|| {
                let s = &sb;
                Box::new(move |i| {
                    let _ = black_box(poll_ready(layered::Service::execute(s, black_box(i))));
                })
            });
            run(&mut g, "failsafe", threads, &|| {
                let f = &fs;
                Box::new(move |i| {
                    let _ = black_box(poll_ready(FailsafeAsync::call(
                        f,
                        ready(op(black_box(i), failures)),
                    )));
                })
            });
            run(&mut g, "tower_bare", threads, &|| {
                let mut svc = inner(failures);
                Box::new(move |i| {
                    let _ = black_box(tower_call(&mut svc, black_box(i)));
                })
            });
            run(&mut g, "tower_palisade", threads, &|| {
                let mut svc = palisade_svc.clone();
                Box::new(move |i| {
                    let _ = black_box(tower_call(&mut svc, black_box(i)));
                })
            });
            run(&mut g, "tower_seatbelt", threads, &|| {
                let mut svc = sb.clone();
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
}

/// The open path: every breaker is open (tripped by 100 failures, open for
/// an hour) and rejects each call without running it.
fn rejection(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker_open_reject");
    let plain = palisade(false);
    plain.transition_to(palisade::circuit_breaker::State::Open);
    let rc = recloser::Recloser::custom()
        .error_rate(0.5)
        .closed_len(100)
        .open_wait(Duration::from_secs(3600))
        .build();
    let fs = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            100,
            failsafe::backoff::constant(Duration::from_secs(3600)),
        ))
        .build();
    for i in 0..200 {
        let _ = rc.call(|| Err::<u64, u64>(i));
        let _ = FailsafeSync::call(&fs, || Err::<u64, u64>(i));
    }
    assert!(plain.call_sync(|| op(0, false)).is_err());
    assert!(rc.call(|| op(0, false)).is_err());
    assert!(FailsafeSync::call(&fs, || op(0, false)).is_err());
    run(&mut g, "palisade", 1, &|| {
        let b = &plain;
        Box::new(move |i| {
            let _ = black_box(b.call_sync(|| op(black_box(i), false)));
        })
    });
    run(&mut g, "recloser", 1, &|| {
        let r = &rc;
        Box::new(move |i| {
            let _ = black_box(r.call(|| op(black_box(i), false)));
        })
    });
    run(&mut g, "failsafe", 1, &|| {
        let f = &fs;
        Box::new(move |i| {
            let _ = black_box(FailsafeSync::call(f, || op(black_box(i), false)));
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = sync_overhead, async_overhead, rejection
}
criterion_main!(benches);
