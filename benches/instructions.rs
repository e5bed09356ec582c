//! Hot paths for instruction counts under valgrind's callgrind: figures
//! that do not move with a shared machine's load. Run by
//! `.ci/instructions` (which builds nothing: `cargo bench --no-run` has),
//! one path at a time:
//!
//! ```text
//! instructions <path> <calls>
//! ```
//!
//! The script runs each path with 0 and with N calls and divides the
//! difference by N: the instructions of one call, without start-up.
#![allow(missing_docs)]

use std::future::{ready, Future};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http_body::Body;
use http_body_util::Full;
use palisade::adaptive::AdaptiveLimit;
use palisade::bulkhead::Bulkhead;
use palisade::circuit_breaker::CircuitBreaker;
use palisade::hedge::Hedge;
use palisade::http::GrpcFailures;
use palisade::pipeline::Pipeline;
use palisade::retry::Retry;
use palisade::timer::ManualTimer;

/// A timer whose sleeps never end: deadlines that cost nothing.
#[derive(Clone, Copy, Debug)]
struct Never;

impl palisade::timer::Timer for Never {
    type Sleep = std::future::Pending<()>;

    fn sleep(&self, _: Duration) -> std::future::Pending<()> {
        std::future::pending()
    }
}

/// Polls a future once; the paths measured are ready at once.
fn poll_ready<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("a ready path"),
    }
}

/// Reads a body to its end; its frames are ready at once.
fn drain<B: Body>(body: B) {
    let mut body = pin!(body);
    let mut cx = Context::from_waker(Waker::noop());
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        black_box(frame.ok());
    }
}

fn op(i: u64) -> Result<u64, u64> {
    if i % 10 == 0 {
        Err(i)
    } else {
        Ok(i)
    }
}

fn breaker(window: &str, slow: bool) -> CircuitBreaker {
    let b = CircuitBreaker::builder().failure_rate_threshold(0.5);
    let b = match window {
        "time" => b
            .time_window(Duration::from_secs(10), 10)
            .minimum_calls(100),
        _ => b.count_window(100).minimum_calls(100),
    };
    let b = if slow {
        b.slow_call_duration(Duration::from_secs(60))
    } else {
        b
    };
    b.build().unwrap()
}

