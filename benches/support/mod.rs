//! Helpers shared by the benches.
#![allow(dead_code)] // each bench uses its own subset

use std::future::Future;
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Mean wall time per operation per thread, with `threads` threads each
/// running `iters` operations at once; each thread gets its own operation
/// from `make` (so it may own per-thread state such as a service clone).
pub(crate) fn threaded<F>(threads: usize, iters: u64, make: &(dyn Fn() -> F + Sync)) -> Duration
where
    F: FnMut(u64),
{
    let barrier = Barrier::new(threads);
    let total: Duration = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut op = make();
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        op(i);
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total / threads as u32
}

/// Polls a future with no runtime until it is ready: once for a ready
/// future; a future waiting on a contended lock (tower-resilience's tokio
/// mutex) is polled again until it gets it.
#[inline]
pub(crate) fn poll_ready<F: Future>(fut: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::hint::spin_loop();
    }
}

/// Polls a tower service ready, calls it, and polls the response until it
/// is ready.
#[inline]
pub(crate) fn tower_call<S: tower::Service<u64>>(
    svc: &mut S,
    i: u64,
) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match svc.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => break,
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => std::hint::spin_loop(),
        }
    }
    poll_ready(svc.call(i))
}

/// One row's operation, made per thread.
pub(crate) type Op<'a> = Box<dyn FnMut(u64) + 'a>;

/// One row: `make` builds each thread's operation (called through `dyn`,
/// the same for every row, bare included).
pub(crate) fn run<'a, M>(
    g: &mut criterion::BenchmarkGroup<'_, M>,
    name: &str,
    threads: usize,
    make: &(dyn Fn() -> Op<'a> + Sync),
) where
    M: criterion::measurement::Measurement<Value = Duration>,
{
    g.bench_function(format!("{name}/{threads}t"), |b| {
        b.iter_custom(|iters| threaded(threads, iters, make))
    });
}

/// A timer whose sleeps never end: guards with a deadline that never
/// fires, to measure the guard alone.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Never;

impl palisade::timer::Timer for Never {
    type Sleep = std::future::Pending<()>;

    fn sleep(&self, _: Duration) -> std::future::Pending<()> {
        std::future::pending()
    }
}

/// seatbelt's context on tokio's clock (built inside `rt`, which the clock
/// needs), for the peer rows.
pub(crate) fn seatbelt_context(
    rt: &tokio::runtime::Runtime,
) -> seatbelt::ResilienceContext<u64, Result<u64, std::io::Error>> {
    let _entered = rt.enter();
    seatbelt::ResilienceContext::new(tick::Clock::new_tokio())
}

/// The criterion settings of the overhead benches: short runs, many of
/// them side by side (the machine is shared; ratios within one run count).
pub(crate) fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}
