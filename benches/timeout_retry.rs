//! Timeout, retry, fallback and retry-budget overhead, side by side with
//! tower's and seatbelt's, in one run, at 1 and 2 threads. The operation is
//! a ready future that succeeds (nothing times out, nothing is retried).
//!
//! The timeout rows use a timer that never fires where the crate lets us
//! choose one (palisade), and tokio's where it does not (tower; seatbelt's
//! tokio clock); `palisade_timeout_tokio` shows palisade on tokio's timer.
//!
//! Run: `cargo bench -p palisade-benches --bench timeout_retry`
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::future::{ready, Ready};
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use palisade::fallback::Fallback;
use palisade::retry::{Retry, RetryBudget};
use palisade::timeout::Timeout;
use palisade::timer::TokioTimer;
use tower::{service_fn, Layer};

mod support;
use support::{poll_ready, run, seatbelt_context, tower_call, Never};

#[inline]
fn op(i: u64) -> Ready<Result<u64, std::io::Error>> {
    ready(Ok(i))
}

type Inner = tower::util::ServiceFn<fn(u64) -> Ready<Result<u64, std::io::Error>>>;

fn inner() -> Inner {
    service_fn(op as fn(u64) -> Ready<Result<u64, std::io::Error>>)
}

fn timeout(c: &mut Criterion) {
    use layered::{Execute, Stack};

    let mut g = c.benchmark_group("timeout");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let never = Timeout::builder()
        .duration(Duration::from_secs(60))
        .timer(Never)
        .build()
        .unwrap();
    let on_tokio = Timeout::builder()
        .duration(Duration::from_secs(60))
        .timer(TokioTimer)
        .build()
        .unwrap();
    let tower_svc = tower::timeout::TimeoutLayer::new(Duration::from_secs(60)).layer(inner());
    let palisade_svc = palisade::timeout::TimeoutLayer::new(
        Timeout::builder()
            .duration(Duration::from_secs(60))
            .timer(TokioTimer)
            .build()
            .unwrap(),
    )
    .layer(inner());
    let seatbelt_svc = (
        seatbelt::timeout::Timeout::layer("bench", &seatbelt_context(&rt))
            .timeout_error(|_| std::io::Error::other("timeout"))
            .timeout(Duration::from_secs(60)),
        Execute::new(op as fn(u64) -> Ready<Result<u64, std::io::Error>>),
    )
        .into_service();
    for threads in [1, 2] {
        run(&mut g, "bare", threads, &|| {
            Box::new(move |i| {
                let _ = black_box(poll_ready(op(black_box(i))));
            })
        });
        run(&mut g, "palisade", threads, &|| {
            let t = &never;
            Box::new(move |i| {
                let _ = black_box(poll_ready(t.call(|| op(black_box(i)))));
            })
        });
        run(&mut g, "palisade_timeout_tokio", threads, &|| {
            let (t, entered) = (&on_tokio, rt.enter());
            Box::new(move |i| {
                let _ = &entered;
                let _ = black_box(poll_ready(t.call(|| op(black_box(i)))));
            })
        });
        run(&mut g, "palisade_timeout_service_tokio", threads, &|| {
            let (mut svc, entered) = (palisade_svc.clone(), rt.enter());
            Box::new(move |i| {
                let _ = &entered;
                let _ = black_box(tower_call(&mut svc, black_box(i)));
            })
        });
        run(&mut g, "tower_timeout", threads, &|| {
            let (mut svc, entered) = (tower_svc.clone(), rt.enter());
            Box::new(move |i| {
                let _ = &entered;
                let _ = black_box(tower_call(&mut svc, black_box(i)));
            })
        });
        run(&mut g, "seatbelt", threads, &|| {
            let (s, entered) = (&seatbelt_svc, rt.enter());
            Box::new(move |i| {
                let _ = &entered;
                let _ = black_box(poll_ready(layered::Service::execute(s, black_box(i))));
            })
        });
    }
    g.finish();
}