/// Total timeout, retry, breaker, bulkhead and attempt timeout on `timer`.
fn five_guards<Tm: palisade::timer::Timer + Clone>(timer: Tm) -> Pipeline<Tm> {
    Pipeline::builder(timer.clone())
        .timeout(Duration::from_secs(10))
        .retry(Retry::builder().timer(timer).build().unwrap())
        .circuit_breaker(breaker("count", false))
        .bulkhead(Bulkhead::builder().max_concurrent(1024).build().unwrap())
        .attempt_timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

/// The paths, by name.
const PATHS: [&str; 15] = [
    "breaker_count_sync",
    "breaker_count_sync_ok",
    "breaker_count_async",
    "breaker_time_sync",
    "breaker_count_slow_timing_sync",
    "bulkhead_with_room",
    "adaptive_with_room",
    "pipeline_five_guards",
    "pipeline_five_guards_never_timer",
    "pipeline_empty",
    "pipeline_http_default",
    "pipeline_http_grpc",
    "retry_happy",
    "hedge_happy",
    "pipeline_hedged_happy",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_default();
    if path == "--bench" || path.is_empty() {
        println!("paths: {}", PATHS.join(", "));
        return;
    }
    let calls: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .expect("usage: instructions <path> <calls>");
    match path.as_str() {
        "breaker_count_sync" | "breaker_time_sync" | "breaker_count_slow_timing_sync" => {
            let window = if path.contains("time_sync") {
                "time"
            } else {
                "count"
            };
            let b = breaker(window, path.contains("slow"));
            for i in 0..calls {
                let _ = black_box(b.call_sync(|| op(black_box(i))));
            }
        }
        // Every call succeeds: the path the wall-clock targets are set on.
        "breaker_count_sync_ok" => {
            let b = breaker("count", false);
            for i in 0..calls {
                let _ = black_box(b.call_sync(|| Ok::<_, u64>(black_box(i))));
            }
        }
        "breaker_count_async" => {
            let b = breaker("count", false);
            for i in 0..calls {
                let _ = black_box(poll_ready(b.call(|| ready(op(black_box(i))))));
            }
        }
        "bulkhead_with_room" => {
            let b = Bulkhead::builder().max_concurrent(1024).build().unwrap();
            for i in 0..calls {
                let _ = black_box(b.call_sync(|| Ok::<_, ()>(black_box(i))));
            }
        }
        // On a manual clock: the default clock's calibration at start-up
        // runs for a while, not a number of instructions.
        "adaptive_with_room" => {
            let a = AdaptiveLimit::builder()
                .clock(palisade::clock::ManualClock::new())
                .initial_limit(1024)
                .min_limit(1024)
                .max_limit(1024)
                .build()
                .unwrap();
            for i in 0..calls {
                let _ = black_box(poll_ready(a.call(|| ready(Ok::<_, ()>(black_box(i))))));
            }
        }
        "pipeline_five_guards" => {
            let p = five_guards(ManualTimer::new());
            for i in 0..calls {
                let _ = black_box(poll_ready(p.call(|| ready(Ok::<_, ()>(black_box(i))))));
            }
        }
        // The same guards on a timer whose sleeps never end and cost
        // nothing (as the wall-clock bench): the guards and the state
        // machine without the manual timer's bookkeeping.
        "pipeline_five_guards_never_timer" => {
            let p = five_guards(Never);
            for i in 0..calls {
                let _ = black_box(poll_ready(p.call(|| ready(Ok::<_, ()>(black_box(i))))));
            }
        }
        // No guard: the pipeline's state machine alone.
        "pipeline_empty" => {
            let p = Pipeline::builder(ManualTimer::new()).build().unwrap();
            for i in 0..calls {
                let _ = black_box(poll_ready(p.call(|| ready(Ok::<_, ()>(black_box(i))))));
            }
        }
        // The same five guards around an HTTP call whose response carries
        // `grpc-status: 0` in its head and one data frame, read to its end:
        // judged at once by the default classifier, or handed over to the
        // body by the gRPC preset (the difference is the hand-over).
        "pipeline_http_default" | "pipeline_http_grpc" => {
            let timer = ManualTimer::new();
            let builder = Pipeline::builder(timer.clone())
                .timeout(Duration::from_secs(10))
                .retry(Retry::builder().timer(timer.clone()).build().unwrap())
                .bulkhead(Bulkhead::builder().max_concurrent(1024).build().unwrap())
                .attempt_timeout(Duration::from_secs(1));
            let response = || {
                let mut res = http::Response::new(Full::new(Bytes::from_static(b"x")));
                res.headers_mut()
                    .insert("grpc-status", http::HeaderValue::from_static("0"));
                ready(Ok::<_, std::io::Error>(res))
            };
            if path == "pipeline_http_grpc" {
                let breaker = CircuitBreaker::builder()
                    .count_window(100)
                    .minimum_calls(100)
                    .classifier(GrpcFailures::new())
                    .build()
                    .unwrap();
                let p = builder.circuit_breaker(breaker).build().unwrap();
                for _ in 0..calls {
                    let res = poll_ready(p.call(response)).unwrap();
                    drain(black_box(res).into_body());
                }
            } else {
                let p = builder
                    .circuit_breaker(breaker("count", false))
                    .build()
                    .unwrap();
                for _ in 0..calls {
                    let res = poll_ready(p.call(response)).unwrap();
                    drain(black_box(res).into_body());
                }
            }
        }
        // The first attempt answers at its first poll: no retry, no hedge.
        "retry_happy" => {
            let r = Retry::builder().timer(ManualTimer::new()).build().unwrap();
            for i in 0..calls {
                let _ = black_box(poll_ready(r.call(|| ready(Ok::<_, u64>(black_box(i))))));
            }
        }
        "hedge_happy" => {
            let h = Hedge::builder(ManualTimer::new()).build().unwrap();
            for i in 0..calls {
                let _ = black_box(poll_ready(h.call(|| ready(Ok::<_, u64>(black_box(i))))));
            }
        }
        // A hedged call through the five-guard pipeline (the hedge in the
        // retry's place) whose first attempt answers.
        "pipeline_hedged_happy" => {
            let p = five_guards(Never);
            let h = Hedge::builder(Never).build().unwrap();
            for i in 0..calls {
                let _ = black_box(poll_ready(
                    p.call_hedged(&h, || ready(Ok::<_, ()>(black_box(i)))),
                ));
            }
        }
        other => panic!("no path `{other}`; paths: {}", PATHS.join(", ")),
    }
}