/// tower's retry with up to two retries of errors (a minimal policy).
#[derive(Clone, Debug)]
struct Attempts(usize);

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for Attempts {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Ready<()>> {
        match result {
            Err(_) if self.0 > 0 => {
                self.0 -= 1;
                Some(ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// tower's hedge policy: every request may be hedged.
#[derive(Clone, Debug)]
struct CloneAll;

impl tower::hedge::Policy<u64> for CloneAll {
    fn clone_request(&self, req: &u64) -> Option<u64> {
        Some(*req)
    }

    fn can_retry(&self, _: &u64) -> bool {
        true
    }
}

fn retry_and_fallback(c: &mut Criterion) {
    use layered::{Execute, Stack};

    let mut g = c.benchmark_group("retry");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let retry = Retry::builder().timer(Never).build().unwrap();
    let tower_retry = tower::retry::RetryLayer::new(Attempts(2)).layer(inner());
    let palisade_tower = palisade::retry::RetryLayer::new(retry.clone()).layer(inner());
    let seatbelt_svc = (
        seatbelt::retry::Retry::layer("bench", &seatbelt_context(&rt))
            .clone_input()
            .recovery_with(|out: &Result<u64, std::io::Error>, _| match out {
                Ok(_) => seatbelt::RecoveryInfo::never(),
                Err(_) => seatbelt::RecoveryInfo::retry(),
            }),
        Execute::new(op as fn(u64) -> Ready<Result<u64, std::io::Error>>),
    )
        .into_service();
    let fallback = Fallback::value(0u64);
    // Hedging's happy path: the first attempt answers before the delay.
    let hedge = palisade::hedge::Hedge::builder(Never).build().unwrap();
    let palisade_hedge_tower = palisade::hedge::HedgeLayer::new(hedge.clone()).layer(inner());
    // tower's hedge at its p95 after 10 calls, learned over 10 s (on
    // tokio's clock: its delay sleeps on tokio's timer). Not `Clone`: one
    // per thread, so its histogram's mutex is never contended here.
    let tower_hedge =
        || tower::hedge::Hedge::new::<u64>(inner(), CloneAll, 10, 0.95, Duration::from_secs(10));
    for threads in [1, 2] {
        run(&mut g, "palisade_hedge", threads, &|| {
            let h = &hedge;
            Box::new(move |i| {
                let _ = black_box(poll_ready(h.call(|| op(black_box(i)))));
            })
        });
        run(&mut g, "bare", threads, &|| {
            Box::new(move |i| {
                let _ = black_box(poll_ready(op(black_box(i))));
            })
        });
        run(&mut g, "palisade_retry", threads, &|| {
            let r = &retry;
            Box::new(move |i| {
                let _ = black_box(poll_ready(r.call(|| op(black_box(i)))));
            })
        });
        run(&mut g, "palisade_fallback", threads, &|| {
            let f = &fallback;
            Box::new(move |i| {
                let _ = black_box(poll_ready(f.call(|| op(black_box(i)))));
            })
        });
        run(&mut g, "tower_bare", threads, &|| {
            let mut svc = inner();
            Box::new(move |i| {
                let _ = black_box(tower_call(&mut svc, black_box(i)));
            })
        });
        run(&mut g, "tower_retry", threads, &|| {
            let mut svc = tower_retry.clone();
            Box::new(move |i| {
                let _ = black_box(tower_call(&mut svc, black_box(i)));
            })
        });
        run(&mut g, "tower_palisade_retry", threads, &|| {
            let mut svc = palisade_tower.clone();
            Box::new(move |i| {
                let _ = black_box(tower_call(&mut svc, black_box(i)));
            })
        });
        run(&mut g, "tower_palisade_hedge", threads, &|| {
            let mut svc = palisade_hedge_tower.clone();
            Box::new(move |i| {
                let _ = black_box(tower_call(&mut svc, black_box(i)));
            })
        });
        run(&mut g, "tower_hedge", threads, &|| {
            let entered = rt.enter();
            let mut svc = tower_hedge();
            Box::new(move |i| {
                let _ = &entered;
                let _ = black_box(tower_call(&mut svc, black_box(i)));
            })
        });
        run(&mut g, "seatbelt_retry", threads, &|| {
            let s = &seatbelt_svc;
            Box::new(move |i| {
                let _ = black_box(poll_ready(layered::Service::execute(s, black_box(i))));
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("retry_budget");
    let ratio = RetryBudget::ratio(0.2, 10, Duration::from_secs(10)).unwrap();
    let in_flight = RetryBudget::in_flight(0.2, 3).unwrap();
    let with_ratio = Retry::builder().timer(Never).budget(ratio).build().unwrap();
    let with_in_flight = Retry::builder()
        .timer(Never)
        .budget(in_flight)
        .build()
        .unwrap();
    for threads in [1, 2] {
        run(&mut g, "ratio_deposit", threads, &|| {
            let r = &with_ratio;
            Box::new(move |i| {
                let _ = black_box(poll_ready(r.call(|| op(black_box(i)))));
            })
        });
        run(&mut g, "in_flight_deposit", threads, &|| {
            let r = &with_in_flight;
            Box::new(move |i| {
                let _ = black_box(poll_ready(r.call(|| op(black_box(i)))));
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = timeout, retry_and_fallback
}
criterion_main!(benches);
